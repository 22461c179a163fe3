/**
 * addressToBytes' IPv4 fast path against node:net's isIP and a plain parse, and the NAT
 * detection hash (RFC 7296 §2.23) against SHA-1 over the fields fed one by one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { AddressError, addressToBytes, bytesToAddress } from '../../src/engine/address.js';
import { natDetectionHash } from '../../src/engine/nat.js';

/** What addressToBytes gives for a dotted quad, by the longer road: isIP decides, split parses. */
function reference(addr: string): Uint8Array | 'error' | 'v6' {
  const v = isIP(addr);
  if (v === 4) return Uint8Array.from(addr.split('.').map(Number));
  return v === 6 ? 'v6' : 'error';
}

test('addressToBytes: every IPv4-like string is parsed as isIP + split would, or refused as isIP refuses it', () => {
  const piece = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '00', '01', '007', '1a', ' 1', '256', '-1', '+1', '1e2'));
  const dotted = fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join('.'));
  fc.assert(
    fc.property(fc.oneof(dotted, fc.string({ maxLength: 20 })), (addr) => {
      const want = reference(addr);
      if (want === 'v6') return; // not this test's concern
      if (want === 'error') assert.throws(() => addressToBytes(addr), AddressError, addr);
      else assert.deepEqual(addressToBytes(addr), want, addr);
    }),
    { seed: 0x5eed, numRuns: 5000 },
  );
  for (const [a, b] of [['0.0.0.0', [0, 0, 0, 0]], ['255.255.255.255', [255, 255, 255, 255]], ['192.0.2.1', [192, 0, 2, 1]]] as const) assert.deepEqual([...addressToBytes(a)], b);
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1..2.3', '1.2.3.4.', '']) assert.throws(() => addressToBytes(bad), AddressError, bad);
  assert.deepEqual([...addressToBytes('::ffff:192.0.2.1')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  assert.equal(bytesToAddress(addressToBytes('2001:db8::1')), '2001:db8::1');
});

test('natDetectionHash is SHA-1(SPIi | SPIr | IP address | port) for IPv4 and IPv6 (RFC 7296 §2.23)', () => {
  const spiI = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const spiR = new Uint8Array(8); // the IKE_SA_INIT request's zero SPIr
  for (const ep of [
    { address: '192.0.2.1', port: 500 },
    { address: '198.51.100.7', port: 4500 },
    { address: '2001:db8::17', port: 65535 },
  ]) {
    const want = createHash('sha1').update(spiI).update(spiR).update(addressToBytes(ep.address)).update(Uint8Array.of(ep.port >> 8, ep.port & 0xff)).digest();
    assert.deepEqual(Buffer.from(natDetectionHash(spiI, spiR, ep)), want, ep.address);
  }
  // Every field counts: another port, address or SPI gives another hash.
  const base = Buffer.from(natDetectionHash(spiI, spiR, { address: '192.0.2.1', port: 500 }));
  assert.notDeepEqual(Buffer.from(natDetectionHash(spiI, spiR, { address: '192.0.2.1', port: 501 })), base);
  assert.notDeepEqual(Buffer.from(natDetectionHash(spiI, spiR, { address: '192.0.2.2', port: 500 })), base);
  assert.notDeepEqual(Buffer.from(natDetectionHash(spiI, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1]), { address: '192.0.2.1', port: 500 })), base);
});
