/**
 * The pqike daemon as responder with 0, 1, 2, … engine workers (`workers:`), side by side in one
 * run: `node dist/bench/workers-compare.js [options]` (root: the clients bind UDP 500 of their
 * own loopback addresses, as gateways' peers do).
 *
 * Each round starts, for each worker count (the order rotates between rounds, so a drifting
 * machine favours none), a fresh daemon on 127.0.0.2 (data_plane: fake, log level info, PSK,
 * first Child SA in IKE_AUTH) and --clients pqike bench initiators (bench/udp-initiator.ts), each
 * from an address of its own (127.0.1.k: IKE_SA_INIT requests are dispatched to workers by
 * source address, src/daemon/worker-pool.ts), each keeping --concurrency IKE SAs in flight. The
 * daemon's CPU time (every thread: utime + stime of /proc/PID/stat) over the measured window is
 * divided by the IKE SAs established in it.
 *
 * Printed: per round and worker count the CPU per SA and the setup rate; then the medians, the
 * ratio of each to `workers: 0` (the engine on the main thread), and the dispatch cost: what a
 * worker adds per SA over the main-thread engine (workers: 1 − workers: 0), per datagram that
 * crosses between the threads (4 per SA: IKE_SA_INIT and IKE_AUTH, request and response).
 *
 * With --rate R the clients run open loop instead: R IKE SAs per second between them, whatever
 * the daemon does (bench/udp-initiator.ts `rate`, --concurrency still the cap in flight per
 * client). Below the rate the machine can carry, the daemon's threads do not compete with the
 * clients and with each other for the cores, so the CPU per SA is what the workers themselves
 * cost; at saturation (closed loop, the default) it also holds what that contention costs on a
 * machine with fewer cores than threads.
 *
 * Options: --workers 0,1,2 --rounds 3 --seconds 3 --clients 4 --concurrency 8 --rate R
 *   --warmup S (default 1: seconds of load before the measured window, for every worker count
 *   alike; each worker is a V8 isolate of its own that compiles the engine's hot paths afresh, so
 *   a short warm-up makes more workers look dearer per SA; give 10 or more for the steady state)
 *   --proposal aes256gcm16-prfsha384-x25519 --json --cpu-prof DIR (a .cpuprofile per daemon
 *   thread and run in DIR; bench/cpuprofile-top.ts summarizes one)
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from '../src/daemon/control.js';
import { BENCH_LIMITS_YAML, median } from './common.js';
import { cpuOf, warmupOptionError } from './responders.js';
import type { FromWorker, InitiatorConfig, InitiatorResult } from './common.js';

const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    clients: { type: 'string' },
    concurrency: { type: 'string' },
    rate: { type: 'string' },
    warmup: { type: 'string' },
    proposal: { type: 'string' },
    json: { type: 'boolean' },
    'cpu-prof': { type: 'string' },
  },
  strict: true,
});

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const INITIATOR = join(HERE, 'udp-initiator.js');
const COUNTS = (opt.workers ?? '0,1,2').split(',').map(Number);
const ROUNDS = Number(opt.rounds ?? 3);
const SECONDS = Number(opt.seconds ?? 3);
const CLIENTS = Number(opt.clients ?? 4);
const CONCURRENCY = Number(opt.concurrency ?? 8);
const RATE = opt.rate === undefined ? undefined : Number(opt.rate);
const WARMUP_MS = Number(opt.warmup ?? 1) * 1000;
const PROPOSAL = opt.proposal ?? 'aes256gcm16-prfsha384-x25519';
const PSK = 'pqike-bench-psk-not-secret-0123456789';
const GW = '127.0.0.2';
/** Datagrams between the main thread and a worker per SA: IKE_SA_INIT and IKE_AUTH, each way. */
const DATAGRAMS_PER_SA = 4;

function config(dir: string, workers: number): string {
  return `secrets: secrets.yaml
workers: ${workers}
port: 500
log:
  level: info
control:
  socket: ${join(dir, 'pqike.sock')}
data_plane: fake
${BENCH_LIMITS_YAML}connections:
  bench:
    local_addrs: ${GW}
    remote_addrs: '%any'
    local_id: responder.bench.pqike
    psk: bench
    proposals: [${PROPOSAL}]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
`;
}

interface Row {
  readonly workers: number;
  readonly cpuPerSaUs: number;
  readonly rate: number;
  readonly sas: number;
  /** Open loop: SAs the clients did not start because --concurrency were in flight. */
  readonly skipped: number;
}

async function measure(workers: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-workers-bench-'));
  let daemon: ChildProcess | undefined;
  const clients: ChildProcess[] = [];
  try {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  bench: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'pqike.yaml'), config(dir, workers));
    const prof = opt['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(opt['cpu-prof'], `workers-${workers}`)];
    daemon = spawn(process.execPath, [...prof, CLI, 'daemon', '-c', join(dir, 'pqike.yaml')], { stdio: ['ignore', 'ignore', 'ignore'] });
    const pid = daemon.pid ?? 0;
    for (let i = 0; ; i++) {
      const r = await request(join(dir, 'pqike.sock'), { cmd: 'list-conns', args: [], opts: {} }, 1000).catch(() => undefined);
      if (r?.ok) break;
      if (i > 100) throw new Error(`the daemon (workers: ${workers}) did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let started = 0;
    let ended = 0;
    let cpu0 = 0;
    let cpu1 = 0;
    const results: Promise<InitiatorResult>[] = [];
    for (let k = 0; k < CLIENTS; k++) {
      const c = fork(INITIATOR, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      clients.push(c);
      results.push(
        new Promise((resolve, reject) => {
          c.on('message', (m: FromWorker) => {
            if (m.type === 'mark' && m.phase === 'start' && ++started === CLIENTS) cpu0 = cpuOf(pid);
            else if (m.type === 'mark' && m.phase === 'end' && ++ended === CLIENTS) cpu1 = cpuOf(pid);
            else if (m.type === 'result') resolve(m);
            else if (m.type === 'error') reject(new Error(m.message));
          });
          c.on('exit', (code) => code !== 0 && reject(new Error(`initiator exited ${code}`)));
        }),
      );
      const cfg: InitiatorConfig = {
        type: 'config',
        proposal: PROPOSAL,
        psk: Buffer.from(PSK).toString('base64'),
        port: 500,
        concurrency: CONCURRENCY,
        warmupMs: WARMUP_MS,
        runMs: SECONDS * 1000,
        runs: 1,
        local: `127.0.1.${k + 1}`,
        remote: GW,
        ...(RATE === undefined ? {} : { rate: RATE / CLIENTS }),
      };
      c.send(cfg);
    }
    const done = await Promise.all(results);
    const sas = done.reduce((n, r) => n + r.completedMeasured, 0);
    if (sas === 0) throw new Error(`workers ${workers}: no IKE SA established (${done.map((r) => r.firstError ?? '').join('; ')})`);
    const rate = done.reduce((n, r) => n + (r.rates[0] ?? 0), 0);
    return { workers, cpuPerSaUs: (cpu1 - cpu0) / sas, rate, sas, skipped: done.reduce((n, r) => n + (r.skipped ?? 0), 0) };
  } finally {
    for (const c of clients) c.kill('SIGKILL');
    // SIGTERM: a profiled daemon writes its profiles as it exits.
    if (daemon && daemon.exitCode === null) {
      const gone = new Promise((r) => daemon?.once('exit', r));
      daemon.kill(opt['cpu-prof'] === undefined ? 'SIGKILL' : 'SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      daemon.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const warmupError = warmupOptionError(opt.warmup);
if (warmupError !== undefined) {
  process.stderr.write(`workers-compare: ${warmupError}\n`);
  process.exit(2);
}
const rows: Row[][] = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = COUNTS.map((_, i) => COUNTS[(i + round) % COUNTS.length] as number);
  const got: Row[] = [];
  for (const w of order) got.push(await measure(w));
  got.sort((a, b) => a.workers - b.workers);
  rows.push(got);
  if (!opt.json) console.log(`round ${round + 1}: ${got.map((r) => `workers ${r.workers}: ${r.cpuPerSaUs.toFixed(0)} µs/SA, ${r.rate.toFixed(0)} SAs/s${r.skipped > 0 ? ` (${r.skipped} not started: all in flight)` : ''}`).join(' | ')}`);
}
const med = COUNTS.map((w) => ({
  workers: w,
  cpuPerSaUs: median(rows.map((r) => r.find((x) => x.workers === w)?.cpuPerSaUs ?? NaN)),
  rate: median(rows.map((r) => r.find((x) => x.workers === w)?.rate ?? NaN)),
}));
const ratioTo = (w: number, base: number): number => median(rows.map((r) => (r.find((x) => x.workers === w)?.cpuPerSaUs ?? NaN) / (r.find((x) => x.workers === base)?.cpuPerSaUs ?? NaN)));
const dispatch = COUNTS.includes(0) && COUNTS.includes(1) ? median(rows.map((r) => ((r.find((x) => x.workers === 1)?.cpuPerSaUs ?? NaN) - (r.find((x) => x.workers === 0)?.cpuPerSaUs ?? NaN)) / DATAGRAMS_PER_SA)) : undefined;
if (opt.json) {
  console.log(JSON.stringify({ proposal: PROPOSAL, warmupSeconds: WARMUP_MS / 1000, seconds: SECONDS, clients: CLIENTS, concurrency: CONCURRENCY, ...(RATE === undefined ? {} : { openLoopRate: RATE }), rounds: rows, medians: med, ratiosToWorkers0: COUNTS.map((w) => ({ workers: w, ratio: ratioTo(w, COUNTS[0] ?? 0) })), dispatchUsPerDatagram: dispatch }));
} else {
  console.log(`medians of ${ROUNDS} rounds of ${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured (${PROPOSAL}, ${CLIENTS} clients x ${CONCURRENCY} in flight${RATE === undefined ? '' : `, open loop at ${RATE} SAs/s in all`}):`);
  for (const m of med) console.log(`  workers ${m.workers}: ${m.cpuPerSaUs.toFixed(0)} µs of daemon CPU per SA, ${m.rate.toFixed(0)} SAs/s; ratio to workers ${COUNTS[0]}: ${ratioTo(m.workers, COUNTS[0] ?? 0).toFixed(2)} (median of per-round ratios)`);
  if (dispatch !== undefined) console.log(`  a worker's cost over the main-thread engine: ${dispatch.toFixed(1)} µs per datagram crossing threads (${DATAGRAMS_PER_SA} per SA)`);
}
