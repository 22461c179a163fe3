// ML-KEM tests (FIPS 203; draft-ietf-ipsecme-ikev2-mlkem): sizes, round trips on every available
// backend, recipient tests (FIPS 203 §7.2 encapsulation key checks, §7.3 ciphertext check),
// cross-backend agreement (Node >= 24.7 with native ML-KEM), and a known-answer test.
//
// KAT: the C2SP/CCTV "accumulated pq-crystals vectors" procedure (c2sp.org/CCTV/ML-KEM): a
// SHAKE-128 stream with empty input supplies d, z, m and a random ciphertext for each test; ek,
// dk, ct, K and the implicit-rejection K are absorbed into a running SHAKE-128 whose 32-octet
// output is compared with a published value. The published 10 000-test hashes (final FIPS 203)
// are checked with PQIKE_SLOW_TESTS=1 (about a minute with the noble backend); the default run
// checks the first 100 tests, whose hashes were cross-checked against the same run of 10 000.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import {
  CryptoError, keMethod, mlkemBackend, mlkemWith, mlkemAvailableBackends, mlkemNativeAvailable, mlkemFromSeed,
  mlkemCheckEncapsulationKey, toHex, type MlKemLevel,
} from '../../src/crypto/index.js';

const isInvalidKe = (e: unknown): boolean => e instanceof CryptoError && e.code === 'INVALID_KE_DATA';
const LEVELS: MlKemLevel[] = [512, 768, 1024];
const SIZES: Record<MlKemLevel, { id: number; ek: number; ct: number }> = {
  512: { id: 35, ek: 800, ct: 768 },
  768: { id: 36, ek: 1184, ct: 1088 },
  1024: { id: 37, ek: 1568, ct: 1568 },
};
const NOBLE = { 512: ml_kem512, 768: ml_kem768, 1024: ml_kem1024 } as const;

// C2SP/CCTV ML-KEM accumulated vectors, FIPS 203 final: 10 000 tests.
const CCTV_10000: Record<MlKemLevel, string> = {
  512: '705dcffc87f4e67e35a09dcaa31772e86f3341bd3ccf1e78a5fef99ae6a35a13',
  768: 'f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1',
  1024: 'e3bf82b013307b2e9d47dde791ff6dfc82e694e6382404abdb948b908b75bad5',
};
// Same procedure, first 100 tests (also published by third-party ML-KEM test suites).
const CCTV_100: Record<MlKemLevel, string> = {
  512: '449120c6e320ef3e9fbfa2316e5f2d2e1e6dd37d8ff5d086d5d2db7d42aff0a1',
  768: '8d65b902f28edc683cebee2872962fd165a4d197c9e24ec74caa4470270df0b7',
  1024: 'c3ffe9ebecfa479c142656cbfbc6417efa05b77e994fe538eef4daed166363df',
};

console.log(`# ML-KEM backends available: ${mlkemAvailableBackends().join(', ')}; default: ${mlkemBackend()}`);

test('default backend: node when native ML-KEM works, else noble', () => {
  assert.equal(mlkemBackend(), mlkemNativeAvailable() ? 'node' : 'noble');
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 24) assert.equal(mlkemNativeAvailable(), false);
  if (major > 24 || (major === 24 && minor >= 7)) assert.equal(mlkemNativeAvailable(), true);
});

for (const backend of mlkemAvailableBackends()) {
  test(`${backend}: round trip and sizes for ML-KEM-512/768/1024`, () => {
    for (const level of LEVELS) {
      const m = mlkemWith(backend, level);
      assert.equal(m.id, SIZES[level].id);
      assert.equal(m.initiatorValueLength, SIZES[level].ek);
      assert.equal(m.responderValueLength, SIZES[level].ct);
      const ini = m.initiate();
      assert.equal(ini.publicValue.length, SIZES[level].ek);
      const res = m.respond(ini.publicValue);
      assert.equal(res.publicValue.length, SIZES[level].ct);
      assert.equal(res.sharedSecret.length, 32);
      assert.equal(toHex(ini.finish(res.publicValue)), toHex(res.sharedSecret));
      // A modified ciphertext of the right length is implicitly rejected: a different secret.
      const ct = Uint8Array.from(res.publicValue);
      ct[7] = (ct[7] as number) ^ 0x10;
      assert.notEqual(toHex(ini.finish(ct)), toHex(res.sharedSecret));
    }
  });

  test(`${backend}: recipient tests (FIPS 203 §7.2 / §7.3) → INVALID_KE_DATA`, () => {
    for (const level of LEVELS) {
      const m = mlkemWith(backend, level);
      const ini = m.initiate();
      const ek = ini.publicValue;
      // §7.2 type check: wrong lengths.
      assert.throws(() => m.respond(ek.subarray(1)), isInvalidKe);
      assert.throws(() => m.respond(new Uint8Array(ek.length + 1)), isInvalidKe);
      assert.throws(() => m.respond(new Uint8Array(0)), isInvalidKe);
      // §7.2 modulus check: coefficient 0 set to q = 3329 (0xD01) ...
      const badQ = Uint8Array.from(ek);
      badQ[0] = 0x01;
      badQ[1] = ((badQ[1] as number) & 0xf0) | 0x0d;
      assert.throws(() => m.respond(badQ), isInvalidKe, `${backend} ${level}: coefficient q`);
      // ... and the last coefficient of the last polynomial set to 4095.
      const badMax = Uint8Array.from(ek);
      const end = ek.length - 32;
      badMax[end - 2] = (badMax[end - 2] as number) | 0xf0;
      badMax[end - 1] = 0xff;
      assert.throws(() => m.respond(badMax), isInvalidKe, `${backend} ${level}: coefficient 4095`);
      assert.throws(() => mlkemCheckEncapsulationKey(level, badMax), isInvalidKe);
      // The 32-octet seed rho at the end is not subject to the modulus check.
      const rhoFF = Uint8Array.from(ek);
      rhoFF.fill(0xff, end);
      assert.equal(m.respond(rhoFF).publicValue.length, SIZES[level].ct);
      // §7.3 ciphertext type check.
      const res = m.respond(ek);
      assert.throws(() => ini.finish(res.publicValue.subarray(1)), isInvalidKe);
      assert.throws(() => ini.finish(new Uint8Array(res.publicValue.length + 1)), isInvalidKe);
    }
  });
}

test('modulus check accepts every coefficient < q and rejects every value in [q, 4095]', () => {
  const ek = new Uint8Array(800); // ML-KEM-512: all-zero coefficients are valid
  mlkemCheckEncapsulationKey(512, ek);
  for (let c = 3320; c < 4096; c++) {
    const e = new Uint8Array(800);
    // coefficient 1 of the first pair: bits 12..23 of the first 3 octets
    e[1] = (c & 0x0f) << 4;
    e[2] = c >> 4;
    if (c < 3329) mlkemCheckEncapsulationKey(512, e);
    else assert.throws(() => mlkemCheckEncapsulationKey(512, e), isInvalidKe, String(c));
  }
});

test('native and noble agree (encapsulate on one, decapsulate on the other)', (t) => {
  if (!mlkemNativeAvailable()) {
    t.skip('node:crypto has no ML-KEM in this Node version');
    return;
  }
  for (const level of LEVELS) {
    const nodeM = mlkemWith('node', level);
    const nobleM = mlkemWith('noble', level);
    for (const [a, b] of [[nodeM, nobleM], [nobleM, nodeM]] as const) {
      const ini = a.initiate();
      const res = b.respond(ini.publicValue);
      assert.equal(toHex(ini.finish(res.publicValue)), toHex(res.sharedSecret), `level ${level}`);
    }
  }
});

/** The C2SP/CCTV accumulated test; `backend` decides who does keygen and decaps. */
function cctvAccumulated(level: MlKemLevel, count: number, backend: 'noble' | 'node'): string {
  const kem = NOBLE[level];
  const ctLen = SIZES[level].ct;
  const per = 32 + 32 + 32 + ctLen;
  const rng = createHash('shake128', { outputLength: count * per }).digest();
  const acc = createHash('shake128', { outputLength: 32 });
  for (let i = 0; i < count; i++) {
    const o = i * per;
    const dz = rng.subarray(o, o + 64);
    const m = rng.subarray(o + 64, o + 96);
    const badCt = rng.subarray(o + 96, o + per);
    const { publicKey, secretKey } = kem.keygen(dz);
    const { cipherText, sharedSecret } = kem.encapsulate(publicKey, m);
    if (backend === 'node') {
      // Same keys from the same seed in node:crypto; decapsulation must give the same results.
      const native = mlkemFromSeed('node', level, dz);
      assert.equal(toHex(native.publicValue), toHex(publicKey));
      assert.equal(toHex(native.finish(cipherText)), toHex(sharedSecret));
      acc.update(native.publicValue).update(secretKey).update(cipherText).update(sharedSecret).update(native.finish(badCt));
    } else {
      const ours = mlkemFromSeed('noble', level, dz);
      assert.equal(toHex(ours.finish(cipherText)), toHex(sharedSecret));
      acc.update(publicKey).update(secretKey).update(cipherText).update(sharedSecret).update(ours.finish(badCt));
    }
  }
  return acc.digest('hex');
}

test('KAT: C2SP/CCTV accumulated ML-KEM vectors (noble; plus node:crypto keygen/decaps when native)', () => {
  const slow = process.env['PQIKE_SLOW_TESTS'] === '1';
  for (const level of LEVELS) {
    const count = slow ? 10000 : 100;
    const want = slow ? CCTV_10000[level] : CCTV_100[level];
    assert.equal(cctvAccumulated(level, count, 'noble'), want, `noble, ML-KEM-${level}, ${count} tests`);
    if (mlkemNativeAvailable()) {
      assert.equal(cctvAccumulated(level, Math.min(count, 100), 'node'), CCTV_100[level], `node, ML-KEM-${level}`);
    }
  }
});

test('keMethod(35/36/37) uses the default backend', () => {
  for (const level of LEVELS) {
    const m = keMethod(SIZES[level].id);
    const ini = m.initiate();
    const res = mlkemWith('noble', level).respond(ini.publicValue);
    assert.equal(toHex(ini.finish(res.publicValue)), toHex(res.sharedSecret));
  }
});
