/**
 * Virtual IPs (RFC 7296 §3.15, tasks/virtual-ip.ts) against Debian's strongSwan 5.9.8, both
 * roles, with traffic through the tunnel: pqike's userspace ESP plane on one side, charon with
 * kernel-libipsec on the other (no kernel ESP here), classic proposals (5.9.8 has no ML-KEM).
 *
 * - pqike is the road warrior (`vips: [0.0.0.0]`) and charon the gateway (`pools`,
 *   remote_ts = dynamic): pqike gets the pool's first address and the DNS server, the address
 *   lands on its TUN device, and a ping from it reaches the gateway's subnet and comes back.
 * - charon is the road warrior (`vips = 0.0.0.0`, local_ts = dynamic) and pqike the gateway
 *   (`pools:`, remote_ts left to the pool): charon gets the address from pqike's pool and pings
 *   pqike's subnet from it. Then charon goes, the lease is released, and it comes back with the
 *   same address (leases are per identity).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nsExec, sleep } from './netns.js';
import type { NetnsPair } from './netns.js';
import { ping, tail } from './traffic.js';
import { charonSkipReason, renderSwanctlConf } from './strongswan.js';
import { listSas, pqike } from './daemons.js';
import { charonPeer, daemonHead, withPqikeAndCharon } from './pqike-charon.js';
import type { PqikeCharon } from './pqike-charon.js';

const skip = charonSkipReason() ?? false;
const PSK = 'pqike-virtual-ip-strongswan-psk-0123456789';
const A_IN = '10.99.1.1';
const B_IN = '10.99.2.1';
const POOL = '10.99.3.0/24';
const FIRST = '10.99.3.1';
const DNS = '10.99.1.53';

type Env = PqikeCharon;

function daemonConfig(pair: NetnsPair, socket: string, role: 'client' | 'gateway'): string {
  const head = daemonHead(socket);
  return role === 'client'
    ? `${head}connections:
  sun:
    local_addrs: ${pair.a.addr}
    remote_addrs: ${pair.b.addr}
    local_id: moon.pqike.test
    remote_id: sun.pqike.test
    psk: sun
    proposals: [aes256gcm16-prfsha384-x25519]
    vips: [0.0.0.0]
    children:
      net:
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
`
    : `${head}pools:
  rw:
    addrs: ${POOL}
    dns: [${DNS}]
connections:
  rw:
    local_addrs: ${pair.a.addr}
    remote_addrs: '%any'
    local_id: moon.pqike.test
    remote_id: sun.pqike.test
    psk: sun
    proposals: [aes256gcm16-prfsha384-x25519]
    pools: [rw]
    children:
      net:
        local_ts: [10.99.1.0/24]
        esp_proposals: [aes256gcm16]
`;
}

function charonConf(pair: NetnsPair, role: 'client' | 'gateway'): string {
  const conn = charonPeer(pair, PSK, {
    localTs: role === 'client' ? 'dynamic' : '10.99.2.0/24',
    remoteTs: role === 'client' ? '10.99.1.0/24' : 'dynamic',
    extraConn: role === 'client' ? '        vips = 0.0.0.0' : '        pools = rw',
  });
  const pools = role === 'gateway' ? `pools {\n    rw {\n        addrs = ${POOL}\n        dns = ${DNS}\n    }\n}\n` : '';
  return renderSwanctlConf([conn]) + pools;
}

function withPeers(pqikeRole: 'client' | 'gateway', fn: (env: Env) => Promise<void>): Promise<void> {
  return withPqikeAndCharon(
    { prefix: 'pqike-vip-', psk: PSK, daemonConfig: (pair, socket) => daemonConfig(pair, socket, pqikeRole), charonConfig: (pair) => charonConf(pair, pqikeRole === 'client' ? 'gateway' : 'client') },
    fn,
  );
}

test('pqike as road warrior (vips: [0.0.0.0]) to a strongSwan gateway with a pool: it gets the first address and the DNS server, the address is on its TUN device, and a ping from it goes through the tunnel', { skip, timeout: 120_000 }, async () => {
  await withPeers('client', async (env) => {
    const up = await pqike(env, 'up', 'sun');
    assert.equal(up.code, 0, `pqike up: ${up.stdout}${up.stderr}\n${env.charon.logTail()}`);
    const theirs = await env.charon.waitForSa('pq', 10_000, { child: 'net' });
    assert.deepEqual(theirs.raw['remote-vips'], [FIRST], `strongSwan leased ${FIRST}: ${JSON.stringify(theirs.raw)}`);
    const [ours] = await listSas(env);
    assert.deepEqual(ours?.children[0]?.localTs, [`${FIRST}/32`], JSON.stringify(ours));
    assert.match(tail(env.log), new RegExp(`virtual IP ${FIRST.replace(/\./g, '\\.')} received, DNS ${DNS.replace(/\./g, '\\.')}`));
    const addrs = await nsExec(env.pair.a.ns, 'ip', ['-o', 'addr', 'show', 'dev', 'pqike0']);
    assert.match(addrs.stdout, new RegExp(`inet ${FIRST.replace(/\./g, '\\.')}/32`), `the virtual IP on the TUN device: ${addrs.stdout}`);
    const p = await ping(env.pair.a.ns, FIRST, B_IN, 10, 0.05);
    assert.equal(p.received, p.sent, `pqike (${FIRST}) -> strongSwan's subnet: ${p.text}\n${tail(env.log)}\n${env.charon.logTail()}`);
    // Down: the address leaves the TUN device.
    const down = await pqike(env, 'down', 'sun');
    assert.equal(down.code, 0, down.stderr);
    await sleep(500);
    const after = await nsExec(env.pair.a.ns, 'ip', ['-o', 'addr', 'show', 'dev', 'pqike0']);
    assert.doesNotMatch(after.stdout, new RegExp(FIRST.replace(/\./g, '\\.')), `the virtual IP is gone: ${after.stdout}`);
  });
});

test('strongSwan as road warrior (vips = 0.0.0.0) to the pqike gateway with a pool: it gets the first address and pings the gateway subnet from it; after it goes it comes back with the same address', { skip, timeout: 120_000 }, async () => {
  await withPeers('gateway', async (env) => {
    await env.charon.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
    const theirs = await env.charon.waitForSa('pq', 10_000, { child: 'net' });
    assert.deepEqual(theirs.raw['local-vips'], [FIRST], `strongSwan got ${FIRST} from pqike's pool: ${JSON.stringify(theirs.raw)}`);
    const [ours] = await listSas(env);
    assert.deepEqual(ours?.children[0]?.remoteTs, [`${FIRST}/32`], JSON.stringify(ours));
    assert.match(tail(env.log), /virtual IP 10\.99\.3\.1 leased to sun\.pqike\.test/);
    const p = await ping(env.pair.b.ns, FIRST, A_IN, 10, 0.05);
    assert.equal(p.received, p.sent, `strongSwan (${FIRST}) -> pqike's subnet: ${p.text}\n${tail(env.log)}\n${env.charon.logTail()}`);
    const term = await env.charon.swanctl(['--terminate', '--ike', 'pq'], { allowFail: true });
    assert.equal(term.code, 0, term.stdout + term.stderr);
    await sleep(500);
    assert.deepEqual(await listSas(env), []);
    await env.charon.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
    const again = await env.charon.waitForSa('pq', 10_000, { child: 'net' });
    assert.deepEqual(again.raw['local-vips'], [FIRST], `the same address again: ${JSON.stringify(again.raw)}`);
    const p2 = await ping(env.pair.b.ns, FIRST, A_IN, 5, 0.05);
    assert.equal(p2.received, p2.sent, p2.text);
  });
});
