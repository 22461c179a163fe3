/**
 * Tunnels that come back by themselves between two real `pqike daemon` processes over
 * 127.0.0.1 / 127.0.0.2 UDP (no root needed). Daemon A ("moon") initiates connection `site`
 * (start_action start, keyingtries 0, retry_delay 1s doubling up to 4s, dpd_delay 2s,
 * retransmissions 0.5 s × 2 so that an attempt or a liveness check gives up after 3.5 s;
 * dpd_action restart, close_action start); daemon B ("sun") only responds. B is
 *   - SIGKILLed (no Delete) and started again: A's liveness check finds it dead and
 *     dpd_action restart brings the tunnel back;
 *   - stopped with SIGTERM (it deletes its SAs) and started again: close_action start;
 *   - down while A's `pqike up three` (keyingtries 3) makes its first two attempts, and
 *     started after the second failed: `up` follows the attempts and reports the third's
 *     success; with B never there, `up` reports the failure after the third attempt.
 * Each return is measured from B's control socket answering to both daemons listing the IKE SA
 * and Child SA, printed, and checked against a bound derived from the configured back-off plus
 * slack for a loaded machine.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SaView } from '../../src/daemon/listing.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const PSK_SITE = 'restart-test-psk-site-0123456789abcdef';
const PSK_THREE = 'restart-test-psk-three-fedcba9876543210';

const RETRY_DELAY_MS = 1000;
const RETRY_DELAY_MAX_MS = 4000;
const DPD_DELAY_MS = 2000;
const RETRANSMIT_TIMEOUT_MS = 500;
const RETRANSMIT_TRIES = 2;
/** One attempt (or liveness check) gives up after 0.5 + 1 + 2 = 3.5 s. */
const ATTEMPT_MS = RETRANSMIT_TIMEOUT_MS * (2 ** (RETRANSMIT_TRIES + 1) - 1);
/** Handshake, polling, process start-up on a loaded machine. */
const SLACK_MS = 3000;
/** A peer back for this long must have the tunnel: the longest back-off plus one attempt. */
const BACKOFF_BOUND_MS = RETRY_DELAY_MAX_MS + ATTEMPT_MS;

interface Ports {
  readonly a: number;
  readonly b: number;
}

function config(me: 'moon' | 'sun', ports: Ports, socket: string, conns: { site: boolean; three: boolean }): string {
  const moon = me === 'moon';
  const [lts, rts] = moon ? ['10.1.0.0/16', '10.2.0.0/16'] : ['10.2.0.0/16', '10.1.0.0/16'];
  const peer = moon ? 'sun' : 'moon';
  const site = `  site:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${moon ? ports.b : ports.a}
    local_id: ${me}-site.example.org
    remote_id: ${peer}-site.example.org
    psk: site
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
${moon ? `    keyingtries: 0
    retry_delay: ${RETRY_DELAY_MS}ms
    retry_delay_max: ${RETRY_DELAY_MAX_MS}ms
    dpd_delay: ${DPD_DELAY_MS}ms
` : ''}    children:
      net:
        local_ts: [${lts}]
        remote_ts: [${rts}]
        esp_proposals: [aes256gcm16-x25519-ke1_mlkem768]
${moon ? `        start_action: start
        dpd_action: restart
        close_action: start
` : ''}`;
  const three = `  three:
    local_addrs: 127.0.0.2
    remote_addrs: 127.0.0.2
    remote_port: ${moon ? ports.b : ports.a}
    local_id: ${me}-three.example.org
    remote_id: ${peer}-three.example.org
    psk: three
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
${moon ? `    keyingtries: 3
    retry_delay: ${RETRY_DELAY_MS}ms
    retry_delay_max: ${RETRY_DELAY_MAX_MS}ms
` : ''}    children:
      lan:
        local_ts: [${lts.replace('.0.0/16', '.5.0/24')}]
        remote_ts: [${rts.replace('.0.0/16', '.5.0/24')}]
        esp_proposals: [aes256gcm16-x25519-ke1_mlkem768]
`;
  return `secrets: secrets.yaml
port: ${moon ? ports.a : ports.b}
log:
  level: debug
  format: json
control:
  socket: ${socket}
limits:
  retransmit_timeout: ${RETRANSMIT_TIMEOUT_MS}ms
  retransmit_tries: ${RETRANSMIT_TRIES}
data_plane: fake
connections:
${conns.site ? site : ''}${conns.three ? three : ''}`;
}

/** A JSON log line of a daemon, with its time in ms. */
interface LogEvent {
  readonly at: number;
  readonly line: Record<string, unknown>;
}

/** The daemon's log lines since `since` (tolerates a line cut short by a SIGKILL). */
function logOf(d: DaemonProc, since = 0): LogEvent[] {
  if (!existsSync(d.log)) return [];
  const out: LogEvent[] = [];
  for (const l of readFileSync(d.log, 'utf8').split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      const at = Date.parse(String(line['ts']));
      if (at >= since) out.push({ at, line });
    } catch {
      /* cut short */
    }
  }
  return out;
}

/** The end of IKE SA `sa`: ike-down (deleted) or ike-failed (set-up failed, or found dead). */
function endOf(d: DaemonProc, sa: number, since = 0): LogEvent | undefined {
  return logOf(d, since).find((e) => (e.line['event'] === 'ike-down' || e.line['event'] === 'ike-failed') && e.line['sa'] === sa);
}

function failures(d: DaemonProc, conn: string, since = 0): LogEvent[] {
  return logOf(d, since).filter((e) => e.line['event'] === 'ike-failed' && e.line['conn'] === conn);
}

function restartOf(e: LogEvent | undefined): { attempt: number; inMs: number } | undefined {
  return e?.line['restart'] as { attempt: number; inMs: number } | undefined;
}

function say(t: TestContext, msg: string): void {
  t.diagnostic(msg);
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

interface Env {
  readonly dir: string;
  readonly ports: Ports;
  a: DaemonProc;
  /** null while B is not running. */
  b: DaemonProc | null;
}

function newB(env: { dir: string }): DaemonProc {
  return new DaemonProc('B', join(env.dir, 'b.yaml'), join(env.dir, 'b/run/pqike.sock'), join(env.dir, 'b.log'), join(env.dir, 'b.journal'));
}

/** Start B (again: same files, its log appended) and wait for its control socket; returns when it answered. */
async function startB(env: Env): Promise<number> {
  assert.equal(env.b, null, 'B is already running');
  const b = newB(env);
  env.b = b;
  await b.ready();
  return Date.now();
}

async function stopB(env: Env, signal: 'SIGKILL' | 'SIGTERM'): Promise<{ at: number; code: number | null }> {
  const b = env.b;
  assert.ok(b, 'B is not running');
  const at = Date.now();
  const code = await b.stop(signal);
  env.b = null;
  return { at, code };
}

async function withDaemons(t: TestContext, opts: { bAtStart: boolean; conns: { site: boolean; three: boolean } }, fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-restart-'));
  const base = 30_000 + 2 * Math.floor(Math.random() * 15_000);
  const ports = { a: base, b: base + 1 };
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  site: "${PSK_SITE}"\n  three: "${PSK_THREE}"\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'a.yaml'), config('moon', ports, join(dir, 'a/run/pqike.sock'), opts.conns));
  writeFileSync(join(dir, 'b.yaml'), config('sun', ports, join(dir, 'b/run/pqike.sock'), opts.conns));
  let b: DaemonProc | null = null;
  if (opts.bAtStart) {
    b = newB({ dir });
    await b.ready();
  }
  const a = new DaemonProc('A', join(dir, 'a.yaml'), join(dir, 'a/run/pqike.sock'), join(dir, 'a.log'), join(dir, 'a.journal'));
  const env: Env = { dir, ports, a, b };
  let ok = false;
  try {
    await a.ready();
    await fn(env);
    ok = true;
  } finally {
    for (const d of [env.a, env.b]) if (d) await d.stop('SIGTERM').catch(() => d.child.kill('SIGKILL'));
    for (const d of [env.a, env.b]) if (d?.running) d.child.kill('SIGKILL');
    if (ok && process.env['PQIKE_KEEP_TEST_DIR'] === undefined) rmSync(dir, { recursive: true, force: true });
    else say(t, `files kept in ${dir} (a.log, b.log)`);
  }
}

interface Tunnel {
  readonly seenAt: number;
  readonly mine: SaView;
  readonly peer: SaView;
}

/** Both daemons list one established IKE SA of `conn` (other than `not`) with its Child SA, SPIs matching. */
async function waitForTunnel(env: Env, conn: string, timeoutMs: number, not?: SaView): Promise<Tunnel> {
  let lastA: SaView[] = [];
  let lastB: SaView[] = [];
  try {
    return await waitFor(
      `${conn} established on A and B`,
      async () => {
        lastA = await env.a.sas();
        const mine = lastA.find((x) => x.connection === conn && x.state === 'established' && x.children.length > 0 && (!not || x.spiI !== not.spiI));
        if (!mine || !env.b?.running) return undefined;
        lastB = await env.b.sas().catch(() => []);
        const peer = lastB.find((x) => x.connection === conn && x.spiI === mine.spiI && x.state === 'established' && x.children[0]?.spiOut === mine.children[0]?.spiIn);
        return peer ? { seenAt: Date.now(), mine, peer } : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nA: ${JSON.stringify(lastA)}\nB: ${JSON.stringify(lastB)}`);
  }
}

/** Exactly one IKE SA and one Child SA of `conn` on each side, the same ones. */
async function assertExactlyOne(env: Env, conn: string, tun: Tunnel): Promise<void> {
  const ra = await cli(['list-sas', '--json', '--socket', env.a.socket]);
  assert.equal(ra.code, 0, ra.stderr);
  const la = (JSON.parse(ra.stdout) as SaView[]).filter((x) => x.connection === conn);
  assert.equal(la.length, 1, `A holds one IKE SA of ${conn}: ${JSON.stringify(la)}`);
  assert.equal(la[0]?.spiI, tun.mine.spiI);
  assert.equal(la[0]?.children.length, 1);
  assert.ok(env.b);
  const lb = (await env.b.sas()).filter((x) => x.connection === conn);
  assert.equal(lb.length, 1, `B holds one IKE SA of ${conn}: ${JSON.stringify(lb)}`);
  assert.equal(lb[0]?.spiI, tun.mine.spiI);
  assert.equal(lb[0]?.children.length, 1);
  assert.equal(lb[0]?.children[0]?.spiIn, la[0]?.children[0]?.spiOut);
}

test('B SIGKILLed and started again: A finds it dead (dpd_action restart) and the tunnel returns with new SPIs within the back-off bound', { timeout: 60_000 }, async (t) => {
  await withDaemons(t, { bAtStart: true, conns: { site: true, three: false } }, async (env) => {
    const first = await waitForTunnel(env, 'site', 20_000);
    await new Promise((r) => setTimeout(r, DPD_DELAY_MS + 500));
    const killed = await stopB(env, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    const ready = await startB(env);
    say(t, `B SIGKILLed, answering again ${s(ready - killed.at)} later`);
    const tun = await waitForTunnel(env, 'site', 30_000, first.mine);
    const end = endOf(env.a, first.mine.id, killed.at);
    assert.ok(end, `A ended IKE SA #${first.mine.id}`);
    const plan = restartOf(end);
    say(t, `dead peer declared ${s(end.at - killed.at)} after the kill (${end.line['event'] as string}: ${String(end.line['reason'])}); restart ${JSON.stringify(plan)}`);
    assert.match(String(end.line['reason']), /no response to INFORMATIONAL/, 'found dead by the liveness check');
    assert.ok(plan, 'dpd_action restart scheduled an attempt');
    assert.equal(plan.attempt, 1);
    assert.ok(plan.inMs <= RETRY_DELAY_MS);
    assert.ok(end.at - killed.at <= DPD_DELAY_MS + ATTEMPT_MS + SLACK_MS, `dead after ${end.at - killed.at} ms`);
    const bound = Math.max(end.at + RETRY_DELAY_MS - ready, BACKOFF_BOUND_MS);
    const took = tun.seenAt - ready;
    say(t, `tunnel back on both sides ${s(took)} after B answered (${s(tun.seenAt - end.at)} after the dead peer); bound ${s(bound)} + ${s(SLACK_MS)} slack`);
    assert.ok(took <= bound + SLACK_MS, `took ${took} ms`);
    assert.notEqual(tun.mine.spiI, first.mine.spiI);
    assert.notEqual(tun.mine.children[0]?.spiIn, first.mine.children[0]?.spiIn);
    await assertExactlyOne(env, 'site', tun);
    // Still only this one a liveness check later: no stale SA, no second restart.
    await new Promise((r) => setTimeout(r, DPD_DELAY_MS + 1000));
    await assertExactlyOne(env, 'site', tun);
  });
});

test('B stopped with SIGTERM (it deletes its SAs) and started again: close_action start brings the tunnel back within the back-off bound', { timeout: 60_000 }, async (t) => {
  await withDaemons(t, { bAtStart: true, conns: { site: true, three: false } }, async (env) => {
    const first = await waitForTunnel(env, 'site', 20_000);
    const stopped = await stopB(env, 'SIGTERM');
    assert.equal(stopped.code, 0, 'B exits 0 on SIGTERM');
    const end = await waitFor('A ends the IKE SA B deleted', () => endOf(env.a, first.mine.id, stopped.at - 1000), 5000);
    const plan = restartOf(end);
    say(t, `B stopped: A's IKE SA ended ${s(end.at - stopped.at)} after SIGTERM (${end.line['event'] as string}: ${String(end.line['reason'])}); restart ${JSON.stringify(plan)}`);
    assert.equal(end.line['event'], 'ike-down');
    assert.doesNotMatch(String(end.line['reason']), /no response/, 'a delete, not a dead peer');
    assert.ok(plan, 'close_action start scheduled an attempt');
    assert.equal(plan.attempt, 1);
    await new Promise((r) => setTimeout(r, 3000));
    const ready = await startB(env);
    const tun = await waitForTunnel(env, 'site', 30_000, first.mine);
    const took = tun.seenAt - ready;
    const failedMeanwhile = failures(env.a, 'site', stopped.at).length;
    say(t, `B answering again ${s(ready - stopped.at)} after its stop (${failedMeanwhile} attempt(s) failed meanwhile); tunnel back on both sides ${s(took)} after B answered; bound ${s(BACKOFF_BOUND_MS)} + ${s(SLACK_MS)} slack`);
    assert.ok(failedMeanwhile >= 1, 'A tried while B was down');
    assert.ok(took <= BACKOFF_BOUND_MS + SLACK_MS, `took ${took} ms`);
    await assertExactlyOne(env, 'site', tun);
  });
});

test('pqike up three (keyingtries 3) against a B that is down until its second attempt failed: up follows the attempts and reports the third one established', { timeout: 60_000 }, async (t) => {
  await withDaemons(t, { bAtStart: false, conns: { site: false, three: true } }, async (env) => {
    const started = Date.now();
    const up = cli(['up', 'three', '--socket', env.a.socket], 45_000);
    const second = await waitFor('the second attempt failed', () => failures(env.a, 'three', started)[1], 20_000);
    const ready = await startB(env);
    const r = await up;
    const done = Date.now();
    const fails = failures(env.a, 'three', started);
    say(t, `attempts failed at ${fails.map((f) => s(f.at - started)).join(', ')} after pqike up, next ${JSON.stringify(fails.map(restartOf))}; B answering ${s(ready - started)}; up returned after ${s(done - started)} (exit ${String(r.code)}): ${r.stdout.split('\n')[0] ?? ''}`);
    assert.equal(r.code, 0, `pqike up: ${r.stderr}`);
    assert.match(r.stdout, /connection 'three' established \(IKE SA #(\d+)\)/);
    assert.equal(fails.length, 2, 'two failed attempts before the one that succeeded');
    assert.deepEqual(fails.map((f) => restartOf(f)?.attempt), [2, 3]);
    // The third attempt starts 2 s (less jitter) after the second failed, and succeeds at once.
    const bound = (restartOf(second)?.inMs ?? 2 * RETRY_DELAY_MS) + ATTEMPT_MS;
    say(t, `up returned ${s(done - second.at)} after the second failure; bound ${s(bound)} (the back-off + one attempt) + ${s(SLACK_MS)} slack`);
    assert.ok(done - second.at <= bound + SLACK_MS);
    const id = Number(/IKE SA #(\d+)/.exec(r.stdout)?.[1]);
    const tun = await waitForTunnel(env, 'three', 10_000);
    assert.equal(tun.mine.id, id, 'up reports the IKE SA that is up');
    await assertExactlyOne(env, 'three', tun);
  });
});

test('pqike up three (keyingtries 3) with B never there: up reports the failure after the third attempt, nothing else is tried', { timeout: 60_000 }, async (t) => {
  await withDaemons(t, { bAtStart: false, conns: { site: false, three: true } }, async (env) => {
    const started = Date.now();
    const r = await cli(['up', 'three', '--socket', env.a.socket], 45_000);
    const done = Date.now();
    const fails = failures(env.a, 'three', started);
    // 3 attempts of 3.5 s with back-offs of 1 s and 2 s in between.
    const expected = 3 * ATTEMPT_MS + RETRY_DELAY_MS + 2 * RETRY_DELAY_MS;
    say(t, `up returned after ${s(done - started)} (exit ${String(r.code)}): ${r.stderr.trim()}; failures at ${fails.map((f) => s(f.at - started)).join(', ')}; expected about ${s(expected)}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no response to IKE_SA_INIT/);
    assert.doesNotMatch(r.stderr, /still retrying/);
    assert.equal(fails.length, 3);
    assert.deepEqual(fails.map((f) => restartOf(f)?.attempt), [2, 3, undefined]);
    assert.ok(done - started >= expected * 0.9 - 100 && done - started <= expected + SLACK_MS, `${done - started} ms`);
    await new Promise((r2) => setTimeout(r2, 2 * RETRY_DELAY_MS + 500));
    assert.equal(failures(env.a, 'three', started).length, 3, 'no fourth attempt');
    assert.deepEqual(await env.a.sas(), []);
  });
});
