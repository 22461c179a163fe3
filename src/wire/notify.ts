/**
 * Notify (RFC 7296 §3.10) and Delete (RFC 7296 §3.11) payload bodies.
 */
import { PayloadType, ProtocolId } from './constants.js';
import { EncodeError, ParseError } from './errors.js';
import { Reader, Writer } from './bytes.js';
import type { DeletePayload, NotifyPayload } from './types.js';

type NotifyBody = Omit<NotifyPayload, 'type' | 'critical'>;
type DeleteBody = Omit<DeletePayload, 'type' | 'critical'>;

/**
 * SPI Size of a Notify (RFC 7296 §3.10): zero when no SPI applies (always allowed, and
 * required for notifications about the IKE SA); 4 for AH/ESP (e.g. REKEY_SA). An 8-octet
 * IKE SPI is tolerated for protocol IKE. Protocol 0 allows only size 0. Unknown protocols: any.
 */
function notifySpiSizeOk(protocolId: number, size: number): boolean {
  if (size === 0) return true;
  switch (protocolId) {
    case ProtocolId.NONE:
      return false;
    case ProtocolId.IKE:
      return size === 8;
    case ProtocolId.AH:
    case ProtocolId.ESP:
      return size === 4;
    default:
      return true;
  }
}

export function decodeNotifyBody(r: Reader): NotifyBody {
  const protocolId = r.u8('Protocol ID');
  const spiSize = r.u8('SPI Size');
  const notifyType = r.u16('Notify Message Type');
  if (!notifySpiSizeOk(protocolId, spiSize)) {
    throw new ParseError('BAD_VALUE', PayloadType.NOTIFY, `SPI Size ${spiSize} invalid for protocol ${protocolId}`);
  }
  if (spiSize > r.remaining) throw new ParseError('BAD_LENGTH', PayloadType.NOTIFY, 'SPI exceeds payload');
  const spi = r.bytes(spiSize, 'SPI');
  return { protocolId, spi, notifyType, data: r.rest() };
}

export function encodeNotifyBody(n: NotifyBody): Uint8Array {
  return new Writer()
    .u8(n.protocolId, 'Protocol ID')
    .u8(n.spi.length, 'SPI Size')
    .u16(n.notifyType, 'Notify Message Type')
    .raw(n.spi)
    .raw(n.data)
    .finish();
}

/**
 * Delete body (RFC 7296 §3.11): Protocol ID, SPI Size, Num of SPIs, SPIs. For IKE the SPI
 * Size and count are 0 (SPIs come from the header); for AH/ESP the SPI Size is 4. The SPI
 * octets must fill the payload exactly (spiSize × count).
 */
export function decodeDeleteBody(r: Reader): DeleteBody {
  const protocolId = r.u8('Protocol ID');
  const spiSize = r.u8('SPI Size');
  const count = r.u16('Num of SPIs');
  const D = PayloadType.DELETE;
  switch (protocolId) {
    case ProtocolId.IKE:
      if (spiSize !== 0 || count !== 0) throw new ParseError('BAD_VALUE', D, 'IKE SA delete must have SPI Size 0 and no SPIs');
      break;
    case ProtocolId.AH:
    case ProtocolId.ESP:
      if (spiSize !== 4) throw new ParseError('BAD_VALUE', D, `SPI Size ${spiSize} for protocol ${protocolId}`);
      break;
    default:
      throw new ParseError('BAD_VALUE', D, `Protocol ID ${protocolId} in Delete`);
  }
  if (spiSize * count !== r.remaining) {
    throw new ParseError('BAD_LENGTH', D, `${count} SPIs of ${spiSize} octets but ${r.remaining} octets present`);
  }
  const spis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) spis.push(r.bytes(spiSize, 'SPI'));
  return { protocolId, spiSize, spis };
}

export function encodeDeleteBody(d: DeleteBody): Uint8Array {
  const w = new Writer();
  w.u8(d.protocolId, 'Protocol ID').u8(d.spiSize, 'SPI Size').u16(d.spis.length, 'Num of SPIs');
  for (const s of d.spis) {
    if (s.length !== d.spiSize) throw new EncodeError(`Delete SPI of ${s.length} octets, SPI Size ${d.spiSize}`);
    w.raw(s);
  }
  return w.finish();
}
