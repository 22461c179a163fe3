/**
 * Benchmark worker (forked with --expose-gc): heap per established IKE SA. Establishes N
 * handshakes on one in-process engine pair (so 2N IKE SAs: N initiator + N responder),
 * forces GC, and reports the growth of heapUsed and of external/ArrayBuffer memory.
 * Arguments: proposal and N arrive over IPC with the PSK.
 */
import { BenchPair } from './inprocess.js';
import { exitWithParent, toBytes } from './common.js';

export interface MemoryRequest {
  readonly type: 'memory';
  readonly proposal: string;
  readonly psk: string;
  readonly count: number;
}

export interface MemoryResult {
  readonly type: 'memory-result';
  readonly proposal: string;
  readonly count: number;
  readonly gc: boolean;
  /** Per handshake (one initiator SA + one responder SA), bytes. */
  readonly heapPerHandshake: number;
  readonly externalPerHandshake: number;
  readonly rssPerHandshake: number;
}

exitWithParent();

const gc = (globalThis as { gc?: () => void }).gc;

function collect(): void {
  if (gc) for (let k = 0; k < 3; k++) gc();
}

function measure(req: MemoryRequest): MemoryResult {
  const psk = toBytes(req.psk);
  // Warm up code and caches on a pair that is then dropped.
  const warm = new BenchPair(req.proposal, psk);
  for (let k = 0; k < 50; k++) warm.handshake();
  const pair = new BenchPair(req.proposal, psk);
  collect();
  const m0 = process.memoryUsage();
  for (let k = 0; k < req.count; k++) pair.handshake();
  collect();
  const m1 = process.memoryUsage();
  // Keep the pair reachable until after the measurement.
  if (pair.i.list().length !== req.count) throw new Error('unexpected SA count');
  return {
    type: 'memory-result',
    proposal: req.proposal,
    count: req.count,
    gc: gc !== undefined,
    heapPerHandshake: (m1.heapUsed - m0.heapUsed) / req.count,
    externalPerHandshake: (m1.external - m0.external) / req.count,
    rssPerHandshake: (m1.rss - m0.rss) / req.count,
  };
}

process.on('message', (m: MemoryRequest | { type: 'stop' }) => {
  if (m.type !== 'memory') {
    process.exit(0);
  }
  try {
    const r = measure(m);
    process.send?.(r, undefined, {}, () => process.exit(0));
  } catch (e) {
    process.send?.({ type: 'error', message: String(e) }, undefined, {}, () => process.exit(1));
  }
});
