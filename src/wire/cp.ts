/**
 * Configuration payload body (RFC 7296 §3.15) and attributes (§3.15.1).
 */
import { CfgAttrType, PayloadType } from './constants.js';
import { ParseError } from './errors.js';
import { Reader, Writer, checkRange } from './bytes.js';
import type { CfgAttribute } from './types.js';

/**
 * Allowed value lengths of the attributes RFC 7296 §3.15.1 defines. INTERNAL_IP6_SUBNET is
 * listed as "17 octets", but requesters send it empty in CFG_REQUEST (as for every other
 * attribute, §3.15.1), so 0 is accepted too. Other types: any length.
 */
function cfgAttrLengthOk(type: number, len: number): boolean {
  switch (type) {
    case CfgAttrType.INTERNAL_IP4_ADDRESS:
    case CfgAttrType.INTERNAL_IP4_NETMASK:
    case CfgAttrType.INTERNAL_IP4_DNS:
    case CfgAttrType.INTERNAL_IP4_NBNS:
    case CfgAttrType.INTERNAL_IP4_DHCP:
      return len === 0 || len === 4;
    case CfgAttrType.INTERNAL_IP6_ADDRESS:
    case CfgAttrType.INTERNAL_IP6_SUBNET:
      return len === 0 || len === 17;
    case CfgAttrType.INTERNAL_IP6_DNS:
    case CfgAttrType.INTERNAL_IP6_DHCP:
      return len === 0 || len === 16;
    case CfgAttrType.INTERNAL_IP4_SUBNET:
      return len === 0 || len === 8;
    case CfgAttrType.SUPPORTED_ATTRIBUTES:
      return len % 2 === 0;
    default:
      return true;
  }
}

export function decodeCpBody(r: Reader): { cfgType: number; attributes: CfgAttribute[] } {
  const cfgType = r.u8('CFG Type');
  r.skip(3);
  const attributes: CfgAttribute[] = [];
  while (r.remaining > 0) {
    const type = r.u16('attribute type') & 0x7fff; // R bit: MUST be ignored on receipt
    const len = r.u16('attribute length');
    if (len > r.remaining) throw new ParseError('BAD_LENGTH', PayloadType.CP, `attribute length ${len} exceeds payload`);
    if (!cfgAttrLengthOk(type, len)) {
      throw new ParseError('BAD_LENGTH', PayloadType.CP, `attribute ${type} with length ${len}`);
    }
    attributes.push({ type, value: r.bytes(len) });
  }
  return { cfgType, attributes };
}

export function encodeCpBody(cfgType: number, attributes: readonly CfgAttribute[]): Uint8Array {
  const w = new Writer();
  w.u8(cfgType, 'CFG Type').zeros(3);
  for (const a of attributes) {
    checkRange(a.type, 0x7fff, 'attribute type');
    w.u16(a.type).u16(a.value.length, 'attribute length').raw(a.value);
  }
  return w.finish();
}
