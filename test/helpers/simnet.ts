/**
 * A deterministic simulated network and clock for two or more sans-I/O engines.
 *
 * Nodes own addresses; datagrams an engine sends are routed by destination address (any port
 * is delivered to the node owning the address, so NAT-T port floating just works). Each
 * direction of each pair of nodes is a link with loss, duplication, reordering, base delay +
 * jitter, an MTU (no fragmentation on the path: too-large datagrams are dropped) and an
 * optional per-datagram hook; a partition takes links down between two times.
 *
 * Time is virtual: an event queue ordered by (time, sequence) holds datagram deliveries and
 * each engine's next deadline (`nextDeadline()` is asked after every step; `tick(now)` runs
 * when it is due). All randomness — the links' and, through `randomSource()`, the engines'
 * own (SPIs, nonces) — comes from xoshiro128** generators seeded from one 32-bit seed via
 * splitmix32, so a seed reproduces a run: the same datagram trace (times, endpoints, sizes,
 * IKE headers, fates) and the same event trace. Engines built with `crypto(label)` also draw
 * their key exchange values from the seed, and then every datagram is the same byte for byte.
 *
 * The seed is printed when a network is created; PQIKE_SIM_SEED overrides the default seed,
 * and `forEachSeed()` runs a property over many seeds (PQIKE_SIM_SEEDS sets how many),
 * naming the failing seed.
 */
import { IkeEngine } from '../../src/engine/engine.js';
import { seededKeMethods } from '../../src/crypto/ke-seeded.js';
import type { KeMethod } from '../../src/crypto/ke.js';
import type { Endpoint, EngineEvent, EngineOutput } from '../../src/engine/types.js';
import type { DataPlaneCommand } from '../../src/engine/dataplane.js';
import { ExchangeType, nameOf } from '../../src/wire/index.js';

// ---- PRNG ------------------------------------------------------------------------------------

/** splitmix32: a seed scrambler; each call advances the state and returns 32 well-mixed bits. */
export function splitmix32(state: number): { value: number; state: number } {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return { value: z, state: s };
}

/** xoshiro128** (Blackman & Vigna), 32-bit output, state seeded through splitmix32. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let st = seed >>> 0;
    const next = (): number => {
      const r = splitmix32(st);
      st = r.state;
      return r.value;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.nextU32();
      for (let k = 0; k < 4 && i + k < n; k++) {
        out[i + k] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a over a string's UTF-16 code units: names → sub-seeds. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A sub-seed for the stream named `label` under `seed`. */
export function subSeed(seed: number, label: string): number {
  return splitmix32((seed ^ fnv1a(label)) >>> 0).value;
}

/** The k-th seed of a family: k = 0 is the base itself (so one failing seed reruns alone). */
export function deriveSeed(base: number, k: number): number {
  if (k === 0) return base >>> 0;
  return splitmix32((base + Math.imul(k, 0x9e3779b9)) >>> 0).value;
}

// ---- seeds from the environment ------------------------------------------------------------

export const DEFAULT_SIM_SEED = 20250101;

function parseSeed(v: string): number {
  const t = v.trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return Number(t) >>> 0;
  return fnv1a(t);
}

/** PQIKE_SIM_SEED if set, else `fallback`. */
export function simSeed(fallback: number = DEFAULT_SIM_SEED): number {
  const v = process.env['PQIKE_SIM_SEED'];
  return v !== undefined && v !== '' ? parseSeed(v) : fallback >>> 0;
}

/** PQIKE_SIM_SEEDS if set, else `fallback`. */
export function simSeedCount(fallback: number): number {
  const v = process.env['PQIKE_SIM_SEEDS'];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PQIKE_SIM_SEEDS must be a positive integer, not '${v}'`);
  return n;
}

/**
 * Run `fn` for `count` seeds derived from a base seed (PQIKE_SIM_SEED, else `baseSeed`);
 * PQIKE_SIM_SEEDS overrides `count`. The first failure is rethrown with its seed and the
 * command line that reruns just that seed.
 */
export async function forEachSeed(
  count: number,
  fn: (seed: number, index: number) => void | Promise<void>,
  opts: { readonly baseSeed?: number; readonly label?: string; readonly log?: (line: string) => void } = {},
): Promise<void> {
  const n = simSeedCount(count);
  const base = simSeed(opts.baseSeed ?? DEFAULT_SIM_SEED);
  const log = opts.log ?? ((line: string) => console.log(line));
  log(`simnet${opts.label ? ` ${opts.label}` : ''}: ${n} seeds from base seed ${base} (override: PQIKE_SIM_SEED=<base> PQIKE_SIM_SEEDS=<count>)`);
  for (let k = 0; k < n; k++) {
    const seed = deriveSeed(base, k);
    try {
      await fn(seed, k);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`simnet seed ${seed} failed (run ${k + 1} of ${n}; reproduce: PQIKE_SIM_SEED=${seed} PQIKE_SIM_SEEDS=1): ${msg}`, { cause: e });
    }
  }
}

// ---- configuration ---------------------------------------------------------------------------

/** The engine surface the network drives; IkeEngine has it, test doubles may too. */
export interface SimEngine {
  receive(data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void;
  drain(): EngineOutput[];
  /** Data plane commands (IkeEngine): kept per node, see SimNet.commands(). */
  drainDataPlane?(): DataPlaneCommand[];
  tick(now: number): void;
  nextDeadline(): number | undefined;
}

export type DropReason = 'no-route' | 'partition' | 'mtu' | 'hook' | 'loss';

/** What a hook sees of a datagram (at send time, before loss and delay). */
export interface HookDatagram {
  readonly id: number;
  readonly time: number;
  readonly fromNode: string;
  readonly toNode: string;
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly data: Uint8Array;
}

/** undefined: pass unchanged; 'drop': drop (reason 'hook'); bytes: deliver these instead. */
export type HookVerdict = undefined | 'drop' | Uint8Array;
export type DatagramHook = (d: HookDatagram) => HookVerdict;

export interface LinkConfig {
  /** Probability a datagram is lost. */
  readonly loss?: number;
  /** Probability a (not lost) datagram is delivered twice; the copy has its own delay. */
  readonly duplicate?: number;
  /** Probability a datagram gets an extra delay, uniform in [0, reorderDelayMs). */
  readonly reorder?: number;
  readonly reorderDelayMs?: number;
  /** One-way delay; each datagram adds uniform jitter in [0, jitterMs). */
  readonly delayMs?: number;
  readonly jitterMs?: number;
  /**
   * Path MTU in bytes: a datagram is dropped when its UDP payload + IP/UDP headers (28 bytes
   * IPv4, 48 IPv6) + the 4-byte non-ESP marker on port 4500 (RFC 3948) exceed it.
   */
  readonly mtu?: number;
  /** Per-datagram inspection / drop / rewrite, after the MTU check and before loss. */
  readonly hook?: DatagramHook;
}

const DEFAULT_LINK: Required<Omit<LinkConfig, 'hook'>> = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: 200,
  delayMs: 10,
  jitterMs: 0,
  mtu: Infinity,
};

export interface Partition {
  readonly start: number;
  readonly end: number;
  /** Nodes whose links are cut; both omitted: every link. One given: all links of that node. */
  readonly a?: string;
  readonly b?: string;
  /** Only the a → b direction. */
  readonly oneWay?: boolean;
}

export interface SimNetOptions {
  /** Fixed seed; default PQIKE_SIM_SEED, else DEFAULT_SIM_SEED. */
  readonly seed?: number;
  /** Printed with the seed. */
  readonly label?: string;
  /** Do not print the seed (e.g. inside forEachSeed, which prints the family). */
  readonly quiet?: boolean;
  readonly log?: (line: string) => void;
  /** Global link configuration (directions may override it with setLink). */
  readonly link?: LinkConfig;
  /** More events than this at one instant is taken for a livelock. Default 100000. */
  readonly maxEventsPerInstant?: number;
}

// ---- records ---------------------------------------------------------------------------------

export interface DatagramRecord {
  readonly id: number;
  readonly time: number;
  readonly fromNode: string;
  /** undefined: no node owns the destination address. */
  readonly toNode: string | undefined;
  readonly from: Endpoint;
  readonly to: Endpoint;
  /** Bytes sent (before any hook rewrite). */
  readonly size: number;
  /** The datagram as sent (before any hook rewrite). */
  readonly data: Uint8Array;
  /** IKE header summary, e.g. "IKE_AUTH q mid=1 i=…/r=…". */
  readonly summary: string;
  readonly dropped?: DropReason;
  readonly altered: boolean;
  readonly duplicated: boolean;
  /** Times at which copies arrived (empty while in flight or when dropped). */
  readonly deliveredAt: readonly number[];
}

export interface TimedEvent {
  readonly time: number;
  readonly node: string;
  readonly event: EngineEvent;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface SimNode {
  readonly name: string;
  engine: SimEngine;
  readonly addresses: readonly string[];
  timerAt: number | undefined;
  timerGen: number;
  readonly commands: { readonly time: number; readonly cmd: DataPlaneCommand }[];
  /** IKE SA ids are process-wide counters; the trace numbers them per node (1, 2, …) instead. */
  readonly saIds: Map<number, number>;
}

type QueueItem =
  | { readonly time: number; readonly seq: number; readonly kind: 'deliver'; readonly node: string; readonly record: number; readonly data: Uint8Array; readonly copy: number }
  | { readonly time: number; readonly seq: number; readonly kind: 'timer'; readonly node: string; readonly gen: number };

/** Binary min-heap on (time, seq). */
class EventQueue {
  private readonly heap: QueueItem[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: QueueItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  peek(): QueueItem | undefined {
    return this.heap[0];
  }

  pop(): QueueItem | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}

function before(x: QueueItem, y: QueueItem): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}

function ep(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function t3(t: number): string {
  return t.toFixed(3);
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** The clear IKE header of a datagram (RFC 7296 §3.1), or a note that it is something else. */
export function headerSummary(data: Uint8Array): string {
  // Engines hand out IKE messages without the non-ESP marker (the UDP driver adds it on 4500).
  const d = data;
  if (d.length < 28) return `short(${d.length})`;
  const exchange = d[18] ?? 0;
  const flags = d[19] ?? 0;
  const mid = ((d[20] ?? 0) * 2 ** 24 + ((d[21] ?? 0) << 16) + ((d[22] ?? 0) << 8) + (d[23] ?? 0)) >>> 0;
  const name = exchange >= 34 && exchange <= 44 ? nameOf(ExchangeType, exchange) : `X${exchange}`;
  return `${name} ${flags & 0x20 ? 'r' : 'q'}${flags & 0x08 ? 'I' : ''} mid=${mid} i=${hexOf(d.subarray(0, 8))} r=${hexOf(d.subarray(8, 16))} np=${d[16]}`;
}

/** An event as one deterministic line: no key material (KE values are not seeded). */
export function eventSummary(e: EngineEvent, saName: (id: number) => string = String): string {
  switch (e.type) {
    case 'message':
      return `message sa=${saName(e.sa)} ${e.direction} ${nameOf(ExchangeType, e.exchange)} ${e.response ? 'r' : 'q'} mid=${e.messageId} sizes=${e.sizes.join(',')} [${e.payloads.join(',')}]`;
    case 'ike-up':
      return `ike-up sa=${saName(e.sa)} ${e.ike.role} ${e.ike.spiI}/${e.ike.spiR} ${ep(e.ike.local)}<->${ep(e.ike.remote)} ${e.ike.suite ?? ''} ke=${e.ike.keMethods.join(',')}`;
    case 'child-up':
      return `child-up sa=${saName(e.sa)} ${e.child.name} in=${e.child.spiIn.toString(16)} out=${e.child.spiOut.toString(16)} ${e.child.mode}${e.child.encap ? ' encap' : ''}`;
    case 'child-down':
      return `child-down sa=${saName(e.sa)} ${e.child.name}: ${e.reason}`;
    case 'ike-failed':
      return `ike-failed sa=${saName(e.sa)}: ${e.reason}${e.notify === undefined ? '' : ` notify=${e.notify}`}`;
    case 'ike-down':
      return `ike-down sa=${saName(e.sa)}: ${e.reason}`;
    case 'log':
      return `log ${e.level}${e.sa === undefined ? '' : ` sa=${saName(e.sa)}`}: ${e.message}`;
    default: {
      // Event types added later: their name and sa only (their fields may carry keys).
      const other: { readonly type: string; readonly sa?: unknown } = e;
      return `${other.type}${typeof other.sa === 'number' ? ` sa=${saName(other.sa)}` : ''}`;
    }
  }
}

// ---- the network -----------------------------------------------------------------------------

export class SimNet {
  readonly seed: number;
  /** Virtual time in ms. */
  now = 0;
  /** Chronological trace: datagrams (sent / dropped / delivered) and events, one line each. */
  readonly trace: string[] = [];
  private readonly nodes = new Map<string, SimNode>();
  private readonly owners = new Map<string, string>();
  private readonly queue = new EventQueue();
  private seq = 0;
  private globalLink: LinkConfig;
  private readonly links = new Map<string, LinkConfig>();
  private readonly prngs = new Map<string, Prng>();
  private readonly partitions: Partition[] = [];
  private readonly records: Mutable<DatagramRecord>[] = [];
  private readonly eventLog: TimedEvent[] = [];
  private readonly maxEventsPerInstant: number;
  private instant = -1;
  private instantEvents = 0;

  constructor(opts: SimNetOptions = {}) {
    this.seed = opts.seed === undefined ? simSeed() : opts.seed >>> 0;
    this.globalLink = opts.link ?? {};
    this.maxEventsPerInstant = opts.maxEventsPerInstant ?? 100000;
    if (!opts.quiet) {
      const log = opts.log ?? ((line: string) => console.log(line));
      log(`simnet${opts.label ? ` ${opts.label}` : ''}: seed ${this.seed} (reproduce: PQIKE_SIM_SEED=${this.seed})`);
    }
  }

  // ---- topology and links --------------------------------------------------------------------

  addNode(name: string, engine: SimEngine, addresses: readonly string[]): void {
    if (this.nodes.has(name)) throw new Error(`simnet: node '${name}' exists`);
    for (const a of addresses) {
      const owner = this.owners.get(a);
      if (owner !== undefined) throw new Error(`simnet: address ${a} already belongs to '${owner}'`);
    }
    this.nodes.set(name, { name, engine, addresses: [...addresses], timerAt: undefined, timerGen: 0, commands: [], saIds: new Map() });
    for (const a of addresses) this.owners.set(a, name);
    this.flush(name);
  }

  engine(name: string): SimEngine {
    return this.node(name).engine;
  }

  /**
   * The node's process restarts: a new engine takes over its addresses, with none of the old
   * one's state (what a crashed or restarted peer looks like from the other side).
   */
  replaceEngine(name: string, engine: SimEngine): void {
    const node = this.node(name);
    node.engine = engine;
    node.timerAt = undefined;
    node.timerGen++;
    this.flush(name);
  }

  /** The node's engine as an IkeEngine (throws if it is some other SimEngine). */
  ike(name: string): IkeEngine {
    const e = this.node(name).engine;
    if (!(e instanceof IkeEngine)) throw new Error(`simnet: node '${name}' is not an IkeEngine`);
    return e;
  }

  /** Replace the global link configuration (directions set with setLink still override it). */
  setGlobalLink(cfg: LinkConfig): void {
    this.globalLink = cfg;
  }

  /** Configure the from → to direction (merged over the global configuration). */
  setLink(from: string, to: string, cfg: LinkConfig): void {
    this.links.set(`${from}>${to}`, cfg);
  }

  /** Configure both directions between a and b. */
  setLinks(a: string, b: string, cfg: LinkConfig): void {
    this.setLink(a, b, cfg);
    this.setLink(b, a, cfg);
  }

  /** The effective configuration of the from → to direction. */
  link(from: string, to: string): LinkConfig {
    return { ...DEFAULT_LINK, ...this.globalLink, ...(this.links.get(`${from}>${to}`) ?? {}) };
  }

  /** Take links down for start ≤ t < end (datagrams sent meanwhile are dropped, reason 'partition'). */
  partition(p: Partition): void {
    if (!(p.end >= p.start)) throw new Error('simnet: partition end before start');
    this.partitions.push(p);
  }

  /** A deterministic byte source for an engine's `random` option, one stream per label. */
  randomSource(label: string): (n: number) => Uint8Array {
    const prng = new Prng(subSeed(this.seed, `random:${label}`));
    return (n) => prng.bytes(n);
  }

  /**
   * An engine's whole crypto boundary from the seed: `random` (SPIs, nonces, IVs, …) and key
   * exchange methods keyed from their own stream (src/crypto/ke-seeded.ts), so that a seed
   * replays every datagram byte for byte. Spread into EngineOptions.
   */
  crypto(label: string): { random: (n: number) => Uint8Array; keMethod: (id: number) => KeMethod } {
    const prng = new Prng(subSeed(this.seed, `ke:${label}`));
    return { random: this.randomSource(label), keMethod: seededKeMethods((n) => prng.bytes(n)) };
  }

  // ---- commands ----------------------------------------------------------------------------

  /** Run a command on a node's engine at the current time, then route what it produced. */
  act<T>(name: string, fn: (engine: SimEngine, now: number) => T): T {
    const r = fn(this.node(name).engine, this.now);
    this.flush(name);
    return r;
  }

  /** IkeEngine.initiate on a node, now. */
  initiate(name: string, connection: string, endpoints?: { local?: Endpoint; remote?: Endpoint }): number {
    const engine = this.ike(name);
    const id = engine.initiate(connection, this.now, endpoints);
    this.flush(name);
    return id;
  }

  /** Put a datagram on the network as if sent from `from` (by its owner, else '-'). */
  inject(from: Endpoint, to: Endpoint, data: Uint8Array): number {
    return this.send(this.owners.get(from.address) ?? '-', from, to, data);
  }

  // ---- time --------------------------------------------------------------------------------

  /** Process the next event; false when nothing is left. */
  step(): boolean {
    const item = this.nextLive();
    if (item === undefined) return false;
    this.queue.pop();
    this.process(item);
    return true;
  }

  /** Process every event up to and including time t; then the clock reads t. */
  runUntil(t: number): void {
    for (;;) {
      const item = this.nextLive();
      if (item === undefined || item.time > t) break;
      this.queue.pop();
      this.process(item);
    }
    if (t > this.now) this.now = t;
  }

  /**
   * Run until nothing is in flight and no engine has a deadline (true), or until the next
   * event lies beyond maxTime (false; the clock then reads maxTime).
   */
  runUntilQuiet(maxTime: number): boolean {
    for (;;) {
      const item = this.nextLive();
      if (item === undefined) return true;
      if (item.time > maxTime) {
        if (maxTime > this.now) this.now = maxTime;
        return false;
      }
      this.queue.pop();
      this.process(item);
    }
  }

  /** Nothing in flight and no deadline pending. */
  quiet(): boolean {
    return this.nextLive() === undefined;
  }

  // ---- records -----------------------------------------------------------------------------

  datagrams(): readonly DatagramRecord[] {
    return this.records;
  }

  /** The data plane commands a node's engine issued, with their times. */
  commands(name: string): readonly { readonly time: number; readonly cmd: DataPlaneCommand }[] {
    return this.node(name).commands;
  }

  /** Events of one node (optionally of one type), in order. */
  events(name: string): EngineEvent[];
  events<T extends EngineEvent['type']>(name: string, type: T): Extract<EngineEvent, { type: T }>[];
  events(name: string, type?: EngineEvent['type']): EngineEvent[] {
    this.node(name);
    return this.eventLog.filter((e) => e.node === name && (type === undefined || e.event.type === type)).map((e) => e.event);
  }

  /** All events of all nodes with their times. */
  timedEvents(): readonly TimedEvent[] {
    return this.eventLog;
  }

  /** Datagram counts: sent, delivered copies, duplicated, dropped by reason. */
  stats(filter: (d: DatagramRecord) => boolean = () => true): { sent: number; delivered: number; duplicated: number; dropped: Record<DropReason, number> } {
    const dropped: Record<DropReason, number> = { 'no-route': 0, partition: 0, mtu: 0, hook: 0, loss: 0 };
    let sent = 0;
    let delivered = 0;
    let duplicated = 0;
    for (const r of this.records) {
      if (!filter(r)) continue;
      sent++;
      delivered += r.deliveredAt.length;
      if (r.duplicated) duplicated++;
      if (r.dropped !== undefined) dropped[r.dropped]++;
    }
    return { sent, delivered, duplicated, dropped };
  }

  /** The whole trace as text (what determinism is checked on). */
  traceText(): string {
    return this.trace.join('\n');
  }

  // ---- internals ---------------------------------------------------------------------------

  private node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`simnet: no node '${name}'`);
    return n;
  }

  private prng(key: string): Prng {
    let p = this.prngs.get(key);
    if (!p) {
      p = new Prng(subSeed(this.seed, `link:${key}`));
      this.prngs.set(key, p);
    }
    return p;
  }

  /** The next event that still matters (stale timers are discarded). */
  private nextLive(): QueueItem | undefined {
    for (;;) {
      const item = this.queue.peek();
      if (item === undefined) return undefined;
      if (item.kind === 'timer' && this.node(item.node).timerGen !== item.gen) {
        this.queue.pop();
        continue;
      }
      return item;
    }
  }

  private process(item: QueueItem): void {
    if (item.time > this.now) this.now = item.time;
    if (this.now === this.instant) {
      if (++this.instantEvents > this.maxEventsPerInstant) throw new Error(`simnet: more than ${this.maxEventsPerInstant} events at t=${this.now} (livelock?)`);
    } else {
      this.instant = this.now;
      this.instantEvents = 1;
    }
    const node = this.node(item.node);
    if (item.kind === 'timer') {
      node.timerAt = undefined;
      node.timerGen++;
      node.engine.tick(this.now);
    } else {
      const r = this.records[item.record];
      if (!r) throw new Error('simnet: lost record');
      r.deliveredAt = [...r.deliveredAt, this.now];
      this.trace.push(`${t3(this.now)} #${r.id}${item.copy > 0 ? "'" : ''} arrives at ${item.node}`);
      node.engine.receive(item.data, r.from, r.to, this.now);
    }
    this.flush(item.node);
  }

  /** Route a node's outputs and re-arm its deadline. */
  private flush(name: string): void {
    const node = this.node(name);
    for (const cmd of node.engine.drainDataPlane?.() ?? []) node.commands.push({ time: this.now, cmd });
    for (const o of node.engine.drain()) {
      if (o.kind === 'event') {
        this.eventLog.push({ time: this.now, node: name, event: o.event });
        const saName = (id: number): string => {
          let k = node.saIds.get(id);
          if (k === undefined) node.saIds.set(id, (k = node.saIds.size + 1));
          return `#${k}`;
        };
        this.trace.push(`${t3(this.now)} ${name} ${eventSummary(o.event, saName)}`);
      } else {
        this.send(name, o.from, o.to, o.data);
      }
    }
    const d = node.engine.nextDeadline();
    if (d === node.timerAt) return;
    node.timerGen++;
    node.timerAt = d;
    if (d !== undefined) this.queue.push({ time: Math.max(d, this.now), seq: this.seq++, kind: 'timer', node: name, gen: node.timerGen });
  }

  private partitioned(from: string, to: string): boolean {
    return this.partitions.some((p) => {
      if (this.now < p.start || this.now >= p.end) return false;
      const fwd = (p.a === undefined || p.a === from) && (p.b === undefined || p.b === to);
      const back = !p.oneWay && (p.a === undefined || p.a === to) && (p.b === undefined || p.b === from);
      return fwd || back;
    });
  }

  private send(fromNode: string, from: Endpoint, to: Endpoint, data: Uint8Array): number {
    const id = this.records.length;
    const toNode = this.owners.get(to.address);
    const rec: Mutable<DatagramRecord> = {
      id,
      time: this.now,
      fromNode,
      toNode,
      from,
      to,
      size: data.length,
      data,
      summary: headerSummary(data),
      altered: false,
      duplicated: false,
      deliveredAt: [],
    };
    this.records.push(rec);
    const head = `${t3(this.now)} #${id} ${fromNode}>${toNode ?? '?'} ${ep(from)}>${ep(to)} ${data.length}B ${rec.summary}`;
    const drop = (reason: DropReason): number => {
      rec.dropped = reason;
      this.trace.push(`${head} dropped (${reason})`);
      return id;
    };
    if (toNode === undefined) return drop('no-route');
    if (this.partitioned(fromNode, toNode)) return drop('partition');
    const cfg = this.link(fromNode, toNode);
    const overhead = (to.address.includes(':') ? 48 : 28) + (to.port === 4500 || from.port === 4500 ? 4 : 0);
    if (data.length + overhead > (cfg.mtu ?? Infinity)) return drop('mtu');
    let payload = data;
    if (cfg.hook) {
      const v = cfg.hook({ id, time: this.now, fromNode, toNode, from, to, data });
      if (v === 'drop') return drop('hook');
      if (v !== undefined) {
        payload = v;
        rec.altered = true;
      }
    }
    const rng = this.prng(`${fromNode}>${toNode}`);
    if (rng.chance(cfg.loss ?? 0)) return drop('loss');
    const copies = rng.chance(cfg.duplicate ?? 0) ? 2 : 1;
    rec.duplicated = copies === 2;
    const arrivals: number[] = [];
    for (let c = 0; c < copies; c++) {
      let delay = (cfg.delayMs ?? 0) + rng.float() * (cfg.jitterMs ?? 0);
      if (rng.chance(cfg.reorder ?? 0)) delay += rng.float() * (cfg.reorderDelayMs ?? 0);
      const time = this.now + delay;
      arrivals.push(time);
      this.queue.push({ time, seq: this.seq++, kind: 'deliver', node: toNode, record: id, data: payload, copy: c });
    }
    this.trace.push(`${head}${rec.altered ? ' altered' : ''} → ${arrivals.map(t3).join(' + ')}${copies === 2 ? ' (duplicated)' : ''}`);
    return id;
  }
}
