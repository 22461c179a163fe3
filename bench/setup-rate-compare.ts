/**
 * pqike ↔ pqike against charon ↔ charon on the same machine, in one run: how many IKE SAs per
 * second each pair sets up, and the CPU time both sides spend per SA.
 * `node dist/bench/setup-rate-compare.js [options]` (root: network namespaces; needs Debian's
 * strongswan-charon, strongswan-swanctl, libcharon-extra-plugins and
 * libstrongswan-standard-plugins packages, and the load-tester charon built by
 * scripts/build-load-tester.sh).
 *
 * - pqike ↔ pqike: pqike's bench initiator (bench/udp-initiator.ts: one engine, one process)
 *   in namespace A keeping --concurrency IKE SAs in flight, against the pqike daemon as
 *   responder in namespace B (its configuration file, data_plane: fake).
 * - charon ↔ charon: strongSwan's load-tester (a charon of Debian's 5.9.8 source with the
 *   load-tester plugin, fake kernel interface: bench/load-tester.ts) in namespace A keeping about
 *   --concurrency IKE SAs in flight (init_limit; --lt-initiators threads, --lt-delay ms between
 *   initiations and polls), against Debian's charon as responder in namespace B (swanctl,
 *   kernel-libipsec: each Child SA installed in charon's memory; bench/responders.ts).
 *
 * Both pairs: PSK, the proposal --proposal (default aes256gcm16-prfsha384-x25519: Debian's 5.9.8
 * has no ML-KEM), ESP aes256gcm16, first Child SA in IKE_AUTH, SAs kept up (never deleted) or,
 * with --delete, each IKE SA deleted by its initiator once up (both clients alike: the bench
 * initiator's deleteAfterEstablished, the load-tester's delete_after_established), DoS
 * thresholds raised on both responders. Both charons get charon.ikesa_table_size = 4096
 * (--charon-table; charon's default is a single bucket, a list every lookup walks, which a
 * gateway would not keep) and log every subsystem at level 1 (--charon-loglevel; charon's own
 * default level; the pqike daemon logs at info, its default; the load-tester client logs
 * nothing).
 *
 * A round measures both pairs one after the other, each in a fresh namespace pair with fresh
 * processes, the order alternating between rounds: --warmup s of warm-up (default 1), then
 * --seconds measured. Setup rate: the IKE SAs the responder says it established in the window
 * (the daemon's stats; charon's swanctl --stats, or with --delete the IKE_SA established lines
 * of its log), per second.
 *
 * Steady state (--warmup 10 --delete): a freshly started daemon spends its first few thousand
 * SAs with V8 still compiling its hot paths on background threads (a third of its CPU), and
 * charon with kernel-libipsec gets slower per SA as SAs pile up; a gateway runs with neither.
 * With --delete, CPU per SA includes the INFORMATIONAL exchange of the delete on both sides.
 *
 * CPU per SA: utime + stime (all threads, from /proc/PID/stat) of the initiator process and of
 * the responder process over the window, divided by the same count. Both sides share the machine's cores, so the rate is what the
 * pair reaches on this machine, bounded by the CPU both sides need per SA. Printed per round and
 * as medians of several rounds, with the ratios pqike/charon (setup rate) and charon/pqike (CPU
 * per SA, so that > 1 favours pqike in both).
 *
 * Then the floor: the crypto primitives of one handshake, both sides (bench/primitives.ts), measured
 * in the same run, and what they bound: the setup rate pqike ↔ pqike could reach on this
 * machine's cores doing nothing but that crypto, as a ratio to charon ↔ charon's (x25519
 * proposals only).
 *
 * Options: --proposal P, --rounds N (default 5), --seconds S (default 3), --warmup S (default 1),
 *   --delete, --concurrency N
 *   (default 32: with 8 in flight the pqike pair waited on round trips, 0.88× charon's rate
 *   against 1.40× with 32 in the same hour, while charon ↔ charon, bound by its CPU, set up
 *   770 and 772 SAs/s), --lt-initiators N (default 4), --lt-delay MS (default 1), --charon-loglevel N
 *   (default 1), --charon-table N (default 4096; 0: charon's default), --json.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { charonSkipReason } from '../test/interop/strongswan.js';
import { sleep } from '../test/interop/netns.js';
import { median } from './common.js';
import type { FromWorker, InitiatorResult } from './common.js';
import { loadTesterCharon, loadTesterSkipReason } from './load-tester.js';
import { handshakeCost, measurePrimitives } from './primitives.js';
import { benchInitiatorConfig, cpuOf, startLoadTester, steadyStateOptionError, withCharon, withDaemon } from './responders.js';
import type { Responder } from './responders.js';

const { values: opt } = parseArgs({
  options: {
    proposal: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    delete: { type: 'boolean' },
    concurrency: { type: 'string' },
    'lt-initiators': { type: 'string' },
    'lt-delay': { type: 'string' },
    'charon-loglevel': { type: 'string' },
    'charon-table': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  },
  strict: true,
});

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'udp-initiator.js');
const PROPOSAL = opt.proposal ?? 'aes256gcm16-prfsha384-x25519';
const ROUNDS = Number(opt.rounds ?? 5);
const SECONDS = Number(opt.seconds ?? 3);
const CONCURRENCY = Number(opt.concurrency ?? 32);
const LT_INITIATORS = Number(opt['lt-initiators'] ?? 4);
const LT_DELAY = Number(opt['lt-delay'] ?? 1);
const CHARON_LOGLEVEL = Number(opt['charon-loglevel'] ?? 1);
const CHARON_TABLE = Number(opt['charon-table'] ?? 4096);
const WARMUP_MS = Number(opt.warmup ?? 1) * 1000;
const DELETE = opt.delete === true;

interface Sample {
  readonly t: number;
  readonly sas: number;
  readonly cpuI: number;
  readonly cpuR: number;
}

interface PairResult {
  /** IKE SAs established per second (counted by the responder). */
  rate: number;
  /** µs of CPU per established IKE SA: initiator, responder, both. */
  cpuPerSaI: number;
  cpuPerSaR: number;
  cpuPerSa: number;
  /** IKE SAs established in the window (responder's count). */
  sas: number;
  /** The initiator's own count, where it has one (pqike's bench initiator). */
  initiatorSas?: number;
  failed?: number;
  /** With --delete, the bench initiator's deletes that failed. */
  deleteFailed?: number;
}

/** Both processes' CPU time now, then the responder's count (the same order at both ends of the window). */
async function sample(r: Responder, initiatorPid: number): Promise<Sample> {
  const t = performance.now();
  const cpuI = cpuOf(initiatorPid);
  const cpuR = cpuOf(r.pid);
  return { t, cpuI, cpuR, sas: await r.established() };
}

function result(a: Sample, b: Sample, extra: Partial<PairResult> = {}): PairResult {
  const sas = b.sas - a.sas;
  if (sas <= 0) throw new Error('no IKE SA established in the measured window');
  const cpuPerSaI = (b.cpuI - a.cpuI) / sas;
  const cpuPerSaR = (b.cpuR - a.cpuR) / sas;
  return { rate: sas / ((b.t - a.t) / 1000), cpuPerSaI, cpuPerSaR, cpuPerSa: cpuPerSaI + cpuPerSaR, sas, ...extra };
}

/** pqike's bench initiator against the daemon `r`, sampled at the initiator's own window marks. */
function pqikePair(r: Responder): Promise<PairResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', r.pair.a.ns, process.execPath, WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // `ip netns exec` execs node: the child's pid is the initiator's.
    const pid = child.pid;
    if (pid === undefined) {
      reject(new Error('the bench initiator did not start'));
      return;
    }
    let s0: Promise<Sample> | undefined;
    let s1: Promise<Sample> | undefined;
    child.on('message', (m: FromWorker) => {
      if (m.type === 'mark' && m.phase === 'start') s0 = sample(r, pid);
      else if (m.type === 'mark' && m.phase === 'end') s1 = sample(r, pid);
      else if (m.type === 'result') {
        const res: InitiatorResult = m;
        if (!s0 || !s1) {
          reject(new Error('the bench initiator sent no window marks'));
          child.kill();
        } else
          Promise.all([s0, s1]).then(
            ([a, b]) => {
              child.kill();
              try {
                resolve(result(a, b, { initiatorSas: res.completedMeasured, failed: res.failed, ...(res.deleteFailed === undefined ? {} : { deleteFailed: res.deleteFailed }) }));
              } catch (e) {
                reject(new Error(`pqike ↔ pqike: ${e instanceof Error ? e.message : String(e)} (${res.failed} failed${res.firstError ? `: ${res.firstError}` : ''})`));
              }
            },
            (e: unknown) => {
              child.kill();
              reject(e instanceof Error ? e : new Error(String(e)));
            },
          );
      } else if (m.type === 'error') reject(new Error(`bench initiator: ${m.message}`));
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) reject(new Error(`the bench initiator exited with ${code}`));
    });
    const cfg = benchInitiatorConfig(r.pair, { proposal: PROPOSAL, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, runMs: SECONDS * 1000, deleteAfterEstablished: DELETE });
    child.send(cfg);
  });
}

/** strongSwan's load-tester against Debian's charon `r`. */
async function charonPair(r: Responder): Promise<PairResult> {
  const lt = await startLoadTester(r.pair, {
    proposal: PROPOSAL,
    initiators: LT_INITIATORS,
    delayMs: LT_DELAY,
    initLimit: CONCURRENCY,
    deleteAfterEstablished: DELETE,
    ...(CHARON_TABLE > 0 ? { ikesaTableSize: CHARON_TABLE } : { ikesaTableSize: 1 }),
  });
  try {
    await sleep(WARMUP_MS);
    const a = await sample(r, lt.pid);
    await sleep(SECONDS * 1000);
    const b = await sample(r, lt.pid);
    if (!lt.running) throw new Error(`the load-tester exited early:\n${lt.log().split('\n').slice(-20).join('\n')}`);
    try {
      return result(a, b);
    } catch (e) {
      throw new Error(`charon ↔ charon: ${e instanceof Error ? e.message : String(e)}; the load-tester's log ends:\n${lt.log().split('\n').slice(-20).join('\n')}`);
    }
  } finally {
    await lt.stop();
  }
}

async function main(): Promise<number> {
  if (opt.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] ?? '');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('setup-rate-compare: needs root (network namespaces)\n');
    return 2;
  }
  const skip = charonSkipReason() ?? loadTesterSkipReason();
  if (skip) {
    process.stderr.write(`setup-rate-compare: ${skip}\n`);
    return 2;
  }
  const optionError = steadyStateOptionError({ warmup: opt.warmup, deleting: DELETE, deleteFlag: '--delete', charonLogLevel: CHARON_LOGLEVEL });
  if (optionError) {
    process.stderr.write(`setup-rate-compare: ${optionError}\n`);
    return 2;
  }
  const log = (l: string): void => {
    if (!opt.json) process.stdout.write(`${l}\n`);
  };
  const fmt = (p: PairResult): string => `${p.rate.toFixed(0)} SAs/s, ${p.cpuPerSa.toFixed(0)} µs CPU/SA (initiator ${p.cpuPerSaI.toFixed(0)} + responder ${p.cpuPerSaR.toFixed(0)})`;
  log(`setup rate, pqike ↔ pqike (bench initiator, daemon on Node ${process.version}) vs charon ↔ charon (load-tester ${loadTesterCharon()} → Debian charon), proposal ${PROPOSAL}`);
  log(`${CONCURRENCY} IKE SAs in flight (load-tester: init_limit, ${LT_INITIATORS} threads, ${LT_DELAY} ms); charon log level ${CHARON_LOGLEVEL}, ikesa_table_size ${CHARON_TABLE || 'default'}; ${DELETE ? 'each IKE SA deleted by its initiator once up; ' : ''}${ROUNDS} rounds of ${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured per pair`);
  const rows: { round: number; pqike: PairResult; charon: PairResult }[] = [];
  const charonOpts = { proposal: PROPOSAL, logLevel: CHARON_LOGLEVEL, ...(CHARON_TABLE > 0 ? { ikesaTableSize: CHARON_TABLE } : {}), countFromLog: DELETE };
  for (let round = 1; round <= ROUNDS; round++) {
    const order: ('pqike' | 'charon')[] = round % 2 === 1 ? ['pqike', 'charon'] : ['charon', 'pqike'];
    const got: { pqike?: PairResult; charon?: PairResult } = {};
    for (const who of order) got[who] = await (who === 'pqike' ? withDaemon({ proposal: PROPOSAL }, pqikePair) : withCharon(charonOpts, charonPair));
    const { pqike: p, charon: c } = got;
    if (!p || !c) throw new Error('a pair was not measured');
    rows.push({ round, pqike: p, charon: c });
    log(`  round ${round}: pqike ↔ pqike ${fmt(p)}; charon ↔ charon ${fmt(c)}; rate pqike/charon ${(p.rate / c.rate).toFixed(2)}, CPU per SA charon/pqike ${(c.cpuPerSa / p.cpuPerSa).toFixed(2)}`);
  }
  const med = (f: (r: (typeof rows)[number]) => number): number => median(rows.map(f));
  // The floor no pqike pair can go below on this machine: the crypto primitives one handshake
  // needs on both sides (bench/primitives.ts, node:crypto as the engine calls it), measured
  // now, in the same run. With every core busy on nothing else, that gives the highest setup
  // rate pqike ↔ pqike could reach here, and its ratio to charon ↔ charon's measured rate.
  // (handshakeCost knows x25519 [+ ML-KEM] handshakes only.)
  const cost = /-x25519(-|$)/.test(PROPOSAL) ? handshakeCost(PROPOSAL, measurePrimitives(100, 5)) : undefined;
  const cores = availableParallelism();
  const charonRate = med((r) => r.charon.rate);
  const floor = cost && { cryptoUsPerSa: cost.us, parts: cost.parts, cores, maxRate: (cores * 1e6) / cost.us, maxRateRatio: (cores * 1e6) / cost.us / charonRate, maxCpuRatio: med((r) => r.charon.cpuPerSa) / cost.us };
  const summary = {
    proposal: PROPOSAL,
    node: process.version,
    concurrency: CONCURRENCY,
    loadTester: { charon: loadTesterCharon(), initiators: LT_INITIATORS, delayMs: LT_DELAY, initLimit: CONCURRENCY },
    charonLogLevel: CHARON_LOGLEVEL,
    charonIkesaTableSize: CHARON_TABLE,
    rounds: ROUNDS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_MS / 1000,
    delete: DELETE,
    pqike: { rate: med((r) => r.pqike.rate), cpuPerSa: med((r) => r.pqike.cpuPerSa), cpuPerSaI: med((r) => r.pqike.cpuPerSaI), cpuPerSaR: med((r) => r.pqike.cpuPerSaR) },
    charon: { rate: med((r) => r.charon.rate), cpuPerSa: med((r) => r.charon.cpuPerSa), cpuPerSaI: med((r) => r.charon.cpuPerSaI), cpuPerSaR: med((r) => r.charon.cpuPerSaR) },
    /** Medians of the per-round ratios. */
    rateRatioMedian: med((r) => r.pqike.rate / r.charon.rate),
    cpuPerSaRatioMedian: med((r) => r.charon.cpuPerSa / r.pqike.cpuPerSa),
    ...(floor ? { floor } : {}),
    rows,
  };
  if (opt.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    log(`median pqike ↔ pqike: ${summary.pqike.rate.toFixed(0)} SAs/s, ${summary.pqike.cpuPerSa.toFixed(0)} µs CPU/SA (initiator ${summary.pqike.cpuPerSaI.toFixed(0)} + responder ${summary.pqike.cpuPerSaR.toFixed(0)})`);
    log(`median charon ↔ charon: ${summary.charon.rate.toFixed(0)} SAs/s, ${summary.charon.cpuPerSa.toFixed(0)} µs CPU/SA (initiator ${summary.charon.cpuPerSaI.toFixed(0)} + responder ${summary.charon.cpuPerSaR.toFixed(0)})`);
    log(`median of the per-round ratios: setup rate pqike/charon ${summary.rateRatioMedian.toFixed(2)}, CPU per SA charon/pqike ${summary.cpuPerSaRatioMedian.toFixed(2)}`);
    if (floor) log(`crypto floor (primitives of one handshake, both sides, measured now): ${floor.cryptoUsPerSa.toFixed(0)} µs per SA (${Object.entries(floor.parts).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')})`);
    if (floor) log(`  so pqike ↔ pqike cannot pass ${floor.maxRate.toFixed(0)} SAs/s on ${cores} cores here: at most ${floor.maxRateRatio.toFixed(2)}× charon ↔ charon's rate, and CPU per SA at most ${floor.maxCpuRatio.toFixed(2)}× below charon's, with nothing but crypto`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`setup-rate-compare: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
