/**
 * Side by side: the medians of several bench/flood.js runs (their --json files), one column
 * per label (runs with the same label are repeats of one configuration), with every run's
 * value in brackets. Usage: node dist/bench/flood-compare.js run1.json run2.json ...
 *
 * Only runs of one sitting should be compared: the machines vary by a factor of 3 from day to
 * day, so alternate the configurations (before, after, ...) within one sitting.
 */
import { readFileSync } from 'node:fs';
import { median } from './common.js';

interface Run {
  readonly label: string;
  readonly halfOpenLimit: number | null;
  readonly options: { readonly floodSeconds: number; readonly afterSeconds: number };
  readonly flood: { readonly addresses: number; readonly sockets: number };
  readonly floodRate: number;
  readonly cookieAnswerRate: number;
  readonly saResponseRate: number;
  readonly daemonCpu: number;
  readonly daemonLoopDelayMaxMs?: { readonly median: number; readonly max: number | null };
  readonly metricsScrapeMs?: { readonly median: number; readonly max: number | null };
  readonly flooderCpu?: number;
  readonly drops: number | null;
  readonly halfOpen: { readonly peakAll: number; readonly steady: number; readonly after: number | null };
  readonly rss: { readonly before: number; readonly peak: number; readonly after: number | null; readonly afterGc: number | null };
  readonly heap: { readonly before: number; readonly peak: number; readonly after: number | null; readonly afterGc: number | null };
  readonly liveHeap?: { readonly before: number | null; readonly floodEnd: number | null; readonly floodEndHalfOpen: number | null; readonly after: number | null };
  readonly legit: {
    readonly ikeUpMedian: number;
    readonly ikeUpMax: number | null;
    readonly childUpMedian: number;
    readonly childUpMax: number | null;
    readonly failed: number;
    readonly during: readonly unknown[];
    readonly idle: readonly number[];
  };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/flood-compare.js RUN.json ...\n');
  process.exit(2);
}
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Run);
const labels = [...new Set(runs.map((r) => r.label))];
const groups = labels.map((l) => runs.filter((r) => r.label === l));

const MIB = 1024 * 1024;
type Getter = (r: Run) => number | null | undefined;
const rows: [string, Getter, number][] = [
  ['runs', () => 1, 0],
  ['flood: fresh requests/s', (r) => r.floodRate, 0],
  ['flood: COOKIEs answered/s', (r) => r.cookieAnswerRate, 0],
  ['flood: half-open SAs made/s', (r) => r.saResponseRate, 0],
  ['source addresses', (r) => r.flood.addresses, 0],
  ['daemon CPU % (median)', (r) => r.daemonCpu, 0],
  ['flooder CPU % (median)', (r) => r.flooderCpu, 0],
  ['daemon event loop delay ms, worst per s (median)', (r) => r.daemonLoopDelayMaxMs?.median, 0],
  ['daemon event loop delay ms (max)', (r) => r.daemonLoopDelayMaxMs?.max, 0],
  ['metrics scrape ms (median)', (r) => r.metricsScrapeMs?.median, 0],
  ['kernel drops/s on the daemon socket', (r) => (r.drops === null ? null : r.drops / r.options.floodSeconds), 0],
  ['init_limit_half_open', (r) => r.halfOpenLimit, 0],
  ['half-open SAs: peak', (r) => r.halfOpen.peakAll, 0],
  ['half-open SAs: steady (2nd half)', (r) => r.halfOpen.steady, 0],
  ['half-open SAs: after the timeout', (r) => r.halfOpen.after, 0],
  ['RSS MiB: before', (r) => r.rss.before / MIB, 1],
  ['RSS MiB: peak', (r) => r.rss.peak / MIB, 1],
  ['RSS MiB: after the timeout', (r) => (r.rss.after === null ? null : r.rss.after / MIB), 1],
  ['RSS MiB: after a full GC', (r) => (r.rss.afterGc === null ? null : r.rss.afterGc / MIB), 1],
  ['heap MiB: before', (r) => r.heap.before / MIB, 1],
  ['heap MiB: peak', (r) => r.heap.peak / MIB, 1],
  ['RSS KiB per peak half-open SA', (r) => (r.halfOpen.peakAll > 0 ? (r.rss.peak - r.rss.before) / r.halfOpen.peakAll / 1024 : null), 1],
  ['live heap MiB (full GC): before', (r) => (r.liveHeap?.before == null ? null : r.liveHeap.before / MIB), 1],
  ['live heap MiB (full GC): flood end', (r) => (r.liveHeap?.floodEnd == null ? null : r.liveHeap.floodEnd / MIB), 1],
  ['live heap KiB per half-open SA', (r) => (r.liveHeap?.floodEnd == null || r.liveHeap.before == null || !r.liveHeap.floodEndHalfOpen ? null : (r.liveHeap.floodEnd - r.liveHeap.before) / r.liveHeap.floodEndHalfOpen / 1024), 2],
  ['live heap MiB (full GC): after the timeout', (r) => (r.heap.afterGc === null ? null : r.heap.afterGc / MIB), 1],
  ['legit idle child-up ms (median)', (r) => median(r.legit.idle), 0],
  ['legit ike-up ms: median', (r) => r.legit.ikeUpMedian, 0],
  ['legit ike-up ms: max', (r) => r.legit.ikeUpMax, 0],
  ['legit child-up ms: median', (r) => r.legit.childUpMedian, 0],
  ['legit child-up ms: max', (r) => r.legit.childUpMax, 0],
  ['legit setups failed', (r) => r.legit.failed, 0],
  ['legit setups tried', (r) => r.legit.during.length, 0],
];

const cells = rows.map(([name, get, digits]) => [
  name,
  ...groups.map((g) => {
    const vs = g.map(get).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (name === 'runs') return String(g.length);
    if (vs.length === 0) return '-';
    const m = median(vs).toFixed(digits);
    return vs.length > 1 ? `${m} [${vs.map((v) => v.toFixed(digits)).join(', ')}]` : m;
  }),
]);
const header = ['', ...labels];
const widths = header.map((_, i) => Math.max(...[header, ...cells].map((row) => (row[i] ?? '').length)));
const line = (row: readonly string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
process.stdout.write(`${line(header)}\n${cells.map(line).join('\n')}\n(median of the runs, each run's value in brackets)\n`);
