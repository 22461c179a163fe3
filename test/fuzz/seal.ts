/**
 * Seal an arbitrary inner payload chain (raw bytes, possibly malformed) into SK or SKF
 * payloads with the live keys of an SA (RFC 7296 §3.14, RFC 7383 §2.5) — the same layout as
 * src/engine/protection.ts sealMessage, but from bytes rather than payloads, with a chosen
 * padding, and with a chosen fragment size. The ICV then verifies, so the mutated plaintext
 * reaches the inner decoder and the exchange handlers.
 */
import type { SkCipher, SkKeys } from '../../src/crypto/sk-cipher.js';
import { PayloadType, encodeHeader, genericPayloadHeader } from '../../src/wire/index.js';
import type { Rng } from './prng.js';

export interface Frame {
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
  readonly exchangeType: number;
  readonly flags: number;
  readonly messageId: number;
}

function header(f: Frame, next: number, length: number): Uint8Array {
  return encodeHeader({ spiI: f.spiI, spiR: f.spiR, nextPayload: next, majorVersion: 2, minorVersion: 0, exchangeType: f.exchangeType, flags: f.flags, messageId: f.messageId, length });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface SealOptions {
  /** IKE message size limit: fragment (SKF) when the SK message would be larger. */
  readonly maxMessage?: number;
  /** Force SKF even for a message that fits (a single fragment, or `maxMessage` pieces). */
  readonly forceFragments?: boolean;
  /** Random, non-minimal padding (content and length). */
  readonly oddPadding?: boolean;
}

function padding(rng: Rng, cipher: SkCipher, plainLength: number): Uint8Array {
  const min = (cipher.blockSize - ((plainLength + 1) % cipher.blockSize)) % cipher.blockSize;
  let len = min + cipher.blockSize * rng.int(Math.floor((255 - min) / cipher.blockSize) + 1);
  if (len > 255) len = min;
  return rng.bytes(len);
}

function sealedLength(cipher: SkCipher, plainLength: number, pad: Uint8Array | undefined): number {
  if (pad === undefined) return cipher.sealedLength(plainLength);
  return cipher.ivLength + plainLength + pad.length + 1 + cipher.icvLength;
}

/** The datagrams of one protected message with inner chain `plain` starting with type `innerFirst`. */
export function sealRaw(f: Frame, innerFirst: number, plain: Uint8Array, cipher: SkCipher, keys: SkKeys, rng: Rng, o: SealOptions = {}): Uint8Array[] {
  const iv = (): Uint8Array => rng.bytes(cipher.ivLength);
  const whole = 28 + 4 + cipher.sealedLength(plain.length);
  const fragment = o.forceFragments === true || (o.maxMessage !== undefined && whole > o.maxMessage);
  if (!fragment) {
    const pad = o.oddPadding === true ? padding(rng, cipher, plain.length) : undefined;
    const len = 28 + 4 + sealedLength(cipher, plain.length, pad);
    const aad = concat([header(f, PayloadType.SK, len), genericPayloadHeader(innerFirst, false, len - 28)]);
    return [concat([aad, cipher.seal(keys, aad, plain, pad === undefined ? { iv: iv() } : { iv: iv(), padding: pad })])];
  }
  const max = o.maxMessage ?? whole;
  let chunk = Math.max(1, max - 28 - 8);
  while (chunk > 1 && 28 + 8 + cipher.sealedLength(chunk) > max) chunk--;
  const total = Math.max(1, Math.ceil(plain.length / chunk));
  const out: Uint8Array[] = [];
  for (let i = 0; i < total && i < 0xffff; i++) {
    const part = plain.subarray(i * chunk, Math.min(plain.length, (i + 1) * chunk));
    const pad = o.oddPadding === true && rng.chance(0.3) ? padding(rng, cipher, part.length) : undefined;
    const len = 28 + 8 + sealedLength(cipher, part.length, pad);
    const frag = new Uint8Array(4);
    frag[0] = (i + 1) >> 8;
    frag[1] = (i + 1) & 0xff;
    frag[2] = total >> 8;
    frag[3] = total & 0xff;
    const aad = concat([header(f, PayloadType.SKF, len), genericPayloadHeader(i === 0 ? innerFirst : PayloadType.NONE, false, len - 28), frag]);
    out.push(concat([aad, cipher.seal(keys, aad, part, pad === undefined ? { iv: iv() } : { iv: iv(), padding: pad })]));
  }
  return out;
}

/** Reassemble the plaintext of a protected message (its datagrams in any order). */
export function openRaw(datagrams: readonly Uint8Array[], cipher: SkCipher, keys: SkKeys): { innerFirst: number; plain: Uint8Array; fragmented: boolean } {
  const parts: { n: number; first: number; plain: Uint8Array }[] = [];
  let fragmented = false;
  for (const d of datagrams) {
    const next = d[16] ?? 0;
    if (next === PayloadType.SK) {
      const len = ((d[30] ?? 0) << 8) | (d[31] ?? 0);
      const aadLen = 32;
      const plain = cipher.open(keys, d.subarray(0, aadLen), d.subarray(aadLen, 28 + len)).plain;
      return { innerFirst: d[28] ?? 0, plain: Uint8Array.from(plain), fragmented: false };
    }
    if (next !== PayloadType.SKF) throw new Error('openRaw: the first payload is neither SK nor SKF');
    fragmented = true;
    const n = ((d[32] ?? 0) << 8) | (d[33] ?? 0);
    const plain = cipher.open(keys, d.subarray(0, 36), d.subarray(36)).plain;
    parts.push({ n, first: d[28] ?? 0, plain: Uint8Array.from(plain) });
  }
  parts.sort((a, b) => a.n - b.n);
  return { innerFirst: parts[0]?.first ?? 0, plain: concat(parts.map((p) => p.plain)), fragmented };
}
