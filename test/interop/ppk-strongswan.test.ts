/**
 * RFC 8784 post-quantum preshared keys (PPK) between the pqike daemon and Debian's strongSwan
 * 5.9.8 (charon with kernel-libipsec) in one namespace pair, both directions, on the classic
 * PSK proposal aes256gcm16-prfsha384-x25519 (5.9.8 has no ML-KEM). One daemon and one charon
 * serve every case: each case rewrites pqike.yaml and its secrets file and runs `pqike reload`,
 * and gives charon its swanctl.conf (`swanctl --load-all`).
 *
 * Both ends use one connection that can initiate and respond (each names the other's address),
 * so "direction" is only who starts: `pqike up sun` or `swanctl --initiate --child net`.
 *
 *  1. PPK mandatory on both ends: the SA comes up with the PPK (charon logs "using PPK for
 *     PPK_ID '<id>'", `pqike list-sas --json` lists "ppk": "<id>"), a ping goes through the Child
 *     SA (its keys come from SK_d, which has the PPK in it), then pqike rekeys the Child SA and
 *     the IKE SA, and charon rekeys the IKE SA: both ends list the new SAs, the new IKE SAs
 *     still list the PPK, and traffic still flows.
 *  2. PPK optional on pqike, charon with the PPK (optional): the PPK is used.
 *  3. PPK optional on pqike, charon with no PPK at all: charon does not answer USE_PPK, the SA
 *     comes up without the PPK.
 *  4. PPK optional on the initiator, the responder has PPKs but not the one of that PPK_ID:
 *     it checks the initiator's NO_PPK_AUTH instead (RFC 8784 §3), the SA is up without PPK.
 *  5. The same PPK_ID with another key: AUTHENTICATION_FAILED, no SA on either end (mandatory
 *     and optional PPKs: a PPK that does not match is not quietly replaced by NO_PPK_AUTH).
 *  6. PPK mandatory on one end, no PPK on the other: refused, by the end that requires it.
 *
 * charon's behaviour (src/libcharon/sa/ikev2/tasks/ike_auth.c, ike_init.c, psk_authenticator.c
 * of 5.9): as a responder it answers USE_PPK only when its credentials hold at least one PPK,
 * and uses whichever PPK they hold for the PPK_ID received (unless the connection's ppk_id names
 * another); without one it checks NO_PPK_AUTH ("no PPK available, using NO_PPK_AUTH notify").
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './netns.js';
import type { NetnsPair } from './netns.js';
import { charonSkipReason } from './strongswan.js';
import type { SwanctlConnParams, SwanctlPpk } from './strongswan.js';
import { listSas, pqike } from './daemons.js';
import type { SaJson } from './daemons.js';
import { charonPeer, ourSa, pingThrough, sameOnCharon, daemonHead, withPqikeAndCharon } from './pqike-charon.js';
import type { PqikeCharon } from './pqike-charon.js';
import { tail } from './traffic.js';

const skip = charonSkipReason() ?? false;

const PSK = 'pqike-ppk-strongswan-psk-0123456789';
const IKE = 'aes256gcm16-prfsha384-x25519';
const SUITE = 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519';
/** The PPK both ends share, and its PPK_ID (PPK_ID_FIXED on the wire, as strongSwan sends it). */
const PPK_ID = 'pqike-ppk-1';
const KEY = randomBytes(32).toString('hex');
/** Another key under the same PPK_ID (case 5). */
const WRONG_KEY = randomBytes(32).toString('hex');
/** A PPK of another PPK_ID: its holder answers USE_PPK, but has no PPK for PPK_ID (case 4). */
const OTHER_ID = 'another-ppk';
const OTHER_KEY = randomBytes(32).toString('hex');

type Who = 'pqike' | 'charon';

/** pqike's side: the connection's ppk_id / ppk_required and the secrets file's `ppk:` section. */
interface PqikePpk {
  readonly id?: string;
  readonly required: boolean;
  /** PPK_ID -> key (hex). */
  readonly keys: Readonly<Record<string, string>>;
  /** ppk_intermediate: propose RFC 9867 as well. */
  readonly intermediate?: boolean;
}

/** charon's side: the connection's PPK (ppk_id, ppk_required, its secret) and further PPKs. */
interface CharonPpk {
  readonly ppk?: SwanctlPpk;
  readonly ppkSecrets?: Readonly<Record<string, string>>;
}

const NONE: CharonPpk = {};

function secretsYaml(pq: PqikePpk | undefined): string {
  const keys = Object.entries(pq?.keys ?? {});
  return `psk:\n  sun: "${PSK}"\n${keys.length === 0 ? '' : `ppk:\n${keys.map(([id, k]) => `  ${id}: "0x${k}"\n`).join('')}`}`;
}

function daemonConfig(pair: NetnsPair, socket: string, pq: PqikePpk | undefined): string {
  const ppk = pq ? `${pq.id === undefined ? '' : `    ppk_id: ${pq.id}\n`}    ppk_required: ${pq.required}\n${pq.intermediate ? '    ppk_intermediate: true\n' : ''}` : '';
  return `${daemonHead(socket)}connections:
  sun:
    local_addrs: ${pair.a.addr}
    remote_addrs: '${pair.b.addr}'
    local_id: moon.pqike.test
    remote_id: sun.pqike.test
    psk: sun
${ppk}    proposals: [${IKE}]
    children:
      net:
        local_ts: [10.99.1.0/24]
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
`;
}

function charonConn(pair: NetnsPair, ss: CharonPpk): SwanctlConnParams {
  return charonPeer(pair, PSK, {
    localTs: '10.99.2.0/24',
    remoteTs: '10.99.1.0/24',
    ikeProposals: [IKE],
    ...(ss.ppk ? { ppk: ss.ppk } : {}),
    ...(ss.ppkSecrets ? { ppkSecrets: ss.ppkSecrets } : {}),
  });
}

/* ------------------------------------------------------------------------- */
/* Configuration, initiation, logs                                           */
/* ------------------------------------------------------------------------- */

/** Where each log stood when a case began: the case looks only at what came after. */
interface Mark {
  readonly charon: number;
  readonly daemon: number;
}

function mark(env: PqikeCharon): Mark {
  return { charon: env.charon.log().length, daemon: readFileSync(env.log, 'utf8').length };
}

/** charon's log lines since the mark. */
function charonSince(env: PqikeCharon, m: Mark): string[] {
  return env.charon.log().slice(m.charon).split('\n').filter((l) => l.trim() !== '');
}

/** The daemon's log messages since the mark (JSON lines: level and msg). */
function daemonSince(env: PqikeCharon, m: Mark): string[] {
  return readFileSync(env.log, 'utf8')
    .slice(m.daemon)
    .split('\n')
    .flatMap((l) => {
      try {
        const j = JSON.parse(l) as { level?: string; msg?: string; sa?: number };
        return j.msg === undefined ? [] : [`${j.level ?? ''}${j.sa === undefined ? '' : ` #${j.sa}`}: ${j.msg}`];
      } catch {
        return l.trim() === '' ? [] : [l];
      }
    });
}

const grep = (lines: readonly string[], re: RegExp): string[] => lines.filter((l) => re.test(l));

/** Give both ends this case's configuration: pqike reloads its file, charon loads swanctl.conf. */
async function configure(env: PqikeCharon, pq: PqikePpk | undefined, ss: CharonPpk): Promise<void> {
  await reset(env);
  writeFileSync(join(env.dir, 'secrets.yaml'), secretsYaml(pq), { mode: 0o600 });
  writeFileSync(join(env.dir, 'pqike.yaml'), daemonConfig(env.pair, env.socket, pq));
  const r = await pqike(env, 'reload');
  assert.equal(r.code, 0, `pqike reload: ${r.stdout}${r.stderr}`);
  await env.charon.loadConfig([charonConn(env.pair, ss)]);
}

/** No IKE SA left on either end (a refused case may leave a half-open one on the responder: it goes too). */
async function reset(env: PqikeCharon): Promise<void> {
  for (const s of await listSas(env)) await pqike(env, 'down', String(s.id));
  for (const s of await env.charon.listSas()) {
    const id = s.raw['uniqueid'];
    if (typeof id === 'string') await env.charon.swanctl(['--terminate', '--ike-id', id, '--timeout', '5'], { allowFail: true });
  }
  await waitNoSa(env, 'before the case');
}

/** Wait until neither end lists an IKE SA (halfOpen: half-open ones of a refused case may stay). */
async function waitNoSa(env: PqikeCharon, what: string, o: { halfOpen?: boolean } = {}): Promise<void> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const ours = (await listSas(env)).filter((s) => !o.halfOpen || s.state === 'established');
    const theirs = (await env.charon.listSas()).filter((s) => !o.halfOpen || s.state === 'ESTABLISHED');
    if (ours.length === 0 && theirs.length === 0) return;
    if (Date.now() > deadline) {
      assert.fail(`${what}: IKE SAs left: pqike ${JSON.stringify(ours.map((s) => [s.id, s.state]))}, charon ${JSON.stringify(theirs.map((s) => [s.name, s.state]))}\n${tail(env.log)}\n${env.charon.logTail()}`);
    }
    await sleep(100);
  }
}

interface Attempt {
  readonly ok: boolean;
  readonly text: string;
}

/** `pqike up sun` or charon's `swanctl --initiate`; either may fail (refused cases). */
async function initiate(env: PqikeCharon, who: Who): Promise<Attempt> {
  if (who === 'pqike') {
    const r = await pqike(env, 'up', 'sun');
    return { ok: r.code === 0, text: `${r.stdout}${r.stderr}`.trim() };
  }
  const r = await env.charon.swanctl(['--initiate', '--child', 'net', '--ike', 'pq', '--timeout', '15'], { allowFail: true, timeoutMs: 25_000 });
  return { ok: r.code === 0, text: `${r.stdout}${r.stderr}`.trim() };
}

/* ------------------------------------------------------------------------- */
/* Checks                                                                    */
/* ------------------------------------------------------------------------- */




/**
 * The attempt succeeded: both ends list the same IKE SA and Child SA, with the PPK of `ppk` in
 * the keys or (undefined) without any; charon's and pqike's logs say the same; a ping passes.
 */
async function assertUp(t: TestContext, env: PqikeCharon, m: Mark, who: Who, a: Attempt, ppk: string | undefined): Promise<SaJson> {
  assert.ok(a.ok, `${who} initiating failed: ${a.text}\n${tail(env.log)}\n${env.charon.logTail(60)}`);
  const sa = await ourSa(env);
  assert.equal(sa.role, who === 'pqike' ? 'initiator' : 'responder');
  assert.equal(sa.suite, SUITE);
  await sameOnCharon(env, sa);
  const ss = charonSince(env, m);
  const ours = daemonSince(env, m);
  const used = grep(ss, /using PPK for PPK_ID/);
  const mixed = grep(ours, /post-quantum preshared key .* mixed into the keys/);
  if (ppk !== undefined) {
    assert.equal(sa.ppk, ppk, `pqike lists the PPK: ${JSON.stringify(sa)}`);
    assert.equal(used.length, 1, `charon uses the PPK:\n${grep(ss, /PPK/).join('\n')}\n${env.charon.logTail(60)}`);
    assert.match(used[0] ?? '', new RegExp(`using PPK for PPK_ID '${ppk}'`));
    assert.equal(mixed.length, 1, `pqike mixed the PPK in:\n${ours.join('\n')}`);
    t.diagnostic(`charon: ${(used[0] ?? '').replace(/^\S+ /, '')}`);
  } else {
    assert.equal(sa.ppk, undefined, `pqike lists no PPK: ${JSON.stringify(sa)}`);
    assert.deepEqual(used, [], 'charon uses no PPK');
    assert.deepEqual(mixed, [], 'pqike mixed no PPK in');
  }
  for (const l of grep(ss, /PPK|IKE_AUTH (request|response)/)) t.diagnostic(`charon: ${l.replace(/^\S+ /, '')}`);
  t.diagnostic(`pqike list-sas: #${sa.id} ${sa.role} ${sa.suite} ppk=${sa.ppk ?? '(none)'}`);
  await pingThrough(env, 'after IKE_AUTH');
  return sa;
}

/**
 * The attempt failed, and neither end has an established SA (strict: no SA at all, as after
 * AUTHENTICATION_FAILED in IKE_AUTH; a responder refused before IKE_AUTH keeps a half-open one
 * until its timeout). The lines of the refusal are returned for the report.
 */
async function assertRefused(t: TestContext, env: PqikeCharon, m: Mark, who: Who, a: Attempt, o: { strict: boolean }): Promise<{ charon: string[]; pqike: string[] }> {
  assert.ok(!a.ok, `${who} initiating should have failed: ${a.text}`);
  await waitNoSa(env, 'after the refusal', { halfOpen: !o.strict });
  t.diagnostic(`${who === 'pqike' ? 'pqike up' : 'swanctl --initiate'}: ${a.text.split('\n').filter((l) => /fail|pqike up|error|AUTH/i.test(l)).slice(-3).join(' | ')}`);
  const ss = grep(charonSince(env, m), /PPK|AUTH_FAILED|AUTHENTICATION_FAILED|MAC mismatched|IKE_AUTH (request|response)|failed/);
  const ours = grep(daemonSince(env, m), /PPK|AUTHENTICATION_FAILED|IKE SA failed|IKE_AUTH rejected/);
  for (const l of ss) t.diagnostic(`charon: ${l.replace(/^\S+ /, '')}`);
  for (const l of ours) t.diagnostic(`pqike: ${l}`);
  return { charon: ss, pqike: ours };
}

/**
 * pqike rekeys the Child SA, then the IKE SA, then charon rekeys the IKE SA: each time both ends
 * list the new SAs, the PPK stays listed and traffic flows.
 */
async function rekeys(t: TestContext, env: PqikeCharon, first: SaJson, ppk: string): Promise<void> {
  const started = Date.now();
  const oldSpi = first.children[0]?.spiIn ?? '';
  const child = await pqike(env, 'rekey', String(first.id), '--child', oldSpi);
  assert.equal(child.code, 0, `pqike rekey ${first.id} --child ${oldSpi}: ${child.stdout}${child.stderr}\n${env.charon.logTail()}`);
  const second = await ourSa(env, { childSpi: oldSpi });
  assert.equal(second.id, first.id, 'the Child SA rekey keeps the IKE SA');
  assert.equal(second.children[0]?.rekeyOf, oldSpi);
  await sameOnCharon(env, second);
  const childMs = Date.now() - started;
  const ike = await pqike(env, 'rekey', String(second.id));
  assert.equal(ike.code, 0, `pqike rekey ${second.id}: ${ike.stdout}${ike.stderr}\n${env.charon.logTail()}`);
  const third = await ourSa(env, { id: second.id });
  assert.notEqual(third.spiI, second.spiI, 'a new IKE SA');
  assert.equal(third.children[0]?.spiIn, second.children[0]?.spiIn, 'the Child SA moved to the new IKE SA (RFC 7296 §2.18)');
  assert.equal(third.ppk, ppk, `the new IKE SA (its SKEYSEED from the old SK_d) still lists the PPK: ${JSON.stringify(third)}`);
  await sameOnCharon(env, third);
  await pingThrough(env, 'after the rekeys');
  t.diagnostic(`Child SA rekey ${childMs} ms, IKE SA rekey ${Date.now() - started - childMs} ms; new IKE SA #${third.id} ${third.spiI}_i ${third.spiR}_r ppk=${third.ppk ?? '(none)'}`);
  // And charon rekeys the IKE SA: pqike answers the rekey, and its new IKE SA keeps the PPK too.
  const ss = await env.charon.swanctl(['--rekey', '--ike', 'pq'], { allowFail: true });
  assert.equal(ss.code, 0, `swanctl --rekey --ike pq: ${ss.stdout}${ss.stderr}`);
  const fourth = await ourSa(env, { id: third.id });
  assert.equal(fourth.ppk, ppk, `the IKE SA rekeyed by charon still lists the PPK: ${JSON.stringify(fourth)}`);
  assert.equal(fourth.children[0]?.spiIn, third.children[0]?.spiIn);
  await sameOnCharon(env, fourth);
  await pingThrough(env, 'after charon rekeyed the IKE SA');
  t.diagnostic(`charon's IKE SA rekey: new IKE SA #${fourth.id} ${fourth.spiI}_i ${fourth.spiR}_r (${fourth.role} of the rekey's new SA) ppk=${fourth.ppk ?? '(none)'}`);
}

/* ------------------------------------------------------------------------- */
/* The cases                                                                 */
/* ------------------------------------------------------------------------- */

const mandatory: PqikePpk = { id: PPK_ID, required: true, keys: { [PPK_ID]: KEY } };
const optional: PqikePpk = { id: PPK_ID, required: false, keys: { [PPK_ID]: KEY } };
const ssMandatory: CharonPpk = { ppk: { id: PPK_ID, secret: KEY, required: true } };
const ssOptional: CharonPpk = { ppk: { id: PPK_ID, secret: KEY, required: false } };

const WHO: readonly Who[] = ['pqike', 'charon'];
const label = (who: Who): string => (who === 'pqike' ? 'pqike initiates' : 'charon initiates');

test('RFC 8784 PPK between the pqike daemon and strongSwan 5.9.8, both directions', { skip, timeout: 180_000 }, async (t) => {
  const t0 = Date.now();
  await withPqikeAndCharon(
    {
      prefix: 'pqike-ppk-ss-',
      psk: PSK,
      daemonConfig: (pair, socket) => daemonConfig(pair, socket, undefined),
      charonConfig: (pair) => [charonConn(pair, NONE)],
      charon: { logLevels: { default: 1, ike: 2, cfg: 2, enc: 1, net: 1 } },
    },
    async (env) => {
      for (const who of WHO) {
        await t.test(`1. mandatory PPK on both ends, ${label(who)}: PPK used; Child SA and IKE SA rekeys keep it`, async (t) => {
          await configure(env, mandatory, ssMandatory);
          const m = mark(env);
          const sa = await assertUp(t, env, m, who, await initiate(env, who), PPK_ID);
          await rekeys(t, env, sa, PPK_ID);
        });
      }
      for (const who of WHO) {
        await t.test(`2. optional PPK on pqike, charon has it (optional), ${label(who)}: PPK used`, async (t) => {
          await configure(env, optional, ssOptional);
          const m = mark(env);
          await assertUp(t, env, m, who, await initiate(env, who), PPK_ID);
        });
      }
      for (const who of WHO) {
        await t.test(`3. optional PPK on pqike, charon has no PPK at all, ${label(who)}: up without PPK`, async (t) => {
          await configure(env, optional, NONE);
          const m = mark(env);
          await assertUp(t, env, m, who, await initiate(env, who), undefined);
          // charon, holding no PPK, sends no USE_PPK; pqike offers it as an initiator (and, as a
          // responder, does not answer a USE_PPK it was not sent).
          const init = grep(charonSince(env, m), /IKE_SA_INIT (request|response)/);
          assert.ok(init.every((l) => !/generating IKE_SA_INIT .*N\(USE_PPK\)/.test(l)), `charon sent no USE_PPK:\n${init.join('\n')}`);
          const fromPqike = init.filter((l) => /parsed IKE_SA_INIT/.test(l));
          assert.equal(fromPqike.length, 1, init.join('\n'));
          assert.equal(/N\(USE_PPK\)/.test(fromPqike[0] ?? ''), who === 'pqike', `pqike's IKE_SA_INIT ${who === 'pqike' ? 'request offers' : 'response does not carry'} USE_PPK:\n${init.join('\n')}`);
        });
      }
      await t.test('4. optional PPK on the initiator (pqike), charon has PPKs but not that one: NO_PPK_AUTH, up without PPK', async (t) => {
        await configure(env, optional, { ppkSecrets: { [OTHER_ID]: OTHER_KEY } });
        const m = mark(env);
        await assertUp(t, env, m, 'pqike', await initiate(env, 'pqike'), undefined);
        const ss = charonSince(env, m);
        assert.equal(grep(ss, new RegExp(`no PPK for '${PPK_ID}' found, ignored because PPK is not required`)).length, 1, grep(ss, /PPK/).join('\n'));
        assert.equal(grep(ss, /using NO_PPK_AUTH/).length, 1, `charon checked our NO_PPK_AUTH:\n${grep(ss, /PPK/).join('\n')}`);
      });
      await t.test('4. optional PPK on the initiator (charon), pqike has a PPK but not that one: NO_PPK_AUTH, up without PPK', async (t) => {
        await configure(env, { id: OTHER_ID, required: false, keys: { [OTHER_ID]: OTHER_KEY } }, ssOptional);
        const m = mark(env);
        await assertUp(t, env, m, 'charon', await initiate(env, 'charon'), undefined);
        const ss = charonSince(env, m);
        const sent = grep(ss, /generating IKE_AUTH request/);
        assert.ok(sent.length === 1 && /N\(PPK_ID\)/.test(sent[0] ?? '') && /N\(NO_PPK\)/.test(sent[0] ?? ''), `charon sent PPK_ID and NO_PPK_AUTH:\n${sent.join('\n')}`);
        assert.ok(grep(ss, new RegExp(`peer didn't use PPK for PPK_ID '${PPK_ID}'`)).length === 1, grep(ss, /PPK/).join('\n'));
      });
      for (const who of WHO) {
        for (const [kind, pq, ss] of [
          ['mandatory', mandatory, { ppk: { id: PPK_ID, secret: WRONG_KEY, required: true } }],
          ['optional', optional, { ppk: { id: PPK_ID, secret: WRONG_KEY, required: false } }],
        ] as const) {
          await t.test(`5. wrong PPK (same PPK_ID, another key), ${kind} on both ends, ${label(who)}: AUTHENTICATION_FAILED, no SA`, async (t) => {
            await configure(env, pq, ss);
            const m = mark(env);
            const r = await assertRefused(t, env, m, who, await initiate(env, who), { strict: true });
            if (who === 'pqike') {
              // charon, the responder, checked our AUTH with its key and refused.
              assert.ok(r.charon.some((l) => /MAC mismatched/.test(l)), r.charon.join('\n'));
              assert.ok(r.charon.some((l) => /generating IKE_AUTH response .*N\(AUTH_FAILED\)/.test(l)), r.charon.join('\n'));
              assert.ok(r.pqike.some((l) => /IKE_AUTH rejected: AUTHENTICATION_FAILED/.test(l)), r.pqike.join('\n'));
            } else {
              // pqike, the responder, checked charon's AUTH with its key and refused.
              assert.ok(r.pqike.some((l) => /AUTHENTICATION_FAILED|IKE SA failed/.test(l)), r.pqike.join('\n'));
              assert.ok(r.charon.some((l) => /parsed IKE_AUTH response .*N\(AUTH_FAILED\)/.test(l)), r.charon.join('\n'));
            }
          });
        }
      }
      await t.test('7. pqike (initiator) proposes RFC 9867 too (ppk_intermediate), charon has only RFC 8784: charon answers USE_PPK, the PPK goes into IKE_AUTH', async (t) => {
        await configure(env, { ...mandatory, intermediate: true }, ssMandatory);
        const m = mark(env);
        await assertUp(t, env, m, 'pqike', await initiate(env, 'pqike'), PPK_ID);
        const ss = charonSince(env, m);
        const init = grep(ss, /IKE_SA_INIT (request|response)/);
        assert.ok(init.some((l) => /parsed IKE_SA_INIT request .*N\(USE_PPK\)/.test(l)), `pqike offered USE_PPK beside USE_PPK_INT:\n${init.join('\n')}`);
        assert.ok(init.some((l) => /generating IKE_SA_INIT response .*N\(USE_PPK\)/.test(l)), init.join('\n'));
        assert.ok(grep(ss, new RegExp(`using PPK for PPK_ID '${PPK_ID}'`)).length >= 1, grep(ss, /PPK/).join('\n'));
        assert.deepEqual(grep(ss, /IKE_INTERMEDIATE/), [], 'no IKE_INTERMEDIATE with a classic proposal and RFC 8784');
      });
      await t.test('6. PPK mandatory on pqike (initiator), charon has no PPK: pqike refuses (no USE_PPK answered)', async (t) => {
        await configure(env, mandatory, NONE);
        const m = mark(env);
        const a = await initiate(env, 'pqike');
        const r = await assertRefused(t, env, m, 'pqike', a, { strict: false });
        assert.match(a.text, /did not answer USE_PPK/);
        assert.ok(r.pqike.some((l) => /did not answer USE_PPK, and this connection requires a PPK/.test(l)), r.pqike.join('\n'));
        assert.deepEqual(grep(charonSince(env, m), /IKE_AUTH/), [], 'pqike sent no IKE_AUTH');
      });
      await t.test('6. no PPK on pqike (initiator), PPK mandatory on charon: charon refuses', async (t) => {
        await configure(env, undefined, ssMandatory);
        const m = mark(env);
        const a = await initiate(env, 'pqike');
        const r = await assertRefused(t, env, m, 'pqike', a, { strict: true });
        assert.ok(r.charon.some((l) => /PPK required but peer does not support PPK/.test(l)), r.charon.join('\n'));
        assert.ok(r.pqike.some((l) => /IKE_AUTH rejected: AUTHENTICATION_FAILED/.test(l)), r.pqike.join('\n'));
      });
      await t.test('6. PPK mandatory on charon (initiator), pqike has no PPK: charon refuses (no USE_PPK answered)', async (t) => {
        await configure(env, undefined, ssMandatory);
        const m = mark(env);
        const r = await assertRefused(t, env, m, 'charon', await initiate(env, 'charon'), { strict: false });
        assert.ok(r.charon.some((l) => /PPK required but peer does not support PPK/.test(l)), r.charon.join('\n'));
        assert.deepEqual(grep(charonSince(env, m), /generating IKE_AUTH/), [], 'charon sent no IKE_AUTH');
      });
      await t.test('6. no PPK on charon (initiator), PPK mandatory on pqike: pqike refuses', async (t) => {
        await configure(env, mandatory, NONE);
        const m = mark(env);
        const r = await assertRefused(t, env, m, 'charon', await initiate(env, 'charon'), { strict: true });
        assert.ok(r.pqike.some((l) => /the initiator sent no USE_PPK, and this connection requires a PPK/.test(l)), r.pqike.join('\n'));
        assert.ok(r.charon.some((l) => /parsed IKE_AUTH response .*N\(AUTH_FAILED\)/.test(l)), r.charon.join('\n'));
      });
    },
  );
  t.diagnostic(`all cases took ${Date.now() - t0} ms`);
});
