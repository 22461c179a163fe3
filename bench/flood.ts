/**
 * Cookie-answering IKE_SA_INIT flood against a real pqike daemon (`node dist/bench/flood.js`).
 *
 * 1. Starts `pqike daemon` as a responder on 127.0.0.1 (a random high port) with one hybrid
 *    connection (aes256gcm16-prfsha384-x25519-ke1_mlkem768, PSK), metrics on a local port and
 *    the given `limits:` (none given: no `limits:` section, i.e. the engine's defaults; a tree
 *    from before the limits existed, such as commit 1975418, needs that). The daemon runs with
 *    bench/flood-memprobe.js preloaded (and --expose-gc), which reports its heap.
 * 2. Forks bench/flood-worker.js processes that send IKE_SA_INIT requests from many loopback
 *    source addresses (127.10.x.y, several ports each) as fast as they can, each with a valid
 *    X25519 KE and a fresh SPI and nonce, answering every COOKIE (RFC 7296 §2.6) and never
 *    going further (no PSK).
 * 3. During the flood, a legitimate hybrid initiator (an IkeEngine on a UdpDriver in this
 *    process, on its own address 127.20.0.1, with the PSK) brings up an IKE SA and its Child SA
 *    several times, at fixed times whether or not the one before is up, each deleted once up:
 *    time from its first IKE_SA_INIT to ike-up and to child-up, COOKIEs and retransmissions.
 *    The same before the flood (idle) and after it.
 * 4. Every second: the daemon's IKE SAs by state (metrics endpoint pqike_ike_sas), its RSS and
 *    high-water mark (/proc/<pid>/status), heap and event-loop delay (memprobe), CPU
 *    (/proc/<pid>/stat), the machine's UDP receive-buffer drops (/proc/net/snmp), and the
 *    flooder's counters. The drops on the daemon's own socket come from /proc/net/udp, read only
 *    before and after the flood: with thousands of flood sockets open, reading that table blocks
 *    for 100-200 ms, too long to do every second in the legitimate initiator's process. At the
 *    end of the flood, `pqike list-sas` gives the half-open SAs per address and address:port.
 *    After the flood it keeps sampling for the half-open timeout + 10 s. A full GC is forced in
 *    the daemon (memprobe, SIGUSR2) before the flood, 1 s after it and at the end: V8 does not
 *    have to collect, nor give freed memory back to the OS, so RSS after the flood says little
 *    about what is still held; the heap right after a full GC does.
 * 5. Prints the samples and a summary (bench/flood-compare.js puts several runs' --json side by
 *    side). Figures only: nothing is asserted.
 *
 * The machine running the flood also runs the daemon: the flooder, the daemon and this process
 * share its CPUs, so only runs of one sitting compare (alternate the configurations).
 *
 * Options (defaults in brackets):
 *   --pqike DIR            tree whose dist/src/cli/main.js is the daemon [this checkout]
 *   --label TEXT           name of the run in the summary [the tree and limits]
 *   --limit KEY=VALUE      a `limits:` setting (repeatable), e.g. --limit init_limit_half_open=2000
 *   --seconds S            flood duration [35]
 *   --after S              sampling after the flood [half_open_timeout + 10 s]
 *   --addresses N          flood source addresses (127.10.x.y) [2048]
 *   --ports N              source ports (sockets) per address [4]
 *   --workers N            flood processes [1]
 *   --window N             requests waiting for an answer per source socket, 0 = unbounded [1]
 *   --timeout-ms MS        flooder forgets an unanswered request after that ± 50 % [1000]
 *   --rate N               fresh requests per second in all, 0 = as fast as it can [0]
 *   --legit N              legitimate SA setups during the flood [5]
 *   --legit-start S        first one after S seconds of flood [5]
 *   --legit-timeout S      a setup not done after S seconds counts as failed [30]
 *   --log-level L          the daemon's log level [info]
 *   --sample-ms MS         sample the daemon this often [1000]; each sample scrapes its metrics,
 *                          which costs the daemon time in proportion to its IKE SAs
 *   --json FILE            also write samples and summary as JSON (bench/flood-compare.js reads it)
 *   --keep                 keep the temporary directory (config, daemon log)
 *   --cpu-prof DIR         profile the daemon (node --cpu-prof) into DIR
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { IkeEngine } from '../src/engine/engine.js';
import { parseIdentity } from '../src/engine/identity.js';
import { parseProposals } from '../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../src/engine/traffic-selectors.js';
import type { ConnectionConfig, EngineEvent } from '../src/engine/types.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import { ExchangeType, nameOf } from '../src/wire/constants.js';
import { median } from './common.js';
import type { FloodCounters, FloodWorkerConfig, FromFloodWorker, ToFloodWorker } from './flood-worker.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const THIS_TREE = resolve(HERE, '../..');
const PROPOSAL = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
const DAEMON_ADDRESS = '127.0.0.1';
const LEGIT_ADDRESS = '127.20.0.1';
const MIB = 1024 * 1024;
/** The processes this benchmark started (ended by it, by their pid, whatever happens). */
const started: ChildProcess[] = [];

/**
 * `limits:` keys (src/daemon/config.ts) and their EngineOptions names, for printing the limits
 * in effect; other keys go into the configuration as given (the daemon refuses unknown ones).
 */
const LIMIT_KEYS: Record<string, string> = {
  cookie_threshold: 'cookieThreshold',
  cookie_threshold_ip: 'cookieThresholdIp',
  block_threshold: 'blockThreshold',
  init_limit_half_open: 'halfOpenLimit',
  half_open_timeout: 'halfOpenTimeoutMs',
  cookie_lifetime: 'cookieSecretLifetimeMs',
  max_child_sas: 'maxChildSas',
  auth_failures_before_backoff: 'authFailuresBeforeBackoff',
  retransmit_timeout: 'retransmitTimeoutMs',
  retransmit_tries: 'retransmitTries',
  init_limit_job_load: 'admissionQueue',
};
const DURATION_LIMITS = new Set(['half_open_timeout', 'cookie_lifetime', 'retransmit_timeout']);

const { values: opt } = parseArgs({
  options: {
    pqike: { type: 'string' },
    label: { type: 'string' },
    limit: { type: 'string', multiple: true },
    seconds: { type: 'string' },
    after: { type: 'string' },
    addresses: { type: 'string' },
    ports: { type: 'string' },
    workers: { type: 'string' },
    window: { type: 'string' },
    'timeout-ms': { type: 'string' },
    rate: { type: 'string' },
    legit: { type: 'string' },
    'legit-start': { type: 'string' },
    'legit-timeout': { type: 'string' },
    'log-level': { type: 'string' },
    'sample-ms': { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});

if (opt.help === true) {
  process.stdout.write(
    'usage: node dist/bench/flood.js [--pqike DIR] [--label TEXT] [--limit KEY=VALUE ...] [--seconds S] [--after S]\n' +
      '         [--addresses N] [--ports N] [--workers N] [--window N] [--timeout-ms MS] [--rate N]\n' +
      '         [--legit N] [--legit-start S] [--legit-timeout S] [--log-level L] [--sample-ms MS] [--json FILE] [--keep]\n' +
      '         [--cpu-prof DIR]\n' +
      '(see the comment at the top of bench/flood.ts)\n',
  );
  process.exit(0);
}

function num(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`flood: --${name} needs a number >= ${min}\n`);
    process.exit(2);
  }
  return n;
}

const tree = resolve(opt.pqike ?? THIS_TREE);
const cli = join(tree, 'dist/src/cli/main.js');
if (!existsSync(cli)) {
  process.stderr.write(`flood: ${cli} not found (build that tree with npx tsc -p .)\n`);
  process.exit(2);
}
/** Trees before commit 55f0777 have no `limits:` section and no total half-open limit. */
const treeHasLimits = existsSync(join(tree, 'dist/src/engine/dos-guard.js'));
const limits: [string, string][] = (opt.limit ?? []).map((l) => {
  const m = /^([a-z_]+)=(.+)$/.exec(l);
  if (!m) {
    process.stderr.write(`flood: --limit ${l}: write KEY=VALUE, KEY e.g. one of ${Object.keys(LIMIT_KEYS).join(', ')}\n`);
    process.exit(2);
  }
  return [m[1] ?? '', m[2] ?? ''];
});
if (limits.length > 0 && !treeHasLimits) {
  process.stderr.write(`flood: ${tree} has no limits: section (before the hardening); leave out --limit\n`);
  process.exit(2);
}
const floodSeconds = num('seconds', opt.seconds, 35, 1);
const nAddresses = num('addresses', opt.addresses, 2048, 1);
const nPorts = num('ports', opt.ports, 4, 1);
const nWorkers = num('workers', opt.workers, 1, 1);
const window = num('window', opt.window, 1);
const timeoutMs = num('timeout-ms', opt['timeout-ms'], 1000, 1);
const rate = num('rate', opt.rate, 0);
const nLegit = num('legit', opt.legit, 5);
const legitStart = num('legit-start', opt['legit-start'], 5);
const legitTimeoutMs = num('legit-timeout', opt['legit-timeout'], 30, 1) * 1000;
const logLevel = opt['log-level'] ?? 'info';
const sampleMs = num('sample-ms', opt['sample-ms'], 1000, 100);
if (nAddresses > 254 * 256) {
  process.stderr.write('flood: at most 65024 addresses (127.10.0.1 - 127.10.255.254)\n');
  process.exit(2);
}

// ---- effective limits --------------------------------------------------------------------

interface Effective {
  readonly halfOpenLimit?: number;
  readonly halfOpenTimeoutMs: number;
  readonly text: string;
}

function parseDurationMs(t: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(t.trim());
  if (!m) return NaN;
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000));
}

async function effectiveLimits(): Promise<Effective> {
  const given = Object.fromEntries(limits);
  const timeout = given['half_open_timeout'] === undefined ? 30_000 : parseDurationMs(given['half_open_timeout']);
  if (!treeHasLimits) return { halfOpenTimeoutMs: timeout, text: 'none (no limits: section in this tree; half-open timeout 30 s)' };
  const options: Record<string, number> = {};
  for (const [k, v] of limits) options[LIMIT_KEYS[k] ?? k] = DURATION_LIMITS.has(k) ? parseDurationMs(v) : Number(v);
  // The engine's defaults, from the tree under test.
  const guard = (await import(pathToFileURL(join(tree, 'dist/src/engine/dos-guard.js')).href)) as { dosLimits?: (o: Record<string, number>) => Record<string, number> };
  const l = guard.dosLimits?.(options) ?? {};
  const text = [
    `cookie_threshold ${String(l['cookieThreshold'])}`,
    `cookie_threshold_ip ${String(l['cookieThresholdIp'])}`,
    `block_threshold ${String(l['blockThreshold'])}`,
    `init_limit_half_open ${String(l['halfOpenLimit'])}`,
    `half_open_timeout ${timeout / 1000} s`,
    `cookie_lifetime ${(l['cookieSecretLifetimeMs'] ?? 0) / 1000} s`,
  ].join(', ');
  return { ...(l['halfOpenLimit'] === undefined ? {} : { halfOpenLimit: l['halfOpenLimit'] }), halfOpenTimeoutMs: timeout, text: `${text}${limits.length === 0 ? ' (engine defaults: no limits: section)' : ` (set: ${limits.map(([k, v]) => `${k}=${v}`).join(', ')})`}` };
}

// ---- the daemon --------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'pqike-flood-'));
const basePort = 20_000 + 2 * Math.floor(Math.random() * 20_000);
const ikePort = basePort;
const metricsPort = basePort + 1;
const psk = randomBytes(33).toString('base64');

// Trees since the daemon got a real data plane need `data_plane: fake` (no TUN, no kernel
// SAs); older ones (e.g. 1975418) refuse the setting.
const dataPlaneLine = existsSync(join(tree, 'dist/src/daemon/plane-choice.js')) ? 'data_plane: fake\n' : '';

function writeConfig(): string {
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  legit: "${psk}"\n`, { mode: 0o600 });
  const limitsText = limits.length === 0 ? '' : `limits:\n${limits.map(([k, v]) => `  ${k}: ${v}\n`).join('')}`;
  const cfg = `secrets: secrets.yaml
port: ${ikePort}
log:
  level: ${logLevel}
  format: json
control:
  socket: ${join(dir, 'pqike.sock')}
metrics:
  listen: ${DAEMON_ADDRESS}:${metricsPort}
${limitsText}${dataPlaneLine}connections:
  gw:
    local_addrs: ${DAEMON_ADDRESS}
    remote_addrs: '%any'
    local_id: responder.flood.pqike
    psk: legit
    proposals: [${PROPOSAL}]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
`;
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, cfg);
  return file;
}

function startDaemon(config: string): ChildProcess {
  const memprobe = pathToFileURL(join(HERE, 'flood-memprobe.js')).href;
  const log = join(dir, 'daemon.log');
  const prof = opt['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(opt['cpu-prof'])];
  const child = spawn(process.execPath, ['--expose-gc', ...prof, '--import', memprobe, cli, 'daemon', '-c', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: tree,
    env: { ...process.env, PQIKE_FLOOD_MEMPROBE: join(dir, 'mem.json'), PQIKE_DATAPLANE_JOURNAL: join(dir, 'dataplane.jsonl') },
  });
  // The log goes to a file (through this process: the daemon's stderr is not a terminal).
  const out: Buffer[] = [];
  let size = 0;
  child.stderr?.on('data', (d: Buffer) => {
    out.push(d);
    size += d.length;
    if (size > 1 << 20) {
      writeFileSync(log, Buffer.concat(out), { flag: 'a' });
      out.length = 0;
      size = 0;
    }
  });
  child.on('exit', () => writeFileSync(log, Buffer.concat(out), { flag: 'a' }));
  return child;
}

function httpGet(url: string, timeout: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = get(url, { agent: false, timeout }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolvePromise(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

interface SaCounts {
  readonly byState: Record<string, number>;
  readonly halfOpen: number;
  readonly established: number;
  readonly failures: number;
}

async function saCounts(timeout = 5000): Promise<SaCounts | undefined> {
  let text: string;
  try {
    text = await httpGet(`http://${DAEMON_ADDRESS}:${metricsPort}/metrics`, timeout);
  } catch {
    return undefined;
  }
  const byState: Record<string, number> = {};
  let failures = 0;
  for (const line of text.split('\n')) {
    const m = /^pqike_ike_sas\{state="([a-z]+)"\} (\d+)/.exec(line);
    if (m) byState[m[1] ?? ''] = Number(m[2]);
    const f = /^pqike_ike_sa_failures_total\{[^}]*\} (\d+)/.exec(line);
    if (f) failures += Number(f[1]);
  }
  const established = (byState['established'] ?? 0) + (byState['rekeyed'] ?? 0);
  const halfOpen = Object.entries(byState).reduce((n, [s, v]) => (s === 'established' || s === 'rekeyed' ? n : n + v), 0);
  return { byState, halfOpen, established, failures };
}

interface ProcSample {
  readonly rss: number;
  readonly hwm: number;
  /** utime + stime, clock ticks. */
  readonly cpuTicks: number;
}

function procSample(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/**
 * UDP datagrams dropped on this machine because a receive buffer was full (/proc/net/snmp
 * Udp RcvbufErrors): cheap to read; during the flood nearly all of them are the daemon's.
 */
function rcvbufErrors(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = (lines[0] ?? '').split(/\s+/);
    const values = (lines[1] ?? '').split(/\s+/);
    const i = names.indexOf('RcvbufErrors');
    return i < 0 ? undefined : Number(values[i]);
  } catch {
    return undefined;
  }
}

/**
 * The kernel's count of datagrams dropped on the daemon's IKE socket (receive buffer full).
 * Slow with the flood's sockets open (the whole table is generated): before and after the flood only.
 */
function udpDrops(): number | undefined {
  try {
    const want = `0100007F:${ikePort.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want) return Number(f[f.length - 1]);
    }
  } catch {
    // not Linux
  }
  return undefined;
}

interface MemProbe {
  readonly at: number;
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly loopDelayMaxMs?: number;
  readonly loopDelayP99Ms?: number;
  readonly gc?: boolean;
  readonly gcMs?: number;
}

function memProbe(suffix = ''): MemProbe | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, `mem.json${suffix}`), 'utf8')) as MemProbe;
  } catch {
    return undefined;
  }
}

// ---- the flooders ------------------------------------------------------------------------

function floodAddress(i: number): string {
  return `127.10.${Math.floor(i / 254)}.${(i % 254) + 1}`;
}

interface Flooder {
  readonly child: ChildProcess;
  last?: FloodCounters;
  final?: FloodCounters;
}

async function startFlooders(): Promise<Flooder[]> {
  const flooders: Flooder[] = [];
  const ready: Promise<void>[] = [];
  for (let w = 0; w < nWorkers; w++) {
    const addresses: string[] = [];
    for (let i = w; i < nAddresses; i += nWorkers) addresses.push(floodAddress(i));
    const child = fork(join(HERE, 'flood-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    started.push(child);
    const f: Flooder = { child };
    flooders.push(f);
    ready.push(
      new Promise((resolvePromise, reject) => {
        child.on('message', (m: FromFloodWorker) => {
          if (m.type === 'ready') resolvePromise();
          else if (m.type === 'error') reject(new Error(`flood worker ${m.worker}: ${m.message}`));
          else if (m.type === 'stats') {
            f.last = m.counters;
            if (m.final) f.final = m.counters;
          }
        });
        child.on('exit', (code) => reject(new Error(`flood worker ${w} exited (${String(code)})`)));
      }),
    );
    const cfg: FloodWorkerConfig = {
      type: 'config',
      worker: w,
      target: { address: DAEMON_ADDRESS, port: ikePort },
      addresses,
      portsPerAddress: nPorts,
      proposal: PROPOSAL,
      window,
      timeoutMs,
      rate: rate / nWorkers,
    };
    child.send(cfg satisfies ToFloodWorker);
  }
  await Promise.all(ready);
  return flooders;
}

function floodTotals(flooders: readonly Flooder[], which: 'last' | 'final'): FloodCounters {
  const t: FloodCounters = { sent: 0, cookieAnswers: 0, cookiesReceived: 0, cookiesAgain: 0, saResponses: 0, errors: {}, timeoutsFresh: 0, timeoutsCookie: 0, stray: 0, sendErrors: 0, sockets: 0, addresses: 0 };
  for (const f of flooders) {
    const c = f[which] ?? f.last;
    if (!c) continue;
    for (const k of ['sent', 'cookieAnswers', 'cookiesReceived', 'cookiesAgain', 'saResponses', 'timeoutsFresh', 'timeoutsCookie', 'stray', 'sendErrors', 'sockets', 'addresses'] as const) t[k] += c[k];
    for (const [k, v] of Object.entries(c.errors)) t.errors[k] = (t.errors[k] ?? 0) + v;
  }
  return t;
}

// ---- the legitimate initiator ------------------------------------------------------------

interface LegitResult {
  readonly phase: 'idle' | 'flood' | 'after';
  /** Seconds into the flood when it started (negative: before). */
  readonly at: number;
  readonly ikeUpMs?: number;
  readonly childUpMs?: number;
  readonly cookies: number;
  readonly retransmits: number;
  /** The exchanges retransmitted, e.g. IKE_SA_INIT x2. */
  readonly retransmitted: string;
  readonly failed?: string;
}

function legitConnection(): ConnectionConfig {
  return {
    name: 'legit',
    localAddress: LEGIT_ADDRESS,
    remoteAddress: DAEMON_ADDRESS,
    localId: parseIdentity('initiator.flood.pqike'),
    remoteId: parseIdentity('responder.flood.pqike'),
    psk: new TextEncoder().encode(psk),
    ikeProposals: parseProposals([PROPOSAL], 'ike'),
    children: [
      {
        name: 'net',
        espProposals: parseProposals(['aes256gcm16'], 'esp'),
        localTs: [parseTrafficSelector('10.1.0.0/16')],
        remoteTs: [parseTrafficSelector('10.2.0.0/16')],
        mode: 'tunnel',
      },
    ],
  };
}

class Legit {
  private readonly engine = new IkeEngine({});
  private readonly driver: UdpDriver;
  /** The setups under way, by IKE SA number (several may overlap). */
  private readonly watching = new Map<number, (e: EngineEvent) => void>();

  constructor() {
    this.engine.addConnection(legitConnection());
    this.driver = new UdpDriver(this.engine, {
      address: LEGIT_ADDRESS,
      port: 0,
      onEvent: (e) => {
        if (!('sa' in e) || e.sa === undefined) return;
        this.watching.get(e.sa)?.(e);
      },
    });
  }

  start(): Promise<unknown> {
    return this.driver.start();
  }

  /** One IKE SA + Child SA, timed from its first IKE_SA_INIT; deleted again once up. */
  setup(phase: LegitResult['phase'], at: number): Promise<LegitResult> {
    return new Promise((resolvePromise) => {
      let ikeUpMs: number | undefined;
      let cookies = 0;
      let retransmits = 0;
      const retransmitted = new Map<string, number>();
      let finished = false;
      const t0 = performance.now();
      // The SA's number is known once initiate() returns; its first events (the request going out) come before.
      const id = this.driver.initiate('legit', { address: DAEMON_ADDRESS, port: ikePort });
      const done = (failed?: string): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.watching.delete(id);
        const childUpMs = failed === undefined ? performance.now() - t0 : undefined;
        if (failed === undefined || failed.startsWith('no ')) this.driver.terminate(id);
        resolvePromise({
          phase,
          at,
          ...(ikeUpMs === undefined ? {} : { ikeUpMs }),
          ...(childUpMs === undefined ? {} : { childUpMs }),
          cookies,
          retransmits,
          retransmitted: [...retransmitted].map(([x, n]) => `${x}${n > 1 ? ` x${n}` : ''}`).join(', '),
          ...(failed === undefined ? {} : { failed }),
        });
      };
      const timer = setTimeout(() => done(`no child-up within ${legitTimeoutMs / 1000} s`), legitTimeoutMs);
      this.watching.set(id, (e) => {
        if (e.type === 'ike-up') ikeUpMs = performance.now() - t0;
        else if (e.type === 'child-up') done();
        else if (e.type === 'ike-failed') done(e.reason);
        else if (e.type === 'retransmit') {
          retransmits++;
          const x = nameOf(ExchangeType, e.exchange);
          retransmitted.set(x, (retransmitted.get(x) ?? 0) + 1);
        } else if (e.type === 'log' && e.message.includes('COOKIE')) cookies++;
      });
    });
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

/** Half-open SAs per peer address and per address:port, from `pqike list-sas --json` of the tree under test. */
function halfOpenPerAddress(): Promise<string> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [cli, 'list-sas', '--json', '--socket', join(dir, 'pqike.sock')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let list: { state: string; remote: string }[];
      try {
        list = JSON.parse(out) as { state: string; remote: string }[];
      } catch {
        resolvePromise(`- (list-sas exit ${String(code)}: ${err.trim().split('\n')[0] ?? ''})`);
        return;
      }
      const byAddr = new Map<string, number>();
      const byEp = new Map<string, number>();
      let n = 0;
      for (const s of list) {
        if (s.state === 'established' || s.state === 'rekeyed') continue;
        n++;
        const addr = s.remote.replace(/:\d+$/, '');
        byAddr.set(addr, (byAddr.get(addr) ?? 0) + 1);
        byEp.set(s.remote, (byEp.get(s.remote) ?? 0) + 1);
      }
      const maxA = Math.max(0, ...byAddr.values());
      const maxE = Math.max(0, ...byEp.values());
      resolvePromise(`${n} half-open SAs from ${byAddr.size} addresses, at most ${maxA} per address, at most ${maxE} per address:port`);
    });
  });
}

/** Lines and size of the daemon's log, and its IKE SA failures by reason (the shutdown left out). */
function digestLog(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '-';
  }
  const reasons = new Map<string, number>();
  let lines = 0;
  let errors = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    lines++;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (j['level'] === 'error') errors++;
    if (j['event'] === 'ike-failed' || (j['event'] === 'ike-down' && j['reason'] !== 'terminated locally')) {
      const r = `${String(j['event'])}: ${String(j['reason'] ?? '?').replace(/\d+/g, 'N')}`;
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
  }
  const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([r, n]) => `${n} ${r}`);
  return `${lines} lines (${(text.length / MIB).toFixed(1)} MiB), ${errors} errors; ${top.length > 0 ? top.join('; ') : 'no IKE SA failures'}`;
}

// ---- sampling ----------------------------------------------------------------------------

interface Sample {
  /** Seconds since the flood started (0 before it). */
  readonly t: number;
  /** performance.now() / 1000 when taken. */
  readonly wall: number;
  readonly phase: 'idle' | 'flood' | 'after';
  readonly sas?: SaCounts;
  readonly metricsMs: number;
  readonly rss?: number;
  readonly hwm?: number;
  readonly heapUsed?: number;
  readonly heapTotal?: number;
  readonly external?: number;
  /** Daemon CPU since the previous sample, % of one core. */
  readonly cpu?: number;
  /** The flood processes' and this process's CPU since the previous sample, % of one core. */
  readonly floodCpu?: number;
  readonly benchCpu?: number;
  /** Udp RcvbufErrors of the machine (/proc/net/snmp). */
  readonly drops?: number;
  /** The daemon's event loop: longest delay in the last second, ms (memprobe). */
  readonly loopMax?: number;
  /** This process's (the legitimate initiator's) event loop, same. */
  readonly benchLoopMax?: number;
  readonly flood: FloodCounters;
}

const CLK_TCK = 100;

function fmt(n: number | undefined, digits = 0): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function pad(s: string, n: number): string {
  return s.padStart(n);
}

async function main(): Promise<void> {
  const eff = await effectiveLimits();
  const loadStart = loadavg().map((l) => l.toFixed(2)).join(' ');
  const afterSeconds = num('after', opt.after, eff.halfOpenTimeoutMs / 1000 + 10);
  const label = opt.label ?? `${basename(tree)}${limits.length === 0 ? '' : ` ${limits.map(([k, v]) => `${k}=${v}`).join(' ')}`}`;
  // The tree's commit: git, or a COMMIT file next to an exported tree (git archive | tar -x).
  let commit = '?';
  try {
    commit = execFileSync('git', ['-C', tree, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (execFileSync('git', ['-C', tree, 'status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'] }).length > 0) commit += ' + uncommitted changes';
  } catch {
    try {
      commit = readFileSync(join(tree, 'COMMIT'), 'utf8').trim();
    } catch {
      // unknown
    }
  }
  process.stdout.write(
    `pqike flood: ${label}\n` +
      `  daemon ${cli} (commit ${commit})\n` +
      `  Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n` +
      `  responder ${DAEMON_ADDRESS}:${ikePort}, ${PROPOSAL}, limits: ${eff.text}\n` +
      `  flood: ${nAddresses} source addresses x ${nPorts} ports in ${nWorkers} process(es), window ${window || 'unbounded'} per socket, ` +
      `timeout ${timeoutMs} ms, rate ${rate === 0 ? 'as fast as it can' : `${rate}/s`}, ${floodSeconds} s; then ${afterSeconds} s after\n` +
      `  legitimate initiator ${LEGIT_ADDRESS}: ${nLegit} setups during the flood from ${legitStart} s\n`,
  );

  const daemon = startDaemon(writeConfig());
  started.push(daemon);
  let daemonExit: number | null | undefined;
  daemon.on('exit', (code) => (daemonExit = code));
  const pid = daemon.pid ?? 0;
  const t0Start = Date.now();
  while ((await saCounts(1000)) === undefined) {
    if (daemonExit !== undefined || Date.now() - t0Start > 20_000) {
      await new Promise((r) => setTimeout(r, 200));
      let log = '';
      try {
        log = readFileSync(join(dir, 'daemon.log'), 'utf8');
      } catch {
        // none
      }
      throw new Error(`the daemon did not start (exit ${String(daemonExit)}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const flooders = await startFlooders();
  const legit = new Legit();
  await legit.start();

  const samples: Sample[] = [];
  const legits: LegitResult[] = [];
  let floodStart = 0;
  let phase: Sample['phase'] = 'idle';
  let prevCpu: { ticks: number; at: number } | undefined;
  let prevOther: { flood: number; bench: number; at: number } | undefined;
  let sampling = false;
  const benchDelay = monitorEventLoopDelay({ resolution: 10 });
  benchDelay.enable();
  const now = (): number => (floodStart === 0 ? 0 : (performance.now() - floodStart) / 1000);

  process.stdout.write(
    `\n${pad('t/s', 6)} ${pad('phase', 5)} ${pad('req/s', 7)} ${pad('ckans/s', 7)} ${pad('SAresp/s', 8)} ${pad('half-open', 9)} ${pad('estab', 5)} ` +
      `${pad('RSS MiB', 7)} ${pad('heap MiB', 8)} ${pad('heapTot', 7)} ${pad('ext MiB', 7)} ${pad('CPU %', 5)} ${pad('fl CPU', 6)} ${pad('drops/s', 7)} ${pad('lag ms', 6)} ${pad('metr ms', 7)}\n`,
  );
  const sample = async (): Promise<void> => {
    if (sampling) return;
    sampling = true;
    try {
      const m0 = performance.now();
      const sas = await saCounts();
      const metricsMs = performance.now() - m0;
      const p = procSample(pid);
      const mem = memProbe();
      const drops = rcvbufErrors();
      let cpu: number | undefined;
      const at = performance.now();
      if (p && prevCpu) cpu = ((p.cpuTicks - prevCpu.ticks) / CLK_TCK / ((at - prevCpu.at) / 1000)) * 100;
      if (p) prevCpu = { ticks: p.cpuTicks, at };
      const floodTicks = flooders.reduce((n, f) => n + (procSample(f.child.pid ?? 0)?.cpuTicks ?? 0), 0);
      const bu = process.cpuUsage();
      const benchUs = bu.user + bu.system;
      let floodCpu: number | undefined;
      let benchCpu: number | undefined;
      if (prevOther) {
        const secs = (at - prevOther.at) / 1000;
        floodCpu = ((floodTicks - prevOther.flood) / CLK_TCK / secs) * 100;
        benchCpu = ((benchUs - prevOther.bench) / 1e6 / secs) * 100;
      }
      prevOther = { flood: floodTicks, bench: benchUs, at };
      const s: Sample = {
        t: now(),
        wall: performance.now() / 1000,
        phase,
        ...(sas ? { sas } : {}),
        metricsMs,
        ...(p ? { rss: p.rss, hwm: p.hwm } : {}),
        ...(mem ? { heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external } : {}),
        ...(cpu === undefined ? {} : { cpu }),
        ...(floodCpu === undefined ? {} : { floodCpu }),
        ...(benchCpu === undefined ? {} : { benchCpu }),
        ...(drops === undefined ? {} : { drops }),
        ...(mem?.loopDelayMaxMs === undefined ? {} : { loopMax: mem.loopDelayMaxMs }),
        benchLoopMax: benchDelay.max / 1e6,
        flood: floodTotals(flooders, 'last'),
      };
      benchDelay.reset();
      const prev = samples[samples.length - 1];
      samples.push(s);
      const dt = prev ? s.wall - prev.wall : 1;
      const per = (k: 'sent' | 'cookieAnswers' | 'saResponses'): number | undefined => (prev && dt > 0 ? (s.flood[k] - prev.flood[k]) / dt : undefined);
      const dropsPer = prev?.drops !== undefined && s.drops !== undefined && dt > 0 ? (s.drops - prev.drops) / dt : undefined;
      process.stdout.write(
        `${pad(s.phase === 'idle' ? '-' : s.t.toFixed(1), 6)} ${pad(s.phase, 5)} ${pad(fmt(per('sent')), 7)} ${pad(fmt(per('cookieAnswers')), 7)} ${pad(fmt(per('saResponses')), 8)} ` +
          `${pad(fmt(sas?.halfOpen), 9)} ${pad(fmt(sas?.established), 5)} ${pad(fmt(s.rss === undefined ? undefined : s.rss / MIB, 1), 7)} ` +
          `${pad(fmt(s.heapUsed === undefined ? undefined : s.heapUsed / MIB, 1), 8)} ${pad(fmt(s.heapTotal === undefined ? undefined : s.heapTotal / MIB, 1), 7)} ${pad(fmt(s.external === undefined ? undefined : s.external / MIB, 1), 7)} ` +
          `${pad(fmt(cpu), 5)} ${pad(fmt(floodCpu), 6)} ${pad(fmt(dropsPer), 7)} ${pad(fmt(s.loopMax), 6)} ${pad(sas ? metricsMs.toFixed(0) : 'timeout', 7)}\n`,
      );
    } finally {
      sampling = false;
    }
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /** A full GC in the daemon (memprobe, SIGUSR2): its live heap, RSS and half-open SAs right after. */
  const gcPoint = async (): Promise<{ mem: MemProbe; rss?: number; halfOpen?: number } | undefined> => {
    const t = Date.now();
    process.kill(pid, 'SIGUSR2');
    for (let k = 0; k < 200; k++) {
      await sleep(50);
      const mem = memProbe('.gc');
      if (mem && mem.at >= t) {
        const rss = procSample(pid)?.rss;
        const sas = await saCounts();
        return { mem, ...(rss === undefined ? {} : { rss }), ...(sas ? { halfOpen: sas.halfOpen } : {}) };
      }
    }
    return undefined;
  };

  // Idle: a few samples and legitimate setups for reference.
  for (let k = 0; k < 3; k++) {
    await sample();
    await sleep(1000);
  }
  for (let k = 0; k < 3; k++) legits.push(await legit.setup('idle', 0));
  await sleep(500);
  const gcIdle = await gcPoint();
  const socketDrops0 = udpDrops();
  await sample();

  // The flood.
  phase = 'flood';
  floodStart = performance.now();
  for (const f of flooders) f.child.send({ type: 'start' } satisfies ToFloodWorker);
  const ticker = setInterval(() => void sample(), sampleMs);
  // At fixed times, whether or not the one before is up yet (so there are nLegit during every flood).
  const legitRuns = (async () => {
    const spacing = nLegit > 1 ? Math.max(0.5, (floodSeconds - legitStart - 3) / (nLegit - 1)) : 0;
    const runs: Promise<void>[] = [];
    for (let k = 0; k < nLegit; k++) {
      const due = legitStart + k * spacing;
      if (now() < due) await sleep((due - now()) * 1000);
      if (now() >= floodSeconds) break;
      runs.push(legit.setup('flood', now()).then((r) => void legits.push(r)));
    }
    await Promise.all(runs);
  })();
  await sleep(floodSeconds * 1000);
  phase = 'after';
  for (const f of flooders) f.child.send({ type: 'stop' } satisfies ToFloodWorker);
  const perAddress = halfOpenPerAddress();
  const floodEnd = now();
  await sleep(1000);
  const gcFloodEnd = await gcPoint();
  await legitRuns;
  // Nothing reaches the daemon's socket any more: its drop count is final (and the read may block).
  const socketDrops1 = udpDrops();
  await sleep(2000);
  legits.push(await legit.setup('after', now()));
  while (now() < floodEnd + afterSeconds) await sleep(250);
  clearInterval(ticker);
  while (sampling) await sleep(50);
  await sample();

  // Heap after a full GC: what the daemon still holds once the half-open SAs are gone.
  const gcEnd = await gcPoint();
  const afterGc = gcEnd?.mem;
  const rssAfterGc = gcEnd?.rss;

  const final = floodTotals(flooders, 'final');
  const perAddr = await perAddress;
  for (const f of flooders) f.child.send({ type: 'exit' } satisfies ToFloodWorker);
  await legit.close();
  daemon.kill('SIGTERM');
  await new Promise((r) => (daemonExit !== undefined ? r(undefined) : daemon.once('exit', r)));

  // ---- summary ---------------------------------------------------------------------------
  await new Promise((r) => setTimeout(r, 200));
  const logDigest = digestLog(join(dir, 'daemon.log'));
  const flood = samples.filter((s) => s.phase === 'flood');
  const idle = samples.filter((s) => s.phase === 'idle');
  const afterS = samples.filter((s) => s.phase === 'after');
  const lastFlood = flood[flood.length - 1];
  const lastIdle = idle[idle.length - 1];
  const dur = floodSeconds;
  const sentRate = final.sent / floodSeconds;
  const halfOpens = flood.map((s) => s.sas?.halfOpen).filter((x): x is number => x !== undefined);
  const allHalfOpen = samples.map((s) => s.sas?.halfOpen).filter((x): x is number => x !== undefined);
  const steady = flood.filter((s) => s.t >= floodSeconds / 2).map((s) => s.sas?.halfOpen).filter((x): x is number => x !== undefined);
  const rssIdle = median(idle.map((s) => s.rss).filter((x): x is number => x !== undefined));
  const rssPeak = Math.max(...samples.map((s) => s.rss ?? 0));
  const hwm = Math.max(...samples.map((s) => s.hwm ?? 0));
  const last = samples[samples.length - 1];
  const heapIdle = median(idle.map((s) => s.heapUsed).filter((x): x is number => x !== undefined));
  const heapPeak = Math.max(...samples.map((s) => s.heapUsed ?? 0));
  const extIdle = median(idle.map((s) => s.external).filter((x): x is number => x !== undefined));
  const extPeak = Math.max(...samples.map((s) => s.external ?? 0));
  const peakHalfOpen = halfOpens.length > 0 ? Math.max(...halfOpens) : NaN;
  const peakAll = allHalfOpen.length > 0 ? Math.max(...allHalfOpen) : NaN;
  const cpuFlood = median(flood.map((s) => s.cpu).filter((x): x is number => x !== undefined));
  const loops = flood.map((s) => s.loopMax).filter((x): x is number => x !== undefined);
  const benchLoops = flood.map((s) => s.benchLoopMax).filter((x): x is number => x !== undefined);
  const metricsMs = flood.filter((s) => s.sas !== undefined).map((s) => s.metricsMs);
  const cpuFlooders = median(flood.map((s) => s.floodCpu).filter((x): x is number => x !== undefined));
  const cpuBench = median(flood.map((s) => s.benchCpu).filter((x): x is number => x !== undefined));
  const drops = socketDrops0 !== undefined && socketDrops1 !== undefined ? socketDrops1 - socketDrops0 : undefined;
  const machineDrops = lastFlood?.drops !== undefined && lastIdle?.drops !== undefined ? lastFlood.drops - lastIdle.drops : undefined;
  const during = legits.filter((l) => l.phase === 'flood').sort((a, b) => a.at - b.at);
  const ok = during.filter((l) => l.failed === undefined);
  const ikeUps = ok.map((l) => l.ikeUpMs ?? NaN);
  const childUps = ok.map((l) => l.childUpMs ?? NaN);
  const idleLegit = legits.filter((l) => l.phase === 'idle' && l.failed === undefined).map((l) => l.childUpMs ?? NaN);
  const afterLegit = legits.find((l) => l.phase === 'after');
  const limit = eff.halfOpenLimit;
  const mib = (b: number | undefined): string => (b === undefined || !Number.isFinite(b) ? '-' : `${(b / MIB).toFixed(1)} MiB`);
  const perSa = (delta: number): string => (Number.isFinite(peakHalfOpen) && peakHalfOpen > 0 ? `${((delta) / peakHalfOpen / 1024).toFixed(1)} KiB` : '-');
  const errors = Object.entries(final.errors).map(([k, v]) => `${k}: ${v}`).join(', ');

  const lines = [
    '',
    `== summary: ${label}`,
    `limits:          ${eff.text}`,
    `flood:           ${floodSeconds} s from ${final.addresses} source addresses (${final.sockets} sockets): ${final.sent} fresh IKE_SA_INIT requests (${sentRate.toFixed(0)}/s), ` +
      `${final.cookiesReceived} COOKIEs received, ${final.cookieAnswers} answered (${(final.cookieAnswers / floodSeconds).toFixed(0)}/s; ${final.cookiesAgain} COOKIEs again after answering one), ` +
      `${final.saResponses} SA responses = half-open SAs made (${(final.saResponses / floodSeconds).toFixed(0)}/s)`,
    `                 unanswered: ${final.timeoutsFresh} fresh, ${final.timeoutsCookie} with cookie; other answers: ${errors || 'none'}; stray ${final.stray}, send errors ${final.sendErrors}`,
    `                 CPU (median, % of a core): daemon ${fmt(cpuFlood)}, flooders ${fmt(cpuFlooders)}, this process ${fmt(cpuBench)}; load average ${loadStart} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`,
    `                 event loop delay, longest per second (median / max): daemon ${fmt(median(loops))} / ${fmt(loops.length > 0 ? Math.max(...loops) : NaN)} ms, ` +
      `this process ${fmt(median(benchLoops))} / ${fmt(benchLoops.length > 0 ? Math.max(...benchLoops) : NaN)} ms; a metrics scrape took ${fmt(median(metricsMs))} ms (median), ${fmt(metricsMs.length > 0 ? Math.max(...metricsMs) : NaN)} ms at most`,
    `                 datagrams the kernel dropped on the daemon's socket (receive buffer full): ${drops === undefined ? '-' : `${drops} (${(drops / dur).toFixed(0)}/s)`}; ` +
      `on the whole machine during the flood ${machineDrops === undefined ? '-' : String(machineDrops)}`,
    `daemon log:      ${logDigest}`,
    `half-open SAs:   peak ${fmt(peakHalfOpen)} during the flood (${fmt(peakAll)} at any time), steady ${fmt(median(steady))} (median of the second half), at the end ${fmt(lastFlood?.sas?.halfOpen)}, ` +
      `after ${afterSeconds} s ${fmt(last?.sas?.halfOpen)}; limit ${limit === undefined ? 'none' : limit}` +
      (limit !== undefined && peakAll > limit ? `  ** OVER THE LIMIT by ${peakAll - limit} **` : ''),
    `per address:     at the end of the flood (pqike list-sas): ${perAddr}`,
    `RSS:             before ${mib(rssIdle)}, peak ${mib(rssPeak)} (VmHWM ${mib(hwm)}), after ${mib(last?.rss)}, after a full GC ${mib(rssAfterGc)}; ` +
      `peak - before per peak half-open SA ${perSa(rssPeak - rssIdle)}`,
    `heap total:      before ${mib(median(idle.map((s) => s.heapTotal).filter((x): x is number => x !== undefined)))}, peak ${mib(Math.max(...samples.map((s) => s.heapTotal ?? 0)))}, after ${mib(last?.heapTotal)}, after a full GC ${afterGc ? mib(afterGc.heapTotal) : '-'} (V8's reserved heap, part of the RSS)`,
    `heap used:       before ${mib(heapIdle)}, peak ${mib(heapPeak)}, after ${mib(last?.heapUsed)}, after a full GC ${afterGc ? mib(afterGc.heapUsed) : '-'}` +
      ' (with garbage)',
    `live heap:       after a full GC: before ${mib(gcIdle?.mem.heapUsed)}, at the end of the flood ${mib(gcFloodEnd?.mem.heapUsed)} with ${fmt(gcFloodEnd?.halfOpen)} half-open SAs ` +
      `(${gcIdle && gcFloodEnd?.halfOpen ? ((gcFloodEnd.mem.heapUsed - gcIdle.mem.heapUsed) / gcFloodEnd.halfOpen / 1024).toFixed(1) : '-'} KiB each; external ${gcIdle && gcFloodEnd?.halfOpen ? ((gcFloodEnd.mem.external - gcIdle.mem.external) / gcFloodEnd.halfOpen / 1024).toFixed(1) : '-'} KiB each), ` +
      `after the timeout ${mib(afterGc?.heapUsed)} with ${fmt(gcEnd?.halfOpen)}; RSS right after these GCs ${mib(gcIdle?.rss)}, ${mib(gcFloodEnd?.rss)}, ${mib(gcEnd?.rss)}` +
      `${afterGc && afterGc.gc !== true ? ' (no --expose-gc: not collected)' : ''}`,
    `external:        before ${mib(extIdle)}, peak ${mib(extPeak)}, after ${mib(last?.external)}, after a full GC ${afterGc ? mib(afterGc.external) : '-'}`,
    `legitimate SA:   idle ${idleLegit.map((x) => x.toFixed(0)).join(', ')} ms to child-up; during the flood ${ok.length} of ${during.length} up: ` +
      `ike-up median ${fmt(median(ikeUps))} ms, max ${fmt(ikeUps.length > 0 ? Math.max(...ikeUps) : NaN)} ms; child-up median ${fmt(median(childUps))} ms, max ${fmt(childUps.length > 0 ? Math.max(...childUps) : NaN)} ms`,
    ...during.map(
      (l) =>
        `                 at ${l.at.toFixed(1)} s: ${l.failed === undefined ? `ike-up ${fmt(l.ikeUpMs)} ms, child-up ${fmt(l.childUpMs)} ms` : `FAILED (${l.failed})`}, ${l.cookies} COOKIE(s), ${l.retransmits} retransmission(s)${l.retransmits > 0 ? ` (${l.retransmitted})` : ''}`,
    ),
    `                 after the flood: ${afterLegit === undefined ? '-' : afterLegit.failed === undefined ? `child-up ${fmt(afterLegit.childUpMs)} ms` : `FAILED (${afterLegit.failed})`}`,
    `daemon:          exit ${String(daemonExit)}${opt.keep === true ? `; files in ${dir}` : ''}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  if (opt.json !== undefined) {
    const summary = {
      label,
      tree,
      commit,
      limits: Object.fromEntries(limits),
      limitsText: eff.text,
      halfOpenLimit: limit ?? null,
      options: { floodSeconds, afterSeconds, nAddresses, nPorts, nWorkers, window, timeoutMs, rate, nLegit, legitStart, logLevel, sampleMs },
      host: { node: process.version, cpus: cpus().length, load: loadavg() },
      flood: final,
      floodRate: sentRate,
      cookieAnswerRate: final.cookieAnswers / floodSeconds,
      saResponseRate: final.saResponses / floodSeconds,
      daemonCpu: cpuFlood,
      daemonLoopDelayMaxMs: { median: median(loops), max: loops.length > 0 ? Math.max(...loops) : null },
      benchLoopDelayMaxMs: { median: median(benchLoops), max: benchLoops.length > 0 ? Math.max(...benchLoops) : null },
      metricsScrapeMs: { median: median(metricsMs), max: metricsMs.length > 0 ? Math.max(...metricsMs) : null },
      flooderCpu: cpuFlooders,
      benchCpu: cpuBench,
      log: logDigest,
      perAddress: perAddr,
      drops: drops ?? null,
      halfOpen: { peakFlood: peakHalfOpen, peakAll, steady: median(steady), end: lastFlood?.sas?.halfOpen ?? null, after: last?.sas?.halfOpen ?? null },
      rss: { before: rssIdle, peak: rssPeak, hwm, after: last?.rss ?? null, afterGc: rssAfterGc ?? null },
      heap: { before: heapIdle, peak: heapPeak, after: last?.heapUsed ?? null, afterGc: afterGc?.heapUsed ?? null },
      heapTotal: { peak: Math.max(...samples.map((s) => s.heapTotal ?? 0)), after: last?.heapTotal ?? null, afterGc: afterGc?.heapTotal ?? null },
      liveHeap: {
        before: gcIdle?.mem.heapUsed ?? null,
        floodEnd: gcFloodEnd?.mem.heapUsed ?? null,
        floodEndHalfOpen: gcFloodEnd?.halfOpen ?? null,
        after: afterGc?.heapUsed ?? null,
        afterHalfOpen: gcEnd?.halfOpen ?? null,
        externalBefore: gcIdle?.mem.external ?? null,
        externalFloodEnd: gcFloodEnd?.mem.external ?? null,
        rss: [gcIdle?.rss ?? null, gcFloodEnd?.rss ?? null, gcEnd?.rss ?? null],
      },
      external: { before: extIdle, peak: extPeak, after: last?.external ?? null, afterGc: afterGc?.external ?? null },
      legit: { idle: idleLegit, during, after: afterLegit ?? null, ikeUpMedian: median(ikeUps), ikeUpMax: ikeUps.length > 0 ? Math.max(...ikeUps) : null, childUpMedian: median(childUps), childUpMax: childUps.length > 0 ? Math.max(...childUps) : null, failed: during.length - ok.length },
      samples,
    };
    writeFileSync(opt.json, `${JSON.stringify(summary, null, 1)}\n`);
  }
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`flood: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (opt.keep !== true) rmSync(dir, { recursive: true, force: true });
    // Workers exit with this process (their IPC channel closes).
    setTimeout(() => process.exit(), 500).unref();
  });
