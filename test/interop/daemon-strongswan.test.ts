/**
 * The pqike daemon against Debian's strongSwan 5.9.8 (charon with kernel-libipsec) in network
 * namespaces, both directions: the IKE SA and Child SA come up via `pqike up` (or charon's
 * initiate), are listed by `pqike list-sas` and by `swanctl --list-sas`, and are taken down by
 * `pqike down`. The daemon offers a hybrid proposal first and a classic one second; strongSwan
 * 5.9.8 has no RFC 9370 and must pick the classic one. Then `pqike probe` reports, correctly,
 * what charon and a pqike daemon accept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsExec, run, sleep, startInNs, withNetnsPair } from './netns.js';
import type { NetnsPair, NsProcess } from './netns.js';
import { Charon, charonSkipReason } from './strongswan.js';
import type { SwanctlConnParams } from './strongswan.js';
import { charonPeer } from './pqike-charon.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const PSK = 'pqike-daemon-strongswan-psk-0123456789';

const skip = charonSkipReason();

interface Env {
  readonly pair: NetnsPair;
  readonly charon: Charon;
  readonly dir: string;
  readonly socket: string;
}

function daemonConfig(env: { pair: NetnsPair; dir: string; socket: string }, remote: 'peer' | '%any'): string {
  const { pair } = env;
  return `secrets: secrets.yaml
log:
  level: debug
  format: json
control:
  socket: ${env.socket}
data_plane: fake
connections:
  sun:
    local_addrs: ${pair.a.addr}
    remote_addrs: '${remote === 'peer' ? pair.b.addr : '%any'}'
    local_id: moon.pqike.test
    remote_id: sun.pqike.test
    psk: sun
    proposals:
      - aes256gcm16-prfsha384-x25519-ke1_mlkem768
      - aes256gcm16-prfsha384-x25519
    children:
      net:
        local_ts: [10.99.1.0/24]
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
`;
}

function charonConn(pair: NetnsPair, initiator: boolean): SwanctlConnParams {
  return charonPeer(pair, PSK, { localTs: '10.99.2.0/24', remoteTs: '10.99.1.0/24', initiator });
}

async function pqike(env: { socket: string }, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args, '--socket', env.socket], { allowFail: true, timeoutMs: 40_000 });
}

interface SaView {
  id: number;
  connection: string;
  state: string;
  spiI: string;
  spiR: string;
  suite: string | null;
  keyExchanges: string[];
  children: { name: string; spiIn: string; spiOut: string; state: string }[];
}

async function listSas(env: { socket: string }): Promise<SaView[]> {
  const r = await pqike(env, 'list-sas', '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SaView[];
}

async function withDaemon(remote: 'peer' | '%any', fn: (env: Env, daemon: NsProcess) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-dss-'));
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  sun: "${PSK}"\n`, { mode: 0o600 });
  const socket = join(dir, 'run', 'pqike.sock');
  try {
    await withNetnsPair(async (pair) => {
      writeFileSync(join(dir, 'pqike.yaml'), daemonConfig({ pair, dir, socket }, remote));
      const charon = await Charon.start({ ns: pair.b.ns, name: 'sun', removeDirOnStop: true });
      const daemon = await startInNs(pair.a.ns, process.execPath, [CLI, 'daemon', '-c', join(dir, 'pqike.yaml')], { readyPattern: /control socket/, logPath: join(dir, 'daemon.log') });
      try {
        await fn({ pair, charon, dir, socket }, daemon);
      } finally {
        await daemon.stop('SIGTERM', 5000);
        await charon.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('pqike daemon initiates to strongSwan: pqike up, both sides list the SAs, classic fallback chosen, pqike down', { skip: skip ?? false }, async () => {
  await withDaemon('peer', async (env) => {
    await env.charon.loadConfig([charonConn(env.pair, false)]);
    const up = await pqike(env, 'up', 'sun');
    assert.equal(up.code, 0, `pqike up failed: ${up.stderr}\n${env.charon.logTail()}`);
    assert.match(up.stdout, /ESTABLISHED/);
    const [sa] = await listSas(env);
    assert.ok(sa);
    // strongSwan 5.9.8 does not know RFC 9370: our second, classic proposal is the one chosen.
    assert.equal(sa.suite, 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
    assert.deepEqual(sa.keyExchanges, ['CURVE_25519']);
    const [child] = sa.children;
    assert.ok(child);
    const peer = await env.charon.waitForSa('pq', 10_000, { child: 'net' });
    assert.equal(peer.raw['initiator-spi'], sa.spiI);
    assert.equal(peer.raw['responder-spi'], sa.spiR);
    const peerChild = peer.children.find((c) => c.name === 'net');
    assert.equal(peerChild?.raw['spi-in'], child.spiOut);
    assert.equal(peerChild?.raw['spi-out'], child.spiIn);
    const down = await pqike(env, 'down', 'sun');
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await listSas(env), []);
    for (let i = 0; i < 50 && (await env.charon.listSas()).length > 0; i++) await sleep(100);
    assert.deepEqual(await env.charon.listSas(), [], 'charon deleted its SAs too');
  });
});

test('strongSwan initiates to the pqike daemon: listed by pqike list-sas and swanctl, then pqike down', { skip: skip ?? false }, async () => {
  await withDaemon('%any', async (env) => {
    await env.charon.loadConfig([charonConn(env.pair, false)]);
    await env.charon.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
    const peer = await env.charon.waitForSa('pq', 10_000, { child: 'net' });
    let list: SaView[] = [];
    for (let i = 0; i < 50 && list.length === 0; i++) {
      list = await listSas(env);
      if (list.length === 0) await sleep(100);
    }
    const [sa] = list;
    assert.ok(sa);
    assert.equal(sa.state, 'established');
    assert.equal(sa.spiI, peer.raw['initiator-spi']);
    assert.equal(sa.children[0]?.spiOut, peer.children.find((c) => c.name === 'net')?.raw['spi-in']);
    const text = await pqike(env, 'list-sas');
    assert.match(text.stdout, /sun #\d+: ESTABLISHED .*\(responder\)/);
    const down = await pqike(env, 'down', String(sa.id));
    assert.equal(down.code, 0, down.stderr);
    for (let i = 0; i < 50 && (await env.charon.listSas()).length > 0; i++) await sleep(100);
    assert.deepEqual(await env.charon.listSas(), []);
  });
});

interface ProbeJson {
  answered: boolean;
  requests: number;
  readiness: string;
  keMethods: { method: string; verdict: string }[];
  additional: { method: string; verdict: string }[];
  intermediate: boolean;
  fragmentation: boolean;
}

test('pqike probe reports what strongSwan 5.9.8 and a pqike daemon accept', { skip: skip ?? false }, async () => {
  await withDaemon('%any', async (env) => {
    // charon in B answers on B's address; the pqike daemon in A on A's. Probe each from the other side.
    await env.charon.loadConfig([{ ...charonConn(env.pair, false), ikeProposals: ['aes256gcm16-prfsha384-x25519-ecp256', 'aes128-sha256-modp2048'], remoteAddrs: '%any' }]);
    const ss = await nsExec(env.pair.a.ns, process.execPath, [CLI, 'probe', env.pair.b.addr, '--json', '--rate', '5'], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(ss.code, 0, ss.stderr);
    const r = JSON.parse(ss.stdout) as ProbeJson;
    const accepted = (list: { method: string; verdict: string }[]): string[] => list.filter((k) => k.verdict === 'accepted').map((k) => k.method).sort();
    // charon's own cookie and half-open decisions, to tell a probe fault from charon's DoS protection.
    const charonSaid = (): string => env.charon.log().split('\n').filter((l) => /cookie|half-open|ignoring|IKE_SA_INIT/i.test(l)).slice(-40).join('\n');
    assert.deepEqual(accepted(r.keMethods), ['CURVE_25519', 'ECP_256', 'MODP_2048'], `${JSON.stringify(r.keMethods)} after ${r.requests} requests\n${charonSaid()}`);
    assert.deepEqual(accepted(r.additional), [], 'no RFC 9370 in strongSwan 5.9.8');
    assert.equal(r.readiness, 'classic');
    assert.equal(r.intermediate, false);
    assert.equal(r.fragmentation, true);
    const pq = await nsExec(env.pair.b.ns, process.execPath, [CLI, 'probe', env.pair.a.addr, '--json', '--rate', '5'], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(pq.code, 0, pq.stderr);
    const p = JSON.parse(pq.stdout) as ProbeJson;
    assert.deepEqual(accepted(p.keMethods), ['CURVE_25519']);
    assert.deepEqual(accepted(p.additional), ['ML_KEM_768']);
    assert.equal(p.readiness, 'hybrid');
    assert.equal(p.intermediate, true);
  });
});
