// SK/SKF payload protection tests: RFC 7634 Appendix B (IKEv2 ChaCha20-Poly1305 example),
// independent re-computation for AES-CBC+HMAC (RFC 7296 §3.14) and AES-GCM (RFC 5282 §4-§5),
// round trips and tamper detection for every suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { CryptoError, skCipher, espKeyLengths, fromHex, toHex, type SkCipher } from '../../src/crypto/index.js';

const isIntegrity = (e: unknown): boolean => e instanceof CryptoError && e.code === 'INTEGRITY';
const isUnsupported = (e: unknown): boolean => e instanceof CryptoError && e.code === 'UNSUPPORTED';

const SUITES: { label: string; encr: number; bits: number | undefined; integ: number }[] = [
  { label: 'AES-CBC-128/HMAC-SHA2-256-128', encr: 12, bits: 128, integ: 12 },
  { label: 'AES-CBC-256/HMAC-SHA2-256-128', encr: 12, bits: 256, integ: 12 },
  { label: 'AES-CBC-128/HMAC-SHA2-384-192', encr: 12, bits: 128, integ: 13 },
  { label: 'AES-CBC-256/HMAC-SHA2-384-192', encr: 12, bits: 256, integ: 13 },
  { label: 'AES-CBC-256/HMAC-SHA2-512-256', encr: 12, bits: 256, integ: 14 },
  { label: 'AES-CBC-192/HMAC-SHA1-96', encr: 12, bits: 192, integ: 2 },
  { label: 'AES-GCM-16-128', encr: 20, bits: 128, integ: 0 },
  { label: 'AES-GCM-16-256', encr: 20, bits: 256, integ: 0 },
  { label: 'AES-GCM-12-256', encr: 19, bits: 256, integ: 0 },
  { label: 'AES-GCM-8-128', encr: 18, bits: 128, integ: 0 },
  { label: 'ChaCha20-Poly1305', encr: 28, bits: undefined, integ: 0 },
];

function keysFor(c: SkCipher): { encr: Uint8Array; integ: Uint8Array } {
  return { encr: randomBytes(c.encrKeyLength), integ: randomBytes(c.integKeyLength) };
}

test('RFC 7634 Appendix B: IKEv2 INFORMATIONAL with ChaCha20-Poly1305', () => {
  const c = skCipher(28, undefined, 0);
  const key = new Uint8Array(32).map((_, i) => 0x80 + i);
  const keys = { encr: Buffer.concat([key, fromHex('a0a1a2a3')]), integ: new Uint8Array(0) };
  const aad = fromHex('c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d7' + '2e2025000000000900000045' + '29000029');
  const notify = fromHex('0000000c000040010000000a');
  const body = c.seal(keys, aad, notify, { iv: fromHex('1011121314151617'), padding: new Uint8Array(0) });
  // Encrypted Payload body from Appendix B: IV | ciphertext | tag.
  assert.equal(toHex(body),
    '1011121314151617' + '610394701f8d017f7c12924889' + '6b71bfe25236efd7cdc670669063' + '15b2');
  const opened = c.open(keys, aad, body);
  assert.equal(toHex(opened.plain), toHex(notify));
  assert.equal(opened.padding.length, 0);
  assert.equal(toHex(opened.iv), '1011121314151617');
  assert.equal(c.sealedLength(notify.length), body.length);
});

test('AES-CBC + HMAC: body = IV | AES-CBC(plain|pad|padlen) | HMAC(aad|IV|ct) truncated', () => {
  const c = skCipher(12, 256, 13);
  assert.deepEqual([c.encrKeyLength, c.integKeyLength, c.ivLength, c.icvLength, c.blockSize], [32, 48, 16, 24, 16]);
  const keys = keysFor(c);
  const aad = randomBytes(32);
  const plain = randomBytes(37);
  const iv = randomBytes(16);
  const body = c.seal(keys, aad, plain, { iv });
  // Independent construction: 37 + 10 zero pad + pad length 10 = 48 octets.
  const padded = Buffer.concat([plain, Buffer.alloc(10), Buffer.from([10])]);
  const enc = createCipheriv('aes-256-cbc', keys.encr, iv).setAutoPadding(false);
  const ct = Buffer.concat([enc.update(padded), enc.final()]);
  const icv = createHmac('sha384', keys.integ).update(aad).update(iv).update(ct).digest().subarray(0, 24);
  assert.equal(toHex(body), toHex(Buffer.concat([iv, ct, icv])));
  assert.equal(c.sealedLength(37), body.length);
  const o = c.open(keys, aad, body);
  assert.equal(toHex(o.plain), toHex(plain));
  assert.equal(o.padding.length, 10);
  // Re-seal byte for byte from what open() returned.
  assert.deepEqual(Buffer.from(c.seal(keys, aad, o.plain, { iv: o.iv, padding: o.padding })), Buffer.from(body));
});

test('AES-GCM (RFC 5282): nonce = salt | IV, AAD = aad, tag appended', () => {
  const c = skCipher(20, 128, 0);
  assert.deepEqual([c.encrKeyLength, c.integKeyLength, c.ivLength, c.icvLength, c.blockSize], [20, 0, 8, 16, 1]);
  const keys = keysFor(c);
  const aad = randomBytes(32);
  const plain = randomBytes(21);
  const iv = randomBytes(8);
  const body = c.seal(keys, aad, plain, { iv });
  const cipher = createCipheriv('aes-128-gcm', keys.encr.subarray(0, 16), Buffer.concat([keys.encr.subarray(16), iv]));
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.from([0])])), cipher.final()]);
  assert.equal(toHex(body), toHex(Buffer.concat([iv, ct, cipher.getAuthTag()])));
});

test('every suite: seal/open round trip, padding kept, tamper detection', () => {
  for (const s of SUITES) {
    const c = skCipher(s.encr, s.bits, s.integ);
    assert.equal(c.aead, s.integ === 0, s.label);
    const keys = keysFor(c);
    for (const len of [0, 1, 15, 16, 17, 100, 1500]) {
      const aad = randomBytes(32);
      const plain = randomBytes(len);
      const body = c.seal(keys, aad, plain);
      assert.equal(body.length, c.sealedLength(len), `${s.label} len ${len}`);
      assert.equal((body.length - c.ivLength - c.icvLength) % c.blockSize, 0);
      const o = c.open(keys, aad, body);
      assert.equal(toHex(o.plain), toHex(plain), `${s.label} len ${len}`);
      assert.deepEqual(Buffer.from(c.seal(keys, aad, o.plain, { iv: o.iv, padding: o.padding })), Buffer.from(body));

      // Flip one bit anywhere in the body or the AAD.
      for (const pos of [0, c.ivLength, body.length - 1, Math.floor(body.length / 2)]) {
        const t = Uint8Array.from(body);
        t[pos] = (t[pos] as number) ^ 0x01;
        assert.throws(() => c.open(keys, aad, t), isIntegrity, `${s.label} len ${len} pos ${pos}`);
      }
      const a2 = Uint8Array.from(aad);
      a2[3] = (a2[3] as number) ^ 0x80;
      assert.throws(() => c.open(keys, a2, body), isIntegrity, `${s.label} aad`);
      assert.throws(() => c.open(keys, aad, body.subarray(0, body.length - 1)), isIntegrity);
      assert.throws(() => c.open(keys, aad, body.subarray(0, c.ivLength + c.icvLength)), isIntegrity);
      const wrong = keysFor(c);
      assert.throws(() => c.open(wrong, aad, body), isIntegrity, `${s.label} wrong key`);
    }
    // Non-default padding: explicit padding octets survive the round trip.
    const padding = c.blockSize === 1 ? fromHex('aabbcc') : fromHex('0102030405060708090a0b0c0d0e0f'); // 15 octets
    const plain = randomBytes(c.blockSize === 1 ? 5 : 16);
    const body = c.seal(keys, new Uint8Array(0), plain, { padding });
    const o = c.open(keys, new Uint8Array(0), body);
    assert.equal(toHex(o.padding), toHex(padding), s.label);
  }
});

test('open() rejects a pad length larger than the plaintext even when authentic', () => {
  const c = skCipher(20, 256, 0);
  const keys = keysFor(c);
  const aad = new Uint8Array(32);
  // Authentic plaintext "00 05": Pad Length 5 but only one octet precedes it (built with raw GCM).
  const iv = randomBytes(8);
  const g = createCipheriv('aes-256-gcm', keys.encr.subarray(0, 32), Buffer.concat([keys.encr.subarray(32), iv]));
  g.setAAD(aad);
  const ct = Buffer.concat([g.update(fromHex('0005')), g.final()]);
  const body = Buffer.concat([iv, ct, g.getAuthTag()]);
  assert.throws(() => c.open(keys, aad, body), isIntegrity);
});

test('skCipher argument validation', () => {
  assert.throws(() => skCipher(12, 128, 0), isUnsupported); // CBC needs INTEG
  assert.throws(() => skCipher(20, 128, 12), isUnsupported); // AEAD with INTEG
  assert.throws(() => skCipher(12, undefined, 12), isUnsupported); // AES without Key Length
  assert.throws(() => skCipher(12, 512, 12), isUnsupported);
  assert.throws(() => skCipher(28, 128, 0), isUnsupported);
  assert.throws(() => skCipher(3, undefined, 12), isUnsupported); // 3DES not implemented
  assert.equal(skCipher(28, 256, 0).encrKeyLength, 36);
  const c = skCipher(12, 128, 12);
  assert.throws(() => c.seal({ encr: new Uint8Array(15), integ: new Uint8Array(32) }, new Uint8Array(0), new Uint8Array(1)),
    (e: unknown) => e instanceof CryptoError && e.code === 'BAD_KEY');
});

test('espKeyLengths (RFC 7296 §2.17 KEYMAT split sizes)', () => {
  assert.deepEqual(espKeyLengths(20, 256, 0), { encr: 36, integ: 0 });
  assert.deepEqual(espKeyLengths(20, 128, 0), { encr: 20, integ: 0 });
  assert.deepEqual(espKeyLengths(28, undefined, 0), { encr: 36, integ: 0 });
  assert.deepEqual(espKeyLengths(12, 128, 12), { encr: 16, integ: 32 });
  assert.deepEqual(espKeyLengths(12, 256, 14), { encr: 32, integ: 64 });
  assert.deepEqual(espKeyLengths(11, undefined, 12), { encr: 0, integ: 32 });
  assert.throws(() => espKeyLengths(20, 256, 12), isUnsupported);
  assert.throws(() => espKeyLengths(99, 128, 12), isUnsupported);
});
