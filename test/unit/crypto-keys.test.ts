// Key schedule tests against strongSwan 6.0.6 (test/vectors/data/strongswan-6.0.6/
// psk-x25519-mlkem768: IKE aes256gcm16-prfsha384-x25519-ke1_mlkem768, PSK auth), using the
// values moon (initiator) logged. Checks RFC 7296 §2.14 SKEYSEED/SK_*, RFC 9370 §2.2.2
// SKEYSEED(1) after IKE_INTERMEDIATE, RFC 9242 §3.3.2 IntAuth (A|P rebuilt from the capture,
// because strongSwan cuts dumps after 1008 octets), RFC 7296 §2.15 + RFC 9242 §3.3.2 AUTH,
// RFC 7296 §2.17 / RFC 9370 §2.2.4 Child SA KEYMAT and RFC 9370 §2.2.4 IKE SA rekey.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  skeyseedInit, skeyseedIntermediate, skeyseedRekey, deriveIkeSaKeys, childKeymat, intAuthStep, pskAuth,
  signedOctets, skCipher, prf, prfPlus, fromHex, toHex, type IkeSaKeys,
} from '../../src/crypto/index.js';
import { readIkeDatagrams } from '../vectors/pcap.js';

const PRF_SHA384 = 6;
const SIZES = { encr: 36, integ: 0 }; // AES-GCM-256: 32-octet key + 4-octet salt (RFC 5282 §7.1)
const SPI_I = fromHex('6bf2fbc36c6d493a');
const SPI_R = fromHex('6b826a03f0cefd13');
const NONCES = fromHex('87105691ae9fc3dafea686aae3ab76c9aaf92e511828f7690d80339947d69ca6' +
  '2f348540dffbb87c1dfa05db4a7abdb9877618d3885d990bad7ab45d884883f0');
const NI = NONCES.subarray(0, 32);
const NR = NONCES.subarray(32);
const PSK = Buffer.from('strongswan-oracle-psk-0123456789', 'ascii');

interface Stage { ke: string; skeyseed: string; skD: string; skEi: string; skEr: string; skPi: string; skPr: string }

// After IKE_SA_INIT: 'key exchange secret' is the X25519 secret.
const STAGE0: Stage = {
  ke: 'd883e7da19ac06d35cf62068205ba1265995a059a073e45b1f8e39c4ea729a3d',
  skeyseed: '333c9d89a0d544c2db8786be10fdec7c05c5472d387b1de521061bf4275f0893e303e721ba688098e6660c1d86ed6cbe',
  skD: '03a4caa6073eac1700d3b52d16c9a92b6036f79383f0df967d0a069ff24bb599718040afb91a941e0d7af99d02e17987',
  skEi: '7ca8a817a1156846a721e490d5c1bf65567e5df1ab8e4b56d5b870ca3f48b2fe8ac344f8',
  skEr: 'ca6bf8d66304dd38108ea782b1b60370aee09a0d491221d5054d57af2798e14393e8cb56',
  skPi: 'e0fd5169cdf244c9fa2f61d53cd23b7bbd85161acd6fd2a72ec13750163271f41ee935dbe5956ea6e3001b2620c10312',
  skPr: '9f38ad62e7935cd5c727e2958b5f6769b182b103345a782d73875734d46f4e6d442d6d80b8249e7bdbc75c321cbc72a2',
};
// After IKE_INTERMEDIATE 1: 'key exchange secret' is the ML-KEM-768 secret.
const STAGE1: Stage = {
  ke: '6d76a703c4fc3ae2433e4facb7da06583354abc478bf52bc800038b4fda0dfdf',
  skeyseed: 'e0e45633fe7fbde614e641f5b56b2334a51b76a332469109c1e8a55cd278a3ba12784e63981bc5bc32d671debc998c72',
  skD: '47d17be07808afd3bb79c41cf1ecd60b2748ca098e1ffa5c975be1f5008bbba5fdc44616f368bcf4dae76679dfba25ff',
  skEi: 'f57c5938d4012df30e4cac30a063721c6e9796984652bed290141905dd8bf9aa4d083f33',
  skEr: '8867545ee37bd15b925498b31abb57e291b42563aa7b57ad35c89a8dbd8a59886d5edc97',
  skPi: '11736d2abd4bbd890f496dfcab3e53f570fae42039b054f9b20cf8c741c1c45d391f686778859705238f23256927c465',
  skPr: 'c3e770be448e3c15d168db5d4708641adc700db891f3ed185e7e103a5f66d574ef445d7bbe010a66a511762fc17dd115',
};

const INTAUTH_I = 'a2c34ab8e68936e6d3b17633c510ff8a00e984fce35ba12a8f6141e8265886c4a0ba6733960908fa1c7f2c5183a239c7';
const INTAUTH_R = '247aba383ebd327970d6d9963d7e324ffb50aa87c3a4046791f554ca4c09ceca097aa035a4fca6cfb915ffdb25e72bb8';
// First octets of the logged A|P (strongSwan prints at most 1008 octets of the 1224 / 1128).
const AP_I_PREFIX = '6bf2fbc36c6d493a6b826a03f0cefd132e202b0800000001000004c8220004ac000004a80024000049b1cb5421922d8a40';
const AP_R_PREFIX = '6bf2fbc36c6d493a6b826a03f0cefd132e202b2000000001000004682200044c0000044800240000829d494a98ea3edfa4';

function checkStage(keys: IkeSaKeys, s: Stage, label: string): void {
  assert.equal(toHex(keys.skD), s.skD, `${label} SK_d`);
  assert.equal(keys.skAi.length + keys.skAr.length, 0, `${label} SK_a (AEAD: none)`);
  assert.equal(toHex(keys.skEi), s.skEi, `${label} SK_ei`);
  assert.equal(toHex(keys.skEr), s.skEr, `${label} SK_er`);
  assert.equal(toHex(keys.skPi), s.skPi, `${label} SK_pi`);
  assert.equal(toHex(keys.skPr), s.skPr, `${label} SK_pr`);
}

function stage0(): IkeSaKeys {
  return deriveIkeSaKeys(PRF_SHA384, skeyseedInit(PRF_SHA384, NI, NR, fromHex(STAGE0.ke)), NI, NR, SPI_I, SPI_R, SIZES);
}
function stage1(): IkeSaKeys {
  const seed = skeyseedIntermediate(PRF_SHA384, stage0().skD, fromHex(STAGE1.ke), NI, NR);
  return deriveIkeSaKeys(PRF_SHA384, seed, NI, NR, SPI_I, SPI_R, SIZES);
}

test('RFC 7296 §2.14: SKEYSEED and SK_* after IKE_SA_INIT (X25519)', () => {
  const seed = skeyseedInit(PRF_SHA384, NI, NR, fromHex(STAGE0.ke));
  assert.equal(toHex(seed), STAGE0.skeyseed);
  checkStage(stage0(), STAGE0, 'stage 0');
});

test('IKE SA keys hold only their own octets: not a slice of a shared pool slab, and AEAD empty SK_a shared', () => {
  // An SA keeps its keys for its lifetime: a slice of Node's 8 KiB Buffer pool would keep the
  // whole slab alive with it (bench/scale.ts measured 1.3 KB per SA).
  const k = stage0();
  const total = 3 * 48 + 2 * SIZES.encr;
  assert.ok(k.skD.buffer.byteLength < total + 48, `SK_d's buffer is ${k.skD.buffer.byteLength} octets for ${total} octets of keys`);
  assert.equal(k.skPr.buffer, k.skD.buffer, 'all keys are views of one buffer');
  assert.equal(k.skAi, k.skAr, 'empty SK_ai and SK_ar are one shared view');
  assert.equal(k.skAi, stage1().skAi, 'and the same for every SA');
});

test('RFC 9370 §2.2.2: SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni | Nr) after IKE_INTERMEDIATE (ML-KEM-768)', () => {
  const seed = skeyseedIntermediate(PRF_SHA384, fromHex(STAGE0.skD), fromHex(STAGE1.ke), NI, NR);
  assert.equal(toHex(seed), STAGE1.skeyseed);
  checkStage(stage1(), STAGE1, 'stage 1');
});

function captureDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const sub = join('strongswan-6.0.6', 'psk-x25519-mlkem768');
  for (const root of [resolve(here, '../vectors/data'), resolve(here, '../../../test/vectors/data')]) {
    if (existsSync(join(root, sub, 'capture.pcap'))) return join(root, sub);
  }
  throw new Error('strongSwan capture not found under test/vectors/data');
}

/** IKE messages of the IKE SA 6bf2fbc36c6d493a by (exchange type, message ID, response flag). */
function ikeMessages(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const d of readIkeDatagrams(new Uint8Array(readFileSync(join(captureDir(), 'capture.pcap'))))) {
    const b = d.bytes;
    if (b.length < 28 || toHex(b.subarray(0, 8)) !== toHex(SPI_I)) continue;
    const exch = b[18] as number;
    const resp = ((b[19] as number) & 0x20) !== 0;
    const mid = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(20);
    out.set(`${exch}/${mid}/${resp ? 'r' : 'i'}`, b);
  }
  return out;
}

/**
 * RFC 9242 §3.3.2: A = the message from the IKE header through the SK payload header, with the
 * Length fields as if the SK payload held only the inner payloads P (no IV, padding, ICV).
 * Also decrypts the SK payload with our AES-GCM-256 (RFC 5282) to get P.
 */
function intAuthAp(msg: Uint8Array, skE: Uint8Array): Buffer {
  assert.equal(msg[16], 46, 'first payload is SK');
  const aad = msg.subarray(0, 32);
  const { plain } = skCipher(20, 256, 0).open({ encr: skE, integ: new Uint8Array(0) }, aad, msg.subarray(32));
  const a = Buffer.from(aad);
  a.writeUInt32BE(32 + plain.length, 24);
  a.writeUInt16BE(4 + plain.length, 30);
  return Buffer.concat([a, plain]);
}

test('RFC 9242 §3.3.2: IntAuth_i / IntAuth_r of IKE_INTERMEDIATE 1 (SK decrypted from the capture)', () => {
  const msgs = ikeMessages();
  const req = msgs.get('43/1/i');
  const res = msgs.get('43/1/r');
  assert.ok(req !== undefined && res !== undefined, 'IKE_INTERMEDIATE messages in the capture');
  const k0 = stage0();
  const apI = intAuthAp(req, k0.skEi);
  const apR = intAuthAp(res, k0.skEr);
  assert.equal(apI.length, 1224);
  assert.equal(apR.length, 1128);
  assert.ok(toHex(apI).startsWith(AP_I_PREFIX));
  assert.ok(toHex(apR).startsWith(AP_R_PREFIX));
  // SK_pi / SK_pr in force during the exchange: those of stage 0.
  assert.equal(toHex(intAuthStep(PRF_SHA384, k0.skPi, new Uint8Array(0), apI)), INTAUTH_I);
  assert.equal(toHex(intAuthStep(PRF_SHA384, k0.skPr, new Uint8Array(0), apR)), INTAUTH_R);
  // Chaining (a further exchange would feed the previous value in front of A|P).
  assert.equal(toHex(intAuthStep(PRF_SHA384, k0.skPi, fromHex(INTAUTH_I), apI)),
    toHex(prf(PRF_SHA384, k0.skPi, Buffer.concat([fromHex(INTAUTH_I), apI]))));
});

test('RFC 7296 §2.15 + RFC 9242 §3.3.2: signed octets and PSK AUTH of both peers', () => {
  const msgs = ikeMessages();
  const init = msgs.get('34/0/i');
  const initResp = msgs.get('34/0/r');
  assert.ok(init !== undefined && initResp !== undefined);
  const k1 = stage1();
  const intAuth = { i: fromHex(INTAUTH_I), r: fromHex(INTAUTH_R), mid: 2 };

  const octI = signedOctets(init, NR, PRF_SHA384, k1.skPi, fromHex('020000006d6f6f6e2e6578616d706c652e6f7267'), intAuth);
  assert.equal(octI.length, 428);
  assert.ok(toHex(octI).endsWith(
    '2f348540dffbb87c1dfa05db4a7abdb9877618d3885d990bad7ab45d884883f0' + // Nr
    '513801c90ed0b58840ea3ae1bb68ab0a51084c5726c07c7929907c143a1492a7ba42ceb830bd02f1e08cf90b480d74f7' + // prf(SK_pi, IDi')
    INTAUTH_I + INTAUTH_R + '00000002'));
  assert.equal(toHex(pskAuth(PRF_SHA384, PSK, octI)),
    '48b73b1a0e44e04c9eb7b6253ba8e4960a032960ab9cbc64fde7976285076bbc5a168d9d80757bf3502910fd5e05e758');

  const octR = signedOctets(initResp, NI, PRF_SHA384, k1.skPr, fromHex('0200000073756e2e6578616d706c652e6f7267'), intAuth);
  assert.equal(octR.length, 436);
  assert.equal(toHex(pskAuth(PRF_SHA384, PSK, octR)),
    '9b84bea375d813d92d32b978347289cbfe27efd31b8dbf124e00ced903a75a8155bd9f29304087c148d9c47d2a46ef4e');
  // Without IKE_INTERMEDIATE the IntAuth part is absent (RFC 7296 §2.15).
  assert.equal(signedOctets(init, NR, PRF_SHA384, k1.skPi, fromHex('02000000'), undefined).length, init.length + 32 + 48);
});

test('RFC 7296 §2.17 / RFC 9370 §2.2.4: Child SA KEYMAT (first Child SA, then rekey with X25519 + ML-KEM-768)', () => {
  const skD = stage1().skD;
  const first = childKeymat(PRF_SHA384, skD, [], NI, NR, 72);
  assert.equal(toHex(first.subarray(0, 36)), '356d3d245a3cc0f8c03770be86ea8bfe9296e69013a66912239fd07fbfd1e37b8b8e19ca');
  assert.equal(toHex(first.subarray(36)), '30eb5ecc5ced83cdd2fdfb524425faee1106b33a6ec457304283df6512dd739ca25c0561');

  const ni = fromHex('36d8a3fd206ec0504290978a231f41b7671a1ea21310b3b9ccaa7fc53413a4da');
  const nr = fromHex('565a827a9ab9e5d5e25802cc540b7e5259cfe9699edef111a73c9cb51c4d26ad');
  const sk0 = fromHex('c745536a91ed7c23b1ed1e678c7acb07a24b15121159b2a7bef3cc87cee3a734'); // X25519
  const sk1 = fromHex('490a0a002b9d640a657da528454d5d613c05f02b41eb1eabc1e832737fdaa1d1'); // ML-KEM-768
  const rekey = childKeymat(PRF_SHA384, skD, [sk0, sk1], ni, nr, 72);
  assert.equal(toHex(rekey.subarray(0, 36)), '965a26c7e5ff0881e04d778525f58316ae4000e5114a029b953d739e366ebb4ebcfa2356');
  assert.equal(toHex(rekey.subarray(36)), '6ae177c16b641df1a82b737898211515a6f9d66341d86dc9e9720eb0577f4e4219bdab29');
});

test('RFC 7296 §2.18 / RFC 9370 §2.2.4: IKE SA rekey SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(1))', () => {
  const skDOld = stage1().skD;
  const nonces = fromHex('9dbb48a92f6f51068de531fba49955983c05701b76f435a09401b6a4f02922a2' +
    '66cb37bb594f2606cf7e85b9393c282369ad87dbb988dd9a11e74ad2f2fcebe9');
  const ni = nonces.subarray(0, 32);
  const nr = nonces.subarray(32);
  const secrets = [
    fromHex('2e1f2df9b3557ae19440cffd51267a1547076bf34769f416d741b5d73cde1d0b'),
    fromHex('e39dc7b4063f0c07e0b23021d27266d263d74c062de886b150d29b3fda55f164'),
  ];
  const seed = skeyseedRekey(PRF_SHA384, skDOld, secrets, ni, nr);
  assert.equal(toHex(seed), '19448f5e09454cd9b1f3f883c8f274a6be3b7811a216e8447535d03d47f548cb8341febddea07c2c4264ba8b2b8c4f12');
  const keys = deriveIkeSaKeys(PRF_SHA384, seed, ni, nr, fromHex('be7d08b674f0a54a'), fromHex('cb90c39eab551ff4'), SIZES);
  checkStage(keys, {
    ke: '', skeyseed: '',
    skD: '8e8770ce0e96fd7fb730d73a4b7b414e806154278a6b8c3e045238f7fd3aa085f9d80f40624f1ac20a3d0eea5601da20',
    skEi: 'd57e6285662ed665873b71097b8eb84fc45251560bad1656b331f3b3e09955b0994e5efb',
    skEr: 'cf230c4175eedc89c5b9ee06f96dba2abfda50870033dc5296ea9b3457e028636cc32bd0',
    skPi: '376b41674e434762cd3bc99053a524d94ab68d04fa4aa1f5f6b7a3ec2724c0667b7a1c1f2be5089c3595469b2e059ff1',
    skPr: 'd743c2c78c3b138c2eeb27856f878d2544fad113dd07831faea1b080a092c048b6abf28a6f5ec0a9b0ea26596f1c99f8',
  }, 'rekeyed IKE SA');
});

test('deriveIkeSaKeys with INTEG keys: layout SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr', () => {
  const seed = fromHex('00112233445566778899aabbccddeeff');
  const k = deriveIkeSaKeys(5, seed, NI, NR, SPI_I, SPI_R, { encr: 16, integ: 32 });
  const flat = Buffer.concat([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr]);
  assert.equal(flat.length, 32 * 3 + 32 * 2 + 16 * 2);
  assert.equal(toHex(flat), toHex(prfPlus(5, seed, [NI, NR, SPI_I, SPI_R], flat.length)));
});
