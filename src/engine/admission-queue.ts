/**
 * New IKE SAs waiting for the responder's CPU (RFC 7296 §2.6, RFC 8019 §4.1 and §4.2): an
 * IKE_SA_INIT request that passed the cookie and per-address checks costs a Diffie-Hellman (or
 * ML-KEM) key pair and a half-open SA, far more than reading it. With the queue on, the engine
 * only decodes and checks such a request on arrival and puts it here; the driver lets it in
 * (IkeEngine.admitPending) when it has time, so that under a flood the socket is still read at
 * the speed datagrams arrive, and messages of existing SAs (IKE_INTERMEDIATE, IKE_AUTH, ...)
 * are never stuck behind a backlog of key exchanges in the kernel's receive queue.
 *
 * Order: the request from an address that held the fewest half-open SAs and queued requests
 * when it arrived goes first, oldest first among equals (RFC 8019 §4.1: a flood's addresses
 * each hold several, a legitimate peer holds none). Bounded: when full, a newcomer takes the
 * place of the newest entry of the worst rank if it ranks better, or is dropped (silently: its
 * initiator retransmits, as when the kernel's queue overflows). A retransmission of a queued
 * request takes the place of the original (refresh).
 */

export interface PendingAdmission<T> {
  /** Identifies the would-be SA (initiator SPI and endpoint): a retransmission has the same key. */
  readonly key: string;
  /** The peer address, for the count of its queued requests. */
  readonly address: string;
  /** Lower goes first: the half-open SAs its address held when it arrived. */
  readonly rank: number;
  readonly item: T;
}

/** Ranks at and above this share the last bucket (a block_threshold that high is unusual). */
const RANKS = 16;

export class AdmissionQueue<T> {
  /** One insertion-ordered bucket per rank. */
  private readonly buckets: Map<string, PendingAdmission<T>>[] = Array.from({ length: RANKS }, () => new Map());
  private readonly rankOf = new Map<string, number>();
  private readonly perAddress = new Map<string, number>();
  /** Requests dropped because the queue was full of better-ranked ones. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`admission queue capacity ${capacity}`);
  }

  get size(): number {
    return this.rankOf.size;
  }

  /** Requests from this address waiting. */
  queuedFrom(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Queue a request; false if it was dropped (the queue is full of requests that rank as well or better). */
  push(p: PendingAdmission<T>): boolean {
    this.delete(p.key);
    const rank = Math.min(RANKS - 1, Math.max(0, Math.floor(p.rank)));
    if (this.rankOf.size >= this.capacity) {
      const worst = this.worstRank();
      if (worst === undefined || rank >= worst) {
        this.dropped++;
        return false;
      }
      const bucket = this.buckets[worst] as Map<string, PendingAdmission<T>>;
      const newest = [...bucket.keys()].at(-1);
      if (newest !== undefined) this.delete(newest);
      this.dropped++;
    }
    (this.buckets[rank] as Map<string, PendingAdmission<T>>).set(p.key, p);
    this.rankOf.set(p.key, rank);
    this.perAddress.set(p.address, this.queuedFrom(p.address) + 1);
    return true;
  }

  /** A retransmission of a queued request: it keeps the original's place. False if none is queued. */
  refresh(key: string, item: T): boolean {
    const r = this.rankOf.get(key);
    const bucket = r === undefined ? undefined : this.buckets[r];
    const old = bucket?.get(key);
    if (!bucket || !old) return false;
    bucket.set(key, { ...old, item });
    return true;
  }

  /** The best-ranked (then oldest) request, removed from the queue. */
  shift(): PendingAdmission<T> | undefined {
    for (const bucket of this.buckets) {
      const first = bucket.values().next();
      if (first.done) continue;
      this.delete(first.value.key);
      return first.value;
    }
    return undefined;
  }

  /** Whether a request of this rank would be queued now (there is room, or it ranks above the worst). */
  wouldTake(rank: number): boolean {
    if (this.rankOf.size < this.capacity) return true;
    const worst = this.worstRank();
    return worst !== undefined && Math.min(RANKS - 1, Math.max(0, Math.floor(rank))) < worst;
  }

  has(key: string): boolean {
    return this.rankOf.has(key);
  }

  delete(key: string): void {
    const r = this.rankOf.get(key);
    if (r === undefined) return;
    this.rankOf.delete(key);
    const e = this.buckets[r]?.get(key);
    this.buckets[r]?.delete(key);
    if (!e) return;
    const n = this.queuedFrom(e.address) - 1;
    if (n > 0) this.perAddress.set(e.address, n);
    else this.perAddress.delete(e.address);
  }

  private worstRank(): number | undefined {
    for (let r = RANKS - 1; r >= 0; r--) if ((this.buckets[r]?.size ?? 0) > 0) return r;
    return undefined;
  }
}
