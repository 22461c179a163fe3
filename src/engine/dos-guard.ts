/**
 * The responder's defences before it keeps any state for a peer (RFC 7296 §2.6, RFC 8019 §4):
 * the table of half-open IKE SAs with a count per peer address, when to demand a COOKIE, when
 * to drop a request, and the back-off after failed authentications. strongSwan's knobs, same
 * names in the daemon's `limits:` section: cookie_threshold, cookie_threshold_ip,
 * block_threshold, init_limit_half_open.
 *
 * One difference from strongSwan: at the total limit, strongSwan drops every new request,
 * which lets a flood of half-open SAs lock legitimate peers out for the half-open timeout. Here
 * a request that proved its address with a COOKIE replaces a half-open SA instead (the oldest
 * of the address holding the most), so the table stays bounded and a legitimate handshake in
 * progress is the last to go.
 */
import { CookieJar } from './cookie.js';
import type { IkeSa } from './ike-sa.js';
import type { Endpoint, EngineOptions } from './types.js';
import type { SharedCount } from './shard.js';

/** After this long at or above a threshold, cookies stay on (no jitter between modes, as strongSwan). */
const COOKIE_CALMDOWN_MS = 10_000;
/** Back-off after failed authentications: 1 s, doubling, at most 64 s; forgotten after 10 min. */
const AUTH_BACKOFF_BASE_MS = 1000;
const AUTH_BACKOFF_MAX_MS = 64_000;
const AUTH_FAILURE_MEMORY_MS = 600_000;
/** Addresses with recent authentication failures remembered at most. */
const MAX_AUTH_RECORDS = 10_000;

export interface DosLimits {
  readonly cookieThreshold: number;
  readonly cookieThresholdIp: number;
  readonly blockThreshold: number;
  readonly halfOpenLimit: number;
  readonly cookieSecretLifetimeMs: number;
  readonly authFailuresBeforeBackoff: number;
}

export function dosLimits(o: EngineOptions): DosLimits {
  return {
    cookieThreshold: o.cookieThreshold ?? 30,
    cookieThresholdIp: o.cookieThresholdIp ?? 3,
    blockThreshold: o.blockThreshold ?? 5,
    halfOpenLimit: o.halfOpenLimit ?? 5000,
    cookieSecretLifetimeMs: o.cookieSecretLifetimeMs ?? 60_000,
    authFailuresBeforeBackoff: o.authFailuresBeforeBackoff ?? 3,
  };
}

/** What to do with an IKE_SA_INIT request that would create a half-open SA. */
export type Admission =
  | { readonly kind: 'accept'; readonly spend?: Uint8Array }
  | { readonly kind: 'cookie'; readonly cookie: Uint8Array }
  | { readonly kind: 'drop'; readonly reason: string };

interface AuthRecord {
  failures: number;
  blockedUntil: number;
  lastAt: number;
}

export interface InitRequestFacts {
  readonly peer: Endpoint;
  readonly spiI: Uint8Array;
  readonly ni: Uint8Array;
  /** The COOKIE notify data, if the request carries one. */
  readonly cookie?: Uint8Array;
}

export class DosGuard {
  readonly cookies: CookieJar;
  /** Half-open responder SAs by initiator SPI and peer endpoint, with the peer address they count for; insertion order = age. */
  private readonly halfOpen = new Map<string, { readonly sa: IkeSa; readonly address: string }>();
  /** The half-open SAs of each address, oldest first. */
  private readonly byAddress = new Map<string, Set<string>>();
  /** Addresses by how many half-open SAs they hold (index 0 unused): where to evict from. */
  private readonly byCount: Set<string>[] = [];
  private cookiesUntil = -Infinity;
  private readonly auth = new Map<string, AuthRecord>();

  constructor(
    readonly limits: DosLimits,
    random: (n: number) => Uint8Array,
    now: number,
    /** The daemon's half-open count when this engine is one of several (shard.ts). */
    private readonly shared?: SharedCount,
  ) {
    this.cookies = new CookieJar(random, limits.cookieSecretLifetimeMs, now, 2 * limits.halfOpenLimit);
  }

  /** This engine's half-open IKE SAs. */
  get halfOpenCount(): number {
    return this.halfOpen.size;
  }

  /** The half-open IKE SAs the thresholds count: the daemon's, or this engine's when alone. */
  private get halfOpenTotal(): number {
    return this.shared ? this.shared.value() : this.halfOpen.size;
  }

  halfOpenFrom(address: string): number {
    return this.byAddress.get(address)?.size ?? 0;
  }

  /**
   * Decide on a request before any state is kept (RFC 7296 §2.6): a back-off after failed
   * authentications and the per-address limit drop it; under load it needs a valid cookie.
   */
  admit(req: InitRequestFacts, now: number): Admission {
    const a = this.auth.get(req.peer.address);
    if (a && a.blockedUntil > now) return { kind: 'drop', reason: `authentication back-off for ${req.peer.address}` };
    const fromPeer = this.halfOpenFrom(req.peer.address);
    const total = this.halfOpenTotal;
    const loaded = total >= this.limits.cookieThreshold || fromPeer >= this.limits.cookieThresholdIp;
    if (loaded) this.cookiesUntil = now + COOKIE_CALMDOWN_MS;
    let spend: Uint8Array | undefined;
    if (loaded || now < this.cookiesUntil) {
      const c = req.cookie;
      if (!c || !this.cookies.check(c, req.ni, req.peer, req.spiI, now)) {
        return { kind: 'cookie', cookie: this.cookies.make(req.ni, req.peer, req.spiI, now) };
      }
      spend = c;
    }
    if (fromPeer >= this.limits.blockThreshold) return { kind: 'drop', reason: `${req.peer.address} holds ${fromPeer} half-open IKE SAs (block_threshold)` };
    if (total >= this.limits.halfOpenLimit && spend === undefined) {
      return { kind: 'drop', reason: `${total} half-open IKE SAs (init_limit_half_open) and no cookie` };
    }
    return spend === undefined ? { kind: 'accept' } : { kind: 'accept', spend };
  }

  /**
   * A half-open SA was created. Returns the SA it replaces when the table was full (the
   * caller drops it): the oldest of the address that holds the most (RFC 8019 §4.1: a flood
   * spreads over few addresses compared with its SAs; a legitimate peer holds one or two), so
   * that a handshake in progress is not pushed out by a flood from many addresses before the
   * flood's own addresses are down to one half-open SA each.
   */
  opened(key: string, sa: IkeSa, address: string, spentCookie: Uint8Array | undefined, now: number): IkeSa | undefined {
    if (spentCookie) this.cookies.spend(spentCookie, now);
    let evicted: IkeSa | undefined;
    // With several engines, one that holds none at the daemon's limit takes the SA without an
    // eviction; the next one it takes evicts (the daemon's table overshoots by count - 1 at most).
    if (this.halfOpenTotal >= this.limits.halfOpenLimit && this.halfOpen.size > 0) {
      const victim = this.fullestAddressOldest();
      const entry = victim === undefined ? undefined : this.halfOpen.get(victim);
      if (victim !== undefined && entry) {
        evicted = entry.sa;
        this.closed(victim);
      }
    }
    if (!this.halfOpen.has(key)) this.shared?.add(1);
    this.halfOpen.set(key, { sa, address });
    const keys = this.byAddress.get(address) ?? new Set<string>();
    this.byAddress.set(address, keys);
    this.moveCount(address, keys.size, keys.size + 1);
    keys.add(key);
    return evicted;
  }

  /** The SA is no longer half-open (authenticated, failed or gone). */
  closed(key: string): void {
    const entry = this.halfOpen.get(key);
    if (!entry) return;
    this.halfOpen.delete(key);
    this.shared?.add(-1);
    const keys = this.byAddress.get(entry.address);
    if (!keys) return;
    keys.delete(key);
    this.moveCount(entry.address, keys.size + 1, keys.size);
    if (keys.size === 0) this.byAddress.delete(entry.address);
  }

  private moveCount(address: string, from: number, to: number): void {
    if (from > 0) this.byCount[from]?.delete(address);
    if (to > 0) (this.byCount[to] ??= new Set()).add(address);
  }

  private fullestAddressOldest(): string | undefined {
    for (let n = this.byCount.length - 1; n > 0; n--) {
      const first = this.byCount[n]?.values().next();
      if (!first || first.done) continue;
      return this.byAddress.get(first.value)?.values().next().value;
    }
    return undefined;
  }

  /** A peer at this address failed to authenticate (RFC 7296 §2.21.2 AUTHENTICATION_FAILED). */
  authFailed(address: string, now: number): void {
    for (const [addr, r] of this.auth) {
      if (now - r.lastAt < AUTH_FAILURE_MEMORY_MS && this.auth.size < MAX_AUTH_RECORDS) break;
      this.auth.delete(addr);
    }
    const r = this.auth.get(address) ?? { failures: 0, blockedUntil: 0, lastAt: now };
    if (now - r.lastAt >= AUTH_FAILURE_MEMORY_MS) r.failures = 0;
    r.failures++;
    r.lastAt = now;
    const over = r.failures - this.limits.authFailuresBeforeBackoff;
    if (over >= 0) r.blockedUntil = now + Math.min(AUTH_BACKOFF_MAX_MS, AUTH_BACKOFF_BASE_MS * 2 ** Math.min(over, 16));
    // Re-inserted so that the table stays ordered by the latest failure.
    this.auth.delete(address);
    this.auth.set(address, r);
  }

  /** Addresses with recorded authentication failures (bounded). */
  get authRecords(): number {
    return this.auth.size;
  }
}
