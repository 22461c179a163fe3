/**
 * Runs an IkeEngine on a real UDP socket (node:dgram) with the real clock: datagrams in,
 * datagrams and events out, one timer armed for the engine's next deadline.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { IkeEngine } from '../engine/engine.js';
import type { Endpoint, EngineEvent } from '../engine/types.js';

export interface UdpDriverOptions {
  readonly address: string;
  /** 0 picks a free port (tests, demo); 500 for a real gateway. */
  readonly port: number;
  readonly onEvent?: (e: EngineEvent) => void;
  /** The clock; Date.now by default. */
  readonly now?: () => number;
}

export class UdpDriver {
  private socket?: dgram.Socket;
  private timer?: NodeJS.Timeout;
  private local: Endpoint;
  private readonly now: () => number;

  constructor(
    readonly engine: IkeEngine,
    private readonly opts: UdpDriverOptions,
  ) {
    this.local = { address: opts.address, port: opts.port };
    this.now = opts.now ?? Date.now;
  }

  /** Bind the socket; resolves with the local endpoint actually bound. */
  async start(): Promise<Endpoint> {
    const type = isIP(this.opts.address) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, reuseAddr: false });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, this.opts.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const a = socket.address();
    this.local = { address: this.opts.address, port: a.port };
    socket.on('message', (msg, rinfo) => {
      this.engine.receive(msg, { address: rinfo.address, port: rinfo.port }, this.local, this.now());
      this.flush();
    });
    socket.on('error', (err) => this.opts.onEvent?.({ type: 'log', level: 'error', message: `socket: ${err.message}` }));
    return this.local;
  }

  get endpoint(): Endpoint {
    return this.local;
  }

  initiate(connection: string, remote: Endpoint): number {
    const id = this.engine.initiate(connection, this.now(), { local: this.local, remote });
    this.flush();
    return id;
  }

  terminate(id: number): void {
    this.engine.terminate(id, this.now());
    this.flush();
  }

  /** Send what the engine produced, report its events, re-arm the timer. */
  flush(): void {
    for (const out of this.engine.drain()) {
      if (out.kind === 'send') this.socket?.send(out.data, out.to.port, out.to.address);
      else this.opts.onEvent?.(out.event);
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.engine.nextDeadline();
    if (at === undefined || !this.socket) return;
    this.timer = setTimeout(() => {
      this.engine.tick(this.now());
      this.flush();
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
