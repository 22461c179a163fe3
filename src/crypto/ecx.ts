/**
 * Curve25519 / Curve448 groups 31, 32 (RFC 8031) via node:crypto X25519/X448.
 *
 * RFC 8031 §3.1: KE data is the 32 (X25519) or 56 (X448) octet public value of RFC 7748 §5;
 * the shared secret is the raw X25519/X448 output. §3.2: the recipient MUST check the
 * result is not all zeros (small-order peer points) → INVALID_KE_DATA.
 *
 * Public values cross node:crypto in the cheapest form this Node offers: 'raw-public' export
 * and import where available (Node 24: 1 µs vs 21 µs for a DER export; the import without
 * stack traces, util.ts rawPublicKey); otherwise as JWK, export and import (Node 20: a fresh
 * key pair with its public JWK 38 µs, with its SPKI DER 110 µs, with the public value made as
 * X25519(k, 9) 75 µs; import 8 µs vs 58 µs for DER). Only public keys are ever exported: on
 * Node 20.20 the JWK export of a generated X25519 *private* key hangs. Private keys for the
 * test hook use fixed PKCS#8 prefixes.
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
  pkcs8Prefix: Buffer;
}

const PARAMS: Record<number, EcxParams> = {
  31: {
    name: 'x25519',
    type: 'x25519',
    len: 32,
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.110 }, OCTET STRING { OCTET STRING (32) } }
    pkcs8Prefix: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  },
  32: {
    name: 'x448',
    type: 'x448',
    len: 56,
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

/** A JWK's public value (RFC 8037 §2: "x", base64url) as node:crypto exports it. */
interface PublicJwk {
  readonly x?: unknown;
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
  // The same octets as the RFC 7748 public value (RFC 8037 §2), by far the cheapest export
  // before 'raw-public' (see above); a public key only (the private export hangs on Node 20).
  const { x } = key.export({ format: 'jwk' }) as PublicJwk;
  const pub = typeof x === 'string' ? Buffer.from(x, 'base64url') : undefined;
  if (pub?.length !== p.len) throw new CryptoError('UNSUPPORTED', `${p.name}: node:crypto exported no ${p.len}-octet public value`);
  return pub;
}

function generate(p: EcxParams): { priv: KeyObject; pub: Buffer } {
  const { publicKey, privateKey } =
    p.type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
  return { priv: privateKey, pub: exportPublic(p, publicKey) };
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
  return { publicValue: exportPublic(p, createPublicKey(key)), finish: (peer) => compute(p, key, peer) };
}
