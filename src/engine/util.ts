/** Small helpers shared by the engine. */
import { NO_OCTETS } from '../crypto/util.js';

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A 32-bit SPI as 8 hex digits. */
export function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

export function readU16(b: Uint8Array): number | undefined {
  return b.length >= 2 ? (((b[0] ?? 0) << 8) | (b[1] ?? 0)) : undefined;
}

export function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export function readU32(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Copies of `parts` in one ArrayBuffer of exactly their total size, as views of it, in order.
 * For what an SA keeps for its lifetime (keys): a Buffer from Node's pool or a subarray of a
 * larger one would keep the whole pool slab or message alive with it, and one ArrayBuffer per
 * part costs an ArrayBuffer object each. An empty part (an AEAD's integrity key) is NO_OCTETS.
 */
export function packed(parts: readonly Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  const out: Uint8Array[] = [];
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    out.push(p.length === 0 ? NO_OCTETS : all.subarray(o, o + p.length));
    o += p.length;
  }
  return out;
}
