/**
 * The process and event-loop metrics Prometheus users expect from a Node.js service, under
 * the names prom-client gives them (process_cpu_seconds_total, process_resident_memory_bytes,
 * nodejs_eventloop_lag_p99_seconds, nodejs_gc_duration_seconds, ...), so that existing
 * dashboards work. Written here on node:perf_hooks and process.* rather than taken from
 * prom-client: the rest of the daemon's metrics are already rendered by metrics.ts, and this is
 * all of what prom-client's defaults would add (see the issue 12 notes for the comparison).
 *
 * Every label has a fixed set of values (the GC kinds, Node's version).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver, constants as perf, monitorEventLoopDelay } from 'node:perf_hooks';
import type { ELDHistogram } from 'node:perf_hooks';

const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const GC_KINDS: Readonly<Record<number, string>> = {
  [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface GcStats {
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** Event-loop delay (sampled every `resolutionMs`) and GC pauses, collected while started. */
export class ProcessMetrics {
  private delay?: ELDHistogram;
  private gcObserver?: PerformanceObserver;
  private readonly gc = new Map<string, GcStats>();
  private readonly startTime = Math.round(Date.now() / 1000 - process.uptime());

  constructor(private readonly resolutionMs = 10) {}

  start(): void {
    if (this.delay) return;
    this.delay = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.delay.enable();
    for (const kind of Object.values(GC_KINDS)) this.gc.set(kind, { buckets: new Array<number>(GC_BUCKETS.length).fill(0), sum: 0, count: 0 });
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const detail = (entry as { readonly detail?: { readonly kind?: number } }).detail;
        const stats = this.gc.get(GC_KINDS[detail?.kind ?? -1] ?? '');
        if (!stats) continue;
        const s = entry.duration / 1000;
        GC_BUCKETS.forEach((b, i) => {
          if (s <= b) stats.buckets[i] = (stats.buckets[i] ?? 0) + 1;
        });
        stats.sum += s;
        stats.count++;
      }
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.delay?.disable();
    this.delay = undefined;
    this.gcObserver?.disconnect();
    this.gcObserver = undefined;
  }

  /**
   * The lines of one scrape. The event-loop delay percentiles cover the time since the last
   * scrape (the histogram starts again after each), as prom-client's do.
   */
  render(): string[] {
    const lines: string[] = [];
    const one = (name: string, type: 'gauge' | 'counter', help: string, value: number, labels = ''): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${Number.isFinite(value) ? value : 0}`);
    };
    const cpu = process.cpuUsage();
    one('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.', cpu.user / 1e6);
    one('process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.', cpu.system / 1e6);
    one('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6);
    one('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', this.startTime);
    const mem = process.memoryUsage();
    one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
    one('process_heap_bytes', 'gauge', 'Process heap size in bytes.', mem.heapTotal);
    const fds = openFds();
    if (fds !== undefined) one('process_open_fds', 'gauge', 'Number of open file descriptors.', fds);
    const maxFds = maxOpenFds();
    if (maxFds !== undefined) one('process_max_fds', 'gauge', 'Maximum number of open file descriptors.', maxFds);
    one('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', mem.heapTotal);
    one('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', mem.heapUsed);
    one('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.', mem.external);
    one('nodejs_active_resources_total', 'gauge', 'Number of active resources that are currently keeping the event loop alive.', process.getActiveResourcesInfo().length);
    const [major = '0', minor = '0', patch = '0'] = process.versions.node.split('.');
    one('nodejs_version_info', 'gauge', 'Node.js version info.', 1, `{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"}`);
    const h = this.delay;
    if (h) {
      const s = (ns: number): number => (h.count > 0 && Number.isFinite(ns) ? ns / 1e9 : 0);
      one('nodejs_eventloop_lag_min_seconds', 'gauge', 'The minimum recorded event loop delay.', s(h.min));
      one('nodejs_eventloop_lag_max_seconds', 'gauge', 'The maximum recorded event loop delay.', s(h.max));
      one('nodejs_eventloop_lag_mean_seconds', 'gauge', 'The mean of the recorded event loop delays.', s(h.mean));
      one('nodejs_eventloop_lag_stddev_seconds', 'gauge', 'The standard deviation of the recorded event loop delays.', s(h.stddev));
      one('nodejs_eventloop_lag_p50_seconds', 'gauge', 'The 50th percentile of the recorded event loop delays.', s(h.percentile(50)));
      one('nodejs_eventloop_lag_p90_seconds', 'gauge', 'The 90th percentile of the recorded event loop delays.', s(h.percentile(90)));
      one('nodejs_eventloop_lag_p99_seconds', 'gauge', 'The 99th percentile of the recorded event loop delays.', s(h.percentile(99)));
      h.reset();
      lines.push('# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.', '# TYPE nodejs_gc_duration_seconds histogram');
      for (const [kind, g] of this.gc) {
        GC_BUCKETS.forEach((b, i) => lines.push(`nodejs_gc_duration_seconds_bucket{le="${b}",kind="${kind}"} ${g.buckets[i] ?? 0}`));
        lines.push(`nodejs_gc_duration_seconds_bucket{le="+Inf",kind="${kind}"} ${g.count}`, `nodejs_gc_duration_seconds_sum{kind="${kind}"} ${g.sum}`, `nodejs_gc_duration_seconds_count{kind="${kind}"} ${g.count}`);
      }
    }
    return lines;
  }
}

/** Open descriptors (Linux: /proc/self/fd, less the one reading it). */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

function maxOpenFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}
