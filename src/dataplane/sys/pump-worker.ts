/**
 * The pump's worker thread: one synchronous loop that blocks in poll() (through koffi) on the
 * pump's fds and an eventfd the main thread writes to wake it, drains every readable fd in
 * bursts (TUN: read() per packet; sockets: recvmmsg), hands each packet to the processor, sends
 * what the processor queued in batches (sendmmsg; TUN: write() per packet), and takes the main
 * thread's messages with receiveMessageOnPort (no event-loop turn needed).
 *
 * Without a processor module every packet read is delivered to the main thread and every
 * packet the main thread sends goes out unchanged.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { EAGAIN, EINTR, POLLIN, POLLNVAL, SysError, libc } from './libc.js';
import { MmsgBatch } from './mmsg.js';
import {
  COUNTERS_PER_PORT,
  C_RX,
  C_RX_BYTES,
  C_RX_DROP,
  C_TX,
  C_TX_BYTES,
  C_TX_DROP,
  type FromWorker,
  type PacketProcessor,
  type PacketSource,
  type PortKind,
  type PreparedAddr,
  type ProcessorFactory,
  type PumpContext,
  type PumpWorkerData,
  type ToWorker,
} from './pump-api.js';
import { encodeSockAddr, ipv4Text, type SockAddr } from './sockaddr.js';
import { ipv4PayloadOffset } from './sockets.js';

const data = workerData as PumpWorkerData;
const c = libc();
const port = data.port;
const counters = new Float64Array(data.counters);

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

interface Port {
  readonly index: number;
  readonly name: string;
  readonly kind: PortKind;
  readonly fd: number;
  readonly read: boolean;
  /** Receive batch (sockets) and send batch (sockets: sendmmsg). */
  readonly rx?: MmsgBatch;
  readonly tx?: MmsgBatch;
  txCount: number;
}

const ports: Port[] = data.ports.map((p, index) => {
  const socket = p.kind === 'esp4' || p.kind === 'esp6' || p.kind === 'udp';
  const read = p.kind !== 'inject' && (p.read ?? true);
  return {
    index,
    name: p.name,
    kind: p.kind,
    fd: p.fd ?? -1,
    read,
    ...(socket && read ? { rx: new MmsgBatch(data.burst, data.slotSize) } : {}),
    ...(socket ? { tx: new MmsgBatch(data.burst, data.slotSize) } : {}),
    txCount: 0,
  };
});
const byName = new Map(ports.map((p) => [p.name, p]));
const polled = ports.filter((p) => p.read);
const pfds = Buffer.alloc((polled.length + 1) * 8);
polled.forEach((p, i) => {
  pfds.writeInt32LE(p.fd, i * 8);
  pfds.writeInt16LE(POLLIN, i * 8 + 4);
});
pfds.writeInt32LE(data.wakeFd, polled.length * 8);
pfds.writeInt16LE(POLLIN, polled.length * 8 + 4);
const wakeBuf = Buffer.alloc(8);
const tunBuf = Buffer.alloc(data.slotSize);

function count(p: Port, which: number, n = 1): void {
  const i = p.index * COUNTERS_PER_PORT + which;
  counters[i] = (counters[i] ?? 0) + n;
}

/* The reused source object. */
let curPort: Port = ports[0] as Port;
let curFromSlot = -1;
let curFromAddr: SockAddr | null = null;
let curFromRaw4: Uint8Array | null = null;
const source: PacketSource = {
  get port() {
    return curPort.name;
  },
  get kind() {
    return curPort.kind;
  },
  from(): SockAddr | null {
    if (curFromAddr) return curFromAddr;
    if (curFromRaw4) return (curFromAddr = { address: ipv4Text(curFromRaw4, 12), port: 0 });
    if (curFromSlot >= 0 && curPort.rx) return (curFromAddr = curPort.rx.from(curFromSlot));
    return null;
  },
};

/* Packets for the main thread, gathered during a burst, posted at its end. */
const outBuf = Buffer.alloc(data.burst * data.slotSize * 2);
let outLen = 0;
const outPorts: number[] = [];
const outLens: number[] = [];
const outFrom: (SockAddr | null)[] = [];
function flushDeliveries(): void {
  if (outPorts.length === 0) return;
  const buf = new ArrayBuffer(outLen);
  new Uint8Array(buf).set(outBuf.subarray(0, outLen));
  const portsArr = Uint8Array.from(outPorts);
  const lens = Uint32Array.from(outLens);
  post({ t: 'pkts', buf, ports: portsArr, lens, from: outFrom.slice() }, [buf, portsArr.buffer, lens.buffer]);
  outLen = 0;
  outPorts.length = 0;
  outLens.length = 0;
  outFrom.length = 0;
}

function isPrepared(to: SockAddr | PreparedAddr): to is PreparedAddr {
  return (to as PreparedAddr).name !== undefined;
}

function flushPort(p: Port): void {
  if (!p.tx || p.txCount === 0) return;
  const n = p.txCount;
  p.txCount = 0;
  const sent = p.tx.send(p.fd, n);
  if (sent < n) count(p, C_TX_DROP, n - sent);
}

const ctx: PumpContext = {
  ports: ports.map((p) => p.name),
  send(name, pkt, to) {
    const p = byName.get(name);
    if (!p || p.kind === 'inject') throw new Error(`pump: no port ${name} to send on`);
    if (pkt.length > data.slotSize) {
      count(p, C_TX_DROP);
      return false;
    }
    count(p, C_TX);
    count(p, C_TX_BYTES, pkt.length);
    if (p.kind === 'tun') {
      const r = c.write(p.fd, pkt, pkt.length);
      if (r < 0) {
        count(p, C_TX_DROP);
        return false;
      }
      return true;
    }
    const tx = p.tx as MmsgBatch;
    const i = p.txCount;
    tx.copyIn(i, pkt);
    if (to === undefined || to === null) tx.setLength(i, pkt.length, null);
    else if (isPrepared(to)) tx.setLengthRawName(i, pkt.length, to.name, to.nameLen);
    else tx.setLength(i, pkt.length, to);
    if (++p.txCount === tx.count) flushPort(p);
    return true;
  },
  address(addr) {
    const { buf, len } = encodeSockAddr(addr);
    return { name: buf, nameLen: len, addr };
  },
  deliver(pkt, src) {
    const p = byName.get(src.port) ?? curPort;
    if (outLen + pkt.length > outBuf.length) flushDeliveries();
    outBuf.set(pkt, outLen);
    outLen += pkt.length;
    outPorts.push(p.index);
    outLens.push(pkt.length);
    outFrom.push(src.from());
  },
  post(m) {
    post({ t: 'msg', m });
  },
  now: () => performance.now(),
};

/** The default processor: everything read goes to the main thread; what main sends goes out. */
const passThrough: PacketProcessor = {
  onPacket(pkt, src, cx) {
    cx.deliver(pkt, src);
  },
};

async function loadProcessor(): Promise<PacketProcessor> {
  if (!data.processor) return passThrough;
  const spec = data.processor.module;
  const url = spec.startsWith('file:') || spec.startsWith('data:') ? spec : pathToFileURL(spec).href;
  const mod = (await import(url)) as { default?: ProcessorFactory; createProcessor?: ProcessorFactory };
  const factory = mod.createProcessor ?? mod.default;
  if (typeof factory !== 'function') throw new Error(`${spec}: no default export or createProcessor`);
  return factory(data.processor.options, ctx);
}

function handle(proc: PacketProcessor, p: Port, pkt: Uint8Array): void {
  count(p, C_RX);
  count(p, C_RX_BYTES, pkt.length);
  proc.onPacket(pkt, source, ctx);
}

/** Drain one readable fd, at most one burst. Returns how many packets were read. */
function drain(proc: PacketProcessor, p: Port): number {
  curPort = p;
  if (p.kind === 'tun') {
    let n = 0;
    curFromSlot = -1;
    curFromRaw4 = null;
    for (; n < data.burst; n++) {
      const r = c.read(p.fd, tunBuf, tunBuf.length);
      if (r < 0) {
        const e = c.errno();
        if (e === EAGAIN || e === EINTR) break;
        throw new SysError('read', e, `tun port ${p.name}`);
      }
      curFromAddr = null;
      handle(proc, p, tunBuf.subarray(0, r));
    }
    return n;
  }
  const rx = p.rx as MmsgBatch;
  const n = rx.recv(p.fd);
  for (let i = 0; i < n; i++) {
    const len = rx.length(i);
    const pkt = rx.slot(i).subarray(0, len);
    curFromAddr = null;
    curFromRaw4 = null;
    curFromSlot = i;
    if (p.kind === 'esp4') {
      const off = ipv4PayloadOffset(pkt, len);
      if (off === null) {
        count(p, C_RX_DROP);
        continue;
      }
      curFromRaw4 = pkt;
      curFromSlot = -1;
      handle(proc, p, pkt.subarray(off));
      continue;
    }
    handle(proc, p, pkt);
  }
  return n;
}

function fromMain(proc: PacketProcessor): boolean {
  for (;;) {
    const r = receiveMessageOnPort(port);
    if (!r) return true;
    const m = r.message as ToWorker;
    if (m.t === 'stop') return false;
    if (m.t === 'msg') {
      proc.onMessage?.(m.m, ctx);
      continue;
    }
    const bytes = new Uint8Array(m.buf);
    let off = 0;
    for (let i = 0; i < m.lens.length; i++) {
      const len = m.lens[i] ?? 0;
      const p = ports[m.ports[i] ?? 0] as Port;
      const pkt = bytes.subarray(off, off + len);
      off += len;
      if (m.inject) {
        curPort = p;
        curFromSlot = -1;
        curFromRaw4 = null;
        curFromAddr = m.to[i] ?? null;
        handle(proc, p, pkt);
      } else {
        ctx.send(p.name, pkt, m.to[i] ?? null);
      }
    }
  }
}

function endBurst(proc: PacketProcessor): void {
  proc.onBurstEnd?.(ctx);
  for (const p of ports) flushPort(p);
  flushDeliveries();
}

function loop(proc: PacketProcessor): void {
  const nfds = polled.length + 1;
  let nextTick = performance.now() + data.tickMs;
  let running = true;
  while (running) {
    const timeout = Math.max(0, Math.ceil(nextTick - performance.now()));
    const r = c.poll(pfds, nfds, timeout);
    if (r < 0 && c.errno() !== EINTR) throw new SysError('poll', c.errno(), 'pump');
    if (r > 0) {
      // Main thread first: a stop, SA updates, packets to send.
      if (pfds.readInt16LE(polled.length * 8 + 6) !== 0) {
        c.read(data.wakeFd, wakeBuf, 8);
        running = fromMain(proc);
        endBurst(proc);
      }
      // Each readable fd one burst at a time, round robin, until all are drained.
      let more = true;
      while (running && more) {
        more = false;
        for (let i = 0; i < polled.length; i++) {
          const revents = pfds.readInt16LE(i * 8 + 6);
          if (revents === 0) continue;
          const p = polled[i] as Port;
          if (revents & POLLNVAL) throw new Error(`pump: port ${p.name} fd ${p.fd} is not open`);
          // POLLERR on a socket (an ICMP error on a connected socket): the read below takes it.
          const n = drain(proc, p);
          if (n >= data.burst) more = true;
          else pfds.writeInt16LE(0, i * 8 + 6);
          endBurst(proc);
          // What the main thread sent meanwhile comes before the next burst: an SA it added
          // just before the peer could use it (a rekey) must be known when its packets come.
          if (!fromMain(proc)) {
            running = false;
            break;
          }
          endBurst(proc);
        }
      }
    }
    if (!running) break;
    const now = performance.now();
    if (now >= nextTick) {
      proc.onTick?.(now, ctx);
      endBurst(proc);
      nextTick = now + data.tickMs;
    }
  }
}

let proc: PacketProcessor = passThrough;
try {
  proc = await loadProcessor();
  post({ t: 'ready' });
  loop(proc);
  proc.close?.(ctx);
  endBurst(proc);
  post({ t: 'closed' });
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ t: 'error', message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
}
port.close();
