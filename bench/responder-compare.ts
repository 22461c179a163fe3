/**
 * The pqike daemon and Debian's strongSwan charon as responders, side by side, with the same
 * client: `node dist/bench/responder-compare.js [options]` (root: network namespaces; needs the
 * strongswan-charon, strongswan-swanctl, libcharon-extra-plugins and
 * libstrongswan-standard-plugins packages, as the interop tests do; --client load-tester also
 * needs the load-tester charon built by scripts/build-load-tester.sh).
 *
 * Each responder runs alone in namespace B of its own pair, as a gateway runs it (see
 * bench/responders.ts): the daemon with its configuration file (data_plane: fake, so nothing is
 * installed anywhere), charon with swanctl and kernel-libipsec (userspace ESP: this kernel has
 * no ESP; it installs each Child SA in charon's own memory, the closest charon has to
 * installing nothing). The client runs in namespace A, PSK, first Child SA in IKE_AUTH:
 *
 * - `--client udp-initiator` (default): pqike's bench initiator (bench/udp-initiator.ts),
 *   keeping --concurrency IKE SAs in flight; the IKE SAs are counted by the client (completed
 *   in its measured window; the responder's own count is in the JSON as responderSas).
 * - `--client load-tester`: strongSwan's load-tester (bench/load-tester.ts), a charon of
 *   Debian's 5.9.8 source with the load-tester plugin, started afresh for each measurement,
 *   keeping about --concurrency IKE SAs in flight (init_limit; --lt-initiators threads, default
 *   4, polling every --lt-delay ms, default 1), or with --lt-rate R initiating R IKE SAs per
 *   second whatever the responder does; --warmup seconds of load, then the IKE SAs the
 *   responder established in the window are counted by the responder itself (the daemon's
 *   stats, charon's swanctl --stats). With --lt-delete the load-tester deletes each IKE SA
 *   once it is up (delete_after_established), so both responders hold a few SAs however long
 *   the run, and the INFORMATIONAL exchange is in both figures; charon's count then comes from
 *   its log (swanctl --stats counts the SAs it holds now).
 *
 * Warm-up (--warmup S, default 1, both clients, both responders alike): a freshly started
 * daemon spends its first few thousand SAs with V8 still compiling the engine's hot paths on
 * background threads (a third of its CPU in the first seconds, measured with per-thread
 * /proc times), charon has nothing to warm up. A gateway runs for days: give 10 or more for
 * its steady state. Without --lt-delete, SAs accumulate for the whole warm-up too, and charon
 * (with kernel-libipsec holding every Child SA) gets slower per SA as they do, which is not
 * what a comparison of setup cost should measure.
 *
 * A round measures both responders one after the other for --seconds each, both started afresh
 * for each round (the order alternates between rounds, so a drifting machine favours neither);
 * the responder's CPU time (utime + stime of all its threads from /proc/PID/stat) over the
 * measured window is divided by the IKE SAs established in it. Printed: per round the two
 * figures and their ratio, then the medians. Classic proposals only against charon: Debian's
 * 5.9.8 has no ML-KEM. Both responders get their DoS thresholds raised (one client address
 * holds every half-open SA); both log at their default levels here (charon: the interop tests'
 * filelog, ike and cfg at level 2; --charon-loglevel N sets every subsystem to N).
 *
 * Options: --proposal P (default aes256gcm16-prfsha384-x25519), --rounds N (default 5),
 *   --seconds S (default 3), --concurrency N (default 8), --client udp-initiator|load-tester,
 *   --warmup S, --lt-initiators N, --lt-delay MS, --lt-rate R, --lt-delete (load-tester client
 *   only), --charon-loglevel N,
 *   --charon-table N (charon.ikesa_table_size of the responder charon; charon's default is 1
 *   bucket), --json, --cpu-prof DIR (profile the daemon: one .cpuprofile per round in DIR; see
 *   bench/cpuprofile-top.ts), --baseline DIR (another pqike tree, built: its daemon is measured
 *   too in every round, for a before/after in one run), --bare (the bare engine is measured too
 *   in every round: bench/bare-responder.ts, one IkeEngine on the daemon's UDP driver with the
 *   daemon's configuration file and nothing else, so that pqike/bare is what the daemon adds).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { charonSkipReason } from '../test/interop/strongswan.js';
import { sleep } from '../test/interop/netns.js';
import { median } from './common.js';
import type { FromWorker, InitiatorResult } from './common.js';
import { loadTesterCharon, loadTesterSkipReason } from './load-tester.js';
import { benchInitiatorConfig, cpuOf, startLoadTester, steadyStateOptionError, withCharon, withDaemon } from './responders.js';
import type { Responder, ResponderKind } from './responders.js';

const { values: opt } = parseArgs({
  options: {
    proposal: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    'lt-delete': { type: 'boolean' },
    concurrency: { type: 'string' },
    client: { type: 'string' },
    'lt-initiators': { type: 'string' },
    'lt-delay': { type: 'string' },
    'lt-rate': { type: 'string' },
    'charon-loglevel': { type: 'string' },
    'charon-table': { type: 'string' },
    json: { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    baseline: { type: 'string' },
    bare: { type: 'boolean' },
    help: { type: 'boolean' },
  },
  strict: true,
});

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'udp-initiator.js');
const PROPOSAL = opt.proposal ?? 'aes256gcm16-prfsha384-x25519';
const ROUNDS = Number(opt.rounds ?? 5);
const SECONDS = Number(opt.seconds ?? 3);
const CONCURRENCY = Number(opt.concurrency ?? 8);
const CLIENT = opt.client ?? 'udp-initiator';
/** Load before the measured window (both responders alike): a daemon's JIT is still compiling its hot paths for its first few thousand SAs. */
const WARMUP_MS = Number(opt.warmup ?? 1) * 1000;
/** Fixed-rate mode of the load-tester: threads of at least 5 ms between initiations each. */
const LT_RATE = opt['lt-rate'] !== undefined ? Number(opt['lt-rate']) : undefined;
const LT_INITIATORS = LT_RATE !== undefined ? Math.max(1, Math.ceil(LT_RATE / 200)) : Number(opt['lt-initiators'] ?? 4);
const LT_DELAY = LT_RATE !== undefined ? Math.max(1, Math.round((1000 * LT_INITIATORS) / LT_RATE)) : Number(opt['lt-delay'] ?? 1);
const CHARON_LOGLEVEL = opt['charon-loglevel'] !== undefined ? Number(opt['charon-loglevel']) : undefined;
const CHARON_TABLE = opt['charon-table'] !== undefined ? Number(opt['charon-table']) : undefined;

type Who = ResponderKind;

interface Measured {
  /** IKE SAs per second (the client's median per-second rate, or the responder's count over the window). */
  rate: number;
  /** Responder CPU time per established IKE SA, µs. */
  cpuPerSaUs: number;
  /** IKE SAs counted in the window (by the client with udp-initiator, by the responder with load-tester). */
  sas: number;
  /** IKE SAs the responder says it established in the window. */
  responderSas: number;
  /** Failed IKE SAs, as the client counts them (udp-initiator only). */
  failed?: number;
}

/** One measured run of pqike's bench initiator against `r`: IKE SAs per second and the responder's µs of CPU per SA. */
function measureUdp(r: Responder): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', r.pair.a.ns, process.execPath, WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let cpu0 = 0;
    let cpu1 = 0;
    // The responder's own count, for the record only (NaN where a daemon's stats lack it, e.g. an older --baseline).
    const count = (): Promise<number> => r.established().catch(() => Number.NaN);
    let n0: Promise<number> = Promise.resolve(Number.NaN);
    let n1: Promise<number> = Promise.resolve(Number.NaN);
    child.on('message', (m: FromWorker) => {
      if (m.type === 'mark' && m.phase === 'start') {
        cpu0 = cpuOf(r.pid);
        n0 = count();
      } else if (m.type === 'mark' && m.phase === 'end') {
        cpu1 = cpuOf(r.pid);
        n1 = count();
      } else if (m.type === 'result') {
        const res: InitiatorResult = m;
        if (res.completedMeasured === 0) reject(new Error(`${r.who}: no IKE SA established (${res.failed} failed${res.firstError ? `: ${res.firstError}` : ''})`));
        else
          Promise.all([n0, n1]).then(
            ([a, b]) => resolve({ rate: median(res.rates), cpuPerSaUs: (cpu1 - cpu0) / res.completedMeasured, sas: res.completedMeasured, responderSas: b - a, failed: res.failed }),
            reject,
          );
        child.kill();
      } else if (m.type === 'error') reject(new Error(`${r.who} client: ${m.message}`));
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) reject(new Error(`${r.who} client exited with ${code}`));
    });
    const cfg = benchInitiatorConfig(r.pair, { proposal: PROPOSAL, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, runMs: SECONDS * 1000 });
    child.send(cfg);
  });
}

/**
 * One measured run of strongSwan's load-tester against `r`: started afresh, --warmup s of load, then
 * the responder's established IKE SAs and CPU time over --seconds.
 */
async function measureLoadTester(r: Responder): Promise<Measured> {
  const lt = await startLoadTester(r.pair, {
    proposal: PROPOSAL,
    initiators: LT_INITIATORS,
    delayMs: LT_DELAY,
    initLimit: LT_RATE !== undefined ? 0 : CONCURRENCY,
    deleteAfterEstablished: opt['lt-delete'] === true,
  });
  try {
    await sleep(WARMUP_MS);
    const n0 = await r.established();
    const cpu0 = cpuOf(r.pid);
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const n1 = await r.established();
    const cpu1 = cpuOf(r.pid);
    const t1 = performance.now();
    if (!lt.running) throw new Error(`${r.who}: the load-tester exited early:\n${lt.log().split('\n').slice(-20).join('\n')}`);
    const sas = n1 - n0;
    if (sas <= 0) throw new Error(`${r.who}: no IKE SA established with the load-tester client; its log ends:\n${lt.log().split('\n').slice(-20).join('\n')}`);
    return { rate: sas / ((t1 - t0) / 1000), cpuPerSaUs: (cpu1 - cpu0) / sas, sas, responderSas: sas };
  } finally {
    await lt.stop();
  }
}

const measure = CLIENT === 'load-tester' ? measureLoadTester : measureUdp;


async function main(): Promise<number> {
  if (opt.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] ?? '');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('responder-compare: needs root (network namespaces)\n');
    return 2;
  }
  const optionError = steadyStateOptionError({ warmup: opt.warmup, deleting: opt['lt-delete'] === true, deleteFlag: '--lt-delete', charonLogLevel: CHARON_LOGLEVEL });
  if (optionError) {
    process.stderr.write(`responder-compare: ${optionError}\n`);
    return 2;
  }
  if (opt['lt-delete'] === true && CLIENT !== 'load-tester') {
    process.stderr.write('responder-compare: --lt-delete is for --client load-tester\n');
    return 2;
  }
  if (CLIENT !== 'udp-initiator' && CLIENT !== 'load-tester') {
    process.stderr.write(`responder-compare: --client is udp-initiator or load-tester, not ${CLIENT}\n`);
    return 2;
  }
  const skip = charonSkipReason() ?? (CLIENT === 'load-tester' ? loadTesterSkipReason() : null);
  if (skip) {
    process.stderr.write(`responder-compare: ${skip}\n`);
    return 2;
  }
  const rows: { round: number; pqike: Measured; charon: Measured; baseline?: Measured; bare?: Measured }[] = [];
  const baselineCli = opt.baseline ? join(opt.baseline, 'dist', 'src', 'cli', 'main.js') : undefined;
  const log = (l: string): void => {
    if (!opt.json) process.stdout.write(`${l}\n`);
  };
  log(`responders side by side: pqike daemon (Node ${process.version}) vs strongSwan charon, proposal ${PROPOSAL}`);
  const clientLine =
    CLIENT === 'load-tester'
      ? `strongSwan's load-tester (${loadTesterCharon()}), ${LT_RATE !== undefined ? `${LT_INITIATORS} threads initiating every ${LT_DELAY} ms (${((LT_INITIATORS * 1000) / LT_DELAY).toFixed(0)} IKE SAs/s)` : `about ${CONCURRENCY} IKE SAs in flight (init_limit, ${LT_INITIATORS} threads, ${LT_DELAY} ms delay)`}; SAs counted by the responder`
      : `pqike's bench initiator, ${CONCURRENCY} IKE SAs in flight`;
  log(`client: ${clientLine}${opt['lt-delete'] === true ? ', each IKE SA deleted once up' : ''}; ${ROUNDS} rounds of ${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured per responder${CHARON_LOGLEVEL !== undefined ? `; charon log level ${CHARON_LOGLEVEL}` : ''}${CHARON_TABLE !== undefined ? `; charon ikesa_table_size ${CHARON_TABLE}` : ''}`);
  const charonOpts = { proposal: PROPOSAL, ...(CHARON_LOGLEVEL !== undefined ? { logLevel: CHARON_LOGLEVEL } : {}), ...(CHARON_TABLE !== undefined ? { ikesaTableSize: CHARON_TABLE } : {}), countFromLog: opt['lt-delete'] === true };
  const daemonOpts = { proposal: PROPOSAL, ...(opt['cpu-prof'] ? { cpuProfDir: opt['cpu-prof'] } : {}) };
  for (let round = 1; round <= ROUNDS; round++) {
    // Each responder fresh for each round (charon slows down as identical Child SAs pile up in
    // libipsec; a round should not measure the previous one's state), the order alternating, so
    // that a machine drifting within a round favours neither.
    const all: Who[] = ['pqike', ...(baselineCli ? (['baseline'] as const) : []), ...(opt.bare ? (['bare'] as const) : []), 'charon'];
    const order = round % 2 === 1 ? all : [...all].reverse();
    const got: Partial<Record<Who, Measured>> = {};
    for (const who of order)
      got[who] = await (who === 'charon'
        ? withCharon(charonOpts, measure)
        : who === 'baseline' && baselineCli
          ? withDaemon({ ...daemonOpts, cli: baselineCli, who: 'baseline' }, measure)
          : who === 'bare'
            ? withDaemon({ proposal: PROPOSAL, bare: true, who: 'bare' }, measure)
            : withDaemon(daemonOpts, measure));
    const p = got.pqike;
    const c = got.charon;
    const b = got.baseline;
    const e = got.bare;
    if (!p || !c) throw new Error('a responder was not measured');
    rows.push({ round, pqike: p, charon: c, ...(b ? { baseline: b } : {}), ...(e ? { bare: e } : {}) });
    log(`  round ${round}: pqike ${p.cpuPerSaUs.toFixed(0)} µs/SA (${p.rate.toFixed(0)} SAs/s), charon ${c.cpuPerSaUs.toFixed(0)} µs/SA (${c.rate.toFixed(0)} SAs/s); pqike/charon CPU per SA ${(p.cpuPerSaUs / c.cpuPerSaUs).toFixed(2)}${b ? `; baseline ${b.cpuPerSaUs.toFixed(0)} µs/SA, pqike/baseline ${(p.cpuPerSaUs / b.cpuPerSaUs).toFixed(2)}` : ''}${e ? `; bare engine ${e.cpuPerSaUs.toFixed(0)} µs/SA, pqike/bare ${(p.cpuPerSaUs / e.cpuPerSaUs).toFixed(2)}` : ''}`);
  }
  const med = (f: (r: (typeof rows)[number]) => number): number => median(rows.map(f));
  const summary = {
    proposal: PROPOSAL,
    node: process.version,
    client: CLIENT,
    ...(CLIENT === 'load-tester' ? { loadTester: { initiators: LT_INITIATORS, delayMs: LT_DELAY, initLimit: LT_RATE !== undefined ? 0 : CONCURRENCY } } : {}),
    ...(CHARON_LOGLEVEL !== undefined ? { charonLogLevel: CHARON_LOGLEVEL } : {}),
    ...(CHARON_TABLE !== undefined ? { charonIkesaTableSize: CHARON_TABLE } : {}),
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_MS / 1000,
    ltDelete: opt['lt-delete'] === true,
    pqikeCpuPerSaUs: med((r) => r.pqike.cpuPerSaUs),
    charonCpuPerSaUs: med((r) => r.charon.cpuPerSaUs),
    ratioMedian: med((r) => r.pqike.cpuPerSaUs / r.charon.cpuPerSaUs),
    ...(baselineCli ? { baselineRatioMedian: med((r) => r.pqike.cpuPerSaUs / (r.baseline?.cpuPerSaUs ?? Number.NaN)) } : {}),
    ...(opt.bare ? { bareCpuPerSaUs: med((r) => r.bare?.cpuPerSaUs ?? Number.NaN), bareRatioMedian: med((r) => r.pqike.cpuPerSaUs / (r.bare?.cpuPerSaUs ?? Number.NaN)) } : {}),
    pqikeRate: med((r) => r.pqike.rate),
    charonRate: med((r) => r.charon.rate),
    rows,
  };
  if (opt.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    log(`median responder CPU per SA: pqike ${summary.pqikeCpuPerSaUs.toFixed(0)} µs, charon ${summary.charonCpuPerSaUs.toFixed(0)} µs; median of the per-round ratios pqike/charon ${summary.ratioMedian.toFixed(2)}`);
    log(`median rate with this client: pqike ${summary.pqikeRate.toFixed(0)} SAs/s, charon ${summary.charonRate.toFixed(0)} SAs/s`);
    if (summary.bareRatioMedian !== undefined) log(`median bare engine CPU per SA ${(summary.bareCpuPerSaUs ?? Number.NaN).toFixed(0)} µs; median of the per-round ratios daemon/bare engine: ${summary.bareRatioMedian.toFixed(2)}`);
    if (summary.baselineRatioMedian !== undefined) log(`median of the per-round ratios pqike/baseline (${opt.baseline ?? ''}): ${summary.baselineRatioMedian.toFixed(2)}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`responder-compare: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
