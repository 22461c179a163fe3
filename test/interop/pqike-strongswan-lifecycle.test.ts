/**
 * The life of an SA between pqike and Debian's strongSwan 5.9.8 (charon with kernel-libipsec)
 * in network namespaces, both directions, PSK, x25519, ESP aes256gcm16-x25519 (PFS on every
 * CREATE_CHILD_SA): Child SA rekeys, IKE SA rekeys, deletes of Child SAs and of the IKE SA,
 * liveness checks answered, and dead peers detected, each triggered once by pqike (commands on
 * the stdin of `pqike initiate|respond --control`, or its own lifetimes) and once by charon
 * (`swanctl --rekey/--terminate/--initiate`, dpd_delay, rekey_time). After every step
 * `swanctl --list-sas` must show the SPIs pqike reports, and nothing else.
 *
 * One namespace pair and one charon per direction. charon's retransmissions are shortened
 * (strongswan.conf) so that a dead pqike is noticed within seconds; pqike's with
 * --retransmit-timeout / --retransmit-tries.
 *
 * strongSwan 5.9.8 has no RFC 9370, so everything here is classic (one key exchange).
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

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const PSK = 'pqike-strongswan-lifecycle-psk-0123456789';
const IKE = 'aes256gcm16-prfsha384-x25519';
const ESP = 'aes256gcm16-x25519';
// The daemon's JSON events name algorithms as strongSwan does and exchanges as IANA does.
const X25519 = 'CURVE_25519';
const INFORMATIONAL = 'INFORMATIONAL';
/** charon: DPD after 2 s without a message, give up after 2 retransmissions (0.5 + 0.7 + 1.0 s). */
const CHARON_DPD = '2s';
const CHARON_RETRANSMIT = `    retransmit_timeout = 0.5
    retransmit_base = 1.4
    retransmit_tries = 2
    retransmit_jitter = 0`;
/** pqike when it has to notice a dead peer: 0.2 + 0.4 + 0.8 s. */
const PQIKE_FAST = ['--retransmit-timeout', '200ms', '--retransmit-tries', '2'];


const skip = charonSkipReason();

/* ------------------------------------------------------------------------- */
/* pqike's side: JSON events on stdout, commands on stdin                    */
/* ------------------------------------------------------------------------- */

interface ChildJson {
  readonly name: string;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly initiator: boolean;
  readonly keMethods: readonly string[];
  readonly rekeyOf?: string;
}
interface SaJson {
  readonly id: number;
  readonly role: 'initiator' | 'responder';
  readonly spiI: string;
  readonly spiR: string;
}
interface ChildEv {
  readonly type: 'child-up' | 'child-down';
  readonly sa: number;
  readonly child: ChildJson;
  readonly reason?: string;
}
interface IkeEndEv {
  readonly type: 'ike-down' | 'ike-failed';
  readonly sa: number;
  readonly reason: string;
}
interface IkeEv {
  readonly type: 'ike-up' | 'ike-rekeyed';
  /** The IKE SA's number (as in every event) and what it is. */
  readonly sa: number;
  readonly ike: SaJson;
  /** ike-rekeyed: the replaced SA. */
  readonly old?: number;
}
type Ev =
  | IkeEv
  | ChildEv
  | IkeEndEv
  | { readonly type: 'message'; readonly sa: number; readonly direction: 'in' | 'out'; readonly exchange: string; readonly response: boolean; readonly payloads: readonly string[] }
  | { readonly type: 'control'; readonly command: string; readonly ok: boolean; readonly error?: string }
  | { readonly type: 'listening' | 'log'; readonly message?: string };

class Pqike {
  constructor(readonly proc: NsProcess) {}

  events(): Ev[] {
    const out: Ev[] = [];
    for (const line of this.proc.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Ev);
      } catch {
        /* a line still being written */
      }
    }
    return out;
  }

  /** Index for `since`: only events after this point count. */
  mark(): number {
    return this.events().length;
  }

  async wait<T extends Ev>(what: string, pred: (e: Ev) => e is T, since: number, timeoutMs: number): Promise<T>;
  async wait(what: string, pred: (e: Ev) => boolean, since: number, timeoutMs: number): Promise<Ev>;
  async wait(what: string, pred: (e: Ev) => boolean, since: number, timeoutMs: number): Promise<Ev> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events().slice(since).find(pred);
      if (hit) return hit;
      if (!this.proc.running || Date.now() > deadline) {
        throw new Error(`pqike: ${this.proc.running ? 'timeout' : 'exited'} waiting for ${what}\n${this.proc.output().split('\n').slice(-40).join('\n')}`);
      }
      await sleep(20);
    }
  }

  /** Send a --control command and wait until pqike accepted it. */
  async command(cmd: string): Promise<number> {
    const since = this.mark();
    this.proc.write(`${cmd}\n`);
    const r = await this.wait(`control ${cmd}`, (e) => e.type === 'control', since, 5000);
    assert.ok(r.type === 'control' && r.ok, `pqike refused '${cmd}': ${JSON.stringify(r)}`);
    return since;
  }

  childUp(since: number, rekeyOf?: string): Promise<ChildEv> {
    return this.wait(`child-up${rekeyOf ? ` rekeying ${rekeyOf}` : ''}`, (e): e is ChildEv => e.type === 'child-up' && e.child.rekeyOf === rekeyOf, since, 10_000);
  }

  childDown(since: number, spiIn: string): Promise<ChildEv> {
    return this.wait(`child-down ${spiIn}`, (e): e is ChildEv => e.type === 'child-down' && e.child.spiIn === spiIn, since, 10_000);
  }

  ikeRekeyed(since: number, old: number): Promise<IkeEv> {
    return this.wait(`ike-rekeyed of #${old}`, (e): e is IkeEv => e.type === 'ike-rekeyed' && e.old === old, since, 10_000);
  }

  ikeEnd(since: number, sa: number, type: 'ike-down' | 'ike-failed', timeoutMs = 10_000): Promise<IkeEndEv> {
    return this.wait(`${type} of #${sa}`, (e): e is IkeEndEv => e.type === type && e.sa === sa, since, timeoutMs);
  }

  /** An empty INFORMATIONAL (liveness check) request or response of SA `sa`. */
  emptyInformational(since: number, sa: number, direction: 'in' | 'out', response: boolean, timeoutMs: number): Promise<Ev> {
    return this.wait(
      `empty INFORMATIONAL ${response ? 'response' : 'request'} ${direction} on #${sa}`,
      (e) => e.type === 'message' && e.sa === sa && e.exchange === INFORMATIONAL && e.direction === direction && e.response === response && e.payloads.length === 0,
      since,
      timeoutMs,
    );
  }
}

/* ------------------------------------------------------------------------- */
/* charon's side                                                             */
/* ------------------------------------------------------------------------- */

interface Expect {
  /** IKE SA name in swanctl --list-sas. */
  readonly name: string;
  readonly spiI: string;
  readonly spiR: string;
  /** pqike's Child SAs: charon's spi-in is pqike's spiOut and the other way round. */
  readonly children: readonly ChildJson[];
}

function installed(sa: IkeSaInfo): IkeSaInfo['children'] {
  return sa.children.filter((c) => c.state === 'INSTALLED');
}

/**
 * Wait until charon shows exactly this IKE SA (ESTABLISHED, these SPIs) with exactly these
 * Child SAs INSTALLED. Any other Child SA must be DELETED: after a rekey, charon 5.9.8 keeps
 * the old inbound SA for `delete_rekeyed_delay` (5 s) and lists it in state DELETED.
 */
async function expectCharon(charon: Charon, want: Expect, timeoutMs = 5000): Promise<IkeSaInfo> {
  const deadline = Date.now() + timeoutMs;
  const fmt = (sas: IkeSaInfo[]): string =>
    JSON.stringify(sas.map((s) => ({ name: s.name, state: s.state, i: s.raw['initiator-spi'], r: s.raw['responder-spi'], children: s.children.map((c) => [c.state, c.raw['spi-in'], c.raw['spi-out']]) })));
  let last: IkeSaInfo[] = [];
  for (;;) {
    last = await charon.listSas();
    const sa = last.length === 1 ? last[0] : undefined;
    const ok =
      sa !== undefined &&
      sa.name === want.name &&
      sa.state === 'ESTABLISHED' &&
      sa.raw['initiator-spi'] === want.spiI &&
      sa.raw['responder-spi'] === want.spiR &&
      installed(sa).length === want.children.length &&
      want.children.every((c) => installed(sa).some((x) => x.raw['spi-in'] === c.spiOut && x.raw['spi-out'] === c.spiIn)) &&
      sa.children.every((x) => x.state === 'INSTALLED' || x.state === 'DELETED');
    if (ok) return sa;
    if (Date.now() > deadline) {
      assert.fail(`swanctl --list-sas: want ${JSON.stringify({ ...want, children: want.children.map((c) => [c.spiOut, c.spiIn]) })}, have ${fmt(last)}\n${charon.logTail(30)}`);
    }
    await sleep(100);
  }
}

async function expectNoSas(charon: Charon, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sas = await charon.listSas();
    if (sas.length === 0) return;
    if (Date.now() > deadline) assert.fail(`charon still has SAs: ${sas.map((s) => `${s.name} ${s.state}`).join(', ')}\n${charon.logTail(30)}`);
    await sleep(100);
  }
}

function conn(pair: NetnsPair, name: string, child: string, extra: Partial<SwanctlConnParams> = {}): SwanctlConnParams {
  // charon in namespace B (sun, 10.99.2.0/24), pqike in A (moon, 10.99.1.0/24).
  return {
    name,
    localAddrs: pair.b.addr,
    remoteAddrs: pair.a.addr,
    localId: 'sun.pqike.test',
    remoteId: 'moon.pqike.test',
    psk: PSK,
    ikeProposals: [IKE],
    espProposals: [ESP],
    childName: child,
    localTs: '10.99.2.0/24',
    remoteTs: '10.99.1.0/24',
    dpdDelay: CHARON_DPD,
    ...extra,
  };
}

/** Short charon lifetimes (no jitter; hard lifetimes far away). */
function charonLifetimes(pair: NetnsPair): SwanctlConnParams {
  return conn(pair, 'auto', 'autonet', {
    dpdDelay: '0',
    rekeyTime: '3s',
    childRekeyTime: '2s',
    extraConn: '        over_time = 20s\n        rand_time = 0',
    extraChild: '                life_time = 20s\n                rand_time = 0',
  });
}

interface Env {
  readonly pair: NetnsPair;
  readonly charon: Charon;
  readonly peerArgs: readonly string[];
  readonly t: TestContext;
}

async function withEnv(t: TestContext, fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-sslc-'));
  const pskFile = join(dir, 'psk');
  writeFileSync(pskFile, PSK, { mode: 0o600 });
  try {
    await withNetnsPair(async (pair) => {
      const charon = await Charon.start({ ns: pair.b.ns, name: 'sun', removeDirOnStop: true, extraCharonConf: CHARON_RETRANSMIT });
      const peerArgs = [
        '--local', pair.a.addr, '--remote', pair.b.addr, '--local-id', 'moon.pqike.test', '--remote-id', 'sun.pqike.test',
        '--psk-file', pskFile, '--ike', IKE, '--esp', ESP, '--local-ts', '10.99.1.0/24', '--remote-ts', '10.99.2.0/24', '--json',
      ];
      try {
        await fn({ pair, charon, peerArgs, t });
      } catch (err) {
        t.diagnostic(charon.logTail(60));
        throw err;
      } finally {
        await charon.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startPqike(env: Env, command: 'initiate' | 'respond', extra: readonly string[]): Promise<Pqike> {
  const argv = [CLI, command, ...env.peerArgs, '--control', ...(command === 'initiate' ? ['--stay'] : []), ...extra];
  const proc = await startInNs(env.pair.a.ns, process.execPath, argv, { stdin: 'pipe', ...(command === 'respond' ? { readyPattern: /"listening"/ } : {}) });
  return new Pqike(proc);
}

/** Times each step, for the test's diagnostics. */
function stepper(t: TestContext): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
  return async (name, fn) => {
    const t0 = Date.now();
    const r = await fn();
    t.diagnostic(`${name}: ${Date.now() - t0} ms`);
    return r;
  };
}

/** The current state as pqike sees it, to compare with swanctl. */
interface State {
  sa: SaJson;
  child: ChildJson;
}

/* ------------------------------------------------------------------------- */
/* The steps, shared by both directions                                      */
/* ------------------------------------------------------------------------- */

/**
 * Child SA rekey started by pqike, then by charon; IKE SA rekey started by pqike, then by
 * charon; liveness checks both ways. `name` is charon's IKE SA name, `childName` its child.
 */
async function rekeysAndDpd(env: Env, p: Pqike, s: State, name: string, childName: string): Promise<void> {
  const step = stepper(env.t);
  const { charon } = env;
  const want = (): Expect => ({ name, spiI: s.sa.spiI, spiR: s.sa.spiR, children: [s.child] });

  await step('Child SA rekey by pqike (rekey-child)', async () => {
    const since = await p.command('rekey-child');
    const up = await p.childUp(since, s.child.spiIn);
    assert.equal(up.child.initiator, true, 'pqike started the rekey');
    assert.deepEqual(up.child.keMethods, [X25519], 'PFS: x25519 in CREATE_CHILD_SA');
    await p.childDown(since, s.child.spiIn);
    assert.notEqual(up.child.spiOut, s.child.spiOut);
    s.child = up.child;
    const sa = await expectCharon(charon, want());
    assert.equal(installed(sa)[0]?.raw['dh-group'], 'CURVE_25519', 'charon: the rekeyed Child SA has PFS');
    assert.equal(installed(sa)[0]?.name, childName);
  });

  await step('Child SA rekey by charon (swanctl --rekey --child)', async () => {
    const since = p.mark();
    await charon.swanctl(['--rekey', '--child', childName]);
    const up = await p.childUp(since, s.child.spiIn);
    assert.equal(up.child.initiator, false, 'charon started the rekey');
    assert.deepEqual(up.child.keMethods, [X25519]);
    await p.childDown(since, s.child.spiIn);
    s.child = up.child;
    await expectCharon(charon, want());
  });

  await step('IKE SA rekey by pqike (rekey-ike)', async () => {
    const since = await p.command('rekey-ike');
    const r = await p.ikeRekeyed(since, s.sa.id);
    assert.equal(r.ike.role, 'initiator', 'pqike started the rekey: it is the new SA’s initiator');
    assert.notEqual(r.ike.spiI, s.sa.spiI);
    const down = await p.ikeEnd(since, s.sa.id, 'ike-down');
    assert.equal(down.reason, 'replaced by rekey');
    assert.ok(!p.events().slice(since).some((e) => e.type === 'child-down'), 'Child SAs move to the new IKE SA');
    s.sa = r.ike;
    await expectCharon(charon, want());
  });

  await step('IKE SA rekey by charon (swanctl --rekey --ike)', async () => {
    const since = p.mark();
    await charon.swanctl(['--rekey', '--ike', name]);
    const r = await p.ikeRekeyed(since, s.sa.id);
    assert.equal(r.ike.role, 'responder', 'charon started the rekey');
    await p.ikeEnd(since, s.sa.id, 'ike-down');
    s.sa = r.ike;
    await expectCharon(charon, want());
  });

  await step('liveness check by pqike (dpd), answered by charon', async () => {
    const since = await p.command('dpd');
    await p.emptyInformational(since, s.sa.id, 'out', false, 2000);
    await p.emptyInformational(since, s.sa.id, 'in', true, 5000);
    await expectCharon(charon, want());
  });

  await step(`liveness check by charon (dpd_delay = ${CHARON_DPD}), answered by pqike`, async () => {
    const since = p.mark();
    const dpds = (): number => charon.log().split('sending DPD request').length - 1;
    const before = dpds();
    await p.emptyInformational(since, s.sa.id, 'in', false, 6000);
    await p.emptyInformational(since, s.sa.id, 'out', true, 1000);
    assert.ok(dpds() > before, 'charon logged "sending DPD request"');
    await expectCharon(charon, want());
  });
}

/** pqike deletes the Child SA; charon creates one (CREATE_CHILD_SA) and deletes it. */
async function childDeletes(env: Env, p: Pqike, s: State, name: string, childName: string): Promise<void> {
  const step = stepper(env.t);
  const { charon } = env;
  await step('Child SA delete by pqike (delete-child)', async () => {
    const since = await p.command('delete-child');
    const down = await p.childDown(since, s.child.spiIn);
    assert.equal(down.reason, 'deleted');
    await expectCharon(charon, { name, spiI: s.sa.spiI, spiR: s.sa.spiR, children: [] });
  });
  await step('new Child SA by charon on the IKE SA (swanctl --initiate --child)', async () => {
    const since = p.mark();
    await charon.initiate(childName, { ike: name, timeoutMs: 10_000 });
    const up = await p.childUp(since);
    assert.equal(up.sa, s.sa.id, 'on the same IKE SA');
    assert.equal(up.child.initiator, false);
    assert.deepEqual(up.child.keMethods, [X25519], 'PFS in CREATE_CHILD_SA');
    s.child = up.child;
    await expectCharon(charon, { name, spiI: s.sa.spiI, spiR: s.sa.spiR, children: [s.child] });
  });
  await step('Child SA delete by charon (swanctl --terminate --child)', async () => {
    const since = p.mark();
    await charon.swanctl(['--terminate', '--child', childName, '--timeout', '10']);
    const down = await p.childDown(since, s.child.spiIn);
    assert.equal(down.reason, 'deleted by peer');
    await expectCharon(charon, { name, spiI: s.sa.spiI, spiR: s.sa.spiR, children: [] });
  });
}

/** pqike's view once the first IKE SA and Child SA are up; checked against charon. */
async function established(charon: Charon, p: Pqike, since: number, name: string): Promise<State> {
  const ike = await p.wait('ike-up', (e): e is IkeEv => e.type === 'ike-up', since, 10_000);
  const up = await p.childUp(since);
  assert.deepEqual(up.child.keMethods, [], 'the IKE_AUTH Child SA is keyed without a key exchange');
  const s = { sa: ike.ike, child: up.child };
  await expectCharon(charon, { name, spiI: s.sa.spiI, spiR: s.sa.spiR, children: [s.child] });
  return s;
}

async function exitCode(p: Pqike, timeoutMs: number): Promise<number | null> {
  const r = await Promise.race([p.proc.exited, sleep(timeoutMs).then(() => null)]);
  return r === null ? null : r.code;
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

test('lifecycle, pqike initiates, strongSwan responds: rekeys, deletes, liveness, dead peer', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, async (env) => {
    const { pair, charon } = env;
    const step = stepper(t);
    await charon.loadConfig([conn(pair, 'pq', 'net')]);

    // 1. Everything triggered once by each side, on one IKE SA.
    const p1 = await startPqike(env, 'initiate', []);
    const s = await step('IKE SA + Child SA up (pqike initiate --stay --control)', () => established(charon, p1, 0, 'pq'));
    assert.equal(s.sa.role, 'initiator');
    await rekeysAndDpd(env, p1, s, 'pq', 'net');
    await childDeletes(env, p1, s, 'pq', 'net');
    await step('IKE SA delete by charon (swanctl --terminate --ike)', async () => {
      const since = p1.mark();
      await charon.terminateIke('pq');
      const down = await p1.ikeEnd(since, s.sa.id, 'ike-down');
      assert.equal(down.reason, 'deleted by peer');
      assert.equal(await exitCode(p1, 5000), 0, 'pqike initiate --stay exits 0 once its IKE SA is deleted');
      await expectNoSas(charon, 3000);
    });

    // 2. pqike's own lifetimes, then pqike deletes the IKE SA.
    const p2 = await startPqike(env, 'initiate', ['--rekey-time', '2s', '--ike-rekey-time', '2500ms']);
    const s2 = await step('IKE SA + Child SA up (--rekey-time 2s --ike-rekey-time 2500ms)', () => established(charon, p2, 0, 'pq'));
    await step('Child SA rekeyed by pqike after its rekey time', async () => {
      const up = await p2.childUp(0, s2.child.spiIn);
      assert.equal(up.child.initiator, true);
      assert.deepEqual(up.child.keMethods, [X25519]);
      await p2.childDown(0, s2.child.spiIn);
      s2.child = up.child;
      await expectCharon(charon, { name: 'pq', spiI: s2.sa.spiI, spiR: s2.sa.spiR, children: [s2.child] });
    });
    await step('IKE SA rekeyed by pqike after its rekey time', async () => {
      const r = await p2.ikeRekeyed(0, s2.sa.id);
      assert.equal(r.ike.role, 'initiator');
      await p2.ikeEnd(0, s2.sa.id, 'ike-down');
      s2.sa = r.ike;
      // The next Child SA rekey is due 2 s after the last one (about 1.5 s from here).
      await expectCharon(charon, { name: 'pq', spiI: s2.sa.spiI, spiR: s2.sa.spiR, children: [s2.child] }, 1200);
    });
    await step('IKE SA delete by pqike (delete-ike)', async () => {
      const since = await p2.command('delete-ike');
      const down = await p2.ikeEnd(since, s2.sa.id, 'ike-down');
      assert.equal(down.reason, 'deleted');
      assert.equal(await exitCode(p2, 5000), 0);
      await expectNoSas(charon, 3000);
    });

    // 3. The link is cut: both notice the dead peer.
    const p3 = await startPqike(env, 'initiate', ['--dpd-delay', '1s', ...PQIKE_FAST]);
    const s3 = await step('IKE SA + Child SA up (--dpd-delay 1s)', () => established(charon, p3, 0, 'pq'));
    await step('automatic liveness check by pqike after 1 s, answered', async () => {
      const since = p3.mark();
      await p3.emptyInformational(since, s3.sa.id, 'out', false, 3000);
      await p3.emptyInformational(since, s3.sa.id, 'in', true, 2000);
    });
    await step('link cut: pqike and charon both declare the peer dead', async () => {
      const since = p3.mark();
      await run('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.ifname, 'down']);
      const failed = await p3.ikeEnd(since, s3.sa.id, 'ike-failed', 6000);
      assert.match(failed.reason, /no response to INFORMATIONAL request \d+ after 2 retransmissions/);
      await p3.childDown(since, s3.child.spiIn);
      assert.equal(await exitCode(p3, 3000), 1, 'pqike initiate --stay exits 1 when its IKE SA fails');
      await expectNoSas(charon, 8000);
      assert.match(charon.log(), /giving up after 2 retransmits/);
      await run('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.ifname, 'up']);
    });
  });
});

test('lifecycle, strongSwan initiates, pqike responds: rekeys, deletes, liveness, dead peer', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  await withEnv(t, async (env) => {
    const { pair, charon } = env;
    const step = stepper(t);
    await charon.loadConfig([conn(pair, 'pq', 'net'), charonLifetimes(pair)]);

    // 1. Everything triggered once by each side, on one IKE SA.
    const p1 = await startPqike(env, 'respond', []);
    const s = await step('IKE SA + Child SA up (swanctl --initiate; pqike respond --control)', async () => {
      await charon.initiate('net', { ike: 'pq', timeoutMs: 10_000 });
      return established(charon, p1, 0, 'pq');
    });
    assert.equal(s.sa.role, 'responder');
    await rekeysAndDpd(env, p1, s, 'pq', 'net');
    await childDeletes(env, p1, s, 'pq', 'net');
    await step('IKE SA delete by pqike (delete-ike)', async () => {
      const since = await p1.command('delete-ike');
      const down = await p1.ikeEnd(since, s.sa.id, 'ike-down');
      assert.equal(down.reason, 'deleted');
      await expectNoSas(charon, 3000);
      assert.ok(p1.proc.running, 'pqike respond keeps running');
    });

    // 2. charon's lifetimes, then charon deletes the IKE SA.
    const since2 = p1.mark();
    const s2 = await step('IKE SA + Child SA up (charon rekey_time 3s, child rekey_time 2s)', async () => {
      await charon.initiate('autonet', { ike: 'auto', timeoutMs: 10_000 });
      return established(charon, p1, since2, 'auto');
    });
    await step('Child SA rekeyed by charon after its rekey_time', async () => {
      const up = await p1.childUp(since2, s2.child.spiIn);
      assert.equal(up.child.initiator, false);
      assert.deepEqual(up.child.keMethods, [X25519]);
      await p1.childDown(since2, s2.child.spiIn);
      s2.child = up.child;
      await expectCharon(charon, { name: 'auto', spiI: s2.sa.spiI, spiR: s2.sa.spiR, children: [s2.child] });
    });
    await step('IKE SA rekeyed by charon after its rekey_time', async () => {
      const r = await p1.ikeRekeyed(since2, s2.sa.id);
      assert.equal(r.ike.role, 'responder');
      await p1.ikeEnd(since2, s2.sa.id, 'ike-down');
      s2.sa = r.ike;
      await expectCharon(charon, { name: 'auto', spiI: s2.sa.spiI, spiR: s2.sa.spiR, children: [s2.child] }, 800);
    });
    await step('IKE SA delete by charon (swanctl --terminate --ike)', async () => {
      const since = p1.mark();
      await charon.terminateIke('auto');
      const down = await p1.ikeEnd(since, s2.sa.id, 'ike-down');
      assert.equal(down.reason, 'deleted by peer');
      await expectNoSas(charon, 3000);
    });

    // 3a. pqike is killed: charon's liveness check finds it dead.
    const since3 = p1.mark();
    await step('IKE SA + Child SA up again', async () => {
      await charon.initiate('net', { ike: 'pq', timeoutMs: 10_000 });
      await established(charon, p1, since3, 'pq');
    });
    await step(`pqike killed: charon declares it dead (dpd_delay = ${CHARON_DPD})`, async () => {
      await p1.proc.stop('SIGKILL');
      await expectNoSas(charon, 10_000);
      assert.match(charon.log(), /giving up after 2 retransmits/);
    });

    // 3b. charon is killed: pqike's liveness check finds it dead.
    const p2 = await startPqike(env, 'respond', ['--dpd-delay', '1s', ...PQIKE_FAST]);
    const s3 = await step('IKE SA + Child SA up (pqike respond --dpd-delay 1s)', async () => {
      await charon.initiate('net', { ike: 'pq', timeoutMs: 10_000 });
      return established(charon, p2, 0, 'pq');
    });
    await step('charon killed: pqike declares it dead', async () => {
      const since = p2.mark();
      await charon.proc.stop('SIGKILL');
      const failed = await p2.ikeEnd(since, s3.sa.id, 'ike-failed', 6000);
      assert.match(failed.reason, /no response to INFORMATIONAL request \d+ after 2 retransmissions/);
      await p2.childDown(since, s3.child.spiIn);
      assert.ok(p2.proc.running, 'pqike respond keeps running');
      p2.proc.write('quit\n');
      assert.equal(await exitCode(p2, 3000), 0);
    });
  });
});
