/**
 * Protection of IKE messages with the Encrypted payload (RFC 7296 §3.14) and the Encrypted
 * Fragment payload (RFC 7383 §2.5), plus the "as if unfragmented" A|P octets that the
 * IntAuth chain of RFC 9242 §3.3.2 covers.
 */
import type { SkCipher, SkKeys } from '../crypto/sk-cipher.js';
import { ExchangeType, PayloadType, HeaderFlags } from '../wire/constants.js';
import { encodeHeader, encodePayloads, genericPayloadHeader, decodePayloads } from '../wire/index.js';
import type { IkeMessage, Payload } from '../wire/types.js';

export interface MessageFrame {
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
  readonly exchangeType: number;
  /** HeaderFlags bits: INITIATOR and/or RESPONSE. */
  readonly flags: number;
  readonly messageId: number;
}

export interface SealedMessage {
  /** One datagram, or the fragments in order. */
  readonly datagrams: Uint8Array[];
  /** IntAuth octets A|P of RFC 9242 §3.3.2 (lengths as if unfragmented and unencrypted); empty unless asked for. */
  readonly ap: Uint8Array;
}

const IKE_HEADER = 28;
const SK_HEADER = 4;
const SKF_HEADER = 8;

function header(frame: MessageFrame, next: number, length: number): Uint8Array {
  return encodeHeader({
    spiI: frame.spiI,
    spiR: frame.spiR,
    nextPayload: next,
    majorVersion: 2,
    minorVersion: 0,
    exchangeType: frame.exchangeType,
    flags: frame.flags,
    messageId: frame.messageId,
    length,
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A|P for a message whose inner payload chain is `plain` (RFC 9242 §3.3.2, Figure 1). */
export function intAuthOctets(frame: MessageFrame, innerFirst: number, plain: Uint8Array): Uint8Array {
  return concat([
    header(frame, PayloadType.SK, IKE_HEADER + SK_HEADER + plain.length),
    genericPayloadHeader(innerFirst, false, SK_HEADER + plain.length),
    plain,
  ]);
}

/**
 * Encrypt `inner` into one SK message, or into SKF fragments when the message would not fit
 * in `maxMessage` bytes and fragmentation was negotiated (RFC 7383 §2.5). `maxMessage` is the
 * IKE message size limit (datagram size minus IP and UDP headers).
 */
export function sealMessage(
  frame: MessageFrame,
  inner: readonly Payload[],
  cipher: SkCipher,
  keys: SkKeys,
  maxMessage: number | undefined,
  iv: (length: number) => Uint8Array,
  wantAp = frame.exchangeType === ExchangeType.IKE_INTERMEDIATE,
): SealedMessage {
  const { firstType, bytes: plain } = encodePayloads([...inner]);
  // Only IKE_INTERMEDIATE messages enter IntAuth (RFC 9242 §3.3.2); don't copy the others.
  const ap = wantAp ? intAuthOctets(frame, firstType, plain) : new Uint8Array(0);
  const whole = IKE_HEADER + SK_HEADER + cipher.sealedLength(plain.length);
  if (maxMessage === undefined || whole <= maxMessage) {
    const aad = concat([header(frame, PayloadType.SK, whole), genericPayloadHeader(firstType, false, whole - IKE_HEADER)]);
    return { datagrams: [concat([aad, cipher.seal(keys, aad, plain, { iv: iv(cipher.ivLength) })])], ap };
  }
  // Largest plaintext chunk whose sealed fragment fits (RFC 7383 §2.5.1).
  let chunk = maxMessage - IKE_HEADER - SKF_HEADER;
  while (chunk > 1 && IKE_HEADER + SKF_HEADER + cipher.sealedLength(chunk) > maxMessage) chunk--;
  const total = Math.max(1, Math.ceil(plain.length / chunk));
  if (total > 0xffff) throw new RangeError('message too large to fragment');
  const datagrams: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const part = plain.subarray(i * chunk, Math.min(plain.length, (i + 1) * chunk));
    const len = IKE_HEADER + SKF_HEADER + cipher.sealedLength(part.length);
    const fragHdr = new Uint8Array(4);
    new DataView(fragHdr.buffer).setUint16(0, i + 1);
    new DataView(fragHdr.buffer).setUint16(2, total);
    // RFC 7383 §2.5: only the first fragment names the first inner payload.
    const aad = concat([
      header(frame, PayloadType.SKF, len),
      genericPayloadHeader(i === 0 ? firstType : PayloadType.NONE, false, len - IKE_HEADER),
      fragHdr,
    ]);
    datagrams.push(concat([aad, cipher.seal(keys, aad, part, { iv: iv(cipher.ivLength) })]));
  }
  return { datagrams, ap };
}

export interface OpenedPart {
  readonly plain: Uint8Array;
  readonly innerFirst: number;
  readonly fragment?: { readonly number: number; readonly total: number };
}

/**
 * Verify and decrypt the SK or SKF payload (the last payload) of a decoded message.
 * Throws CryptoError('INTEGRITY') if the ICV does not verify; undefined if the message
 * carries neither payload.
 */
export function openMessage(raw: Uint8Array, msg: IkeMessage, cipher: SkCipher, keys: SkKeys): OpenedPart | undefined {
  const last = msg.payloads[msg.payloads.length - 1];
  if (last === undefined) return undefined;
  if (last.type === PayloadType.SK) {
    const aadLen = raw.length - last.body.length;
    const plain = cipher.open(keys, raw.subarray(0, aadLen), last.body).plain;
    return { plain, innerFirst: last.innerFirst };
  }
  if (last.type === PayloadType.SKF) {
    const aadLen = raw.length - last.body.length;
    const plain = cipher.open(keys, raw.subarray(0, aadLen), last.body).plain;
    return { plain, innerFirst: last.innerFirst, fragment: { number: last.fragmentNumber, total: last.totalFragments } };
  }
  return undefined;
}

/**
 * RFC 7383 §2.6 reassembly limits. The reassembled inner payloads must fit one unfragmented
 * SK payload (RFC 7296 §3.2: a 16-bit Payload Length, 4 of it the generic header), which the
 * IntAuth octets of RFC 9242 §3.3.2 are computed on.
 */
export const MAX_FRAGMENTS = 64;
export const MAX_REASSEMBLED = 0xffff - 4;

/** Collects the decrypted fragments of one message (one Message ID, one direction). */
export class FragmentCollector {
  private total = 0;
  private innerFirst = 0;
  private parts = new Map<number, Uint8Array>();
  private bytes = 0;
  private sizes = new Map<number, number>();

  constructor(
    readonly messageId: number,
    readonly response: boolean,
  ) {}

  /**
   * Add a verified fragment. Returns the whole plaintext and first inner payload type once
   * all fragments are in, 'pending' while some are missing, 'invalid' for a fragment that
   * must be dropped (RFC 7383 §2.6), 'overflow' when the message would pass MAX_REASSEMBLED
   * (the caller discards the whole series, so that a later attempt starts afresh).
   */
  add(number: number, total: number, innerFirst: number, plain: Uint8Array, datagramLength: number): { plain: Uint8Array; innerFirst: number; sizes: number[] } | 'pending' | 'invalid' | 'overflow' {
    if (total < 1 || total > MAX_FRAGMENTS || number < 1 || number > total) return 'invalid';
    if (this.total !== 0 && total !== this.total) {
      // A different fragmentation of the same message (RFC 7383 §2.6): a larger total wins.
      if (total < this.total) return 'invalid';
      this.parts.clear();
      this.sizes.clear();
      this.bytes = 0;
    }
    this.total = total;
    if (this.parts.has(number)) return 'pending';
    if (this.bytes + plain.length > MAX_REASSEMBLED) return 'overflow';
    if (number === 1) this.innerFirst = innerFirst;
    this.bytes += plain.length;
    this.parts.set(number, plain);
    this.sizes.set(number, datagramLength);
    if (this.parts.size < total) return 'pending';
    const ordered: Uint8Array[] = [];
    const sizes: number[] = [];
    for (let i = 1; i <= total; i++) {
      ordered.push(this.parts.get(i) ?? new Uint8Array());
      sizes.push(this.sizes.get(i) ?? 0);
    }
    return { plain: concat(ordered), innerFirst: this.innerFirst, sizes };
  }
}

/** Decode a decrypted inner chain (throws ParseError). */
export function decodeInner(innerFirst: number, plain: Uint8Array): Payload[] {
  return decodePayloads(innerFirst, plain, { inner: true });
}

export function isResponse(msg: IkeMessage): boolean {
  return (msg.header.flags & HeaderFlags.RESPONSE) !== 0;
}

export function fromInitiator(msg: IkeMessage): boolean {
  return (msg.header.flags & HeaderFlags.INITIATOR) !== 0;
}

export { concat };
