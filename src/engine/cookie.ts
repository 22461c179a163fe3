/**
 * Stateless responder cookies (RFC 7296 §2.6): Cookie = <VersionIDofSecret> |
 * Hash(Ni | IPi | SPIi | <secret>), so a responder under load keeps no state for a request
 * until the initiator proves it can receive at its address.
 *
 * Beyond the RFC's example formula, the hash also covers the initiator's UDP port (the half-open
 * table is keyed with it, so one cookie must not open SAs from many ports), and:
 * - the secret is replaced every `lifetimeMs` (§2.6: "changed frequently"); cookies made with
 *   the previous secret stay valid for one more period, so no cookie lives longer than two;
 * - a cookie admits one half-open SA: `spend()` records it until its secret has expired, and a
 *   spent cookie no longer verifies (a replay, even from the same port, gets a fresh cookie).
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../crypto/util.js';
import { addressToBytes } from './address.js';
import type { Endpoint } from './types.js';

interface Secret {
  readonly version: number;
  readonly key: Uint8Array;
}

export class CookieJar {
  private current: Secret;
  private previous?: Secret;
  private rotatedAt: number;
  /** Spent cookies (hex) → when their secret expires; insertion order = age. */
  private readonly spent = new Map<string, number>();

  constructor(
    private readonly random: (n: number) => Uint8Array,
    private readonly lifetimeMs: number,
    now: number,
    /** Spent cookies remembered at most (the oldest is forgotten first). */
    private readonly maxSpent: number,
  ) {
    this.current = { version: 0, key: random(32) };
    this.rotatedAt = now;
  }

  /** Replace the secret once its lifetime is over (and drop the one before it). */
  private rotate(now: number): void {
    if (now - this.rotatedAt < this.lifetimeMs) return;
    // Spent cookies whose secret is gone are forgotten (the table is ordered by age).
    for (const [c, expires] of this.spent) {
      if (expires > now) break;
      this.spent.delete(c);
    }
    // A long pause: both secrets are older than a period, so neither stays valid.
    this.previous = now - this.rotatedAt < 2 * this.lifetimeMs ? this.current : undefined;
    this.current = { version: (this.current.version + 1) & 0xff, key: this.random(32) };
    this.rotatedAt = now;
  }

  private compute(secret: Secret, ni: Uint8Array, peer: Endpoint, spiI: Uint8Array): Uint8Array {
    const port = Uint8Array.of((peer.port >> 8) & 0xff, peer.port & 0xff);
    const h = createHash('sha256').update(ni).update(addressToBytes(peer.address)).update(port).update(spiI).update(secret.key).digest();
    const out = new Uint8Array(1 + h.length);
    out[0] = secret.version;
    out.set(h, 1);
    return out;
  }

  make(ni: Uint8Array, peer: Endpoint, spiI: Uint8Array, now: number): Uint8Array {
    this.rotate(now);
    return this.compute(this.current, ni, peer, spiI);
  }

  /** Does the cookie verify, made by us for this request less than two lifetimes ago and unspent? */
  check(cookie: Uint8Array, ni: Uint8Array, peer: Endpoint, spiI: Uint8Array, now: number): boolean {
    this.rotate(now);
    const secret = [this.current, this.previous].find((s) => s !== undefined && s.version === cookie[0]);
    if (!secret || !constantTimeEqual(cookie, this.compute(secret, ni, peer, spiI))) return false;
    const expires = this.spent.get(Buffer.from(cookie).toString('hex'));
    return expires === undefined || expires <= now;
  }

  /** The cookie opened a half-open SA: it admits no other. */
  spend(cookie: Uint8Array, now: number): void {
    for (const [c, expires] of this.spent) {
      if (expires > now && this.spent.size < this.maxSpent) break;
      this.spent.delete(c);
    }
    this.spent.set(Buffer.from(cookie).toString('hex'), this.rotatedAt + 2 * this.lifetimeMs);
  }

  /** Spent cookies remembered (bounded by maxSpent). */
  get spentCount(): number {
    return this.spent.size;
  }
}
