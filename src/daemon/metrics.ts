/**
 * Counters and gauges of the daemon, rendered in the Prometheus text format (version 0.0.4)
 * on an optional local HTTP endpoint, with the process and event-loop metrics
 * (process-metrics.ts) and the build info.
 *
 * Every label has a bounded set of values: names from the IANA registries we know, with
 * 'other' for any number outside them (a peer choosing 1000 notify types makes one 'other'
 * series, not 1000), and fixed sets of our own (drop reasons, failure causes, SA states).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ExchangeType, NotifyType, nameOf } from '../wire/constants.js';
import type { EngineEvent, SaCensus } from '../engine/types.js';
import { endedSa } from './sa-events.js';
import { buildInfo } from './build-info.js';
import { ProcessMetrics } from './process-metrics.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Bounds of the metrics listener, so that local users holding connections cannot take the
 * daemon's file descriptors: connections at once (more are closed on accept), time to send
 * the request headers / the whole request, idle time of a kept-alive or silent connection.
 */
/** How long a metrics page waits for the worker threads' figures before it shows the last ones. */
const REFRESH_WAIT_MS = 1000;

export const METRICS_LIMITS = { maxConnections: 16, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5000, socketTimeoutMs: 10_000 } as const;

/** What the metrics show of the data plane. */
export interface PlaneMetrics {
  readonly kind: string;
  readonly drops: Readonly<Record<string, number>>;
}

/** What the metrics read from the engine at a scrape: half-open SAs, datagrams dropped by reason (engine/drops.ts). */
export interface EngineMetrics {
  readonly halfOpen: number;
  readonly drops: Readonly<Record<string, number>>;
}

type Registry = Parameters<typeof nameOf>[0];

/** An IANA name we know, or 'other': never a number a peer chose (bounded label values). */
export function boundedName(table: Registry, value: number | undefined): string {
  if (value === undefined) return 'none';
  const n = nameOf(table, value);
  return n.startsWith('UNKNOWN(') ? 'other' : n;
}

export class Metrics {
  private readonly exchanges = new Map<string, number>();
  /** The key in `exchanges` of each exchange type, direction and kind seen (at most 1024). */
  private readonly exchangeKeys = new Map<number, string>();
  private readonly failures = new Map<string, number>();
  /** Refusals we sent, by exchange and notify (COOKIE challenges included). */
  private readonly refusals = new Map<string, number>();
  private retransmissions = 0;
  private ikeUp = 0;
  private childUp = 0;
  private rekeys = 0;
  private ikeRekeys = 0;
  private cookiesSent = 0;
  private keyExportFailures = 0;
  private readonly process = new ProcessMetrics();
  /** IKE_SA_INIT time of each IKE SA not yet up; it leaves when the SA is up, ends or is rekeyed. */
  private readonly started = new Map<number, number>();
  private readonly histogram = new Array<number>(BUCKETS.length + 1).fill(0);
  private histogramSum = 0;
  private histogramCount = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** IKE SAs whose handshake time is being measured (bounded by the SAs that exist). */
  get handshakesTimed(): number {
    return this.started.size;
  }

  onEvent(e: EngineEvent): void {
    const end = endedSa(e);
    if (end) this.started.delete(end.sa);
    if (e.type === 'ike-rekeyed') this.started.delete(e.old);
    switch (e.type) {
      case 'message': {
        if (e.direction === 'out' && !e.response && e.exchange === ExchangeType.IKE_SA_INIT && e.messageId === 0 && !this.started.has(e.sa)) this.started.set(e.sa, this.now());
        if (e.direction === 'in' && !e.response && e.exchange === ExchangeType.IKE_SA_INIT && !this.started.has(e.sa)) this.started.set(e.sa, this.now());
        // The series' key, made once per exchange, direction and kind (an exchange type is one octet).
        const slot = ((e.exchange & 0xff) << 2) | (e.direction === 'out' ? 2 : 0) | (e.response ? 1 : 0);
        let key = this.exchangeKeys.get(slot);
        if (key === undefined || e.exchange !== (e.exchange & 0xff)) {
          key = `${boundedName(ExchangeType, e.exchange)}|${e.direction}|${e.response ? 'response' : 'request'}`;
          if (e.exchange === (e.exchange & 0xff)) this.exchangeKeys.set(slot, key);
        }
        this.exchanges.set(key, (this.exchanges.get(key) ?? 0) + 1);
        break;
      }
      case 'retransmit':
        this.retransmissions++;
        break;
      case 'ike-up': {
        this.ikeUp++;
        const t0 = this.started.get(e.sa);
        this.started.delete(e.sa);
        if (t0 !== undefined) {
          const s = (this.now() - t0) / 1000;
          const i = BUCKETS.findIndex((b) => s <= b);
          this.histogram[i < 0 ? BUCKETS.length : i] = (this.histogram[i < 0 ? BUCKETS.length : i] ?? 0) + 1;
          this.histogramSum += s;
          this.histogramCount++;
        }
        break;
      }
      case 'child-up':
        this.childUp++;
        if (e.child.rekeyOf !== undefined) this.rekeys++;
        break;
      case 'ike-rekeyed':
        this.ikeRekeys++;
        break;
      case 'ike-failed': {
        // The notify that ended it (ours or the peer's), else why: a timeout, an eviction.
        const cause = e.cause ?? (e.notify === undefined ? 'other' : 'notify');
        const key = `${boundedName(NotifyType, e.notify)}|${cause}`;
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
        break;
      }
      case 'refused': {
        if (e.notify === NotifyType.COOKIE) this.cookiesSent++;
        const key = `${boundedName(ExchangeType, e.exchange)}|${boundedName(NotifyType, e.notify)}`;
        this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
        break;
      }
      default:
        break;
    }
  }

  /** The key export stopped after a failed write (src/cli/key-export.ts). */
  noteKeyExportFailure(): void {
    this.keyExportFailures++;
  }

  /** Counters as a plain object (`pqike stats`). */
  snapshot(census: SaCensus, plane?: PlaneMetrics, engine?: EngineMetrics): Record<string, unknown> {
    const byState: Record<string, number> = { ...census.states };
    const byNotify: Record<string, number> = {};
    for (const [k, v] of this.failures) {
      const notify = k.slice(0, k.indexOf('|'));
      byNotify[notify] = (byNotify[notify] ?? 0) + v;
    }
    const refusals: Record<string, number> = {};
    for (const [k, v] of this.refusals) {
      const notify = k.slice(k.indexOf('|') + 1);
      refusals[notify] = (refusals[notify] ?? 0) + v;
    }
    return {
      ...(plane ? { dataPlane: { kind: plane.kind, drops: { ...plane.drops } } } : {}),
      build: buildInfo(),
      ikeSasByState: byState,
      childSas: census.childSas,
      ...(engine ? { halfOpenIkeSas: engine.halfOpen } : {}),
      ikeSasEstablishedTotal: this.ikeUp,
      childSasEstablishedTotal: this.childUp,
      childSaRekeysTotal: this.rekeys,
      ikeSaRekeysTotal: this.ikeRekeys,
      retransmissionsTotal: this.retransmissions,
      cookiesSentTotal: this.cookiesSent,
      keyExportFailuresTotal: this.keyExportFailures,
      exchanges: Object.fromEntries(this.exchanges),
      failuresByNotify: byNotify,
      refusalsByNotify: refusals,
      ...(engine ? { droppedMessages: { ...engine.drops } } : {}),
      handshakeSeconds: { count: this.histogramCount, sum: Number(this.histogramSum.toFixed(6)) },
    };
  }

  /**
   * `plane`: the data plane's kind and its drops by reason (ESP drops per SA and outside any SA);
   * `engine`: half-open SAs and the datagrams the engine dropped.
   */
  render(census: SaCensus, plane?: PlaneMetrics, engine?: EngineMetrics): string {
    const lines: string[] = [];
    const gauge = (name: string, help: string, values: [Record<string, string>, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [labels, v] of values) lines.push(`${name}${fmtLabels(labels)} ${v}`);
    };
    const counter = (name: string, help: string, values: [Record<string, string>, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, v] of values) lines.push(`${name}${fmtLabels(labels)} ${v}`);
    };
    const states: Record<string, number> = { connecting: 0, intermediate: 0, authenticating: 0, established: 0, rekeyed: 0 };
    for (const [state, n] of Object.entries(census.states)) states[state] = n;
    gauge('pqike_ike_sas', 'IKE SAs by state', Object.entries(states).map(([s, v]) => [{ state: s }, v]));
    gauge('pqike_child_sas', 'Child SAs installed', [[{}, census.childSas]]);
    counter('pqike_ike_sas_established_total', 'IKE SAs established', [[{}, this.ikeUp]]);
    counter('pqike_child_sas_established_total', 'Child SAs established (incl. rekeys)', [[{}, this.childUp]]);
    counter('pqike_child_sa_rekeys_total', 'Child SA rekeys', [[{}, this.rekeys]]);
    counter('pqike_ike_sa_rekeys_total', 'IKE SA rekeys (either side started them)', [[{}, this.ikeRekeys]]);
    counter('pqike_retransmissions_total', 'Requests retransmitted', [[{}, this.retransmissions]]);
    counter('pqike_key_export_failures_total', 'Key export writes that failed (exporting stops after the first)', [[{}, this.keyExportFailures]]);
    counter(
      'pqike_messages_total',
      'IKE messages by exchange, direction and kind',
      [...this.exchanges].map(([k, v]) => {
        const [exchange = '', direction = '', kind = ''] = k.split('|');
        return [{ exchange, direction, kind }, v];
      }),
    );
    counter(
      'pqike_ike_sa_failures_total',
      'IKE SAs failed, by the notify that ended them (ours or the peer\'s; none: no notify) and cause (notify, timeout, half-open-timeout, evicted, other)',
      [...this.failures].map(([k, v]) => {
        const [notify = '', cause = ''] = k.split('|');
        return [{ notify, cause }, v];
      }),
    );
    counter(
      'pqike_refusals_total',
      'Requests we answered with an error notify or a COOKIE, by exchange and notify',
      [...this.refusals].map(([k, v]) => {
        const [exchange = '', notify = ''] = k.split('|');
        return [{ exchange, notify }, v];
      }),
    );
    counter('pqike_cookies_sent_total', 'COOKIE challenges sent to IKE_SA_INIT requests (RFC 7296 §2.6)', [[{}, this.cookiesSent]]);
    if (engine) {
      gauge('pqike_half_open_ike_sas', 'Responder IKE SAs not yet authenticated (RFC 7296 §2.6)', [[{}, engine.halfOpen]]);
      counter('pqike_dropped_messages_total', 'IKE datagrams dropped without an answer, by reason (parse, icv, unknown-sa, unexpected, fragment, limits)', Object.entries(engine.drops).map(([reason, v]) => [{ reason }, v]));
    }
    const b = buildInfo();
    gauge('pqike_build_info', 'The running pqike (1): its version, Node.js version and ML-KEM backend', [[{ version: b.version, node: b.node, mlkem: b.mlkem }, 1]]);
    if (plane) {
      gauge('pqike_data_plane', 'The data plane that runs (1)', [[{ kind: plane.kind }, 1]]);
      counter('pqike_esp_drops_total', 'ESP and tunnel packets the data plane dropped, by reason (replay, integrity, unknown-spi, no-policy, ...)', Object.entries(plane.drops).sort(([a], [b]) => (a < b ? -1 : 1)).map(([reason, v]) => [{ reason }, v]));
    }
    lines.push('# HELP pqike_handshake_seconds Time from IKE_SA_INIT to IKE SA established', '# TYPE pqike_handshake_seconds histogram');
    let cum = 0;
    BUCKETS.forEach((b, i) => {
      cum += this.histogram[i] ?? 0;
      lines.push(`pqike_handshake_seconds_bucket{le="${b}"} ${cum}`);
    });
    cum += this.histogram[BUCKETS.length] ?? 0;
    lines.push(`pqike_handshake_seconds_bucket{le="+Inf"} ${cum}`, `pqike_handshake_seconds_sum ${this.histogramSum}`, `pqike_handshake_seconds_count ${this.histogramCount}`);
    lines.push(...this.process.render());
    return `${lines.join('\n')}\n`;
  }

  /**
   * Serve /metrics on host:port (keep it on a local address); server errors go to onError.
   * The event-loop and GC measurements run from here until the server closes. `refresh`, if
   * given, brings the census up to date before each page (engines on worker threads report on
   * their own only once a second); a page waits for it at most REFRESH_WAIT_MS.
   */
  serve(host: string, port: number, census: () => SaCensus, onError?: (message: string) => void, plane?: () => PlaneMetrics | undefined, engine?: () => EngineMetrics, refresh?: () => Promise<void>): Promise<Server> {
    const L = METRICS_LIMITS;
    const server = createServer(
      // The header and request timeouts are checked this often (Node's default is 30 s).
      { headersTimeout: L.headersTimeoutMs, requestTimeout: L.requestTimeoutMs, keepAliveTimeout: L.keepAliveTimeoutMs, connectionsCheckingInterval: 1000 },
      (req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end('see /metrics\n');
          return;
        }
        const answer = (): void => {
          if (res.headersSent) return;
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.render(census(), plane?.(), engine?.()));
        };
        if (!refresh) return answer();
        const timer = setTimeout(answer, REFRESH_WAIT_MS);
        const done = (): void => {
          clearTimeout(timer);
          answer();
        };
        refresh().then(done, done);
      },
    );
    server.maxConnections = L.maxConnections;
    server.setTimeout(L.socketTimeoutMs, (sock: Socket) => sock.destroy());
    server.on('connection', (sock: Socket) => sock.on('error', () => sock.destroy()));
    server.on('clientError', (_e, sock) => sock.destroy());
    this.process.start();
    server.on('close', () => this.process.stop());
    return new Promise((resolve, reject) => {
      const failed = (e: Error): void => {
        this.process.stop();
        reject(e);
      };
      server.once('error', failed);
      server.listen(port, host, () => {
        server.off('error', failed);
        server.on('error', (e) => onError?.(`metrics listener ${host}:${port}: ${e.message}`));
        resolve(server);
      });
    });
  }
}

function fmtLabels(labels: Record<string, string>): string {
  const e = Object.entries(labels);
  return e.length === 0 ? '' : `{${e.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}
