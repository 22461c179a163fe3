/**
 * Traffic Selector payload body (RFC 7296 §3.13) and selectors (§3.13.1).
 */
import { TsType } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import type { TrafficSelector } from './types.js';

/** Address length of a TS type, or undefined for types we do not decode (RFC 7296 §3.13.1). */
export function tsAddressLength(tsType: number): number | undefined {
  if (tsType === TsType.IPV4_ADDR_RANGE) return 4;
  if (tsType === TsType.IPV6_ADDR_RANGE) return 16;
  return undefined;
}

/**
 * Decodes a TS payload body: Number of TSs (1), RESERVED (3), selectors. Selector Length
 * must be 16 for TS_IPV4_ADDR_RANGE and 40 for TS_IPV6_ADDR_RANGE; other TS types are
 * rejected (BAD_VALUE) since their layout is unknown to us.
 */
export function decodeTsBody(r: Reader, payloadType: number): TrafficSelector[] {
  const count = r.u8('Number of TSs');
  r.skip(3);
  const selectors: TrafficSelector[] = [];
  for (let i = 0; i < count; i++) {
    if (r.remaining === 0) {
      throw new ParseError('BAD_STRUCTURE', payloadType, `Number of TSs ${count} but only ${i} present`);
    }
    const tsType = r.u8('TS Type');
    const ipProtocol = r.u8('IP Protocol ID');
    const length = r.u16('Selector Length');
    const addrLen = tsAddressLength(tsType);
    if (addrLen === undefined) throw new ParseError('BAD_VALUE', payloadType, `unsupported TS Type ${tsType}`);
    if (length !== 8 + 2 * addrLen) {
      throw new ParseError('BAD_LENGTH', payloadType, `Selector Length ${length} for TS Type ${tsType}`);
    }
    if (length - 4 > r.remaining) throw new ParseError('BAD_LENGTH', payloadType, 'selector exceeds payload');
    const startPort = r.u16('Start Port');
    const endPort = r.u16('End Port');
    const startAddr = r.bytes(addrLen, 'Starting Address');
    const endAddr = r.bytes(addrLen, 'Ending Address');
    selectors.push({ tsType, ipProtocol, startPort, endPort, startAddr, endAddr });
  }
  if (r.remaining !== 0) {
    throw new ParseError('BAD_LENGTH', payloadType, `${r.remaining} octets after ${count} traffic selectors`);
  }
  return selectors;
}

export function encodeTsBody(selectors: readonly TrafficSelector[]): Uint8Array {
  const w = new Writer();
  w.u8(selectors.length, 'Number of TSs').zeros(3);
  for (const s of selectors) {
    const addrLen = tsAddressLength(s.tsType);
    if (addrLen === undefined) throw new EncodeError(`unsupported TS Type ${s.tsType}`);
    if (s.startAddr.length !== addrLen || s.endAddr.length !== addrLen) {
      throw new EncodeError(`TS Type ${s.tsType} needs ${addrLen}-octet addresses`);
    }
    checkRange(s.ipProtocol, 0xff, 'IP Protocol ID');
    w.u8(s.tsType).u8(s.ipProtocol).u16(8 + 2 * addrLen);
    w.u16(s.startPort, 'Start Port').u16(s.endPort, 'End Port').raw(s.startAddr).raw(s.endAddr);
  }
  return w.finish();
}
