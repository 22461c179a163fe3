/**
 * One engine among several of a daemon (its worker threads, src/daemon/worker-pool.ts): what
 * this engine hands out is marked with its index, so that one dispatch finds the engine of
 * every datagram, SA number, ESP SPI and request ID without a table, and two engines never
 * hand out the same one.
 *
 * - IKE SPIs we choose (RFC 7296 §2.6: the SPI is ours to pick; the responder's SPIr, the
 *   initiator's SPIi) have `first octet % count === index`. Every message after IKE_SA_INIT
 *   names our SPI, so it reaches the engine that holds the SA whatever port or address it
 *   comes from (NAT-T floats, RFC 7296 §2.23, RFC 4555 updates), and the IKE SA a rekey makes
 *   (RFC 7296 §2.18) carries a new SPI of the same engine: it never moves.
 * - Inbound ESP SPIs have `top octet % count === index` (unique on the host, RFC 4303 §2.1).
 * - SA numbers are `index + 1 + k * count`; request IDs `REQID_FIRST + index + k * count`.
 *
 * The half-open count that the cookie and limit thresholds compare with (RFC 7296 §2.6,
 * RFC 8019 §4) is the daemon's, shared between the engines (`halfOpen`).
 */

/** A counter every engine of a daemon adds to and reads (Atomics on shared memory in the daemon). */
export interface SharedCount {
  add(delta: number): void;
  value(): number;
}

export interface Shard {
  readonly index: number;
  /** Engines in all, 1..256. */
  readonly count: number;
  /** The half-open IKE SAs of all engines; without it, this engine's own. */
  readonly halfOpen?: SharedCount;
}

/** Which engine an octet marked by tagOctet belongs to. */
export function shardOfOctet(octet: number, count: number): number {
  return octet % count;
}

/** A random octet moved to the nearest value below it that belongs to `shard`. */
export function tagOctet(random: number, shard: Shard): number {
  const v = random - (random % shard.count) + shard.index;
  return v > 255 ? v - shard.count : v;
}

export function checkShard(shard: Shard): void {
  if (!Number.isInteger(shard.count) || shard.count < 1 || shard.count > 256) throw new RangeError(`shard count ${shard.count} (1..256)`);
  if (!Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) throw new RangeError(`shard index ${shard.index} of ${shard.count}`);
}
