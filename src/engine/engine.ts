/**
 * The sans-I/O IKEv2 engine: takes datagrams, commands and the current time; hands back
 * datagrams to send and events. It owns the table of IKE SAs and routes each message to its
 * SA and exchange (RFC 7296 §2.2 Message IDs, §2.1 retransmission, RFC 7383 reassembly).
 */
import { randomBytesPooled } from '../crypto/random-pool.js';
import { CryptoError } from '../crypto/errors.js';
import { ExchangeType, HeaderFlags, NotifyType, nameOf } from '../wire/constants.js';
import type { TrustQuery } from '../auth/trust-store.js';
import { ParseError } from '../wire/errors.js';
import { decodeMessage } from '../wire/index.js';
import type { IkeMessage, Payload } from '../wire/types.js';
import { AdmissionQueue } from './admission-queue.js';
import { DosGuard, dosLimits } from './dos-guard.js';
import { DropCounter } from './drops.js';
import type { DropReason } from './drops.js';
import { ChildRegistry } from './child-registry.js';
import { Restarts, mayRestart } from './restart.js';
import { REQID_FIRST, REQID_LAST } from './dataplane.js';
import { checkShard, tagOctet } from './shard.js';
import type { Shard } from './shard.js';
import type { DataPlaneCommand, ExpireKind, PolicySpec } from './dataplane.js';
import type { ChildSa } from './child-sa.js';
import { moveChildren, policySpec } from './child-install.js';
import type { EndCause, InitiateEndpoints, RestartPlan } from './restart.js';
import { handleAuthRequest, handleAuthResponse } from './exchange-auth.js';
import { COOKIE_REASON, handleInitRequest, initRequestFacts, handleInitResponse, refuseStatelessly, sendInitRequest } from './exchange-init.js';
import { scanInitRequest } from '../wire/scan.js';
import { handleCcsRequest, handleCcsResponse, handleFollowupRequest } from './tasks/ccs-series.js';
import { childResponder } from './tasks/child-create.js';
import { ikeRekeyResponder } from './tasks/ike-rekey.js';
import { handleInformationalRequest, handleInformationalResponse } from './exchange-informational.js';
import { handleIntermediateRequest, handleIntermediateResponse } from './exchange-intermediate.js';
import { continueHandshake } from './handshake.js';
import { IkeSa, isSettingUp, newIkeSa } from './ike-sa.js';
import type { SaHost } from './ike-sa.js';
import { FragmentCollector, MAX_REASSEMBLED, decodeInner, openMessage } from './protection.js';
import type { SkKeys } from '../crypto/sk-cipher.js';
import type { ConnectionConfig, Endpoint, EngineOptions, EngineOutput, EngineResources, IkeSaInfo, RandomPurpose, SaFilter } from './types.js';
import { keMethod } from '../crypto/ke.js';
import type { KeMethod } from '../crypto/ke.js';
import { bytesEqual, hex, hex32 } from './util.js';
import { runTimers, saDeadline } from './lifecycle.js';
import { kick } from './task-runner.js';
import { enqueue } from './tasks.js';
import { TimerHeap } from './timer-heap.js';
import { ended as endTasks } from './tasks/run.js';

interface Opened {
  readonly inner: Payload[];
  readonly ap: Uint8Array;
  readonly sizes: number[];
}

export class IkeEngine implements SaHost {
  private conns: ConnectionConfig[] = [];
  private readonly sas = new Map<string, IkeSa>();
  /** The same SAs by their local number. */
  private readonly ids = new Map<number, IkeSa>();
  /** Every SA's next deadline (retransmission, lifetimes, liveness, half-open timeout). */
  private readonly timers = new TimerHeap<IkeSa>();
  /** Half-open SAs, cookies, per-address limits and the authentication back-off (RFC 7296 §2.6). */
  readonly guard: DosGuard;
  /** Datagrams dropped without an answer, by reason (drops.ts), for the metrics. */
  private readonly dropped = new DropCounter();
  /** Every responder SA by initiator SPI and peer, to recognise retransmitted or late IKE_SA_INIT requests (§2.1). */
  private readonly byInitiator = new Map<string, IkeSa>();
  private readonly fragments = new Map<IkeSa, FragmentCollector>();
  private outputs: EngineOutput[] = [];
  private commands: DataPlaneCommand[] = [];
  /** IKE_AUTH waiting for certificate paths (src/auth/trust-store.ts), by query; `handed`: drainTrust() gave it out. */
  private readonly trustWaits = new Map<string, { query: TrustQuery; sas: Set<IkeSa>; handed: boolean }>();
  /** Trap policies by (connection, child) → request ID (start/dpd/close action trap). */
  private readonly traps = new Map<string, number>();
  private readonly trapReqids = new Set<number>();
  private lastReqid = REQID_LAST;
  /** This engine as one of several (shard.ts); undefined: the only one. */
  readonly shard?: Shard;
  readonly random: (n: number, purpose: RandomPurpose) => Uint8Array;
  readonly keMethod: (id: number) => KeMethod;
  readonly retransmitTimeoutMs: number;
  readonly retransmitTries: number;
  readonly natTraversalPort: number;
  readonly followupTimeoutMs: number;
  readonly stateNotFoundRetries: number;
  readonly exportKeys: boolean;
  private readonly halfOpenTimeoutMs: number;
  /** New IKE SAs waiting for admitPending() (EngineOptions.admissionQueue); undefined: none wait. */
  private readonly admission?: AdmissionQueue<QueuedInit>;
  readonly maxChildSas: number;
  readonly spis = new ChildRegistry();
  readonly allocateSpi?: (sa: { readonly src: string; readonly dst: string }) => number | undefined;
  /** keyingtries, dpd_action and close_action: attempts scheduled per connection. */
  readonly restarts: Restarts;
  private readonly localPort: number;
  /** The time of the input being handled (every entry point takes `now`). */
  private clock = 0;

  /** SaHost.now: the time of the call being handled. */
  get now(): number {
    return this.clock;
  }

  constructor(opts: EngineOptions = {}) {
    this.random = opts.random ?? randomBytesPooled;
    this.keMethod = opts.keMethod ?? keMethod;
    if (opts.admissionQueue) this.admission = new AdmissionQueue(opts.admissionQueue);
    this.retransmitTimeoutMs = opts.retransmitTimeoutMs ?? 1000;
    this.retransmitTries = opts.retransmitTries ?? 5;
    this.natTraversalPort = opts.natTraversalPort ?? 4500;
    this.halfOpenTimeoutMs = opts.halfOpenTimeoutMs ?? 30000;
    this.followupTimeoutMs = opts.followupTimeoutMs ?? 10000;
    this.stateNotFoundRetries = opts.stateNotFoundRetries ?? 2;
    this.exportKeys = opts.exportKeys === true;
    this.maxChildSas = opts.maxChildSas ?? 64;
    this.localPort = opts.localPort ?? 500;
    if (opts.allocateSpi) this.allocateSpi = opts.allocateSpi;
    if (opts.shard) {
      checkShard(opts.shard);
      const shard = opts.shard;
      this.shard = shard;
      this.lastSaId = shard.index + 1 - shard.count;
      this.lastReqid = REQID_FIRST + shard.index - shard.count;
      // Our inbound ESP SPIs carry the shard in their top octet (shard.ts); the plane's own
      // allocator, where there is one, is the main thread's and not reachable from here.
      this.allocateSpi ??= () => {
        for (;;) {
          const b = this.random(4, 'esp-spi');
          const v = ((tagOctet(b[0] ?? 0, shard) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
          if (v >= 256 && !this.spis.inboundInUse(v)) return v;
        }
      };
    }
    this.guard = new DosGuard(dosLimits(opts), (n) => this.random(n, 'cookie-secret'), 0, opts.shard?.halfOpen);
    this.restarts = new Restarts(() => (this.random(1, 'jitter')[0] ?? 0) / 255);
  }

  // ---- configuration -------------------------------------------------------------------

  addConnection(conn: ConnectionConfig): void {
    this.conns = [...this.conns.filter((c) => c.name !== conn.name), conn];
  }

  connections(): readonly ConnectionConfig[] {
    return this.conns;
  }

  /**
   * New settings of a connection that its running IKE SAs take over as they are (the caller
   * checks that nothing else changed): fresh PPKs from a reload, which the next CREATE_CHILD_SA
   * mixes in (RFC 9867 §3.2).
   */
  replaceConnection(conn: ConnectionConfig): void {
    const old = this.conns.find((c) => c.name === conn.name);
    this.addConnection(conn);
    if (old) for (const sa of this.sas.values()) if (sa.connection === old) sa.connection = conn;
  }

  /** Forget a connection; its SAs are not touched (the caller deletes them first). */
  removeConnection(name: string): void {
    this.untrap(name);
    this.conns = this.conns.filter((c) => c.name !== name);
    this.restarts.cancel(name);
  }

  // ---- outputs ---------------------------------------------------------------------------

  emit(out: EngineOutput): void {
    this.outputs.push(out);
  }

  /** Everything the engine wants done since the last call: datagrams to send and events. */
  drain(): EngineOutput[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  /** What the data plane must do since the last call; apply these before sending what drain() returns. */
  drainDataPlane(): DataPlaneCommand[] {
    const out = this.commands;
    this.commands = [];
    return out;
  }

  dataPlane(cmd: DataPlaneCommand): void {
    this.commands.push(cmd);
  }

  reqidFor(connection: string, child: string): number {
    return this.traps.get(`${connection}/${child}`) ?? this.freshReqid();
  }

  isTrapReqid(reqid: number): boolean {
    return this.trapReqids.has(reqid);
  }

  /** The next request ID of our range (REQID_FIRST..REQID_LAST, this shard's of it), skipping any still in use. */
  private freshReqid(): number {
    const step = this.shard?.count ?? 1;
    for (let k = 0; k <= (REQID_LAST - REQID_FIRST) / step; k++) {
      this.lastReqid = this.lastReqid + step > REQID_LAST ? REQID_FIRST + (this.shard?.index ?? 0) : this.lastReqid + step;
      if (!this.trapReqids.has(this.lastReqid) && !this.spis.reqidInUse(this.lastReqid)) return this.lastReqid;
    }
    throw new Error('no request ID left');
  }

  private lastSaId = 0;

  nextSaId(): number {
    this.lastSaId += this.shard?.count ?? 1;
    return this.lastSaId;
  }

  forget(sa: IkeSa): void {
    for (const [key, w] of this.trustWaits) if (w.sas.delete(sa) && w.sas.size === 0) this.trustWaits.delete(key);
    // What its tasks still hold (a leased address) goes back; a rekey took over what it moved.
    endTasks(sa);
    if (this.sas.get(hex(sa.localSpi)) === sa) this.sas.delete(hex(sa.localSpi));
    if (this.ids.get(sa.id) === sa) this.ids.delete(sa.id);
    this.timers.remove(sa);
    this.fragments.delete(sa);
    const key = sa.initKey;
    if (key !== undefined && this.byInitiator.get(key) === sa) {
      this.guard.closed(key);
      this.byInitiator.delete(key);
    }
  }

  freshIkeSpi(): Uint8Array {
    for (;;) {
      const spi = this.random(8, 'ike-spi');
      if (this.shard) spi[0] = tagOctet(spi[0] ?? 0, this.shard);
      if (!spi.every((b) => b === 0) && !this.sas.has(hex(spi))) return spi;
    }
  }

  authFailed(sa: IkeSa, now: number): void {
    this.guard.authFailed(sa.remote.address, now);
  }

  awaitTrust(sa: IkeSa, query: TrustQuery): void {
    let w = this.trustWaits.get(query.key);
    if (!w) this.trustWaits.set(query.key, (w = { query, sas: new Set(), handed: false }));
    w.sas.add(sa);
  }

  /**
   * Work the host runs for the engine, each query once: validate a certificate path (pkijs is
   * asynchronous), then call trustSettled(query, now). Until then the IKE_AUTH waits.
   */
  drainTrust(): TrustQuery[] {
    const out: TrustQuery[] = [];
    for (const w of this.trustWaits.values()) {
      if (w.handed) continue;
      w.handed = true;
      out.push(w.query);
    }
    return out;
  }

  /** A query has run: the IKE_AUTH exchanges that waited for it go on. */
  trustSettled(query: TrustQuery, now: number): void {
    this.clock = now;
    const w = this.trustWaits.get(query.key);
    if (!w) return;
    this.trustWaits.delete(query.key);
    for (const sa of w.sas) {
      const wait = sa.setup?.trustWait;
      if (!wait || wait.query.key !== query.key || !this.ids.has(sa.id)) continue;
      if (sa.setup) sa.setup.trustWait = undefined;
      try {
        wait.resume(now);
      } catch (e) {
        this.emit({ kind: 'event', event: { type: 'log', level: 'error', sa: sa.id, message: `internal error after certificate validation: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` } });
      }
      // RFC 7296 §2.2: the request whose Message ID we took is answered, whatever happened —
      // unless it waits again (its verdict was evicted from the cache, or another store's query).
      if (!sa.isInitiator && sa.setup?.trustWait === undefined && sa.lastResponse?.messageId !== wait.messageId && (sa.state === 'authenticating' || sa.state === 'intermediate')) {
        sa.refuse(ExchangeType.IKE_AUTH, wait.messageId, NotifyType.INVALID_SYNTAX, 'the request could not be handled', {});
        sa.fail('IKE_AUTH could not be handled', NotifyType.INVALID_SYNTAX);
      }
      if (sa.stateIs('established') && sa.initKey !== undefined) this.guard.closed(sa.initKey);
      this.settle(sa, now);
    }
  }

  /** A new IKE SA made by a rekey (RFC 7296 §2.18). */
  adopt(sa: IkeSa): void {
    this.sas.set(hex(sa.localSpi), sa);
    this.ids.set(sa.id, sa);
    this.settle(sa, sa.createdAt);
  }

  list(filter?: SaFilter): IkeSaInfo[] {
    return [...this.selected(filter)].map((s) => s.info());
  }

  /** The IKE SAs a filter names: one by its number without a walk over all of them. */
  private selected(filter: SaFilter | undefined): Iterable<IkeSa> {
    if (filter?.sa !== undefined) {
      const sa = this.ids.get(filter.sa);
      return sa && this.sas.get(hex(sa.localSpi)) === sa && (filter.connection === undefined || sa.connection?.name === filter.connection) ? [sa] : [];
    }
    const name = filter?.connection;
    const limit = filter?.limit;
    if (name === undefined && limit === undefined) return this.sas.values();
    const out: IkeSa[] = [];
    for (const s of this.sas.values()) {
      if (limit !== undefined && out.length >= limit) break;
      if (name === undefined || s.connection?.name === name) out.push(s);
    }
    return out;
  }

  /** The IKE SAs (all, or those a filter names) with their Child SAs and the times left to rekey and expiry; no keys. */
  describe(now: number, filter?: SaFilter): import('./types.js').SaListing[] {
    const left = (t: number | undefined): number | undefined => (t === undefined ? undefined : Math.max(0, t - now));
    const out: import('./types.js').SaListing[] = [];
    for (const sa of this.selected(filter)) {
      const rekeyInMs = left(sa.ikeRekeyAt);
      const expireInMs = left(sa.ikeExpireAt);
      out.push({
        ike: sa.info(),
        ...(rekeyInMs === undefined ? {} : { rekeyInMs }),
        ...(expireInMs === undefined ? {} : { expireInMs }),
        ...(sa.establishedAt === undefined ? {} : { establishedForMs: now - sa.establishedAt }),
        children: sa.children.map((c) => {
          const { keys: _keys, ...child } = c.info;
          const r = left(c.rekeyAt);
          const e = left(c.expireAt);
          return { child, state: c.state, ageMs: now - c.createdAt, ...(r === undefined ? {} : { rekeyInMs: r }), ...(e === undefined ? {} : { expireInMs: e }) };
        }),
      });
    }
    return out;
  }

  /**
   * How much state the engine holds, by kind: every table a peer can make grow, so tests,
   * fuzzers and benchmarks can check that each stays bounded.
   */
  resources(): EngineResources {
    let children = 0;
    let followups = 0;
    for (const sa of this.sas.values()) {
      children += sa.children.length;
      followups += sa.followups.size;
    }
    return {
      ikeSas: this.sas.size,
      halfOpen: this.guard.halfOpenCount,
      spentCookies: this.guard.cookies.spentCount,
      authFailureRecords: this.guard.authRecords,
      initiatorIndex: this.byInitiator.size,
      fragmentCollectors: this.fragments.size,
      childSas: children,
      followupSeries: followups,
      pendingAdmissions: this.admission?.size ?? 0,
      timerEntries: this.timers.entries,
    };
  }

  /** IKE SAs by state and Child SAs in all, in one pass and without listings (a metrics scrape). */
  census(): import('./types.js').SaCensus {
    const states: Record<string, number> = {};
    let childSas = 0;
    for (const sa of this.sas.values()) {
      states[sa.state] = (states[sa.state] ?? 0) + 1;
      childSas += sa.children.length;
    }
    return { states, childSas };
  }

  /** Datagrams dropped without an answer since the engine started, by reason (a fixed set: drops.ts). */
  drops(): Readonly<Record<DropReason, number>> {
    return this.dropped.snapshot();
  }

  /** Child SAs of an IKE SA (for listings and tests). */
  children(id: number): import('./types.js').ChildSaInfo[] {
    return this.byId(id)?.children.map((c) => c.info) ?? [];
  }

  private byId(id: number): IkeSa | undefined {
    return this.ids.get(id);
  }

  /** The connection of an IKE SA ('' before the responder chose one), without building its listing. */
  connectionOf(id: number): string | undefined {
    const sa = this.ids.get(id);
    return sa === undefined ? undefined : (sa.connection?.name ?? '');
  }

  /** One IKE SA's information, by its local number (O(1), for per-event lookups). */
  info(id: number): IkeSaInfo | undefined {
    return this.ids.get(id)?.info();
  }

  /** After anything happened to an SA: start queued work, then re-arm its timer. */
  private settle(sa: IkeSa, now: number): void {
    if (sa.state === 'failed' || sa.state === 'deleted') {
      this.timers.remove(sa);
      return;
    }
    kick(sa, now);
    let t = saDeadline(sa);
    if (sa.role === 'responder' && sa.state !== 'established' && sa.state !== 'rekeyed') {
      const h = sa.createdAt + this.halfOpenTimeoutMs;
      t = t === undefined ? h : Math.min(t, h);
    }
    this.timers.schedule(sa, t);
  }

  // ---- commands --------------------------------------------------------------------------

  /** Start an IKE SA for a configured connection; returns the SA's local ID. */
  initiate(name: string, now: number, endpoints?: InitiateEndpoints, attempt = 1): number {
    this.clock = now;
    const conn = this.conns.find((c) => c.name === name);
    if (!conn) throw new Error(`no connection named '${name}'`);
    this.restarts.initiated(name, endpoints);
    const local = endpoints?.local ?? { address: conn.localAddress, port: this.localPort };
    const remote = endpoints?.remote ?? { address: conn.remoteAddress, port: conn.remotePort ?? 500 };
    const spiI = this.freshIkeSpi();
    const sa = newIkeSa(this, 'initiator', spiI, local, remote, now);
    sa.connection = conn;
    sa.attempt = attempt;
    this.sas.set(hex(spiI), sa);
    this.ids.set(sa.id, sa);
    sendInitRequest(sa, now);
    this.settle(sa, now);
    return sa.id;
  }

  /**
   * Take a connection down: no further attempts (keyingtries, restarts), and every IKE SA of
   * it deleted. Returns the IDs of the IKE SAs being deleted.
   */
  down(name: string, now: number): number[] {
    this.restarts.cancel(name);
    const ids = [...this.sas.values()].filter((s) => s.connection?.name === name).map((s) => s.id);
    for (const id of ids) this.terminate(id, now);
    return ids;
  }

  /** Delete an IKE SA (RFC 7296 §1.4.1); one not yet established is dropped at once. */
  terminate(id: number, now: number): boolean {
    this.clock = now;
    const sa = this.byId(id);
    if (!sa) return false;
    if (sa.state !== 'established' && sa.state !== 'rekeyed') {
      sa.close('terminated locally');
      return true;
    }
    return this.command(sa, { kind: 'delete-ike' }, now);
  }

  /** Create another Child SA of a connection on an established IKE SA (CREATE_CHILD_SA). */
  createChild(id: number, childName: string, now: number): boolean {
    const sa = this.byId(id);
    const config = sa?.connection?.children.find((c) => c.name === childName);
    if (!sa || !config) return false;
    return this.command(sa, { kind: 'create-child', config }, now);
  }

  /** Rekey a Child SA, named by its inbound SPI. */
  rekeyChild(id: number, spiIn: number, now: number): boolean {
    const sa = this.byId(id);
    const child = sa?.findChildByInboundSpi(spiIn);
    if (!sa || !child) return false;
    return this.command(sa, { kind: 'rekey-child', child }, now);
  }

  rekeyIke(id: number, now: number): boolean {
    const sa = this.byId(id);
    return sa ? this.command(sa, { kind: 'rekey-ike' }, now) : false;
  }

  deleteChild(id: number, spiIn: number, now: number): boolean {
    const sa = this.byId(id);
    const child = sa?.findChildByInboundSpi(spiIn);
    if (!sa || !child) return false;
    return this.command(sa, { kind: 'delete-child', child }, now);
  }

  // ---- the data plane's reports -------------------------------------------------------------

  /** The IKE SA that holds a Child SA, and the Child SA, by the SPI of one of its directions. */
  private childBySpi(spi: number, direction: 'in' | 'out', peer?: string): { sa: IkeSa; child: ChildSa } | undefined {
    const child = direction === 'in' ? this.spis.byInbound(spi) : peer === undefined ? undefined : this.spis.byOutbound(peer, spi);
    if (!child) return undefined;
    for (const sa of this.sas.values()) if (sa.children.includes(child)) return { sa, child };
    return undefined;
  }

  /**
   * A command failed in the data plane (the plane's reason, e.g. the kernel's errno text). A
   * Child SA that cannot be installed is of no use: it is deleted (the peer is told).
   */
  dataPlaneFailed(cmd: DataPlaneCommand, reason: string, now: number): void {
    this.clock = now;
    const what =
      cmd.op === 'add-sa'
        ? `${cmd.sa.direction}bound SA ${cmd.sa.spi.toString(16).padStart(8, '0')}`
        : cmd.op === 'del-sa'
          ? `removal of SA ${cmd.spi.toString(16).padStart(8, '0')}`
          : cmd.op === 'update-sa'
            ? `move of outbound SA ${cmd.sa.spi.toString(16).padStart(8, '0')} to ${cmd.sa.dst.address}:${cmd.sa.dst.port}`
            : 'policy' in cmd
              ? `${cmd.op} of ${cmd.policy.connection}/${cmd.policy.child}`
              : `${(cmd as { readonly op: string }).op}`;
    this.emit({ kind: 'event', event: { type: 'log', level: 'error', message: `data plane: ${what} failed: ${reason}` } });
    if (cmd.op !== 'add-sa' && cmd.op !== 'add-policies') return;
    for (const sa of this.sas.values()) {
      for (const child of sa.children) {
        const hit = cmd.op === 'add-sa' ? (cmd.sa.direction === 'in' ? child.info.spiIn : child.info.spiOut) === cmd.sa.spi && child.reqid === cmd.sa.reqid : child.reqid === cmd.policy.reqid;
        if (hit && child.state !== 'deleting') this.command(sa, { kind: 'delete-child', child }, now);
      }
    }
  }

  /**
   * A usage limit of an SA fired (bytes or packets, EspSaSpec.limits): soft rekeys the Child SA
   * (RFC 7296 §2.8), hard deletes it.
   */
  expire(spi: number, direction: 'in' | 'out', kind: ExpireKind, now: number, peer?: string): boolean {
    this.clock = now;
    const found = this.childBySpi(spi, direction, peer);
    if (!found) return false;
    const { sa, child } = found;
    if (kind === 'hard') {
      sa.log('info', `Child SA ${hex32(child.info.spiIn)} reached its hard ${direction === 'in' ? 'inbound' : 'outbound'} usage limit`);
      return child.state === 'deleting' ? true : this.command(sa, { kind: 'delete-child', child }, now);
    }
    if (child.state !== 'installed') return true;
    sa.log('info', `Child SA ${hex32(child.info.spiIn)} reached its soft usage limit: rekeying`);
    return this.command(sa, { kind: 'rekey-child', child }, now);
  }

  /** Bytes and packets an SA carried, as the data plane counts them (for listings). */
  usage(spi: number, direction: 'in' | 'out', usage: { readonly bytes: number; readonly packets: number }, peer?: string): void {
    const found = this.childBySpi(spi, direction, peer);
    if (found && direction === 'in') found.child.usage = usage;
  }

  /**
   * Traffic hit a trap policy (the kernel's acquire, or the userspace plane's): bring up the
   * connection of the trapped child, unless an IKE SA of it is up or on its way.
   */
  acquire(reqid: number, now: number): boolean {
    this.clock = now;
    for (const [key, r] of this.traps) {
      if (r !== reqid) continue;
      const name = key.slice(0, key.lastIndexOf('/'));
      const conn = this.conns.find((c) => c.name === name);
      if (!conn || this.otherSaOf(name)) return false;
      if (conn.remoteAddress === '%any') return false;
      this.initiate(name, now, this.restarts.endpointsOf(name));
      return true;
    }
    return false;
  }

  /**
   * Trap policies for a connection's children (start_action trap; RFC 4301 §4.4.1: an SPD
   * entry whose SA is negotiated on the first packet). Idempotent.
   */
  trap(name: string, children?: readonly string[]): void {
    const conn = this.conns.find((c) => c.name === name);
    if (!conn) return;
    for (const c of conn.children) {
      if (children && !children.includes(c.name)) continue;
      const key = `${name}/${c.name}`;
      if (this.traps.has(key)) continue;
      const reqid = this.freshReqid();
      this.traps.set(key, reqid);
      this.trapReqids.add(reqid);
      this.dataPlane({ op: 'add-trap', policy: this.trapPolicy(conn, c, reqid) });
    }
  }

  trapChild(connection: string, child: string): void {
    this.trap(connection, [child]);
  }

  /** Remove the trap policies of a connection (its Child SAs, if any, keep theirs until they go). */
  untrap(name: string): void {
    const conn = this.conns.find((c) => c.name === name);
    for (const [key, reqid] of [...this.traps]) {
      if (!key.startsWith(`${name}/`)) continue;
      this.traps.delete(key);
      this.trapReqids.delete(reqid);
      const child = conn?.children.find((c) => `${name}/${c.name}` === key);
      if (conn && child) this.dataPlane({ op: 'del-trap', policy: this.trapPolicy(conn, child, reqid) });
      // A Child SA the trap brought up keeps its traffic: it gets policies of its own.
      if (!this.spis.reqidInUse(reqid)) continue;
      for (const sa of this.sas.values()) {
        const live = sa.children.find((c) => c.reqid === reqid);
        if (live) this.dataPlane({ op: 'add-policies', policy: policySpec(sa, live) });
      }
    }
  }

  private trapPolicy(conn: ConnectionConfig, c: ConnectionConfig['children'][number], reqid: number): PolicySpec {
    const ep = this.restarts.endpointsOf(conn.name);
    return {
      connection: conn.name,
      child: c.name,
      reqid,
      mode: c.mode,
      local: ep?.local?.address ?? conn.localAddress,
      remote: ep?.remote?.address ?? conn.remoteAddress,
      localTs: c.localTs,
      remoteTs: c.remoteTs,
    };
  }

  /** Check now that the peer is alive (RFC 7296 §2.4). */
  checkLiveness(id: number, now: number): boolean {
    const sa = this.byId(id);
    return sa ? this.command(sa, { kind: 'dpd' }, now) : false;
  }

  private command(sa: IkeSa, task: import('./tasks.js').QueuedTask, now: number): boolean {
    this.clock = now;
    if (sa.state !== 'established' && !(sa.state === 'rekeyed' && task.kind === 'delete-ike')) return false;
    enqueue(sa, task);
    this.settle(sa, now);
    return true;
  }

  // ---- time ------------------------------------------------------------------------------

  tick(now: number): void {
    this.clock = now;
    for (const { name, attempt } of this.restarts.popDue(now)) this.restart(name, attempt, now);
    for (const sa of this.timers.popDue(now)) {
      if (sa.onTimer(now)) {
        if (sa.role === 'responder' && sa.state !== 'established' && sa.state !== 'rekeyed' && now - sa.createdAt >= this.halfOpenTimeoutMs) {
          sa.fail('half-open SA timed out', undefined, undefined, 'half-open-timeout');
        } else runTimers(sa, now);
      }
      this.settle(sa, now);
    }
  }

  nextDeadline(): number | undefined {
    const a = this.timers.peek();
    const b = this.restarts.nextDeadline();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /**
   * An IKE SA is ending: keyingtries for a failed setup, dpd_action after a dead peer,
   * close_action after the peer's delete (see restart.ts). Trap actions are reported now.
   */
  ended(sa: IkeSa, cause: EndCause): RestartPlan | undefined {
    const conn = sa.connection;
    if (!conn || cause === 'other' || this.conns.find((c) => c.name === conn.name) !== conn) return undefined;
    const action = (c: (typeof conn.children)[number]): string => (cause === 'dead-peer' ? c.dpdAction ?? 'clear' : cause === 'peer-deleted' ? c.closeAction ?? 'none' : 'none');
    if (cause !== 'setup-failed') {
      const trapped = conn.children.filter((c) => action(c) === 'trap').map((c) => c.name);
      for (const c of trapped) this.emit({ kind: 'event', event: { type: 'trap', connection: conn.name, child: c, reason: cause === 'dead-peer' ? 'dead peer (dpd_action trap)' : 'deleted by the peer (close_action trap)' } });
      if (trapped.length > 0) this.trap(conn.name, trapped);
    }
    const wanted = conn.children.some((c) => action(c) === 'restart' || action(c) === 'start');
    // Nothing that could restart (a peer's half-open SA failing, under a flood thousands a
    // second): no need to look through every IKE SA for another one of the connection.
    if (!mayRestart(conn, cause, sa.isInitiator, wanted)) return undefined;
    // Another IKE SA of the connection is up or on its way (the peer's own initiation, a
    // second `up`): nothing to restart.
    if (this.otherSaOf(conn.name, sa)) return undefined;
    const plan = this.restarts.ended(conn, cause, sa.attempt, sa.isInitiator, wanted, this.clock);
    if (plan) sa.log('info', `connection '${conn.name}': attempt ${plan.attempt}${conn.keyingTries === 0 ? '' : ` of ${conn.keyingTries ?? 1}`} in ${plan.inMs} ms (${cause === 'setup-failed' ? 'keyingtries' : cause === 'dead-peer' ? 'dpd_action restart' : 'close_action start'})`);
    return plan;
  }

  /**
   * An IKE SA of the connection other than `except` that is established, or that we are
   * setting up (a peer's half-open SA does not count: its address may be forged).
   */
  private otherSaOf(name: string, except?: IkeSa): IkeSa | undefined {
    for (const s of this.sas.values()) {
      if (s === except || s.connection?.name !== name) continue;
      if (s.state === 'established' || (s.isInitiator && (s.state === 'connecting' || s.state === 'intermediate' || s.state === 'authenticating'))) return s;
    }
    return undefined;
  }

  /** A scheduled attempt is due: initiate the connection the way it was last initiated. */
  private restart(name: string, attempt: number, now: number): void {
    const conn = this.conns.find((c) => c.name === name);
    if (!conn) return;
    const other = this.otherSaOf(name);
    if (other) {
      this.emit({ kind: 'event', event: { type: 'log', level: 'info', sa: other.id, message: `connection '${name}': attempt ${attempt} not needed, IKE SA #${other.id} is ${other.state}` } });
      return;
    }
    const endpoints = this.restarts.endpointsOf(name);
    if (!endpoints?.local && conn.localAddress === '%any') {
      this.emit({ kind: 'event', event: { type: 'log', level: 'warn', message: `connection '${name}': cannot restart with local_addrs %any before a first initiation` } });
      return;
    }
    this.initiate(name, now, endpoints, attempt);
  }

  // ---- input -----------------------------------------------------------------------------

  /** A datagram arrived from `remote` at our `local` endpoint. Never throws. */
  receive(data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    this.clock = now;
    try {
      this.dispatch(data, remote, local, now);
    } catch (e) {
      // Parsing and crypto failures are handled where they occur; anything reaching here is
      // a bug, reported rather than allowed to take the daemon down.
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.emit({ kind: 'event', event: { type: 'log', level: 'error', message: `internal error handling datagram: ${message}` } });
    }
  }

  private dispatch(data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    if (data[18] === ExchangeType.IKE_SA_INIT && ((data[19] ?? 0) & HeaderFlags.RESPONSE) === 0 && this.answeredStatelessly(data, remote, local, now)) return;
    let msg: IkeMessage;
    try {
      msg = decodeMessage(data);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      if (!this.onOuterParseError(e, data, remote, local)) this.dropped.note('parse');
      return;
    }
    const h = msg.header;
    const response = (h.flags & HeaderFlags.RESPONSE) !== 0;
    const fromInitiator = (h.flags & HeaderFlags.INITIATOR) !== 0;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !response) {
      if (!fromInitiator || h.messageId !== 0 || !h.spiR.every((b) => b === 0)) return this.dropped.note('unexpected');
      this.onInitRequest(msg, data, remote, local, now);
      return;
    }
    const sa = this.sas.get(hex(fromInitiator ? h.spiR : h.spiI));
    if (!sa || !bytesEqual(sa.spiI, h.spiI)) return this.dropped.note('unknown-sa');
    if (sa.isInitiator === fromInitiator) return this.dropped.note('unexpected'); // our own role's flag from the peer: bogus
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
      if (sa.state === 'connecting' && sa.outstanding?.messageId === 0 && !sa.keys && isSettingUp(sa)) {
        handleInitResponse(sa, msg, data, now);
        continueHandshake(sa, now);
        this.settle(sa, now);
      } else this.dropped.note('unexpected');
      return;
    }
    if (!bytesEqual(sa.spiR, h.spiR)) return this.dropped.note('unknown-sa');
    if (!sa.keys) return this.dropped.note('unexpected');
    if (response) this.onResponse(sa, msg, data, now);
    else this.onRequest(sa, msg, data, remote, local, now);
    this.settle(sa, now);
  }

  /**
   * Under load, a new IKE_SA_INIT request without a cookie is answered COOKIE (or dropped by
   * the limits) from a walk over its payload headers, before any decoding (RFC 7296 §2.6): a
   * flood of them must cost little. True when it was handled here.
   */
  private answeredStatelessly(data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): boolean {
    const scan = scanInitRequest(data);
    // With the admission queue, a request with a cookie is checked here too: only one that
    // would be accepted waits in the queue.
    if (!scan || (scan.cookie && !this.admission)) return false;
    if (this.byInitiator.has(halfOpenKey(scan.spiI, remote))) return false; // a retransmission: answered as before
    // A full admission queue that would not take this address's request: dropped before any
    // work, and without a COOKIE, which would only bring it back (RFC 8019 §4.1: the address
    // holds as many half-open SAs as the requests queued or more).
    if (this.admission && !this.admission.wouldTake(this.heldBy(remote.address))) {
      this.dropped.note('limits');
      return true;
    }
    const a = this.guard.admit({ peer: remote, spiI: scan.spiI, ni: scan.nonce, ...(scan.cookie ? { cookie: scan.cookie } : {}) }, now);
    if (a.kind === 'accept') return false;
    if (a.kind === 'cookie') refuseStatelessly((o) => this.emit(o), scan.spiI, local, remote, NotifyType.COOKIE, COOKIE_REASON, { data: a.cookie });
    else this.dropped.note('limits');
    return true;
  }

  /**
   * RFC 7296 §2.5: an unknown critical payload in IKE_SA_INIT is answered; other garbage
   * dropped. True when it was answered.
   */
  private onOuterParseError(e: ParseError, data: Uint8Array, remote: Endpoint, local: Endpoint): boolean {
    if (e.code !== 'UNSUPPORTED_CRITICAL_PAYLOAD' || data.length < 28) return false;
    const exchange = data[18];
    const flags = data[19] ?? 0;
    if (exchange !== ExchangeType.IKE_SA_INIT || (flags & HeaderFlags.RESPONSE) !== 0) return false;
    // No SA for it (RFC 7296 §2.21.1): the same stateless answer as any IKE_SA_INIT refusal.
    refuseStatelessly((o) => this.emit(o), data.slice(0, 8), local, remote, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, e.message, { data: Uint8Array.of(e.payloadType ?? 0) });
    return true;
  }

  private onInitRequest(msg: IkeMessage, data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    const key = halfOpenKey(msg.header.spiI, remote);
    const existing = this.byInitiator.get(key);
    if (existing) {
      // A retransmitted IKE_SA_INIT request gets the same response again (RFC 7296 §2.1).
      const sent = existing.setup?.initRequest;
      if (sent && Buffer.compare(sent, data) === 0 && existing.lastResponse?.messageId === 0) existing.sendRaw(existing.lastResponse.datagrams);
      else this.dropped.note('unexpected');
      return;
    }
    if (this.admission) {
      const item = { msg, data, remote, local };
      // A retransmission of a queued request keeps its place.
      if (this.admission.refresh(key, item)) return;
      // Only a request that would be accepted now waits; a malformed one, one that needs a
      // COOKIE or one the limits refuse is answered or dropped at once, as without the queue.
      const facts = initRequestFacts(msg, remote);
      if (facts && this.guard.admit(facts, now).kind === 'accept') {
        // Queued requests count with the half-open SAs of their address: for block_threshold
        // and for their rank (one address cannot fill the queue at the best rank).
        const held = this.heldBy(remote.address);
        if (held < this.guard.limits.blockThreshold) this.admission.push({ key, address: remote.address, rank: held, item });
        else this.dropped.note('limits');
        return;
      }
    }
    this.openResponderSa(key, msg, data, remote, local, now);
  }

  /** Half-open SAs and queued requests of an address. */
  private heldBy(address: string): number {
    return this.guard.halfOpenFrom(address) + (this.admission?.queuedFrom(address) ?? 0);
  }

  /** IKE_SA_INIT requests waiting for admitPending() (EngineOptions.admissionQueue). */
  get pendingAdmissions(): number {
    return this.admission?.size ?? 0;
  }

  /**
   * Let up to `max` queued IKE_SA_INIT requests in, best-ranked first (admission-queue.ts):
   * each is checked again (cookie, limits) and gets its half-open SA and response as if it had
   * just arrived. Returns how many were taken from the queue. Never throws.
   */
  admitPending(now: number, max = 1): number {
    let n = 0;
    this.clock = now;
    for (; n < max; n++) {
      const p = this.admission?.shift();
      if (!p) break;
      try {
        if (!this.byInitiator.has(p.key)) this.openResponderSa(p.key, p.item.msg, p.item.data, p.item.remote, p.item.local, now);
      } catch (e) {
        const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        this.emit({ kind: 'event', event: { type: 'log', level: 'error', message: `internal error admitting an IKE_SA_INIT request: ${message}` } });
      }
    }
    return n;
  }

  private openResponderSa(key: string, msg: IkeMessage, data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    const created = handleInitRequest(
      {
        host: this,
        admit: (facts) => {
          const a = this.guard.admit(facts, now);
          if (a.kind === 'drop') this.dropped.note('limits');
          return a;
        },
        emit: (o) => this.emit(o),
      },
      msg,
      data,
      local,
      remote,
      now,
    );
    if (!created) return;
    const { sa } = created;
    sa.initKey = key;
    this.sas.set(hex(sa.spiR), sa);
    this.ids.set(sa.id, sa);
    this.byInitiator.set(key, sa);
    const evicted = this.guard.opened(key, sa, remote.address, created.spentCookie, now);
    if (evicted) evicted.fail('replaced by a newer half-open IKE SA (init_limit_half_open reached)', undefined, undefined, 'evicted');
    this.settle(sa, now);
  }

  /**
   * Decrypt SK, or collect SKF fragments until the message is whole (RFC 7383 §2.6).
   * undefined: drop (bad ICV, or not all fragments yet).
   */
  private open(sa: IkeSa, msg: IkeMessage, data: Uint8Array, keys: SkKeys, now: number): Opened | 'invalid' | undefined {
    let part;
    try {
      part = openMessage(data, msg, sa.requireCipher(), keys);
    } catch (e) {
      if (e instanceof CryptoError) {
        this.dropped.note('icv'); // RFC 7296 §2.21.2: ICV failure → silent drop
        return undefined;
      }
      throw e;
    }
    if (!part) {
      this.dropped.note('parse');
      return undefined;
    }
    const h = msg.header;
    const response = (h.flags & HeaderFlags.RESPONSE) !== 0;
    let plain = part.plain;
    let innerFirst = part.innerFirst;
    let sizes = [data.length];
    if (part.fragment) {
      if (!sa.peerFragmentation) {
        this.dropped.note('fragment');
        return undefined;
      }
      let fc = this.fragments.get(sa);
      if (!fc || fc.messageId !== h.messageId || fc.response !== response) {
        fc = new FragmentCollector(h.messageId, response);
        this.fragments.set(sa, fc);
      }
      const r = fc.add(part.fragment.number, part.fragment.total, part.innerFirst, part.plain, data.length);
      if (r === 'overflow') {
        // RFC 7383 §2.6: too large to reassemble. Every fragment is authenticated, so the peer
        // did send this Message ID: answer it (a request) instead of leaving it stuck.
        this.fragments.delete(sa);
        const why = `fragments of ${response ? 'response' : 'request'} ${h.messageId} exceed ${MAX_REASSEMBLED} bytes`;
        const up = sa.state === 'established' || sa.state === 'rekeyed';
        // Said once: by the refusal (a request), the failure (an SA setting up), or a warning.
        if (response && up) sa.log('warn', why);
        if (!response) {
          sa.refuse(h.exchangeType, h.messageId, NotifyType.INVALID_SYNTAX, why, { keys });
          sa.expectedRequestId++;
        }
        if (!up) sa.fail(why, NotifyType.INVALID_SYNTAX);
        return 'invalid';
      }
      if (r === 'invalid') this.dropped.note('fragment');
      if (r === 'pending' || r === 'invalid') return undefined;
      this.fragments.delete(sa);
      plain = r.plain;
      innerFirst = r.innerFirst;
      sizes = r.sizes;
    }
    let inner: Payload[];
    try {
      inner = decodeInner(innerFirst, plain);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      // Said once: by the refusal (a request), the failure (an SA setting up), or a warning.
      if (response && sa.state === 'established') sa.log('warn', `malformed response ${h.messageId}: ${e.message}`);
      if (!response) {
        // RFC 7296 §2.21.2 / §2.5: answer a protected request with the error notify.
        const critical = e.code === 'UNSUPPORTED_CRITICAL_PAYLOAD';
        sa.refuse(h.exchangeType, h.messageId, critical ? NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD : NotifyType.INVALID_SYNTAX, `malformed request: ${e.message}`, {
          keys,
          ...(critical ? { data: Uint8Array.of(e.payloadType ?? 0) } : {}),
        });
        sa.expectedRequestId++;
      }
      if (sa.state !== 'established') sa.fail(`malformed message: ${e.message}`, NotifyType.INVALID_SYNTAX);
      return 'invalid';
    }
    const ap = h.exchangeType === ExchangeType.IKE_INTERMEDIATE ? sa.receivedAp(h.exchangeType, response, h.messageId, innerFirst, plain) : new Uint8Array(0);
    sa.noteReceived(h.exchangeType, response, h.messageId, sizes, inner);
    sa.lastReceivedAt = now;
    return { inner, ap, sizes };
  }

  private onResponse(sa: IkeSa, msg: IkeMessage, data: Uint8Array, now: number): void {
    const out = sa.outstanding;
    const h = msg.header;
    if (!out || out.messageId !== h.messageId || out.exchange !== h.exchangeType) return this.dropped.note('unexpected');
    const opened = this.open(sa, msg, data, sa.inKeys(), now);
    if (opened === undefined || opened === 'invalid') return;
    switch (h.exchangeType) {
      case ExchangeType.IKE_INTERMEDIATE:
        if (isSettingUp(sa)) handleIntermediateResponse(sa, opened.inner, opened.ap);
        break;
      case ExchangeType.IKE_AUTH:
        if (isSettingUp(sa)) handleAuthResponse(sa, h.messageId, opened.inner, now);
        break;
      case ExchangeType.INFORMATIONAL:
        handleInformationalResponse(sa);
        break;
      case ExchangeType.CREATE_CHILD_SA:
      case ExchangeType.IKE_FOLLOWUP_KE:
        handleCcsResponse(sa, h.exchangeType, opened.inner, now);
        break;
      default:
        sa.outstanding = undefined;
    }
    if (sa.state === 'intermediate' || sa.state === 'authenticating') continueHandshake(sa, now);
  }

  private onRequest(sa: IkeSa, msg: IkeMessage, data: Uint8Array, remote: Endpoint, local: Endpoint, now: number): void {
    const h = msg.header;
    const last = sa.lastResponse;
    if (last && h.messageId === last.messageId && h.messageId !== sa.expectedRequestId) {
      this.resendResponse(sa, msg, data, last.requestKeys ?? sa.inKeys(), last.datagrams);
      return;
    }
    if (h.messageId !== sa.expectedRequestId) return this.dropped.note('unexpected'); // RFC 7296 §2.2: outside the window
    // A request waits for its certificates to be validated: the window (one request, §2.3) is
    // full until it is answered, so nothing else is taken.
    if (sa.setup?.trustWait) return;
    const keys = sa.inKeys();
    const opened = this.open(sa, msg, data, keys, now);
    if (opened === undefined || opened === 'invalid') return;
    sa.expectedRequestId++;
    // RFC 7296 §2.23: behind a NAT, answer where the latest authenticated request came from.
    if (sa.behindNat && (sa.remote.port !== remote.port || sa.remote.address !== remote.address || sa.local.port !== local.port)) {
      const old = sa.remote;
      sa.remote = remote;
      sa.local = local;
      // (The float to 4500 during IKE_AUTH moves nothing: no Child SA exists yet.)
      if ((old.address !== remote.address || old.port !== remote.port) && sa.children.length > 0) {
        sa.log('info', `the peer moved from ${old.address}:${old.port} to ${remote.address}:${remote.port} (a NAT mapping changed): its Child SAs follow`);
        moveChildren(sa, old);
      }
    }
    try {
      this.answerRequest(sa, h.exchangeType, h.messageId, opened, keys, now);
    } catch (e) {
      // A bug, not the peer's fault: reported, and the request still gets its answer below.
      this.emit({ kind: 'event', event: { type: 'log', level: 'error', sa: sa.id, message: `internal error handling ${nameOf(ExchangeType, h.exchangeType)} request ${h.messageId}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` } });
    }
    // RFC 7296 §2.2: a Message ID we consumed is answered, whatever happened above (or once
    // the certificate validation it waits for is done: trustSettled).
    if (sa.lastResponse?.messageId !== h.messageId && sa.setup?.trustWait?.messageId !== h.messageId) {
      const settingUp = sa.state === 'intermediate' || sa.state === 'authenticating';
      try {
        sa.refuse(h.exchangeType, h.messageId, NotifyType.INVALID_SYNTAX, 'the request could not be handled', { keys });
      } catch (e) {
        this.emit({ kind: 'event', event: { type: 'log', level: 'error', sa: sa.id, message: `cannot answer request ${h.messageId}: ${e instanceof Error ? e.message : String(e)}` } });
      }
      if (settingUp) sa.fail(`request ${h.messageId} could not be handled`, NotifyType.INVALID_SYNTAX);
    }
  }

  /** Dispatch a decrypted request to its exchange (RFC 7296 §1.4: which exchange in which state). */
  private answerRequest(sa: IkeSa, exchange: number, messageId: number, opened: Opened, keys: SkKeys, now: number): void {
    const settingUp = (sa.state === 'intermediate' || sa.state === 'authenticating') && isSettingUp(sa);
    const up = sa.state === 'established' || sa.state === 'rekeyed';
    const refuse = (): void => {
      sa.refuse(exchange, messageId, NotifyType.INVALID_SYNTAX, `${nameOf(ExchangeType, exchange)} is not allowed in state ${sa.state} (RFC 7296 §1.4)`, { keys });
    };
    switch (exchange) {
      case ExchangeType.IKE_INTERMEDIATE:
        if (settingUp && isSettingUp(sa)) handleIntermediateRequest(sa, messageId, opened.inner, opened.ap);
        else refuse();
        return;
      case ExchangeType.IKE_AUTH:
        if (!settingUp || !isSettingUp(sa)) return refuse();
        handleAuthRequest(sa, messageId, opened.inner, now);
        // No longer half-open once authenticated (the state changed in the call above).
        if (sa.stateIs('established') && sa.initKey !== undefined) this.guard.closed(sa.initKey);
        return;
      case ExchangeType.INFORMATIONAL:
        // RFC 7296 §1.4: INFORMATIONAL only after the initial exchanges; an unauthenticated
        // peer's Delete must not end the SA (nor its accounting) early.
        if (up) handleInformationalRequest(sa, messageId, opened.inner);
        else refuse();
        return;
      case ExchangeType.CREATE_CHILD_SA:
        if (up) handleCcsRequest(sa, messageId, opened.inner, now, (isIke) => (isIke ? ikeRekeyResponder(sa, opened.inner) : childResponder(sa, opened.inner)));
        else refuse();
        return;
      case ExchangeType.IKE_FOLLOWUP_KE:
        if (up) handleFollowupRequest(sa, messageId, opened.inner, now);
        else refuse();
        return;
      default:
        refuse();
    }
  }

  /**
   * A retransmitted request: verify it with the keys that protected the original (they may
   * have been replaced since, RFC 9370 §2.2.2), then send the cached response again. For a
   * fragmented request, only fragment 1 triggers the resend (RFC 7383 §2.6.1).
   */
  private resendResponse(sa: IkeSa, msg: IkeMessage, data: Uint8Array, keys: SkKeys, datagrams: readonly Uint8Array[]): void {
    try {
      const part = openMessage(data, msg, sa.requireCipher(), keys);
      if (!part || (part.fragment && part.fragment.number !== 1)) return;
    } catch (e) {
      if (e instanceof CryptoError) return this.dropped.note('icv');
      throw e;
    }
    sa.sendRaw(datagrams);
  }
}

/** An IKE_SA_INIT request in the admission queue, decoded. */
interface QueuedInit {
  readonly msg: IkeMessage;
  readonly data: Uint8Array;
  readonly remote: Endpoint;
  readonly local: Endpoint;
}

function halfOpenKey(spiI: Uint8Array, remote: Endpoint): string {
  return `${hex(spiI)}/${remote.address}/${remote.port}`;
}

