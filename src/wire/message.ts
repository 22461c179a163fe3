/**
 * Whole IKE messages (RFC 7296 §3.1, §3.2): header + payload chain, SK/SKF undecrypted.
 */
import { GENERIC_PAYLOAD_HEADER_LENGTH, IKE_HEADER_LENGTH, PayloadType } from './constants.js';
import { ParseError } from './errors.js';
import { checkRange } from './bytes.js';
import { decodeCheckedHeader, encodeHeader, genericPayloadHeader, skfFragmentFields } from './header.js';
import { decodePayloads, encodePayloads } from './chain.js';
import { payloadTypeOf } from './payload.js';
import type { IkeHeader, IkeMessage, Payload } from './types.js';

/**
 * Decodes a complete IKE message. Checks: ≥ 28 octets (TRUNCATED), major version 2
 * (BAD_VERSION), header Length == bytes.length, then the payload chain (see decodePayloads).
 * Throws only ParseError.
 */
export function decodeMessage(bytes: Uint8Array): IkeMessage {
  if (!(bytes instanceof Uint8Array)) throw new ParseError('BAD_VALUE', 'input is not a Uint8Array');
  const header = decodeCheckedHeader(bytes);
  const payloads = decodePayloads(header.nextPayload, bytes.subarray(IKE_HEADER_LENGTH));
  return { header, payloads };
}

/** Header fields the caller supplies; Next Payload and Length are computed. */
export type MessageHeaderInit = Omit<IkeHeader, 'length' | 'nextPayload'>;

/**
 * Encodes a message: computes the header's Next Payload and Length and each payload's Next
 * Payload. `encodeMessage(m.header, m.payloads)` reproduces `b` for `m = decodeMessage(b)`.
 */
export function encodeMessage(header: MessageHeaderInit, payloads: readonly Payload[]): Uint8Array {
  const { firstType, bytes } = encodePayloads(payloads);
  const length = IKE_HEADER_LENGTH + bytes.length;
  const h = encodeHeader({ ...header, nextPayload: firstType, length });
  const out = new Uint8Array(length);
  out.set(h, 0);
  out.set(bytes, IKE_HEADER_LENGTH);
  return out;
}

/** Description of the SK or SKF payload whose prefix `encryptedPrefix` builds. */
export type EncryptedPayloadSpec =
  | { type: typeof PayloadType.SK; critical?: boolean; innerFirst: number; bodyLength: number }
  | {
      type: typeof PayloadType.SKF;
      critical?: boolean;
      innerFirst: number;
      bodyLength: number;
      fragmentNumber: number;
      totalFragments: number;
    };

/**
 * The octets of the final message that precede the SK/SKF body (its IV): IKE header with the
 * final Length | unprotected payloads `before` | SK generic header (| SKF Fragment Number and
 * Total Fragments). This is the AAD of RFC 5282 §5 and the start of the integrity-protected
 * data of RFC 7296 §3.14; `bodyLength` = IV + ciphertext + ICV length (SkCipher.sealedLength).
 * The message is then `prefix | body`, identical to encodeMessage(header, [...before, sk]).
 */
export function encryptedPrefix(
  header: MessageHeaderInit,
  before: readonly Payload[],
  enc: EncryptedPayloadSpec,
): Uint8Array {
  const fixed = enc.type === PayloadType.SKF ? 4 : 0;
  const encLength = GENERIC_PAYLOAD_HEADER_LENGTH + fixed + enc.bodyLength;
  checkRange(encLength, 0xffff, 'SK/SKF payload length');
  // Encode the unprotected payloads with SK/SKF as their successor.
  const placeholder: Payload = { type: 'unknown', rawType: enc.type, critical: false, data: new Uint8Array(0) };
  const chain = encodePayloads([...before, placeholder]);
  const beforeBytes = chain.bytes.subarray(0, chain.bytes.length - GENERIC_PAYLOAD_HEADER_LENGTH);
  const firstType = before.length === 0 ? enc.type : payloadTypeOf(before[0] as Payload);
  const length = IKE_HEADER_LENGTH + beforeBytes.length + encLength;
  const parts = [
    encodeHeader({ ...header, nextPayload: firstType, length }),
    beforeBytes,
    genericPayloadHeader(enc.innerFirst, enc.critical ?? false, encLength),
  ];
  if (enc.type === PayloadType.SKF) parts.push(skfFragmentFields(enc.fragmentNumber, enc.totalFragments));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// The contract names message.ts as the home of these; they live in chain.ts / header.ts.
export { decodePayloads, encodePayloads } from './chain.js';
export { decodeHeader, encodeHeader, genericPayloadHeader } from './header.js';
