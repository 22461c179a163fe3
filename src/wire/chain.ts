/**
 * Payload chains (RFC 7296 §3.2): each generic header names the type of the next payload.
 */
import { GENERIC_PAYLOAD_HEADER_LENGTH, PayloadType } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import { decodePayloadBody, encodePayload, isEncryptedPayloadType, isKnownPayloadType, payloadTypeOf } from './payload.js';
import type { Payload } from './types.js';

export interface DecodePayloadsOptions {
  /**
   * Set when decoding the decrypted contents of SK/SKF: an SK or SKF payload inside is then
   * rejected (BAD_STRUCTURE). By default SK/SKF are accepted as the last payload.
   */
  inner?: boolean;
}

/**
 * Decodes a payload chain starting with type `firstType` that must fill `bytes` exactly.
 * - every Payload Length ≥ 4 and within the bytes (RFC 7296 §3.2);
 * - unknown type with the critical bit → ParseError('UNSUPPORTED_CRITICAL_PAYLOAD', type);
 *   without it → `{ type: 'unknown', rawType, critical: false, data }` (RFC 7296 §2.5);
 * - the critical bit of known types is kept as received (it is ignored, RFC 7296 §3.2);
 * - SK/SKF must be last (RFC 7296 §3.14, RFC 7383 §2.5); their Next Payload is `innerFirst`.
 */
export function decodePayloads(firstType: number, bytes: Uint8Array, opts: DecodePayloadsOptions = {}): Payload[] {
  if (!(bytes instanceof Uint8Array)) throw new ParseError('BAD_VALUE', 'input is not a Uint8Array');
  if (!Number.isInteger(firstType) || firstType < 0 || firstType > 0xff) {
    throw new ParseError('BAD_VALUE', `first payload type ${String(firstType)}`);
  }
  const r = new Reader(bytes);
  const out: Payload[] = [];
  let type = firstType;
  while (type !== PayloadType.NONE) {
    if (r.remaining < GENERIC_PAYLOAD_HEADER_LENGTH) {
      throw new ParseError('TRUNCATED', type, `generic payload header needs 4 octets, have ${r.remaining}`);
    }
    const next = r.u8();
    const critical = (r.u8() & 0x80) !== 0; // other 7 bits RESERVED, ignored
    const length = r.u16();
    if (length < GENERIC_PAYLOAD_HEADER_LENGTH) {
      throw new ParseError('BAD_LENGTH', type, `Payload Length ${length} < 4`);
    }
    if (length - GENERIC_PAYLOAD_HEADER_LENGTH > r.remaining) {
      throw new ParseError('BAD_LENGTH', type, `Payload Length ${length} exceeds the ${r.remaining + 4} octets left`);
    }
    const body = r.sub(length - GENERIC_PAYLOAD_HEADER_LENGTH, 'payload body', type);
    if (!isKnownPayloadType(type)) {
      if (critical) throw new ParseError('UNSUPPORTED_CRITICAL_PAYLOAD', type);
      out.push({ type: 'unknown', rawType: type, critical, data: body.rest() });
      type = next;
      continue;
    }
    out.push(decodePayloadBody(type, critical, next, body));
    if (isEncryptedPayloadType(type)) {
      if (opts.inner) throw new ParseError('BAD_STRUCTURE', type, 'SK/SKF inside encrypted contents');
      if (r.remaining !== 0) {
        throw new ParseError('BAD_STRUCTURE', type, 'SK/SKF must be the last payload (RFC 7296 §3.14)');
      }
      return out;
    }
    type = next;
  }
  if (r.remaining !== 0) {
    throw new ParseError('BAD_LENGTH', `${r.remaining} octets after the last payload`);
  }
  return out;
}

/**
 * Encodes a payload chain; `firstType` goes into the IKE header's Next Payload (or the SK
 * payload's Next Payload for inner chains). SK/SKF may only be last.
 */
export function encodePayloads(payloads: readonly Payload[]): { firstType: number; bytes: Uint8Array } {
  const w = new Writer();
  payloads.forEach((p, i) => {
    const last = i === payloads.length - 1;
    if (!last && (p.type === PayloadType.SK || p.type === PayloadType.SKF)) {
      throw new EncodeError('SK/SKF must be the last payload (RFC 7296 §3.14)');
    }
    const nextP = payloads[i + 1];
    w.raw(encodePayload(p, nextP === undefined ? PayloadType.NONE : payloadTypeOf(nextP)));
  });
  const first = payloads[0];
  const firstType = first === undefined ? PayloadType.NONE : payloadTypeOf(first);
  checkRange(firstType, 0xff, 'first payload type');
  return { firstType, bytes: w.finish() };
}
