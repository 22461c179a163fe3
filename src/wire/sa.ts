/**
 * Security Association payload body (RFC 7296 §3.3): proposals (§3.3.1), transforms
 * (§3.3.2) and transform attributes (§3.3.5). RFC 9370 §2.2.1 adds Transform Types 6..12
 * (ADDKE1..7), which need no special wire handling.
 */
import { LastSubstruc, PayloadType, ProtocolId, TransformAttrType } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import type { Proposal, Transform, TransformAttribute } from './types.js';

const SA = PayloadType.SA;
const PROPOSAL_HEADER = 8;
const TRANSFORM_HEADER = 8;

function bad(code: 'BAD_LENGTH' | 'BAD_VALUE' | 'BAD_STRUCTURE', detail: string): ParseError {
  return new ParseError(code, SA, detail);
}

/** SPI size allowed for a proposal of `protocolId` (RFC 7296 §3.3.1). `undefined` = any. */
function proposalSpiSizeOk(protocolId: number, size: number): boolean {
  switch (protocolId) {
    case ProtocolId.IKE:
      return size === 0 || size === 8; // 0 in IKE_SA_INIT, 8 when rekeying the IKE SA
    case ProtocolId.AH:
    case ProtocolId.ESP:
      return size === 4;
    default:
      return true; // unknown protocol: the engine skips the proposal
  }
}

/** Transform attributes (RFC 7296 §3.3.5): AF=1 → TV (2-octet value), AF=0 → TLV. */
function decodeAttributes(r: Reader): TransformAttribute[] {
  const attrs: TransformAttribute[] = [];
  while (r.remaining > 0) {
    const word = r.u16('attribute type');
    const type = word & 0x7fff;
    if (word & 0x8000) {
      attrs.push({ type, value: r.u16('TV attribute value') });
    } else {
      if (type === TransformAttrType.KEY_LENGTH) {
        throw bad('BAD_VALUE', 'Key Length attribute must use the TV format (RFC 7296 §3.3.5)');
      }
      const len = r.u16('TLV attribute length');
      if (len > r.remaining) throw bad('BAD_LENGTH', `TLV attribute length ${len} exceeds transform`);
      attrs.push({ type, value: r.bytes(len) });
    }
  }
  return attrs;
}

function decodeTransform(r: Reader, isLastExpected: boolean): Transform {
  // r is positioned at a transform; it holds at least the rest of the proposal.
  if (r.remaining < TRANSFORM_HEADER) throw bad('BAD_LENGTH', 'transform header truncated');
  const last = r.u8('Last Substruc');
  r.skip(1);
  const length = r.u16('Transform Length');
  if (length < TRANSFORM_HEADER) throw bad('BAD_LENGTH', `Transform Length ${length} < 8`);
  if (length - 4 > r.remaining) throw bad('BAD_LENGTH', `Transform Length ${length} exceeds proposal`);
  const t = r.sub(length - 4, 'transform');
  const type = t.u8('Transform Type');
  t.skip(1);
  const id = t.u16('Transform ID');
  const attributes = decodeAttributes(t);
  const isLast = r.remaining === 0;
  if (isLast !== isLastExpected) {
    throw bad('BAD_STRUCTURE', 'Num Transforms does not match the transforms in the proposal');
  }
  if (last !== (isLast ? LastSubstruc.LAST : LastSubstruc.MORE_TRANSFORMS)) {
    throw bad('BAD_STRUCTURE', `transform Last Substruc ${last} inconsistent (RFC 7296 §3.3.2)`);
  }
  return { type, id, attributes };
}

function decodeProposal(r: Reader, prevNum: number | undefined, isFirst: boolean): Proposal {
  if (r.remaining < PROPOSAL_HEADER) throw bad('BAD_LENGTH', 'proposal header truncated');
  const last = r.u8('Last Substruc');
  r.skip(1);
  const length = r.u16('Proposal Length');
  if (length < PROPOSAL_HEADER) throw bad('BAD_LENGTH', `Proposal Length ${length} < 8`);
  if (length - 4 > r.remaining) throw bad('BAD_LENGTH', `Proposal Length ${length} exceeds SA payload`);
  const p = r.sub(length - 4, 'proposal');
  const num = p.u8('Proposal Num');
  const protocolId = p.u8('Protocol ID');
  const spiSize = p.u8('SPI Size');
  const numTransforms = p.u8('Num Transforms');
  const isLast = r.remaining === 0;
  if (last !== (isLast ? LastSubstruc.LAST : LastSubstruc.MORE_PROPOSALS)) {
    throw bad('BAD_STRUCTURE', `proposal Last Substruc ${last} inconsistent (RFC 7296 §3.3.1)`);
  }
  // Proposal numbers: first is 1 when several are offered, each next one is +1 (RFC 7296 §3.3.1).
  // A single proposal in a response carries the number of the accepted one (≥ 1).
  if (num === 0) throw bad('BAD_VALUE', 'Proposal Num 0');
  if (prevNum !== undefined && num !== prevNum + 1) {
    throw bad('BAD_STRUCTURE', `Proposal Num ${num} after ${prevNum}`);
  }
  if (isFirst && !isLast && num !== 1) throw bad('BAD_STRUCTURE', `first Proposal Num ${num}, must be 1`);
  if (protocolId === 0) throw bad('BAD_VALUE', 'Protocol ID 0 in proposal');
  if (!proposalSpiSizeOk(protocolId, spiSize)) {
    throw bad('BAD_VALUE', `SPI Size ${spiSize} invalid for protocol ${protocolId}`);
  }
  if (spiSize > p.remaining) throw bad('BAD_LENGTH', 'SPI exceeds proposal');
  const spi = p.bytes(spiSize, 'SPI');
  if (numTransforms === 0) throw bad('BAD_VALUE', 'proposal without transforms');
  const transforms: Transform[] = [];
  for (let i = 0; i < numTransforms; i++) {
    if (p.remaining === 0) throw bad('BAD_STRUCTURE', `Num Transforms ${numTransforms} but only ${i} present`);
    transforms.push(decodeTransform(p, i === numTransforms - 1));
  }
  return { num, protocolId, spi, transforms };
}

/** Decodes an SA payload body (after the generic header): one or more proposals. */
export function decodeSaBody(r: Reader): Proposal[] {
  const proposals: Proposal[] = [];
  if (r.remaining === 0) throw bad('BAD_STRUCTURE', 'SA payload without proposals');
  let prev: number | undefined;
  while (r.remaining > 0) {
    const p = decodeProposal(r, prev, proposals.length === 0);
    proposals.push(p);
    prev = p.num;
  }
  return proposals;
}

function encodeTransform(w: Writer, t: Transform, last: boolean): void {
  const body = new Writer();
  body.u8(t.type, 'Transform Type').u8(0).u16(t.id, 'Transform ID');
  for (const a of t.attributes) {
    checkRange(a.type, 0x7fff, 'attribute type');
    if (typeof a.value === 'number') {
      body.u16(a.type | 0x8000).u16(a.value, 'TV attribute value');
    } else if (a.value instanceof Uint8Array) {
      body.u16(a.type).u16(a.value.length, 'TLV attribute length').raw(a.value);
    } else {
      throw new EncodeError('attribute value must be a number or Uint8Array');
    }
  }
  const length = body.length + 4;
  checkRange(length, 0xffff, 'Transform Length');
  w.u8(last ? LastSubstruc.LAST : LastSubstruc.MORE_TRANSFORMS).u8(0).u16(length).raw(body.finish());
}

/** Encodes an SA payload body (RFC 7296 §3.3). Last Substruc flags are computed. */
export function encodeSaBody(proposals: readonly Proposal[]): Uint8Array {
  const w = new Writer();
  proposals.forEach((p, i) => {
    const body = new Writer();
    body.u8(p.num, 'Proposal Num').u8(p.protocolId, 'Protocol ID');
    body.u8(p.spi.length, 'SPI Size').u8(p.transforms.length, 'Num Transforms').raw(p.spi);
    p.transforms.forEach((t, j) => encodeTransform(body, t, j === p.transforms.length - 1));
    const length = body.length + 4;
    checkRange(length, 0xffff, 'Proposal Length');
    w.u8(i === proposals.length - 1 ? LastSubstruc.LAST : LastSubstruc.MORE_PROPOSALS).u8(0).u16(length);
    w.raw(body.finish());
  });
  return w.finish();
}
