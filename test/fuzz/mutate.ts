/**
 * Byte-level mutations (AFL-style havoc) of a payload chain or of a whole datagram, aware of
 * the generic payload headers (RFC 7296 §3.2) so that next-payload, critical and length
 * fields are hit far more often than by chance.
 */
import type { Rng } from './prng.js';

const INTERESTING8 = [0, 1, 2, 3, 4, 7, 8, 16, 0x20, 0x21, 0x22, 0x28, 0x29, 0x2a, 0x2e, 0x35, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 28, 40, 0xff, 0x100, 0x3fff, 0x4000, 0x4009, 0x7fff, 0x8000, 0x800e, 0xfffe, 0xffff];
const INTERESTING32 = [0, 1, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
/** Payload types (RFC 7296 §3.2, RFC 7383) and some unknown ones, for next-payload fields. */
export const PAYLOAD_TYPES = [0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 53, 1, 32, 54, 127, 128, 200, 255];

/** Offsets of the generic payload headers of the chain that starts at `start` with type `first`. */
export function chainHeaders(b: Uint8Array, start: number, first: number): number[] {
  const out: number[] = [];
  let next = first;
  let off = start;
  while (next !== 0 && off + 4 <= b.length && out.length < 256) {
    out.push(off);
    if (next === 46 || next === 53) break;
    next = b[off] ?? 0;
    const len = ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0);
    if (len < 4) break;
    off += len;
  }
  return out;
}

function put16(b: Uint8Array, at: number, v: number): void {
  if (at + 2 > b.length) return;
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  if (at + 4 > b.length) return;
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at), 0);
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

export interface MutateOptions {
  /** Where the payload chain starts (0 for an inner chain, 28 for a datagram) and its first type. */
  readonly chainStart: number;
  readonly firstType: number;
  /** Bytes before this offset are left alone (e.g. 0). */
  readonly protect?: number;
}

/** 1..n havoc steps on a copy of `data`. */
export function mutateBytes(rng: Rng, data: Uint8Array, o: MutateOptions): Uint8Array {
  let b: Uint8Array = Uint8Array.from(data);
  const steps = rng.size(12, 1);
  const lo = o.protect ?? 0;
  for (let s = 0; s < steps; s++) {
    const n = b.length;
    const pos = (): number => (n > lo ? lo + rng.int(n - lo) : lo);
    const op = rng.weighted([10, 8, 8, 4, 5, 5, 5, 4, 3, 12, 6]);
    switch (op) {
      case 0: { // bit flip
        if (n === 0) break;
        const at = pos();
        if (at < n) b[at] = (b[at] ?? 0) ^ (1 << rng.int(8));
        break;
      }
      case 1: { // interesting or random byte
        if (n === 0) break;
        const at = pos();
        if (at < n) b[at] = rng.chance(0.5) ? rng.pick(INTERESTING8) : rng.int(256);
        break;
      }
      case 2: // interesting u16, or a small delta
        if (n >= 2) {
          const at = Math.min(pos(), n - 2);
          if (rng.chance(0.6)) put16(b, at, rng.pick(INTERESTING16));
          else put16(b, at, ((((b[at] ?? 0) << 8) | (b[at + 1] ?? 0)) + rng.range(-8, 8)) & 0xffff);
        }
        break;
      case 3: // interesting u32
        if (n >= 4) put32(b, Math.min(pos(), n - 4), rng.pick(INTERESTING32));
        break;
      case 4: // truncate
        if (n > lo) b = b.slice(0, rng.chance(0.5) ? Math.max(lo, n - rng.range(1, 16)) : pos());
        break;
      case 5: { // delete a range
        if (n <= lo) break;
        const at = pos();
        b = splice(b, at, Math.min(n - at, rng.size(64, 1)), new Uint8Array(0));
        break;
      }
      case 6: { // insert random or repeated bytes
        const at = n > lo ? pos() : n;
        const len = rng.size(128, 1);
        const ins = rng.chance(0.5) ? rng.bytes(len) : new Uint8Array(len).fill(rng.pick(INTERESTING8));
        b = splice(b, at, 0, ins);
        break;
      }
      case 7: { // duplicate a chunk elsewhere
        if (n <= lo + 1) break;
        const from = pos();
        const len = Math.min(n - from, rng.size(256, 1));
        b = splice(b, pos(), 0, b.slice(from, from + len));
        break;
      }
      case 8: { // overwrite a chunk with another part of the data
        if (n <= lo + 1) break;
        const from = pos();
        const to = pos();
        const len = Math.min(n - from, n - to, rng.size(64, 1));
        b.copyWithin(to, from, from + len);
        break;
      }
      default: { // generic payload header fields (9: header field, 10: length of a payload)
        const hs = chainHeaders(b, o.chainStart, o.firstType);
        if (hs.length === 0) {
          if (n > 0) b[pos() % n] ^= 0xff;
          break;
        }
        const h = rng.pick(hs);
        if (op === 10 || rng.chance(0.4)) {
          const len = ((b[h + 2] ?? 0) << 8) | (b[h + 3] ?? 0);
          put16(b, h + 2, rng.chance(0.5) ? (len + rng.range(-9, 9)) & 0xffff : rng.pick(INTERESTING16));
        } else if (rng.chance(0.6)) {
          b[h] = rng.pick(PAYLOAD_TYPES);
        } else {
          b[h + 1] = (b[h + 1] ?? 0) ^ (rng.chance(0.7) ? 0x80 : 1 << rng.int(7));
        }
        // Sometimes mutate inside this payload's body, near its start (counts, types, sizes).
        if (rng.chance(0.5) && h + 4 < b.length) {
          const at = h + 4 + rng.int(Math.min(12, b.length - h - 4));
          b[at] = rng.chance(0.5) ? rng.pick(INTERESTING8) : rng.int(256);
        }
      }
    }
  }
  return b;
}
