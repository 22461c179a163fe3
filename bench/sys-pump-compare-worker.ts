/**
 * Worker of bench/sys-pump-compare.ts: reads the TUN fd with blocking poll() + non-blocking
 * read() through koffi, and either forwards in the worker (inline) or hands packets to the main
 * thread (MessagePort one by one, MessagePort in batches, SharedArrayBuffer ring).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EAGAIN, POLLIN, libc } from '../src/dataplane/sys/libc.js';
import { MmsgBatch } from '../src/dataplane/sys/mmsg.js';

export interface CompareWorkerData {
  readonly mode: 'inline' | 'inline-single' | 'port-each' | 'port-batch' | 'sab';
  readonly tunFd: number;
  readonly outFd: number;
  readonly wakeFd: number;
  /** Control words: [0] stop flag; sab mode: [1] head, [2] tail, [3] dropped, [4] consumer waiting. */
  readonly ctl: SharedArrayBuffer;
  readonly ring?: SharedArrayBuffer;
  readonly slots?: number;
  readonly slotSize?: number;
}

const d = workerData as CompareWorkerData;
const c = libc();
const ctl = new Int32Array(d.ctl);
const pfd = Buffer.alloc(16);
pfd.writeInt32LE(d.tunFd, 0);
pfd.writeInt16LE(POLLIN, 4);
pfd.writeInt32LE(d.wakeFd, 8);
pfd.writeInt16LE(POLLIN, 12);
const BATCH = 64;
const batch = new MmsgBatch(BATCH, 2048);
const single = Buffer.alloc(2048);
const burstLens = new Int32Array(BATCH);
const eight = Buffer.alloc(8);
let packets = 0;

const ringLens = d.ring ? new Int32Array(d.ring, 0, d.slots ?? 0) : undefined;
const ringData = d.ring ? new Uint8Array(d.ring, (d.slots ?? 0) * 4) : undefined;

function readBurst(): number {
  let n = 0;
  for (; n < BATCH; n++) {
    const r = c.read(d.tunFd, batch.slot(n), 2048);
    if (r <= 0) {
      if (r < 0 && c.errno() !== EAGAIN) throw new Error(`read errno ${c.errno()}`);
      break;
    }
    batch.setLength(n, r, null);
    burstLens[n] = r;
  }
  return n;
}

for (;;) {
  if (Atomics.load(ctl, 0) !== 0) break;
  c.poll(pfd, 2, 1000);
  if (pfd.readInt16LE(14) !== 0) c.read(d.wakeFd, eight, 8);
  if (Atomics.load(ctl, 0) !== 0) break;
  switch (d.mode) {
    case 'inline': {
      for (;;) {
        const n = readBurst();
        if (n === 0) break;
        batch.send(d.outFd, n, 0);
        packets += n;
        if (n < BATCH) break;
      }
      break;
    }
    case 'inline-single': {
      for (;;) {
        const r = c.read(d.tunFd, single, 2048);
        if (r <= 0) break;
        c.send(d.outFd, single, r, 0);
        packets++;
      }
      break;
    }
    case 'port-each': {
      for (;;) {
        const r = c.read(d.tunFd, single, 2048);
        if (r <= 0) break;
        const ab = single.buffer.slice(single.byteOffset, single.byteOffset + r);
        parentPort?.postMessage(ab, [ab]);
        packets++;
      }
      break;
    }
    case 'port-batch': {
      for (;;) {
        const n = readBurst();
        if (n === 0) break;
        let total = 0;
        const lens = new Uint16Array(n);
        for (let i = 0; i < n; i++) total += lens[i] = burstLens[i] ?? 0;
        const out = new Uint8Array(total);
        let off = 0;
        for (let i = 0; i < n; i++) {
          out.set(batch.slot(i).subarray(0, lens[i]), off);
          off += lens[i] ?? 0;
        }
        parentPort?.postMessage({ buf: out.buffer, lens: lens.buffer }, [out.buffer, lens.buffer]);
        packets += n;
        if (n < BATCH) break;
      }
      break;
    }
    case 'sab': {
      const slots = d.slots ?? 0;
      const size = d.slotSize ?? 2048;
      if (!ringLens || !ringData) throw new Error('sab mode without ring');
      for (;;) {
        const head = Atomics.load(ctl, 1);
        const tail = Atomics.load(ctl, 2);
        if (head - tail >= slots) {
          // Ring full: drop one packet from the TUN queue rather than block the reader.
          const r = c.read(d.tunFd, single, 2048);
          if (r <= 0) break;
          Atomics.add(ctl, 3, 1);
          continue;
        }
        const i = head % slots;
        const r = c.read(d.tunFd, ringData.subarray(i * size, (i + 1) * size), size);
        if (r <= 0) break;
        ringLens[i] = r;
        Atomics.store(ctl, 1, head + 1);
        // Wake the consumer only when it said it waits ([4] = 1, set before its last look at head).
        if (Atomics.load(ctl, 4) !== 0) {
          Atomics.store(ctl, 4, 0);
          Atomics.notify(ctl, 1);
        }
        packets++;
      }
      break;
    }
  }
}
parentPort?.postMessage({ done: true, packets });
