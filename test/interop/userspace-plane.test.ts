/**
 * The userspace ESP data plane end to end: two pqike daemons with `data_plane: userspace` in a
 * namespace pair (this machine's kernel has no ESP: every packet is sealed and opened by our
 * ESP in the daemons' workers). The tunnel is 10.99.1.0/24 (A's lo has 10.99.1.1) to
 * 10.99.2.0/24 (B's lo has 10.99.2.1), hybrid x25519 + ML-KEM-768.
 *
 * - ping across, 0 loss; a TCP transfer through the tunnel arrives with the same SHA-256;
 *   list-sas counts packets and bytes both ways; ESP on the wire (tshark), no plaintext;
 * - Child SA and IKE SA rekeys while a ping runs at 20/s: no ping lost;
 * - rekey_bytes: a transfer larger than the limit makes the worker's soft limit fire and the
 *   Child SA is rekeyed (a new SPI carries the rest);
 * - start_action trap: traffic to the remote selector brings the tunnel up (acquire);
 * - bad packets (replayed ESP, a flipped ciphertext bit, an unknown SPI) are dropped and counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { interopSkipReason, nsExec, sleep } from './netns.js';
import { ping, sha256 as sha, tail, transfer } from './traffic.js';
import type { PingResult } from './traffic.js';
import { inNetns } from '../../src/dataplane/sys/netns.js';
import { closeFd } from '../../src/dataplane/sys/libc.js';
import { openEspSocket, recvDatagram, sendDatagram, stripIpv4Header } from '../../src/dataplane/sys/sockets.js';
import { listSas, pqike, withDaemonPair } from './daemons.js';
import type { DaemonPair, SaJson } from './daemons.js';

const skip = interopSkipReason(['ip', 'busybox']) ?? false;
const TOP = 'data_plane: userspace';
const A_IN = '10.99.1.1';
const B_IN = '10.99.2.1';

async function up(d: DaemonPair): Promise<SaJson> {
  const r = await pqike(d.a, 'up', 'tun');
  assert.equal(r.code, 0, `pqike up: ${r.stdout}${r.stderr}`);
  const [sa] = await listSas(d.a);
  assert.ok(sa && sa.children.length === 1, JSON.stringify(sa));
  return sa;
}

function pingAB(d: DaemonPair, count: number, intervalS: number): Promise<PingResult> {
  return ping(d.pair.a.ns, A_IN, B_IN, count, intervalS);
}

function transferAB(d: DaemonPair, data: Buffer, paceMs = 0): Promise<string> {
  return transfer(d.dir, { ns: d.pair.a.ns, addr: A_IN }, { ns: d.pair.b.ns, addr: B_IN }, data, paceMs);
}

test('userspace ESP between two pqike daemons: ping with no loss, a TCP transfer intact, counters both ways', { skip, timeout: 240_000 }, async () => {
  await withDaemonPair({ top: TOP }, async (d) => {
    const sa = await up(d);
    assert.deepEqual(sa.keyExchanges, ['CURVE_25519', 'ML_KEM_768']);
    const p = await pingAB(d, 20, 0.05);
    assert.equal(p.received, p.sent, `ping through the tunnel: ${p.text}`);
    const data = randomBytes(3 * 1024 * 1024);
    assert.equal(await transferAB(d, data), sha(data), 'the transfer arrived intact');
    await sleep(1500); // the worker reports its counters once a second
    const [after] = await listSas(d.a);
    const ch = after?.children[0];
    assert.ok(ch && ch.packetsOut !== null && ch.packetsIn !== null, JSON.stringify(after));
    assert.ok((ch.packetsOut ?? 0) >= 20 && (ch.packetsIn ?? 0) >= 20, `packets counted both ways: ${JSON.stringify(ch)}`);
    assert.ok((ch.bytesOut ?? 0) >= data.length, `bytes out cover the transfer: ${JSON.stringify(ch)}`);
    const [peer] = await listSas(d.b);
    const pc = peer?.children[0];
    assert.ok(pc && (pc.bytesIn ?? 0) >= data.length, `B counted the transfer in: ${JSON.stringify(pc)}`);
  });
});

const HYBRID2 = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024';

for (const v of [
  { name: 'x25519+mlkem768, A initiates', proposals: undefined, initiator: 'a' as const, kes: ['CURVE_25519', 'ML_KEM_768'] },
  { name: 'x25519+mlkem768+mlkem1024, B initiates', proposals: [HYBRID2], initiator: 'b' as const, kes: ['CURVE_25519', 'ML_KEM_768', 'ML_KEM_1024'] },
]) {
  test(`rekeys under traffic (${v.name}): a Child SA rekey and an IKE SA rekey during a 100/s ping and a paced 8 MiB TCP transfer lose no ping, the data arrives intact`, { skip, timeout: 300_000 }, async () => {
    await withDaemonPair({ top: TOP, ...(v.proposals ? { proposals: v.proposals } : {}) }, async (d) => {
      const init = v.initiator === 'a' ? d.a : d.b;
      const other = v.initiator === 'a' ? d.b : d.a;
      const r = await pqike(init, 'up', 'tun');
      assert.equal(r.code, 0, `pqike up: ${r.stdout}${r.stderr}`);
      const [sa] = await listSas(init);
      assert.deepEqual(sa?.keyExchanges, v.kes);
      const spi = sa?.children[0]?.spiIn;
      assert.ok(spi);
      const data = randomBytes(8 * 1024 * 1024);
      const pinger = pingAB(d, 500, 0.01);
      const moved = transferAB(d, data, 40);
      await sleep(1500);
      const r1 = await pqike(init, 'rekey', 'tun', '--child', spi);
      assert.equal(r1.code, 0, `child rekey: ${r1.stdout}${r1.stderr}`);
      await sleep(1500);
      const r2 = await pqike(other, 'rekey', 'tun');
      assert.equal(r2.code, 0, `IKE rekey: ${r2.stdout}${r2.stderr}`);
      const [p, got] = await Promise.all([pinger, moved]);
      assert.equal(p.received, p.sent, `no ping lost across the rekeys: ${p.text}`);
      assert.equal(got, sha(data), 'the transfer arrived intact across the rekeys');
      const [after] = await listSas(init);
      assert.ok(after && after.children.length === 1 && after.children[0]?.spiIn !== spi, `a new Child SA carries the traffic: ${JSON.stringify(after)}`);
      assert.deepEqual(after.keyExchanges, v.kes, 'the rekeyed IKE SA has the same key exchanges');
    });
  });
}

test('rekey_bytes: a transfer past the limit makes the worker’s soft limit fire, the Child SA is rekeyed under traffic and the data arrives intact', { skip, timeout: 240_000 }, async () => {
  await withDaemonPair({ top: TOP, child: '        rekey_bytes: 1000000' }, async (d) => {
    const sa = await up(d);
    const spi = sa.children[0]?.spiIn;
    const data = randomBytes(4 * 1024 * 1024);
    assert.equal(await transferAB(d, data), sha(data), 'intact across the rekeys');
    await sleep(1500);
    const [after] = await listSas(d.a);
    const live = after?.children.filter((c) => c.state === 'installed') ?? [];
    assert.ok(live.length >= 1 && live.every((c) => c.spiIn !== spi), `the first Child SA was replaced: ${JSON.stringify(after)}`);
    const logs = readFileSync(d.a.log, 'utf8') + readFileSync(d.b.log, 'utf8');
    const soft = logs.match(/reached its soft usage limit: rekeying/g)?.length ?? 0;
    assert.ok(soft >= 1, 'a soft usage limit fired (rekey_bytes)');
    const p = await pingAB(d, 10, 0.05);
    assert.equal(p.received, p.sent, `the new Child SA carries traffic: ${p.text}`);
  });
});

test('start_action trap: a packet to the remote selector brings the tunnel up (acquire), then traffic flows', { skip, timeout: 240_000 }, async () => {
  await withDaemonPair({ top: TOP, startActionA: 'trap' }, async (d) => {
    assert.deepEqual(await listSas(d.a), [], 'nothing up before traffic');
    const first = await pingAB(d, 8, 0.25); // the first packets go while the IKE SA is negotiated
    assert.ok(first.received >= 1, `the trap brought the tunnel up: ${first.text}\n${tail(d.a.log)}`);
    const [sa] = await listSas(d.a);
    assert.equal(sa?.state, 'established');
    const p = await pingAB(d, 10, 0.05);
    assert.equal(p.received, p.sent, `then nothing is lost: ${p.text}`);
  });
});

test('bad ESP is dropped and counted: a replayed packet, a flipped ciphertext bit, an unknown SPI, a truncated packet, one left of the replay window (list-sas drops, pqike_esp_drops_total)', { skip, timeout: 240_000 }, async () => {
  const metricsPort = 19000 + Math.floor(Math.random() * 1000);
  await withDaemonPair({ top: TOP, metricsPort }, async (d) => {
    await up(d);
    // B's copy of what arrives (a raw ESP socket sees every ESP packet), A's socket to send from.
    const rx = inNetns(d.pair.b.ns, () => openEspSocket({ family: 4 }));
    const tx = inNetns(d.pair.a.ns, () => openEspSocket({ bind: { address: d.pair.a.addr, port: 0 } }));
    try {
      const p = await pingAB(d, 3, 0.05);
      assert.equal(p.received, p.sent);
      const buf = new Uint8Array(65536);
      let esp: Uint8Array | undefined;
      for (let r = recvDatagram(rx, buf); r && !esp; r = recvDatagram(rx, buf)) {
        const x = stripIpv4Header(buf, r.length);
        if (x && x.src === d.pair.a.addr) esp = Uint8Array.prototype.slice.call(x.esp);
      }
      assert.ok(esp, 'an ESP packet from A was seen at B');
      const to = { address: d.pair.b.addr, port: 0 };
      sendDatagram(tx, esp, to); // replayed
      const flipped = Uint8Array.prototype.slice.call(esp);
      flipped[20] = (flipped[20] ?? 0) ^ 1;
      // a fresh sequence number, so the replay check passes and the ICV check fails
      new DataView(flipped.buffer).setUint32(4, 0x7fff0000);
      sendDatagram(tx, flipped, to);
      const unknown = Uint8Array.prototype.slice.call(esp);
      new DataView(unknown.buffer).setUint32(0, 0x0badf00d);
      sendDatagram(tx, unknown, to);
      sendDatagram(tx, esp.subarray(0, 12), to); // SPI, sequence number and a stub: truncated
      // 200 more packets move the window (128) past the first one; then it is too old.
      const more = await pingAB(d, 200, 0.005);
      assert.equal(more.received, more.sent);
      sendDatagram(tx, esp, to);
      await sleep(1500);
      const [sa] = await listSas(d.b);
      const drops = sa?.children[0]?.drops ?? {};
      assert.ok((drops['replay'] ?? 0) >= 1, `replay counted: ${JSON.stringify(sa?.children[0])}`);
      assert.ok((drops['integrity'] ?? 0) >= 1, `integrity failure counted: ${JSON.stringify(sa?.children[0])}`);
      assert.ok((drops['truncated'] ?? 0) >= 1, `truncated packet counted: ${JSON.stringify(sa?.children[0])}`);
      assert.ok((drops['too-old'] ?? 0) >= 1, `packet left of the window counted: ${JSON.stringify(sa?.children[0])}`);
      const m = await nsExec(d.pair.b.ns, process.execPath, ['-e', `fetch('http://${d.pair.b.addr}:${metricsPort}/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))`], { timeoutMs: 20_000 });
      const metric = (reason: string): number => Number(new RegExp(`^pqike_esp_drops_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m.stdout)?.[1] ?? 0);
      assert.match(m.stdout, /^pqike_data_plane\{kind="userspace"\} 1$/m);
      for (const reason of ['replay', 'integrity', 'unknown-spi', 'truncated', 'too-old']) assert.ok(metric(reason) >= 1, `pqike_esp_drops_total{reason="${reason}"}:\n${m.stdout}`);
      const again = await pingAB(d, 5, 0.05);
      assert.equal(again.received, again.sent, 'the tunnel still works');
    } finally {
      closeFd(rx);
      closeFd(tx);
    }
  });
});

test('IPv6 outside and inside: ESP over IPv6 between the daemons carries IPv6 ping and TCP', { skip, timeout: 240_000 }, async () => {
  const netns = { addrA: 'fd00:99::1', addrB: 'fd00:99::2', innerA: 'fd00:99:1::1', innerB: 'fd00:99:2::1' };
  await withDaemonPair({ top: TOP, netns }, async (d) => {
    await up(d);
    const p = await ping(d.pair.a.ns, netns.innerA, netns.innerB, 20, 0.05);
    assert.equal(p.received, p.sent, `IPv6 ping through the tunnel: ${p.text}\n${tail(d.a.log)}`);
    const data = randomBytes(2 * 1024 * 1024);
    assert.equal(await transfer(d.dir, { ns: d.pair.a.ns, addr: netns.innerA }, { ns: d.pair.b.ns, addr: netns.innerB }, data), sha(data), 'IPv6 TCP intact');
  });
});

test('the TUN device and its routes go with the daemon: after SIGTERM, and after kill -9', { skip, timeout: 120_000 }, async () => {
  await withDaemonPair({ top: TOP }, async (d) => {
    await up(d);
    const links = async (): Promise<string> => (await nsExec(d.pair.a.ns, 'ip', ['-o', 'link', 'show'])).stdout;
    assert.match(await links(), /pqike0/);
    await d.a.process.stop('SIGKILL', 1000);
    assert.doesNotMatch(await links(), /pqike0/, 'no device after kill -9');
    assert.doesNotMatch((await nsExec(d.pair.a.ns, 'ip', ['route', 'show'])).stdout, /pqike0/, 'no route after kill -9');
    await d.restart(d.a);
    await up(d);
    assert.match(await links(), /pqike0/);
    await d.a.process.stop('SIGTERM', 6000);
    assert.doesNotMatch(await links(), /pqike0/, 'no device after SIGTERM');
  });
});

test('what the plane cannot install is refused with its reason and the Child SA is deleted (transport mode on the userspace plane)', { skip, timeout: 120_000 }, async () => {
  await withDaemonPair({ top: TOP, child: '        mode: transport' }, async (d) => {
    await pqike(d.a, 'up', 'tun');
    const deadline = Date.now() + 10_000;
    let sas = await listSas(d.a);
    while (Date.now() < deadline && sas[0]?.children.length !== 0) {
      await sleep(200);
      sas = await listSas(d.a);
    }
    assert.equal(sas[0]?.children.length, 0, `the Child SA went: ${JSON.stringify(sas)}`);
    assert.match(readFileSync(d.a.log, 'utf8'), /data plane: (in|out)bound SA [0-9a-f]{8} failed: the userspace data plane carries tunnel mode only/);
    // The peer was told (INFORMATIONAL DELETE): its Child SA is gone too.
    const [peer] = await listSas(d.b);
    assert.equal(peer?.children.length, 0, `B deleted it as well: ${JSON.stringify(peer)}`);
  });
});

for (const esp of ['aes128gcm16-esn', 'chacha20poly1305-esn', 'aes128-sha256-esn', 'aes256-sha384', 'aes256-sha512-esn']) {
  test(`ESP ${esp} on the userspace plane carries ping both ways`, { skip, timeout: 120_000 }, async () => {
    await withDaemonPair({ top: TOP, espProposals: [esp] }, async (d) => {
      await up(d);
      const a2b = await pingAB(d, 5, 0.05);
      assert.equal(a2b.received, a2b.sent, `${esp} A -> B: ${a2b.text}\n${tail(d.a.log)}`);
      const b2a = await ping(d.pair.b.ns, B_IN, A_IN, 5, 0.05);
      assert.equal(b2a.received, b2a.sent, `${esp} B -> A: ${b2a.text}`);
      const esn = /"event":"child-up".*?"esn":(true|false)/.exec(readFileSync(d.a.log, 'utf8'))?.[1];
      assert.equal(esn, esp.endsWith('-esn') ? 'true' : 'false', 'extended sequence numbers as proposed');
    });
  });
}
