/**
 * Preloaded into the daemon by bench/scale.ts (`node --expose-gc --import <this file> ...`):
 * bench/flood-memprobe.ts (memory every 500 ms, a full GC and the usage after it on SIGUSR2),
 * and on SIGWINCH (ignored by default, so harmless without this probe) a full GC then a V8 heap
 * snapshot written to $PQIKE_SCALE_SNAPSHOT (renamed into place when complete), to see what each
 * SA holds (bench/heap-top.ts summarizes one).
 */
import './flood-memprobe.js';
import { renameSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';

const file = process.env['PQIKE_SCALE_SNAPSHOT'];
if (file !== undefined && file !== '') {
  process.on('SIGWINCH', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) for (let k = 0; k < 3; k++) gc();
    renameSync(writeHeapSnapshot(`${file}.tmp`), file);
  });
}
