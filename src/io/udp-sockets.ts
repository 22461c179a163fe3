/**
 * The IKE sockets of a gateway (node:dgram): UDP 500 and, for NAT traversal, 4500 on each
 * local address (RFC 7296 §2.23, RFC 3948), with the non-ESP marker on 4500. What is read goes
 * to `onIke` (an engine, or the dispatch to worker threads); what an engine produced is sent
 * with `send`.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Endpoint, EngineOutput } from '../engine/types.js';
import type { PlaneSockets } from '../dataplane/plane-api.js';

export interface UdpSocketsOptions {
  /** Local addresses: one IKE socket (and NAT-T socket) each. */
  readonly addresses: readonly string[];
  /** 0 picks a free port (tests, demo); 500 for a real gateway. */
  readonly port: number;
  /** Second socket for NAT traversal. Default: 4500 when `port` is 500, none otherwise. */
  readonly nattPort?: number;
  /**
   * How the data plane wants the sockets made (kernel: bypass policies, UDP_ENCAP; userspace:
   * a NAT-T fd its worker sends from) and where ESP in UDP received on NAT-T goes.
   */
  readonly sockets?: PlaneSockets;
  /** An IKE message read (without the non-ESP marker), from `from` to our `local`. */
  readonly onIke: (data: Uint8Array, from: Endpoint, local: Endpoint) => void;
  readonly onError?: (message: string) => void;
}

const NON_ESP_MARKER = new Uint8Array(4);

/** The sockets of one local address. */
interface Bind {
  readonly address: string;
  readonly ike: dgram.Socket;
  readonly local: Endpoint;
  readonly natt?: dgram.Socket;
  readonly nattLocal?: Endpoint;
}

export class UdpSockets {
  private binds: Bind[] = [];

  constructor(private readonly opts: UdpSocketsOptions) {
    if (opts.addresses.length === 0) throw new Error('UdpDriver needs an address to bind');
  }

  get open(): boolean {
    return this.binds.length > 0;
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
    socket.on('error', (err) => this.opts.onError?.(`socket ${address}: ${err.message}`));
    return socket;
  }

  /** Bind the socket(s); resolves with the first local IKE endpoint actually bound. */
  async start(): Promise<Endpoint> {
    try {
      for (const address of this.opts.addresses) this.binds.push(await this.startOne(address));
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
    const onIke = this.opts.onIke;
    const ike = make?.ike ? this.watch(await make.ike(address, this.opts.port), address) : await this.bindOne(address, this.opts.port);
    const local = { address, port: ike.address().port };
    ike.on('message', (msg, rinfo) => onIke(msg, { address: rinfo.address, port: rinfo.port }, local));
    const nattPort = this.opts.nattPort ?? (local.port === 500 ? 4500 : undefined);
    if (nattPort === undefined) return { address, ike, local };
    const natt = make?.natt ? this.watch(await make.natt(address, nattPort), address) : await this.bindOne(address, nattPort);
    const nattLocal = { address, port: natt.address().port };
    natt.on('message', (msg, rinfo) => {
      // RFC 3948 §2.2: IKE after a zero non-ESP marker; a lone 0xFF is a NAT keepalive (§2.3),
      // dropped; more than 8 octets with a non-zero first word is ESP, for the data plane (a
      // kernel plane never lets it reach the socket); anything else is invalid.
      const from = { address: rinfo.address, port: rinfo.port };
      if (msg.length > 4 && msg.readUInt32BE(0) === 0) onIke(msg.subarray(4), from, nattLocal);
      else if (msg.length > 8 && msg.readUInt32BE(0) !== 0) make?.nattPacket?.(msg, from, nattLocal);
    });
    return { address, ike, local, natt, nattLocal };
  }

  /** The first bound IKE endpoint. */
  get endpoint(): Endpoint {
    const b = this.binds[0];
    return b ? b.local : { address: this.opts.addresses[0] ?? '', port: this.opts.port };
  }

  /** The bound IKE endpoint for a local address (the first one for '%any' or unknown). */
  endpointFor(address: string): Endpoint {
    return (this.binds.find((b) => b.address === address) ?? this.binds[0])?.local ?? this.endpoint;
  }

  /** Send a datagram an engine produced, from the socket of its local endpoint. */
  send(out: Extract<EngineOutput, { kind: 'send' }>): void {
    const b = this.binds.find((x) => x.address === out.from.address) ?? this.binds[0];
    if (!b) return;
    if (b.natt && b.nattLocal && out.from.port === b.nattLocal.port) b.natt.send(out.keepalive ? out.data : [NON_ESP_MARKER, out.data], out.to.port, out.to.address);
    else if (!out.keepalive) b.ike.send(out.data, out.to.port, out.to.address); // only NAT-T has keepalives
  }

  async close(): Promise<void> {
    const binds = this.binds;
    this.binds = [];
    for (const b of binds) {
      for (const s of [b.ike, b.natt]) if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}
