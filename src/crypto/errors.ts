/**
 * Errors raised by the crypto layer.
 *
 * - INVALID_KE_DATA: a peer's KE payload data failed a recipient test (wrong length,
 *   RFC 6989 §2.1/§2.3 public value checks, RFC 8031 §3.2 all-zero result, FIPS 203 §7.2/§7.3
 *   checks required by draft-ietf-ipsecme-ikev2-mlkem "Recipient Tests"). The engine maps this
 *   to the INVALID_SYNTAX notify.
 * - INTEGRITY: an SK/SKF payload failed authentication (RFC 7296 §3.14, RFC 5282 §5).
 * - UNSUPPORTED: an algorithm identifier or key length we do not implement.
 * - BAD_KEY: a key of the wrong length was handed to us by the caller.
 */
export type CryptoErrorCode = 'INVALID_KE_DATA' | 'INTEGRITY' | 'UNSUPPORTED' | 'BAD_KEY';

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.name = 'CryptoError';
    this.code = code;
  }
}

/**
 * Run a key exchange step, turning a CryptoError (bad peer value, RFC 6989 / FIPS 203 checks)
 * into a return value; anything else is a bug and propagates.
 */
export function attempt<T>(step: () => T): T | CryptoError {
  try {
    return step();
  } catch (e) {
    if (e instanceof CryptoError) return e;
    throw e;
  }
}
