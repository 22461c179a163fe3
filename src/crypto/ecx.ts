/**
 * Curve25519 / Curve448 groups 31, 32 (RFC 8031) via node:crypto X25519/X448.
 *
 * RFC 8031 §3.1: KE data is the 32 (X25519) or 56 (X448) octet public value of RFC 7748 §5;
 * the shared secret is the raw X25519/X448 output. §3.2: the recipient MUST check the
 * result is not all zeros (small-order peer points) → INVALID_KE_DATA.
 *
 * Raw keys are wrapped in fixed DER prefixes (SPKI / PKCS#8, RFC 8410) instead of JWK, which
 * is both faster and avoids a Node 20 hang when exporting fresh X25519 keys as JWK.
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
import { isAllZero } from './util.js';

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

function importPublic(p: EcxParams, raw: Uint8Array): KeyObject {
  const der = Buffer.allocUnsafe(p.spkiPrefix.length + p.len);
  p.spkiPrefix.copy(der, 0);
  der.set(raw, p.spkiPrefix.length);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

function generate(p: EcxParams): { priv: KeyObject; pub: Buffer } {
  // The raw key is the last `len` octets of its SPKI encoding (RFC 8410 §4).
  const { publicKey, privateKey } =
    p.type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
  // DER (not JWK) export: JWK export of fresh X25519 keys can hang on Node 20.
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { priv: privateKey, pub: spki.subarray(spki.length - p.len) };
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
