/**
 * Many established SAs in one pqike daemon (`node dist/bench/scale.js [options]`): memory per SA
 * and how the control verbs, a rekey, a reload and liveness checks fare at that scale.
 *
 * 1. Starts `pqike daemon` as a responder on 127.200.0.1 (a random high port; data_plane: fake,
 *    PSK, one connection, metrics on the next port, its DoS thresholds raised as
 *    bench/responder-compare.ts does), with bench/scale-probe.js preloaded (--expose-gc: its
 *    heap after a full GC, on SIGUSR2; a heap snapshot on SIGWINCH with --snapshot).
 * 2. Forks --procs bench initiators (bench/scale-initiator.js: an IkeEngine on a UdpDriver),
 *    each bound to its share of --addresses loopback source addresses (127.101.x.y, one socket
 *    each), which bring up --sas IKE SAs with their first Child SA in all, --concurrency at a
 *    time per process, round-robin over the addresses, and keep them (nothing is deleted).
 * 3. With all up: a full GC in the daemon, its RSS (VmRSS, VmHWM) and V8 heap (used, external,
 *    array buffers), each less the same figures before the first SA, per SA. Then, timed, one
 *    after the other: `pqike list-sas --json` (wall time, output size, SAs in it), a metrics
 *    scrape, `pqike rekey <id>` (an IKE SA: rekeyed and answered), `pqike rekey <id> --child
 *    net`, `pqike rekey bench` (by connection name: the connection's oldest IKE SA), `pqike reload` (the file unchanged), and an INFORMATIONAL liveness round trip from one
 *    initiator (RFC 7296 §2.4); the same verbs once before the first SA for the CLI's own cost.
 *    A second GC at the end: what the verbs left behind.
 * 4. Kills everything (no deletes: the point is the state, not the teardown).
 *
 * Options (defaults in brackets):
 *   --sas N            established IKE SAs (+ Child SA each) [100000]
 *   --procs N          initiator processes [2]
 *   --addresses N      source addresses in all [max(1, sas / 100)]
 *   --concurrency N    IKE SAs being set up at a time per initiator process [16]
 *   --proposal P       IKE proposal [aes256gcm16-prfsha384-x25519]
 *   --hybrid           the proposal aes256gcm16-prfsha384-x25519-ke1_mlkem768 instead
 *   --log-level L      the daemon's log level [info] (the log goes to a file)
 *   --cli DIR          the tree whose dist/src/cli/main.js is the daemon [this one]
 *   --snapshot FILE    also write a heap snapshot of the daemon with every SA up (after a GC)
 *   --timeout S        give up when the SAs are not up after S seconds [1800]
 *   --json             one JSON object at the end instead of the text
 *   --keep             keep the temporary directory (configuration, daemon log)
 *   --node-flag F      a V8/Node flag for the daemon's node (repeatable), e.g. --max-semi-space-size=4
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_LIMITS_YAML } from './common.js';
import type { FromScaleInitiator, ScaleInitiatorConfig, ScaleProgress } from './scale-initiator.js';

const { values: opt } = parseArgs({
  options: {
    sas: { type: 'string' },
    procs: { type: 'string' },
    addresses: { type: 'string' },
    concurrency: { type: 'string' },
    proposal: { type: 'string' },
    hybrid: { type: 'boolean' },
    'log-level': { type: 'string' },
    cli: { type: 'string' },
    snapshot: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    keep: { type: 'boolean' },
    'node-flag': { type: 'string', multiple: true },
    help: { type: 'boolean' },
  },
  strict: true,
});

const HERE = dirname(fileURLToPath(import.meta.url));
const TREE = opt.cli === undefined ? join(HERE, '..') : resolve(opt.cli, 'dist');
const CLI = join(TREE, 'src', 'cli', 'main.js');
const WORKER = join(HERE, 'scale-initiator.js');
const PROBE = join(HERE, 'scale-probe.js');

function count(name: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer >= ${min}, not '${v}'`);
  return n;
}

const SAS = count('sas', opt.sas, 100_000);
const PROCS = Math.min(count('procs', opt.procs, 2), SAS);
const ADDRESSES = Math.max(PROCS, count('addresses', opt.addresses, Math.max(1, Math.round(SAS / 100))));
const CONCURRENCY = count('concurrency', opt.concurrency, 16);
const PROPOSAL = opt.proposal ?? (opt.hybrid ? 'aes256gcm16-prfsha384-x25519-ke1_mlkem768' : 'aes256gcm16-prfsha384-x25519');
const LOG_LEVEL = opt['log-level'] ?? 'info';
const TIMEOUT_MS = count('timeout', opt.timeout, 1800) * 1000;
const DAEMON_ADDRESS = '127.200.0.1';
const MIB = 1024 * 1024;

/** Text on stdout; with --json, on stderr (the JSON object alone on stdout). */
const log = (l: string): void => {
  (opt.json ? process.stderr : process.stdout).write(`${l}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sourceAddress(i: number): string {
  return `127.101.${Math.floor(i / 254) % 256}.${(i % 254) + 1}`;
}

// ---- the daemon --------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'pqike-scale-'));
const ikePort = 20_000 + 2 * Math.floor(Math.random() * 20_000);
const metricsPort = ikePort + 1;
const psk = randomBytes(33).toString('base64');
const socket = join(dir, 'pqike.sock');
const configFile = join(dir, 'pqike.yaml');

function writeConfig(): void {
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  bench: "${psk}"\n`, { mode: 0o600 });
  writeFileSync(
    configFile,
    `secrets: secrets.yaml
port: ${ikePort}
log:
  level: ${LOG_LEVEL}
  format: json
control:
  socket: ${socket}
metrics:
  listen: ${DAEMON_ADDRESS}:${metricsPort}
data_plane: fake
${BENCH_LIMITS_YAML}connections:
  bench:
    local_addrs: ${DAEMON_ADDRESS}
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
`,
  );
}

function startDaemon(): ChildProcess {
  const fd = openSync(join(dir, 'daemon.log'), 'a');
  const child = spawn(process.execPath, [...(opt['node-flag'] ?? []), '--expose-gc', '--import', pathToFileURL(PROBE).href, CLI, 'daemon', '-c', configFile], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, PQIKE_FLOOD_MEMPROBE: join(dir, 'mem.json'), ...(opt.snapshot ? { PQIKE_SCALE_SNAPSHOT: resolve(opt.snapshot) } : {}) },
  });
  closeSync(fd);
  return child;
}

interface Mem {
  readonly rss: number;
  readonly hwm: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly gcMs: number;
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A full GC in the daemon (the probe, SIGUSR2), then its heap and RSS. */
async function gcPoint(pid: number): Promise<Mem> {
  const t = Date.now();
  process.kill(pid, 'SIGUSR2');
  for (let k = 0; k < 1200; k++) {
    await sleep(50);
    try {
      const m = JSON.parse(readFileSync(join(dir, 'mem.json.gc'), 'utf8')) as { at: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; gcMs: number };
      if (m.at >= t) return { ...procStatus(pid), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, gcMs: m.gcMs };
    } catch {
      // not written yet
    }
  }
  throw new Error('the daemon did not report its memory after a GC');
}

async function snapshot(pid: number, file: string): Promise<number> {
  const t0 = performance.now();
  rmSync(file, { force: true });
  process.kill(pid, 'SIGWINCH');
  for (let k = 0; k < 12_000 && !existsSync(file); k++) await sleep(50);
  if (!existsSync(file)) throw new Error('no heap snapshot written');
  return performance.now() - t0;
}

interface Timed {
  readonly ms: number;
  readonly code: number | null;
  readonly bytes: number;
  readonly out: string;
  readonly err: string;
}

/** Run a `pqike` control verb against the daemon: wall time, exit code, output. */
function pqike(args: readonly string[], keep = true): Promise<Timed> {
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args, '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      if (keep) out.push(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => resolvePromise({ ms: performance.now() - t0, code, bytes, out: Buffer.concat(out).toString('utf8'), err: err.trim() }));
  });
}

function httpGet(url: string): Promise<{ ms: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const req = get(url, { agent: false, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolvePromise({ ms: performance.now() - t0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function metricValue(body: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---- the initiators ----------------------------------------------------------------------

interface Initiator {
  readonly child: ChildProcess;
  ready: boolean;
  last?: ScaleProgress;
  error?: string;
  dpd?: (r: Extract<FromScaleInitiator, { type: 'dpd-result' }>) => void;
}

function startInitiators(): Initiator[] {
  const all: Initiator[] = [];
  for (let w = 0; w < PROCS; w++) {
    const addresses: string[] = [];
    for (let i = w; i < ADDRESSES; i += PROCS) addresses.push(sourceAddress(i));
    const n = Math.floor(SAS / PROCS) + (w < SAS % PROCS ? 1 : 0);
    const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const me: Initiator = { child, ready: false };
    child.on('message', (m: FromScaleInitiator) => {
      if (m.type === 'ready') me.ready = true;
      else if (m.type === 'progress') me.last = m;
      else if (m.type === 'dpd-result') me.dpd?.(m);
      else if (m.type === 'error') me.error = m.message;
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) me.error ??= `initiator ${w} exited with ${code}`;
    });
    const cfg: ScaleInitiatorConfig = { type: 'config', worker: w, proposal: PROPOSAL, psk: Buffer.from(psk).toString('base64'), remote: DAEMON_ADDRESS, port: ikePort, addresses, count: n, concurrency: CONCURRENCY, progressMs: 1000 };
    child.send(cfg);
    all.push(me);
  }
  return all;
}

function totals(all: readonly Initiator[]): { up: number; failed: number; retransmits: number; lost: number; done: boolean; rss: number; firstError?: string } {
  let up = 0;
  let failed = 0;
  let retransmits = 0;
  let lost = 0;
  let rss = 0;
  let firstError: string | undefined;
  for (const i of all) {
    up += i.last?.up ?? 0;
    failed += i.last?.failed ?? 0;
    retransmits += i.last?.retransmits ?? 0;
    lost += i.last?.lost ?? 0;
    rss += i.last?.rss ?? 0;
    firstError ??= i.last?.firstError;
  }
  return { up, failed, retransmits, lost, done: all.every((i) => i.last?.done === true), rss, ...(firstError === undefined ? {} : { firstError }) };
}

function dpdCheck(i: Initiator): Promise<Extract<FromScaleInitiator, { type: 'dpd-result' }>> {
  return new Promise((resolvePromise) => {
    i.dpd = (r) => {
      i.dpd = undefined;
      resolvePromise(r);
    };
    i.child.send({ type: 'dpd' });
  });
}

// ---- the run -----------------------------------------------------------------------------

interface Verbs {
  readonly listSas: { ms: number; bytes: number; sas: number; code: number | null };
  readonly metrics: { ms: number; bytes: number; heapUsed?: number; rss?: number };
  readonly rekeyIke?: { ms: number; code: number | null; sa: number; out: string };
  readonly rekeyChild?: { ms: number; code: number | null; sa: number; out: string };
  /** `pqike rekey bench`: by connection name (the connection's oldest IKE SA). */
  readonly rekeyByName?: { ms: number; code: number | null; out: string };
  readonly reload: { ms: number; code: number | null; out: string };
}

async function verbs(sas: boolean): Promise<Verbs> {
  const ls = await pqike(['list-sas', '--json']);
  let list: { id: number; state: string; children: unknown[] }[] = [];
  try {
    list = JSON.parse(ls.out) as typeof list;
  } catch {
    throw new Error(`list-sas --json: exit ${String(ls.code)} ${ls.err.split('\n')[0] ?? ''}`);
  }
  const listSas = { ms: ls.ms, bytes: ls.bytes, sas: list.length, code: ls.code };
  const m = await httpGet(`http://${DAEMON_ADDRESS}:${metricsPort}/metrics`);
  const heapUsed = metricValue(m.body, 'nodejs_heap_size_used_bytes');
  const rss = metricValue(m.body, 'process_resident_memory_bytes');
  const metrics = { ms: m.ms, bytes: m.body.length, ...(heapUsed === undefined ? {} : { heapUsed }), ...(rss === undefined ? {} : { rss }) };
  let rekeyIke: Verbs['rekeyIke'];
  let rekeyChild: Verbs['rekeyChild'];
  let rekeyByName: Verbs['rekeyByName'];
  if (sas) {
    const est = list.filter((s) => s.state === 'established' && s.children.length > 0);
    const a = est[Math.floor(est.length / 2)];
    const b = est[Math.floor(est.length / 3)];
    if (a) {
      const r = await pqike(['rekey', String(a.id), '--json']);
      rekeyIke = { ms: r.ms, code: r.code, sa: a.id, out: (r.out || r.err).trim() };
    }
    if (b && b !== a) {
      const r = await pqike(['rekey', String(b.id), '--child', 'net', '--json']);
      rekeyChild = { ms: r.ms, code: r.code, sa: b.id, out: (r.out || r.err).trim() };
    }
    const r = await pqike(['rekey', 'bench', '--json']);
    rekeyByName = { ms: r.ms, code: r.code, out: (r.out || r.err).trim() };
  }
  const rl = await pqike(['reload', '--json']);
  const reload = { ms: rl.ms, code: rl.code, out: (rl.out || rl.err).trim() };
  return { listSas, metrics, ...(rekeyIke ? { rekeyIke } : {}), ...(rekeyChild ? { rekeyChild } : {}), ...(rekeyByName ? { rekeyByName } : {}), reload };
}

async function main(): Promise<number> {
  if (opt.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] ?? '');
    return 0;
  }
  writeConfig();
  const daemon = startDaemon();
  const pid = daemon.pid;
  if (pid === undefined) throw new Error('the daemon did not start');
  let initiators: Initiator[] = [];
  try {
    await waitFor(() => existsSync(socket) || daemon.exitCode !== null, 30_000, 'the control socket');
    if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}): ${readFileSync(join(dir, 'daemon.log'), 'utf8').slice(-2000)}`);
    log(`pqike daemon (Node ${process.version}, ${CLI}) on ${DAEMON_ADDRESS}:${ikePort}, proposal ${PROPOSAL}, log level ${LOG_LEVEL}`);
    log(`${SAS} IKE SAs + Child SA from ${PROCS} initiator process(es), ${ADDRESSES} source addresses, ${CONCURRENCY} in flight per process`);
    await sleep(500);
    const idleVerbs = await verbs(false);
    const mem0 = await gcPoint(pid);
    log(`idle: RSS ${(mem0.rss / MIB).toFixed(1)} MiB, heap used ${(mem0.heapUsed / MIB).toFixed(1)} MiB after GC; list-sas ${idleVerbs.listSas.ms.toFixed(0)} ms, reload ${idleVerbs.reload.ms.toFixed(0)} ms (the CLI's own cost)`);

    const t0 = performance.now();
    initiators = startInitiators();
    let lastUp = 0;
    let lastT = t0;
    let lastPrint = t0;
    const rates: number[] = [];
    for (;;) {
      await sleep(1000);
      const err = initiators.find((i) => i.error !== undefined)?.error;
      if (err) throw new Error(err);
      if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode})`);
      const t = totals(initiators);
      const now = performance.now();
      rates.push(((t.up - lastUp) * 1000) / (now - lastT));
      lastUp = t.up;
      lastT = now;
      if (now - lastPrint >= 10_000 || t.done) {
        lastPrint = now;
        const st = procStatus(pid);
        log(`  ${((now - t0) / 1000).toFixed(0)} s: ${t.up} up (${rates[rates.length - 1]?.toFixed(0)}/s), ${t.failed} failed attempts, ${t.retransmits} retransmits; daemon RSS ${(st.rss / MIB).toFixed(0)} MiB`);
      }
      if (t.done) break;
      // A daemon that refuses every new SA (a limit reached) would keep the initiators retrying forever.
      if (t.failed > 1000 + SAS / 10) throw new Error(`${t.failed} failed attempts with ${t.up} of ${SAS} SAs up (first: ${t.firstError ?? '?'}); see the daemon's log (--keep)`);
      if (now - t0 > TIMEOUT_MS) throw new Error(`only ${t.up} of ${SAS} SAs up after ${TIMEOUT_MS / 1000} s (${t.failed} failed${t.firstError ? `: ${t.firstError}` : ''})`);
    }
    const setupS = (performance.now() - t0) / 1000;
    const up = totals(initiators);
    // Let retransmissions and the last responses settle.
    await sleep(2000);
    const mem1 = await gcPoint(pid);
    const per = (k: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers'): number => (mem1[k] - mem0[k]) / SAS;
    log(`${SAS} up in ${setupS.toFixed(1)} s (${(SAS / setupS).toFixed(0)}/s; ${up.failed} failed attempts, ${up.retransmits} retransmits); initiators' RSS ${(up.rss / MIB).toFixed(0)} MiB in all`);
    log(`daemon after GC: RSS ${(mem1.rss / MIB).toFixed(1)} MiB (high-water ${(mem1.hwm / MIB).toFixed(1)}), heap used ${(mem1.heapUsed / MIB).toFixed(1)} MiB of ${(mem1.heapTotal / MIB).toFixed(1)}, external ${(mem1.external / MIB).toFixed(1)} MiB (array buffers ${(mem1.arrayBuffers / MIB).toFixed(1)}); GC took ${mem1.gcMs} ms`);
    log(`per SA (IKE SA + Child SA, less idle): heap ${per('heapUsed').toFixed(0)} B, external ${per('external').toFixed(0)} B, heap+external ${(per('heapUsed') + per('external')).toFixed(0)} B, RSS ${per('rss').toFixed(0)} B`);
    let snapshotMs: number | undefined;
    if (opt.snapshot) {
      snapshotMs = await snapshot(pid, resolve(opt.snapshot));
      log(`heap snapshot ${resolve(opt.snapshot)} (${(statSync(resolve(opt.snapshot)).size / MIB).toFixed(0)} MiB, ${(snapshotMs / 1000).toFixed(1)} s)`);
    }
    const v = await verbs(true);
    const first = initiators[0];
    const dpd = first ? await dpdCheck(first) : undefined;
    const mem2 = await gcPoint(pid);
    const after = totals(initiators);
    log(`pqike list-sas --json: ${v.listSas.ms.toFixed(0)} ms, ${(v.listSas.bytes / MIB).toFixed(1)} MiB, ${v.listSas.sas} SAs (exit ${String(v.listSas.code)})`);
    log(`metrics scrape: ${v.metrics.ms.toFixed(0)} ms, ${v.metrics.bytes} B`);
    if (v.rekeyIke) log(`pqike rekey ${v.rekeyIke.sa}: ${v.rekeyIke.ms.toFixed(0)} ms (exit ${String(v.rekeyIke.code)}: ${v.rekeyIke.out})`);
    if (v.rekeyChild) log(`pqike rekey ${v.rekeyChild.sa} --child net: ${v.rekeyChild.ms.toFixed(0)} ms (exit ${String(v.rekeyChild.code)}: ${v.rekeyChild.out})`);
    if (v.rekeyByName) log(`pqike rekey bench (by connection name): ${v.rekeyByName.ms.toFixed(0)} ms (exit ${String(v.rekeyByName.code)}: ${v.rekeyByName.out})`);
    log(`pqike reload: ${v.reload.ms.toFixed(0)} ms (exit ${String(v.reload.code)})`);
    if (dpd) log(`liveness check (INFORMATIONAL round trip from an initiator, IKE SA #${dpd.sa} there): ${dpd.ok ? `${dpd.ms.toFixed(1)} ms` : `FAILED: ${dpd.error ?? ''}`}`);
    log(`after the verbs: daemon heap used ${(mem2.heapUsed / MIB).toFixed(1)} MiB after GC, RSS ${(mem2.rss / MIB).toFixed(1)} MiB; SAs lost by the initiators ${after.lost}`);
    if (opt.json) {
      process.stdout.write(
        `${JSON.stringify({
          node: process.version,
          proposal: PROPOSAL,
          sas: SAS,
          procs: PROCS,
          addresses: ADDRESSES,
          concurrency: CONCURRENCY,
          setupSeconds: setupS,
          failedAttempts: up.failed,
          retransmits: up.retransmits,
          idle: { mem: mem0, verbs: idleVerbs },
          up: { mem: mem1, perSa: { heapUsed: per('heapUsed'), external: per('external'), arrayBuffers: per('arrayBuffers'), rss: per('rss') } },
          verbs: v,
          dpd,
          afterVerbs: { mem: mem2, lost: after.lost },
          ...(snapshotMs === undefined ? {} : { snapshotMs }),
        })}\n`,
      );
    }
    const ok = v.listSas.sas >= SAS && v.listSas.code === 0 && (v.rekeyIke?.code ?? 0) === 0 && (v.rekeyChild?.code ?? 0) === 0 && (v.rekeyByName?.code ?? 0) === 0 && v.reload.code === 0 && dpd?.ok === true;
    return ok ? 0 : 1;
  } finally {
    for (const i of initiators) i.child.kill('SIGKILL');
    daemon.kill('SIGKILL');
    if (opt.keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`scale: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);

