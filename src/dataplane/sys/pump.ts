/**
 * PacketPump: moves packets between fds (TUN queues, raw ESP sockets, UDP sockets) and a
 * per-packet processor on a worker thread, so that the main thread (IKE, control socket) never
 * blocks on a packet read and never handles a packet it does not have to.
 *
 *   const pump = await PacketPump.start({
 *     ports: [{ name: 'tun', kind: 'tun', fd: tun.fds[0], own: false },
 *             { name: 'esp4', kind: 'esp4', fd: espFd, own: true }],
 *     processor: { module: '/path/to/esp-processor.js', options: {...} },  // runs in the worker
 *     onPacket: (pkt, port, from) => ...,   // what the processor (or, without one, every read) delivers
 *     onMessage: (m) => ...,                // what the processor posts (expire, acquire, ...)
 *   });
 *   pump.post({ op: 'add-sa', ... });       // to the processor's onMessage, in order with sends
 *   pump.send('tun', ipPacket);             // out of a port, unchanged
 *   pump.inject('natt', espInUdp, from);    // into the processor as if read from port 'natt'
 *   await pump.close();                     // stops the worker, then closes the fds it owns
 *
 * Why a worker with blocking poll() and not fs.read / koffi async calls on libuv's threadpool,
 * and why per-packet work stays in the worker: bench/sys-pump-compare.ts, numbers in
 * README.md beside this file.
 *
 * Main -> worker: packets and messages of one tick go as one MessagePort message (the packets
 * back to back in one transferred ArrayBuffer), then one write to an eventfd the worker polls;
 * the worker takes messages with receiveMessageOnPort, without an event-loop turn.
 * Worker -> main: the packets delivered during one burst of reads as one message.
 */
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, closeFd, libc } from './libc.js';
import {
  COUNTERS_PER_PORT,
  C_RX,
  C_RX_BYTES,
  C_RX_DROP,
  C_TX,
  C_TX_BYTES,
  C_TX_DROP,
  type FromWorker,
  type PortSpec,
  type PumpWorkerData,
  type ToWorker,
} from './pump-api.js';
import type { SockAddr } from './sockaddr.js';

export type { PortSpec, PortKind, PacketProcessor, PumpContext, PacketSource, ProcessorFactory, PreparedAddr } from './pump-api.js';

export interface DeliveredPacket {
  /** A view into the message's buffer (valid as long as you keep it; no copy was made). */
  readonly data: Buffer;
  readonly port: string;
  readonly from: SockAddr | null;
}

export interface PumpOptions {
  readonly ports: readonly PortSpec[];
  /** A processor module (path or file: URL) for the worker; default: deliver everything to onPacket. */
  readonly processor?: { readonly module: string | URL; readonly options?: unknown };
  readonly onPacket?: (data: Buffer, port: string, from: SockAddr | null) => void;
  /** All packets of one worker burst at once (called before onPacket for each). */
  readonly onBatch?: (packets: readonly DeliveredPacket[]) => void;
  readonly onMessage?: (message: unknown) => void;
  /** The worker failed (the pump is then closed). Default: throw on the main thread. */
  readonly onError?: (error: Error) => void;
  /** Packets read from one fd before the next fd gets its turn (and per sendmmsg). Default 64. */
  readonly burst?: number;
  /** processor.onTick interval. Default 1000 ms. */
  readonly tickMs?: number;
  /** Largest packet (buffer slot). Default 2048: MTU 1500 plus ESP overhead. */
  readonly slotSize?: number;
}

export interface PortCounters {
  rx: number;
  tx: number;
  rxDropped: number;
  txDropped: number;
  rxBytes: number;
  txBytes: number;
}

const MAX_PENDING_BYTES = 1 << 18;

export class PacketPump {
  private readonly worker: Worker;
  private readonly port: MessageChannel['port1'];
  private wakeFd: number;
  private readonly counterView: Float64Array;
  private readonly portIndex: Map<string, number>;
  private state: 'starting' | 'running' | 'closing' | 'closed' = 'starting';
  private readonly exited: Promise<void>;
  private closedMsg!: () => void;
  private readonly closedPromise: Promise<void>;
  /* Pending main -> worker packets. */
  private pend: { port: number; data: Uint8Array; to: SockAddr | null; inject: boolean }[] = [];
  private pendBytes = 0;
  private flushQueued = false;
  private failure: Error | undefined;

  private constructor(
    private readonly opts: PumpOptions,
    ready: { resolve: () => void; reject: (e: Error) => void },
  ) {
    const names = new Set<string>();
    for (const p of opts.ports) {
      if (names.has(p.name)) throw new Error(`pump: port name ${p.name} twice`);
      names.add(p.name);
      if (p.kind !== 'inject' && (p.fd === undefined || p.fd < 0)) throw new Error(`pump: port ${p.name} needs an fd`);
    }
    if (opts.ports.length > 255) throw new Error('pump: at most 255 ports');
    this.portIndex = new Map(opts.ports.map((p, i) => [p.name, i]));
    const c = libc();
    this.wakeFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), 'eventfd', 'pump wake-up');
    const counters = new SharedArrayBuffer(opts.ports.length * COUNTERS_PER_PORT * 8);
    this.counterView = new Float64Array(counters);
    const channel = new MessageChannel();
    this.port = channel.port1;
    const module = opts.processor?.module;
    const data: PumpWorkerData = {
      ports: opts.ports.map((p) => ({ ...p })),
      wakeFd: this.wakeFd,
      port: channel.port2,
      counters,
      burst: opts.burst ?? 64,
      tickMs: opts.tickMs ?? 1000,
      slotSize: opts.slotSize ?? 2048,
      ...(module !== undefined
        ? { processor: { module: module instanceof URL ? module.href : module, ...(opts.processor?.options !== undefined ? { options: opts.processor.options } : {}) } }
        : {}),
    };
    this.closedPromise = new Promise<void>((r) => (this.closedMsg = r));
    this.worker = new Worker(fileURLToPath(new URL('./pump-worker.js', import.meta.url)), {
      workerData: data,
      transferList: [channel.port2],
    });
    this.port.on('message', (m: FromWorker) => this.fromWorker(m, ready));
    this.worker.on('error', (e) => {
      this.fail(e, ready);
    });
    this.exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    void this.exited.then(() => {
      // The worker's last messages (an error report) may still be queued behind its exit.
      for (let r = receiveMessageOnPort(this.port); r; r = receiveMessageOnPort(this.port)) this.fromWorker(r.message as FromWorker, ready);
      if (this.state === 'starting') ready.reject(this.failure ?? new Error('pump worker exited before it was ready'));
      if (this.state === 'running') this.fail(new Error('pump worker exited'), ready);
    });
  }

  /** Start the worker; resolves once the processor is loaded and the loop runs. */
  static async start(opts: PumpOptions): Promise<PacketPump> {
    let pump: PacketPump | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      pump = new PacketPump(opts, { resolve, reject });
    });
    try {
      await ready;
    } catch (e) {
      await pump?.close().catch(() => undefined);
      throw e;
    }
    if (!pump) throw new Error('unreachable');
    return pump;
  }

  private fail(e: Error, ready: { reject: (e: Error) => void }): void {
    this.failure ??= e;
    if (this.state === 'starting') {
      ready.reject(e);
      return;
    }
    if (this.state === 'running') {
      this.state = 'closing';
      void this.close();
      if (this.opts.onError) this.opts.onError(e);
      else throw e;
    }
  }

  private fromWorker(m: FromWorker, ready: { resolve: () => void; reject: (e: Error) => void }): void {
    switch (m.t) {
      case 'ready':
        if (this.state === 'starting') this.state = 'running';
        ready.resolve();
        return;
      case 'msg':
        this.opts.onMessage?.(m.m);
        return;
      case 'pkts': {
        const names = this.opts.ports;
        const list: DeliveredPacket[] = [];
        let off = 0;
        for (let i = 0; i < m.lens.length; i++) {
          const len = m.lens[i] ?? 0;
          list.push({ data: Buffer.from(m.buf, off, len), port: names[m.ports[i] ?? 0]?.name ?? '', from: m.from[i] ?? null });
          off += len;
        }
        this.opts.onBatch?.(list);
        const on = this.opts.onPacket;
        if (on) for (const p of list) on(p.data, p.port, p.from);
        return;
      }
      case 'error': {
        const e = new Error(`pump worker: ${m.message}`);
        if (m.stack) e.stack = m.stack;
        this.fail(e, ready);
        return;
      }
      case 'closed':
        this.closedMsg();
        return;
    }
  }

  private index(port: string): number {
    const i = this.portIndex.get(port);
    if (i === undefined) throw new Error(`pump: no port ${port}`);
    return i;
  }

  private enqueue(port: string, data: Uint8Array, to: SockAddr | null, inject: boolean): void {
    if (this.state !== 'running') throw new Error(`pump is ${this.state}`);
    const i = this.index(port);
    const spec = this.opts.ports[i];
    if (!inject && spec?.kind === 'inject') throw new Error(`pump: port ${port} only takes inject()`);
    this.pend.push({ port: i, data: Uint8Array.from(data), to, inject });
    this.pendBytes += data.length;
    if (this.pendBytes >= MAX_PENDING_BYTES) this.flush();
    else this.scheduleFlush();
  }

  /** Send a packet out of a port unchanged (TUN: into the kernel; sockets: to `to` or the connected peer). */
  send(port: string, data: Uint8Array, to: SockAddr | null = null): void {
    this.enqueue(port, data, to, false);
  }

  /** Give the processor a packet as if read from `port` (e.g. ESP in UDP that node:dgram received). */
  inject(port: string, data: Uint8Array, from: SockAddr | null = null): void {
    this.enqueue(port, data, from, true);
  }

  /** A message for the processor's onMessage (in order with send/inject). */
  post(message: unknown): void {
    if (this.state !== 'running') throw new Error(`pump is ${this.state}`);
    this.flushPackets();
    this.port.postMessage({ t: 'msg', m: message } satisfies ToWorker);
    this.wake();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** Hand everything pending to the worker now. */
  flush(): void {
    this.flushQueued = false;
    if (this.flushPackets()) this.wake();
  }

  private flushPackets(): boolean {
    if (this.pend.length === 0) return false;
    // One message per kind (send / inject) run, preserving order.
    let start = 0;
    while (start < this.pend.length) {
      const inject = this.pend[start]?.inject ?? false;
      let end = start;
      let bytes = 0;
      while (end < this.pend.length && this.pend[end]?.inject === inject) bytes += this.pend[end++]?.data.length ?? 0;
      const buf = new ArrayBuffer(bytes);
      const u8 = new Uint8Array(buf);
      const ports = new Uint8Array(end - start);
      const lens = new Uint32Array(end - start);
      const to: (SockAddr | null)[] = [];
      let off = 0;
      for (let i = start; i < end; i++) {
        const p = this.pend[i];
        if (!p) continue;
        u8.set(p.data, off);
        off += p.data.length;
        ports[i - start] = p.port;
        lens[i - start] = p.data.length;
        to.push(p.to);
      }
      this.port.postMessage({ t: 'pkts', buf, ports, lens, to, inject } satisfies ToWorker, [buf, ports.buffer, lens.buffer]);
      start = end;
    }
    this.pend = [];
    this.pendBytes = 0;
    return true;
  }

  private wake(): void {
    if (this.wakeFd < 0) return;
    const one = Buffer.alloc(8);
    one.writeUInt8(1, 0);
    libc().write(this.wakeFd, one, 8);
  }

  /** Counters per port, read from shared memory (no round trip to the worker). */
  counters(): Record<string, PortCounters> {
    const out: Record<string, PortCounters> = {};
    this.opts.ports.forEach((p, i) => {
      const b = i * COUNTERS_PER_PORT;
      const v = (k: number): number => this.counterView[b + k] ?? 0;
      out[p.name] = { rx: v(C_RX), tx: v(C_TX), rxDropped: v(C_RX_DROP), txDropped: v(C_TX_DROP), rxBytes: v(C_RX_BYTES), txBytes: v(C_TX_BYTES) };
    });
    return out;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /**
   * Stop: pending sends go out, the processor's close runs, the worker ends, then the fds the
   * pump owns and its eventfd are closed. Idempotent.
   */
  async close(timeoutMs = 3000): Promise<void> {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'running' || this.state === 'starting';
    this.state = 'closing';
    try {
      if (wasUp) {
        this.flushPackets();
        this.port.postMessage({ t: 'stop' } satisfies ToWorker);
        this.wake();
      }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      const how = await Promise.race([this.exited.then(() => 'exited' as const), timer]);
      // The worker blocks in poll() at most tickMs, so terminate takes effect by then.
      if (how === 'timeout') await this.worker.terminate();
      await this.exited;
    } finally {
      this.state = 'closed';
      this.port.close();
      closeFd(this.wakeFd);
      this.wakeFd = -1;
      for (const p of this.opts.ports) if (p.own && p.fd !== undefined) closeFd(p.fd);
    }
  }

  /** Resolves when the worker reported a clean close (processor closed, last sends out). */
  get closedCleanly(): Promise<void> {
    return this.closedPromise;
  }
}
