import { createPublicKey, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * On Node 24, createHmac()/createCipheriv() with a raw Buffer key are 2-3x slower than with a
 * secret KeyObject (measured: HMAC-SHA-384 9 µs vs 3.7 µs incl. createSecretKey; AES-256-GCM
 * 1200 B 13.7 µs vs 5.6 µs); on Node 20 the Buffer path is the faster one. symKey() returns
 * whichever form is faster here.
 */
const SYM_VIA_KEYOBJECT = Number(process.versions.node.split('.')[0]) >= 24;

/**
 * KeyObjects already made for a key buffer. Session keys (SK_d, SK_p*, SK_e*, SK_a*) are used
 * many times each; keying the cache by the buffer object lets them go with their SA. Callers
 * never modify a key buffer after using it as a key.
 */
const keyObjects = new WeakMap<Uint8Array, KeyObject>();

export function symKey(key: Uint8Array): Uint8Array | KeyObject {
  if (!SYM_VIA_KEYOBJECT) return key;
  let k = keyObjects.get(key);
  if (k === undefined) {
    k = withoutStackTraces(() => createSecretKey(key));
    keyObjects.set(key, k);
  }
  return k;
}

/**
 * symKey() of the first `length` octets of `material` (an AEAD key without its salt). A KeyObject
 * is cached per material buffer (a fresh subarray per call would miss the cache above every
 * time); a raw key is a view made per call, cheaper than a cache entry kept per SA (136 octets).
 */
const prefixKeys = new WeakMap<Uint8Array, { readonly length: number; readonly key: Uint8Array | KeyObject }>();

export function symKeyPrefix(material: Uint8Array, length: number): Uint8Array | KeyObject {
  if (!SYM_VIA_KEYOBJECT) return material.subarray(0, length);
  const c = prefixKeys.get(material);
  if (c !== undefined && c.length === length) return c.key;
  const key = withoutStackTraces(() => createSecretKey(material.subarray(0, length)));
  prefixKeys.set(material, { length, key });
  return key;
}

/**
 * Runs `f` (a node:crypto key import) with V8's stack traces off. Node 24's key-input checks
 * (isKeyObject and isCryptoKey in its internal/crypto/keys.js) tell a plain `{ key, format }`
 * object from a key by catching the exception a native accessor throws, two to four times per
 * createPublicKey() and one per createSecretKey(), and capturing their stack traces is most of
 * what an import costs (Node 24.21, X25519 'raw-public' import 23.5 vs 6.1 µs, ML-KEM-768 SPKI
 * import 49.8 vs 27.6 µs, a secret key 0.85 vs 0.57 µs; Node 20 and 22 are unaffected).
 * Nothing else runs while `f` does. An error `f` throws carries its message and no stack frames.
 */
export function withoutStackTraces<T>(f: () => T): T {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 0;
  } catch {
    return f(); // an embedder froze Error (hardened JavaScript): the import just costs more
  }
  try {
    return f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** createPublicKey's options for a raw public value; @types/node predates the raw formats. */
type RawPublicImport = (opts: { key: Uint8Array; format: 'raw-public'; asymmetricKeyType: string }) => KeyObject;

/**
 * A public KeyObject from its raw value (the 'raw-public' format of Node 24's later releases;
 * throws where this Node lacks it), without the cost of stack traces (withoutStackTraces).
 */
export function rawPublicKey(raw: Uint8Array, asymmetricKeyType: string): KeyObject {
  return withoutStackTraces(() => (createPublicKey as unknown as RawPublicImport)({ key: raw, format: 'raw-public', asymmetricKeyType }));
}

/**
 * The one empty octet string for a key or field that is empty (SK_a of an AEAD): every view
 * object costs 96 octets, and an SA keeps its keys for its lifetime. Never written to.
 */
export const NO_OCTETS: Uint8Array = new Uint8Array(0);

/** Constant-time comparison; different lengths compare unequal (length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/** Concatenate byte strings into one fresh Buffer. */
export function concatBytes(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** Lower-case hex of bytes (for tests and debugging of public values only; never log keys). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Parse hex; whitespace and ':' separators are ignored. Throws on odd length or bad digits. */
export function fromHex(s: string): Buffer {
  const clean = s.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new TypeError('fromHex: invalid hex string');
  }
  return Buffer.from(clean, 'hex');
}

/** View a Uint8Array as a Buffer without copying. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Left-pad `b` with zero octets to `len` octets (used for MODP values, RFC 7296 §2.14). */
export function leftPad(b: Uint8Array, len: number): Buffer {
  if (b.length === len) return asBuffer(b);
  if (b.length > len) throw new RangeError('leftPad: value longer than target length');
  const out = Buffer.alloc(len);
  out.set(b, len - b.length);
  return out;
}

/** 32-bit big-endian encoding. */
export function u32be(n: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(n >>> 0, 0);
  return out;
}

/** True iff every octet is zero (constant time in the length). */
export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i] as number;
  return acc === 0;
}
