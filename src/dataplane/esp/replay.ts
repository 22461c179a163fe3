/**
 * The receiver's anti-replay window (RFC 4303 §3.4.3) with Extended Sequence Numbers
 * (RFC 4303 Appendix A).
 *
 * T (the highest sequence number authenticated so far) is kept as the two 32-bit halves Th | Tl.
 * The window covers [T - W + 1, T]. The bitmap is a ring of 32-bit words, one more word than
 * W needs (as in RFC 6479): moving T forward clears whole words, never shifts bits; bit
 * (s mod 32) of word (floor(s / 32) mod words) records sequence number s.
 *
 * Use: check(seqLo) before the integrity check (it is cheap, and for ESN it tells which high
 * 32 bits to authenticate with, Appendix A2.2); accept(seqHi, seqLo) only after the packet
 * has been authenticated (§3.4.3: the window is updated only for packets that pass).
 *
 * Sequence number 0 is never sent (§3.3.3: the first packet carries 1): it is too old.
 * Where Appendix A2.2 would pick a subspace that cannot exist (the one below 0 while Th = 0),
 * the packet is taken to be in subspace Th: a jump ahead within the first 2^32 numbers.
 * A window of 0 turns replay detection off (every authenticated packet passes, duplicates
 * too); the high bits are then inferred as the value closest to T.
 */

/** Largest window accepted (packets). */
export const MAX_REPLAY_WINDOW = 65536;

/** check() results that are not a high-order half: negative numbers. */
export const REPLAY_DUPLICATE = -1;
export const REPLAY_TOO_OLD = -2;

const TWO32 = 0x1_0000_0000;

export class ReplayWindow {
  /** W, in packets (0: replay detection off). */
  readonly size: number;
  readonly esn: boolean;
  /** W for the ESN inference: the window, or 2^31 when replay detection is off. */
  private readonly w: number;
  private readonly bits: Uint32Array;
  private readonly wordMask: number;
  private th = 0;
  private tl = 0;

  constructor(size: number, esn: boolean) {
    if (!Number.isInteger(size) || size < 0 || size > MAX_REPLAY_WINDOW) {
      throw new RangeError(`replay window ${size}: must be an integer 0..${MAX_REPLAY_WINDOW}`);
    }
    this.size = size;
    this.esn = esn;
    this.w = size === 0 ? 0x8000_0000 : size;
    let words = 1;
    while (words < Math.ceil(size / 32) + 1) words *= 2;
    this.bits = new Uint32Array(size === 0 ? 1 : words);
    this.wordMask = words - 1;
  }

  /** The highest authenticated sequence number (64-bit value as a number; 0: none yet). */
  get highest(): number {
    return this.th * TWO32 + this.tl;
  }

  /**
   * Before the integrity check: the high 32 bits to authenticate the packet with (0 without
   * ESN), or REPLAY_DUPLICATE / REPLAY_TOO_OLD.
   */
  check(seqLo: number): number {
    let hi = 0;
    if (this.esn) {
      // Appendix A2.2, with Bl = Tl - W + 1 (mod 2^32).
      const { th, tl, w } = this;
      if (tl >= w - 1) {
        hi = seqLo >= tl - w + 1 ? th : th + 1; // Case A
      } else {
        const bl = tl - w + 1 + TWO32;
        hi = seqLo >= bl ? th - 1 : th; // Case B
      }
      // Appendix A2.2 picks Th - 1 or Th + 1 for numbers outside [Bl, Tl]; where that subspace
      // cannot exist (below 0 while Th = 0, beyond 2^64) the number can only be in Th itself:
      // far ahead of T in subspace 0, or far behind it in the last one.
      if (hi < 0 || hi >= TWO32) hi = this.th;
    }
    const s = hi * TWO32 + seqLo;
    if (s === 0) return REPLAY_TOO_OLD;
    if (this.size === 0) return hi;
    const t = this.th * TWO32 + this.tl;
    if (s > t) return hi;
    if (t - s >= this.size) return REPLAY_TOO_OLD;
    return this.seen(s) ? REPLAY_DUPLICATE : hi;
  }

  /** After the integrity check passed: record the packet, moving the window forward if it is new. */
  accept(seqHi: number, seqLo: number): void {
    const s = seqHi * TWO32 + seqLo;
    const t = this.th * TWO32 + this.tl;
    if (s > t) {
      if (this.size !== 0) {
        const words = this.wordMask + 1;
        const from = Math.floor(t / 32);
        const to = Math.floor(s / 32);
        if (to - from >= words) {
          this.bits.fill(0);
        } else {
          for (let b = from + 1; b <= to; b++) this.bits[b & this.wordMask] = 0;
        }
      }
      this.th = seqHi;
      this.tl = seqLo;
    }
    if (this.size !== 0) {
      const word = Math.floor(s / 32) & this.wordMask;
      this.bits[word] = (this.bits[word]! | (1 << (s % 32))) >>> 0;
    }
  }

  private seen(s: number): boolean {
    const word = Math.floor(s / 32) & this.wordMask;
    return (this.bits[word]! & (1 << (s % 32))) !== 0;
  }
}
