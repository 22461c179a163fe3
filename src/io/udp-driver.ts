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
  /**
   * Second socket for NAT traversal (RFC 3948: IKE behind a 4-byte non-ESP marker, ESP in
   * UDP). Default: 4500 when `port` is 500, none otherwise.
   */
  readonly nattPort?: number;
}

const NON_ESP_MARKER = new Uint8Array(4);

export class UdpDriver {
  private socket?: dgram.Socket;
  private natt?: dgram.Socket;
  private nattLocal?: Endpoint;
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

  private async bind(port: number): Promise<dgram.Socket> {
    const type = isIP(this.opts.address) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.opts.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.opts.onEvent?.({ type: 'log', level: 'error', message: `socket: ${err.message}` }));
    return socket;
  }

  /** Bind the socket(s); resolves with the local IKE endpoint actually bound. */
  async start(): Promise<Endpoint> {
    const socket = await this.bind(this.opts.port);
    this.socket = socket;
    this.local = { address: this.opts.address, port: socket.address().port };
    socket.on('message', (msg, rinfo) => {
      this.engine.receive(msg, { address: rinfo.address, port: rinfo.port }, this.local, this.now());
      this.flush();
    });
    const nattPort = this.opts.nattPort ?? (this.local.port === 500 ? 4500 : undefined);
    if (nattPort !== undefined) {
      const natt = await this.bind(nattPort);
      this.natt = natt;
      const nattLocal = { address: this.opts.address, port: natt.address().port };
      this.nattLocal = nattLocal;
      natt.on('message', (msg, rinfo) => {
        // RFC 3948 §2.2: IKE after a zero non-ESP marker; a lone 0xFF is a NAT keepalive (§2.3);
        // anything else is ESP for the data plane.
        if (msg.length < 4 || msg.readUInt32BE(0) !== 0) return;
        this.engine.receive(msg.subarray(4), { address: rinfo.address, port: rinfo.port }, nattLocal, this.now());
        this.flush();
      });
    }
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

  /** Run an engine command (rekey, delete, ...) at the current time and send what it produces. */
  apply<T>(command: (engine: IkeEngine, now: number) => T): T {
    const result = command(this.engine, this.now());
    this.flush();
    return result;
  }

  /** Send what the engine produced, report its events, re-arm the timer. */
  flush(): void {
    for (const out of this.engine.drain()) {
      if (out.kind === 'send') {
        if (this.natt && this.nattLocal && out.from.port === this.nattLocal.port) {
          this.natt.send([NON_ESP_MARKER, out.data], out.to.port, out.to.address);
        } else this.socket?.send(out.data, out.to.port, out.to.address);
      }
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
    for (const s of [this.socket, this.natt]) if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    this.socket = undefined;
    this.natt = undefined;
  }
}
