/**
 * Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payloads.
 *
 * Body layout (RFC 7296 §3.14): IV | ciphertext(inner payloads | Padding | Pad Length) | ICV.
 *  - AES-CBC (ENCR 12, RFC 3602) + HMAC-SHA2 (RFC 4868): 16-octet random IV, plaintext padded
 *    to the block size, ICV = truncated HMAC over aad | IV | ciphertext, where aad = IKE header
 *    through the SK/SKF payload header (plus SKF fragment fields) — "the ICV covers the
 *    entire message up to the ICV" (RFC 7296 §3.14, RFC 7383 §2.5).
 *  - AES-GCM with 8/12/16-octet ICV (ENCR 18/19/20, RFC 5282 §7.1, RFC 4106 §8.1): key
 *    material = key | 4-octet salt; 8-octet IV; nonce = salt | IV; AAD as RFC 5282 §5.1;
 *    no alignment requirement on the padding (RFC 5282 §3).
 *  - ChaCha20-Poly1305 (ENCR 28, RFC 7634 §3-§4, RFC 8439 §2.8): 32-octet key | 4-octet salt,
 *    8-octet IV, nonce = salt | IV, 16-octet tag, no alignment requirement.
 *
 * AEAD IVs are drawn at random here (8 octets); RFC 5282 §3.1 only requires that an IV never
 * repeats for a key, which random 64-bit IVs satisfy for any realistic IKE SA message count.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { randomBytesPooled } from './random-pool.js';
import { CryptoError } from './errors.js';
import { integIcvLength, integKeyLength, integMac } from './integ.js';
import { constantTimeEqual, symKey, symKeyPrefix } from './util.js';

export const EncrIds = {
  AES_CBC: 12,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  CHACHA20_POLY1305: 28,
} as const;

export interface SkKeys { encr: Uint8Array; integ: Uint8Array /* empty for AEAD */ }

export interface SkSealOptions { iv?: Uint8Array; padding?: Uint8Array }

export interface SkCipher {
  readonly encrId: number;
  readonly keyBits: number | undefined;
  readonly integId: number;
  readonly aead: boolean;
  /** Octets of encryption key material, incl. salt for AEAD (GCM: key+4, ChaCha: 32+4). */
  readonly encrKeyLength: number;
  /** 0 for AEAD. */
  readonly integKeyLength: number;
  readonly ivLength: number;
  readonly icvLength: number;
  /** Alignment of plaintext | padding | pad length (16 for CBC, 1 for AEAD). */
  readonly blockSize: number;
  /** IV + padded ciphertext + pad-length octet + ICV, with the default (minimal) padding. */
  sealedLength(plainLength: number): number;
  seal(keys: SkKeys, aad: Uint8Array, plain: Uint8Array, opts?: SkSealOptions): Uint8Array;
  /** Throws CryptoError('INTEGRITY') on any authentication or format failure. */
  open(keys: SkKeys, aad: Uint8Array, body: Uint8Array): { plain: Uint8Array; iv: Uint8Array; padding: Uint8Array };
}

const AES_BLOCK = 16;

function integrity(msg: string): CryptoError {
  return new CryptoError('INTEGRITY', msg);
}

function checkKeys(c: SkCipher, keys: SkKeys): void {
  if (keys.encr.length !== c.encrKeyLength) {
    throw new CryptoError('BAD_KEY', `encryption key length ${keys.encr.length}, expected ${c.encrKeyLength}`);
  }
  if (keys.integ.length !== c.integKeyLength) {
    throw new CryptoError('BAD_KEY', `integrity key length ${keys.integ.length}, expected ${c.integKeyLength}`);
  }
}

/** Build plaintext | padding | pad length; default padding is the minimum, zero-filled. */
function padPlain(plain: Uint8Array, blockSize: number, padding: Uint8Array | undefined): Buffer {
  const padLen = padding !== undefined ? padding.length : (blockSize - ((plain.length + 1) % blockSize)) % blockSize;
  if (padLen > 255 || (plain.length + padLen + 1) % blockSize !== 0) {
    throw new RangeError(`SK padding of ${padLen} octets does not align to ${blockSize}`);
  }
  const out = Buffer.alloc(plain.length + padLen + 1);
  out.set(plain, 0);
  if (padding !== undefined) out.set(padding, plain.length);
  out[out.length - 1] = padLen;
  return out;
}

function unpad(dec: Buffer, iv: Uint8Array): { plain: Uint8Array; iv: Uint8Array; padding: Uint8Array } {
  if (dec.length < 1) throw integrity('SK: empty plaintext');
  const padLen = dec[dec.length - 1] as number;
  if (padLen + 1 > dec.length) throw integrity('SK: pad length exceeds plaintext');
  const end = dec.length - 1 - padLen;
  return { plain: dec.subarray(0, end), iv, padding: dec.subarray(end, dec.length - 1) };
}

function cbcCipher(keyBits: number, integId: number): SkCipher {
  const keyLen = keyBits / 8;
  const icvLength = integIcvLength(integId);
  const integKeyLen = integKeyLength(integId);
  const alg = `aes-${keyBits}-cbc`;
  const c: SkCipher = {
    encrId: EncrIds.AES_CBC, keyBits, integId, aead: false,
    encrKeyLength: keyLen, integKeyLength: integKeyLen,
    ivLength: AES_BLOCK, icvLength, blockSize: AES_BLOCK,
    sealedLength: (n) => AES_BLOCK + (Math.floor((n + 1 + AES_BLOCK - 1) / AES_BLOCK) * AES_BLOCK) + icvLength,
    seal(keys, aad, plain, opts) {
      checkKeys(c, keys);
      const iv = opts?.iv ?? randomBytesPooled(AES_BLOCK);
      if (iv.length !== AES_BLOCK) throw new RangeError('AES-CBC IV must be 16 octets');
      const padded = padPlain(plain, AES_BLOCK, opts?.padding);
      const enc = createCipheriv(alg, symKey(keys.encr), iv).setAutoPadding(false);
      const out = Buffer.allocUnsafe(AES_BLOCK + padded.length + icvLength);
      out.set(iv, 0);
      const n1 = enc.update(padded).copy(out, AES_BLOCK);
      enc.final().copy(out, AES_BLOCK + n1);
      const ctEnd = AES_BLOCK + padded.length;
      // RFC 7296 §3.14: the ICV covers the message from the IKE header through the ciphertext.
      const icv = integMac(integId, keys.integ, [aad, out.subarray(0, ctEnd)]);
      icv.copy(out, ctEnd);
      return out;
    },
    open(keys, aad, body) {
      checkKeys(c, keys);
      const ctLen = body.length - AES_BLOCK - icvLength;
      if (ctLen < AES_BLOCK || ctLen % AES_BLOCK !== 0) throw integrity('SK: bad encrypted payload length');
      const ctEnd = AES_BLOCK + ctLen;
      const icv = integMac(integId, keys.integ, [aad, body.subarray(0, ctEnd)]);
      if (!constantTimeEqual(icv, body.subarray(ctEnd))) throw integrity('SK: ICV mismatch');
      const iv = body.subarray(0, AES_BLOCK);
      const dec = createDecipheriv(alg, symKey(keys.encr), iv).setAutoPadding(false);
      const plain = Buffer.concat([dec.update(body.subarray(AES_BLOCK, ctEnd)), dec.final()]);
      return unpad(plain, iv);
    },
  };
  return c;
}

function aeadCipher(
  encrId: number, keyBits: number, alg: CipherGCMTypes | 'chacha20-poly1305', icvLength: number,
): SkCipher {
  const keyLen = keyBits / 8;
  const IV = 8;
  const SALT = 4;
  const nonceOf = (encr: Uint8Array, iv: Uint8Array): Buffer => {
    const nonce = Buffer.allocUnsafe(SALT + IV);
    nonce.set(encr.subarray(keyLen), 0); // salt = last 4 octets of the key material
    nonce.set(iv, SALT);
    return nonce;
  };
  const c: SkCipher = {
    encrId, keyBits, integId: 0, aead: true,
    encrKeyLength: keyLen + SALT, integKeyLength: 0,
    ivLength: IV, icvLength, blockSize: 1,
    sealedLength: (n) => IV + n + 1 + icvLength,
    seal(keys, aad, plain, opts) {
      checkKeys(c, keys);
      const iv = opts?.iv ?? randomBytesPooled(IV);
      if (iv.length !== IV) throw new RangeError('AEAD IV must be 8 octets');
      const padded = padPlain(plain, 1, opts?.padding);
      const key = symKeyPrefix(keys.encr, keyLen);
      const cipher = createCipheriv(alg as CipherGCMTypes, key, nonceOf(keys.encr, iv), { authTagLength: icvLength });
      cipher.setAAD(aad);
      const out = Buffer.allocUnsafe(IV + padded.length + icvLength);
      out.set(iv, 0);
      const n1 = cipher.update(padded).copy(out, IV);
      cipher.final().copy(out, IV + n1);
      cipher.getAuthTag().copy(out, IV + padded.length);
      return out;
    },
    open(keys, aad, body) {
      checkKeys(c, keys);
      const ctLen = body.length - IV - icvLength;
      if (ctLen < 1) throw integrity('SK: bad encrypted payload length');
      const iv = body.subarray(0, IV);
      const key = symKeyPrefix(keys.encr, keyLen);
      const d = createDecipheriv(alg as CipherGCMTypes, key, nonceOf(keys.encr, iv), { authTagLength: icvLength });
      d.setAAD(aad);
      d.setAuthTag(body.subarray(IV + ctLen));
      let plain: Buffer;
      try {
        plain = Buffer.concat([d.update(body.subarray(IV, IV + ctLen)), d.final()]);
      } catch {
        throw integrity('SK: AEAD authentication failed');
      }
      return unpad(plain, iv);
    },
  };
  return c;
}

/** The ciphers hold no state of their own (keys come with every call): one per suite is shared. */
const ciphers = new Map<string, SkCipher>();

/**
 * The SK payload cipher for a negotiated ENCR/INTEG pair. `keyBits` is the Key Length
 * attribute (RFC 7296 §3.3.5); required for AES, optional (must be 256) for ChaCha20.
 * AEAD ciphers require integId 0 (RFC 5282 §8: no INTEG transform with AEAD).
 */
export function skCipher(encrId: number, keyBits: number | undefined, integId: number): SkCipher {
  const key = `${encrId}/${keyBits ?? '-'}/${integId}`;
  let c = ciphers.get(key);
  if (!c) {
    c = makeSkCipher(encrId, keyBits, integId);
    ciphers.set(key, c);
  }
  return c;
}

function makeSkCipher(encrId: number, keyBits: number | undefined, integId: number): SkCipher {
  const aesBits = (): number => {
    if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) {
      throw new CryptoError('UNSUPPORTED', `AES key length ${String(keyBits)} not supported`);
    }
    return keyBits;
  };
  const noInteg = (): void => {
    if (integId !== 0) throw new CryptoError('UNSUPPORTED', 'AEAD cipher combined with an integrity algorithm');
  };
  switch (encrId) {
    case EncrIds.AES_CBC: {
      if (integId === 0) throw new CryptoError('UNSUPPORTED', 'AES-CBC requires an integrity algorithm');
      const bits = aesBits();
      return cbcCipher(bits, integId);
    }
    case EncrIds.AES_GCM_8:
    case EncrIds.AES_GCM_12:
    case EncrIds.AES_GCM_16: {
      noInteg();
      const bits = aesBits();
      const icv = encrId === EncrIds.AES_GCM_8 ? 8 : encrId === EncrIds.AES_GCM_12 ? 12 : 16;
      return aeadCipher(encrId, bits, `aes-${bits}-gcm` as CipherGCMTypes, icv);
    }
    case EncrIds.CHACHA20_POLY1305: {
      noInteg();
      // RFC 7634 §4: the Key Length attribute MUST NOT be sent; tolerate an explicit 256.
      if (keyBits !== undefined && keyBits !== 256) {
        throw new CryptoError('UNSUPPORTED', `ChaCha20-Poly1305 key length ${keyBits}`);
      }
      return aeadCipher(encrId, 256, 'chacha20-poly1305', 16);
    }
    default:
      throw new CryptoError('UNSUPPORTED', `encryption algorithm ${encrId} not supported`);
  }
}
