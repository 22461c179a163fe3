/**
 * What the daemon tests share: running `pqike` commands, waiting for a condition, and one
 * daemon process with its log, data plane journal and exit.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../../src/daemon/control.js';
import type { SaView } from '../../src/daemon/listing.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The CLI of the tree this test was compiled into (dist/, or another --outDir). */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `pqike ARGS` to completion (bounded). */
export function cli(args: readonly string[], timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pqike ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One daemon process: its files and its exit. */
export class DaemonProc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly config: string,
    readonly socket: string,
    readonly log: string,
    readonly journal: string,
    extraArgs: readonly string[] = [],
    /** A command the daemon runs under, e.g. ['prlimit', '--nofile=256:256'] (it must exec node). */
    wrapper: readonly string[] = [],
  ) {
    const fd = openSync(log, 'a');
    const argv = [process.execPath, CLI, 'daemon', '-c', config, ...extraArgs];
    const [cmd = process.execPath, ...args] = [...wrapper, ...argv];
    this.child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', fd],
      env: { ...process.env, PQIKE_DATAPLANE_JOURNAL: journal },
    });
    closeSync(fd);
    this.exited = new Promise((r) =>
      this.child.on('exit', (code) => {
        this.exitCode = code;
        r(code);
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Wait until the control socket answers. */
  async ready(): Promise<void> {
    await waitFor(`${this.name}'s control socket`, async () => {
      if (!this.running) throw new Error(`${this.name} exited (${String(this.exitCode)}):\n${readFileSync(this.log, 'utf8')}`);
      try {
        const r = await request(this.socket, { cmd: 'list-conns', args: [], opts: {} }, 2000);
        return r.ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  }

  async sas(): Promise<SaView[]> {
    const r = await request(this.socket, { cmd: 'list-sas', args: [], opts: {} }, 5000);
    if (!r.ok) throw new Error(r.error);
    return r.data as SaView[];
  }

  /** The established IKE SA(s) of a connection. */
  async established(conn: string): Promise<SaView[]> {
    return (await this.sas()).filter((s) => s.connection === conn && s.state === 'established');
  }

  logLines(): Record<string, unknown>[] {
    return readFileSync(this.log, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** The data plane commands the daemon applied (add-sa/del-sa with direction and SPI, policies, traps). */
  journalOps(): { op: string; conn?: string; direction?: string; spi?: string; reqid?: number }[] {
    if (!existsSync(this.journal)) return [];
    return readFileSync(this.journal, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { op: string; conn?: string; direction?: string; spi?: string; reqid?: number });
  }

  /** Inbound SPIs the data plane was told to install (add-sa in). */
  installedInbound(): string[] {
    return this.journalOps().filter((o) => o.op === 'add-sa' && o.direction === 'in').map((o) => o.spi ?? '');
  }

  /** Inbound SPIs the data plane was told to remove (del-sa in). */
  removedInbound(): string[] {
    return this.journalOps().filter((o) => o.op === 'del-sa' && o.direction === 'in').map((o) => o.spi ?? '');
  }

  async stop(signal: NodeJS.Signals, timeoutMs = 5000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** A log sink for an in-process daemon that keeps its JSON lines. */
export class JsonLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString('utf8').split('\n')) if (l.length > 0) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
}

/** One metric's value from a scrape (0 when the series is absent). */
export function metricValue(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
