/**
 * Runs an IkeEngine on real UDP sockets (udp-sockets.ts) with the real clock (engine-loop.ts):
 * datagrams in, datagrams and events out, one timer armed for the engine's next deadline.
 */
import { monotonicMs } from './clock.js';
import type { IkeEngine } from '../engine/engine.js';
import type { Endpoint, EngineEvent } from '../engine/types.js';
import type { DataPlaneCommand } from '../engine/dataplane.js';
import type { PlaneSockets } from '../dataplane/plane-api.js';
import { EngineLoop } from './engine-loop.js';
import { UdpSockets } from './udp-sockets.js';

export interface UdpDriverOptions {
  /** The local address to bind (one of `address` / `addresses`). */
  readonly address?: string;
  /** Several local addresses: one IKE socket (and NAT-T socket) each. */
  readonly addresses?: readonly string[];
  /** 0 picks a free port (tests, demo); 500 for a real gateway. */
  readonly port: number;
  readonly onEvent?: (e: EngineEvent) => void;
  /** The engine's data plane commands (applied before the datagrams of the same flush are sent). */
  readonly onDataPlane?: (cmd: DataPlaneCommand) => void;
  /** The engine's clock; monotonic milliseconds (src/io/clock.ts) by default. */
  readonly now?: () => number;
  /**
   * Second socket for NAT traversal (RFC 3948: IKE behind a 4-byte non-ESP marker, ESP in
   * UDP). Default: 4500 when `port` is 500, none otherwise.
   */
  readonly nattPort?: number;
  /**
   * How the data plane wants the sockets made (kernel: bypass policies, UDP_ENCAP; userspace:
   * a NAT-T fd its worker sends from) and where ESP in UDP received on NAT-T goes.
   */
  readonly sockets?: PlaneSockets;
}

export class UdpDriver {
  private readonly sockets: UdpSockets;
  private readonly loop: EngineLoop;

  constructor(
    readonly engine: IkeEngine,
    opts: UdpDriverOptions,
  ) {
    const addresses = opts.addresses ?? (opts.address === undefined ? [] : [opts.address]);
    this.sockets = new UdpSockets({
      addresses,
      port: opts.port,
      ...(opts.nattPort === undefined ? {} : { nattPort: opts.nattPort }),
      ...(opts.sockets ? { sockets: opts.sockets } : {}),
      onIke: (data, from, local) => this.loop.receive(data, from, local),
      onError: (message) => opts.onEvent?.({ type: 'log', level: 'error', message }),
    });
    this.loop = new EngineLoop(
      engine,
      {
        ...(opts.onDataPlane ? { dataPlane: opts.onDataPlane } : {}),
        ...(opts.onEvent ? { event: opts.onEvent } : {}),
        send: (out) => this.sockets.send(out),
      },
      opts.now ?? monotonicMs,
    );
  }

  /** Bind the socket(s); resolves with the first local IKE endpoint actually bound. */
  start(): Promise<Endpoint> {
    return this.sockets.start();
  }

  /** Bind one more local address while running (a reloaded configuration needs it). */
  addAddress(address: string): Promise<void> {
    return this.sockets.addAddress(address);
  }

  get boundAddresses(): string[] {
    return this.sockets.boundAddresses;
  }

  /** The first bound IKE endpoint. */
  get endpoint(): Endpoint {
    return this.sockets.endpoint;
  }

  /** The bound IKE endpoint for a local address (the first one for '%any' or unknown). */
  endpointFor(address: string): Endpoint {
    return this.sockets.endpointFor(address);
  }

  initiate(connection: string, remote: Endpoint, localAddress?: string): number {
    const local = localAddress === undefined ? this.endpoint : this.endpointFor(localAddress);
    return this.loop.apply((e, now) => e.initiate(connection, now, { local, remote }));
  }

  terminate(id: number): void {
    this.loop.apply((e, now) => e.terminate(id, now));
  }

  /** Run an engine command (rekey, delete, ...) at the current time and send what it produces. */
  apply<T>(command: (engine: IkeEngine, now: number) => T): T {
    return this.loop.apply(command);
  }

  /** Send what the engine produced and report its events (engine-loop.ts). */
  flush(): void {
    this.loop.flush();
  }

  async close(): Promise<void> {
    this.loop.stop();
    await this.sockets.close();
  }
}
