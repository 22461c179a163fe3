/**
 * The pure parts of src/dataplane/sys: socket address encoding (Linux sockaddr_in/_in6), IPv6
 * text (RFC 5952), IP prefixes, what a raw IPv4 ESP socket receives (the IPv4 header comes
 * with it), and the RFC 3948 classification of what arrives on UDP 4500.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSockAddr, encodeSockAddr, ipv4Bytes, ipv6Bytes, ipv6Text } from '../../src/dataplane/sys/sockaddr.js';
import { parsePrefix } from '../../src/dataplane/sys/rtnl.js';
import { ipv4PayloadOffset, stripIpv4Header } from '../../src/dataplane/sys/sockets.js';
import { classifyNatt } from '../../src/dataplane/sys/natt-socket.js';

test('sockaddr_in: family 2 little-endian, port big-endian, address; 16 octets', () => {
  const { buf, len } = encodeSockAddr({ address: '192.0.2.7', port: 4500 });
  assert.equal(len, 16);
  assert.deepEqual([...buf.subarray(0, 8)], [2, 0, 0x11, 0x94, 192, 0, 2, 7]);
  assert.deepEqual(decodeSockAddr(buf), { address: '192.0.2.7', port: 4500 });
});

test('sockaddr_in6: family 10, port, flowinfo 0, address at 8; 28 octets', () => {
  const { buf, len } = encodeSockAddr({ address: '2001:db8::1', port: 500 });
  assert.equal(len, 28);
  assert.deepEqual([...buf.subarray(0, 4)], [10, 0, 0x01, 0xf4]);
  assert.deepEqual([...buf.subarray(8, 24)], [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1]);
  assert.deepEqual(decodeSockAddr(buf), { address: '2001:db8::1', port: 500 });
});

test('IPv6 text: every RFC 4291 form parses; output is RFC 5952 canonical', () => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:0201', '::ffff:192.0.2.1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ];
  for (const [input, canonical] of cases) assert.equal(ipv6Text(ipv6Bytes(input)), canonical, input);
  assert.throws(() => ipv6Bytes('1::2::3'));
  assert.throws(() => ipv4Bytes('256.1.1.1'));
});

test('prefixes: a bare address is a host prefix; lengths are checked', () => {
  assert.deepEqual(parsePrefix('10.2.0.0/16'), { address: '10.2.0.0', prefixLen: 16 });
  assert.deepEqual(parsePrefix('10.2.0.1'), { address: '10.2.0.1', prefixLen: 32 });
  assert.deepEqual(parsePrefix('fd00::/64'), { address: 'fd00::', prefixLen: 64 });
  assert.throws(() => parsePrefix('10.0.0.0/33'));
  assert.throws(() => parsePrefix('fd00::/129'));
  assert.throws(() => parsePrefix('example.org/8'));
});

function ipv4Esp(ihlWords: number, esp: number[]): Uint8Array {
  const h = new Uint8Array(ihlWords * 4 + esp.length);
  h[0] = 0x40 | ihlWords;
  h[9] = 50;
  h.set([10, 99, 0, 1], 12);
  h.set([10, 99, 0, 2], 16);
  h.set(esp, ihlWords * 4);
  return h;
}

test('raw IPv4 ESP socket input: the IPv4 header (with options) is stripped, the addresses read', () => {
  const esp = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa];
  for (const ihl of [5, 6, 15]) {
    const pkt = ipv4Esp(ihl, esp);
    assert.equal(ipv4PayloadOffset(pkt), ihl * 4);
    const s = stripIpv4Header(pkt);
    assert.ok(s);
    assert.deepEqual([...s.esp], esp);
    assert.equal(s.src, '10.99.0.1');
    assert.equal(s.dst, '10.99.0.2');
  }
  const notEsp = ipv4Esp(5, esp);
  notEsp[9] = 17;
  assert.equal(ipv4PayloadOffset(notEsp), null);
  assert.equal(ipv4PayloadOffset(new Uint8Array([0x45, 0])), null);
  assert.equal(ipv4PayloadOffset(Uint8Array.from([0x60, ...new Array<number>(40).fill(0)])), null, 'IPv6 is not IPv4');
  assert.equal(ipv4PayloadOffset(ipv4Esp(4, esp)), null, 'IHL below 5');
  assert.equal(ipv4PayloadOffset(ipv4Esp(5, esp), 19), null, 'shorter than its header');
});

test('RFC 3948 on UDP 4500: keepalive, IKE after the zero marker, ESP, and the rest invalid (as the kernel decides)', () => {
  assert.equal(classifyNatt(Uint8Array.of(0xff)), 'keepalive');
  assert.equal(classifyNatt(Uint8Array.of(0, 0, 0, 0, 1, 2, 3)), 'ike');
  assert.equal(classifyNatt(Uint8Array.of(0, 0, 0, 0)), 'invalid', 'a bare marker');
  assert.equal(classifyNatt(Uint8Array.of(0, 0, 1, 0, 0, 0, 0, 1, 9)), 'esp', 'SPI 256, seq 1, one octet');
  assert.equal(classifyNatt(Uint8Array.of(1, 2, 3, 4, 0, 0, 0, 1)), 'invalid', 'ESP of 8 octets: the kernel passes it on as not-ESP');
  assert.equal(classifyNatt(Uint8Array.of(0xff, 0xff)), 'invalid');
  assert.equal(classifyNatt(new Uint8Array(0)), 'invalid');
});
