/**
 * Curve25519 / Curve448 groups 31, 32 (RFC 8031) via node:crypto X25519/X448.
 *
 * RFC 8031 §3.1: KE data is the 32 (X25519) or 56 (X448) octet public value of RFC 7748 §5;
 * the shared secret is the raw X25519/X448 output. §3.2: the recipient MUST check the
 * result is not all zeros (small-order peer points) → INVALID_KE_DATA.
 *
 * Public values cross node:crypto in the cheapest form this Node offers: 'raw-public' export
 * and import where available (Node 24: 1 µs vs 21 µs for a DER export; the import without
 * stack traces, util.ts rawPublicKey); otherwise export as
 * SPKI DER (never JWK: JWK export of fresh X25519 keys can hang on Node 20) and import as JWK
 * (Node 20: 8 µs vs 58 µs for DER). Private keys for the test hook use fixed PKCS#8 prefixes.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { CryptoError } from './errors.js';
import type { KeInitiatorState, KeMethod } from './ke.js';
import { isAllZero, rawPublicKey } from './util.js';

interface EcxParams {
  name: string;
  type: 'x25519' | 'x448';
  len: number;
  spkiPrefix: Buffer;
  pkcs8Prefix: Buffer;
}

const PARAMS: Record<number, EcxParams> = {
  31: {
    name: 'x25519',
    type: 'x25519',
    len: 32,
    // SEQUENCE { SEQUENCE { OID 1.3.101.110 } BIT STRING (32 octets) }
    spkiPrefix: Buffer.from('302a300506032b656e032100', 'hex'),
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.110 }, OCTET STRING { OCTET STRING (32) } }
    pkcs8Prefix: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  },
  32: {
    name: 'x448',
    type: 'x448',
    len: 56,
    spkiPrefix: Buffer.from('3042300506032b656f033900', 'hex'),
    pkcs8Prefix: Buffer.from('3046020100300506032b656f043a0438', 'hex'),
  },
};

function params(id: number): EcxParams {
  const p = PARAMS[id];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `group ${id} not supported`);
  return p;
}

/** Whether this Node has KeyObject 'raw-public' export/import (Node 24); found on first use. */
let rawKeys: boolean | undefined;

/** The options types of @types/node predate the raw formats. */
type RawPublicExport = (opts: { format: 'raw-public' }) => Buffer;

function importPublic(p: EcxParams, raw: Uint8Array): KeyObject {
  if (rawKeys === true) return rawPublicKey(raw, p.type);
  // JWK import (not export) is the fast path on Node 20; same raw key as the SPKI form.
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: p.type === 'x25519' ? 'X25519' : 'X448', x }, format: 'jwk' });
}

function exportPublic(p: EcxParams, key: KeyObject): Buffer {
  if (rawKeys !== false) {
    try {
      const raw = (key.export.bind(key) as unknown as RawPublicExport)({ format: 'raw-public' });
      rawKeys = true;
      return raw;
    } catch (e) {
      if (rawKeys === true) throw e;
      rawKeys = false; // Node without raw key formats
    }
  }
  // The raw key is the last `len` octets of its SPKI encoding (RFC 8410 §4).
  // DER (not JWK) export: JWK export of fresh X25519 keys can hang on Node 20.
  const spki = key.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - p.len);
}

/** The base point (RFC 7748 §4.1: u = 9 for X25519, §4.2: u = 5 for X448) as a public key. */
const basePoints = new Map<string, KeyObject>();

function basePoint(p: EcxParams): KeyObject {
  let k = basePoints.get(p.type);
  if (!k) {
    const u = new Uint8Array(p.len);
    u[0] = p.type === 'x25519' ? 9 : 5;
    k = importPublic(p, u);
    basePoints.set(p.type, k);
  }
  return k;
}

function generate(p: EcxParams): { priv: KeyObject; pub: Buffer } {
  const { publicKey, privateKey } =
    p.type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
  if (rawKeys !== false) return { priv: privateKey, pub: exportPublic(p, publicKey) };
  // Without raw exports (Node 20), the public value is X25519(k, base point) (RFC 7748 §6.1):
  // one scalar multiplication costs less than encoding the key as SPKI (about 100 vs 170 µs).
  return { priv: privateKey, pub: diffieHellman({ privateKey, publicKey: basePoint(p) }) };
}

function compute(p: EcxParams, priv: KeyObject, peer: Uint8Array): Buffer {
  if (peer.length !== p.len) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${p.len}`);
  }
  let s: Buffer;
  try {
    s = diffieHellman({ privateKey: priv, publicKey: importPublic(p, peer) });
  } catch (e) {
    // OpenSSL itself refuses an all-zero X25519/X448 output; same verdict as below.
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: peer public value rejected (RFC 8031 §3.2)`, { cause: e });
  }
  if (isAllZero(s)) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: all-zero shared secret (RFC 8031 §3.2)`);
  }
  return s;
}

export function ecxMethod(id: number): KeMethod {
  const p = params(id);
  let kept: { priv: KeyObject; pub: Buffer; until: number } | undefined;
  return {
    id,
    name: p.name,
    initiatorValueLength: p.len,
    responderValueLength: p.len,
    initiate(): KeInitiatorState {
      const { priv, pub } = generate(p);
      return { publicValue: pub, finish: (peer) => compute(p, priv, peer) };
    },
    respond(peer) {
      if (peer.length !== p.len) {
        throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${p.len}`);
      }
      const { priv, pub } = generate(p);
      return { publicValue: pub, sharedSecret: compute(p, priv, peer) };
    },
    respondReusing(peer, now, forMs) {
      if (peer.length !== p.len) {
        throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${p.len}`);
      }
      if (!kept || now >= kept.until || now < kept.until - forMs) kept = { ...generate(p), until: now + forMs };
      return { publicValue: kept.pub, sharedSecret: compute(p, kept.priv, peer) };
    },
  };
}

/** Test hook: initiator state from a fixed RFC 7748 private scalar (32 or 56 octets). */
export function ecxFromPrivate(id: number, priv: Uint8Array): KeInitiatorState {
  const p = params(id);
  if (priv.length !== p.len) throw new CryptoError('BAD_KEY', `${p.name}: private key length ${priv.length}`);
  const der = Buffer.concat([p.pkcs8Prefix, priv]);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return { publicValue: spki.subarray(spki.length - p.len), finish: (peer) => compute(p, key, peer) };
}
