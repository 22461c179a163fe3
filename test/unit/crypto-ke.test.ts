// KE method tests: RFC 5903 §8 (ECP), RFC 7748 §6 / RFC 8031 Appendix A (X25519/X448),
// RFC 3526 (MODP primes), RFC 6989 / RFC 8031 §3.2 recipient checks, round trips for every method.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDiffieHellman } from 'node:crypto';
import {
  CryptoError, keMethod, supportedKeMethods, ecpFromPrivate, ecxFromPrivate, fromHex, toHex,
} from '../../src/crypto/index.js';

const isInvalidKe = (e: unknown): boolean => e instanceof CryptoError && e.code === 'INVALID_KE_DATA';

// RFC 5903 §8.1-§8.3: private keys i/r, public values (x, y), shared secret girx.
const ECP_VECTORS = [
  { id: 19, i: 'c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433', gix: 'dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180', giy: '5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3',
    r: 'c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53', grx: 'd12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63', gry: '56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab',
    girx: 'd6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de' },
  { id: 20, i: '099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194', gix: '667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa', giy: '9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c',
    r: '41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc', grx: 'e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571', gry: 'dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c',
    girx: '11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746' },
  { id: 21, i: '0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072462f68c27a57382d4a52', gix: '0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e', giy: '017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f1507438bf01beb6ca3926f9582',
    r: '0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4effc311f5cb151685eb9', grx: '00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f', gry: '015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f4732296579ab44fcd17f0fc56a',
    girx: '01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151f2bee417996d19f3ddea' },
];

// RFC 3526 §3-§5 primes (hex as printed in the RFC).
const RFC3526_PRIMES: Record<number, string> = {
  14: (
    'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd' +
    'ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed' +
    'ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f' +
    '83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b' +
    'e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510' +
    '15728e5a8aacaa68ffffffffffffffff'),
  15: (
    'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd' +
    'ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed' +
    'ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f' +
    '83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b' +
    'e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510' +
    '15728e5a8aaac42dad33170d04507a33a85521abdf1cba64ecfb850458dbef0a8aea71575d060c7db3970f85a6e1e4c7' +
    'abf5ae8cdb0933d71e8c94e04a25619dcee3d2261ad2ee6bf12ffa06d98a0864d87602733ec86a64521f2b18177b200c' +
    'bbe117577a615d6c770988c0bad946e208e24fa074e5ab3143db5bfce0fd108e4b82d120a93ad2caffffffffffffffff'),
  16: (
    'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd' +
    'ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed' +
    'ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f' +
    '83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b' +
    'e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510' +
    '15728e5a8aaac42dad33170d04507a33a85521abdf1cba64ecfb850458dbef0a8aea71575d060c7db3970f85a6e1e4c7' +
    'abf5ae8cdb0933d71e8c94e04a25619dcee3d2261ad2ee6bf12ffa06d98a0864d87602733ec86a64521f2b18177b200c' +
    'bbe117577a615d6c770988c0bad946e208e24fa074e5ab3143db5bfce0fd108e4b82d120a92108011a723c12a787e6d7' +
    '88719a10bdba5b2699c327186af4e23c1a946834b6150bda2583e9ca2ad44ce8dbbbc2db04de8ef92e8efc141fbecaa6' +
    '287c59474e6bc05d99b2964fa090c3a2233ba186515be7ed1f612970cee2d7afb81bdd762170481cd0069127d5b05aa9' +
    '93b4ea988d8fddc186ffb7dc90a6c08f4df435c934063199ffffffffffffffff'),
};

test('RFC 5903 §8: ECP 19/20/21 public values and shared secret', () => {
  for (const v of ECP_VECTORS) {
    const ini = ecpFromPrivate(v.id, fromHex(v.i));
    const res = ecpFromPrivate(v.id, fromHex(v.r));
    assert.equal(toHex(ini.publicValue), v.gix + v.giy, `KEi data, group ${v.id}`);
    assert.equal(toHex(res.publicValue), v.grx + v.gry, `KEr data, group ${v.id}`);
    assert.equal(toHex(ini.finish(res.publicValue)), v.girx, `initiator secret, group ${v.id}`);
    assert.equal(toHex(res.finish(ini.publicValue)), v.girx, `responder secret, group ${v.id}`);
  }
});

test('ECP: rejects bad length, off-curve, zero and out-of-range coordinates (RFC 6989 §2.3)', () => {
  for (const v of ECP_VECTORS) {
    const m = keMethod(v.id);
    const good = fromHex(v.grx + v.gry);
    assert.throws(() => m.respond(good.subarray(1)), isInvalidKe);
    assert.throws(() => m.initiate().finish(new Uint8Array(good.length + 1)), isInvalidKe);
    const offCurve = Uint8Array.from(good);
    offCurve[offCurve.length - 1] ^= 1;
    assert.throws(() => m.respond(offCurve), isInvalidKe, `off-curve, group ${v.id}`);
    assert.throws(() => m.initiate().finish(offCurve), isInvalidKe);
    assert.throws(() => m.respond(new Uint8Array(good.length)), isInvalidKe, `(0,0), group ${v.id}`);
    const ff = new Uint8Array(good.length).fill(0xff);
    assert.throws(() => m.respond(ff), isInvalidKe, `coordinates >= p, group ${v.id}`);
  }
});

test('RFC 7748 §6.1 X25519 and §6.2 X448 vectors', () => {
  const a25519 = ecxFromPrivate(31, fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const b25519 = ecxFromPrivate(31, fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  assert.equal(toHex(a25519.publicValue), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(toHex(b25519.publicValue), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(a25519.finish(b25519.publicValue)), k);
  assert.equal(toHex(b25519.finish(a25519.publicValue)), k);

  const a448 = ecxFromPrivate(32, fromHex(
    '9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b'));
  const b448 = ecxFromPrivate(32, fromHex(
    '1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d'));
  assert.equal(toHex(a448.publicValue),
    '9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0');
  assert.equal(toHex(b448.publicValue),
    '3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609');
  const k448 = '07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d';
  assert.equal(toHex(a448.finish(b448.publicValue)), k448);
  assert.equal(toHex(b448.finish(a448.publicValue)), k448);
});

test('RFC 8031 Appendix A: X25519 numerical example for IKEv2', () => {
  // random_i / random_r as generated; X25519 clamps them (RFC 7748 §5) to fixed_i / fixed_r.
  const i = ecxFromPrivate(31, fromHex('751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d94'));
  const r = ecxFromPrivate(31, fromHex('0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688'));
  assert.equal(toHex(i.publicValue), '48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766');
  assert.equal(toHex(r.publicValue), '0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25');
  const ss = 'c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950';
  assert.equal(toHex(i.finish(r.publicValue)), ss);
  assert.equal(toHex(r.finish(i.publicValue)), ss);
});

test('X25519/X448: small-order points give an all-zero secret and are rejected (RFC 8031 §3.2)', () => {
  const zero32 = new Uint8Array(32);
  const one32 = new Uint8Array(32); one32[0] = 1;
  // u = 0 and u = 1 are small-order points on Curve25519 (RFC 7748 §7).
  for (const p of [zero32, one32]) {
    assert.throws(() => keMethod(31).respond(p), isInvalidKe);
    assert.throws(() => keMethod(31).initiate().finish(p), isInvalidKe);
  }
  assert.throws(() => keMethod(32).respond(new Uint8Array(56)), isInvalidKe);
  assert.throws(() => keMethod(31).respond(new Uint8Array(31)), isInvalidKe);
  assert.throws(() => keMethod(32).respond(new Uint8Array(32)), isInvalidKe);
});

test('MODP 14/15/16 use the RFC 3526 primes', () => {
  for (const g of [14, 15, 16]) {
    const node = getDiffieHellman(`modp${g}` as 'modp14').getPrime('hex');
    assert.equal(node, RFC3526_PRIMES[g]);
  }
});

test('MODP 14: round trip and rejection of y=0, 1, p-1, p and wrong length (RFC 6989 §2.1)', () => {
  const m = keMethod(14);
  const ini = m.initiate();
  assert.equal(ini.publicValue.length, 256);
  const res = m.respond(ini.publicValue);
  assert.equal(res.publicValue.length, 256);
  assert.equal(res.sharedSecret.length, 256);
  assert.deepEqual(ini.finish(res.publicValue), res.sharedSecret);

  const p = BigInt('0x' + RFC3526_PRIMES[14]);
  const enc = (n: bigint): Uint8Array => fromHex(n.toString(16).padStart(512, '0'));
  for (const bad of [0n, 1n, p - 1n, p, p + 1n]) {
    assert.throws(() => m.respond(enc(bad)), isInvalidKe, `y = ${bad === 0n || bad === 1n ? bad : 'p+' + String(bad - p)}`);
    assert.throws(() => m.initiate().finish(enc(bad)), isInvalidKe);
  }
  // y = 2 and y = p-2 are within range and pass our range check (RFC 6989 §2.1). p-2 is not a
  // square mod p, so an OpenSSL that also checks the prime-order subgroup (3.5, in Node 22.23)
  // refuses it afterwards: either outcome, but never a value outside the range or a crash.
  assert.equal(m.respond(enc(2n)).sharedSecret.length, 256);
  try {
    assert.equal(m.respond(enc(p - 2n)).sharedSecret.length, 256);
  } catch (e) {
    assert.ok(isInvalidKe(e) && /peer public value rejected/.test((e as Error).message), String(e));
  }
  assert.throws(() => m.respond(ini.publicValue.subarray(1)), isInvalidKe);
});

test('every supported KE method: round trip, value lengths, metadata', () => {
  const names: Record<number, string> = {
    14: 'modp2048', 15: 'modp3072', 16: 'modp4096', 19: 'ecp256', 20: 'ecp384', 21: 'ecp521',
    31: 'x25519', 32: 'x448', 35: 'mlkem512', 36: 'mlkem768', 37: 'mlkem1024',
  };
  assert.deepEqual(supportedKeMethods(), Object.keys(names).map(Number));
  for (const id of supportedKeMethods()) {
    const m = keMethod(id);
    assert.equal(m.id, id);
    assert.equal(m.name, names[id]);
    const ini = m.initiate();
    assert.equal(ini.publicValue.length, m.initiatorValueLength, m.name);
    const res = m.respond(ini.publicValue);
    assert.equal(res.publicValue.length, m.responderValueLength, m.name);
    assert.deepEqual(ini.finish(res.publicValue), res.sharedSecret, m.name);
    assert.ok(res.sharedSecret.some((b) => b !== 0), m.name);
  }
});

test('unknown KE method → CryptoError UNSUPPORTED', () => {
  for (const id of [0, 1, 2, 5, 17, 18, 33, 34, 38, 1024]) {
    assert.throws(() => keMethod(id), (e: unknown) => e instanceof CryptoError && e.code === 'UNSUPPORTED');
  }
});
