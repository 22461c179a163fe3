/**
 * Tunnels that come back by themselves, against a real peer: a pqike daemon in namespace A
 * initiates (start_action start, keyingtries 0, retry_delay 1s doubling up to 4s, dpd_delay 2s,
 * retransmissions 0.5 s × 2 so that an attempt or a liveness check gives up after 3.5 s;
 * dpd_action restart, close_action start) to Debian's strongSwan 5.9.8 charon in namespace B,
 * which only responds. charon is
 *   a. not running when the daemon starts, and started ~6 s later;
 *   b. SIGKILLed while the tunnel is up (no Delete) and started again ~3 s later;
 *   c. told to delete the IKE SA (swanctl --terminate), then stopped gracefully (SIGTERM: it
 *      deletes its IKE SA) and started again;
 *   d. stopped and started after `pqike down sun` (nothing comes back), and `pqike down` while
 *      the daemon is retrying after a dead peer stops the attempts.
 * Each return is measured from charon being ready (configuration loaded) to the IKE SA and
 * Child SA listed by both `pqike list-sas --json` and `swanctl --list-sas`, printed, and
 * checked against a bound derived from the configured back-off (plus slack for a loaded
 * machine), not against tight timings.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sleep, startInNs, withNetnsPair } from './netns.js';
import type { NetnsPair, NsProcess } from './netns.js';
import { Charon, charonSkipReason } from './strongswan.js';
import type { IkeSaInfo, SwanctlConnParams } from './strongswan.js';
import { charonPeer } from './pqike-charon.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const PSK = 'pqike-daemon-restart-strongswan-psk-0123456789';

const skip = charonSkipReason();

/** The configured back-off and retransmissions (written into the daemon's file below). */
const RETRY_DELAY_MS = 1000;
const RETRY_DELAY_MAX_MS = 4000;
const DPD_DELAY_MS = 2000;
const RETRANSMIT_TIMEOUT_MS = 500;
const RETRANSMIT_TRIES = 2;
/** One attempt (or liveness check) gives up after 0.5 + 1 + 2 = 3.5 s. */
const ATTEMPT_MS = RETRANSMIT_TIMEOUT_MS * (2 ** (RETRANSMIT_TRIES + 1) - 1);
/** Handshake, polling of both listings (a node process per pqike call) and a loaded machine. */
const SLACK_MS = 3000;
/** A peer back for this long must have the tunnel: the longest back-off plus one attempt. */
const BACKOFF_BOUND_MS = RETRY_DELAY_MAX_MS + ATTEMPT_MS;

interface Env {
  readonly pair: NetnsPair;
  readonly dir: string;
  readonly socket: string;
  readonly daemon: NsProcess;
  /** The running charon, or null while it is stopped. */
  charon: Charon | null;
  readonly charonDir: string;
}

function daemonConfig(pair: NetnsPair, socket: string): string {
  return `secrets: secrets.yaml
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
  sun:
    local_addrs: ${pair.a.addr}
    remote_addrs: ${pair.b.addr}
    local_id: moon.pqike.test
    remote_id: sun.pqike.test
    psk: sun
    proposals:
      - aes256gcm16-prfsha384-x25519-ke1_mlkem768
      - aes256gcm16-prfsha384-x25519
    keyingtries: 0
    retry_delay: ${RETRY_DELAY_MS}ms
    retry_delay_max: ${RETRY_DELAY_MAX_MS}ms
    dpd_delay: ${DPD_DELAY_MS}ms
    children:
      net:
        local_ts: [10.99.1.0/24]
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
        start_action: start
        dpd_action: restart
        close_action: start
`;
}

function charonConn(pair: NetnsPair): SwanctlConnParams {
  return charonPeer(pair, PSK, { localTs: '10.99.2.0/24', remoteTs: '10.99.1.0/24' });
}

interface SaView {
  id: number;
  connection: string;
  state: string;
  spiI: string;
  spiR: string;
  children: { name: string; spiIn: string; spiOut: string; state: string }[];
}

async function pqike(env: { socket: string }, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args, '--socket', env.socket], { allowFail: true, timeoutMs: 40_000 });
}

async function daemonSas(env: Env): Promise<SaView[]> {
  const r = await pqike(env, 'list-sas', '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SaView[];
}

/** A JSON log line of the daemon, with its time in ms. */
interface LogEvent {
  readonly at: number;
  readonly line: Record<string, unknown>;
}

function daemonLog(env: Env, since = 0): LogEvent[] {
  const out: LogEvent[] = [];
  for (const l of env.daemon.output().split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      const at = Date.parse(String(line['ts']));
      if (at >= since) out.push({ at, line });
    } catch {
      /* a line still being written */
    }
  }
  return out;
}

function events(env: Env, type: string, since = 0): LogEvent[] {
  return daemonLog(env, since).filter((e) => e.line['event'] === type);
}

/**
 * The end of IKE SA `sa`: ike-down (deleted) or ike-failed (set-up failed, or found dead: an
 * established SA whose request went unanswered ends with ike-failed too).
 */
function endOf(env: Env, sa: number, since = 0): LogEvent | undefined {
  return daemonLog(env, since).find((e) => (e.line['event'] === 'ike-down' || e.line['event'] === 'ike-failed') && e.line['sa'] === sa);
}

/** endOf, once the daemon has written the line (it handles charon's Delete while charon exits). */
async function awaitEnd(env: Env, sa: number, since: number, withinMs = 3000): Promise<LogEvent | undefined> {
  const until = Date.now() + withinMs;
  for (;;) {
    const e = endOf(env, sa, since);
    if (e || Date.now() > until) return e;
    await sleep(50);
  }
}

function restartOf(e: LogEvent): { attempt: number; inMs: number } | undefined {
  return e.line['restart'] as { attempt: number; inMs: number } | undefined;
}

/** (Re)start charon in B with the same directory (its log grows across restarts) and load the responder config. */
async function startCharon(env: Env): Promise<number> {
  assert.equal(env.charon, null, 'charon is already running');
  env.charon = await Charon.start({ ns: env.pair.b.ns, name: 'sun', dir: env.charonDir });
  await env.charon.loadConfig([charonConn(env.pair)]);
  return Date.now();
}

async function killCharon(env: Env, signal: 'SIGKILL' | 'SIGTERM'): Promise<number> {
  const c = env.charon;
  assert.ok(c, 'charon is not running');
  const at = Date.now();
  await c.proc.stop(signal, 5000);
  env.charon = null;
  return at;
}

interface Tunnel {
  /** When both listings showed it (test clock). */
  readonly seenAt: number;
  readonly mine: SaView;
  readonly peer: IkeSaInfo;
}

/**
 * Wait until the daemon lists an established IKE SA of 'sun' with an installed Child SA, other
 * than `not` (IKE SPIs), and charon lists the same IKE SA (same SPIs) with its Child SA
 * installed. assertExactlyOne() then checks that nothing else is there.
 */
async function waitForTunnel(env: Env, timeoutMs: number, not?: SaView): Promise<Tunnel> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const list = await daemonSas(env);
    const up = list.filter((s) => s.connection === 'sun' && s.state === 'established' && s.children.some((c) => c.state === 'installed'));
    const mine = up.find((s) => !not || s.spiI !== not.spiI);
    if (mine && env.charon) {
      const peer = (await env.charon.listSas()).find(
        (s) => s.name === 'pq' && s.state === 'ESTABLISHED' && s.raw['initiator-spi'] === mine.spiI && s.children.some((c) => c.name === 'net' && c.state === 'INSTALLED'),
      );
      if (peer) return { seenAt: Date.now(), mine, peer };
    }
    last = JSON.stringify(list);
    if (Date.now() > deadline) {
      throw new Error(
        `no tunnel within ${timeoutMs} ms; daemon: ${last}\ncharon: ${env.charon ? await env.charon.listSasText() : '(stopped)'}\n` +
          `${env.charon?.logTail(60) ?? ''}\n--- daemon log (last 40 lines) ---\n${env.daemon.output().split('\n').slice(-40).join('\n')}`,
      );
    }
    await sleep(100);
  }
}

/** Both sides agree: one IKE SA, one Child SA, SPIs matching. */
async function assertExactlyOne(env: Env, t: Tunnel): Promise<void> {
  const list = (await daemonSas(env)).filter((s) => s.connection === 'sun');
  assert.equal(list.length, 1, `the daemon holds one IKE SA of sun: ${JSON.stringify(list)}`);
  const [sa] = list;
  assert.ok(sa);
  assert.equal(sa.state, 'established');
  assert.equal(sa.spiI, t.mine.spiI);
  assert.equal(sa.children.length, 1, `one Child SA: ${JSON.stringify(sa.children)}`);
  const peer = await env.charon?.listSas();
  assert.ok(peer);
  assert.equal(peer.length, 1, `charon holds one IKE SA: ${JSON.stringify(peer.map((p) => [p.name, p.state, p.raw['initiator-spi']]))}`);
  const [p] = peer;
  assert.equal(p?.raw['initiator-spi'], sa.spiI);
  assert.equal(p?.raw['responder-spi'], sa.spiR);
  const installed = p?.children.filter((c) => c.state === 'INSTALLED') ?? [];
  assert.equal(installed.length, 1, `charon: one Child SA: ${JSON.stringify(p?.children.map((c) => [c.name, c.state]))}`);
  assert.equal(installed[0]?.raw['spi-in'], sa.children[0]?.spiOut);
  assert.equal(installed[0]?.raw['spi-out'], sa.children[0]?.spiIn);
}

function say(t: TestContext, msg: string): void {
  t.diagnostic(msg);
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A netns pair, the daemon in A (its start action initiates at once), charon in B started now
 * unless `charonAtStart` is false.
 */
async function withEnv(t: TestContext, charonAtStart: boolean, fn: (env: Env, daemonStartedAt: number) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-drs-'));
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  sun: "${PSK}"\n`, { mode: 0o600 });
  const socket = join(dir, 'run', 'pqike.sock');
  const charonDir = join(dir, 'charon');
  let ok = false;
  try {
    await withNetnsPair(async (pair) => {
      writeFileSync(join(dir, 'pqike.yaml'), daemonConfig(pair, socket));
      const pre: { charon: Charon | null } = { charon: null };
      if (charonAtStart) {
        pre.charon = await Charon.start({ ns: pair.b.ns, name: 'sun', dir: charonDir });
        await pre.charon.loadConfig([charonConn(pair)]);
      }
      const started = Date.now();
      const daemon = await startInNs(pair.a.ns, process.execPath, [CLI, 'daemon', '-c', join(dir, 'pqike.yaml')], {
        readyPattern: /control socket/,
        readyTimeoutMs: 20_000,
        logPath: join(dir, 'daemon.log'),
      });
      const env: Env = { pair, dir, socket, daemon, charon: pre.charon, charonDir };
      try {
        await fn(env, started);
        ok = true;
      } finally {
        await daemon.stop('SIGTERM', 5000);
        await env.charon?.stop();
      }
    });
  } finally {
    if (ok && process.env['PQIKE_KEEP_TEST_DIR'] === undefined) rmSync(dir, { recursive: true, force: true });
    else say(t, `files kept in ${dir} (daemon.log, charon/charon.log)`);
  }
}

test('a. charon not running when the daemon starts: keyingtries 0 keeps trying, the tunnel is up within the back-off bound once charon is there', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, false, async (env, started) => {
    await sleep(6000 - (Date.now() - started));
    const failed = events(env, 'ike-failed');
    const plans = failed.map(restartOf);
    say(t, `before charon: ${failed.length} failed attempt(s), next attempts ${JSON.stringify(plans)}`);
    assert.ok(failed.length >= 1, 'the first attempt has failed (no answer after its retransmissions)');
    assert.ok(plans.every((p) => p !== undefined), 'every failure schedules a next attempt (keyingtries 0)');
    assert.equal(plans[0]?.attempt, 2);
    // The first back-off is retry_delay less up to 10 % jitter.
    assert.ok((plans[0]?.inMs ?? 0) >= RETRY_DELAY_MS * 0.9 && (plans[0]?.inMs ?? 0) <= RETRY_DELAY_MS, String(plans[0]?.inMs));
    const firstFail = failed[0]?.at ?? 0;
    say(t, `first attempt gave up ${s(firstFail - started)} after the daemon was started (one attempt: ${s(ATTEMPT_MS)} of retransmissions)`);
    assert.ok(firstFail - started >= ATTEMPT_MS - 100, 'not before its retransmissions were over');

    const ready = await startCharon(env);
    say(t, `charon ready ${s(ready - started)} after the daemon was started`);
    const tun = await waitForTunnel(env, BACKOFF_BOUND_MS + SLACK_MS + 10_000);
    const childUp = events(env, 'child-up', ready - 1000).at(-1)?.at ?? tun.seenAt;
    const took = tun.seenAt - ready;
    say(t, `tunnel up on both sides ${s(took)} after charon was ready (daemon's child-up after ${s(childUp - ready)}); bound ${s(BACKOFF_BOUND_MS)} (retry_delay_max + one attempt) + ${s(SLACK_MS)} slack`);
    const attempts = events(env, 'ike-failed').length + 1;
    say(t, `attempts made: ${attempts}`);
    assert.ok(took <= BACKOFF_BOUND_MS + SLACK_MS, `the tunnel took ${took} ms after charon was ready`);
    await assertExactlyOne(env, tun);
  });
});

test('b. charon SIGKILLed while the tunnel is up and restarted: the liveness check finds it dead, dpd_action restart brings the tunnel back with new SPIs', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, true, async (env) => {
    const first = await waitForTunnel(env, 20_000);
    // Let one liveness check pass first (dpd_delay), so the check that finds it dead is a routine one.
    await sleep(DPD_DELAY_MS + 500);
    const killed = await killCharon(env, 'SIGKILL');
    await sleep(3000);
    const ready = await startCharon(env);
    say(t, `charon SIGKILLed, ready again ${s(ready - killed)} later`);
    const tun = await waitForTunnel(env, 30_000, first.mine);
    const down = endOf(env, first.mine.id, killed);
    assert.ok(down, `the daemon ended IKE SA #${first.mine.id}`);
    const plan = restartOf(down);
    say(t, `dead peer declared ${s(down.at - killed)} after the kill (${String(down.line['reason'])}); restart ${JSON.stringify(plan)}`);
    assert.match(String(down.line['reason']), /no response to INFORMATIONAL/, 'found dead by the liveness check');
    assert.ok(plan, 'dpd_action restart scheduled an attempt');
    assert.equal(plan.attempt, 1);
    assert.ok(plan.inMs <= RETRY_DELAY_MS, String(plan.inMs));
    // Found dead at most dpd_delay + one check's retransmissions after the kill.
    assert.ok(down.at - killed <= DPD_DELAY_MS + ATTEMPT_MS + SLACK_MS, `dead peer after ${down.at - killed} ms`);
    // Back: retry_delay after being found dead if charon was already there, else within the back-off bound after charon.
    const bound = Math.max(down.at + RETRY_DELAY_MS - ready, BACKOFF_BOUND_MS);
    const took = tun.seenAt - ready;
    say(t, `tunnel back on both sides ${s(took)} after charon was ready (${s(tun.seenAt - down.at)} after the dead peer); bound ${s(bound)} + ${s(SLACK_MS)} slack`);
    assert.ok(took <= bound + SLACK_MS, `the tunnel took ${took} ms after charon was ready`);
    assert.notEqual(tun.mine.spiI, first.mine.spiI, 'new IKE SPIs');
    assert.notEqual(tun.mine.children[0]?.spiIn, first.mine.children[0]?.spiIn, 'new Child SA SPIs');
    await assertExactlyOne(env, tun);
    // No stale SA and no second restart later on: still exactly this one a liveness check later.
    await sleep(DPD_DELAY_MS + 1000);
    await assertExactlyOne(env, tun);
  });
});

test('c. charon deletes the IKE SA (swanctl --terminate, then a graceful stop and restart): close_action start brings the tunnel back', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, true, async (env) => {
    const first = await waitForTunnel(env, 20_000);
    const charon = env.charon;
    assert.ok(charon);
    // 1: charon deletes the IKE SA and stays up.
    const terminated = Date.now();
    const r = await charon.terminateIke('pq');
    assert.equal(r.code, 0, r.stderr);
    const second = await waitForTunnel(env, 20_000, first.mine);
    const down1 = endOf(env, first.mine.id, terminated - 1000);
    assert.ok(down1, `the daemon ended IKE SA #${first.mine.id}`);
    const plan1 = restartOf(down1);
    say(t, `terminated by charon: '${String(down1.line['reason'])}', restart ${JSON.stringify(plan1)}; back on both sides ${s(second.seenAt - terminated)} later; bound ${s(RETRY_DELAY_MS)} (retry_delay) + ${s(SLACK_MS)} slack`);
    assert.ok(plan1, 'close_action start scheduled an attempt');
    assert.equal(plan1.attempt, 1);
    assert.ok(second.seenAt - terminated <= RETRY_DELAY_MS + SLACK_MS);
    await assertExactlyOne(env, second);

    // 2: charon shuts down gracefully (its IKE SA deleted with an INFORMATIONAL Delete) and comes back.
    const stopped = await killCharon(env, 'SIGTERM');
    const down2 = await awaitEnd(env, second.mine.id, stopped - 1000);
    assert.ok(down2, `the daemon ended IKE SA #${second.mine.id} when charon stopped (it sent a Delete): ${charon.logTail(20)}`);
    const plan2 = restartOf(down2);
    say(t, `charon stopped: '${String(down2.line['reason'])}' ${s(down2.at - stopped)} after SIGTERM, restart ${JSON.stringify(plan2)}`);
    assert.doesNotMatch(String(down2.line['reason']), /no response/, 'a delete, not a dead peer');
    assert.ok(plan2, 'close_action start scheduled an attempt');
    await sleep(3000);
    const ready = await startCharon(env);
    const third = await waitForTunnel(env, 30_000, second.mine);
    const took = third.seenAt - ready;
    const failedMeanwhile = events(env, 'ike-failed', stopped).length;
    say(t, `charon ready ${s(ready - stopped)} after its stop (${failedMeanwhile} attempt(s) failed meanwhile); tunnel back on both sides ${s(took)} after charon was ready; bound ${s(BACKOFF_BOUND_MS)} + ${s(SLACK_MS)} slack`);
    assert.ok(failedMeanwhile >= 1, 'the daemon tried while charon was down');
    assert.ok(took <= BACKOFF_BOUND_MS + SLACK_MS, `the tunnel took ${took} ms after charon was ready`);
    await assertExactlyOne(env, third);
  });
});

/** IKE_SA_INIT requests the daemon sent (first transmissions and retransmissions) since `since`. */
function initRequests(env: Env, since: number): LogEvent[] {
  return events(env, 'message', since).filter((e) => e.line['direction'] === 'out' && e.line['exchange'] === 34 && e.line['response'] === false);
}

/**
 * Neither side holds an IKE SA for `ms`. An attempt that `pqike down` failed to cancel would be
 * due within retry_delay_max and succeed at once with charon there: BACKOFF_BOUND_MS covers it.
 */
async function assertNothingFor(env: Env, ms: number, why: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const mine = await daemonSas(env);
    assert.deepEqual(mine, [], `${why}: the daemon holds no IKE SA`);
    const peer = (await env.charon?.listSas()) ?? [];
    assert.deepEqual(peer.map((p) => p.name), [], `${why}: charon holds no IKE SA`);
    await sleep(500);
  }
}

test('d. after pqike down sun, stopping and starting charon brings nothing back; down while retrying after a dead peer stops the attempts', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, true, async (env) => {
    await waitForTunnel(env, 20_000);
    const d = await pqike(env, 'down', 'sun');
    assert.equal(d.code, 0, d.stderr);
    const downAt = Date.now();
    for (let i = 0; i < 50 && ((await env.charon?.listSas()) ?? []).length > 0; i++) await sleep(100);
    await killCharon(env, 'SIGTERM');
    await sleep(1000);
    const ready = await startCharon(env);
    await assertNothingFor(env, BACKOFF_BOUND_MS, 'after pqike down');
    const inits = initRequests(env, downAt);
    say(t, `after down: nothing for ${s(Date.now() - ready)} after charon was back (IKE_SA_INIT requests sent since the down: ${inits.length})`);
    assert.equal(inits.length, 0, 'no attempt was made after down');
    assert.equal(events(env, 'ike-failed', downAt).length, 0, 'no attempt failed after down');

    // Up again, then charon dies; down while the daemon retries stops it.
    const up = await pqike(env, 'up', 'sun');
    assert.equal(up.code, 0, up.stderr);
    const sa = (await waitForTunnel(env, 20_000)).mine;
    const killed = await killCharon(env, 'SIGKILL');
    let found: LogEvent | undefined;
    for (let i = 0; i < 200 && !found; i++) {
      found = endOf(env, sa.id, killed);
      if (!found) await sleep(100);
    }
    assert.ok(found, 'the dead peer was found');
    say(t, `dead peer ${s(found.at - killed)} after SIGKILL, restart ${JSON.stringify(restartOf(found))}`);
    assert.ok(restartOf(found));
    const d2 = await pqike(env, 'down', 'sun');
    say(t, `pqike down while retrying: exit ${String(d2.code)} ${d2.stdout.trim()} ${d2.stderr.trim()}`);
    assert.equal(d2.code, 0, d2.stderr);
    const down2At = Date.now();
    await startCharon(env);
    await assertNothingFor(env, BACKOFF_BOUND_MS, 'after pqike down while retrying');
    // Attempts that started before the down may have failed since; none is scheduled after it.
    const later = events(env, 'ike-failed', down2At + 100).filter((e) => restartOf(e) !== undefined);
    assert.deepEqual(later.map((e) => e.line), [], 'no attempt scheduled after the down');
    assert.deepEqual(initRequests(env, down2At + 100).map((e) => e.line), [], 'no IKE_SA_INIT sent after the down');
  });
});
