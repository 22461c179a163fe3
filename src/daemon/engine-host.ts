/**
 * What the daemon asks of its engine(s): the engine on the main thread (LocalEngine, here), or
 * one engine per worker thread behind one dispatch (worker-pool.ts). Questions about SAs are
 * asynchronous, because a worker answers them; the counters a metrics scrape reads are not.
 */
import { IkeEngine } from '../engine/engine.js';
import type { Endpoint, EngineEvent, EngineOptions, IkeSaInfo, SaCensus, SaFilter, SaListing } from '../engine/types.js';
import type { DataPlaneCommand, ExpireKind } from '../engine/dataplane.js';
import type { PlaneSockets } from '../dataplane/plane-api.js';
import type { DropReason } from '../engine/drops.js';
import { UdpDriver } from '../io/udp-driver.js';
import { monotonicMs } from '../io/clock.js';
import type { DaemonConfig, DaemonConnection } from './config.js';

/** IKE_SA_INIT requests waiting for their key exchange (limits.init_limit_job_load). */
const DEFAULT_ADMISSION_QUEUE = 256;

/** The engine options a daemon's configuration gives (the same for each worker's engine). */
export function engineOptions(config: DaemonConfig, extra: Partial<EngineOptions>): EngineOptions {
  return {
    // New IKE SAs wait for their key exchange in a queue the driver serves between socket
    // reads (engine-loop.ts), so that a flood cannot crowd out the messages of existing SAs.
    admissionQueue: DEFAULT_ADMISSION_QUEUE,
    ...config.limits,
    localPort: config.port,
    ...extra,
  };
}

export interface EngineHostOptions {
  readonly addresses: readonly string[];
  readonly port: number;
  readonly sockets?: PlaneSockets;
  /** An engine event; `conn`: the connection of its IKE SA where the engine knew it. */
  readonly onEvent: (e: EngineEvent, conn?: string) => void;
  /** A data plane command; an error text makes it go back to the engine that made it. */
  readonly onDataPlane: (cmd: DataPlaneCommand) => string | undefined;
}

export interface EngineHost {
  start(): Promise<void>;
  close(): Promise<void>;
  addAddress(address: string): Promise<void>;
  initiate(connection: string, remote: Endpoint, localAddress?: string): Promise<number>;
  terminate(id: number): void;
  rekeyIke(id: number): Promise<boolean>;
  rekeyChild(id: number, spiIn: number): Promise<boolean>;
  trap(connection: string, children: readonly string[]): void;
  /** The IKE SAs (all, or those the filter names: one by number is asked of its owner only). */
  list(filter?: SaFilter): Promise<IkeSaInfo[]>;
  describe(filter?: SaFilter): Promise<SaListing[]>;
  /** A keyingtries / dpd_action restart of the connection waits (RestartPlan). */
  restartPending(connection: string): Promise<boolean>;
  cancelRestarts(connection: string): void;
  addConnections(conns: readonly DaemonConnection[]): void;
  /** Connections whose running IKE SAs take the new settings over (fresh PPKs: IkeEngine.replaceConnection). */
  replaceConnections(conns: readonly DaemonConnection[]): void;
  removeConnection(name: string): void;
  expire(spi: number, direction: 'in' | 'out', kind: ExpireKind, peer?: string): void;
  acquire(reqid: number): void;
  /** The connection of an IKE SA, where it can be known at once (the main thread's engine). */
  connectionOf(sa: number): string | undefined;
  census(): SaCensus;
  halfOpen(): number;
  drops(): Readonly<Record<DropReason, number>>;
  /** Bring census/halfOpen/drops up to date (the workers report them on their own every second). */
  refresh(): Promise<void>;
}

/** The engine on the main thread, on the daemon's sockets (udp-driver.ts). */
export class LocalEngine implements EngineHost {
  readonly engine: IkeEngine;
  private readonly driver: UdpDriver;

  constructor(config: DaemonConfig, extra: Partial<EngineOptions>, opts: EngineHostOptions) {
    this.engine = new IkeEngine(engineOptions(config, extra));
    this.driver = new UdpDriver(this.engine, {
      addresses: opts.addresses,
      port: opts.port,
      onEvent: (e) => opts.onEvent(e),
      onDataPlane: (cmd) => {
        const error = opts.onDataPlane(cmd);
        if (error !== undefined) this.engine.dataPlaneFailed(cmd, error, monotonicMs());
      },
      ...(opts.sockets ? { sockets: opts.sockets } : {}),
    });
  }

  async start(): Promise<void> {
    await this.driver.start();
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  addAddress(address: string): Promise<void> {
    return this.driver.addAddress(address);
  }

  initiate(connection: string, remote: Endpoint, localAddress?: string): Promise<number> {
    return Promise.resolve(this.driver.initiate(connection, remote, localAddress));
  }

  terminate(id: number): void {
    this.driver.terminate(id);
  }

  rekeyIke(id: number): Promise<boolean> {
    return Promise.resolve(this.driver.apply((e, now) => e.rekeyIke(id, now)));
  }

  rekeyChild(id: number, spiIn: number): Promise<boolean> {
    return Promise.resolve(this.driver.apply((e, now) => e.rekeyChild(id, spiIn, now)));
  }

  trap(connection: string, children: readonly string[]): void {
    this.driver.apply((e) => e.trap(connection, children));
  }

  list(filter?: SaFilter): Promise<IkeSaInfo[]> {
    return Promise.resolve(this.engine.list(filter));
  }

  describe(filter?: SaFilter): Promise<SaListing[]> {
    return Promise.resolve(this.engine.describe(monotonicMs(), filter));
  }

  restartPending(connection: string): Promise<boolean> {
    return Promise.resolve(this.engine.restarts.pendingFor(connection) !== undefined);
  }

  cancelRestarts(connection: string): void {
    this.engine.restarts.cancel(connection);
  }

  addConnections(conns: readonly DaemonConnection[]): void {
    for (const c of conns) this.engine.addConnection(c.config);
  }

  replaceConnections(conns: readonly DaemonConnection[]): void {
    for (const c of conns) this.engine.replaceConnection(c.config);
  }

  removeConnection(name: string): void {
    this.engine.removeConnection(name);
  }

  expire(spi: number, direction: 'in' | 'out', kind: ExpireKind, peer?: string): void {
    this.driver.apply((e, now) => e.expire(spi, direction, kind, now, peer));
  }

  acquire(reqid: number): void {
    this.driver.apply((e, now) => e.acquire(reqid, now));
  }

  connectionOf(sa: number): string | undefined {
    return this.engine.connectionOf(sa);
  }

  census(): SaCensus {
    return this.engine.census();
  }

  halfOpen(): number {
    return this.engine.guard.halfOpenCount;
  }

  drops(): Readonly<Record<DropReason, number>> {
    return this.engine.drops();
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }
}
