/**
 * Preloaded into the daemon by bench/flood.ts (`node --expose-gc --import <this file>
 * dist/src/cli/main.js daemon ...`), so that the benchmark sees the daemon's heap, not only its
 * RSS, without the inspector and without changing the daemon: every 500 ms it writes
 * process.memoryUsage() as JSON to $PQIKE_FLOOD_MEMPROBE; on SIGUSR2 it runs a full garbage
 * collection (when --expose-gc is given) and writes the usage after it to
 * $PQIKE_FLOOD_MEMPROBE.gc. Works with any version of the daemon (it only needs Node).
 *
 * It also reports how late the daemon's event loop ran (perf_hooks.monitorEventLoopDelay): the
 * longest and the 99th percentile delay over the last second (a blocked loop, or a process that
 * does not get a CPU, answers nothing meanwhile while its socket's receive buffer fills up).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env['PQIKE_FLOOD_MEMPROBE'];

function write(path: string, extra: Record<string, unknown>): void {
  try {
    writeFileSync(`${path}.tmp`, JSON.stringify({ at: Date.now(), ...process.memoryUsage(), ...extra }));
    renameSync(`${path}.tmp`, path);
  } catch {
    // The benchmark's directory is gone: nothing to report to.
  }
}

if (file !== undefined && file !== '') {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The last two half-second windows: {max, p99} in ms.
  let prev = { max: 0, p99: 0 };
  setInterval(() => {
    const cur = { max: delay.max / 1e6, p99: delay.percentile(99) / 1e6 };
    delay.reset();
    write(file, { loopDelayMaxMs: Math.max(prev.max, cur.max), loopDelayP99Ms: Math.max(prev.p99, cur.p99) });
    prev = cur;
  }, 500).unref();
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const t0 = performance.now();
    if (gc) for (let k = 0; k < 3; k++) gc();
    write(`${file}.gc`, { gc: gc !== undefined, gcMs: Math.round(performance.now() - t0) });
  });
}
