/**
 * Which way of moving packets between a TUN fd and Node is fast enough for a data plane?
 * (Measurements behind src/dataplane/sys/pump.ts; root, Linux, network namespaces.)
 *
 *   TUN in namespace A  --(kernel routes 10.97.0.0/24 into it)-->  reader  -->  UDP socket in A
 *   --veth-->  namespace B (a sink socket that is never read, or an echo for latency)
 *
 * Readers:
 *   inline         worker thread: poll() + read() via koffi, sendmmsg() in the worker itself
 *   inline-single  the same with one send() per packet
 *   port-each      worker reads; one MessagePort message (transferred ArrayBuffer) per packet;
 *                  the main thread sends
 *   port-batch     worker reads bursts of up to 64; one message per burst; main sends (sendmmsg)
 *   sab            worker reads straight into a SharedArrayBuffer ring; main waits with
 *                  Atomics.waitAsync, drains, sends (sendmmsg)
 *   fs-read        main thread: fs.read() on the (blocking) TUN fd, libuv's threadpool
 *   koffi-async    main thread: read.async() through koffi (threadpool); send sync
 *
 * Throughput: a generator in A floods UDP datagrams into the TUN for SECONDS (sendmmsg, one
 * core); packets/s counted at B's veth. Latency: ping-pong (one packet in flight) through the
 * reader to an echo in B that answers A directly, minus the same ping-pong without the reader.
 *
 *   node dist/bench/sys-pump-compare.js [--seconds 3] [--sizes 64,1400] [--modes a,b] [--pings 2000]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, closeFd, libc, setNonBlocking } from '../src/dataplane/sys/libc.js';
import { MmsgBatch } from '../src/dataplane/sys/mmsg.js';
import { inNetns } from '../src/dataplane/sys/netns.js';
import { Rtnl } from '../src/dataplane/sys/rtnl.js';
import { openUdpSocket } from '../src/dataplane/sys/sockets.js';
import { TunDevice } from '../src/dataplane/sys/tun.js';
import { cleanupStaleNamespaces, createNetnsPair, isRoot, run, sleep, type NetnsPair } from '../test/interop/netns.js';
import type { CompareWorkerData } from './sys-pump-compare-worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const GEN = join(here, 'sys-pump-gen.js');
const WORKER = join(here, 'sys-pump-compare-worker.js');

/** Atomics.waitAsync (Node >= 16; typed in lib es2024, this project compiles with es2023). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

type Mode = CompareWorkerData['mode'] | 'fs-read' | 'koffi-async';
const ALL_MODES: Mode[] = ['inline', 'inline-single', 'port-each', 'port-batch', 'sab', 'fs-read', 'koffi-async'];

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const SECONDS = Number(arg('seconds', '3'));
const SIZES = arg('sizes', '64,1400').split(',').map(Number);
const MODES = arg('modes', ALL_MODES.join(',')).split(',') as Mode[];
const PINGS = Number(arg('pings', '2000'));

const TUN_NET = '10.97.0.0/24';
const TUN_DST = '10.97.0.5';
const SINK_PORT = 5556;
const ECHO_PORT = 5557;
const PING_PORT = 7000;

async function genJson(ns: string, args: string[], timeoutMs = 60_000): Promise<Record<string, number>> {
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, GEN, ...args], { timeoutMs });
  const line = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(line) as Record<string, number>;
}

async function linkCounters(ns: string, dev: string): Promise<{ rx: number; txDropped: number }> {
  const r = await run('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev]);
  const j = JSON.parse(r.stdout) as Array<{ stats64: { rx: { packets: number }; tx: { dropped: number } } }>;
  const s = j[0]?.stats64;
  return { rx: s?.rx.packets ?? 0, txDropped: s?.tx.dropped ?? 0 };
}

/** A running reader; stop() ends it and returns how many packets it moved. */
interface Reader {
  stop(): Promise<number>;
}

function startReader(mode: Mode, tunFd: number, outFd: number, kick: () => void): Reader {
  const c = libc();
  if (mode === 'fs-read' || mode === 'koffi-async') {
    setNonBlocking(tunFd, false);
    const buf = Buffer.alloc(2048);
    let stopping = false;
    let packets = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    const rawRead = koffi.load('libc.so.6').func('long read(int fd, void *buf, unsigned long len)');
    const next = (): void => {
      if (stopping) return done();
      if (mode === 'fs-read') {
        fs.read(tunFd, buf, 0, 2048, null, (err, n) => {
          if (err) throw err;
          if (!stopping) {
            c.send(outFd, buf, n, 0);
            packets++;
          }
          next();
        });
      } else {
        rawRead.async(tunFd, buf, 2048, (err: unknown, n: number) => {
          if (err) throw err instanceof Error ? err : new Error(String(err));
          if (!stopping && n > 0) {
            c.send(outFd, buf, n, 0);
            packets++;
          }
          next();
        });
      }
    };
    next();
    return {
      async stop() {
        stopping = true;
        // A blocking read() on the TUN holds a pool thread until a packet comes: send one.
        kick();
        await finished;
        setNonBlocking(tunFd, true);
        return packets;
      },
    };
  }
  const wakeFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), 'eventfd');
  const ctl = new SharedArrayBuffer(64);
  const ctlI = new Int32Array(ctl);
  const slots = 4096;
  const slotSize = 2048;
  const ring = mode === 'sab' ? new SharedArrayBuffer(slots * 4 + slots * slotSize) : undefined;
  const data: CompareWorkerData = { mode, tunFd, outFd, wakeFd, ctl, ...(ring ? { ring, slots, slotSize } : {}) };
  const worker = new Worker(WORKER, { workerData: data });
  const out = new MmsgBatch(64, 2048);
  let mainPackets = 0;
  let workerPackets = -1;
  let workerDone: () => void = () => {};
  const finished = new Promise<void>((r) => (workerDone = r));
  worker.on('message', (m: unknown) => {
    if (m instanceof ArrayBuffer) {
      c.send(outFd, new Uint8Array(m), m.byteLength, 0);
      mainPackets++;
      return;
    }
    const msg = m as { done?: boolean; packets?: number; buf?: ArrayBuffer; lens?: ArrayBuffer };
    if (msg.done) {
      workerPackets = msg.packets ?? 0;
      workerDone();
      return;
    }
    if (msg.buf && msg.lens) {
      const lens = new Uint16Array(msg.lens);
      const bytes = new Uint8Array(msg.buf);
      let off = 0;
      for (let i = 0; i < lens.length; i++) {
        const len = lens[i] ?? 0;
        out.set(i, bytes.subarray(off, off + len), null);
        off += len;
      }
      out.send(outFd, lens.length, 0);
      mainPackets += lens.length;
    }
  });
  worker.on('error', (e) => {
    console.error('worker error', e);
  });
  let consuming = mode === 'sab';
  if (ring) {
    const lens = new Int32Array(ring, 0, slots);
    const bytes = new Uint8Array(ring, slots * 4);
    const drain = async (): Promise<void> => {
      while (consuming) {
        let head = Atomics.load(ctlI, 1);
        let tail = Atomics.load(ctlI, 2);
        if (head === tail) {
          Atomics.store(ctlI, 4, 1);
          head = Atomics.load(ctlI, 1);
          if (head === tail) {
            const w = waitAsync(ctlI, 1, head, 200);
            if (w.async) await w.value;
            continue;
          }
          Atomics.store(ctlI, 4, 0);
        }
        while (tail !== head) {
          let n = 0;
          for (; n < 64 && tail !== head; n++, tail++) {
            const i = tail % slots;
            const len = lens[i] ?? 0;
            out.set(n, bytes.subarray(i * slotSize, i * slotSize + len), null);
          }
          out.send(outFd, n, 0);
          mainPackets += n;
          Atomics.store(ctlI, 2, tail);
          head = Atomics.load(ctlI, 1);
        }
      }
    };
    void drain();
  }
  return {
    async stop() {
      Atomics.store(ctlI, 0, 1);
      c.write(wakeFd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), 8);
      await finished;
      consuming = false;
      await worker.terminate();
      closeFd(wakeFd);
      return mode.startsWith('inline') ? workerPackets : mainPackets;
    },
  };
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('sys-pump-compare needs root (network namespaces, TUN)');
  await cleanupStaleNamespaces();
  const pair: NetnsPair = await createNetnsPair({ innerA: null, innerB: null });
  const A = pair.a.ns;
  const B = pair.b.ns;
  let tun: TunDevice | undefined;
  const fds: number[] = [];
  let echo: ReturnType<typeof spawn> | undefined;
  try {
    const made = inNetns(A, () => {
      const t = TunDevice.open({ name: 'pqb0' });
      const nl = new Rtnl();
      nl.setUp(t.name);
      nl.addAddress(t.name, '10.98.0.1/32');
      nl.addRoute({ dst: TUN_NET, dev: t.name });
      nl.close();
      const outSink = openUdpSocket({ connect: { address: pair.b.addr, port: SINK_PORT }, nonBlocking: false, sndbuf: 4 << 20 });
      const outEcho = openUdpSocket({ connect: { address: pair.b.addr, port: ECHO_PORT }, nonBlocking: false });
      const kick = openUdpSocket({ connect: { address: TUN_DST, port: 9 } });
      return { t, outSink, outEcho, kick };
    });
    tun = made.t;
    fds.push(made.outSink, made.outEcho, made.kick);
    // The sink in B: bound, never read; a full receive buffer drops silently (no ICMP back).
    fds.push(inNetns(B, () => openUdpSocket({ bind: { address: pair.b.addr, port: SINK_PORT }, rcvbuf: 1 << 20 })));
    const tunFd = tun.fds[0] ?? -1;
    const kick = (): void => void libc().send(made.kick, Buffer.alloc(8), 8, 0);
    echo = spawn('ip', ['netns', 'exec', B, process.execPath, GEN, 'echo', String(ECHO_PORT), pair.a.addr, String(PING_PORT)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((r) => echo?.stdout?.once('data', () => r()));

    console.log(`# sys-pump-compare: node ${process.version}, ${SECONDS} s floods, ${PINGS} pings, TUN ${tun.name} in ${A} -> UDP -> ${B}`);
    const rows: string[] = [];
    for (const size of SIZES) {
      const base = await genJson(A, ['ping', pair.b.addr, String(ECHO_PORT), String(size), String(PINGS), String(PING_PORT)]);
      console.log(`size ${size}: direct ping-pong A->B->A without a reader: p50 ${base['p50']?.toFixed(1)} us, p99 ${base['p99']?.toFixed(1)} us`);
      for (const mode of MODES) {
        const r1 = startReader(mode, tunFd, made.outSink, kick);
        await sleep(200);
        const before = await linkCounters(B, pair.b.ifname);
        const tunBefore = await linkCounters(A, tun.name);
        const gen = await genJson(A, ['flood', TUN_DST, '9', String(size), String(SECONDS)]);
        await sleep(300);
        const after = await linkCounters(B, pair.b.ifname);
        const tunAfter = await linkCounters(A, tun.name);
        await r1.stop();
        const delivered = after.rx - before.rx;
        const pps = delivered / (gen['seconds'] ?? SECONDS);
        const r2 = startReader(mode, tunFd, made.outEcho, kick);
        await sleep(200);
        const lat = await genJson(A, ['ping', TUN_DST, '9', String(size), String(PINGS), String(PING_PORT)]);
        await r2.stop();
        const added50 = (lat['p50'] ?? NaN) - (base['p50'] ?? NaN);
        const added99 = (lat['p99'] ?? NaN) - (base['p99'] ?? NaN);
        const row =
          `size ${String(size).padStart(4)}  ${mode.padEnd(13)}  ${(pps / 1000).toFixed(0).padStart(5)} kpps  ` +
          `${((pps * size * 8) / 1e6).toFixed(0).padStart(6)} Mbit/s  offered ${((gen['pps'] ?? 0) / 1000).toFixed(0)} kpps, ` +
          `TUN drops ${tunAfter.txDropped - tunBefore.txDropped}; RTT p50 ${lat['p50']?.toFixed(1)} us (+${added50.toFixed(1)}), ` +
          `p99 ${lat['p99']?.toFixed(1)} us (+${added99.toFixed(1)}), lost ${lat['lost']}`;
        console.log(row);
        rows.push(row);
      }
    }
  } finally {
    echo?.stdin?.end();
    for (const fd of fds) closeFd(fd);
    tun?.close();
    await pair.destroy();
  }
}

await main();
