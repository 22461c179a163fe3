/**
 * The daemon's engines on worker threads (`workers:` in the configuration), behind one set of
 * sockets, one data plane, one log and one metrics view on the main thread.
 *
 * Dispatch (per datagram, on the main thread, before any parsing beyond the fixed header of
 * RFC 7296 §3.1): a message names the SPI we chose — SPIr when the Initiator flag is set, SPIi
 * otherwise — and its first octet says which worker chose it (src/engine/shard.ts). So every
 * message of an IKE SA reaches the worker that holds it, from whatever address and port:
 * after a NAT-T float from 500 to 4500 (RFC 7296 §2.23) or a MOBIKE-style address update, and
 * through rekeys (the new IKE SA's SPI is chosen by the same worker, RFC 7296 §2.18). Only an
 * IKE_SA_INIT request (SPIr zero) names no SPI of ours; it goes to the worker of its source
 * address (a keyed hash), so that the per-address limits (cookie_threshold_ip,
 * block_threshold, the authentication back-off) and the cookie of a retried request (§2.6) stay
 * with one worker; the daemon-wide half-open count is shared memory that every worker's
 * thresholds read. SA numbers, ESP SPIs and request IDs carry the worker too, so a control
 * command or a kernel expire goes to its worker without a table.
 *
 * Datagrams read in one turn of the event loop go to each worker in one message (one buffer,
 * transferred); what a worker's flush produced comes back in one message, applied in order:
 * data plane commands first, then the datagrams, then the events.
 */
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import type { Endpoint, IkeSaInfo, SaCensus, SaFilter, SaListing } from '../engine/types.js';
import type { ExpireKind } from '../engine/dataplane.js';
import { REQID_FIRST } from '../engine/dataplane.js';
import { DROP_REASONS } from '../engine/drops.js';
import type { DropReason } from '../engine/drops.js';
import { shardOfOctet } from '../engine/shard.js';
import { UdpSockets } from '../io/udp-sockets.js';
import type { DaemonConnection } from './config.js';
import type { EngineHost, EngineHostOptions } from './engine-host.js';
import type { Answers, Call, FromWorker, Stats, ToWorker, WorkerInit } from './worker-protocol.js';

/** RFC 7296 §3.1: the IKE header's length, and the Initiator flag in its flags octet (offset 19). */
const IKE_HEADER = 28;
const FLAG_INITIATOR = 0x08;

interface Pending {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  /** Datagrams read this turn, for one message. */
  queue: { data: Uint8Array; from: Endpoint; local: Endpoint }[];
  queuedBytes: number;
  stats: Stats;
  readonly pending: Map<number, Pending>;
}

export interface WorkerPoolOptions extends EngineHostOptions {
  readonly configPath: string;
  readonly workers: number;
  readonly exportKeys: boolean;
}

const NO_STATS: Stats = { census: { states: {}, childSas: 0 }, halfOpen: 0, drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number> };

export class WorkerPool implements EngineHost {
  private readonly slots: Slot[] = [];
  private readonly sockets: UdpSockets;
  private readonly halfOpenShared = new SharedArrayBuffer(4);
  /** Keys the address hash, so that no peer can choose which worker its IKE_SA_INITs land on. */
  private readonly seed = randomBytes(4).readUInt32BE(0);
  private seq = 0;
  /** What every worker was told to hold, for a worker started again: connections (by fingerprint) and trap policies. */
  private readonly conns = new Map<string, string>();
  private readonly traps = new Map<string, readonly string[]>();
  private turn?: NodeJS.Immediate;
  private closing = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    if (opts.workers < 1) throw new RangeError('a worker pool needs at least one worker');
    this.sockets = new UdpSockets({
      addresses: opts.addresses,
      port: opts.port,
      ...(opts.sockets ? { sockets: opts.sockets } : {}),
      onIke: (data, from, local) => this.dispatch(data, from, local),
      onError: (message) => opts.onEvent({ type: 'log', level: 'error', message }),
    });
  }

  get count(): number {
    return this.opts.workers;
  }

  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let index = 0; index < this.opts.workers; index++) ready.push(this.spawn(index));
    await Promise.all(ready);
    await this.sockets.start();
  }

  private spawn(index: number): Promise<void> {
    const init: WorkerInit = { configPath: this.opts.configPath, index, count: this.opts.workers, exportKeys: this.opts.exportKeys, halfOpen: this.halfOpenShared };
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { workerData: init });
    const old = this.slots[index];
    const slot: Slot = old ?? { index, worker, queue: [], queuedBytes: 0, stats: NO_STATS, pending: new Map() };
    slot.worker = worker;
    slot.stats = NO_STATS;
    this.slots[index] = slot;
    return new Promise((resolve, reject) => {
      let up = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          up = true;
          // What the others hold (connections given before start, or since, for one started again).
          this.restore(index);
          resolve();
        } else this.fromWorker(slot, m);
      });
      worker.on('error', (e) => {
        this.opts.onEvent({ type: 'log', level: 'error', message: `engine worker ${index} failed: ${e.stack ?? e.message}` });
        if (!up) reject(e);
      });
      worker.on('exit', (code) => {
        for (const p of slot.pending.values()) p.reject(new Error(`engine worker ${index} stopped`));
        slot.pending.clear();
        if (this.closing || !up || slot.worker !== worker) return;
        // Its IKE SAs are gone with it; the peers' next messages find no SA (RFC 7296 §2.21.4)
        // and the worker's shard starts again empty, so the others' SAs stay where they are.
        this.opts.onEvent({ type: 'log', level: 'error', message: `engine worker ${index} exited (code ${code}); its IKE SAs are lost; starting it again` });
        this.spawn(index).then(
          () => undefined,
          (e: unknown) => this.opts.onEvent({ type: 'log', level: 'error', message: `engine worker ${index} could not be started again: ${e instanceof Error ? e.message : String(e)}` }),
        );
      });
    });
  }

  private restore(index: number): void {
    this.tell(index, { op: 'addConnections', conns: [...this.conns].map(([name, fingerprint]) => ({ name, fingerprint })) });
    for (const [connection, children] of this.traps) if (this.ownerOfConnection(connection) === index) this.tell(index, { op: 'trap', connection, children });
  }

  /** The worker of a datagram (see the top of this file). */
  private workerOf(data: Uint8Array, from: Endpoint): number {
    const n = this.slots.length;
    if (data.length >= IKE_HEADER) {
      const fromInitiator = ((data[19] ?? 0) & FLAG_INITIATOR) !== 0;
      if (!fromInitiator) return shardOfOctet(data[0] ?? 0, n);
      let zero = true;
      for (let i = 8; i < 16; i++) if (data[i] !== 0) zero = false;
      if (!zero) return shardOfOctet(data[8] ?? 0, n);
    }
    return this.addressHash(from.address) % n;
  }

  /** FNV-1a of the address text, keyed. */
  private addressHash(address: string): number {
    let h = (0x811c9dc5 ^ this.seed) >>> 0;
    for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193) >>> 0;
    return h;
  }

  private dispatch(data: Uint8Array, from: Endpoint, local: Endpoint): void {
    const slot = this.slots[this.workerOf(data, from)];
    if (!slot) return;
    slot.queue.push({ data, from, local });
    slot.queuedBytes += data.length;
    this.turn ??= setImmediate(() => this.sendQueued());
  }

  /** One message per worker with this turn's datagrams, packed into one transferred buffer. */
  private sendQueued(): void {
    this.turn = undefined;
    for (const slot of this.slots) {
      if (slot.queue.length === 0) continue;
      const buf = new Uint8Array(slot.queuedBytes);
      let off = 0;
      const batch = slot.queue.map((d) => {
        buf.set(d.data, off);
        const data = buf.subarray(off, off + d.data.length);
        off += d.data.length;
        return { data, from: d.from, local: d.local };
      });
      slot.queue = [];
      slot.queuedBytes = 0;
      const m: ToWorker = { t: 'in', batch };
      slot.worker.postMessage(m, [buf.buffer]);
    }
  }

  private fromWorker(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'out':
        for (const it of m.items) {
          if (it.k === 'cmd') {
            const error = this.opts.onDataPlane(it.cmd);
            if (error !== undefined) this.tell(slot.index, { op: 'dataPlaneFailed', cmd: it.cmd, error });
          } else if (it.k === 'send') this.sockets.send(it.out);
          else this.opts.onEvent(it.event, it.conn);
        }
        return;
      case 'answer': {
        const p = slot.pending.get(m.seq);
        if (!p) return;
        slot.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.value);
        return;
      }
      case 'stats':
        slot.stats = m.stats;
        return;
      case 'ready':
        return;
    }
  }

  /** A call without an answer. */
  private tell(index: number, call: Call): void {
    const m: ToWorker = { t: 'call', seq: 0, call };
    this.slots[index]?.worker.postMessage(m);
  }

  private ask<C extends Call>(index: number, call: C): Promise<Answers[C['op']]> {
    const slot = this.slots[index];
    if (!slot) return Promise.reject(new Error(`no engine worker ${index}`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      slot.pending.set(seq, { resolve: (v) => resolve(v as Answers[C['op']]), reject });
      const m: ToWorker = { t: 'call', seq, call };
      slot.worker.postMessage(m);
    });
  }

  private all<C extends Call>(call: C): Promise<Answers[C['op']][]> {
    return Promise.all(this.slots.map((s) => this.ask(s.index, call)));
  }

  private tellAll(call: Call): void {
    for (const s of this.slots) this.tell(s.index, call);
  }

  /** The worker that numbered an SA (shard.ts: index + 1 + k * count). */
  private ownerOfSa(id: number): number {
    return (((id - 1) % this.slots.length) + this.slots.length) % this.slots.length;
  }

  /** Initiations and trap policies of a connection all live on one worker. */
  private ownerOfConnection(name: string): number {
    return this.addressHash(`conn:${name}`) % this.slots.length;
  }

  addAddress(address: string): Promise<void> {
    return this.sockets.addAddress(address);
  }

  initiate(connection: string, remote: Endpoint, localAddress?: string): Promise<number> {
    const local = localAddress === undefined ? this.sockets.endpoint : this.sockets.endpointFor(localAddress);
    return this.ask(this.ownerOfConnection(connection), { op: 'initiate', connection, local, remote });
  }

  terminate(id: number): void {
    this.tell(this.ownerOfSa(id), { op: 'terminate', id });
  }

  rekeyIke(id: number): Promise<boolean> {
    return this.ask(this.ownerOfSa(id), { op: 'rekeyIke', id });
  }

  rekeyChild(id: number, spiIn: number): Promise<boolean> {
    return this.ask(this.ownerOfSa(id), { op: 'rekeyChild', id, spiIn });
  }

  trap(connection: string, children: readonly string[]): void {
    this.traps.set(connection, children);
    this.tell(this.ownerOfConnection(connection), { op: 'trap', connection, children });
  }

  async list(filter?: SaFilter): Promise<IkeSaInfo[]> {
    if (filter?.sa !== undefined) return this.ask(this.ownerOfSa(filter.sa), { op: 'list', filter });
    return (await this.all({ op: 'list', ...(filter ? { filter } : {}) })).flat().sort((a, b) => a.id - b.id);
  }

  async describe(filter?: SaFilter): Promise<SaListing[]> {
    if (filter?.sa !== undefined) return this.ask(this.ownerOfSa(filter.sa), { op: 'describe', filter });
    return (await this.all({ op: 'describe', ...(filter ? { filter } : {}) })).flat().sort((a, b) => a.ike.id - b.ike.id);
  }

  async restartPending(connection: string): Promise<boolean> {
    return (await this.all({ op: 'restartPending', connection })).some(Boolean);
  }

  cancelRestarts(connection: string): void {
    this.tellAll({ op: 'cancelRestarts', connection });
  }

  addConnections(conns: readonly DaemonConnection[], replace = false): void {
    for (const c of conns) this.conns.set(c.config.name, c.fingerprint);
    this.tellAll({ op: 'addConnections', conns: conns.map((c) => ({ name: c.config.name, fingerprint: c.fingerprint })), ...(replace ? { replace } : {}) });
  }

  replaceConnections(conns: readonly DaemonConnection[]): void {
    this.addConnections(conns, true);
  }

  removeConnection(name: string): void {
    this.conns.delete(name);
    this.traps.delete(name);
    this.tellAll({ op: 'removeConnection', name });
  }

  expire(spi: number, direction: 'in' | 'out', kind: ExpireKind, peer?: string): void {
    const call: Call = { op: 'expire', spi, direction, kind, ...(peer === undefined ? {} : { peer }) };
    // Our inbound SPIs carry their worker (shard.ts); the peer's outbound ones do not.
    if (direction === 'in') this.tell(shardOfOctet(spi >>> 24, this.slots.length), call);
    else this.tellAll(call);
  }

  acquire(reqid: number): void {
    this.tell((reqid - REQID_FIRST) % this.slots.length, { op: 'acquire', reqid });
  }

  connectionOf(): string | undefined {
    return undefined;
  }

  census(): SaCensus {
    const states: Record<string, number> = {};
    let childSas = 0;
    for (const s of this.slots) {
      for (const [k, v] of Object.entries(s.stats.census.states)) states[k] = (states[k] ?? 0) + v;
      childSas += s.stats.census.childSas;
    }
    return { states, childSas };
  }

  halfOpen(): number {
    return this.slots.reduce((n, s) => n + s.stats.halfOpen, 0);
  }

  drops(): Readonly<Record<DropReason, number>> {
    const out = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    for (const s of this.slots) for (const r of DROP_REASONS) out[r] += s.stats.drops[r] ?? 0;
    return out;
  }

  async refresh(): Promise<void> {
    const all = await Promise.all(this.slots.map(async (s) => ({ s, stats: await this.ask(s.index, { op: 'stats' }) })));
    for (const { s, stats } of all) s.stats = stats;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.turn) {
      clearImmediate(this.turn);
      this.sendQueued();
    }
    await this.sockets.close();
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void s.worker.terminate().then(() => resolve()), 2000);
            s.worker.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            const m: ToWorker = { t: 'stop' };
            s.worker.postMessage(m);
          }),
      ),
    );
  }
}
