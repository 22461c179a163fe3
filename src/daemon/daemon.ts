/**
 * The gateway daemon: one engine for every configured connection on UDP 500/4500 of each local
 * address, start actions, the control socket, logs, metrics, the key log and the data plane.
 * SIGTERM deletes every SA and cleans the data plane before exit; SIGHUP reloads the file.
 */
import { monotonicMs } from '../io/clock.js';
import { networkInterfaces } from 'node:os';
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import type { Writable } from 'node:stream';
import { unlinkSync } from 'node:fs';
import type { IkeEngine } from '../engine/engine.js';
import { formatIdentity } from '../engine/identity.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import { hex32 } from '../engine/util.js';
import { ExchangeType } from '../wire/constants.js';
import type { EngineEvent, SaFilter } from '../engine/types.js';
import type { DataPlaneCommand } from '../engine/dataplane.js';
import { LocalEngine } from './engine-host.js';
import type { EngineHost } from './engine-host.js';
import { WorkerPool } from './worker-pool.js';
import { KeyExporter } from './key-export.js';
import { eventLogLine } from './event-format.js';
import { ConfigError, loadConfig } from './config.js';
import type { DaemonConfig, DaemonConnection } from './config.js';
import { rekeyCommand, saNumber, serveControl } from './control.js';
import { HubLogger, LogHub } from './log-stream.js';
import { TurnBatchedOutput } from './log-output.js';
import type { LineSink } from './log-output.js';
import type { ControlRequest, ControlResponse } from './control.js';
import type { DataPlane, PlaneHost } from '../dataplane/plane-api.js';
import { choosePlane } from './plane-choice.js';
import { Logger } from './logger.js';
import { Metrics } from './metrics.js';
import type { EngineMetrics } from './metrics.js';
import { RefusalLogBudget, eventLogLevel } from './visibility.js';
import { throttled } from './throttle.js';
import { endedSa } from './sa-events.js';
import { toView } from './listing.js';
import type { ChildUsage } from './listing.js';
import type { SaView } from './listing.js';

export interface DaemonOptions {
  readonly configPath: string;
  readonly exportKeys?: string;
  readonly logOut?: Writable;
  /** The fake data plane's journal (JSON lines), for tests; only with `data_plane: fake`. */
  readonly dataPlaneJournal?: string;
  readonly isTty?: boolean;
}

interface Waiter {
  readonly done: (e: EngineEvent) => string | undefined | 'ok';
  readonly resolve: (r: ControlResponse) => void;
}


/** Addresses to bind for a set of connections ('%any' → every address of this host). */
function localAddresses(conns: readonly DaemonConnection[]): string[] {
  const set = new Set<string>();
  let any = false;
  for (const c of conns) {
    if (c.config.localAddress === '%any') any = true;
    else set.add(c.config.localAddress);
  }
  if (any) {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family === 'IPv6' && a.address.startsWith('fe80')) continue;
        set.add(a.address);
      }
    }
  }
  return [...set];
}

export class Daemon {
  private config: DaemonConfig;
  /** The engine on the main thread, or the engine workers (`workers:`), once started. */
  private host?: EngineHost;
  readonly logger: Logger;
  /** The log records `pqike log` streams (control socket `log` requests). */
  readonly logHub = new LogHub();
  readonly metrics = new Metrics();
  /** How many refusal lines a flood may write (visibility.ts). */
  private readonly refusalLog = new RefusalLogBudget();
  private plane?: DataPlane;
  private control?: Server;
  private http?: HttpServer;
  private keys?: KeyExporter;
  /** Commands waiting for events; each leaves when done, when its IKE SA ends, or at its timeout. */
  private waiters: Waiter[] = [];
  private stopping = false;
  /**
   * Connection of each IKE SA, kept until its last event (the engine forgets it first): the
   * entry goes with 'ike-down' or 'ike-failed'. An SA replaced by a rekey keeps it until its
   * delete, whose events still need their connection.
   */
  private readonly saConn = new Map<number, string>();
  /** The daemon's own stderr output (when the options give no sink). */
  private readonly stderrLog: TurnBatchedOutput | undefined;
  /** Undoes the log's flush at process exit (set while the daemon runs). */
  private unhookLogFlush: (() => void) | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.config = loadConfig(opts.configPath);
    const tty = opts.isTty ?? false;
    const format = this.config.log.format === 'auto' ? (tty ? 'text' : 'json') : this.config.log.format;
    // stderr's lines go out once per turn of the loop (log-output.ts); a test's sink gets each as it is made.
    let out: LineSink | undefined = opts.logOut;
    if (out === undefined) out = this.stderrLog = new TurnBatchedOutput(process.stderr);
    this.logger = new HubLogger(this.logHub, out, this.config.log.level, format);
  }

  /** The engine, when it runs on the main thread (`workers: 0`) and the daemon has started; for tests. */
  get engine(): IkeEngine {
    if (this.host instanceof LocalEngine) return this.host.engine;
    throw new Error(this.host ? 'the engines run on worker threads' : 'the daemon has not started');
  }

  /** The engine(s); only called once start() made them. */
  private get engines(): EngineHost {
    if (!this.host) throw new Error('the daemon has not started');
    return this.host;
  }

  /** The data plane, once start() chose it (data_plane in the config). */
  get dataPlane(): DataPlane | undefined {
    return this.plane;
  }

  get configuration(): DaemonConfig {
    return this.config;
  }

  /** Sizes of the daemon's per-SA tables (each bounded by the IKE SAs that exist), for tests. */
  tables(): { readonly saConnections: number; readonly waiters: number; readonly handshakesTimed: number } {
    return { saConnections: this.saConn.size, waiters: this.waiters.length, handshakesTimed: this.metrics.handshakesTimed };
  }

  private get exportKeysPath(): string | undefined {
    return this.opts.exportKeys ?? this.config.exportKeys;
  }

  /** Throws KeyExportError (before anything is bound) if the key files are not safe to use. */
  async start(): Promise<void> {
    this.unhookLogFlush ??= this.stderrLog?.flushAtExit();
    const exportKeys = this.exportKeysPath;
    if (exportKeys !== undefined) {
      this.keys = new KeyExporter(exportKeys, {
        onFailure: (message) => {
          this.logger.error(message);
          this.metrics.noteKeyExportFailure();
        },
      });
    }
    const addresses = localAddresses(this.config.connections);
    if (addresses.length === 0) throw new Error('no local address to listen on');
    const chosen = await choosePlane({
      choice: this.config.dataPlane,
      userspace: this.config.userspace,
      ...(this.opts.dataPlaneJournal !== undefined ? { journal: this.opts.dataPlaneJournal } : {}),
      onJournalFailure: (m) => this.logger.error(m),
    });
    this.plane = chosen.plane;
    this.logger.info(chosen.why);
    const hostOpts = {
      addresses,
      port: this.config.port,
      onEvent: (e: EngineEvent, conn?: string) => this.onEvent(e, conn),
      onDataPlane: (cmd: DataPlaneCommand) => (this.plane ? this.plane.apply(cmd) : 'no data plane'),
      ...(chosen.plane.sockets ? { sockets: chosen.plane.sockets } : {}),
    };
    const exportKeysOn = exportKeys !== undefined;
    const local = (): EngineHost =>
      new LocalEngine(this.config, {
        exportKeys: exportKeysOn,
        // The kernel's ALLOCSPI where the plane has it (two daemons never pick one SPI).
        allocateSpi: (sa) => this.plane?.allocateSpi?.(sa.src, sa.dst),
      }, hostOpts);
    let host: EngineHost = this.config.workers > 0 ? new WorkerPool({ ...hostOpts, configPath: this.opts.configPath, workers: this.config.workers, exportKeys: exportKeysOn }) : local();
    this.host = host;
    host.addConnections(this.config.connections);
    // The sockets first: the userspace plane's worker sends ESP in UDP from the NAT-T socket.
    try {
      await host.start();
      if (this.config.workers > 0) this.logger.info(`${this.config.workers} engine worker threads`);
    } catch (e) {
      if (!(host instanceof WorkerPool)) throw e;
      // Worker threads that cannot start (each needs descriptors of its own to load): the
      // engine runs on the main thread rather than no daemon at all.
      const why = e instanceof Error ? e.message : String(e);
      await host.close().catch(() => undefined);
      this.logger.error(`the engine worker threads could not start (${why}); the engine runs on the main thread (a worker opens files of its own as it starts: check the open-file limit, LimitNOFILE, or set workers: 0)`);
      host = local();
      this.host = host;
      host.addConnections(this.config.connections);
      await host.start();
    }
    try {
      await chosen.plane.start(this.planeHost());
    } catch (e) {
      await host.close();
      this.host = undefined;
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`the ${chosen.plane.kind} data plane could not start: ${why} (data_plane: fake negotiates without protecting traffic)`);
    }
    this.logger.info(`listening for IKE on ${addresses.map((a) => `${a.includes(':') ? `[${a}]` : a}:${this.config.port}`).join(', ')}${this.config.port === 500 ? ' (NAT-T 4500)' : ''}`);
    this.control = await serveControl(this.config.control.socket, (req) => this.handle(req), { onError: throttled((m) => this.logger.error(m)), logHub: this.logHub });
    this.logger.info(`control socket ${this.config.control.socket}`);
    if (this.config.metrics) {
      this.http = await this.metrics.serve(this.config.metrics.host, this.config.metrics.port, () => this.engines.census(), throttled((m) => this.logger.error(m)), () => this.planeMetrics(), () => this.engineMetrics(), () => this.engines.refresh());
      this.logger.info(`metrics on http://${this.config.metrics.host}:${this.config.metrics.port}/metrics`);
    }
    if (exportKeys !== undefined) this.logger.warn(`exporting IKE and ESP keys to ${exportKeys} (debugging only)`);
    for (const c of this.config.connections) this.applyStartActions(c);
  }

  /** Half-open IKE SAs and the datagrams the engine dropped, for the metrics. */
  private engineMetrics(): EngineMetrics {
    return this.host ? { halfOpen: this.host.halfOpen(), drops: this.host.drops() } : { halfOpen: 0, drops: {} };
  }

  private planeMetrics(): { kind: string; drops: Readonly<Record<string, number>> } | undefined {
    return this.plane ? { kind: this.plane.kind, drops: this.plane.drops() } : undefined;
  }

  /** What the plane reports goes into the engine, and what that makes is sent at once. */
  private planeHost(): PlaneHost {
    return {
      expire: (spi, direction, kind, peer) => {
        if (this.stopping) return;
        this.host?.expire(spi, direction, kind, peer);
      },
      acquire: (reqid) => {
        if (this.stopping) return;
        this.host?.acquire(reqid);
      },
      log: (level, message) => this.logger[level](message),
    };
  }

  private applyStartActions(c: DaemonConnection): void {
    const trapped = [...c.startActions].filter(([, action]) => action === 'trap').map(([child]) => child);
    if (trapped.length > 0) this.host?.trap(c.config.name, trapped);
    if ([...c.startActions.values()].includes('start')) {
      if (c.config.remoteAddress === '%any') this.logger.warn(`start_action start needs remote_addrs`, { conn: c.config.name });
      else void this.initiate(c);
    }
  }

  private async initiate(c: DaemonConnection): Promise<number | undefined> {
    if (!this.host) return undefined;
    try {
      const id = await this.host.initiate(c.config.name, { address: c.config.remoteAddress, port: c.remotePort }, c.config.localAddress === '%any' ? undefined : c.config.localAddress);
      this.logger.info(`initiating IKE SA to ${c.config.remoteAddress}`, { conn: c.config.name, sa: id });
      return id;
    } catch (e) {
      this.logger.error(`could not initiate: ${e instanceof Error ? e.message : String(e)}`, { conn: c.config.name });
      return undefined;
    }
  }

  private connOf(sa: number): string | undefined {
    const conn = this.saConn.get(sa) ?? this.host?.connectionOf(sa);
    if (conn !== undefined) this.saConn.set(sa, conn);
    return conn;
  }

  /** An engine event; `known`: its IKE SA's connection, where a worker thread sent it along. */
  private onEvent(e: EngineEvent, known?: string): void {
    if (known && 'sa' in e && typeof e.sa === 'number') this.saConn.set(e.sa, known);
    this.metrics.onEvent(e);
    if (e.type === 'child-up' || e.type === 'ike-keys') {
      this.keys?.onEvent(e, e.local.address, e.remote.address);
    }
    // Kept for the lines of an SA that come after it left the engine (ike-down, ike-failed).
    if (e.type === 'ike-up' || e.type === 'ike-rekeyed') this.saConn.set(e.sa, e.ike.connection);
    if (e.type !== 'ike-keys') {
      // Levels, and the refusal lines' budget under a flood: visibility.ts.
      const level = eventLogLevel(e);
      const gate = e.type === 'refused' && this.logger.enabled(level) ? this.refusalLog.admit(e, monotonicMs()) : undefined;
      // The context (connection name) only for a line that is written: under a flood most
      // events are not, and looking the connection up builds the SA's listing.
      if (this.logger.enabled(level) && gate?.write !== false) {
        const saId = 'sa' in e && typeof e.sa === 'number' ? e.sa : undefined;
        const conn = e.type === 'ike-up' || e.type === 'ike-rekeyed' ? e.ike.connection : saId === undefined ? undefined : this.connOf(saId);
        if (conn !== undefined && saId !== undefined) this.saConn.set(saId, conn);
        const line = eventLogLine(e);
        const skipped = gate !== undefined && gate.skipped > 0 ? gate.skipped : undefined;
        if (skipped !== undefined) line.fields['notLogged'] = skipped;
        const text = skipped === undefined ? line.text : `${line.text} (${skipped} more refusals with this notify not logged)`;
        this.logger.log(level, text, { conn: conn || undefined, sa: saId }, line.fields);
      }
    }
    const end = endedSa(e);
    if (end) this.saConn.delete(end.sa);
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      const r = w.done(e);
      if (r === undefined) return true;
      w.resolve(r === 'ok' ? { ok: true, data: null } : { ok: false, error: r });
      return false;
    });
  }

  /** Resolve when `done` says so for some event, or after timeoutMs. */
  private wait(done: Waiter['done'], timeoutMs: number, onTimeout: string): Promise<ControlResponse> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== finish);
        resolve({ ok: false, error: onTimeout });
      }, timeoutMs);
      const finish = (r: ControlResponse): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push({ done, resolve: finish });
    });
  }

  // ---- commands ----------------------------------------------------------------------------

  async handle(req: ControlRequest): Promise<ControlResponse> {
    switch (req.cmd) {
      case 'up':
        return this.up(req.args[0]);
      case 'down':
        return this.down(req.args[0]);
      case 'rekey':
        return rekeyCommand(req.args[0], typeof req.opts['child'] === 'string' ? req.opts['child'] : undefined, (f) => this.listSas(f), (t, c) => this.rekey(t, c));
      case 'list-sas':
        return { ok: true, data: await this.listSas(req.args[0] === undefined ? undefined : { connection: req.args[0] }) };
      case 'list-conns':
        return { ok: true, data: this.listConns() };
      case 'reload':
        return this.reload();
      case 'stats':
        await this.host?.refresh();
        return { ok: true, data: this.metrics.snapshot(this.host?.census() ?? { states: {}, childSas: 0 }, this.planeMetrics(), this.engineMetrics()) };
      default:
        return { ok: false, error: `unknown command '${req.cmd}'` };
    }
  }

  private async up(name: string | undefined): Promise<ControlResponse> {
    const c = this.config.connections.find((x) => x.config.name === name);
    if (!c) return { ok: false, error: `no connection '${name ?? ''}' (see pqike list-conns)` };
    if (c.config.remoteAddress === '%any') return { ok: false, error: `connection '${c.config.name}' has remote_addrs %any: it only responds` };
    if (!this.host) return { ok: false, error: 'daemon not started' };
    const host = this.host;
    const wantChild = c.config.children.length > 0 && c.config.childless !== 'pq';
    const name_ = c.config.name;
    let ikeUp = false;
    /**
     * The attempt being followed: the first new IKE SA this connection initiates, then each
     * later one that keyingtries starts after a failed attempt. A connection initiates from one
     * engine (worker-pool.ts ownerOfConnection), whose SA numbers only grow; another worker's
     * numbers interleave with them, so only this connection's SAs set the mark.
     */
    const all = await host.list({ connection: name_ });
    // An attempt of this connection already under way (a start action, keyingtries): follow it
    // rather than start a second IKE SA (as strongSwan reuses a connecting IKE SA).
    const inFlight = all.find((s) => s.connection === name_ && s.role === 'initiator' && (s.state === 'connecting' || s.state === 'intermediate' || s.state === 'authenticating'));
    let id = inFlight?.id ?? all.reduce((m, s) => Math.max(m, s.id), 0);
    let retrying = inFlight === undefined;
    const res = this.wait(
      (e) => {
        // An IKE SA of ours starts with its IKE_SA_INIT request; a peer's never sends one.
        if (retrying && e.type === 'message' && e.direction === 'out' && !e.response && e.exchange === ExchangeType.IKE_SA_INIT && e.sa > id && this.connOf(e.sa) === name_) {
          id = e.sa;
          retrying = false;
        }
        const end = endedSa(e);
        if (end?.sa === id) {
          if ((e.type === 'ike-failed' || e.type === 'ike-down') && e.restart && !ikeUp) {
            retrying = true;
            return undefined;
          }
          return `IKE SA ${end.reason}`;
        }
        if (e.type === 'ike-up' && e.sa === id) {
          ikeUp = true;
          if (!wantChild) return 'ok';
        }
        if (e.type === 'child-up' && e.sa === id) return 'ok';
        if (e.type === 'child-failed' && e.sa === id && !e.rekey) return `Child SA '${e.child}' ${e.reason}`;
        return undefined;
      },
      30_000,
      'timed out after 30 s',
    );
    // The waiter is in place before the first datagram goes out: nothing it says is missed.
    if (!inFlight) void this.initiate(c);
    const r = await res;
    const goingOn = (await host.restartPending(name_)) || (await host.list({ sa: id })).some((s) => s.state !== 'established');
    if (!r.ok) return ikeUp ? { ok: false, error: `IKE SA #${id} established, but ${r.error}` } : { ok: false, error: goingOn ? `${r.error}; attempts go on (pqike down ${name_} stops them)` : r.error };
    return { ok: true, data: { sa: id, listing: await this.listSas({ sa: id }) } };
  }

  /** `down <conn>` deletes every IKE SA of the connection; `down <id>` one IKE SA. */
  private async down(target: string | undefined): Promise<ControlResponse> {
    if (target === undefined) return { ok: false, error: 'down needs a connection name or an IKE SA number' };
    if (!this.host) return { ok: false, error: 'daemon not started' };
    const host = this.host;
    const n = saNumber(target);
    const sas = [...(n === undefined ? [] : await host.list({ sa: n })), ...(await host.list({ connection: target })).filter((s) => s.id !== n)];
    const isConn = this.config.connections.some((c) => c.config.name === target);
    // Down on a connection also stops its keyingtries and restarts, SAs or not.
    const pending = isConn && (await host.restartPending(target));
    if (isConn) host.cancelRestarts(target);
    if (sas.length === 0) return pending ? { ok: true, data: { deleted: [], cancelledAttempt: true } } : { ok: false, error: `no IKE SA for '${target}' (see pqike list-sas)` };
    const ids = new Set(sas.map((s) => s.id));
    const gone = this.wait(
      (e) => {
        const end = endedSa(e);
        if (end && ids.delete(end.sa) && ids.size === 0) return 'ok';
        return undefined;
      },
      15_000,
      'timed out waiting for the peer to confirm the delete',
    );
    for (const s of sas) host.terminate(s.id);
    const r = await gone;
    return r.ok ? { ok: true, data: { deleted: sas.map((s) => s.id) } } : r;
  }

  private async rekey(target: string | undefined, childSpi: string | undefined): Promise<ControlResponse> {
    const host = this.host;
    const n = saNumber(target);
    const sa = host && ((n === undefined ? undefined : (await host.list({ sa: n }))[0]) ?? (target === undefined ? undefined : (await host.list({ connection: target, limit: 1 }))[0]));
    if (!sa || !host) return { ok: false, error: `no IKE SA '${target ?? ''}' (see pqike list-sas)` };
    if (childSpi !== undefined) {
      const spi = parseInt(childSpi.replace(/_i$/, ''), 16);
      const ok = await host.rekeyChild(sa.id, spi);
      if (!ok) return { ok: false, error: `IKE SA #${sa.id} has no Child SA with inbound SPI ${childSpi}` };
      // The Child SA moves along if its IKE SA is rekeyed meanwhile (RFC 7296 §2.18).
      let on = sa.id;
      let made: { sa: number; child: string; spiIn: string; old: string } | undefined;
      const r = await this.wait(
        (e) => {
          if (e.type === 'child-up' && e.child.rekeyOf === spi) {
            made = { sa: e.sa, child: e.child.name, spiIn: hex32(e.child.spiIn), old: hex32(spi) };
            return 'ok';
          }
          if (e.type === 'ike-rekeyed' && e.old === on) on = e.sa;
          const end = endedSa(e);
          return end?.sa === on ? `IKE SA #${on} ${end.reason} before the Child SA was rekeyed` : undefined;
        },
        30_000,
        'Child SA rekey timed out',
      );
      return r.ok && made ? { ok: true, data: made } : r;
    }
    const ok = await host.rekeyIke(sa.id);
    if (!ok) return { ok: false, error: `IKE SA #${sa.id} cannot be rekeyed now (state ${sa.state})` };
    // The new IKE SA is the one the event names (the survivor of a collision, RFC 7296 §2.8.2).
    let made: number | undefined;
    const r = await this.wait(
      (e) => {
        if (e.type === 'ike-rekeyed' && e.old === sa.id) {
          made = e.sa;
          return 'ok';
        }
        const end = endedSa(e);
        return end?.sa === sa.id ? `IKE SA #${sa.id} ${end.reason} before it was rekeyed` : undefined;
      },
      30_000,
      'IKE SA rekey timed out',
    );
    return r.ok && made !== undefined ? { ok: true, data: { old: sa.id, sa: made } } : r;
  }

  /** The IKE SAs as the control socket lists them: all, or those the filter names. */
  async listSas(filter?: SaFilter): Promise<SaView[]> {
    if (!this.host) return [];
    return (await this.host.describe(filter)).map((l) => toView(l, (spiIn, spiOut, peer) => this.childUsage(spiIn, spiOut, peer)));
  }

  /** Both directions of a Child SA as the plane counts them (undefined: the plane does not count). */
  private childUsage(spiIn: number, spiOut: number, peer: string): ChildUsage | undefined {
    const p = this.plane;
    const i = p?.usage(spiIn, 'in');
    const o = p?.usage(spiOut, 'out', peer);
    if (!i && !o) return undefined;
    return { in: i, out: o };
  }

  listConns(): object[] {
    return this.config.connections.map((c) => ({
      name: c.config.name,
      local: c.config.localAddress,
      remote: c.config.remoteAddress,
      localId: formatIdentity(c.config.localId),
      remoteId: c.config.remoteId ? formatIdentity(c.config.remoteId) : '%any',
      proposals: c.config.ikeProposals.map((p) => p.text),
      dpdDelayMs: c.config.dpdDelayMs ?? 0,
      rekeyTimeMs: c.config.ikeRekeyTimeMs,
      childless: c.config.childless ?? 'no',
      children: c.config.children.map((ch) => ({
        name: ch.name,
        localTs: ch.localTs.map(formatSelector),
        remoteTs: ch.remoteTs.map(formatSelector),
        espProposals: ch.espProposals.map((p) => p.text),
        mode: ch.mode,
        startAction: c.startActions.get(ch.name) ?? 'none',
        rekeyTimeMs: ch.rekeyTimeMs,
      })),
    }));
  }

  /**
   * Re-read the file; if it is valid, apply the differences: removed or changed connections
   * lose their SAs, added or changed ones get their start actions, unchanged ones are left
   * alone. An invalid file changes nothing.
   */
  async reload(): Promise<ControlResponse> {
    let next: DaemonConfig;
    try {
      next = loadConfig(this.opts.configPath);
    } catch (e) {
      const msg = e instanceof ConfigError ? e.problems.join('\n') : e instanceof Error ? e.message : String(e);
      this.logger.error(`reload refused, nothing changed:\n${msg}`);
      return { ok: false, error: `configuration not reloaded, nothing changed:\n${msg}` };
    }
    const old_ = this.config;
    const old = new Map(this.config.connections.map((c) => [c.config.name, c]));
    const added: string[] = [];
    const changed: string[] = [];
    const unchanged: string[] = [];
    const removed: string[] = [];
    // Only the PPKs differ: the running SAs keep going and take them (RFC 9867 §3.2, ppk_rekey).
    const ppkRefreshed: string[] = [];
    for (const c of next.connections) {
      const before = old.get(c.config.name);
      if (!before) added.push(c.config.name);
      else if (before.fingerprint === c.fingerprint) unchanged.push(c.config.name);
      else if (before.shape === c.shape) ppkRefreshed.push(c.config.name);
      else changed.push(c.config.name);
    }
    for (const name of old.keys()) if (!next.connections.some((c) => c.config.name === name)) removed.push(name);
    for (const name of [...removed, ...changed]) {
      for (const s of (await this.engines.list()).filter((x) => x.connection === name)) this.engines.terminate(s.id);
      this.engines.removeConnection(name);
    }
    this.config = { ...next, connections: next.connections.map((c) => (unchanged.includes(c.config.name) ? (old.get(c.config.name) ?? c) : c)) };
    for (const addr of localAddresses(next.connections)) await this.host?.addAddress(addr);
    const fresh = this.config.connections.filter((c) => added.includes(c.config.name) || changed.includes(c.config.name));
    this.host?.addConnections(fresh);
    this.host?.replaceConnections(this.config.connections.filter((c) => ppkRefreshed.includes(c.config.name)));
    for (const c of fresh) this.applyStartActions(c);
    // Only connections are applied live; say so for the settings that need a restart.
    const restart: string[] = [];
    if (next.port !== old_.port) restart.push('port');
    if (next.workers !== old_.workers) restart.push('workers');
    if (next.control.socket !== old_.control.socket) restart.push('control.socket');
    if (JSON.stringify(next.log) !== JSON.stringify(old_.log)) restart.push('log');
    if (JSON.stringify(next.metrics) !== JSON.stringify(old_.metrics)) restart.push('metrics');
    if (next.exportKeys !== old_.exportKeys) restart.push('export_keys');
    if (JSON.stringify(next.limits) !== JSON.stringify(old_.limits)) restart.push('limits');
    if (restart.length > 0) this.logger.warn(`reload: changes to ${restart.join(', ')} take effect after a restart`);
    const refreshed = ppkRefreshed.length > 0 ? `, ${ppkRefreshed.length} with new PPKs for their running SAs` : '';
    this.logger.info(`reloaded: ${added.length} added, ${changed.length} changed, ${removed.length} removed, ${unchanged.length} unchanged${refreshed}`);
    return { ok: true, data: { added, changed, removed, unchanged, ...(ppkRefreshed.length > 0 ? { ppkRefreshed } : {}), needRestart: restart } };
  }

  /** Delete every SA (waiting briefly for the peers), clean the data plane, close everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const host = this.host;
    const sas = host ? await host.list() : [];
    if (sas.length > 0 && host) {
      this.logger.info(`shutting down: deleting ${sas.length} IKE SA(s)`);
      const ids = new Set(sas.map((s) => s.id));
      const gone = this.wait(
        (e) => {
          const end = endedSa(e);
          return end && ids.delete(end.sa) && ids.size === 0 ? 'ok' : undefined;
        },
        3000,
        'peers did not confirm',
      );
      for (const s of sas) host.terminate(s.id);
      await gone;
    }
    await this.plane?.close();
    this.keys?.close();
    await this.host?.close();
    await new Promise<void>((resolve) => (this.control ? this.control.close(() => resolve()) : resolve()));
    try {
      unlinkSync(this.config.control.socket);
    } catch {
      /* already gone */
    }
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    this.logger.info('stopped');
    this.stderrLog?.flush();
    this.unhookLogFlush?.();
    this.unhookLogFlush = undefined;
  }
}

