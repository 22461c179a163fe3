/**
 * Snapshot fuzzing of the engine, per exchange type and role.
 *
 * A pair of engines (test/helpers/engine-pair.ts, with a hybrid proposal
 * aes256gcm16-prfsha384-x25519-ke1_mlkem768 plus a classic one, a Child SA with PFS, and a
 * second configuration with ke2_mlkem1024 whose IKE_INTERMEDIATE messages are fragmented) runs
 * a whole life: IKE_SA_INIT, IKE_INTERMEDIATE, IKE_AUTH, CREATE_CHILD_SA for a new Child SA,
 * for a Child SA rekey and for an IKE SA rekey, their IKE_FOLLOWUP_KE, INFORMATIONAL. Just
 * before each target message reaches its receiver, the receiving engine is deep-cloned (a
 * SNAPSHOT, test/fuzz/clone.ts) and the valid message captured. A stream is one target:
 * the request as the responder sees it, or the response as the initiator sees it.
 *
 * Every variant of a stream runs on a fresh clone of the stream's snapshot (no SA is built
 * again) and is one of:
 *   plain   byte mutations of the decrypted inner payload chain, sealed again with the live
 *           SK keys (so that the ICV verifies and the bytes reach the parser and the handlers);
 *           for IKE_SA_INIT, of the payload chain with the header length fixed up;
 *   raw     byte mutations of the datagram as sent (header, ciphertext, ICV; one fragment);
 *   struct  structure-aware: the valid payload chain mutated at the payload level, or a fresh
 *           chain generated from the payload grammar (test/fuzz/grammar.ts), encoded with our
 *           encoder and sealed with the live keys, as SKF fragments when large (or at random);
 *   fc      a chain of test/unit/wire-arbitraries.ts plainPayload values (fast-check), sealed;
 *   sized   (every SIZED_EVERY-th index) a chain padded to a size at a length-field or limit
 *           boundary (65535 less the headers, the 64 KiB reassembly limit, the fragment size);
 *   chain   (every CHAIN_EVERY-th index) several variants into the same clone, in a row.
 *
 * Invariants checked per variant (a violation is a Finding):
 *   - receive() does not throw and no 'log' event of level 'error' is emitted;
 *   - one message is handled within HANG_MS of wall time, confirmed by a second run (a real
 *     hang is caught by the long runner's watchdog, which kills the worker);
 *   - advancing the clock to each next deadline with tick() ends within MAX_TICKS steps;
 *   - resources() stay within a few entries of the snapshot's;
 *   - a REQUEST variant without a response carrying the target Message ID leaves that ID
 *     usable: the original request sent afterwards is answered ('message-id-consumed'
 *     otherwise); a RESPONSE variant that was not consumed leaves the initiator waiting: the
 *     original response sent afterwards is consumed ('response-blocked' otherwise). Variants
 *     that left no trace at all (no output or event, unchanged resources) are re-checked one
 *     in RECHECK_QUIET: consuming a Message ID always comes with a 'message' event.
 *
 * Everything is deterministic: the engines' randomness comes from a PRNG reseeded per variant
 * and the key exchanges from test/fuzz/ke.ts, so (seed, stream, index) regenerates the exact
 * datagrams, in any process, on Node 20 and 24.
 */
import fc from 'fast-check';
import { IkeEngine } from '../../src/engine/engine.js';
import type { IkeSa } from '../../src/engine/ike-sa.js';
import type { EngineOutput, EngineResources, Endpoint } from '../../src/engine/types.js';
import { buildProposals } from '../../src/engine/proposal-select.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import {
  ExchangeType,
  HeaderFlags,
  NotifyType,
  PayloadType,
  decodeHeader,
  decodeMessage,
  decodePayloads,
  encodePayloads,
  nameOf,
} from '../../src/wire/index.js';
import type { Payload, Proposal, TrafficSelector } from '../../src/wire/index.js';
import type { SkCipher, SkKeys } from '../../src/crypto/sk-cipher.js';
import { ADDR_I, ADDR_R, EnginePair } from '../helpers/engine-pair.js';
import type { PairOptions } from '../helpers/engine-pair.js';
import { sasOf } from '../helpers/engine-wire.js';
import { plainPayload } from '../unit/wire-arbitraries.js';
import { deepClone, reachable } from './clone.js';
import { freshChain, mutateChain } from './grammar.js';
import type { GrammarContext } from './grammar.js';
import { fuzzKeMethod } from './ke.js';
import { mutateBytes } from './mutate.js';
import { Rng, hashString } from './prng.js';
import { openRaw, sealRaw } from './seal.js';
import type { Frame } from './seal.js';

export const DEFAULT_SEED = 0x1ce29370;
/** One message handled for longer than this is a finding. */
export const HANG_MS = 1000;
/** tick() to each next deadline must settle within this many steps. */
export const MAX_TICKS = 64;
/** Every CHAIN_EVERY-th variant is a chain of CHAIN_LENGTH variants into one clone. */
export const CHAIN_EVERY = 512;
export const CHAIN_LENGTH = 12;
/** Slack on every resources() count, per variant (an IKE rekey adds one SA, a new child one child...). */
const RESOURCE_SLACK = 2;
const CHAIN_RESOURCE_SLACK = 8;
/** Variants that left no trace are re-checked (original message sent again) one in this many. */
export const RECHECK_QUIET = 8;

// ---- deterministic engine randomness ----------------------------------------------------------

let engineRng = new Rng(0);
/** EngineOptions.random for the fuzzed engines: a PRNG the harness reseeds per variant. */
export const fuzzRandom = (n: number): Uint8Array => engineRng.bytes(n);
function reseed(...words: number[]): void {
  engineRng = new Rng(...words);
}

// ---- scenarios and streams --------------------------------------------------------------------

type Side = 'i' | 'r';

interface Scenario {
  readonly name: string;
  readonly options: PairOptions;
  /** Drive the pair through the exchanges whose messages streams target. */
  drive(pair: EnginePair): void;
}

export interface StreamDef {
  readonly name: string;
  readonly scenario: string;
  /** Who sends the target message. */
  readonly from: Side;
  readonly exchange: number;
  readonly response: boolean;
  /** The n-th message (1-based) of this exchange type and direction from this side. */
  readonly occurrence: number;
  readonly description: string;
}

const ENGINE_OPTIONS = { random: fuzzRandom, keMethod: fuzzKeMethod } as const;

/**
 * Responder Child SA configuration with several selectors per side, of both families and
 * overlapping, so that narrowing 255 proposed selectors can produce more than 255 (the class
 * of bug this fuzzer was written for: the encoder throwing after the Message ID was consumed).
 */
function responderChild(esp: readonly string[]): PairOptions['connR'] {
  return {
    children: [
      {
        name: 'net',
        espProposals: parseProposals([...esp], 'esp'),
        localTs: ['198.51.100.128/25', '198.51.100.192/26[udp]', '2001:db8:1::/48'].map(parseTrafficSelector),
        remoteTs: ['198.51.100.0/24', '198.51.100.0/26[tcp]', '2001:db8::/32'].map(parseTrafficSelector),
        mode: 'tunnel',
      },
    ],
  };
}

const HYBRID_ESP = ['aes256gcm16-x25519-ke1_mlkem768', 'aes256gcm16'];

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'hybrid',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      const id = pair.initiate();
      pair.run();
      if (!pair.i.createChild(id, 'net', pair.now)) throw new Error('hybrid: createChild refused');
      pair.run();
      const first = pair.i.children(id)[0];
      if (!first || !pair.i.rekeyChild(id, first.spiIn, pair.now)) throw new Error('hybrid: rekeyChild refused');
      pair.run();
      if (!pair.i.rekeyIke(id, pair.now)) throw new Error('hybrid: rekeyIke refused');
      pair.run();
    },
  },
  {
    name: 'frag',
    options: {
      ikeI: ['aes256-sha384-x25519-ke1_mlkem768-ke2_mlkem1024'],
      espI: ['aes256gcm16'],
      fragmentSize: 1280,
      engineOptions: ENGINE_OPTIONS,
      connR: responderChild(['aes256gcm16']),
    },
    drive(pair) {
      pair.initiate();
      pair.run();
    },
  },
  {
    // The IKE SA's responder starts exchanges: its requests carry no Initiator flag and reach
    // the IKE initiator's request handling.
    name: 'reverse',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      pair.initiate();
      pair.run();
      const sa = pair.r.list()[0];
      const child = sa ? pair.r.children(sa.id)[0] : undefined;
      if (!sa || !child || !pair.r.rekeyChild(sa.id, child.spiIn, pair.now)) throw new Error('reverse: rekeyChild refused');
      pair.run();
      if (!pair.r.checkLiveness(sa.id, pair.now)) throw new Error('reverse: checkLiveness refused');
      pair.run();
    },
  },
  {
    // Both peers rekey the IKE SA at once (RFC 7296 §2.8.2): each request reaches a peer whose
    // own rekey is in flight, each response a peer that has answered the other's request.
    name: 'collide-ike',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      const id = pair.initiate();
      pair.run();
      const r = pair.r.list()[0];
      if (!r || !pair.i.rekeyIke(id, pair.now) || !pair.r.rekeyIke(r.id, pair.now)) throw new Error('collide-ike: rekeyIke refused');
      pair.run();
    },
  },
  {
    // Both peers rekey the same Child SA at once (RFC 7296 §2.8.1).
    name: 'collide-child',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      const id = pair.initiate();
      pair.run();
      const r = pair.r.list()[0];
      const ci = pair.i.children(id)[0];
      const cr = r ? pair.r.children(r.id)[0] : undefined;
      if (!r || !ci || !cr || !pair.i.rekeyChild(id, ci.spiIn, pair.now) || !pair.r.rekeyChild(r.id, cr.spiIn, pair.now)) throw new Error('collide-child: rekeyChild refused');
      pair.run();
    },
  },
  {
    // A responder under load (cookie threshold 0): the first IKE_SA_INIT request gets a COOKIE
    // (RFC 7296 §2.6), the second carries it.
    name: 'cookie',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      responderEngineOptions: { ...ENGINE_OPTIONS, cookieThreshold: 0 },
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      pair.initiate();
      pair.run();
    },
  },
  {
    // The same with the daemon's admission queue (RFC 8019 §4): the request with the COOKIE
    // is decoded and checked, queued, then let in by admitPending().
    name: 'admission',
    options: {
      ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
      espI: HYBRID_ESP,
      engineOptions: ENGINE_OPTIONS,
      responderEngineOptions: { ...ENGINE_OPTIONS, cookieThreshold: 0, admissionQueue: 16 },
      connR: responderChild(HYBRID_ESP),
    },
    drive(pair) {
      pair.initiate();
      pair.run();
    },
  },
];

const X = ExchangeType;
function both(name: string, scenario: string, exchange: number, occurrence: number, what: string): StreamDef[] {
  return [
    { name: `${name}.req`, scenario, from: 'i', exchange, response: false, occurrence, description: `${what} request, as the responder sees it` },
    { name: `${name}.resp`, scenario, from: 'r', exchange, response: true, occurrence, description: `${what} response, as the initiator sees it` },
  ];
}

export const STREAMS: readonly StreamDef[] = [
  ...both('ike_sa_init', 'hybrid', X.IKE_SA_INIT, 1, 'IKE_SA_INIT'),
  ...both('ike_intermediate', 'hybrid', X.IKE_INTERMEDIATE, 1, 'IKE_INTERMEDIATE (ke1 ML-KEM-768)'),
  ...both('ike_intermediate_frag', 'frag', X.IKE_INTERMEDIATE, 2, 'IKE_INTERMEDIATE (ke2 ML-KEM-1024, SKF fragments, AES-CBC/HMAC)'),
  ...both('ike_auth', 'hybrid', X.IKE_AUTH, 1, 'IKE_AUTH (PSK, Child SA)'),
  ...both('ccs_new_child', 'hybrid', X.CREATE_CHILD_SA, 1, 'CREATE_CHILD_SA new Child SA (KE x25519, ADDKE)'),
  ...both('ccs_rekey_child', 'hybrid', X.CREATE_CHILD_SA, 2, 'CREATE_CHILD_SA Child SA rekey (REKEY_SA)'),
  ...both('ccs_rekey_ike', 'hybrid', X.CREATE_CHILD_SA, 3, 'CREATE_CHILD_SA IKE SA rekey'),
  ...both('ike_followup_ke', 'hybrid', X.IKE_FOLLOWUP_KE, 1, 'IKE_FOLLOWUP_KE (ML-KEM-768, new Child SA series)'),
  ...both('ike_followup_ke_ike', 'hybrid', X.IKE_FOLLOWUP_KE, 3, 'IKE_FOLLOWUP_KE (ML-KEM-768, IKE SA rekey series)'),
  ...both('informational', 'hybrid', X.INFORMATIONAL, 1, 'INFORMATIONAL (Delete of the rekeyed Child SA)'),
  { name: 'rev_ccs_rekey_child.req', scenario: 'reverse', from: 'r', exchange: X.CREATE_CHILD_SA, response: false, occurrence: 1, description: 'CREATE_CHILD_SA Child SA rekey started by the IKE responder, as the IKE initiator sees it' },
  { name: 'rev_ccs_rekey_child.resp', scenario: 'reverse', from: 'i', exchange: X.CREATE_CHILD_SA, response: true, occurrence: 1, description: 'CREATE_CHILD_SA Child SA rekey response, as the IKE responder (its initiator) sees it' },
  { name: 'rev_informational_dpd.req', scenario: 'reverse', from: 'r', exchange: X.INFORMATIONAL, response: false, occurrence: 2, description: 'INFORMATIONAL liveness check (empty) from the IKE responder, as the IKE initiator sees it' },
  ...both('collide_rekey_ike', 'collide-ike', X.CREATE_CHILD_SA, 1, 'CREATE_CHILD_SA IKE SA rekey while the receiver rekeys it too (collision)'),
  ...both('collide_rekey_child', 'collide-child', X.CREATE_CHILD_SA, 1, 'CREATE_CHILD_SA Child SA rekey while the receiver rekeys it too (collision)'),
  { name: 'ike_sa_init_cookie.req', scenario: 'cookie', from: 'i', exchange: X.IKE_SA_INIT, response: false, occurrence: 2, description: 'IKE_SA_INIT request with a COOKIE, to a responder under load, as it sees it' },
  { name: 'ike_sa_init_queued.req', scenario: 'admission', from: 'i', exchange: X.IKE_SA_INIT, response: false, occurrence: 2, description: 'IKE_SA_INIT request with a COOKIE, to a responder under load with an admission queue, as it sees it' },
];

// ---- capture ---------------------------------------------------------------------------------

export interface Stream {
  readonly def: StreamDef;
  readonly hash: number;
  readonly snapshot: IkeEngine;
  readonly shared: WeakSet<object>;
  readonly now: number;
  /** The valid message, one datagram or its fragments in order. */
  readonly original: readonly Uint8Array[];
  readonly frame: Frame;
  readonly protected: boolean;
  readonly fragmented: boolean;
  /** Inner chain (protected) or payload chain (IKE_SA_INIT). */
  readonly innerFirst: number;
  readonly plain: Uint8Array;
  readonly payloads: readonly Payload[];
  readonly cipher?: SkCipher;
  readonly keys?: SkKeys;
  /** SKF size limit of the sender (RFC 7383 §2.5.1). */
  readonly maxMessage: number;
  /** The SA of the snapshot that receives the message (none for an IKE_SA_INIT request). */
  readonly sa?: IkeSa;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  readonly base: EngineResources;
  readonly ctx: GrammarContext;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

interface Captured {
  snapshot: IkeEngine;
  now: number;
  key: string;
  datagrams: Uint8Array[];
}

/** One message (all its fragments); IKE_SA_INIT is never fragmented, but is resent with a COOKIE. */
function messageKey(from: Side, d: Uint8Array): string {
  const id = d[18] === X.IKE_SA_INIT ? hex(d) : hex(d.subarray(20, 24));
  return `${from}/${hex(d.subarray(0, 16))}/${d[18]}/${(d[19] ?? 0) & HeaderFlags.RESPONSE}/${id}`;
}

/** Run a scenario once; snapshot the receiver before each wanted message. */
function capture(scenario: Scenario, wanted: readonly StreamDef[]): Map<string, Captured> {
  reseed(hashString(`scenario:${scenario.name}`));
  const pair = new EnginePair(scenario.options);
  const counts = new Map<string, number>();
  const seenMessages = new Set<string>();
  const out = new Map<string, Captured>();
  const open = new Map<string, Captured>(); // message key → capture in progress
  pair.filter = (d) => {
    const data = d.data;
    if (data.length < 28) return data;
    const key = messageKey(d.from, data);
    const inProgress = open.get(key);
    if (inProgress) {
      inProgress.datagrams.push(Uint8Array.from(data));
      return data;
    }
    if (seenMessages.has(key)) return data;
    seenMessages.add(key);
    const exchange = data[18] ?? 0;
    const response = ((data[19] ?? 0) & HeaderFlags.RESPONSE) !== 0;
    const ck = `${d.from}/${exchange}/${response}`;
    const n = (counts.get(ck) ?? 0) + 1;
    counts.set(ck, n);
    for (const w of wanted) {
      if (w.from !== d.from || w.exchange !== exchange || w.response !== response || w.occurrence !== n) continue;
      const receiver = d.from === 'i' ? pair.r : pair.i;
      const shared = reachable(receiver.connections());
      const snapshot = deepClone(receiver, { shared });
      snapshot.drain();
      const c: Captured = { snapshot, now: pair.now, key, datagrams: [Uint8Array.from(data)] };
      out.set(w.name, c);
      open.set(key, c);
    }
    return data;
  };
  scenario.drive(pair);
  const errors = pair.errors();
  if (errors.length > 0) throw new Error(`scenario ${scenario.name}: ${JSON.stringify(errors)}`);
  for (const w of wanted) if (!out.has(w.name)) throw new Error(`scenario ${scenario.name}: no message for stream ${w.name}`);
  return out;
}

function receiverSa(engine: IkeEngine, def: StreamDef, first: Uint8Array): IkeSa | undefined {
  const h = decodeHeader(first);
  const sas = sasOf(engine);
  if (def.exchange === X.IKE_SA_INIT) {
    if (!def.response) return undefined;
    return sas.find((s) => s.isInitiator && hex(s.spiI) === hex(h.spiI));
  }
  return sas.find((s) => hex(s.spiI) === hex(h.spiI) && hex(s.spiR) === hex(h.spiR));
}

function grammarContext(engine: IkeEngine, sa: IkeSa | undefined, payloads: readonly Payload[], response: boolean): GrammarContext {
  const rng = new Rng(7);
  const proposals: Proposal[] = [];
  const selectors: TrafficSelector[] = [];
  for (const c of engine.connections()) {
    proposals.push(...buildProposals(c.ikeProposals, { spi: rng.bytes(8) }), ...buildProposals(c.ikeProposals, { spi: new Uint8Array(0) }));
    for (const ch of c.children) {
      proposals.push(...buildProposals(ch.espProposals, { spi: rng.bytes(4) }), ...buildProposals(ch.espProposals, { spi: rng.bytes(4), withoutKe: true }));
      selectors.push(...ch.localTs, ...ch.remoteTs);
    }
  }
  const keValues = new Map<number, Uint8Array>();
  for (const id of [31, 35, 36, 37]) {
    const m = fuzzKeMethod(id);
    const ini = m.initiate().publicValue;
    keValues.set(id, response ? m.respond(ini).publicValue : ini);
  }
  const links: Uint8Array[] = [];
  for (const p of payloads) {
    if (p.type === PayloadType.SA) proposals.push(...p.proposals);
    if (p.type === PayloadType.KE) keValues.set(p.method, p.data);
    if (p.type === PayloadType.TSi || p.type === PayloadType.TSr) selectors.push(...p.selectors);
    if (p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.ADDITIONAL_KEY_EXCHANGE) links.push(p.data);
  }
  const childSpis: Uint8Array[] = [];
  const ikeSpis: Uint8Array[] = [];
  for (const s of sasOf(engine)) {
    ikeSpis.push(s.spiI, s.spiR);
    for (const c of s.children) childSpis.push(u32(c.info.spiIn), u32(c.info.spiOut));
  }
  if (sa) for (const k of sa.followups.keys()) links.push(Uint8Array.from(Buffer.from(k, 'hex')));
  return { proposals, selectors, keValues, childSpis, ikeSpis, links, original: payloads };
}

const streamCache = new Map<string, Stream>();

/** The streams (all, or those named), captured once per process. */
export function streams(names?: readonly string[]): Stream[] {
  const defs = names ? names.map((n) => {
    const d = STREAMS.find((s) => s.name === n);
    if (!d) throw new Error(`unknown stream '${n}' (have: ${STREAMS.map((s) => s.name).join(', ')})`);
    return d;
  }) : [...STREAMS];
  const missing = defs.filter((d) => !streamCache.has(d.name));
  for (const sc of SCENARIOS) {
    const wanted = missing.filter((d) => d.scenario === sc.name);
    if (wanted.length === 0) continue;
    const caps = capture(sc, wanted);
    for (const def of wanted) {
      const c = caps.get(def.name);
      if (!c) continue;
      streamCache.set(def.name, buildStream(def, c, sc));
    }
  }
  return defs.map((d) => streamCache.get(d.name) as Stream);
}

function buildStream(def: StreamDef, c: Captured, sc: Scenario): Stream {
  const first = c.datagrams[0] as Uint8Array;
  const h = decodeHeader(first);
  const frame: Frame = { spiI: h.spiI, spiR: h.spiR, exchangeType: h.exchangeType, flags: h.flags, messageId: h.messageId };
  const sa = receiverSa(c.snapshot, def, first);
  const remote = def.from === 'i' ? { address: ADDR_I, port: 500 } : { address: ADDR_R, port: 500 };
  const local = def.from === 'i' ? { address: ADDR_R, port: 500 } : { address: ADDR_I, port: 500 };
  const prot = def.exchange !== X.IKE_SA_INIT;
  let innerFirst: number;
  let plain: Uint8Array;
  let payloads: Payload[];
  let fragmented = false;
  let cipher: SkCipher | undefined;
  let keys: SkKeys | undefined;
  if (prot) {
    if (!sa) throw new Error(`stream ${def.name}: no receiving SA in the snapshot`);
    cipher = sa.requireCipher();
    keys = sa.inKeys();
    const o = openRaw(c.datagrams, cipher, keys);
    innerFirst = o.innerFirst;
    plain = o.plain;
    fragmented = o.fragmented;
    payloads = decodePayloads(innerFirst, plain, { inner: true });
  } else {
    const m = decodeMessage(first);
    innerFirst = m.header.nextPayload;
    plain = first.slice(28);
    payloads = m.payloads;
  }
  const fragmentSize = sc.options.fragmentSize ?? 1280;
  return {
    def,
    hash: hashString(def.name),
    snapshot: c.snapshot,
    shared: reachable(c.snapshot.connections()),
    now: c.now,
    original: c.datagrams,
    frame,
    protected: prot,
    fragmented,
    innerFirst,
    plain,
    payloads,
    ...(cipher ? { cipher } : {}),
    ...(keys ? { keys } : {}),
    maxMessage: fragmentSize - 28,
    ...(sa ? { sa } : {}),
    remote,
    local,
    base: c.snapshot.resources(),
    ctx: grammarContext(c.snapshot, sa, payloads, def.response),
  };
}

// ---- variants --------------------------------------------------------------------------------

export type VariantKind = 'plain' | 'raw' | 'struct' | 'fresh' | 'fc' | 'chain' | 'sized';
const KINDS: readonly VariantKind[] = ['plain', 'raw', 'struct', 'fresh', 'fc'];
const WEIGHTS = [30, 15, 35, 15, 5];

export interface Variant {
  readonly kind: VariantKind;
  /** Datagrams in the order they are delivered (a chain: several messages). */
  readonly datagrams: Uint8Array[];
  readonly note: string;
}

function variantFrame(rng: Rng, s: Stream): { frame: Frame; note: string } {
  const f = s.frame;
  const r = rng.int(100);
  if (r < 4) {
    const messageId = rng.pick([f.messageId - 1, f.messageId + 1, f.messageId + 2, 0, 0xffffffff, rng.u32()]) >>> 0;
    return { frame: { ...f, messageId }, note: `mid ${messageId}` };
  }
  if (r < 6) {
    const exchangeType = rng.pick([34, 35, 36, 37, 43, 44, 0, 38, 255]);
    return { frame: { ...f, exchangeType }, note: `exchange ${exchangeType}` };
  }
  if (r < 8) {
    const flags = rng.pick([0, 0x08, 0x20, 0x28, 0x10, 0x18, 0x30, 0x38]);
    return { frame: { ...f, flags }, note: `flags ${flags}` };
  }
  return { frame: f, note: '' };
}

/** Seal (protected streams) or frame (IKE_SA_INIT) an inner chain. */
function wrap(rng: Rng, s: Stream, innerFirst: number, plain: Uint8Array, note: string[]): Uint8Array[] {
  const { frame, note: fn } = variantFrame(rng, s);
  if (fn) note.push(fn);
  if (!s.protected) {
    const h = { spiI: frame.spiI, spiR: frame.spiR, nextPayload: innerFirst, majorVersion: 2, minorVersion: 0, exchangeType: frame.exchangeType, flags: frame.flags, messageId: frame.messageId, length: 28 + plain.length };
    const out = new Uint8Array(28 + plain.length);
    out.set(encodeHeaderLoose(h), 0);
    out.set(plain, 28);
    if (rng.chance(0.05)) new DataView(out.buffer).setUint32(24, rng.u32()); // wrong length
    return [out];
  }
  const cipher = s.cipher as SkCipher;
  const keys = s.keys as SkKeys;
  const r = rng.int(100);
  let maxMessage: number | undefined = s.maxMessage;
  let forceFragments = false;
  if (r < 8) {
    // Small fragments: many SKF datagrams (we reassemble up to 64, RFC 7383 §2.6); a few more
    // than that at most, since any beyond are dropped unread.
    const least = 36 + cipher.sealedLength(Math.ceil(plain.length / 70));
    maxMessage = Math.max(least, rng.range(64, 600));
    forceFragments = true;
    note.push(`skf ${maxMessage}`);
  } else if (r < 12) {
    forceFragments = true;
    note.push('skf 1');
  }
  let out = sealRaw(frame, innerFirst, plain, cipher, keys, rng, { maxMessage, forceFragments, oddPadding: rng.chance(0.1) });
  if (out.length > 1 && rng.chance(0.2)) {
    out = reorderFragments(rng, out);
    note.push('fragments reordered/dropped/duplicated');
  }
  return out;
}

function encodeHeaderLoose(h: { spiI: Uint8Array; spiR: Uint8Array; nextPayload: number; majorVersion: number; minorVersion: number; exchangeType: number; flags: number; messageId: number; length: number }): Uint8Array {
  const b = new Uint8Array(28);
  b.set(h.spiI.subarray(0, 8), 0);
  b.set(h.spiR.subarray(0, 8), 8);
  b[16] = h.nextPayload & 0xff;
  b[17] = (h.majorVersion << 4) | (h.minorVersion & 0xf);
  b[18] = h.exchangeType & 0xff;
  b[19] = h.flags & 0xff;
  new DataView(b.buffer).setUint32(20, h.messageId >>> 0);
  new DataView(b.buffer).setUint32(24, h.length >>> 0);
  return b;
}

function reorderFragments(rng: Rng, ds: Uint8Array[]): Uint8Array[] {
  const out = [...ds];
  const r = rng.int(4);
  if (r === 0) out.reverse();
  else if (r === 1) out.splice(rng.int(out.length), 1);
  else if (r === 2) out.splice(rng.int(out.length + 1), 0, out[rng.int(out.length)] as Uint8Array);
  else for (let k = out.length - 1; k > 0; k--) {
    const j = rng.int(k + 1);
    [out[k], out[j]] = [out[j] as Uint8Array, out[k] as Uint8Array];
  }
  return out;
}

function encodeChain(payloads: readonly Payload[]): { firstType: number; bytes: Uint8Array } | undefined {
  try {
    return encodePayloads(payloads);
  } catch {
    return undefined; // e.g. a payload over 65535 octets: not representable
  }
}

/** The variant of stream `s` at `index` (pure function of seed, stream and index). */
export function makeVariant(s: Stream, seed: number, index: number): Variant {
  const rng = new Rng(seed, s.hash, index, Math.floor(index / 0x100000000));
  if (index % CHAIN_EVERY === CHAIN_EVERY - 1) {
    const datagrams: Uint8Array[] = [];
    for (let k = 0; k < CHAIN_LENGTH; k++) datagrams.push(...single(s, rng.fork(), rng.weighted(WEIGHTS)).datagrams);
    return { kind: 'chain', datagrams, note: `${CHAIN_LENGTH} variants in a row` };
  }
  if (index % SIZED_EVERY === SIZED_AT) return sized(s, rng);
  return single(s, rng, rng.weighted(WEIGHTS));
}

/** Every SIZED_EVERY-th variant (at SIZED_AT) is a 'sized' one. */
export const SIZED_EVERY = 64;
const SIZED_AT = 13;

/**
 * A chain padded to a total size at a length-field or limit boundary: the 16-bit payload and
 * SK lengths (65535 less the headers), the 64 KiB reassembly limit, the fragment size, ±1.
 */
function sized(s: Stream, rng: Rng): Variant {
  const base = rng.chance(0.5) ? [...s.payloads] : mutateChain(rng, s.payloads, s.ctx);
  const c = s.cipher;
  const overhead = c ? c.ivLength + c.icvLength + 1 : 0;
  const chunk = s.maxMessage - 28 - 8 - overhead;
  const targets = [
    0xffff - 4, 0xffff - 4 - overhead, 0xffff - 28 - 4, 0xffff - 28 - 4 - overhead, 0xffff, 65536, 65536 - 4,
    s.maxMessage - 28 - 4 - overhead, chunk, 2 * chunk, 64 * chunk, 65 * chunk, 4096, 16384, 32768,
  ];
  const target = Math.max(0, rng.pick(targets) + rng.range(-2, 2));
  const encoded = encodeChain(base);
  const have = encoded ? encoded.bytes.length : 0;
  const fill: Payload[] = [];
  let need = target - have;
  while (need >= 4) {
    const len = Math.min(need, 0xffff);
    const data = new Uint8Array(len - 4);
    const r = rng.int(4);
    fill.push(r === 0 ? { type: PayloadType.VENDOR, critical: false, data } : r === 1 ? { type: 'unknown', rawType: rng.pick([1, 49, 200]), critical: false, data } : r === 2 ? { type: PayloadType.CERTREQ, critical: false, encoding: 4, data: data.subarray(1) } : { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: 40000, data: data.subarray(4) });
    need -= len;
  }
  const chain = encodeChain(rng.chance(0.5) ? [...base, ...fill] : [...fill, ...base]) ?? encoded;
  const note = [`sized ${target}`];
  if (!chain) return { kind: 'sized', datagrams: [...s.original], note: 'sized: not encodable, original' };
  return { kind: 'sized', datagrams: wrap(rng, s, chain.firstType, chain.bytes, note), note: note.join(', ') };
}

function single(s: Stream, rng: Rng, k: number): Variant {
  let kind = KINDS[k] as VariantKind;
  const note: string[] = [];
  if (kind === 'raw') {
    const which = rng.int(s.original.length);
    const ds = s.original.map((d, i) => (i === which ? mutateBytes(rng, d, { chainStart: 28, firstType: d[16] ?? 0 }) : d));
    if (ds.length > 1) note.push(`fragment ${which + 1}/${ds.length}`);
    return { kind, datagrams: ds.length > 1 && rng.chance(0.2) ? reorderFragments(rng, ds) : ds, note: note.join(', ') };
  }
  let chain: { firstType: number; bytes: Uint8Array } | undefined;
  if (kind === 'struct') chain = encodeChain(mutateChain(rng, s.payloads, s.ctx));
  else if (kind === 'fresh') chain = encodeChain(freshChain(rng, s.ctx));
  else if (kind === 'fc') {
    const ps = fc.sample(fc.array(plainPayload, { maxLength: 8 }), { seed: rng.u32() | 0, numRuns: 1 })[0] ?? [];
    chain = encodeChain(s.protected ? ps.filter((p) => p.type !== PayloadType.SK && p.type !== PayloadType.SKF) : ps);
  }
  if (kind !== 'plain' && chain === undefined) {
    note.push(`${kind} not encodable: plain instead`);
    kind = 'plain';
  }
  let innerFirst: number;
  let plain: Uint8Array;
  if (kind === 'plain') {
    plain = mutateBytes(rng, s.plain, { chainStart: 0, firstType: s.innerFirst });
    innerFirst = rng.chance(0.1) ? rng.pick([0, 33, 34, 35, 39, 40, 41, 42, 44, 45, 46, 47, 53, 1, 200]) : s.innerFirst;
  } else {
    const c = chain as { firstType: number; bytes: Uint8Array };
    innerFirst = c.firstType;
    plain = c.bytes;
  }
  return { kind, datagrams: wrap(rng, s, innerFirst, plain, note), note: note.join(', ') };
}

// ---- running a variant -----------------------------------------------------------------------

export type FindingKind = 'internal-error' | 'throw' | 'slow' | 'message-id-consumed' | 'response-blocked' | 'timers-unbounded' | 'resources' | 'hang' | 'crash';

export interface Finding {
  readonly kind: FindingKind;
  readonly stream: string;
  readonly index: number;
  readonly seed: number;
  readonly variant: VariantKind;
  readonly message: string;
  /** The datagrams fed, in order, as hex. */
  readonly datagrams: string[];
}

export interface Outcome {
  readonly findings: Finding[];
  /** The variant was decrypted (protected) / decoded and reached the exchange handling. */
  readonly reached: boolean;
  readonly answered: boolean;
  /** The original message had to be sent again for the Message ID / blocked-response check. */
  readonly recheck: boolean;
  /** What the receiver did (see outcomeOf). */
  readonly outcome: string;
  /** One run was slow, the run again was not (not a finding; counted). */
  readonly unconfirmedSlow?: boolean;
  readonly ms: number;
}

/** Same as Finding, less the variant and stream data. */
interface Problem {
  readonly kind: FindingKind;
  readonly message: string;
}

function errorsIn(out: readonly EngineOutput[]): string[] {
  const msgs: string[] = [];
  for (const o of out) if (o.kind === 'event' && o.event.type === 'log' && o.event.level === 'error') msgs.push(o.event.message);
  return msgs;
}

function answersMid(out: readonly EngineOutput[], mid: number): boolean {
  for (const o of out) {
    if (o.kind !== 'send' || o.data.length < 28) continue;
    const d = o.data;
    if (((d[19] ?? 0) & HeaderFlags.RESPONSE) === 0) continue;
    if (new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(20) === mid) return true;
  }
  return false;
}

function reachedIn(out: readonly EngineOutput[], s: Stream): boolean {
  for (const o of out) {
    if (o.kind === 'event' && o.event.type === 'message' && o.event.direction === 'in' && o.event.response === s.def.response) return true;
    // An IKE_SA_INIT request refused statelessly (RFC 7296 §2.21.1) is answered without events.
    if (!s.protected && !s.def.response && o.kind === 'send') return true;
  }
  return false;
}

const normal = (t: string): string => t.replace(/\b[0-9a-f]{8,}\b/gi, 'X').replace(/\d+/g, 'N').slice(0, 90);

/**
 * What the receiver did with the variant, for the outcome histogram: the payloads of its
 * answer ("IDr AUTH SA TSi TSr", "N(TS_UNACCEPTABLE)"), the exchange it sent next, why the SA
 * failed, or 'dropped'.
 */
function outcomeOf(out: readonly EngineOutput[], s: Stream): string {
  let warn: string | undefined;
  for (const o of out) {
    if (o.kind === 'event') {
      const e = o.event;
      if (e.type === 'message' && e.direction === 'out') return `${e.response ? 'answer' : 'sent'} ${nameOf(ExchangeType, e.exchange)} ${e.payloads.join(' ')}`;
      if (e.type === 'ike-failed') return `failed: ${normal(e.reason)}`;
      if (e.type === 'log' && e.level === 'warn' && warn === undefined) warn = `warn: ${normal(e.message)}`;
    } else if (!s.protected && o.data.length >= 28) {
      try {
        const m = decodeMessage(o.data);
        return `answer ${m.payloads.map((p) => (p.type === PayloadType.NOTIFY ? `N(${nameOf(NotifyType, p.notifyType)})` : nameOf(PayloadType, p.type === 'unknown' ? p.rawType : p.type))).join(' ')}`;
      } catch {
        return 'answer (undecodable)';
      }
    }
  }
  return warn ?? 'dropped';
}

class Feeder {
  readonly problems: Problem[] = [];
  now: number;
  constructor(
    readonly engine: IkeEngine,
    readonly s: Stream,
  ) {
    this.now = s.now;
  }

  /** Deliver datagrams; returns the engine's outputs. */
  feed(datagrams: readonly Uint8Array[]): EngineOutput[] {
    const out: EngineOutput[] = [];
    for (const d of datagrams) {
      const t0 = performance.now();
      try {
        this.engine.receive(d, this.s.remote, this.s.local, this.now);
        // A responder with an admission queue (the daemon's default): what receive() queued is let in.
        this.engine.admitPending(this.now, Number.MAX_SAFE_INTEGER);
      } catch (e) {
        this.problems.push({ kind: 'throw', message: `receive() threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` });
      }
      const ms = performance.now() - t0;
      if (ms > HANG_MS) this.problems.push({ kind: 'slow', message: `receive() took ${ms.toFixed(0)} ms for one datagram of ${d.length} bytes` });
      out.push(...this.drain());
    }
    return out;
  }

  drain(): EngineOutput[] {
    const out = this.engine.drain();
    for (const m of errorsIn(out)) this.problems.push({ kind: 'internal-error', message: m });
    return out;
  }

  resources(slack: number, when: string): void {
    const r = this.engine.resources() as unknown as Record<string, number>;
    const base = this.s.base as unknown as Record<string, number>;
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== 'number') continue;
      if (k === 'timerEntries') {
        // Stale heap entries are bounded by the heap's own rule (timer-heap.ts), not per variant.
        const bound = 2 * (r.ikeSas ?? 0) + 64;
        if (v > bound) this.problems.push({ kind: 'resources', message: `${when}: resources().timerEntries = ${v}, more than 2 x ${r.ikeSas ?? 0} IKE SAs + 64` });
        continue;
      }
      const limit = (base[k] ?? 0) + slack;
      if (v > limit) this.problems.push({ kind: 'resources', message: `${when}: resources().${k} = ${v}, more than ${limit} (snapshot ${base[k] ?? 0})` });
    }
  }

  /** Advance the clock to each next deadline; it must settle. */
  settle(): void {
    for (let step = 0; step < MAX_TICKS; step++) {
      const d = this.engine.nextDeadline();
      if (d === undefined) return;
      this.now = Math.max(this.now, d);
      const t0 = performance.now();
      try {
        this.engine.tick(this.now);
      } catch (e) {
        this.problems.push({ kind: 'throw', message: `tick() threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` });
        return;
      }
      const ms = performance.now() - t0;
      if (ms > HANG_MS) this.problems.push({ kind: 'slow', message: `tick() took ${ms.toFixed(0)} ms` });
      this.drain();
    }
    this.problems.push({ kind: 'timers-unbounded', message: `still a deadline (${this.engine.nextDeadline()}) after ${MAX_TICKS} tick() steps (now ${this.now})` });
  }
}

function sameResources(e: IkeEngine, s: Stream): boolean {
  const r = e.resources() as unknown as Record<string, unknown>;
  const b = s.base as unknown as Record<string, unknown>;
  for (const k of Object.keys(r)) if (r[k] !== b[k]) return false;
  return true;
}

function pendingFragments(e: IkeEngine, s: Stream): boolean {
  return e.resources().fragmentCollectors > s.base.fragmentCollectors;
}

/** Feed a variant to a fresh clone of the stream's snapshot and check every invariant. */
export function runVariant(s: Stream, v: Variant, seed: number, index: number): Outcome {
  const o = runOnce(s, v, seed, index);
  if (!o.findings.some((f) => f.kind === 'slow')) return o;
  // A slow message is confirmed by running the variant again: a loaded machine or a garbage
  // collection can stall one run, a real hot spot stalls both.
  const again = runOnce(s, v, seed, index);
  if (again.findings.some((f) => f.kind === 'slow')) return o;
  return { ...o, findings: o.findings.filter((f) => f.kind !== 'slow'), unconfirmedSlow: true };
}

function runOnce(s: Stream, v: Variant, seed: number, index: number): Outcome {
  reseed(seed, s.hash, index, 0x5eed);
  const memo = new Map<object, unknown>();
  const engine = deepClone(s.snapshot, { shared: s.shared, memo });
  const sa = s.sa ? (memo.get(s.sa) as IkeSa | undefined) : undefined;
  const waiting = sa?.outstanding;
  const f = new Feeder(engine, s);
  const t0 = performance.now();
  let answered = false;
  let reached = false;
  let recheck = false;
  let outcome = 'chain';
  let quietVariant = false;
  const mid = s.frame.messageId;
  if (v.kind === 'chain') {
    // Several variants into one engine: state accumulates; only bounds and errors are checked.
    for (const d of v.datagrams) {
      const out = f.feed([d]);
      reached ||= reachedIn(out, s);
      answered ||= !s.def.response && answersMid(out, mid);
      f.resources(CHAIN_RESOURCE_SLACK, 'after a chain message');
    }
  } else {
    const out = f.feed(v.datagrams);
    reached = reachedIn(out, s);
    outcome = outcomeOf(out, s);
    f.resources(RESOURCE_SLACK, 'after the variant');
    // A variant that left no trace at all (no output, no event, the same table sizes) was
    // dropped before any state was touched — a Message ID is consumed only after the message
    // was decoded, which emits a 'message' event. Those are re-checked one in RECHECK_QUIET.
    const quiet = out.length === 0 && sameResources(engine, s);
    quietVariant = quiet;
    const check = !quiet || index % RECHECK_QUIET === 0;
    if (!s.def.response) {
      answered = answersMid(out, mid);
      if (!answered && check && !pendingFragments(engine, s)) {
        // The Message ID must still be usable: the original request is answered.
        recheck = true;
        const again = f.feed(s.original);
        if (!answersMid(again, mid)) {
          f.problems.push({ kind: 'message-id-consumed', message: `no response to the variant, and the original ${nameOf(ExchangeType, s.def.exchange)} request ${mid} sent afterwards got none either` });
        }
        f.resources(RESOURCE_SLACK, 'after the original request');
      }
    } else if (check && sa && waiting !== undefined && sa.outstanding === waiting && !pendingFragments(engine, s)) {
      // Not consumed: the initiator must still take the real response.
      recheck = true;
      f.feed(s.original);
      if (sa.outstanding === waiting && sa.state !== 'failed' && sa.state !== 'deleted') {
        f.problems.push({ kind: 'response-blocked', message: `the variant was not consumed, and the original ${nameOf(ExchangeType, s.def.exchange)} response ${mid} sent afterwards was not consumed either (SA ${sa.state})` });
      }
      f.resources(RESOURCE_SLACK, 'after the original response');
    }
  }
  // Timers: a quiet variant changed nothing the snapshot's timers do not already cover; those
  // are settled one in RECHECK_QUIET like the re-checks.
  if (!quietVariant || recheck || index % RECHECK_QUIET === 0) {
    f.settle();
    f.resources(v.kind === 'chain' ? CHAIN_RESOURCE_SLACK : RESOURCE_SLACK, 'after the timers settled');
  }
  const ms = performance.now() - t0;
  const findings = f.problems.map((p) => ({
    kind: p.kind,
    stream: s.def.name,
    index,
    seed,
    variant: v.kind,
    message: p.message,
    datagrams: v.datagrams.map(hex),
  }));
  return { findings, reached, answered, recheck, outcome, ms };
}

/** Replay a reproducer's datagrams (hex) on its stream. */
export function replay(streamName: string, datagramsHex: readonly string[], kind: VariantKind = 'plain', seed = DEFAULT_SEED, index = 0): Outcome {
  const [s] = streams([streamName]);
  if (!s) throw new Error(`no stream ${streamName}`);
  const datagrams = datagramsHex.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  return runVariant(s, { kind, datagrams, note: 'replay' }, seed, index);
}

// ---- batches ---------------------------------------------------------------------------------

export interface StreamStats {
  variants: number;
  reached: number;
  answered: number;
  rechecks: number;
  /** Slow once, not when run again (machine load, GC): not findings. */
  unconfirmedSlow?: number;
  findings: number;
  ms: number;
  byKind: Record<string, number>;
  /** Outcome histogram (outcomeOf), capped at MAX_OUTCOMES distinct labels. */
  outcomes: Record<string, number>;
}

const MAX_OUTCOMES = 200;

export function emptyStats(): StreamStats {
  return { variants: 0, reached: 0, answered: 0, rechecks: 0, findings: 0, ms: 0, byKind: {}, outcomes: {} };
}

/** Run variants [start, end) of a stream; `onFinding` sees each finding. */
export function runRange(s: Stream, seed: number, start: number, end: number, onFinding: (f: Finding) => void, stats: StreamStats = emptyStats()): StreamStats {
  const t0 = performance.now();
  for (let i = start; i < end; i++) {
    const v = makeVariant(s, seed, i);
    const o = runVariant(s, v, seed, i);
    stats.variants++;
    stats.byKind[v.kind] = (stats.byKind[v.kind] ?? 0) + 1;
    if (o.reached) stats.reached++;
    if (o.answered) stats.answered++;
    if (o.recheck) stats.rechecks++;
    if (o.unconfirmedSlow) stats.unconfirmedSlow = (stats.unconfirmedSlow ?? 0) + 1;
    const label = o.outcome in stats.outcomes || Object.keys(stats.outcomes).length < MAX_OUTCOMES ? o.outcome : '(other)';
    stats.outcomes[label] = (stats.outcomes[label] ?? 0) + 1;
    for (const f of o.findings) {
      stats.findings++;
      onFinding(f);
    }
  }
  stats.ms += performance.now() - t0;
  return stats;
}

/** A finding's class: kind and message with the numbers and hex taken out. */
export function signature(f: Pick<Finding, 'kind' | 'message'>): string {
  return `${f.kind}: ${f.message.replace(/\b[0-9a-f]{8,}\b/gi, 'X').replace(/\d+/g, 'N')}`;
}
