/**
 * Benchmark worker: one IkeEngine on one UDP socket (127.0.0.1 unless told otherwise) keeping
 * `concurrency` IKE SAs in flight towards the responder (or, with `rate`, starting that many per
 * second with at most `concurrency` in flight), counting completed ones (IKE SA + first Child
 * SA) per second; with `deleteAfterEstablished`, each IKE SA is deleted once up. Forked by
 * bench/handshake.ts; configuration arrives over IPC.
 */
import { IkeEngine } from '../src/engine/engine.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import type { EngineEvent } from '../src/engine/types.js';
import { benchConnections, exitWithParent, LOOPBACK, send, toBytes } from './common.js';
import type { InitiatorConfig, ToWorker } from './common.js';

const MAX_LIFETIME_MS = 120_000;

exitWithParent();

async function run(cfg: InitiatorConfig): Promise<void> {
  const local = cfg.local ?? LOOPBACK;
  const { initiator } = benchConnections(cfg.proposal, toBytes(cfg.psk), local, cfg.remote ?? LOOPBACK);
  const engine = new IkeEngine();
  engine.addConnection(initiator);
  const remote = { address: cfg.remote ?? LOOPBACK, port: cfg.port };
  let completed = 0;
  let failed = 0;
  let retransmits = 0;
  let firstError: string | undefined;
  let running = true;
  let toStart = 0;
  let scheduled = false;
  let inFlight = 0;
  let skipped = 0;
  const start = (): void => {
    inFlight++;
    driver.initiate('bench', remote);
  };
  // With deleteAfterEstablished: the IKE SAs that are up, deleted after the current flush, and
  // those being deleted (no longer in flight: one that fails now is not replaced again).
  const toDelete: number[] = [];
  const deleting = new Set<number>();
  let deleteFailed = 0;

  // New SAs are started (and finished ones deleted) after the current flush, not from inside
  // the driver's event loop.
  const runPending = (): void => {
    scheduled = false;
    const n = toStart;
    toStart = 0;
    for (const id of toDelete.splice(0)) driver.terminate(id);
    if (!running) return;
    for (let k = 0; k < n; k++) start();
  };
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(runPending);
    }
  };
  const replace = (): void => {
    inFlight--;
    if (cfg.rate !== undefined) return; // open loop: the ticks start SAs
    toStart++;
    schedule();
  };
  const onEvent = (e: EngineEvent): void => {
    switch (e.type) {
      case 'child-up':
        completed++;
        if (cfg.deleteAfterEstablished === true) {
          toDelete.push(e.sa);
          deleting.add(e.sa);
          schedule();
        }
        replace();
        break;
      case 'ike-down':
        deleting.delete(e.sa);
        break;
      case 'ike-failed':
        if (deleting.delete(e.sa)) {
          deleteFailed++;
          firstError ??= `delete: ${e.reason}`;
          break;
        }
        failed++;
        firstError ??= e.reason;
        replace();
        break;
      case 'log':
        if (e.level === 'debug' && e.message.startsWith('retransmit')) retransmits++;
        else if (e.level === 'error') firstError ??= e.message;
        break;
      default:
    }
  };
  // Ports 500 and 4500 when talking to another host (from a namespace of our own): charon with
  // kernel-libipsec fakes a NAT to force UDP encapsulation, and IKE floats from 500 to 4500
  // (RFC 3948) only from port 500.
  const driver = new UdpDriver(engine, { address: local, port: cfg.local ? 500 : 0, onEvent });
  await driver.start();

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  let ticker: NodeJS.Timeout | undefined;
  if (cfg.rate === undefined) for (let k = 0; k < cfg.concurrency; k++) start();
  else {
    // Open loop: rate/100 SAs every 10 ms, the fraction carried over; the clock, not the
    // responder, sets the pace (up to `concurrency` in flight).
    const perTick = cfg.rate / 100;
    let owed = 0;
    ticker = setInterval(() => {
      if (!running) return;
      owed += perTick;
      for (; owed >= 1; owed--) {
        if (inFlight < cfg.concurrency) start();
        else skipped++;
      }
    }, 10);
  }
  await sleep(cfg.warmupMs);
  const skipped0 = skipped;

  await send({ type: 'mark', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const rates: number[] = [];
  const completed0 = completed;
  let t = wall0;
  let c = completed;
  for (let r = 0; r < cfg.runs; r++) {
    await sleep(cfg.runMs);
    const now = performance.now();
    rates.push(((completed - c) * 1000) / (now - t));
    t = now;
    c = completed;
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  await send({ type: 'mark', phase: 'end' });
  running = false;
  if (ticker) clearInterval(ticker);
  await send({
    type: 'result',
    rates,
    completed,
    completedMeasured: completed - completed0,
    failed,
    ...(cfg.deleteAfterEstablished === true ? { deleteFailed } : {}),
    retransmits,
    ...(cfg.rate === undefined ? {} : { skipped: skipped - skipped0 }),
    cpuUs: cpu.user + cpu.system,
    wallMs,
    ...(firstError === undefined ? {} : { firstError }),
  });
  await driver.close();
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'config' && 'port' in m) {
    run(m).then(
      () => process.exit(0),
      async (e: unknown) => {
        await send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
        process.exit(1);
      },
    );
  } else if (m.type === 'stop') {
    process.exit(0);
  }
});

setTimeout(() => {
  process.stderr.write('initiator: lifetime exceeded, exiting\n');
  process.exit(1);
}, MAX_LIFETIME_MS).unref();
