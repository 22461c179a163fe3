/**
 * A small, fast, seedable PRNG (sfc32) for the fuzzers: every variant of every stream is
 * drawn from its own generator, seeded from (run seed, stream, index), so any variant can be
 * regenerated from those three numbers alone (reproducers, resumable long runs).
 */

/** 32-bit mix (murmur3 finaliser). */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit hash of a string (FNV-1a, then mixed): stream names to seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Seeded from any number of 32-bit words (e.g. seed, stream hash, index low/high). */
  constructor(...words: number[]) {
    let h = 0x9e3779b9;
    for (const w of words) h = mix32(h ^ mix32((w >>> 0) + 0x6d2b79f5));
    this.a = mix32(h ^ 0x1);
    this.b = mix32(h ^ 0x2);
    this.c = mix32(h ^ 0x3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (n <= 1) return 0;
    if (n <= 0x100000000) return Math.floor((this.u32() / 0x100000000) * n);
    return Math.floor(this.float() * n);
  }

  /** Integer in [lo, hi], both included. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  float(): number {
    return (this.u32() * 0x100000000 + this.u32()) / 2 ** 64;
  }

  chance(p: number): boolean {
    return this.u32() < p * 0x100000000;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Index by weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const v = this.u32();
      out[i] = v;
      out[i + 1] = v >>> 8;
      out[i + 2] = v >>> 16;
      out[i + 3] = v >>> 24;
    }
    for (; i < n; i++) out[i] = this.u32();
    return out;
  }

  /** A size biased towards small values but reaching `max` (log-uniform). */
  size(max: number, min = 0): number {
    if (max <= min) return min;
    const bits = Math.log2(max - min + 1);
    return Math.min(max, min + Math.floor(2 ** (this.float() * bits)) - 1);
  }

  /** Fork an independent generator (does not disturb the sequence much). */
  fork(): Rng {
    return new Rng(this.u32(), this.u32());
  }
}
