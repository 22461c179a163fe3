/**
 * Datagrams the engine drops without an answer (RFC 7296 §2.21: most errors in unauthenticated
 * or unprotected input are silently ignored), counted by a fixed set of reasons so that the
 * metrics can show them without one label value per peer-chosen number. Counted, never logged
 * one by one: a flood of garbage must cost little.
 */

/** Why a datagram was dropped. */
export const DROP_REASONS = [
  /** Not an IKE message we can decode (RFC 7296 §3: header or payload structure). */
  'parse',
  /** A protected message whose integrity check (ICV) failed (§2.21.2), or which SK could not open. */
  'icv',
  /** No IKE SA of ours has these SPIs (INVALID_IKE_SPI is not sent: §2.21.4 makes it optional). */
  'unknown-sa',
  /** A message we do not expect: outside the window (§2.3), a response nobody waits for, wrong role flags. */
  'unexpected',
  /** RFC 7383 fragments that cannot be used (not negotiated, inconsistent). */
  'fragment',
  /** The responder's limits (RFC 7296 §2.6, RFC 8019): block_threshold, the authentication back-off, init_limit_half_open, a full admission queue. */
  'limits',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounter {
  private readonly counts = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));

  note(reason: DropReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  /** Every reason with its count (zeros included, so that a scrape shows each series from the start). */
  snapshot(): Readonly<Record<DropReason, number>> {
    return Object.fromEntries(this.counts) as Record<DropReason, number>;
  }
}
