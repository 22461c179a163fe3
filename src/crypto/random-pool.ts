/**
 * Random bytes for the many small draws of a handshake (SPIs, nonces, IVs): one call into
 * the CSPRNG per 4 KiB instead of one per draw, each byte handed out once and wiped from the
 * pool as it goes. Every draw is a Uint8Array of its own (never a view into the pool or into
 * Node's shared 8 KiB Buffer slabs, which a long-lived SPI or nonce would keep alive).
 * Larger draws go to the CSPRNG directly.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const LARGEST_POOLED = 256;

const pool = new Uint8Array(POOL_SIZE);
let used = POOL_SIZE;

export function randomBytesPooled(n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (n > LARGEST_POOLED) return randomFillSync(out);
  if (used + n > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  out.set(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}
