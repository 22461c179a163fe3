/**
 * pqike wire format: IKEv2 messages and payloads (RFC 7296 §3, RFC 7383 §2.5, RFC 9370).
 *
 * @module pqike/wire
 */
export * from './constants.js';
export * from './errors.js';
export * from './types.js';
export { copyBytes } from './bytes.js';
export { decodeHeader, decodeCheckedHeader, encodeHeader, genericPayloadHeader, skfFragmentFields } from './header.js';
export { encodeSaBody } from './sa.js';
export { encodeTsBody, tsAddressLength } from './ts.js';
export { encodeNotifyBody, encodeDeleteBody } from './notify.js';
export { encodeCpBody } from './cp.js';
export {
  NONCE_MIN_LENGTH,
  NONCE_MAX_LENGTH,
  isKnownPayloadType,
  isEncryptedPayloadType,
  payloadTypeOf,
  encodePayloadBody,
  encodePayload,
} from './payload.js';
export { decodePayloads, encodePayloads, type DecodePayloadsOptions } from './chain.js';
export { decodeMessage, encodeMessage, encryptedPrefix, type MessageHeaderInit, type EncryptedPayloadSpec } from './message.js';
export * from './find.js';
