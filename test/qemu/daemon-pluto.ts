/**
 * What the tests of the pqike daemon against pluto in one qemu VM share
 * (daemon-libreswan, certs-libreswan, ppk-libreswan): the preconditions, a snapshot of the
 * CLI the guest runs, and the readers of pluto's status, pluto's log and the daemon's JSON log.
 */
import { cpSync, existsSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, skipOrFail, which } from '../interop/netns.js';
import { prepareKernel, repoRoot } from './setup.js';
import assert from 'node:assert/strict';
import { existsSync as exists, readFileSync, rmSync } from 'node:fs';
import { lastSection, parseSections, type Section } from './guest.js';
import type { VmResult } from './vm.js';

const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * null, or why the VM cannot run (a skip, or a failure with CI=true); `tools`: host programs
 * the guest needs beside these; `files`: host files it needs, each with the package that has it.
 */
export async function plutoVmPreconditions(tools: readonly string[] = [], hint = '', files: readonly (readonly [string, string])[] = []): Promise<string | null> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail('the qemu harness needs x86-64 Linux');
  if (!isRoot()) return skipOrFail('the qemu harness needs root (apt-get, 9p export of /)');
  const problems: string[] = [];
  if (!existsSync('/bin/busybox')) problems.push('/bin/busybox missing (busybox-static)');
  if (!existsSync(join(DIST_SRC, 'cli/main.js'))) problems.push(`${DIST_SRC}/cli/main.js missing (npx tsc -p .)`);
  for (const [file, pkg] of files) if (!existsSync(file)) problems.push(`${file} missing (${pkg})`);
  if (problems.length === 0) {
    try {
      const { kernel } = await prepareKernel();
      if (!existsSync(join(kernel.libreswan, 'usr/libexec/ipsec/pluto'))) problems.push(`pluto missing in ${kernel.libreswan}`);
    } catch (err) {
      problems.push(`kernel cache: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!which('qemu-system-x86_64')) problems.push('qemu-system-x86_64 missing');
    for (const tool of tools) if (!which(tool)) problems.push(`${tool} missing`);
  }
  if (problems.length === 0) return null;
  return skipOrFail(`${problems.join('; ')} (bash scripts/qemu-kernel.sh as root; ${hint}or run .ci/run)`);
}

/** A copy of dist/src under /var/tmp for the guest (a concurrent tsc would rewrite the modules under the slow guest). */
export function snapshotCli(prefix: string): { dir: string; cli: string } {
  const dir = mkdtempSync(`/var/tmp/${prefix}-`);
  cpSync(DIST_SRC, join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(repoRoot(), 'node_modules'), join(dir, 'node_modules'));
  return { dir, cli: join(dir, 'src/cli/main.js') };
}

/** The `esp.SPI@dst esp.SPI@dst` line of a Child SA in `whack --status`/`--showstates`: SPI by destination. */
export function plutoEspSpis(text: string, serial: number): Map<string, string> {
  const out = new Map<string, string>();
  const line = text.split('\n').find((l) => new RegExp(`#${serial}: "[^"]+"(?:\\[\\d+\\])? esp\\.`).test(l));
  for (const m of (line ?? '').matchAll(/\besp\.([0-9a-f]+)@(\S+)/g)) out.set(m[2] as string, (m[1] as string).padStart(8, '0'));
  return out;
}

/** IKE SPI pairs (SPIi_SPIr, hex) of the IKE headers pluto dumped with plutodebug=base. */
export function plutoIkeSpiPairs(log: string): Set<string> {
  const pairs = new Set<string>();
  for (const m of log.matchAll(/initiator SPI: ([0-9a-f ]+)\n[^\n]*responder SPI: ([0-9a-f ]+)/g)) {
    pairs.add(`${(m[1] as string).replace(/ /g, '')}_${(m[2] as string).replace(/ /g, '')}`);
  }
  return pairs;
}

/** pluto's log without debug lines (`TIME: | ...`). */
export function plutoMessages(log: string): string {
  return log
    .split('\n')
    .filter((l) => !/^\w{3} [ \d]\d [\d:.]+: \| /.test(l))
    .join('\n');
}

/** A failed VM run, for an assertion message: its output, pluto's messages and the daemon's log. */
export function describeVmRun(r: VmResult, logs: { pluto: string; daemon: string }): string {
  return (
    `VM: code=${String(r.code)} timedOut=${r.timedOut} ${r.durationMs} ms (boot ${String(r.bootMs)} ms)\n--- output ---\n${r.output || r.console}` +
    `\n--- pluto (no debug lines) ---\n${plutoMessages(logs.pluto).slice(-12_000)}\n--- pqike daemon ---\n${logs.daemon.slice(-12_000)}`
  );
}

/** A 'message' event of the daemon's JSON log. */
export interface DaemonMessage {
  readonly event: 'message';
  readonly conn?: string;
  readonly exchange: string;
  readonly direction: 'in' | 'out';
  readonly response: boolean;
  readonly sizes: number[];
  readonly payloads: string[];
}

/** The 'message' events of the daemon's JSON log lines. */
export function daemonMessages(log: string): DaemonMessage[] {
  const out: DaemonMessage[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { event?: string } & DaemonMessage;
      if (j.event === 'message') out.push(j);
    } catch {
      // not a log record
    }
  }
  return out;
}

/**
 * A finished VM run of these tests: its logs (pluto.log, daemon.log from the output dir, which
 * is then removed), the failure context, and readers of its `section()`s; fails the test if
 * the VM timed out or its script failed.
 */
export function vmRun(r: VmResult, t: { diagnostic(message: string): void }): { logs: { pluto: string; daemon: string }; ctx: string; get(name: string): Section; json<T>(name: string): T } {
  const read = (f: string): string => (exists(join(r.outDir, f)) ? readFileSync(join(r.outDir, f), 'utf8') : '');
  const logs = { pluto: read('pluto.log'), daemon: read('daemon.log') };
  rmSync(r.dir, { recursive: true, force: true });
  const stamps = Object.fromEntries([...r.output.matchAll(/^@@stamp (\S+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
  t.diagnostic(`VM ${r.kver}: total ${r.durationMs} ms, boot ${String(r.bootMs)} ms; guest uptime stamps ${JSON.stringify(stamps)}`);
  const ctx = describeVmRun(r, logs);
  assert.equal(r.timedOut, false, `VM timed out\n${ctx}`);
  assert.equal(r.code, 0, `guest script failed\n${ctx}`);
  const secs = parseSections(r.output);
  const get = (name: string): Section => lastSection(secs, name);
  const json = <T>(name: string): T => {
    const sec = get(name);
    assert.equal(sec.code, 0, `${name} failed:\n${sec.text}\n${ctx}`);
    try {
      return JSON.parse(sec.text) as T;
    } catch {
      assert.fail(`${name}: not JSON:\n${sec.text}\n${ctx}`);
    }
  };
  return { logs, ctx, get, json };
}
