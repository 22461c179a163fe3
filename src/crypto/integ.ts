/**
 * Integrity algorithms (RFC 7296 §3.3.2 transform type 3): AUTH_HMAC_SHA1_96 (2, RFC 2404),
 * AUTH_HMAC_SHA2_256_128 / 384_192 / 512_256 (12/13/14, RFC 4868 §2.1-§2.3: key length =
 * hash output length, ICV = HMAC truncated to half the output length).
 */
import { createHmac } from 'node:crypto';
import { CryptoError } from './errors.js';
import { symKey } from './util.js';

export const IntegIds = {
  NONE: 0,
  HMAC_SHA1_96: 2,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;

interface IntegParams { hash: string; keyLen: number; icvLen: number }

const PARAMS: Record<number, IntegParams> = {
  2: { hash: 'sha1', keyLen: 20, icvLen: 12 },
  12: { hash: 'sha256', keyLen: 32, icvLen: 16 },
  13: { hash: 'sha384', keyLen: 48, icvLen: 24 },
  14: { hash: 'sha512', keyLen: 64, icvLen: 32 },
};

function params(integId: number): IntegParams {
  const p = PARAMS[integId];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `integrity algorithm ${integId} not supported`);
  return p;
}

export function supportedIntegs(): number[] {
  return Object.keys(PARAMS).map(Number);
}

/** Key length in octets (0 for NONE). */
export function integKeyLength(integId: number): number {
  return integId === IntegIds.NONE ? 0 : params(integId).keyLen;
}

/** ICV (truncated MAC) length in octets (0 for NONE). */
export function integIcvLength(integId: number): number {
  return integId === IntegIds.NONE ? 0 : params(integId).icvLen;
}

/** Truncated HMAC over the concatenation of `parts` (RFC 4868 §2.3). */
export function integMac(integId: number, key: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const p = params(integId);
  if (key.length !== p.keyLen) throw new CryptoError('BAD_KEY', `integrity key length ${key.length}, expected ${p.keyLen}`);
  const h = createHmac(p.hash, symKey(key));
  for (const d of parts) h.update(d);
  return h.digest().subarray(0, p.icvLen);
}
