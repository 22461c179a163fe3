// CI slice of the snapshot fuzzer (test/fuzz/harness.ts; the long run is
// scripts/fuzz-long.mjs): for every exchange type and role — IKE_SA_INIT (also with a
// COOKIE), IKE_INTERMEDIATE (also fragmented, ML-KEM-1024), IKE_AUTH, CREATE_CHILD_SA (new
// Child SA, Child SA rekey, IKE SA rekey), IKE_FOLLOWUP_KE (two series), INFORMATIONAL;
// requests as the responder sees them, responses as the initiator sees them; plus requests
// the IKE responder starts — a fixed-seed run of byte mutations (plaintext
// re-sealed with the live keys, and raw datagrams) and structure-aware messages generated
// from the payload grammar, each on a clone of the receiving engine. Any finding fails:
// receive() throwing, an internal error, a slow message, timers that do not settle,
// resources growing, a request whose Message ID is used up without an answer, a response
// that blocks the real one.
//
// Fixed seed by default; PQIKE_FUZZ_SEED=<int> and PQIKE_FUZZ_N=<variants per stream> override.
// A failure prints the reproducer (seed, stream, index, datagrams); replay it with
// `node scripts/fuzz-long.mjs --replay <file.json>` or regenerate it with --regen.
//
// Known bugs of the product code are listed in KNOWN below with their reproducer: the stream
// tests then skip the findings it matches (counted and printed) and the class's
// own test is marked todo until src/ is fixed (it passes, and the entry can go, once the
// reproducer no longer reproduces). The class this fuzzer was written for (narrowing 255
// traffic selectors to more than 255, the encoder throwing after the Message ID was consumed:
// 'Number of TSs out of range: 510', then 'message-id-consumed') was fixed in ef88d4a; its
// directed regression tests are below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SEED, STREAMS, runRange, runVariant, signature, streams } from './harness.js';
import type { Finding, Stream } from './harness.js';
import { selectorStorm } from './grammar.js';
import { Rng } from './prng.js';
import { sealRaw } from './seal.js';
import { PayloadType, encodePayloads } from '../../src/wire/index.js';
import type { Payload } from '../../src/wire/index.js';

const seed = (() => {
  const v = process.env['PQIKE_FUZZ_SEED'];
  if (v === undefined || v === '') return DEFAULT_SEED;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`PQIKE_FUZZ_SEED must be an integer, got ${v}`);
  return n;
})();
const perStream = (() => {
  const v = process.env['PQIKE_FUZZ_N'];
  if (v === undefined || v === '') return 2500;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PQIKE_FUZZ_N must be a positive integer, got ${v}`);
  return n;
})();

/** An open bug in src/ found by this fuzzer. */
interface Known {
  /** harness.ts signature() of its findings, and which findings of it are this bug. */
  readonly signature: string;
  readonly matches: (f: Finding) => boolean;
  readonly what: string;
  /** Where the long run found it (node scripts/fuzz-long.mjs --regen STREAM INDEX --seed SEED); none: derived by hand. */
  readonly found?: { readonly stream: string; readonly index: number; readonly seed: number };
  /** A minimal reproducer: the stream and the datagrams, built with its live keys. */
  readonly reproduce: () => { stream: string; datagrams: Uint8Array[] };
}

/**
 * IKE_INTERMEDIATE whose SKF fragments reassemble to 65532..65536 bytes of inner payloads
 * (MAX_REASSEMBLED is 65536): the "as if unfragmented" A|P octets of RFC 9242 §3.3.2 need an
 * SK payload length of 4 + 65532 > 65535, intAuthOctets → genericPayloadHeader throws
 * EncodeError in IkeSa.receivedAp (engine.ts open()), the message is dropped with an internal
 * error instead of being refused (the Message ID is not consumed: the real request is still
 * answered). Both roles; any message of exchange type IKE_INTERMEDIATE (the one exchange whose
 * A|P is computed), on any SA — the long run also found it in other streams where a variant's
 * header had exchange type 43 (e.g. informational.req #112845, sized).
 * Reproducer: the valid KE(ML-KEM-1024) payload plus a Vendor ID payload filling the inner
 * chain to 65532 bytes, sealed with the live SK keys as 57 SKF fragments of 1252 bytes.
 */
function oversizedIntermediate(stream: string): () => { stream: string; datagrams: Uint8Array[] } {
  return () => {
    const s = all.find((x) => x.def.name === stream);
    if (!s) throw new Error(`no stream ${stream}`);
    const base = encodePayloads(s.payloads).bytes.length;
    const ps: Payload[] = [...s.payloads, { type: PayloadType.VENDOR, critical: false, data: new Uint8Array(65532 - base - 4) }];
    const { firstType, bytes } = encodePayloads(ps);
    const datagrams = sealRaw(s.frame, firstType, bytes, s.cipher as NonNullable<Stream['cipher']>, s.keys as NonNullable<Stream['keys']>, new Rng(seed, 65532), { maxMessage: s.maxMessage });
    return { stream, datagrams };
  };
}

/**
 * Open bugs in src/ found by this fuzzer. While listed, the findings they match do not fail
 * the stream tests; each one's own test below is todo. (None open: the oversized
 * IKE_INTERMEDIATE one, found by the long run as ike_intermediate_frag.req #152991, was fixed
 * in 0927fbb and has its regression tests below.)
 */
const KNOWN: readonly Known[] = [];

/** Fixed bugs found by this fuzzer, with their reproducers: each stays fixed. */
const FIXED: readonly (Omit<Known, 'signature' | 'matches'> & { readonly fix: string })[] = [
  {
    what: 'IKE_INTERMEDIATE request reassembled to 65532..65536 bytes (EncodeError in receivedAp, the A|P of RFC 9242 §3.3.2) is an oversized series, answered',
    found: { stream: 'ike_intermediate_frag.req', index: 152991, seed: DEFAULT_SEED },
    reproduce: oversizedIntermediate('ike_intermediate_frag.req'),
    fix: '0927fbb',
  },
  {
    what: 'IKE_INTERMEDIATE response reassembled to 65532..65536 bytes: the same, in the initiator',
    reproduce: oversizedIntermediate('ike_intermediate_frag.resp'),
    fix: '0927fbb',
  },
];

console.log(`# structure-fuzz: seed ${seed}, ${perStream} variants per stream (PQIKE_FUZZ_SEED / PQIKE_FUZZ_N override)`);

function describe(f: Finding): string {
  const short = f.datagrams.map((d) => (d.length > 400 ? `${d.slice(0, 400)}...(${d.length / 2} bytes)` : d));
  return `${f.kind} in ${f.stream} at index ${f.index} (seed ${f.seed}, ${f.variant} variant): ${f.message}\n  reproducer: node scripts/fuzz-long.mjs --regen ${f.stream} ${f.index} --seed ${f.seed}\n  datagrams: ${short.join(' ')}`;
}

const all = streams();

test('every stream captured its message and snapshot', () => {
  assert.equal(all.length, STREAMS.length);
  for (const s of all) {
    assert.ok(s.original.length >= 1, s.def.name);
    // (A liveness check is an empty INFORMATIONAL, RFC 7296 §2.4.)
    assert.ok(s.payloads.length >= 1 || s.def.name === 'rev_informational_dpd.req', `${s.def.name}: decoded payloads`);
  }
  // The fragmentation streams really are fragmented (RFC 7383 SKF).
  for (const name of ['ike_intermediate_frag.req', 'ike_intermediate_frag.resp']) {
    const s = all.find((x) => x.def.name === name);
    assert.ok(s && s.fragmented && s.original.length > 1, `${name} is fragmented`);
  }
});

test('the valid message on a snapshot clone is handled normally (answered / consumed), no finding', () => {
  for (const s of all) {
    const o = runVariant(s, { kind: 'plain', datagrams: [...s.original], note: 'original' }, seed, 0);
    assert.deepEqual(o.findings.map((f) => `${f.kind}: ${f.message}`), [], s.def.name);
    assert.ok(o.reached, `${s.def.name}: reached the handler`);
    if (!s.def.response) assert.ok(o.answered, `${s.def.name}: answered`);
    else assert.ok(!o.recheck, `${s.def.name}: consumed (no re-check needed)`);
  }
});

function storm(s: Stream, which: 'TSi' | 'TSr' | 'both'): Uint8Array[] {
  const rng = new Rng(seed, 255);
  const sel = selectorStorm(rng, s.ctx, 255);
  const wide = sel.map((x, i) => ({ ...x, tsType: 7, ipProtocol: 0, startPort: i, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(0xff) }));
  const ps: Payload[] = s.payloads.map((p) => {
    if (p.type === PayloadType.TSi && which !== 'TSr') return { ...p, selectors: wide };
    if (p.type === PayloadType.TSr && which !== 'TSi') return { ...p, selectors: wide };
    return p;
  });
  const { firstType, bytes } = encodePayloads(ps);
  return sealRaw(s.frame, firstType, bytes, s.cipher as NonNullable<Stream['cipher']>, s.keys as NonNullable<Stream['keys']>, rng, { maxMessage: s.maxMessage });
}

for (const name of ['ike_auth.req', 'ccs_new_child.req', 'ccs_rekey_child.req']) {
  test(`${name}: 255 wide traffic selectors that narrow to more than 255 are answered, the Message ID is not lost`, () => {
    const s = all.find((x) => x.def.name === name);
    assert.ok(s);
    for (const which of ['TSi', 'TSr', 'both'] as const) {
      const o = runVariant(s, { kind: 'struct', datagrams: storm(s, which), note: `storm ${which}` }, seed, 1);
      assert.deepEqual(o.findings.map((f) => `${f.kind}: ${f.message}`), [], `${name}, ${which}`);
      assert.ok(o.answered, `${name}, ${which}: answered`);
    }
  });
}

for (const s of all) {
  test(`${s.def.name}: ${perStream} fuzz variants (${s.def.description}), no finding`, () => {
    const findings: Finding[] = [];
    const known = new Map<string, number>();
    const stats = runRange(s, seed, 0, perStream, (f) => {
      const sig = signature(f);
      if (KNOWN.some((k) => k.signature === sig && k.matches(f))) known.set(sig, (known.get(sig) ?? 0) + 1);
      else findings.push(f);
    });
    const rate = (stats.variants / stats.ms) * 1000;
    console.log(`# ${s.def.name}: ${stats.variants} variants, ${rate.toFixed(0)}/s, reached the handler ${stats.reached}, answered ${stats.answered}, re-checked ${stats.rechecks} ${JSON.stringify(stats.byKind)}`);
    for (const [sig, n] of known) console.log(`# ${s.def.name}: ${n} finding(s) of the known bug '${sig}' (see KNOWN)`);
    if (findings.length > 0) {
      const bySig = new Map<string, Finding[]>();
      for (const f of findings) bySig.set(signature(f), [...(bySig.get(signature(f)) ?? []), f]);
      assert.fail(`${findings.length} finding(s) in ${s.def.name}:\n${[...bySig.values()].map((fs) => `${fs.length}x ${describe(fs[0] as Finding)}`).join('\n')}`);
    }
    // The variants must mostly reach the exchange handling, or the fuzzer tests nothing.
    assert.ok(stats.reached > stats.variants * 0.25, `${s.def.name}: only ${stats.reached} of ${stats.variants} variants reached the handler`);
  });
}

for (const k of KNOWN) {
  const where = k.found ? `found by the long run: ${k.found.stream} #${k.found.index}, seed ${k.found.seed}` : 'derived from the entry above';
  test(`known bug: ${k.what}`, { todo: `open in src/ (${where})` }, () => {
    const { stream, datagrams } = k.reproduce();
    const s = all.find((x) => x.def.name === stream);
    assert.ok(s);
    const o = runVariant(s, { kind: 'struct', datagrams, note: 'known bug' }, seed, 0);
    assert.deepEqual(o.findings.map((f) => signature(f)), []);
  });
}

for (const k of FIXED) {
  const where = k.found ? `found by the long run: ${k.found.stream} #${k.found.index}, seed ${k.found.seed}` : 'derived from the entry above';
  test(`fixed in ${k.fix}: ${k.what} (${where})`, () => {
    const { stream, datagrams } = k.reproduce();
    const s = all.find((x) => x.def.name === stream);
    assert.ok(s);
    const o = runVariant(s, { kind: 'struct', datagrams, note: 'fixed bug' }, seed, 0);
    assert.deepEqual(o.findings.map((f) => `${f.kind}: ${f.message}`), []);
    if (!s.def.response) assert.ok(o.answered, `${stream}: answered`);
  });
}
