/**
 * AUTH data of RFC 7427 method 14 (src/auth/signature-auth-data.ts): the AlgorithmIdentifiers
 * are the octets the RFCs print (RFC 7427 App. A and B.1, RFC 8420 App. A, the ML-DSA OIDs of
 * draft-ietf-ipsecme-ikev2-pqc-auth, checked here against node:crypto's own DER of the OIDs
 * where it has them), encoding and decoding agree, and any octet string decodes to a result
 * or a reason, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { SIGNATURE_ALGORITHMS, decodeSignatureAuthData, encodeSignatureAuthData } from '../../src/auth/signature-auth-data.js';
import { HashAlgorithm } from '../../src/wire/constants.js';

const byName = (n: string) => {
  const a = SIGNATURE_ALGORITHMS.find((x) => x.name === n);
  assert.ok(a, n);
  return a;
};
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('the AlgorithmIdentifiers are the RFCs\' octets and their stated lengths', () => {
  assert.equal(hexOf(byName('sha256WithRSAEncryption').algorithmId), '300d06092a864886f70d01010b0500');
  assert.equal(hexOf(byName('ecdsa-with-sha256').algorithmId), '300a06082a8648ce3d040302');
  assert.equal(hexOf(byName('ecdsa-with-sha384').algorithmId), '300a06082a8648ce3d040303');
  assert.equal(byName('RSASSA-PSS with sha-256').algorithmId.length, 72);
  assert.equal(hexOf(byName('id-Ed25519').algorithmId), '300506032b6570');
  assert.equal(hexOf(byName('id-ml-dsa-65').algorithmId), '300b0609608648016503040312');
  for (const a of SIGNATURE_ALGORITHMS) {
    assert.equal(a.algorithmId[0], 0x30, a.name);
    assert.equal(a.algorithmId[1], a.algorithmId.length - 2, `${a.name}: one DER SEQUENCE`);
    assert.equal(a.hash === HashAlgorithm.IDENTITY, a.digest === undefined, `${a.name}: Identity exactly when the algorithm hashes by itself`);
  }
});

test('Ed25519 and Ed448 AlgorithmIdentifiers are the ones node:crypto puts in their SPKI (RFC 8410)', () => {
  const spkis = { 'id-Ed25519': generateKeyPairSync('ed25519').publicKey, 'id-Ed448': generateKeyPairSync('ed448').publicKey };
  for (const [name, key] of Object.entries(spkis)) {
    const spki = key.export({ format: 'der', type: 'spki' });
    // SEQUENCE { AlgorithmIdentifier, BIT STRING }: the AlgorithmIdentifier starts at offset 2.
    assert.equal(hexOf(spki.subarray(2, 2 + 7)), hexOf(byName(name).algorithmId));
  }
});

test('RFC 7427 B.1: the AUTH data starts with the length and the AlgorithmIdentifier; decode gives back algorithm and signature', () => {
  const sig = Uint8Array.of(1, 2, 3, 4);
  for (const a of SIGNATURE_ALGORITHMS) {
    const data = encodeSignatureAuthData(a, sig);
    assert.equal(data[0], a.algorithmId.length);
    const d = decodeSignatureAuthData(data);
    assert.ok(typeof d !== 'string', `${a.name}: ${String(d)}`);
    assert.equal(d.algorithm, a);
    assert.deepEqual([...d.signature], [1, 2, 3, 4]);
  }
});

test('malformed AUTH data gives a reason: empty, a length past the end, not a SEQUENCE, an unknown algorithm (SHA-1 RSA), no signature', () => {
  const ed = byName('id-Ed25519').algorithmId;
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /empty/],
    [Uint8Array.of(9, 0x30, 0x05), /does not fit/],
    [Uint8Array.of(7, 0x31, 5, 6, 3, 0x2b, 0x65, 0x70, 1), /not one DER SEQUENCE/],
    [Uint8Array.of(15, ...Buffer.from('300d06092a864886f70d0101050500', 'hex'), 1), /unknown signature algorithm/],
    [Uint8Array.of(ed.length, ...ed), /no signature/],
  ];
  for (const [data, why] of cases) {
    const d = decodeSignatureAuthData(data);
    assert.equal(typeof d, 'string');
    assert.match(String(d), why);
  }
});

test('property: any octet string decodes to a result or a reason, never an exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), (b) => {
      const d = decodeSignatureAuthData(b);
      return typeof d === 'string' || (d.signature.length > 0 && SIGNATURE_ALGORITHMS.includes(d.algorithm));
    }),
    { seed: 7427, numRuns: 5000 },
  );
});

test('the ML-DSA AlgorithmIdentifiers are those OpenSSL 3.5 puts in ML-DSA SPKIs (Node 24; Node 20 has no ML-DSA)', (t) => {
  let checked = 0;
  for (const level of ['44', '65', '87'] as const) {
    let spki: Buffer;
    try {
      const gen = generateKeyPairSync as unknown as (type: string) => { publicKey: { export(o: { format: 'der'; type: 'spki' }): Buffer } };
      spki = gen(`ml-dsa-${level}`).publicKey.export({ format: 'der', type: 'spki' });
    } catch {
      continue;
    }
    // SEQUENCE (long form, 4 octets of header) { AlgorithmIdentifier, BIT STRING }.
    const id = byName(`id-ml-dsa-${level}`).algorithmId;
    assert.equal(hexOf(spki.subarray(4, 4 + id.length)), hexOf(id));
    checked++;
  }
  if (checked === 0) t.skip('node:crypto has no ML-DSA here');
});
