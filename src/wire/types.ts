/**
 * Decoded forms of IKEv2 messages (RFC 7296 §3, RFC 7383 §2.5).
 *
 * Bytes are `Uint8Array`; decoders return fresh copies (never views of the input).
 * Reserved fields are not represented: they are ignored on decode and sent as zero.
 */
import type { PayloadType } from './constants.js';

/** IKE header (RFC 7296 §3.1). `flags` holds only the defined bits (I, V, R). */
export interface IkeHeader {
  spiI: Uint8Array; // 8 octets
  spiR: Uint8Array; // 8 octets
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: number;
  messageId: number;
  length: number;
}

/** Transform attribute (RFC 7296 §3.3.5): `number` = TV format (AF=1), `Uint8Array` = TLV (AF=0). */
export interface TransformAttribute {
  type: number;
  value: number | Uint8Array;
}

/** Transform substructure (RFC 7296 §3.3.2). */
export interface Transform {
  type: number;
  id: number;
  attributes: TransformAttribute[];
}

/** Proposal substructure (RFC 7296 §3.3.1). SPI Size = spi.length. */
export interface Proposal {
  num: number;
  protocolId: number;
  spi: Uint8Array;
  transforms: Transform[];
}

/** Traffic selector (RFC 7296 §3.13.1): 4-octet addresses for type 7, 16-octet for type 8. */
export interface TrafficSelector {
  tsType: number;
  ipProtocol: number;
  startPort: number;
  endPort: number;
  startAddr: Uint8Array;
  endAddr: Uint8Array;
}

/** Configuration attribute (RFC 7296 §3.15.1). */
export interface CfgAttribute {
  type: number;
  value: Uint8Array;
}

/** Security Association payload (RFC 7296 §3.3). */
export interface SaPayload {
  type: typeof PayloadType.SA;
  critical: boolean;
  proposals: Proposal[];
}
/** Key Exchange payload (RFC 7296 §3.4; RFC 9370 §2.2.1 names its field the Key Exchange Method). */
export interface KePayload {
  type: typeof PayloadType.KE;
  critical: boolean;
  method: number;
  data: Uint8Array;
}
/** Identification payloads IDi / IDr (RFC 7296 §3.5). */
export interface IdPayload {
  type: typeof PayloadType.IDi | typeof PayloadType.IDr;
  critical: boolean;
  idType: number;
  data: Uint8Array;
}
/** Certificate / Certificate Request payloads (RFC 7296 §3.6, §3.7). */
export interface CertPayload {
  type: typeof PayloadType.CERT | typeof PayloadType.CERTREQ;
  critical: boolean;
  encoding: number;
  data: Uint8Array;
}
/** Authentication payload (RFC 7296 §3.8). */
export interface AuthPayload {
  type: typeof PayloadType.AUTH;
  critical: boolean;
  method: number;
  data: Uint8Array;
}
/** Nonce payload (RFC 7296 §3.9), 16..256 octets of data. */
export interface NoncePayload {
  type: typeof PayloadType.NONCE;
  critical: boolean;
  data: Uint8Array;
}
/** Notify payload (RFC 7296 §3.10). SPI Size = spi.length. */
export interface NotifyPayload {
  type: typeof PayloadType.NOTIFY;
  critical: boolean;
  protocolId: number;
  spi: Uint8Array;
  notifyType: number;
  data: Uint8Array;
}
/** Delete payload (RFC 7296 §3.11). `spiSize` is explicit so that 0 SPIs/size 0 round-trip. */
export interface DeletePayload {
  type: typeof PayloadType.DELETE;
  critical: boolean;
  protocolId: number;
  spiSize: number;
  spis: Uint8Array[];
}
/** Vendor ID payload (RFC 7296 §3.12). */
export interface VendorPayload {
  type: typeof PayloadType.VENDOR;
  critical: boolean;
  data: Uint8Array;
}
/** Traffic Selector payloads TSi / TSr (RFC 7296 §3.13). */
export interface TsPayload {
  type: typeof PayloadType.TSi | typeof PayloadType.TSr;
  critical: boolean;
  selectors: TrafficSelector[];
}
/**
 * Encrypted and Authenticated payload (RFC 7296 §3.14), undecrypted: body = IV | ciphertext
 * (incl. padding and Pad Length) | ICV. `innerFirst` is the generic header's Next Payload
 * field, i.e. the type of the first inner payload.
 */
export interface SkPayload {
  type: typeof PayloadType.SK;
  critical: boolean;
  innerFirst: number;
  body: Uint8Array;
}
/** Configuration payload (RFC 7296 §3.15). */
export interface CpPayload {
  type: typeof PayloadType.CP;
  critical: boolean;
  cfgType: number;
  attributes: CfgAttribute[];
}
/** EAP payload (RFC 7296 §3.16), the EAP message kept raw. */
export interface EapPayload {
  type: typeof PayloadType.EAP;
  critical: boolean;
  data: Uint8Array;
}
/**
 * Encrypted and Authenticated Fragment payload (RFC 7383 §2.5), undecrypted. `innerFirst` is
 * the first inner payload type in fragment 1 and 0 in the others.
 */
export interface SkfPayload {
  type: typeof PayloadType.SKF;
  critical: boolean;
  fragmentNumber: number;
  totalFragments: number;
  innerFirst: number;
  body: Uint8Array;
}
/** A payload of a type this implementation does not decode, critical bit clear (RFC 7296 §2.5). */
export interface UnknownPayload {
  type: 'unknown';
  rawType: number;
  critical: boolean;
  data: Uint8Array;
}

export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorPayload
  | TsPayload
  | SkPayload
  | CpPayload
  | EapPayload
  | SkfPayload
  | UnknownPayload;

/** The `type` discriminants of Payload. */
export type PayloadKind = Payload['type'];

/** The payload variant(s) with discriminant `T`, e.g. `PayloadOf<41>` = NotifyPayload, `PayloadOf<35>` = IdPayload. */
export type PayloadOf<T extends PayloadKind> = Payload extends infer P
  ? P extends { type: infer K }
    ? T extends K
      ? P
      : never
    : never
  : never;

export interface IkeMessage {
  header: IkeHeader;
  payloads: Payload[];
}
