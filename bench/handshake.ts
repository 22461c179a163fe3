/**
 * pqike handshake benchmark (`npm run bench`, or `node dist/bench/handshake.js [options]`).
 *
 *  1. IKE SAs established per second (PSK, first Child SA in IKE_AUTH) for each proposal:
 *     a. two engines in this process, sequential handshakes (median of runs);
 *     b. two processes over UDP on 127.0.0.1: bench/udp-responder.js (one engine, one socket)
 *        and bench/udp-initiator.js (N handshakes in flight on one engine and socket).
 *  2. Median µs per primitive, and their sum for one handshake (both sides).
 *  3. Bytes and datagrams on the wire per handshake.
 *  4. Heap per established IKE SA (bench/memory.js, forked with --expose-gc).
 *  5. Rekeys per second in-process (bench/rekey.js), each checked on both sides: Child SA
 *     rekeys (CREATE_CHILD_SA + IKE_FOLLOWUP_KE + delete of the old Child SA) with and without
 *     PFS, IKE SA rekeys (CREATE_CHILD_SA + IKE_FOLLOWUP_KE + delete of the old IKE SA); bytes
 *     and datagrams per rekey. Fixed proposals (see bench/rekey.ts), not --proposal.
 *  6. IKE SAs per second in-process and octets per handshake by authentication: PSK, and
 *     certificates with ECDSA P-256, Ed25519, RSA-PSS and ML-DSA-65 (bench/auth.ts), with the
 *     cost of one uncached certificate path validation.
 *
 * Options: --seconds S (per run, default 1), --runs N (default 5), --quick, --json,
 *   --concurrency N (default 32), --memory-sas N (default 2000), --proposal P (repeatable),
 *   --only LIST (comma list of prims,wire,inproc,udp,memory,rekey,auth), --cpu-prof DIR (profile the
 *   UDP worker processes; one .cpuprofile per process in DIR), --warmup S (seconds of handshakes
 *   before the measured in-process and UDP runs; default 0.3 and 0.5: give 10 or more for the
 *   steady state of a long-running daemon).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mlkemBackend } from '../src/crypto/mlkem.js';
import { DEFAULT_PROPOSALS, median } from './common.js';
import type { CpuSample, FromWorker, InitiatorResult, ToWorker } from './common.js';
import { BenchPair, emptyWire, inProcessRate } from './inprocess.js';
import type { WireStats } from './inprocess.js';
import type { MemoryRequest, MemoryResult } from './memory.js';
import { REKEY_CHILD_IKE_PROPOSAL, REKEY_CHILD_PROPOSALS, REKEY_IKE_PROPOSALS, rekeyRate, rekeyWire } from './rekey.js';
import type { RekeyKind } from './rekey.js';
import { handshakeCost, measurePrimitives } from './primitives.js';
import { AUTH_PROPOSAL, authRows } from './auth.js';
import type { AuthRow } from './auth.js';
import { mlDsaBackend } from '../src/crypto/signature-keys.js';
import type { HandshakeCost, PrimitiveResult } from './primitives.js';

const SECTIONS = ['prims', 'wire', 'inproc', 'udp', 'memory', 'rekey', 'auth'] as const;
type Section = (typeof SECTIONS)[number];

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string' },
    runs: { type: 'string' },
    quick: { type: 'boolean' },
    json: { type: 'boolean' },
    concurrency: { type: 'string' },
    'memory-sas': { type: 'string' },
    proposal: { type: 'string', multiple: true },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    warmup: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});

if (opt.help === true) {
  process.stdout.write(
    'usage: node dist/bench/handshake.js [--seconds S] [--runs N] [--quick] [--json] [--concurrency N]\n' +
      '         [--memory-sas N] [--proposal P ...] [--only prims,wire,inproc,udp,memory,rekey,auth] [--cpu-prof DIR] [--warmup S]\n',
  );
  process.exit(0);
}

function num(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

const quick = opt.quick === true;
const runSeconds = num(opt.seconds, quick ? 0.3 : 1, 'seconds');
const runs = Math.round(num(opt.runs, quick ? 3 : 5, 'runs'));
const concurrency = Math.round(num(opt.concurrency, 32, 'concurrency'));
const memorySas = Math.round(num(opt['memory-sas'], quick ? 300 : 2000, 'memory-sas'));
const proposals = opt.proposal ?? [...DEFAULT_PROPOSALS];
const only = new Set<Section>(
  opt.only === undefined
    ? SECTIONS
    : opt.only.split(',').map((s) => {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section '${s}'`);
        return s as Section;
      }),
);
const cpuProfDir = opt['cpu-prof'];
const json = opt.json === true;
const runMs = runSeconds * 1000;
/**
 * Handshakes before the measured runs (in-process and UDP): by default a short one, as the
 * figures have always been taken; --warmup S for steady state, since V8 is still compiling the
 * engine's hot paths in the background for the first few thousand handshakes.
 */
const warmupOpt = opt.warmup === undefined ? undefined : num(opt.warmup, 0, 'warmup') * 1000;
const warmupMs = warmupOpt ?? Math.min(500, runMs);
const inProcWarmupMs = warmupOpt ?? Math.min(300, runMs);
const primBatchMs = quick ? 20 : 60;
const primBatches = quick ? 3 : 5;

/** One PSK for the whole run, random, in memory; workers get it over IPC. */
const PSK = randomBytes(32);
const PSK_B64 = PSK.toString('base64');

// ---- child processes: tracked, killed on exit, bounded in time ----------------------------

const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killChildren();
    process.exit(130);
  });
}

/** Hard bound on the whole benchmark: generous against the expected runtime. */
const expectedMs =
  (only.has('inproc') ? proposals.length * (runs * runMs + inProcWarmupMs + 200) : 0) +
  (only.has('udp') ? proposals.length * (runs * runMs + warmupMs + 2000) : 0) +
  (only.has('prims') ? 14 * (primBatches + 1) * primBatchMs * 1.5 : 0) +
  (only.has('memory') ? proposals.length * (memorySas * 10 + 2000) : 0) +
  (only.has('rekey') ? (REKEY_CHILD_PROPOSALS.length + REKEY_IKE_PROPOSALS.length) * (runs * runMs + 1000) : 0) +
  (only.has('auth') ? 5 * (runs * runMs + 5000) : 0) +
  5000;
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: exceeded ${Math.round((2 * expectedMs) / 1000)} s, aborting\n`);
  killChildren();
  process.exit(3);
}, 2 * expectedMs);
watchdog.unref();

function worker(name: string, execArgv: string[] = []): ChildProcess {
  const path = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  const c = fork(path, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(c);
  c.once('exit', () => children.delete(c));
  // EPIPE on the IPC channel of a worker that has just exited is expected, not fatal.
  c.on('error', (e) => {
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') process.stderr.write(`bench: ${name}: ${e.message}\n`);
  });
  return c;
}

function nextMessage<T extends { type: string }>(c: ChildProcess, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`worker: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: { type: string; message?: string }): void => {
      if (m.type === type) done(undefined, m as T);
      else if (m.type === 'error') done(new Error(`worker error: ${m.message ?? ''}`));
    };
    const onExit = (code: number | null): void => done(new Error(`worker exited (${String(code)}) before '${type}'`));
    const done = (err?: Error, v?: T): void => {
      clearTimeout(timer);
      c.off('message', onMsg);
      c.off('exit', onExit);
      if (err) reject(err);
      else resolve(v as T);
    };
    c.on('message', onMsg);
    c.once('exit', onExit);
  });
}

function tell(c: ChildProcess, m: ToWorker | MemoryRequest): void {
  if (c.connected && c.exitCode === null) c.send(m, (e) => e ?? undefined);
}

function waitExit(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      resolve();
    }, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

// ---- sections ---------------------------------------------------------------------------

interface UdpResult {
  readonly proposal: string;
  readonly rates: number[];
  readonly median: number;
  readonly completed: number;
  readonly failed: number;
  readonly retransmits: number;
  /** CPU use during the measured runs, as a fraction of one core. */
  readonly initiatorCpu: number;
  readonly responderCpu: number;
  /** CPU time per completed handshake in each process, µs (independent of other load). */
  readonly initiatorCpuUsPerSa: number;
  readonly responderCpuUsPerSa: number;
  /** 1e6 / max(per-SA CPU of either process): the rate if each process had a core to itself. */
  readonly cpuBoundCeiling: number;
  readonly firstError?: string;
}

async function udpRun(proposal: string): Promise<UdpResult> {
  const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir];
  const resp = worker('udp-responder', prof);
  const init = worker('udp-initiator', prof);
  try {
    tell(resp, { type: 'config', proposal, psk: PSK_B64 });
    const ready = await nextMessage<{ type: 'ready'; port: number }>(resp, 'ready', 10000);
    const cpuAt = async (): Promise<CpuSample> => {
      const p = nextMessage<CpuSample>(resp, 'cpu', 5000);
      tell(resp, { type: 'cpu?' });
      return p;
    };
    let startSample: Promise<CpuSample> | undefined;
    let endSample: Promise<CpuSample> | undefined;
    init.on('message', (m: FromWorker) => {
      if (m.type === 'mark' && m.phase === 'start') startSample = cpuAt();
      if (m.type === 'mark' && m.phase === 'end') endSample = startSample?.then(() => cpuAt());
    });
    const resultP = nextMessage<InitiatorResult>(init, 'result', warmupMs + runs * runMs + 20000);
    tell(init, { type: 'config', proposal, psk: PSK_B64, port: ready.port, concurrency, warmupMs, runMs, runs });
    const r = await resultP;
    const s0 = await startSample;
    const s1 = await endSample;
    const responderCpu = s0 && s1 ? (s1.cpuUs - s0.cpuUs) / 1000 / (s1.wallMs - s0.wallMs) : NaN;
    const initiatorCpuUsPerSa = r.cpuUs / r.completedMeasured;
    const responderCpuUsPerSa = s0 && s1 ? (s1.cpuUs - s0.cpuUs) / r.completedMeasured : NaN;
    return {
      proposal,
      rates: r.rates,
      median: median(r.rates),
      completed: r.completed,
      failed: r.failed,
      retransmits: r.retransmits,
      initiatorCpu: r.cpuUs / 1000 / r.wallMs,
      responderCpu,
      initiatorCpuUsPerSa,
      responderCpuUsPerSa,
      cpuBoundCeiling: 1e6 / Math.max(initiatorCpuUsPerSa, responderCpuUsPerSa),
      ...(r.firstError === undefined ? {} : { firstError: r.firstError }),
    };
  } finally {
    if (init.connected) tell(init, { type: 'stop' });
    if (resp.connected) tell(resp, { type: 'stop' });
    await Promise.all([waitExit(init, 5000), waitExit(resp, 5000)]);
  }
}

async function memoryRun(proposal: string): Promise<MemoryResult> {
  const c = worker('memory', ['--expose-gc']);
  try {
    const p = nextMessage<MemoryResult>(c, 'memory-result', memorySas * 20 + 20000);
    tell(c, { type: 'memory', proposal, psk: PSK_B64, count: memorySas });
    return await p;
  } finally {
    await waitExit(c, 5000);
  }
}

interface InProcResult {
  readonly proposal: string;
  readonly rates: number[];
  readonly median: number;
}

function inProcRun(proposal: string): InProcResult {
  inProcessRate(proposal, PSK, inProcWarmupMs); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) rates.push(inProcessRate(proposal, PSK, runMs));
  return { proposal, rates, median: median(rates) };
}

function wireRun(proposal: string): { proposal: string } & WireStats {
  const w = emptyWire();
  new BenchPair(proposal, PSK).handshake(w);
  return { proposal, ...w };
}

interface RekeyResult extends WireStats {
  readonly kind: RekeyKind;
  /** ESP proposal for 'child', IKE proposal for 'ike'. */
  readonly proposal: string;
  readonly rates: number[];
  readonly median: number;
}

function rekeyRun(kind: RekeyKind, proposal: string): RekeyResult {
  rekeyRate(kind, proposal, PSK, Math.min(300, runMs)); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) rates.push(rekeyRate(kind, proposal, PSK, runMs));
  return { kind, proposal, rates, median: median(rates), ...rekeyWire(kind, proposal, PSK) };
}

// ---- output -----------------------------------------------------------------------------

function table(head: string[], rows: (string | number)[][], align?: ('l' | 'r')[]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string =>
    r.map((c, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-');

function short(p: string): string {
  return p.replace(/^aes256gcm16-prfsha384-/, '');
}

function log(s: string): void {
  if (!json) process.stdout.write(`${s}\n`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const cpu = cpus();
  const meta = {
    node: process.version,
    mlkemBackend: mlkemBackend(),
    openssl: process.versions.openssl,
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    platform: `${process.platform}-${process.arch}`,
    /** 1-minute load average before the run: other work on the machine skews every figure. */
    loadAverageStart: loadavg()[0] ?? 0,
    loadAverageEnd: 0,
    settings: { runSeconds, runs, concurrency, memorySas, quick, proposals },
  };
  log(`pqike handshake benchmark — Node ${meta.node} (OpenSSL ${meta.openssl}), ML-KEM backend: ${meta.mlkemBackend}`);
  log(`${meta.cores} × ${meta.cpu}, ${meta.platform}; runs: ${runs} × ${runSeconds} s, UDP concurrency ${concurrency}`);
  log('proposals: aes256gcm16-prfsha384-<KE>; PSK auth; first Child SA (aes256gcm16) in IKE_AUTH');
  log(`1-min load average at start: ${meta.loadAverageStart.toFixed(2)}${meta.loadAverageStart > 0.5 ? '  (WARNING: machine busy, figures will be low)' : ''}`);

  const out: {
    meta: typeof meta;
    inProcess?: InProcResult[];
    udp?: UdpResult[];
    primitives?: PrimitiveResult[];
    handshakeCost?: HandshakeCost[];
    wire?: ({ proposal: string } & WireStats)[];
    memory?: MemoryResult[];
    rekey?: RekeyResult[];
    auth?: AuthRow[];
    elapsedSeconds?: number;
  } = { meta };

  if (only.has('inproc')) {
    out.inProcess = proposals.map(inProcRun);
    log('\n1a. IKE SAs/s, two engines in one process (no sockets), sequential; median of runs');
    log(table(['proposal', 'median SA/s', 'µs/handshake', 'runs'], out.inProcess.map((r) => [short(r.proposal), f0(r.median), f0(1e6 / r.median), r.rates.map(f0).join(' ')])));
  }

  if (only.has('udp')) {
    out.udp = [];
    for (const p of proposals) out.udp.push(await udpRun(p));
    log(`\n1b. IKE SAs/s, initiator and responder processes over UDP 127.0.0.1, ${concurrency} in flight; median of runs`);
    log(
      table(
        ['proposal', 'median SA/s', 'runs', 'CPU init', 'CPU resp', 'CPU µs/SA init', 'resp', 'ceiling SA/s', 'failed', 'retx'],
        out.udp.map((r) => [
          short(r.proposal), f0(r.median), r.rates.map(f0).join(' '), pct(r.initiatorCpu), pct(r.responderCpu),
          f0(r.initiatorCpuUsPerSa), f0(r.responderCpuUsPerSa), f0(r.cpuBoundCeiling), r.failed, r.retransmits,
        ]),
      ),
    );
    log('   CPU init/resp: share of one core used by each process; CPU µs/SA: CPU time per completed handshake in');
    log('   each process; ceiling: 1e6 / max(init, resp) µs, the rate with a core per process and no other load');
    for (const r of out.udp) if (r.firstError !== undefined) log(`   ${short(r.proposal)}: first error: ${r.firstError}`);
  }

  if (only.has('prims')) {
    out.primitives = measurePrimitives(primBatchMs, primBatches);
    log('\n2. primitives, median µs per operation');
    log(table(['primitive', 'µs/op'], out.primitives.map((p) => [p.label, f1(p.us)])));
    out.handshakeCost = proposals.map((p) => handshakeCost(p, out.primitives ?? []));
    const inproc = new Map((out.inProcess ?? []).map((r) => [r.proposal, 1e6 / r.median]));
    log('\n   sum of primitives per handshake (both sides) vs. measured in-process µs/handshake');
    log(
      table(
        ['proposal', 'crypto µs', 'measured µs', 'crypto share', 'breakdown'],
        out.handshakeCost.map((c) => {
          const m = inproc.get(c.proposal) ?? NaN;
          return [short(c.proposal), f0(c.us), f0(m), pct(c.us / m), Object.entries(c.parts).map(([k, v]) => `${k} ${f0(v)}`).join(', ')];
        }),
        ['l', 'r', 'r', 'r', 'l'],
      ),
    );
  }

  if (only.has('wire')) {
    out.wire = proposals.map(wireRun);
    log('\n3. on the wire per handshake (UDP payload octets; add 28 per datagram for IPv4+UDP)');
    log(
      table(
        ['proposal', 'bytes', 'datagrams', 'i→r bytes/dgrams', 'r→i bytes/dgrams'],
        out.wire.map((w) => [short(w.proposal), w.bytes, w.datagrams, `${w.bytesIR}/${w.datagramsIR}`, `${w.bytesRI}/${w.datagramsRI}`]),
      ),
    );
  }

  if (only.has('memory')) {
    out.memory = [];
    for (const p of proposals) out.memory.push(await memoryRun(p));
    log(`\n4. memory per established IKE SA (${memorySas} handshakes in-process = ${memorySas} initiator + ${memorySas} responder SAs${out.memory.every((m) => m.gc) ? ', after forced GC' : ', NO forced GC'})`);
    log(
      table(
        ['proposal', 'heap/SA', 'external/SA', 'heap+ext/SA', 'RSS/SA'],
        out.memory.map((m) => [
          short(m.proposal),
          `${f0(m.heapPerHandshake / 2)} B`,
          `${f0(m.externalPerHandshake / 2)} B`,
          `${f0((m.heapPerHandshake + m.externalPerHandshake) / 2)} B`,
          `${f0(m.rssPerHandshake / 2)} B`,
        ]),
      ),
    );
  }

  if (only.has('rekey')) {
    out.rekey = [
      ...REKEY_CHILD_PROPOSALS.map((p) => rekeyRun('child', p)),
      ...REKEY_IKE_PROPOSALS.map((p) => rekeyRun('ike', p)),
    ];
    log(`\n5. rekeys/s, two engines in one process, one SA rekeyed over and over, each rekey checked on both sides; median of runs`);
    log(`   child: ESP proposal; Child SA of an IKE SA ${short(REKEY_CHILD_IKE_PROPOSAL)}; CREATE_CHILD_SA (+ IKE_FOLLOWUP_KE) + delete of the old Child SA`);
    log('   ike:   IKE proposal; CREATE_CHILD_SA (+ IKE_FOLLOWUP_KE) + delete of the old IKE SA; the Child SA moves along');
    log(
      table(
        ['rekey', 'proposal', 'median/s', 'µs/rekey', 'runs', 'bytes', 'datagrams', 'i→r bytes/dgrams', 'r→i bytes/dgrams'],
        out.rekey.map((r) => [
          r.kind, short(r.proposal), f0(r.median), f0(1e6 / r.median), r.rates.map(f0).join(' '),
          r.bytes, r.datagrams, `${r.bytesIR}/${r.datagramsIR}`, `${r.bytesRI}/${r.datagramsRI}`,
        ]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
  }

  if (only.has('auth')) {
    out.auth = await authRows(runs, runMs);
    log(`\n6. by authentication: IKE SAs/s, two engines in one process, ${short(AUTH_PROPOSAL)}, first Child SA in IKE_AUTH; certificate paths validated once`);
    log(`   and cached (a peer seen again); ML-DSA backend: ${mlDsaBackend()}; 'validate' is one uncached path validation (pkijs), median of 15`);
    log(
      table(
        ['auth', 'median/s', 'runs', 'bytes', 'datagrams', 'validate ms'],
        out.auth.map((r) => [r.auth, f0(r.median), r.rates.map(f0).join(' '), r.bytes, r.datagrams, r.validateMs === undefined ? '-' : r.validateMs.toFixed(2)]),
      ),
    );
  }

  out.elapsedSeconds = (performance.now() - t0) / 1000;
  meta.loadAverageEnd = loadavg()[0] ?? 0;
  log(`\ntotal ${out.elapsedSeconds.toFixed(1)} s; 1-min load average at end: ${meta.loadAverageEnd.toFixed(2)} (the benchmark itself adds up to 2)`);
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().then(
  () => {
    clearTimeout(watchdog);
    killChildren();
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    killChildren();
    process.exitCode = 1;
  },
);
