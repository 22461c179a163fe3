/**
 * The pqike daemon and Debian's strongSwan charon as responders, side by side, with the same
 * client: `node dist/bench/responder-compare.js [options]` (root: network namespaces; needs the
 * strongswan-charon, strongswan-swanctl, libcharon-extra-plugins and
 * libstrongswan-standard-plugins packages, as the interop tests do).
 *
 * Each responder runs alone in namespace B of its own pair, as a gateway runs it: the daemon
 * with its configuration file (data_plane: fake, so nothing is installed anywhere), charon with
 * swanctl and kernel-libipsec (userspace ESP: this kernel has no ESP; it installs each Child SA
 * in charon's own memory, the closest charon has to installing nothing). The client is pqike's
 * bench initiator (bench/udp-initiator.ts) in namespace A, keeping --concurrency IKE SAs (PSK,
 * first Child SA in IKE_AUTH) in flight. A round measures both responders one after the other
 * for --seconds each, both started afresh for each round (the order alternates between rounds,
 * so a drifting machine favours neither); the responder's CPU time (utime + stime from
 * /proc/PID/stat) over the measured window is divided by the IKE SAs established in it. Printed: per round the two figures and
 * their ratio, then the medians. Classic proposals only against charon: Debian's 5.9.8 has no
 * ML-KEM. Both responders get their DoS thresholds raised (one client address holds every
 * half-open SA); both log at their default levels.
 *
 * Options: --proposal P (default aes256gcm16-prfsha384-x25519), --rounds N (default 5),
 *   --seconds S (default 3), --concurrency N (default 8), --json, --cpu-prof DIR (profile the
 *   daemon: one .cpuprofile per round in DIR; see bench/cpuprofile-top.ts), --baseline DIR (another
 *   pqike tree, built: its daemon is measured too in every round, for a before/after in one run).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Charon, charonSkipReason } from '../test/interop/strongswan.js';
import { startInNs, withNetnsPair } from '../test/interop/netns.js';
import type { NetnsPair, NsProcess } from '../test/interop/netns.js';
import { median } from './common.js';
import type { FromWorker, InitiatorConfig, InitiatorResult } from './common.js';

const { values: opt } = parseArgs({
  options: {
    proposal: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    baseline: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const WORKER = join(HERE, 'udp-initiator.js');
const PROPOSAL = opt.proposal ?? 'aes256gcm16-prfsha384-x25519';
const ROUNDS = Number(opt.rounds ?? 5);
const SECONDS = Number(opt.seconds ?? 3);
const CONCURRENCY = Number(opt.concurrency ?? 8);
const PSK = 'pqike-bench-psk-not-secret-0123456789';
const TICK_US = 1_000_000 / 100; // USER_HZ: /proc/PID/stat counts in 1/100 s on Linux

type Who = 'pqike' | 'charon' | 'baseline';

/** Addresses inside the traffic selectors of bench/common.ts, so that charon's libipsec finds a source for its routes. */
const INNER = { innerA: '10.1.0.1', innerB: '10.2.0.1' } as const;

/** utime + stime of a process, µs. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

function daemonYaml(pair: NetnsPair, socket: string): string {
  return `secrets: secrets.yaml
log:
  level: info
control:
  socket: ${socket}
data_plane: fake
limits:
  cookie_threshold: 100000
  cookie_threshold_ip: 100000
  block_threshold: 100000
connections:
  bench:
    local_addrs: ${pair.b.addr}
    remote_addrs: '%any'
    local_id: responder.bench.pqike
    remote_id: initiator.bench.pqike
    psk: bench
    proposals: [${PROPOSAL}]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
`;
}

interface Responder {
  readonly who: Who;
  readonly pair: NetnsPair;
  readonly pid: number;
}

/** One measured run of the client against `r`: IKE SAs per second and the responder's µs of CPU per SA. */
function measure(r: Responder): Promise<{ rate: number; cpuPerSaUs: number; sas: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', r.pair.a.ns, process.execPath, WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let cpu0 = 0;
    let cpu1 = 0;
    child.on('message', (m: FromWorker) => {
      if (m.type === 'mark' && m.phase === 'start') cpu0 = cpuOf(r.pid);
      else if (m.type === 'mark' && m.phase === 'end') cpu1 = cpuOf(r.pid);
      else if (m.type === 'result') {
        const res: InitiatorResult = m;
        if (res.completedMeasured === 0) reject(new Error(`${r.who}: no IKE SA established (${res.failed} failed${res.firstError ? `: ${res.firstError}` : ''})`));
        else resolve({ rate: median(res.rates), cpuPerSaUs: (cpu1 - cpu0) / res.completedMeasured, sas: res.completedMeasured, failed: res.failed });
        child.kill();
      } else if (m.type === 'error') reject(new Error(`${r.who} client: ${m.message}`));
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) reject(new Error(`${r.who} client exited with ${code}`));
    });
    const cfg: InitiatorConfig = {
      type: 'config',
      proposal: PROPOSAL,
      psk: Buffer.from(PSK).toString('base64'),
      port: 500,
      concurrency: CONCURRENCY,
      warmupMs: 1000,
      runMs: SECONDS * 1000,
      runs: 1,
      local: r.pair.a.addr,
      remote: r.pair.b.addr,
    };
    child.send(cfg);
  });
}

async function withDaemon<T>(fn: (r: Responder) => Promise<T>, cli = CLI, who: Who = 'pqike'): Promise<T> {
  return withNetnsPair(async (pair) => {
    const dir = mkdtempSync(join(tmpdir(), 'pqike-bench-daemon-'));
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  bench: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'pqike.yaml'), daemonYaml(pair, join(dir, 'run', 'pqike.sock')));
    let proc: NsProcess | undefined;
    try {
      proc = await startInNs(pair.b.ns, process.execPath, [...(opt['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${opt['cpu-prof']}`] : []), cli, 'daemon', '-c', join(dir, 'pqike.yaml')], { readyPattern: /control socket/, readyTimeoutMs: 20_000, logPath: join(dir, 'daemon.log') });
      return await fn({ who, pair, pid: proc.pid });
    } finally {
      await proc?.stop('SIGTERM', 5000);
      rmSync(dir, { recursive: true, force: true });
    }
  }, INNER);
}

async function withCharon<T>(fn: (r: Responder) => Promise<T>): Promise<T> {
  return withNetnsPair(async (pair) => {
    const charon = await Charon.start({
      ns: pair.b.ns,
      name: 'bench',
      removeDirOnStop: true,
      // charon's own DoS thresholds, raised as the daemon's are.
      extraCharonConf: '  dos_protection = no\n  cookie_threshold = 100000\n  block_threshold = 100000\n',
    });
    try {
      await charon.loadConfig([
        {
          name: 'bench',
          localAddrs: pair.b.addr,
          remoteAddrs: '%any',
          localId: 'responder.bench.pqike',
          remoteId: 'initiator.bench.pqike',
          psk: PSK,
          ikeProposals: [PROPOSAL],
          espProposals: ['aes256gcm16'],
          childName: 'net',
          localTs: '10.2.0.0/16',
          remoteTs: '10.1.0.0/16',
          rekeyTime: '0',
          childRekeyTime: '0',
        },
      ]);
      return await fn({ who: 'charon', pair, pid: charon.proc.pid });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\ncharon's log ends:\n${charon.log().split('\n').slice(-20).join('\n')}`);
    } finally {
      await charon.stop();
    }
  }, INNER);
}

async function main(): Promise<number> {
  if (opt.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] ?? '');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('responder-compare: needs root (network namespaces)\n');
    return 2;
  }
  const skip = charonSkipReason();
  if (skip) {
    process.stderr.write(`responder-compare: ${skip}\n`);
    return 2;
  }
  type Measured = Awaited<ReturnType<typeof measure>>;
  const rows: { round: number; pqike: Measured; charon: Measured; baseline?: Measured }[] = [];
  const baselineCli = opt.baseline ? join(opt.baseline, 'dist', 'src', 'cli', 'main.js') : undefined;
  const log = (l: string): void => {
    if (!opt.json) process.stdout.write(`${l}\n`);
  };
  log(`responders side by side: pqike daemon (Node ${process.version}) vs strongSwan charon, proposal ${PROPOSAL}`);
  log(`client: pqike's bench initiator, ${CONCURRENCY} IKE SAs in flight; ${ROUNDS} rounds of ${SECONDS} s per responder`);
  for (let round = 1; round <= ROUNDS; round++) {
    // Each responder fresh for each round (charon slows down as identical Child SAs pile up in
    // libipsec; a round should not measure the previous one's state), the order alternating, so
    // that a machine drifting within a round favours neither.
    const all: Who[] = baselineCli ? ['pqike', 'baseline', 'charon'] : ['pqike', 'charon'];
    const order = round % 2 === 1 ? all : [...all].reverse();
    const got: Partial<Record<Who, Measured>> = {};
    for (const who of order) got[who] = await (who === 'charon' ? withCharon(measure) : who === 'baseline' && baselineCli ? withDaemon(measure, baselineCli, 'baseline') : withDaemon(measure));
    const p = got.pqike;
    const c = got.charon;
    const b = got.baseline;
    if (!p || !c) throw new Error('a responder was not measured');
    rows.push({ round, pqike: p, charon: c, ...(b ? { baseline: b } : {}) });
    log(`  round ${round}: pqike ${p.cpuPerSaUs.toFixed(0)} µs/SA (${p.rate.toFixed(0)} SAs/s), charon ${c.cpuPerSaUs.toFixed(0)} µs/SA (${c.rate.toFixed(0)} SAs/s); pqike/charon CPU per SA ${(p.cpuPerSaUs / c.cpuPerSaUs).toFixed(2)}${b ? `; baseline ${b.cpuPerSaUs.toFixed(0)} µs/SA, pqike/baseline ${(p.cpuPerSaUs / b.cpuPerSaUs).toFixed(2)}` : ''}`);
  }
  const med = (f: (r: (typeof rows)[number]) => number): number => median(rows.map(f));
  const summary = {
    proposal: PROPOSAL,
    node: process.version,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    seconds: SECONDS,
    pqikeCpuPerSaUs: med((r) => r.pqike.cpuPerSaUs),
    charonCpuPerSaUs: med((r) => r.charon.cpuPerSaUs),
    ratioMedian: med((r) => r.pqike.cpuPerSaUs / r.charon.cpuPerSaUs),
    ...(baselineCli ? { baselineRatioMedian: med((r) => r.pqike.cpuPerSaUs / (r.baseline?.cpuPerSaUs ?? Number.NaN)) } : {}),
    pqikeRate: med((r) => r.pqike.rate),
    charonRate: med((r) => r.charon.rate),
    rows,
  };
  if (opt.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    log(`median responder CPU per SA: pqike ${summary.pqikeCpuPerSaUs.toFixed(0)} µs, charon ${summary.charonCpuPerSaUs.toFixed(0)} µs; median of the per-round ratios pqike/charon ${summary.ratioMedian.toFixed(2)}`);
    log(`median rate with this client: pqike ${summary.pqikeRate.toFixed(0)} SAs/s, charon ${summary.charonRate.toFixed(0)} SAs/s`);
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
