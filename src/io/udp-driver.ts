/**
 * Runs an IkeEngine on a real UDP socket (node:dgram) with the real clock: datagrams in,
 * datagrams and events out, one timer armed for the engine's next deadline.
 *
 * Datagrams are handed to the engine as they are read; what the engine produced is sent once
 * per turn of the event loop (setImmediate), after everything read in that turn. An engine
 * with an admission queue (EngineOptions.admissionQueue) runs new IKE SAs' key exchanges in
 * that turn, for a little time when the turn read a full batch (the sockets are not drained:
 * libuv reads at most 32 datagrams per socket per turn) and for longer when it did not: under
 * a flood the sockets are read first, so the kernel's receive queue stays short and the
 * messages of existing SAs are neither dropped nor delayed behind it (RFC 8019 §4).
 */
import { monotonicMs } from './clock.js';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { IkeEngine } from '../engine/engine.js';
import type { Endpoint, EngineEvent } from '../engine/types.js';
import type { DataPlaneCommand } from '../engine/dataplane.js';
import type { PlaneSockets } from '../dataplane/plane-api.js';

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

const NON_ESP_MARKER = new Uint8Array(4);
/** Time per event-loop turn for queued IKE_SA_INIT requests: after a turn that read a full batch, and otherwise. */
const ADMIT_BUDGET_BUSY_MS = 0.5;
const ADMIT_BUDGET_IDLE_MS = 5;
/** libuv's datagrams per socket and turn (uv__udp_recvmsg): a turn that read this many left more behind. */
const READ_BATCH = 32;

/** The sockets of one local address. */
interface Bind {
  readonly address: string;
  readonly ike: dgram.Socket;
  readonly local: Endpoint;
  readonly natt?: dgram.Socket;
  readonly nattLocal?: Endpoint;
}

export class UdpDriver {
  private binds: Bind[] = [];
  private timer?: NodeJS.Timeout;
  private turn?: NodeJS.Immediate;
  /** Datagrams read since the last turn. */
  private readsThisTurn = 0;
  private readonly now: () => number;
  private readonly addresses: readonly string[];

  constructor(
    readonly engine: IkeEngine,
    private readonly opts: UdpDriverOptions,
  ) {
    this.addresses = opts.addresses ?? (opts.address === undefined ? [] : [opts.address]);
    if (this.addresses.length === 0) throw new Error('UdpDriver needs an address to bind');
    this.now = opts.now ?? monotonicMs;
  }

  private async bindOne(address: string, port: number): Promise<dgram.Socket> {
    const type = isIP(address) === 6 ? 'udp6' : 'udp4';
    // A larger receive buffer rides out event-loop stalls under a flood (the kernel caps it at
    // twice net.core.rmem_max).
    const socket = dgram.createSocket({ type, reuseAddr: false, recvBufferSize: 4 * 1024 * 1024, ...(type === 'udp6' ? { ipv6Only: true } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return this.watch(socket, address);
  }

  private watch(socket: dgram.Socket, address: string): dgram.Socket {
    socket.on('error', (err) => this.opts.onEvent?.({ type: 'log', level: 'error', message: `socket ${address}: ${err.message}` }));
    return socket;
  }

  /** Bind the socket(s); resolves with the first local IKE endpoint actually bound. */
  async start(): Promise<Endpoint> {
    try {
      for (const address of this.addresses) this.binds.push(await this.startOne(address));
    } catch (e) {
      await this.close();
      throw e;
    }
    return this.endpoint;
  }

  /** Bind one more local address while running (a reloaded configuration needs it). */
  async addAddress(address: string): Promise<void> {
    if (this.binds.some((b) => b.address === address)) return;
    this.binds.push(await this.startOne(address));
  }

  get boundAddresses(): string[] {
    return this.binds.map((b) => b.address);
  }

  private async startOne(address: string): Promise<Bind> {
    const make = this.opts.sockets;
    const ike = make?.ike ? this.watch(await make.ike(address, this.opts.port), address) : await this.bindOne(address, this.opts.port);
    const local = { address, port: ike.address().port };
    ike.on('message', (msg, rinfo) => {
      this.engine.receive(msg, { address: rinfo.address, port: rinfo.port }, local, this.now());
      this.received();
    });
    const nattPort = this.opts.nattPort ?? (local.port === 500 ? 4500 : undefined);
    if (nattPort === undefined) return { address, ike, local };
    const natt = make?.natt ? this.watch(await make.natt(address, nattPort), address) : await this.bindOne(address, nattPort);
    const nattLocal = { address, port: natt.address().port };
    natt.on('message', (msg, rinfo) => {
      // RFC 3948 §2.2: IKE after a zero non-ESP marker; a lone 0xFF is a NAT keepalive (§2.3),
      // dropped; more than 8 octets with a non-zero first word is ESP, for the data plane (a
      // kernel plane never lets it reach the socket); anything else is invalid.
      const from = { address: rinfo.address, port: rinfo.port };
      if (msg.length > 4 && msg.readUInt32BE(0) === 0) {
        this.engine.receive(msg.subarray(4), from, nattLocal, this.now());
        this.received();
      } else if (msg.length > 8 && msg.readUInt32BE(0) !== 0) make?.nattPacket?.(msg, from, nattLocal);
    });
    return { address, ike, local, natt, nattLocal };
  }

  /** The first bound IKE endpoint. */
  get endpoint(): Endpoint {
    const b = this.binds[0];
    return b ? b.local : { address: this.addresses[0] ?? '', port: this.opts.port };
  }

  /** The bound IKE endpoint for a local address (the first one for '%any' or unknown). */
  endpointFor(address: string): Endpoint {
    return (this.binds.find((b) => b.address === address) ?? this.binds[0])?.local ?? this.endpoint;
  }

  initiate(connection: string, remote: Endpoint, localAddress?: string): number {
    const local = localAddress === undefined ? this.endpoint : this.endpointFor(localAddress);
    const id = this.engine.initiate(connection, this.now(), { local, remote });
    this.flush();
    return id;
  }

  terminate(id: number): void {
    this.engine.terminate(id, this.now());
    this.flush();
  }

  /** Run an engine command (rekey, delete, ...) at the current time and send what it produces. */
  apply<T>(command: (engine: IkeEngine, now: number) => T): T {
    const result = command(this.engine, this.now());
    this.flush();
    return result;
  }

  /**
   * Apply the engine's data plane commands, then send what it produced and report its events;
   * again while handling them made more (a command that failed goes back into the engine).
   * Then re-arm the timer.
   */
  flush(): void {
    for (let round = 0; round < 8; round++) {
      const commands = this.engine.drainDataPlane();
      for (const cmd of commands) this.opts.onDataPlane?.(cmd);
      const outputs = this.engine.drain();
      if (commands.length === 0 && outputs.length === 0) break;
      for (const out of outputs) {
        if (out.kind === 'event') {
          this.opts.onEvent?.(out.event);
          continue;
        }
        const b = this.binds.find((x) => x.address === out.from.address) ?? this.binds[0];
        if (!b) continue;
        if (b.natt && b.nattLocal && out.from.port === b.nattLocal.port) b.natt.send(out.keepalive ? out.data : [NON_ESP_MARKER, out.data], out.to.port, out.to.address);
        else if (out.keepalive) continue; // only NAT-T has keepalives
        else b.ike.send(out.data, out.to.port, out.to.address);
      }
    }
    this.runTrust();
    this.arm();
  }

  /**
   * Certificate paths the engine waits for (IkeEngine.drainTrust): pkijs validates them
   * asynchronously; each result goes back with trustSettled(), and what it lets the engine
   * send is flushed.
   */
  private runTrust(): void {
    for (const q of this.engine.drainTrust()) {
      void q.run().then(() => {
        if (this.binds.length === 0) return;
        this.engine.trustSettled(q, this.now());
        this.flush();
      });
    }
  }

  /** Count a datagram read; one turn after this one's reads: queued admissions within the budget, then flush. */
  private received(): void {
    this.readsThisTurn++;
    this.schedule();
  }

  private schedule(): void {
    this.turn ??= setImmediate(() => {
      this.turn = undefined;
      if (this.binds.length === 0) return;
      const busy = this.readsThisTurn >= READ_BATCH;
      this.readsThisTurn = 0;
      const budget = busy ? ADMIT_BUDGET_BUSY_MS : ADMIT_BUDGET_IDLE_MS;
      const start = performance.now();
      try {
        // At least one per turn: a queue that never moves would hold every new peer off.
        do this.engine.admitPending(this.now(), 1);
        while (this.engine.pendingAdmissions > 0 && performance.now() - start < budget);
        this.flush();
      } finally {
        // Even if an event handler threw in flush(): the queue keeps moving.
        if (this.engine.pendingAdmissions > 0) this.schedule();
      }
    });
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.engine.nextDeadline();
    if (at === undefined || this.binds.length === 0) return;
    this.timer = setTimeout(() => {
      this.engine.tick(this.now());
      this.flush();
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.turn) {
      // What this turn's datagrams produced still goes out (a response, a data plane command).
      clearImmediate(this.turn);
      this.turn = undefined;
      this.flush();
    }
    if (this.timer) clearTimeout(this.timer);
    const binds = this.binds;
    this.binds = [];
    for (const b of binds) {
      for (const s of [b.ike, b.natt]) if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}
