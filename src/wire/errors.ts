/**
 * Errors of the wire layer.
 *
 * Decoders throw ONLY `ParseError`, for any input. The engine maps them to notifications:
 * `UNSUPPORTED_CRITICAL_PAYLOAD` → N(UNSUPPORTED_CRITICAL_PAYLOAD) with the payload type as
 * one octet of notify data (RFC 7296 §2.5, §3.10.1); `BAD_VERSION` → INVALID_MAJOR_VERSION
 * when the major version is higher (RFC 7296 §1.5, §2.5); everything else → INVALID_SYNTAX
 * (RFC 7296 §2.21) or silent discard, as the engine decides.
 */

export type ParseErrorCode =
  /** The input ends before a structure that a length or count announced. */
  | 'TRUNCATED'
  /** A length field is impossible or inconsistent (too small, past the end, leaves trailing bytes). */
  | 'BAD_LENGTH'
  /** A field has a value not allowed in it (SPI size, TS type, fragment number, nonce size...). */
  | 'BAD_VALUE'
  /** The structure is inconsistent: Last Substruc flags, counts, proposal numbers, SK/SKF not last. */
  | 'BAD_STRUCTURE'
  /** An unknown payload with the critical bit set (RFC 7296 §2.5, §3.2). `payloadType` is set. */
  | 'UNSUPPORTED_CRITICAL_PAYLOAD'
  /** IKE header major version is not 2 (RFC 7296 §3.1). */
  | 'BAD_VERSION';

export class ParseError extends Error {
  override readonly name = 'ParseError';
  readonly code: ParseErrorCode;
  /** Type of the payload in which the problem was found (for unknown critical: the unknown type). */
  readonly payloadType?: number;

  /**
   * `new ParseError(code, payloadType?, detail?)`; `new ParseError(code, detail)` also works.
   */
  constructor(code: ParseErrorCode, payloadTypeOrDetail?: number | string, detail?: string) {
    const payloadType = typeof payloadTypeOrDetail === 'number' ? payloadTypeOrDetail : undefined;
    const text = typeof payloadTypeOrDetail === 'string' ? payloadTypeOrDetail : detail;
    super(
      `${code}${payloadType !== undefined ? ` (payload type ${payloadType})` : ''}${text ? `: ${text}` : ''}`,
    );
    this.code = code;
    if (payloadType !== undefined) this.payloadType = payloadType;
  }
}

/**
 * Thrown by encoders when a value cannot be represented on the wire (field out of range,
 * length over 65535, SPI length not matching, ...). Never thrown by decoders.
 */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
  constructor(message: string) {
    super(message);
  }
}
