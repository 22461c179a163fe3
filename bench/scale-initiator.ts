/**
 * Worker of bench/scale.ts: one IkeEngine on a UdpDriver bound to many loopback source addresses
 * (one socket each, an ephemeral port), bringing up `count` IKE SAs with their first Child SA
 * towards the daemon, `concurrency` at a time, round-robin over its addresses, and keeping them
 * up (nothing is deleted: the worker is killed at the end). A failed attempt is started again.
 *
 * The configuration arrives over IPC; the counters go back every `progressMs` and when all are
 * up. On request it checks one established IKE SA's liveness (an empty INFORMATIONAL request,
 * RFC 7296 §2.4) and reports the round trip.
 */
import { IkeEngine } from '../src/engine/engine.js';
import { ExchangeType } from '../src/wire/constants.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import type { EngineEvent } from '../src/engine/types.js';
import { benchConnections, exitWithParent, toBytes } from './common.js';

export interface ScaleInitiatorConfig {
  readonly type: 'config';
  readonly worker: number;
  readonly proposal: string;
  /** Base64, over IPC only. */
  readonly psk: string;
  readonly remote: string;
  readonly port: number;
  readonly addresses: readonly string[];
  readonly count: number;
  readonly concurrency: number;
  readonly progressMs: number;
}

export type ToScaleInitiator = ScaleInitiatorConfig | { readonly type: 'dpd' } | { readonly type: 'stop' };

export interface ScaleProgress {
  readonly type: 'progress';
  readonly worker: number;
  /** IKE SAs with their Child SA up (never counted down: the SAs are kept). */
  readonly up: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly retransmits: number;
  /** IKE SAs that went down after they were up (deleted by the daemon, dead peer). */
  readonly lost: number;
  readonly done: boolean;
  readonly firstError?: string;
  readonly rss: number;
  readonly heapUsed: number;
}

export type FromScaleInitiator =
  | { readonly type: 'ready'; readonly worker: number }
  | ScaleProgress
  | { readonly type: 'dpd-result'; readonly worker: number; readonly sa: number; readonly ok: boolean; readonly ms: number; readonly error?: string }
  | { readonly type: 'error'; readonly worker: number; readonly message: string };

exitWithParent();

function send(m: FromScaleInitiator): void {
  process.send?.(m);
}

async function run(cfg: ScaleInitiatorConfig): Promise<void> {
  const { initiator } = benchConnections(cfg.proposal, toBytes(cfg.psk), cfg.addresses[0] ?? '127.0.0.1', cfg.remote);
  const engine = new IkeEngine();
  engine.addConnection(initiator);
  const remote = { address: cfg.remote, port: cfg.port };
  let started = 0;
  let up = 0;
  let failed = 0;
  let retransmits = 0;
  let lost = 0;
  let firstError: string | undefined;
  let doneSent = false;
  const established: number[] = [];
  const upSet = new Set<number>();
  let dpdWait: { readonly sa: number; readonly t0: number; readonly timer: NodeJS.Timeout } | undefined;

  const inFlight = (): number => started - up - failed;
  let scheduled = false;
  const top = (): void => {
    scheduled = false;
    while (up + inFlight() < cfg.count && inFlight() < cfg.concurrency) {
      const address = cfg.addresses[started % cfg.addresses.length] ?? cfg.addresses[0] ?? '127.0.0.1';
      started++;
      driver.initiate('bench', remote, address);
    }
  };
  const later = (): void => {
    if (!scheduled) {
      scheduled = true;
      // After the current flush, not from inside the driver's event loop.
      queueMicrotask(top);
    }
  };
  const progress = (): void => {
    const m = process.memoryUsage();
    const done = up >= cfg.count;
    send({ type: 'progress', worker: cfg.worker, up, failed, inFlight: inFlight(), retransmits, lost, done, ...(firstError === undefined ? {} : { firstError }), rss: m.rss, heapUsed: m.heapUsed });
    if (done) doneSent = true;
  };
  const onEvent = (e: EngineEvent): void => {
    switch (e.type) {
      case 'child-up':
        if (!upSet.has(e.sa)) {
          upSet.add(e.sa);
          up++;
          established.push(e.sa);
          if (up >= cfg.count && !doneSent) progress();
          later();
        }
        break;
      case 'ike-failed':
        if (!upSet.has(e.sa)) {
          failed++;
          firstError ??= e.reason;
          later();
        }
        break;
      case 'ike-down':
        if (upSet.delete(e.sa)) lost++;
        break;
      case 'ike-rekeyed':
        if (upSet.delete(e.old)) upSet.add(e.sa);
        break;
      case 'retransmit':
        retransmits++;
        break;
      case 'message':
        if (dpdWait && e.sa === dpdWait.sa && e.direction === 'in' && e.response && e.exchange === ExchangeType.INFORMATIONAL) {
          const w = dpdWait;
          dpdWait = undefined;
          clearTimeout(w.timer);
          send({ type: 'dpd-result', worker: cfg.worker, sa: w.sa, ok: true, ms: performance.now() - w.t0 });
        }
        break;
      default:
    }
  };
  const driver = new UdpDriver(engine, { addresses: cfg.addresses, port: 0, onEvent });
  await driver.start();
  send({ type: 'ready', worker: cfg.worker });
  setInterval(progress, cfg.progressMs);
  top();

  process.on('message', (m: ToScaleInitiator) => {
    if (m.type !== 'dpd') return;
    const live = established.filter((id) => upSet.has(id));
    const sa = live[Math.floor(live.length / 2)];
    if (sa === undefined || dpdWait) {
      send({ type: 'dpd-result', worker: cfg.worker, sa: sa ?? -1, ok: false, ms: 0, error: sa === undefined ? 'no established IKE SA' : 'a check is already running' });
      return;
    }
    const t0 = performance.now();
    const timer = setTimeout(() => {
      dpdWait = undefined;
      send({ type: 'dpd-result', worker: cfg.worker, sa, ok: false, ms: performance.now() - t0, error: 'no INFORMATIONAL response within 30 s' });
    }, 30_000);
    dpdWait = { sa, t0, timer };
    if (!driver.apply((e, now) => e.checkLiveness(sa, now))) {
      clearTimeout(timer);
      dpdWait = undefined;
      send({ type: 'dpd-result', worker: cfg.worker, sa, ok: false, ms: 0, error: 'checkLiveness refused' });
    }
  });
}

process.on('message', (m: ToScaleInitiator) => {
  if (m.type === 'config') {
    run(m).catch((e: unknown) => {
      send({ type: 'error', worker: m.worker, message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.exitCode = 1;
    });
  } else if (m.type === 'stop') process.exit(0);
});
