/**
 * NAT traversal on the userspace ESP plane, through a real NAT: A behind an nftables
 * masquerading router (test/interop/nat-topology.ts), B outside. Two pqike daemons, hybrid
 * x25519 + ML-KEM-768.
 *
 * - NAT detection (RFC 7296 §2.23) moves IKE to 4500, ESP goes in UDP (RFC 3948): the router
 *   carries only UDP 500/4500 (no IP protocol 50), ping both ways and a TCP transfer pass;
 * - the NAT forgets its mapping and hands out another port (conntrack flushed, a new port
 *   range): A's next IKE request (a liveness check, dpd_delay) reaches B from the new port,
 *   B's SAs follow (update-sa), traffic flows again both ways.
 * (NAT keepalives are tested in-process: test/engine/nat-keepalive.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { interopSkipReason, nsExec, sleep } from './netns.js';
import { listSas, pqike, withDaemonPair } from './daemons.js';
import { createNatTopology } from './nat-topology.js';
import type { NatTopology } from './nat-topology.js';
import { ping, sha256, tail, transfer } from './traffic.js';

const skip = interopSkipReason(['ip', 'busybox', 'nft', 'conntrack']) ?? false; // in CI (CI=true) a missing tool fails
const A_IN = '10.99.1.1';
const B_IN = '10.99.2.1';

/** The flows R's conntrack holds (what crossed the NAT). */
async function conntrack(t: NatTopology): Promise<string> {
  return (await nsExec(t.router, 'conntrack', ['-L'], { allowFail: true })).stdout;
}

test('userspace ESP through an nftables NAT: IKE floats to 4500, ESP in UDP carries ping and TCP; the NAT remaps, the tunnel follows', { skip, timeout: 300_000 }, async () => {
  let topo: NatTopology | undefined;
  await withDaemonPair(
    {
      top: 'data_plane: userspace',
      remoteB: '%any',
      connection: '    dpd_delay: 2s',
      makePair: async () => (topo = await createNatTopology()),
    },
    async (d) => {
      const t = topo as NatTopology;
      const up = await pqike(d.a, 'up', 'tun');
      assert.equal(up.code, 0, `pqike up: ${up.stdout}${up.stderr}`);
      assert.match(readFileSync(d.a.log, 'utf8'), /NAT detected \(local: true/, 'A sees itself behind a NAT');
      const [sa] = await listSas(d.b);
      assert.ok(sa && sa.children[0]?.encap === true, `B's Child SA is UDP-encapsulated: ${JSON.stringify(sa)}`);
      const a2b = await ping(d.pair.a.ns, A_IN, B_IN, 20, 0.05);
      assert.equal(a2b.received, a2b.sent, `A -> B through the NAT: ${a2b.text}\n${tail(d.a.log)}`);
      const b2a = await ping(d.pair.b.ns, B_IN, A_IN, 20, 0.05);
      assert.equal(b2a.received, b2a.sent, `B -> A through the NAT: ${b2a.text}\n${tail(d.b.log)}`);
      const data = randomBytes(2 * 1024 * 1024);
      assert.equal(await transfer(d.dir, { ns: d.pair.a.ns, addr: A_IN }, { ns: d.pair.b.ns, addr: B_IN }, data), sha256(data), 'TCP through the NAT intact');
      const ct = await conntrack(t);
      assert.match(ct, /udp .*dport=4500 .*sport=4500/, `IKE and ESP on 4500 through R:\n${ct}`);
      assert.doesNotMatch(ct, /\besp\b|unknown 50\b/, 'no plain ESP crossed the NAT');

      // The NAT forgets everything and maps A to another port from now on.
      await t.remap('30000-30999');
      // A's next IKE message (dpd_delay 2 s: a liveness check) comes from the new port; until then
      // B's packets go to the old mapping and are lost.
      const deadline = Date.now() + 20_000;
      let moved = false;
      while (!moved && Date.now() < deadline) {
        await ping(d.pair.a.ns, A_IN, B_IN, 2, 0.2); // keeps A's side of the mapping fresh
        moved = /the peer moved from 10\.99\.0\.1:\d+ to 10\.99\.0\.1:30\d\d\d/.test(readFileSync(d.b.log, 'utf8'));
        if (!moved) await sleep(500);
      }
      assert.ok(moved, `B followed the new mapping:\n${tail(d.b.log)}`);
      const after = await ping(d.pair.b.ns, B_IN, A_IN, 20, 0.05);
      assert.equal(after.received, after.sent, `B -> A after the remap: ${after.text}`);
      const after2 = await ping(d.pair.a.ns, A_IN, B_IN, 20, 0.05);
      assert.equal(after2.received, after2.sent, `A -> B after the remap: ${after2.text}`);
    },
  );
});
