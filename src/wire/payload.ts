/**
 * Single payloads: body decoding/encoding for every payload type we know (RFC 7296 §3.3-
 * §3.16, RFC 7383 §2.5), and the generic payload header around them (RFC 7296 §3.2).
 */
import { GENERIC_PAYLOAD_HEADER_LENGTH, PayloadType } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import { writeGenericPayloadHeader } from './header.js';
import { decodeSaBody, encodeSaBody } from './sa.js';
import { decodeTsBody, encodeTsBody } from './ts.js';
import { decodeDeleteBody, decodeNotifyBody, encodeDeleteBody, encodeNotifyBody } from './notify.js';
import { decodeCpBody, encodeCpBody } from './cp.js';
import type { Payload } from './types.js';

/** Nonce Data length bounds (RFC 7296 §3.9). */
export const NONCE_MIN_LENGTH = 16;
export const NONCE_MAX_LENGTH = 256;

/** Payload types this implementation decodes (RFC 7296 §3.2: 33..48; RFC 7383: 53). */
export function isKnownPayloadType(t: number): boolean {
  return (t >= PayloadType.SA && t <= PayloadType.EAP) || t === PayloadType.SKF;
}

/** SK and SKF: must be the last payload of a message (RFC 7296 §3.14, RFC 7383 §2.5). */
export function isEncryptedPayloadType(t: number): boolean {
  return t === PayloadType.SK || t === PayloadType.SKF;
}

/** The wire payload type number of a decoded payload. */
export function payloadTypeOf(p: Payload): number {
  return p.type === 'unknown' ? p.rawType : p.type;
}

/**
 * Decodes the body of a payload of known type `type` (the octets after the generic header).
 * `next` is the generic header's Next Payload field (the inner first type for SK/SKF).
 * The body must be consumed exactly.
 */
export function decodePayloadBody(type: number, critical: boolean, next: number, r: Reader): Payload {
  const p = decodeKnownBody(type, critical, next, r);
  if (r.remaining !== 0) throw new ParseError('BAD_LENGTH', type, `${r.remaining} unexpected trailing octets`);
  return p;
}

function decodeKnownBody(type: number, critical: boolean, next: number, r: Reader): Payload {
  switch (type) {
    case PayloadType.SA:
      return { type, critical, proposals: decodeSaBody(r) };
    case PayloadType.KE: {
      // RFC 7296 §3.4: Key Exchange Method Num (2), RESERVED (2), Key Exchange Data.
      const method = r.u16('Key Exchange Method Num');
      r.skip(2);
      return { type, critical, method, data: r.rest() };
    }
    case PayloadType.IDi:
    case PayloadType.IDr: {
      // RFC 7296 §3.5: ID Type (1), RESERVED (3), Identification Data.
      const idType = r.u8('ID Type');
      r.skip(3);
      return { type, critical, idType, data: r.rest() };
    }
    case PayloadType.CERT:
    case PayloadType.CERTREQ: {
      // RFC 7296 §3.6, §3.7: Cert Encoding (1), data.
      const encoding = r.u8('Cert Encoding');
      return { type, critical, encoding, data: r.rest() };
    }
    case PayloadType.AUTH: {
      // RFC 7296 §3.8: Auth Method (1), RESERVED (3), Authentication Data.
      const method = r.u8('Auth Method');
      r.skip(3);
      return { type, critical, method, data: r.rest() };
    }
    case PayloadType.NONCE: {
      // RFC 7296 §3.9: Nonce Data, 16..256 octets.
      if (r.remaining < NONCE_MIN_LENGTH || r.remaining > NONCE_MAX_LENGTH) {
        throw new ParseError('BAD_LENGTH', type, `Nonce Data of ${r.remaining} octets (16..256)`);
      }
      return { type, critical, data: r.rest() };
    }
    case PayloadType.NOTIFY:
      return { type, critical, ...decodeNotifyBody(r) };
    case PayloadType.DELETE:
      return { type, critical, ...decodeDeleteBody(r) };
    case PayloadType.VENDOR:
      return { type, critical, data: r.rest() };
    case PayloadType.TSi:
    case PayloadType.TSr:
      return { type, critical, selectors: decodeTsBody(r, type) };
    case PayloadType.SK:
      // RFC 7296 §3.14: IV | encrypted | ICV, kept undecrypted.
      return { type, critical, innerFirst: next, body: r.rest() };
    case PayloadType.CP:
      return { type, critical, ...decodeCpBody(r) };
    case PayloadType.EAP:
      return { type, critical, data: r.rest() };
    case PayloadType.SKF: {
      // RFC 7383 §2.5: Fragment Number (2), Total Fragments (2), then as SK. Both non-zero,
      // Fragment Number ≤ Total Fragments (§2.6).
      const fragmentNumber = r.u16('Fragment Number');
      const totalFragments = r.u16('Total Fragments');
      if (totalFragments === 0 || fragmentNumber === 0 || fragmentNumber > totalFragments) {
        throw new ParseError('BAD_VALUE', type, `fragment ${fragmentNumber} of ${totalFragments}`);
      }
      return { type, critical, fragmentNumber, totalFragments, innerFirst: next, body: r.rest() };
    }
    default:
      throw new ParseError('BAD_VALUE', type, 'not a known payload type');
  }
}

function bytesOf(b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new EncodeError(`${what} must be a Uint8Array`);
  return b;
}

/**
 * The body of a payload (everything after the 4-octet generic header). For IDi/IDr this is
 * IDx' of RFC 7296 §2.15 (ID Type | RESERVED | data), used in the AUTH signed octets.
 */
export function encodePayloadBody(p: Payload): Uint8Array {
  const w = new Writer();
  switch (p.type) {
    case PayloadType.SA:
      return encodeSaBody(p.proposals);
    case PayloadType.KE:
      return w.u16(p.method, 'KE method').zeros(2).raw(bytesOf(p.data, 'KE data')).finish();
    case PayloadType.IDi:
    case PayloadType.IDr:
      return w.u8(p.idType, 'ID Type').zeros(3).raw(bytesOf(p.data, 'ID data')).finish();
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      return w.u8(p.encoding, 'Cert Encoding').raw(bytesOf(p.data, 'CERT data')).finish();
    case PayloadType.AUTH:
      return w.u8(p.method, 'Auth Method').zeros(3).raw(bytesOf(p.data, 'AUTH data')).finish();
    case PayloadType.NONCE:
    case PayloadType.VENDOR:
    case PayloadType.EAP:
      return bytesOf(p.data, 'data');
    case PayloadType.NOTIFY:
      return encodeNotifyBody(p);
    case PayloadType.DELETE:
      return encodeDeleteBody(p);
    case PayloadType.TSi:
    case PayloadType.TSr:
      return encodeTsBody(p.selectors);
    case PayloadType.SK:
      return bytesOf(p.body, 'SK body');
    case PayloadType.CP:
      return encodeCpBody(p.cfgType, p.attributes);
    case PayloadType.SKF:
      return w
        .u16(p.fragmentNumber, 'Fragment Number')
        .u16(p.totalFragments, 'Total Fragments')
        .raw(bytesOf(p.body, 'SKF body'))
        .finish();
    case 'unknown':
      return bytesOf(p.data, 'unknown payload data');
    default: {
      const never: never = p;
      throw new EncodeError(`unknown payload ${String((never as { type: unknown }).type)}`);
    }
  }
}

/**
 * One payload with its generic header (RFC 7296 §3.2). `next` is the type of the following
 * payload (0 if last); for SK/SKF it is ignored and `innerFirst` is written instead.
 */
export function encodePayload(p: Payload, next: number): Uint8Array {
  const body = encodePayloadBody(p);
  const length = body.length + GENERIC_PAYLOAD_HEADER_LENGTH;
  checkRange(length, 0xffff, `payload ${payloadTypeOf(p)} length`);
  const nextField = p.type === PayloadType.SK || p.type === PayloadType.SKF ? p.innerFirst : next;
  if (p.type === 'unknown') checkRange(p.rawType, 0xff, 'rawType');
  const out = writeGenericPayloadHeader(new Uint8Array(length), nextField, p.critical, length);
  out.set(body, GENERIC_PAYLOAD_HEADER_LENGTH);
  return out;
}
