/**
 * The userspace plane's SPD (src/dataplane/userspace/spd.ts): selector fields of IPv4/IPv6
 * packets (ports only in first fragments, RFC 4301 §7.1), selector matching (RFC 7296
 * §3.13.1), and the lookups — outbound a Child SA's policy before a trap of the same traffic,
 * inbound the Child SA's selectors or, for a trapped child, the trap's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Spd, matches, packetFields } from '../../src/dataplane/userspace/spd.js';
import { parseTrafficSelector as ts } from '../../src/engine/traffic-selectors.js';

function v4(src: number[], dst: number[], protocol: number, sport: number, dport: number, fragOffset = 0): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45;
  p[6] = (fragOffset >> 8) & 0x1f;
  p[7] = fragOffset & 0xff;
  p[9] = protocol;
  p.set(src, 12);
  p.set(dst, 16);
  new DataView(p.buffer).setUint16(20, sport);
  new DataView(p.buffer).setUint16(22, dport);
  return p;
}

test('packetFields: IPv4 with ports, a later fragment without, IPv6, and too short / not IP', () => {
  const f = packetFields(v4([10, 1, 0, 5], [10, 2, 0, 9], 6, 40000, 443));
  assert.deepEqual(f && { v: f.version, src: [...f.src], dst: [...f.dst], p: f.protocol, s: f.srcPort, d: f.dstPort }, { v: 4, src: [10, 1, 0, 5], dst: [10, 2, 0, 9], p: 6, s: 40000, d: 443 });
  const frag = packetFields(v4([10, 1, 0, 5], [10, 2, 0, 9], 17, 53, 53, 185));
  assert.equal(frag?.srcPort, 0);
  assert.equal(frag?.dstPort, 0);
  const icmp = packetFields(v4([10, 1, 0, 5], [10, 2, 0, 9], 1, 0x0800, 0x1234));
  assert.equal(icmp?.srcPort, 0, 'ICMP has no ports');
  const p6 = new Uint8Array(48);
  p6[0] = 0x60;
  p6[6] = 17;
  p6[8] = 0xfd;
  p6[24] = 0xfd;
  p6[39] = 2;
  new DataView(p6.buffer).setUint16(42, 4500);
  const g = packetFields(p6);
  assert.equal(g?.version, 6);
  assert.equal(g?.dstPort, 4500);
  assert.equal(g?.dst[15], 2);
  assert.equal(packetFields(new Uint8Array(19).fill(0x45)), undefined);
  assert.equal(packetFields(Uint8Array.of(0x20, 0, 0, 0)), undefined);
});

test('matches: address range, protocol, port range', () => {
  const web = ts('10.2.0.0/16[tcp/443]');
  assert.ok(matches(web, Uint8Array.of(10, 2, 255, 1), 6, 443));
  assert.ok(!matches(web, Uint8Array.of(10, 3, 0, 1), 6, 443), 'outside the range');
  assert.ok(!matches(web, Uint8Array.of(10, 2, 0, 1), 17, 443), 'wrong protocol');
  assert.ok(!matches(web, Uint8Array.of(10, 2, 0, 1), 6, 80), 'wrong port');
  assert.ok(!matches(ts('10.2.0.0/16'), new Uint8Array(16), 6, 1), 'wrong family');
  assert.ok(matches(ts('10.2.0.0/16'), Uint8Array.of(10, 2, 0, 0), 1, 0), 'any protocol, any port');
});

test('Spd: outbound the Child SA policy before a trap of the same traffic; inbound a trapped child is checked against its trap; deleting one kind keeps the other', () => {
  const spd = new Spd();
  const local = [ts('10.1.0.0/16')];
  const remote = [ts('10.2.0.0/16')];
  const pkt = packetFields(v4([10, 1, 0, 5], [10, 2, 0, 9], 6, 40000, 443));
  assert.ok(pkt);
  assert.equal(spd.outbound(pkt), undefined);
  spd.set({ reqid: 7, localTs: local, remoteTs: remote, trap: true });
  assert.equal(spd.outbound(pkt)?.trap, true, 'only the trap so far');
  assert.equal(spd.get(7)?.trap, true, 'a trapped child has no policy of its own: the trap covers its inbound packets');
  spd.set({ reqid: 9, localTs: local, remoteTs: remote, trap: false });
  assert.equal(spd.outbound(pkt)?.reqid, 9, 'an installed Child SA policy comes before the trap');
  spd.set({ reqid: 7, localTs: local, remoteTs: remote, trap: false });
  assert.equal(spd.get(7)?.trap, false, 'its own policy once it has one');
  spd.delete(7, false);
  assert.equal(spd.get(7)?.trap, true, 'the trap stays when the Child SA policy goes');
  spd.delete(7, true);
  assert.equal(spd.get(7), undefined);
  assert.equal(spd.outbound(pkt)?.reqid, 9);
  const other = packetFields(v4([10, 1, 0, 5], [192, 0, 2, 1], 6, 1, 2));
  assert.ok(other);
  assert.equal(spd.outbound(other), undefined, 'traffic outside every selector has no policy');
});
