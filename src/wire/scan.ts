/**
 * A quick look at a new IKE_SA_INIT request before it is decoded: the responder under load
 * answers COOKIE (RFC 7296 §2.6) from these few fields, so that a flood of requests costs a
 * walk over the generic payload headers (RFC 7296 §3.2) instead of a full decode. Anything
 * it cannot vouch for (a malformed chain) returns undefined and takes the normal path, which
 * gives the answer the RFC prescribes.
 */
import { ExchangeType, HeaderFlags, IKE_HEADER_LENGTH, NotifyType, PayloadType } from './constants.js';

export interface InitRequestScan {
  readonly spiI: Uint8Array;
  /** The Nonce payload's data (what the cookie covers). */
  readonly nonce: Uint8Array;
  /** The COOKIE notify's data, if the first payload is one (RFC 7296 §2.6: it must come first). */
  readonly cookie?: Uint8Array;
}

const GENERIC_HEADER = 4;
/** Notify payload body before its data: Protocol ID, SPI Size, Notify Message Type (SPI size 0). */
const NOTIFY_FIXED = 4;

/** The SPI, nonce and cookie of a well-formed-looking IKE_SA_INIT request, or undefined. */
export function scanInitRequest(data: Uint8Array): InitRequestScan | undefined {
  if (data.length < IKE_HEADER_LENGTH) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[18] !== ExchangeType.IKE_SA_INIT || dv.getUint32(20) !== 0 || dv.getUint32(24) !== data.length) return undefined;
  const flags = data[19] ?? 0;
  if ((flags & HeaderFlags.INITIATOR) === 0 || (flags & HeaderFlags.RESPONSE) !== 0 || (data[17] ?? 0) >> 4 !== 2) return undefined;
  for (let i = 8; i < 16; i++) if (data[i] !== 0) return undefined;
  let type = data[16] ?? 0;
  let at = IKE_HEADER_LENGTH;
  let nonce: Uint8Array | undefined;
  let cookie: Uint8Array | undefined;
  for (let k = 0; type !== PayloadType.NONE; k++) {
    if (at + GENERIC_HEADER > data.length) return undefined;
    const next = data[at] ?? 0;
    const len = dv.getUint16(at + 2);
    if (len < GENERIC_HEADER || at + len > data.length) return undefined;
    const body = data.subarray(at + GENERIC_HEADER, at + len);
    if (type === PayloadType.NONCE) nonce = body;
    if (k === 0 && type === PayloadType.NOTIFY && body.length >= NOTIFY_FIXED && body[1] === 0 && ((body[2] ?? 0) << 8 | (body[3] ?? 0)) === NotifyType.COOKIE) {
      cookie = body.subarray(NOTIFY_FIXED);
    }
    type = next;
    at += len;
  }
  if (at !== data.length || !nonce || nonce.length < 16 || nonce.length > 256) return undefined;
  return { spiI: data.subarray(0, 8), nonce, ...(cookie ? { cookie } : {}) };
}
