/**
 * Network-namespace helpers for the interop harness.
 *
 * Everything here stays inside namespaces created by this process: a pair of
 * namespaces joined by one veth pair, no default route, nothing routed out of
 * the machine. Names embed the creating PID so stale namespaces of crashed runs
 * can be recognised and removed (see cleanupStaleNamespaces).
 *
 * Requires root, iproute2 (ip), util-linux (unshare, mount); captures need
 * dumpcap (wireshark-common / tshark package).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, createWriteStream, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Prefix of every namespace this harness creates. */
export const NS_PREFIX = 'pqike-';

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunOptions {
  /** Extra environment variables (merged over process.env). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the command (SIGKILL) after this many ms. Default 30000. */
  readonly timeoutMs?: number;
  /** Do not throw on a non-zero exit status. */
  readonly allowFail?: boolean;
  /** Data written to stdin (stdin is closed afterwards). */
  readonly input?: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly result: RunResult,
  ) {
    super(
      `command failed (code=${String(result.code)} signal=${String(result.signal)}): ${command.join(' ')}\n` +
        `stdout: ${result.stdout.trim()}\nstderr: ${result.stderr.trim()}`,
    );
    this.name = 'CommandError';
  }
}

/** Run a command (not in a namespace) and collect its output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, [...args], {
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (child.stdin) {
      child.stdin.on('error', () => {
        /* command exited before reading its input (EPIPE): its exit status tells */
      });
      child.stdin.end(opts.input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = { code, signal, stdout, stderr, durationMs: Date.now() - started };
      if (!opts.allowFail && code !== 0) reject(new CommandError([cmd, ...args], result));
      else resolvePromise(result);
    });
  });
}

/** Run a command inside a namespace with `ip netns exec`. */
export function nsExec(ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Path of an executable found in PATH (plus sbin dirs), or null. */
export function which(tool: string): string | null {
  if (tool.includes('/')) return isExecutable(tool) ? tool : null;
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, tool);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsConstants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * A reason not to run an interop or qemu test: returned (the test skips) on a developer's
 * machine, thrown with CI=true, where a test that cannot run is a failure, whatever the
 * reason (not root, not Linux, a tool missing): CI must not go green by skipping.
 */
export function skipOrFail(reason: string): string {
  if (process.env['CI'] === 'true') throw new Error(`CI=true: ${reason}`);
  return reason;
}

/**
 * Decide whether an interop test can run: null when everything is there, else the reason to
 * skip with (skipOrFail: with CI=true it throws instead).
 */
export function interopSkipReason(requiredTools: readonly string[]): string | null {
  if (process.platform !== 'linux') return skipOrFail('interop tests need Linux network namespaces');
  if (!isRoot()) return skipOrFail('interop tests need root (network namespaces)');
  const missing = requiredTools.filter((t) => which(t) === null);
  if (missing.length === 0) return null;
  return skipOrFail(
    `interop tools missing: ${missing.join(', ')} ` +
      '(apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins ' +
      'libstrongswan-standard-plugins tshark iproute2; or run .ci/run)',
  );
}

/* ------------------------------------------------------------------------- */
/* Long-running processes                                                    */
/* ------------------------------------------------------------------------- */

export interface StartOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Append stdout+stderr to this file as well as keeping them in memory. */
  readonly logPath?: string;
  /** Resolve start only after this pattern appears on stdout or stderr. */
  readonly readyPattern?: RegExp;
  /** Default 10000. */
  readonly readyTimeoutMs?: number;
  /** 'pipe': stdin is writable with NsProcess.write(). Default 'ignore'. */
  readonly stdin?: 'ignore' | 'pipe';
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process started in a namespace. Its pid is the command's own pid (ip netns exec execs). */
export class NsProcess {
  readonly exited: Promise<ExitInfo>;
  private out = '';
  private exitInfo: ExitInfo | null = null;

  constructor(
    readonly ns: string,
    readonly argv: readonly string[],
    private readonly child: ChildProcess,
    logPath?: string,
  ) {
    const log = logPath ? createWriteStream(logPath, { flags: 'a' }) : null;
    const onData = (d: Buffer): void => {
      this.out += d.toString('utf8');
      log?.write(d);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolvePromise) => {
      child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        log?.end();
        liveProcesses.delete(this);
        resolvePromise(this.exitInfo);
      });
    });
    liveProcesses.add(this);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`process ${this.argv.join(' ')} has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Write to the process's stdin (started with `stdin: 'pipe'`). */
  write(text: string): void {
    const stdin = this.child.stdin;
    if (!stdin) throw new Error(`${this.argv.join(' ')} was started without stdin: 'pipe'`);
    if (!this.running || stdin.destroyed) throw new Error(`${this.argv.join(' ')} has exited; cannot write ${JSON.stringify(text)}`);
    stdin.write(text);
  }

  /** Close stdin (end of input). */
  endInput(): void {
    this.child.stdin?.end();
  }

  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string {
    return this.out;
  }

  /** Wait until pattern appears in the output; rejects on exit or timeout. */
  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (!this.running) {
        throw new Error(`${this.argv.join(' ')} exited (${JSON.stringify(this.exitInfo)}) before ${pattern}: ${this.out}`);
      }
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${pattern} from ${this.argv.join(' ')}: ${this.out}`);
      await sleep(20);
    }
  }

  /** Send signal (default SIGTERM), SIGKILL after graceMs; resolves with exit info. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Synchronous best-effort kill, for process exit handlers. */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

const liveProcesses = new Set<NsProcess>();

/** Start a long-running command in namespace `ns` (`ip netns exec ns cmd args...`). */
export async function startInNs(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: StartOptions = {},
): Promise<NsProcess> {
  installExitHandler();
  const argv = ['ip', 'netns', 'exec', ns, cmd, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: { ...process.env, ...(opts.env ?? {}) },
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => {
    /* the process exited before reading (EPIPE): its exit status tells */
  });
  await new Promise<void>((resolvePromise, reject) => {
    child.once('spawn', () => resolvePromise());
    child.once('error', reject);
  });
  const proc = new NsProcess(ns, argv, child, opts.logPath);
  if (opts.readyPattern) {
    try {
      await proc.waitForOutput(opts.readyPattern, opts.readyTimeoutMs ?? 10_000);
    } catch (err) {
      await proc.stop('SIGKILL');
      throw err;
    }
  }
  return proc;
}

/* ------------------------------------------------------------------------- */
/* Namespace pairs                                                           */
/* ------------------------------------------------------------------------- */

export interface NsEnd {
  /** Namespace name. */
  readonly ns: string;
  /** veth interface name inside the namespace. */
  readonly ifname: string;
  /** Address on the veth interface (no prefix). */
  readonly addr: string;
  readonly prefixLen: number;
  /** Extra "inside" address on lo (host route /32 or /128), e.g. for tunnel traffic selectors. */
  readonly innerAddr: string | null;
}

export interface NetnsPairOptions {
  readonly addrA?: string;
  readonly addrB?: string;
  /** Prefix length of the veth link. Default 24 (64 for IPv6). */
  readonly prefixLen?: number;
  /** Address put on lo in A (default 10.99.1.1; null for none). */
  readonly innerA?: string | null;
  /** Address put on lo in B (default 10.99.2.1; null for none). */
  readonly innerB?: string | null;
}

export class NetnsPair {
  private destroyed = false;
  constructor(
    readonly id: string,
    readonly a: NsEnd,
    readonly b: NsEnd,
  ) {}

  /** Stop every process still running in either namespace, then delete both (idempotent). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const mine = [...liveProcesses].filter((p) => p.ns === this.a.ns || p.ns === this.b.ns);
    await Promise.all(mine.map((p) => p.stop('SIGTERM', 3000)));
    for (const ns of [this.a.ns, this.b.ns]) {
      await killAllInNs(ns);
      await run('ip', ['netns', 'del', ns], { allowFail: true });
    }
    livePairs.delete(this);
  }

  /** Synchronous best-effort cleanup for exit handlers. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [this.a.ns, this.b.ns]) {
      killAllInNsSync(ns);
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }
}

const livePairs = new Set<NetnsPair>();
let pairCounter = 0;

function isV6(addr: string): boolean {
  return addr.includes(':');
}

/**
 * Create namespaces `pqike-<pid>-<n>-a` / `-b` joined by veth `pq<hex>a` / `pq<hex>b`,
 * addresses assigned, links (and lo) up. No default route: nothing leaves the pair.
 */
export async function createNetnsPair(opts: NetnsPairOptions = {}): Promise<NetnsPair> {
  installExitHandler();
  const n = ++pairCounter;
  const id = `${process.pid}-${n}`;
  const nsA = `${NS_PREFIX}${id}-a`;
  const nsB = `${NS_PREFIX}${id}-b`;
  const tag = randomBytes(4).toString('hex'); // interface names: max 15 chars
  const ifA = `pq${tag}a`;
  const ifB = `pq${tag}b`;
  const addrA = opts.addrA ?? '10.99.0.1';
  const addrB = opts.addrB ?? '10.99.0.2';
  const prefixLen = opts.prefixLen ?? (isV6(addrA) ? 64 : 24);
  const innerA = opts.innerA === undefined ? '10.99.1.1' : opts.innerA;
  const innerB = opts.innerB === undefined ? '10.99.2.1' : opts.innerB;
  const pair = new NetnsPair(
    id,
    { ns: nsA, ifname: ifA, addr: addrA, prefixLen, innerAddr: innerA },
    { ns: nsB, ifname: ifB, addr: addrB, prefixLen, innerAddr: innerB },
  );
  livePairs.add(pair);
  try {
    await run('ip', ['netns', 'add', nsA]);
    await run('ip', ['netns', 'add', nsB]);
    await run('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    for (const end of [pair.a, pair.b]) {
      await run('ip', ['-n', end.ns, 'link', 'set', 'lo', 'up']);
      const extra = isV6(end.addr) ? ['nodad'] : [];
      await run('ip', ['-n', end.ns, 'addr', 'add', `${end.addr}/${end.prefixLen}`, 'dev', end.ifname, ...extra]);
      if (end.innerAddr) {
        const plen = isV6(end.innerAddr) ? 128 : 32;
        await run('ip', ['-n', end.ns, 'addr', 'add', `${end.innerAddr}/${plen}`, 'dev', 'lo']);
      }
      await run('ip', ['-n', end.ns, 'link', 'set', end.ifname, 'up']);
    }
  } catch (err) {
    await pair.destroy();
    throw err;
  }
  return pair;
}

/** Create a pair, run fn, and always destroy the pair afterwards (even when fn throws). */
export async function withNetnsPair<T>(fn: (pair: NetnsPair) => Promise<T>, opts: NetnsPairOptions = {}): Promise<T> {
  const pair = await createNetnsPair(opts);
  try {
    return await fn(pair);
  } finally {
    await pair.destroy();
  }
}

/** PIDs of processes living in namespace ns (`ip netns pids`). */
export async function pidsInNs(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  return parsePids(r.stdout);
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p !== process.pid);
}

async function killAllInNs(ns: string): Promise<void> {
  let pids = await pidsInNs(ns);
  if (pids.length === 0) return;
  for (const p of pids) tryKill(p, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (pids.length > 0 && Date.now() < deadline) {
    await sleep(50);
    pids = await pidsInNs(ns);
  }
  for (const p of pids) tryKill(p, 'SIGKILL');
}

function killAllInNsSync(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const p of parsePids(r.stdout ?? '')) tryKill(p, 'SIGKILL');
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Delete `pqike-<pid>-*` namespaces left behind by processes that no longer
 * exist (a crashed or SIGKILLed earlier run). Returns the names removed.
 */
export async function cleanupStaleNamespaces(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  const removed: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-\\d+-[ab]$`).exec(name);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || processAlive(owner)) continue;
    await killAllInNs(name);
    await run('ip', ['netns', 'del', name], { allowFail: true });
    removed.push(name);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let exitHandlerInstalled = false;
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const p of liveProcesses) p.killNow();
    for (const pair of livePairs) pair.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of liveProcesses) p.killNow();
      for (const pair of livePairs) pair.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

/* ------------------------------------------------------------------------- */
/* Packet capture                                                            */
/* ------------------------------------------------------------------------- */

export interface CaptureOptions {
  /** libpcap capture filter, e.g. 'udp port 500 or udp port 4500'. */
  readonly filter?: string;
  /** Write pcapng instead of classic pcap. Default false (pcap). */
  readonly pcapng?: boolean;
  /** Snapshot length (-s); default: whole packets. */
  readonly snaplen?: number;
  /** Prefer this capture binary (default dumpcap, else tshark). */
  readonly tool?: 'dumpcap' | 'tshark';
}

export interface CaptureResult {
  readonly pcapPath: string;
  /** Packets dumpcap reported as captured (null if not reported). */
  readonly packets: number | null;
}

export interface CaptureStopOptions {
  /**
   * Stop only after no new packet was reported for this long (counted from the
   * stop call). libpcap (TPACKET_V3) hands packets to dumpcap in blocks retired
   * every 250 ms, so stopping right after the last packet can lose it. Default 600.
   */
  readonly settleMs?: number;
  /** Also wait until at least this many packets were captured (up to maxWaitMs). */
  readonly minPackets?: number;
  /** Give up waiting (and stop anyway) after this long. Default 10000. */
  readonly maxWaitMs?: number;
}

export class Capture {
  constructor(
    readonly pcapPath: string,
    private readonly proc: NsProcess,
  ) {}

  /** Packets captured so far, as last reported by dumpcap ("Packets: N"); null if unknown. */
  packetCount(): number | null {
    const all = [...this.proc.output().matchAll(/Packets(?: captured)?: (\d+)/g)];
    const last = all[all.length - 1];
    return last ? Number(last[1]) : null;
  }

  /** Wait until dumpcap reports at least n packets. */
  async waitForPackets(n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = this.packetCount() ?? 0;
      if (c >= n) return c;
      if (Date.now() > deadline) throw new Error(`capture ${this.pcapPath}: ${c} < ${n} packets after ${timeoutMs} ms`);
      await sleep(25);
    }
  }

  /** Let in-flight packets settle, stop capturing (SIGINT, so the file is complete) and report the count. */
  async stop(opts: CaptureStopOptions = {}): Promise<CaptureResult> {
    const settleMs = opts.settleMs ?? 600;
    const started = Date.now();
    let last = this.packetCount();
    let lastChange = started;
    while (this.proc.running) {
      await sleep(25);
      const c = this.packetCount();
      const now = Date.now();
      if (c !== last) {
        last = c;
        lastChange = now;
      }
      const enough = opts.minPackets === undefined || (c ?? 0) >= opts.minPackets;
      if ((now - lastChange >= settleMs && enough) || now - started > (opts.maxWaitMs ?? 10_000)) break;
    }
    await this.proc.stop('SIGINT', 5000);
    if (!existsSync(this.pcapPath)) throw new Error(`capture file ${this.pcapPath} missing: ${this.proc.output()}`);
    const m = /Packets captured: (\d+)/.exec(this.proc.output());
    return { pcapPath: this.pcapPath, packets: m ? Number(m[1]) : this.packetCount() };
  }
}

/** Capture on `iface` inside namespace `ns` into pcapPath; resolves once capturing has started. */
export async function startCapture(ns: string, iface: string, pcapPath: string, opts: CaptureOptions = {}): Promise<Capture> {
  const tool = opts.tool ?? (which('dumpcap') ? 'dumpcap' : 'tshark');
  // No -q: dumpcap then reports "Packets: N" as packets arrive (see Capture.packetCount).
  const args = ['-i', iface, '-w', pcapPath];
  if (tool === 'dumpcap') args.push(opts.pcapng ? '-n' : '-P');
  else args.push('-F', opts.pcapng ? 'pcapng' : 'pcap');
  if (opts.filter) args.push('-f', opts.filter);
  if (opts.snaplen !== undefined) args.push('-s', String(opts.snaplen));
  const proc = await startInNs(ns, tool, args, { readyPattern: /Capturing on/, readyTimeoutMs: 10_000 });
  return new Capture(pcapPath, proc);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
