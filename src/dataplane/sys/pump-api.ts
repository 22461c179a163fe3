/**
 * The contract between the packet pump (pump.ts, main thread), its worker (pump-worker.ts) and
 * a per-packet processor module that runs inside the worker (the userspace ESP plane: encrypt
 * what the TUN gives, decrypt what the ESP sockets give, without crossing to the main thread).
 *
 * A processor module's default export (or named export `createProcessor`) is a
 * ProcessorFactory. Everything in it runs synchronously on the worker thread: the worker's loop
 * blocks in poll(), so its event loop never turns — no timers, no promises, no async crypto
 * (node:crypto's createCipheriv/createDecipheriv are synchronous and fine).
 */
import type { MessagePort } from 'node:worker_threads';
import type { SockAddr } from './sockaddr.js';

/** What an fd of the pump is. */
export type PortKind =
  /** A TUN queue: read → one IP packet from the kernel; send → one IP packet into the kernel. */
  | 'tun'
  /** Raw IPv4 socket, protocol 50: read → the ESP packet (IPv4 header stripped) and its source; send → ESP to a destination. */
  | 'esp4'
  /** Raw IPv6 socket, protocol 50: read → the ESP packet and its source; send → ESP to a destination. */
  | 'esp6'
  /** A UDP socket (ESP in UDP, RFC 3948, e.g. the daemon's 4500 socket, read: false): datagrams with address and port. */
  | 'udp'
  /** No fd: packets the main thread injects (pump.inject), e.g. ESP the UdpDriver received on 4500. */
  | 'inject';

export interface PortSpec {
  /** The name processors and pump.send use. */
  readonly name: string;
  readonly kind: PortKind;
  /** The fd (not for 'inject'). It stays the caller's unless `own` is true. */
  readonly fd?: number;
  /** Poll and read this fd in the worker (default true; false: send only, like a socket node:dgram reads). */
  readonly read?: boolean;
  /** Close the fd when the pump closes (default false). */
  readonly own?: boolean;
}

/** A destination prepared once (ctx.address), so that sending does not parse text per packet. */
export interface PreparedAddr {
  readonly name: Uint8Array;
  readonly nameLen: number;
  readonly addr: SockAddr;
}

/**
 * Where a packet came from. The same object is reused for every packet: read it inside
 * onPacket, do not keep it.
 */
export interface PacketSource {
  /** The port's name and kind. */
  readonly port: string;
  readonly kind: PortKind;
  /** Sender address (and UDP port) for socket and injected packets; null for TUN. */
  from(): SockAddr | null;
}

export interface PumpContext {
  /** The ports by name (order as given to the pump). */
  readonly ports: readonly string[];
  /**
   * Queue a packet out of a port: TUN (to: none), raw ESP or UDP (to: destination; omitted for a
   * connected socket). Copied at once; sent in a batch (sendmmsg) at the end of the current
   * burst. False: dropped (queue full).
   */
  send(port: string, data: Uint8Array, to?: SockAddr | PreparedAddr | null): boolean;
  /** Encode a destination once for many sends. */
  address(addr: SockAddr): PreparedAddr;
  /** Hand a packet to the main thread (the pump's onPacket / onBatch), copied, batched. */
  deliver(data: Uint8Array, source: PacketSource): void;
  /** Send a message (an event: SA expired, acquire, counters...) to the main thread's onMessage. */
  post(message: unknown): void;
  /** Milliseconds, monotonic (performance.now of the worker). */
  now(): number;
}

export interface PacketProcessor {
  /** One packet read from a port, or injected by the main thread. `data` is only valid during the call. */
  onPacket(data: Uint8Array, source: PacketSource, ctx: PumpContext): void;
  /** A message from the main thread (pump.post): SA added/removed, keys, policies... */
  onMessage?(message: unknown, ctx: PumpContext): void;
  /** Called about every `tickMs` (lifetimes, counters). */
  onTick?(now: number, ctx: PumpContext): void;
  /** After each burst of packets, before the queued sends go out. */
  onBurstEnd?(ctx: PumpContext): void;
  /** The pump is closing: last chance to post. */
  close?(ctx: PumpContext): void;
}

export type ProcessorFactory = (options: unknown, ctx: PumpContext) => PacketProcessor;

/** Per-port counters, in a SharedArrayBuffer the main thread reads without asking. */
export const COUNTERS_PER_PORT = 6;
export const C_RX = 0;
export const C_TX = 1;
export const C_RX_DROP = 2;
export const C_TX_DROP = 3;
export const C_RX_BYTES = 4;
export const C_TX_BYTES = 5;

/* Messages main -> worker (on the pump's MessageChannel, read with receiveMessageOnPort). */
export type ToWorker =
  /** Packets from the main thread: `buf` holds them back to back; per packet: port index, length, optional address. */
  | { readonly t: 'pkts'; readonly buf: ArrayBuffer; readonly ports: Uint8Array; readonly lens: Uint32Array; readonly to: ReadonlyArray<SockAddr | null>; readonly inject: boolean }
  | { readonly t: 'msg'; readonly m: unknown }
  | { readonly t: 'stop' };

/* Messages worker -> main. */
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'pkts'; readonly buf: ArrayBuffer; readonly ports: Uint8Array; readonly lens: Uint32Array; readonly from: ReadonlyArray<SockAddr | null> }
  | { readonly t: 'msg'; readonly m: unknown }
  | { readonly t: 'error'; readonly message: string; readonly stack?: string }
  | { readonly t: 'closed' };

export interface PumpWorkerData {
  readonly ports: readonly PortSpec[];
  readonly wakeFd: number;
  readonly port: MessagePort;
  readonly counters: SharedArrayBuffer;
  readonly processor?: { readonly module: string; readonly options?: unknown };
  readonly burst: number;
  readonly tickMs: number;
  readonly slotSize: number;
}
