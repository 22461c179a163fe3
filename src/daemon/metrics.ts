/**
 * Counters and gauges of the daemon, rendered in the Prometheus text format (version 0.0.4)
 * on an optional local HTTP endpoint.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ExchangeType, NotifyType, nameOf } from '../wire/constants.js';
import type { EngineEvent, SaCensus } from '../engine/types.js';
import { endedSa } from './sa-events.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Bounds of the metrics listener, so that local users holding connections cannot take the
 * daemon's file descriptors: connections at once (more are closed on accept), time to send
 * the request headers / the whole request, idle time of a kept-alive or silent connection.
 */
export const METRICS_LIMITS = { maxConnections: 16, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5000, socketTimeoutMs: 10_000 } as const;

/** What the metrics show of the data plane. */
export interface PlaneMetrics {
  readonly kind: string;
  readonly drops: Readonly<Record<string, number>>;
}

export class Metrics {
  private readonly exchanges = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private retransmissions = 0;
  private ikeUp = 0;
  private childUp = 0;
  private rekeys = 0;
  private keyExportFailures = 0;
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
        const key = `${nameOf(ExchangeType, e.exchange)}|${e.direction}|${e.response ? 'response' : 'request'}`;
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
      case 'ike-failed': {
        const key = e.notify === undefined ? 'none' : nameOf(NotifyType, e.notify);
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
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
  snapshot(census: SaCensus, plane?: PlaneMetrics): Record<string, unknown> {
    const byState: Record<string, number> = { ...census.states };
    return {
      ...(plane ? { dataPlane: { kind: plane.kind, drops: { ...plane.drops } } } : {}),
      ikeSasByState: byState,
      childSas: census.childSas,
      ikeSasEstablishedTotal: this.ikeUp,
      childSasEstablishedTotal: this.childUp,
      childSaRekeysTotal: this.rekeys,
      retransmissionsTotal: this.retransmissions,
      keyExportFailuresTotal: this.keyExportFailures,
      exchanges: Object.fromEntries(this.exchanges),
      failuresByNotify: Object.fromEntries(this.failures),
      handshakeSeconds: { count: this.histogramCount, sum: Number(this.histogramSum.toFixed(6)) },
    };
  }

  /** `plane`: the data plane's kind and its drops by reason (ESP drops per SA and outside any SA). */
  render(census: SaCensus, plane?: PlaneMetrics): string {
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
    counter('pqike_ike_sa_failures_total', 'IKE SAs failed, by notify type', [...this.failures].map(([k, v]) => [{ notify: k }, v]));
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
    return `${lines.join('\n')}\n`;
  }

  /** Serve /metrics on host:port (keep it on a local address); server errors go to onError. */
  serve(host: string, port: number, census: () => SaCensus, onError?: (message: string) => void, plane?: () => PlaneMetrics | undefined): Promise<Server> {
    const L = METRICS_LIMITS;
    const server = createServer(
      // The header and request timeouts are checked this often (Node's default is 30 s).
      { headersTimeout: L.headersTimeoutMs, requestTimeout: L.requestTimeoutMs, keepAliveTimeout: L.keepAliveTimeoutMs, connectionsCheckingInterval: 1000 },
      (req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end('see /metrics\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.render(census(), plane?.()));
      },
    );
    server.maxConnections = L.maxConnections;
    server.setTimeout(L.socketTimeoutMs, (sock: Socket) => sock.destroy());
    server.on('connection', (sock: Socket) => sock.on('error', () => sock.destroy()));
    server.on('clientError', (_e, sock) => sock.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
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
