/**
 * IKEv2 pseudo-random functions (RFC 7296 §2.13) — HMAC based: PRF_HMAC_SHA1 (2, RFC 2104),
 * PRF_HMAC_SHA2_256/384/512 (5/6/7, RFC 4868 §2.4; full-length output, no truncation).
 */
import { createHmac } from 'node:crypto';
import { CryptoError } from './errors.js';
import { symKey } from './util.js';

export const PrfIds = { HMAC_SHA1: 2, HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 } as const;

interface PrfParams { hash: string; out: number }

const PARAMS: Record<number, PrfParams> = {
  2: { hash: 'sha1', out: 20 },
  5: { hash: 'sha256', out: 32 },
  6: { hash: 'sha384', out: 48 },
  7: { hash: 'sha512', out: 64 },
};

function params(prfId: number): PrfParams {
  const p = PARAMS[prfId];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `PRF ${prfId} not supported`);
  return p;
}

/** PRF IDs implemented here. */
export function supportedPrfs(): number[] {
  return Object.keys(PARAMS).map(Number);
}

/** Output length of prf in octets. */
export function prfOutputLength(prfId: number): number {
  return params(prfId).out;
}

/**
 * Preferred key length: RFC 7296 §2.13/§2.14 (SK_d, SK_pi, SK_pr are the PRF's preferred key
 * size); for HMAC-SHA2 this is the output length (RFC 4868 §2.4); likewise for HMAC-SHA1.
 */
export function prfKeyLength(prfId: number): number {
  return params(prfId).out;
}

/** prf(key, data) (RFC 7296 §2.13). `data` may be given in parts, which are concatenated. */
export function prf(prfId: number, key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Buffer {
  const h = createHmac(params(prfId).hash, symKey(key));
  if (data instanceof Uint8Array) h.update(data);
  else for (const d of data) h.update(d);
  return h.digest();
}

/**
 * prf+ (RFC 7296 §2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), output the first
 * `length` octets of T1 | T2 | ... ; at most 255 blocks.
 */
export function prfPlus(prfId: number, key: Uint8Array, seed: Uint8Array | readonly Uint8Array[], length: number): Buffer {
  const p = params(prfId);
  const blocks = Math.ceil(length / p.out);
  if (!Number.isInteger(length) || length < 0 || blocks > 255) {
    throw new CryptoError('UNSUPPORTED', `prf+: cannot produce ${length} octets (RFC 7296 §2.13 limit)`);
  }
  const seeds: readonly Uint8Array[] = seed instanceof Uint8Array ? [seed] : seed;
  // Not from Node's shared 8 KiB pool: prf+ output is mostly key material an SA keeps for its
  // lifetime, and a pooled slice would keep the whole pool slab alive with it (1.3 KB per SA).
  const out = Buffer.allocUnsafeSlow(blocks * p.out);
  const counter = Buffer.allocUnsafe(1);
  const k = symKey(key);
  let prev: Buffer | undefined;
  for (let i = 1; i <= blocks; i++) {
    const h = createHmac(p.hash, k);
    if (prev !== undefined) h.update(prev);
    for (const s of seeds) h.update(s);
    counter[0] = i;
    h.update(counter);
    prev = h.digest();
    prev.copy(out, (i - 1) * p.out);
  }
  return out.subarray(0, length);
}
