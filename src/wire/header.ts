/**
 * IKE header (RFC 7296 §3.1) and generic payload header (RFC 7296 §3.2).
 */
import { GENERIC_PAYLOAD_HEADER_LENGTH, HEADER_FLAGS_MASK, IKE_HEADER_LENGTH, IKE_MAJOR_VERSION } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import type { IkeHeader } from './types.js';

/**
 * Decodes the 28-octet IKE header at the start of `bytes` (RFC 7296 §3.1) WITHOUT checking
 * the version or the Length field, so the engine can look at a message it will reject
 * (e.g. to answer INVALID_MAJOR_VERSION, RFC 7296 §2.5). Only `TRUNCATED` is thrown.
 * Reserved flag bits are dropped (they MUST be ignored on receipt).
 */
export function decodeHeader(bytes: Uint8Array): IkeHeader {
  const r = new Reader(bytes, 0, bytes.length);
  if (bytes.length < IKE_HEADER_LENGTH) {
    throw new ParseError('TRUNCATED', `IKE header needs ${IKE_HEADER_LENGTH} octets, have ${bytes.length}`);
  }
  const spiI = r.bytes(8, 'IKE SA Initiator SPI');
  const spiR = r.bytes(8, 'IKE SA Responder SPI');
  const nextPayload = r.u8('Next Payload');
  const version = r.u8('Version');
  const exchangeType = r.u8('Exchange Type');
  const flags = r.u8('Flags') & HEADER_FLAGS_MASK;
  const messageId = r.u32('Message ID');
  const length = r.u32('Length');
  return {
    spiI,
    spiR,
    nextPayload,
    majorVersion: version >>> 4,
    minorVersion: version & 0x0f,
    exchangeType,
    flags,
    messageId,
    length,
  };
}

/**
 * Decodes and validates the header of a whole message: at least 28 octets, major version 2,
 * Length equal to `bytes.length` (RFC 7296 §3.1).
 */
export function decodeCheckedHeader(bytes: Uint8Array): IkeHeader {
  const h = decodeHeader(bytes);
  if (h.majorVersion !== IKE_MAJOR_VERSION) {
    throw new ParseError('BAD_VERSION', `major version ${h.majorVersion}`);
  }
  if (h.length !== bytes.length) {
    throw new ParseError(
      h.length > bytes.length ? 'TRUNCATED' : 'BAD_LENGTH',
      `header Length ${h.length} but message has ${bytes.length} octets`,
    );
  }
  return h;
}

/** Encodes a 28-octet IKE header (RFC 7296 §3.1). Reserved flag bits are sent as zero. */
export function encodeHeader(h: IkeHeader): Uint8Array {
  if (!(h.spiI instanceof Uint8Array) || h.spiI.length !== 8) throw new EncodeError('spiI must be 8 octets');
  if (!(h.spiR instanceof Uint8Array) || h.spiR.length !== 8) throw new EncodeError('spiR must be 8 octets');
  checkRange(h.majorVersion, 15, 'majorVersion');
  checkRange(h.minorVersion, 15, 'minorVersion');
  checkRange(h.flags, 0xff, 'flags');
  const w = new Writer();
  w.raw(h.spiI).raw(h.spiR);
  w.u8(h.nextPayload, 'nextPayload');
  w.u8((h.majorVersion << 4) | h.minorVersion, 'version');
  w.u8(h.exchangeType, 'exchangeType');
  w.u8(h.flags & HEADER_FLAGS_MASK, 'flags');
  w.u32(h.messageId, 'messageId');
  w.u32(h.length, 'length');
  return w.finish();
}

/**
 * Generic payload header (RFC 7296 §3.2): Next Payload, C bit, RESERVED (zero), Payload
 * Length (which includes these 4 octets). For SK/SKF, `next` is the first inner payload type.
 */
export function genericPayloadHeader(next: number, critical: boolean, length: number): Uint8Array {
  return writeGenericPayloadHeader(new Uint8Array(GENERIC_PAYLOAD_HEADER_LENGTH), next, critical, length);
}

/** The generic payload header written into the first 4 octets of `out` (a payload's own buffer: no array of its own). */
export function writeGenericPayloadHeader(out: Uint8Array, next: number, critical: boolean, length: number): Uint8Array {
  checkRange(next, 0xff, 'next payload');
  checkRange(length, 0xffff, 'payload length');
  out[0] = next;
  out[1] = critical ? 0x80 : 0;
  out[2] = length >>> 8;
  out[3] = length & 0xff;
  return out;
}

/** The Fragment Number / Total Fragments fields of SKF (RFC 7383 §2.5), 4 octets. */
export function skfFragmentFields(fragmentNumber: number, totalFragments: number): Uint8Array {
  checkRange(fragmentNumber, 0xffff, 'fragmentNumber');
  checkRange(totalFragments, 0xffff, 'totalFragments');
  return Uint8Array.of(fragmentNumber >>> 8, fragmentNumber & 0xff, totalFragments >>> 8, totalFragments & 0xff);
}
