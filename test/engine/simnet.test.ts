// The simulated network (test/helpers/simnet.ts): first the simulator itself — determinism,
// loss/duplication rates, MTU, reordering, partitions, hooks, virtual time — then engines on
// it: hybrid handshakes (X25519 + ML-KEM) over a bad network for many seeds, and a 1280-byte
// path MTU crossed only thanks to IKE fragmentation (RFC 7383).
//
// Seeds are printed; PQIKE_SIM_SEED=<seed> reruns a seed, PQIKE_SIM_SEEDS=<n> sets how many
// seeds the property tests try.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/engine/engine.js';
import type { ChildSaInfo, ConnectionConfig, Endpoint, EngineOutput } from '../../src/engine/types.js';
import { ExchangeType } from '../../src/wire/index.js';
import { ADDR_I, ADDR_R, connections } from '../helpers/engine-pair.js';
import type { PairOptions } from '../helpers/engine-pair.js';
import { Prng, SimNet, deriveSeed, forEachSeed, headerSummary, simSeed } from '../helpers/simnet.js';
import type { LinkConfig, SimEngine } from '../helpers/simnet.js';

// ---- a sink: records what arrives, sends nothing --------------------------------------------

class Sink implements SimEngine {
  readonly got: { time: number; data: Uint8Array; remote: Endpoint; local: Endpoint }[] = [];
  receive(data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    this.got.push({ time: now, data, remote, local });
  }
  drain(): EngineOutput[] {
    return [];
  }
  tick(): void {}
  nextDeadline(): number | undefined {
    return undefined;
  }
}

const A: Endpoint = { address: '10.0.0.1', port: 500 };
const B: Endpoint = { address: '10.0.0.2', port: 500 };

function sinkNet(seed: number, link: LinkConfig): { net: SimNet; a: Sink; b: Sink } {
  const net = new SimNet({ seed, link, label: 'sinks' });
  const a = new Sink();
  const b = new Sink();
  net.addNode('a', a, [A.address, '2001:db8::1']);
  net.addNode('b', b, [B.address, '2001:db8::2']);
  return { net, a, b };
}

/** Datagram k carries k (4 bytes, big-endian) so order can be read back. */
function numbered(k: number, size = 64): Uint8Array {
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, k);
  return d;
}

function numberOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0);
}

// ---- the simulator ------------------------------------------------------------------------------

test('PRNG: xoshiro128** seeded by splitmix32 is reproducible, seed-sensitive and roughly uniform', () => {
  const x = new Prng(42);
  const y = new Prng(42);
  const z = new Prng(43);
  const xs = Array.from({ length: 1000 }, () => x.nextU32());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => y.nextU32()));
  const zs = Array.from({ length: 1000 }, () => z.nextU32());
  assert.ok(xs.filter((v, i) => v === zs[i]).length < 3);
  const n = 100000;
  const p = new Prng(7);
  const buckets = new Array<number>(10).fill(0);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const f = p.float();
    assert.ok(f >= 0 && f < 1);
    sum += f;
    buckets[Math.floor(f * 10)]!++;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`);
  for (const b of buckets) assert.ok(Math.abs(b - n / 10) < n / 100, `bucket ${b}`);
  // Derived seeds: the first is the base (so PQIKE_SIM_SEEDS=1 reruns a reported seed), all differ.
  assert.equal(deriveSeed(1234, 0), 1234);
  assert.equal(new Set(Array.from({ length: 1000 }, (_, k) => deriveSeed(1234, k))).size, 1000);
});

test('loss and duplication rates match the configuration over 20000 datagrams', () => {
  const { net, b } = sinkNet(101, { loss: 0.3, duplicate: 0.1, delayMs: 5, jitterMs: 5 });
  const n = 20000;
  for (let k = 0; k < n; k++) net.inject(A, B, numbered(k));
  assert.ok(net.runUntilQuiet(1000));
  const s = net.stats();
  assert.equal(s.sent, n);
  const lossRate = s.dropped.loss / n;
  const dupRate = s.duplicated / (n - s.dropped.loss);
  assert.ok(Math.abs(lossRate - 0.3) < 0.015, `loss rate ${lossRate}`);
  assert.ok(Math.abs(dupRate - 0.1) < 0.01, `duplication rate ${dupRate}`);
  assert.equal(b.got.length, n - s.dropped.loss + s.duplicated);
  assert.equal(s.delivered, b.got.length);
  for (const g of b.got) {
    assert.deepEqual(g.remote, A);
    assert.deepEqual(g.local, B);
  }
  // Every arrival lies in [delay, delay + jitter).
  for (const r of net.datagrams()) for (const t of r.deliveredAt) assert.ok(t - r.time >= 5 && t - r.time < 10);
  console.log(`simnet: loss ${(lossRate * 100).toFixed(2)} % (configured 30 %), duplication ${(dupRate * 100).toFixed(2)} % (configured 10 %)`);
});

test('MTU: datagrams above MTU − 28 (IPv4) / 48 (IPv6) / 32 (IPv4, port 4500 non-ESP marker) bytes are dropped', () => {
  const { net, b } = sinkNet(1, { mtu: 1280 });
  const v6a: Endpoint = { address: '2001:db8::1', port: 500 };
  const v6b: Endpoint = { address: '2001:db8::2', port: 500 };
  const cases: [Endpoint, Endpoint, number, boolean][] = [
    [A, B, 1252, true],
    [A, B, 1253, false],
    [v6a, v6b, 1232, true],
    [v6a, v6b, 1233, false],
    [{ ...A, port: 4500 }, { ...B, port: 4500 }, 1248, true],
    [{ ...A, port: 4500 }, { ...B, port: 4500 }, 1249, false],
  ];
  for (const [from, to, size] of cases) net.inject(from, to, new Uint8Array(size));
  assert.ok(net.runUntilQuiet(100));
  assert.deepEqual(
    net.datagrams().map((r) => r.dropped),
    cases.map(([, , , ok]) => (ok ? undefined : 'mtu')),
  );
  assert.deepEqual(
    b.got.map((g) => g.data.length),
    cases.filter(([, , , ok]) => ok).map(([, , size]) => size),
  );
  // Unknown destination: no route.
  net.inject(A, { address: '10.9.9.9', port: 500 }, new Uint8Array(10));
  assert.equal(net.datagrams().at(-1)?.dropped, 'no-route');
});

test('reordering: a fixed delay keeps order; random extra delay reorders, as configured', () => {
  const inversions = (link: LinkConfig): { inv: number; got: number[] } => {
    const { net, b } = sinkNet(7, link);
    for (let k = 0; k < 1000; k++) {
      net.inject(A, B, numbered(k));
      net.runUntil(net.now + 1);
    }
    assert.ok(net.runUntilQuiet(10000));
    const got = b.got.map((g) => numberOf(g.data));
    let inv = 0;
    for (let i = 1; i < got.length; i++) if (got[i]! < got[i - 1]!) inv++;
    return { inv, got };
  };
  const fifo = inversions({ delayMs: 20 });
  assert.equal(fifo.inv, 0);
  assert.deepEqual(fifo.got, Array.from({ length: 1000 }, (_, k) => k));
  const reordered = inversions({ delayMs: 20, reorder: 0.2, reorderDelayMs: 50 });
  assert.ok(reordered.inv > 50, `${reordered.inv} inversions`);
  assert.deepEqual([...reordered.got].sort((x, y) => x - y), fifo.got, 'nothing lost, nothing duplicated');
  // Jitter larger than the spacing reorders too.
  assert.ok(inversions({ delayMs: 20, jitterMs: 10 }).inv > 50);
});

test('partition: datagrams sent while the link is down are dropped; one-way partitions cut one direction', () => {
  const { net, a, b } = sinkNet(3, { delayMs: 10 });
  net.partition({ start: 1000, end: 2000 });
  net.partition({ start: 3000, end: 4000, a: 'a', b: 'b', oneWay: true });
  for (let t = 0; t < 5000; t += 100) {
    net.runUntil(t);
    net.inject(A, B, numbered(t));
    net.inject(B, A, numbered(t));
  }
  assert.ok(net.runUntilQuiet(10000));
  const sentAt = (s: Sink): number[] => s.got.map((g) => numberOf(g.data));
  const all = Array.from({ length: 50 }, (_, k) => k * 100);
  assert.deepEqual(sentAt(b), all.filter((t) => !(t >= 1000 && t < 2000) && !(t >= 3000 && t < 4000)));
  assert.deepEqual(sentAt(a), all.filter((t) => !(t >= 1000 && t < 2000)));
  assert.equal(net.stats().dropped.partition, 10 + 10 + 10);
});

test('hook: drops, rewrites and sees every datagram of its direction', () => {
  const { net, b } = sinkNet(5, {});
  const seen: number[] = [];
  net.setLink('a', 'b', {
    hook: (d) => {
      seen.push(numberOf(d.data));
      if (numberOf(d.data) === 1) return 'drop';
      if (numberOf(d.data) === 2) return numbered(99);
      return undefined;
    },
  });
  for (let k = 0; k < 4; k++) net.inject(A, B, numbered(k));
  net.inject(B, A, numbered(7));
  assert.ok(net.runUntilQuiet(100));
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.deepEqual(b.got.map((g) => numberOf(g.data)), [0, 99, 3]);
  assert.deepEqual(net.datagrams().map((r) => [r.dropped, r.altered]), [[undefined, false], ['hook', false], [undefined, true], [undefined, false], [undefined, false]]);
});

// ---- engines on the network ---------------------------------------------------------------------

const HYBRID = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';

interface Run {
  readonly net: SimNet;
  readonly quiet: boolean;
  /**
   * 'orphan': the known engine limitation (see the todo test below) — the initiator gave up on
   * IKE_AUTH because every response was lost, while the responder, whose IKE_AUTH succeeded,
   * keeps an established IKE SA and Child SA with nobody on the other side (no liveness check).
   */
  readonly outcome: 'up' | 'failed' | 'orphan' | 'mismatch';
  readonly detail: string;
}

type Tweak = (c: ConnectionConfig) => ConnectionConfig;

function engines(net: SimNet, opts: PairOptions, tweak: Tweak = (c) => c): void {
  const base = connections(opts);
  const c = { initiator: tweak(base.initiator), responder: tweak(base.responder) };
  const i = new IkeEngine({ ...opts.engineOptions, ...net.crypto('moon') });
  const r = new IkeEngine({ ...opts.responderEngineOptions, ...net.crypto('sun') });
  i.addConnection(c.initiator);
  r.addConnection(c.responder);
  net.addNode('moon', i, [ADDR_I]);
  net.addNode('sun', r, [ADDR_R]);
}

function keysOf(children: readonly ChildSaInfo[]): string[] {
  return children.map((c) => Buffer.concat([c.keys.encrI, c.keys.integI, c.keys.encrR, c.keys.integR]).toString('hex'));
}

/** Classify the end of a handshake: both up with equal keys, both gone, or anything else. */
function outcome(net: SimNet): Pick<Run, 'outcome' | 'detail'> {
  const [upI, upR] = [net.events('moon', 'ike-up'), net.events('sun', 'ike-up')];
  const [childI, childR] = [net.events('moon', 'child-up'), net.events('sun', 'child-up')];
  const [saI, saR] = [net.ike('moon').list(), net.ike('sun').list()];
  const errors = [...net.events('moon', 'log'), ...net.events('sun', 'log')].filter((e) => e.level === 'error');
  const detail =
    `moon: ${upI.length} up, ${net.events('moon', 'ike-failed').length} failed, SAs [${saI.map((s) => s.state).join(',')}]; ` +
    `sun: ${upR.length} up, ${net.events('sun', 'ike-failed').length} failed, SAs [${saR.map((s) => s.state).join(',')}]` +
    (errors.length ? `; errors: ${errors.map((e) => e.message).join('; ')}` : '');
  if (errors.length > 0) return { outcome: 'mismatch', detail };
  const bothUp =
    upI.length === 1 &&
    upR.length === 1 &&
    childI.length === 1 &&
    childR.length === 1 &&
    saI.length === 1 &&
    saR.length === 1 &&
    saI[0]?.state === 'established' &&
    saR[0]?.state === 'established' &&
    saI[0].spiI === saR[0].spiI &&
    saI[0].spiR === saR[0].spiR &&
    keysOf(childI.map((e) => e.child))[0] === keysOf(childR.map((e) => e.child))[0] &&
    childI[0]?.child.spiIn === childR[0]?.child.spiOut &&
    childI[0]?.child.spiOut === childR[0]?.child.spiIn;
  if (bothUp) return { outcome: 'up', detail };
  // Both gave up cleanly: no SA left on either side, nothing (or only a failure) reported up.
  const bothGone = saI.length === 0 && saR.length === 0 && upI.length === 0 && childI.length === 0 && net.events('moon', 'ike-failed').length === 1;
  if (bothGone && (upR.length === 0 || net.events('sun', 'ike-down').length === upR.length)) return { outcome: 'failed', detail };
  const failedI = net.events('moon', 'ike-failed');
  const authResponses = net.datagrams().filter((d) => d.fromNode === 'sun' && d.summary.startsWith('IKE_AUTH r'));
  const orphan =
    saI.length === 0 &&
    upI.length === 0 &&
    failedI.length === 1 &&
    /no response to IKE_AUTH request/.test(failedI[0]?.reason ?? '') &&
    upR.length === 1 &&
    saR.length === 1 &&
    saR[0]?.state === 'established' &&
    authResponses.length > 0 &&
    authResponses.every((d) => d.deliveredAt.length === 0);
  return { outcome: orphan ? 'orphan' : 'mismatch', detail };
}

function handshake(seed: number, link: LinkConfig, opts: PairOptions = {}, o: { maxTime?: number; quiet?: boolean; tweak?: Tweak } = {}): Run {
  const net = new SimNet({ seed, link, quiet: o.quiet, label: 'handshake' });
  engines(net, opts, o.tweak);
  net.initiate('moon', 'moon');
  const quiet = net.runUntilQuiet(o.maxTime ?? 300_000);
  return { net, quiet, ...outcome(net) };
}

const BAD: LinkConfig = { loss: 0.3, duplicate: 0.1, reorder: 0.25, reorderDelayMs: 400, delayMs: 20, jitterMs: 20 };

test('determinism: the same seed gives the same trace (datagrams, times, headers, events); other seeds differ', () => {
  const trace = (seed: number): string => handshake(seed, BAD, { ikeI: [HYBRID] }).net.traceText();
  const a = trace(11);
  assert.equal(trace(11), a);
  assert.ok(a.split('\n').length > 20);
  assert.ok(/dropped \(loss\)/.test(a) && /duplicated/.test(a), 'the run saw loss and duplication');
  assert.notEqual(trace(12), a);
  assert.notEqual(trace(13), a);
});

test('replay: PQIKE_SIM_SEED reproduces a lossy run with rekeys byte for byte (every datagram, key exchange values included)', () => {
  const seed = simSeed(17);
  const run = (): { wire: string[]; lost: number } => {
    const net = new SimNet({ seed, link: BAD, quiet: true, label: 'replay' });
    engines(net, { ikeI: [HYBRID], espI: ['aes256gcm16-x25519-ke1_mlkem768'] });
    net.initiate('moon', 'moon');
    net.runUntilQuiet(120_000);
    const [sa] = net.ike('moon').list();
    if (sa?.state === 'established') {
      const [child] = net.ike('moon').children(sa.id);
      if (child) net.act('moon', (_e, now) => net.ike('moon').rekeyChild(sa.id, child.spiIn, now));
      net.runUntilQuiet(net.now + 120_000);
      net.act('moon', (_e, now) => net.ike('moon').rekeyIke(sa.id, now));
      net.runUntilQuiet(net.now + 120_000);
    }
    const d = net.datagrams();
    return { wire: d.map((r) => `${r.time} ${r.fromNode} ${r.summary} ${Buffer.from(r.data).toString('hex')} ${r.dropped ?? ''}`), lost: d.filter((r) => r.dropped === 'loss').length };
  };
  const a = run();
  const b = run();
  assert.ok(a.lost > 0, `seed ${seed}: the run lost datagrams`);
  assert.ok(a.wire.some((w) => w.includes('CREATE_CHILD_SA')), `seed ${seed}: the run got as far as a rekey`);
  assert.equal(b.wire.length, a.wire.length);
  for (const [k, w] of a.wire.entries()) assert.equal(b.wire[k], w, `datagram ${k} differs (seed ${seed})`);
});

test('virtual time: an unanswered initiator retransmits at 1, 3, 7, 15, 31 s and gives up at 63 s', () => {
  const net = new SimNet({ seed: 1, label: 'dead peer' });
  engines(net, { ikeI: [HYBRID] });
  net.partition({ start: 0, end: Infinity, a: 'moon', b: 'sun' });
  net.initiate('moon', 'moon');
  assert.ok(net.runUntilQuiet(1_000_000));
  assert.deepEqual(
    net.datagrams().map((d) => [d.time, d.summary.split(' ')[0], d.dropped]),
    [0, 1000, 3000, 7000, 15000, 31000].map((t) => [t, 'IKE_SA_INIT', 'partition']),
  );
  const failed = net.timedEvents().filter((e) => e.event.type === 'ike-failed');
  assert.deepEqual(failed.map((e) => [e.node, e.time]), [['moon', 63000]]);
  assert.equal(net.now, 63000);
  assert.deepEqual(net.ike('moon').list(), []);
});

test('dead peer for 20 s: the handshake completes with the retransmission after the partition heals', () => {
  const net = new SimNet({ seed: 2, label: 'partition' });
  engines(net, { ikeI: [HYBRID] });
  net.partition({ start: 0, end: 20000 });
  net.initiate('moon', 'moon');
  assert.ok(net.runUntilQuiet(100_000));
  assert.equal(outcome(net).outcome, 'up', outcome(net).detail);
  const up = net.timedEvents().find((e) => e.event.type === 'ike-up');
  assert.ok(up && up.time > 31000 && up.time < 32000, `up at ${up?.time}`);
});

test('hybrid handshake over 30 % loss + 10 % duplication + reordering: both up with equal Child SA keys, or both gave up (many seeds)', async () => {
  const tally = { up: 0, failed: 0, orphan: 0 };
  const orphans: number[] = [];
  const times: number[] = [];
  await forEachSeed(
    50,
    (seed) => {
      const run = handshake(seed, BAD, { ikeI: [HYBRID] }, { quiet: true });
      assert.ok(run.quiet, `not quiet after ${run.net.now} ms: ${run.detail}`);
      if (run.outcome === 'mismatch') assert.fail(`the sides disagree: ${run.detail}`);
      tally[run.outcome]++;
      if (run.outcome === 'orphan') orphans.push(seed);
      if (run.outcome === 'up') times.push(Math.max(...run.net.timedEvents().filter((e) => e.event.type === 'ike-up').map((e) => e.time)));
    },
    { label: 'hybrid handshake, 30 % loss' },
  );
  const total = tally.up + tally.failed + tally.orphan;
  times.sort((x, y) => x - y);
  console.log(
    `simnet: ${tally.up}/${total} seeds established, ${tally.failed} gave up cleanly, ${tally.orphan} orphaned responder SA(s)` +
      `${orphans.length ? ` (seeds ${orphans.join(' ')}; known limitation, see the todo test)` : ''}; ` +
      `time to both up: median ${Math.round(times[times.length >> 1] ?? 0)} ms, max ${Math.round(times.at(-1) ?? 0)} ms`,
  );
  assert.ok(tally.up >= Math.ceil(total * 0.8), `only ${tally.up} of ${total} established`);
});

// Found by this simulator (seed 806003074, k = 142 of the default family; about 1.2 % of seeds
// under BAD): the responder's IKE_AUTH succeeds at 3.13 s, but all five of its IKE_AUTH
// responses are lost (the initiator's request and its 2nd, 3rd and 4th retransmissions arrive —
// the 4th twice — and are answered from the cache; the 1st and 5th retransmissions are lost).
// The initiator gives up at 66.09 s ("no response to IKE_AUTH request 2 after 5
// retransmissions") and forgets its SA; the responder holds an established IKE SA and Child SA
// with nobody on the other side. Without liveness checks, only a lifetime can end it: the
// engine's default ones (strongSwan's: Child SA rekey after 1 h, IKE SA after 4 h, minus up to
// 10 % jitter) make the responder rekey, get no answer, and give the SA up.
test('seed 806003074: every IKE_AUTH response lost, default configuration — the responder\'s default lifetimes remove the orphaned SA', () => {
  const defaults: Tweak = ({ ikeRekeyTimeMs: _r, ikeLifeTimeMs: _l, ...c }) => ({ ...c, children: c.children.map(({ rekeyTimeMs: _cr, lifeTimeMs: _cl, ...ch }) => ch) });
  const run = handshake(806003074, BAD, { ikeI: [HYBRID] }, { maxTime: 2 * 3_600_000, tweak: defaults });
  const timed = run.net.timedEvents();
  const failedI = timed.filter((e) => e.node === 'moon' && e.event.type === 'ike-failed');
  assert.equal(failedI.length, 1, run.detail);
  assert.ok(Math.abs((failedI[0]?.time ?? 0) - 66093.912) < 0.01, `initiator gave up at ${failedI[0]?.time}`);
  assert.equal(run.net.events('sun', 'ike-up').length, 1, 'the responder did establish');
  assert.deepEqual(run.net.ike('moon').list(), []);
  const gone = timed.filter((e) => e.node === 'sun' && (e.event.type === 'ike-failed' || e.event.type === 'ike-down'));
  assert.equal(gone.length, 1, `responder still holds its SA at ${run.net.now} ms: ${run.detail}`);
  // The Child SA's rekey (1 h minus jitter) goes unanswered: five retransmissions, then the IKE SA is given up.
  const t = gone[0]?.time ?? 0;
  assert.ok(t > 0.9 * 3_600_000 && t < 3_600_000 + 64_000, `responder gave its SA up at ${t} ms`);
  assert.deepEqual(run.net.ike('sun').list(), []);
  console.log(`simnet: orphan with default lifetimes: initiator gave up at ${failedI[0]?.time} ms, responder at ${Math.round(t)} ms`);
});

test('every IKE_AUTH response lost, dpdDelayMs 30 s: the initiator gives up, the responder\'s liveness check then removes its orphaned SA', () => {
  const net = new SimNet({ seed: simSeed(806003074), label: 'orphan + DPD', link: { delayMs: 20 } });
  const liveness = { dpdDelayMs: 30_000 };
  engines(net, { ikeI: [HYBRID] }, (conn) => ({ ...conn, ...liveness }));
  net.setLink('sun', 'moon', { hook: (d) => (headerSummary(d.data).startsWith('IKE_AUTH r') ? 'drop' : undefined) });
  net.initiate('moon', 'moon');
  assert.ok(net.runUntilQuiet(600_000), `not quiet: ${outcome(net).detail}`);
  const at = (node: string, type: string): number[] => net.timedEvents().filter((e) => e.node === node && e.event.type === type).map((e) => e.time);
  assert.equal(at('sun', 'ike-up').length, 1);
  assert.equal(at('moon', 'ike-failed').length, 1);
  const gone = [...at('sun', 'ike-failed'), ...at('sun', 'ike-down')];
  assert.equal(gone.length, 1, outcome(net).detail);
  assert.ok((gone[0] ?? 0) > (at('moon', 'ike-failed')[0] ?? Infinity), 'the responder notices only after the initiator gave up');
  assert.deepEqual(net.ike('moon').list(), []);
  assert.deepEqual(net.ike('sun').list(), []);
  assert.equal(net.events('sun', 'child-down').length, 1);
  console.log(`simnet: orphan + DPD: initiator gave up at ${at('moon', 'ike-failed')[0]} ms, responder dropped its SA at ${Math.round(gone[0] ?? 0)} ms`);
});

test('1280-byte path MTU: ML-KEM-1024 hybrid completes only through IKE fragmentation', () => {
  const ike = 'aes256gcm16-prfsha384-x25519-ke1_mlkem1024';
  const run = handshake(simSeed(21), { mtu: 1280, delayMs: 15, jitterMs: 5 }, { ikeI: [ike], fragmentSize: 1280 }, {});
  assert.ok(run.quiet);
  assert.equal(run.outcome, 'up', run.detail);
  const s = run.net.stats();
  assert.equal(s.dropped.mtu, 0);
  assert.ok(run.net.datagrams().every((d) => d.size + 28 <= 1280));
  for (const node of ['moon', 'sun']) {
    const inter = run.net.events(node, 'message').filter((e) => e.direction === 'out' && e.exchange === ExchangeType.IKE_INTERMEDIATE);
    assert.equal(inter.length, 1);
    assert.ok((inter[0]?.sizes.length ?? 0) >= 2, `${node}: IKE_INTERMEDIATE in ${inter[0]?.sizes.length} fragments`);
  }
  // Control: without fragmentation the IKE_INTERMEDIATE request cannot cross; both give up.
  const c = handshake(simSeed(21), { mtu: 1280, delayMs: 15 }, { ikeI: [ike], fragmentSize: 1280 }, { tweak: (conn) => ({ ...conn, fragmentation: false }) });
  assert.ok(c.quiet);
  assert.equal(c.outcome, 'failed', c.detail);
  assert.ok(c.net.stats().dropped.mtu >= 6, 'the request and its 5 retransmissions hit the MTU');
});

test('1280-byte path MTU with 20 % loss, duplication and reordering: fragments are retransmitted and reassembled (many seeds)', async () => {
  const ike = 'aes256gcm16-prfsha384-x25519-ke1_mlkem1024';
  const link: LinkConfig = { ...BAD, loss: 0.2, mtu: 1280 };
  const tally = { up: 0, failed: 0, orphan: 0 };
  await forEachSeed(
    20,
    (seed) => {
      const run = handshake(seed, link, { ikeI: [ike], fragmentSize: 1280 }, { quiet: true });
      assert.ok(run.quiet, `not quiet after ${run.net.now} ms: ${run.detail}`);
      if (run.outcome === 'mismatch') assert.fail(`the sides disagree: ${run.detail}`);
      tally[run.outcome]++;
      assert.equal(run.net.stats().dropped.mtu, 0);
    },
    { baseSeed: 1280, label: 'ML-KEM-1024 at MTU 1280, 20 % loss' },
  );
  const total = tally.up + tally.failed + tally.orphan;
  console.log(`simnet: MTU 1280, 20 % loss: ${tally.up}/${total} established, ${tally.failed} gave up cleanly, ${tally.orphan} orphaned`);
  assert.ok(tally.up >= Math.ceil(total * 0.8), `only ${tally.up} of ${total} established`);
});

test('three nodes: two initiators reach one responder through a lossy network; datagrams are routed by address', () => {
  const net = new SimNet({ seed: simSeed(3), label: 'three nodes', link: { loss: 0.1, delayMs: 10, jitterMs: 30 } });
  const base = connections({ ikeI: [HYBRID] });
  const ADDR_M = '192.0.2.3';
  const sun = new IkeEngine({ random: net.randomSource('sun') });
  sun.addConnection(base.responder);
  const moon = new IkeEngine({ random: net.randomSource('moon') });
  moon.addConnection(base.initiator);
  const mars = new IkeEngine({ random: net.randomSource('mars') });
  mars.addConnection({ ...base.initiator, name: 'mars', localAddress: ADDR_M });
  net.addNode('sun', sun, [ADDR_R]);
  net.addNode('moon', moon, [ADDR_I]);
  net.addNode('mars', mars, [ADDR_M]);
  net.initiate('moon', 'moon');
  net.runUntil(500);
  net.initiate('mars', 'mars');
  assert.ok(net.runUntilQuiet(300_000));
  assert.equal(net.events('moon', 'ike-up').length, 1);
  assert.equal(net.events('mars', 'ike-up').length, 1);
  assert.equal(net.events('sun', 'ike-up').length, 2);
  const childR = net.events('sun', 'child-up').map((e) => e.child);
  for (const node of ['moon', 'mars']) {
    const [c] = net.events(node, 'child-up');
    assert.ok(c);
    const peer = childR.find((r) => r.spiIn === c.child.spiOut);
    assert.ok(peer, `${node}: the responder has its Child SA`);
    assert.deepEqual(peer.keys, c.child.keys);
  }
  assert.deepEqual(sun.list().map((s) => s.remote.address).sort(), [ADDR_I, ADDR_M].sort());
  // Every datagram went to the node owning its destination address.
  const owner = new Map([[ADDR_R, 'sun'], [ADDR_I, 'moon'], [ADDR_M, 'mars']]);
  for (const d of net.datagrams()) assert.equal(d.toNode, owner.get(d.to.address));
  assert.ok(net.stats().dropped.loss > 0);
});

test('forEachSeed: names the failing seed and how to rerun it; PQIKE_SIM_SEED / PQIKE_SIM_SEEDS override base and count', async () => {
  const lines: string[] = [];
  const log = (l: string): void => void lines.push(l);
  const saved = { seed: process.env['PQIKE_SIM_SEED'], seeds: process.env['PQIKE_SIM_SEEDS'] };
  try {
    delete process.env['PQIKE_SIM_SEED'];
    delete process.env['PQIKE_SIM_SEEDS'];
    const seen: number[] = [];
    await assert.rejects(
      forEachSeed(5, (seed, k) => {
        seen.push(seed);
        if (k === 2) throw new Error('boom');
      }, { baseSeed: 77, log }),
      (e: unknown) => e instanceof Error && e.message.includes(`seed ${deriveSeed(77, 2)} failed`) && e.message.includes(`PQIKE_SIM_SEED=${deriveSeed(77, 2)} PQIKE_SIM_SEEDS=1`) && e.message.endsWith('boom'),
    );
    assert.deepEqual(seen, [77, deriveSeed(77, 1), deriveSeed(77, 2)]);
    process.env['PQIKE_SIM_SEED'] = String(deriveSeed(77, 2));
    process.env['PQIKE_SIM_SEEDS'] = '1';
    const rerun: number[] = [];
    await forEachSeed(5, (seed) => void rerun.push(seed), { baseSeed: 77, log });
    assert.deepEqual(rerun, [deriveSeed(77, 2)], 'the reported seed reruns alone');
    assert.equal(new SimNet({ log }).seed, deriveSeed(77, 2), 'a network without an explicit seed takes PQIKE_SIM_SEED');
    assert.ok(lines.every((l) => l.includes('seed')));
  } finally {
    for (const [k, v] of [['PQIKE_SIM_SEED', saved.seed], ['PQIKE_SIM_SEEDS', saved.seeds]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  // An empty network: step() has nothing to do, and quiet is immediate.
  const net = new SimNet({ seed: 1, quiet: true });
  assert.equal(net.step(), false);
  assert.equal(net.runUntilQuiet(10), true);
});
