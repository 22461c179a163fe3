// Groups the IKE datagrams of a capture into logical IKE messages (SKF fragments of one message
// together, RFC 7383 §2.5) using only the fixed-layout fields of the IKE header and of the SKF
// generic header, so that test names and message selection do not depend on src/wire.
import type { IkeDatagram } from './pcap.js';
import { toHex } from './load.js';

export const EXCHANGE_NAMES: Record<number, string> = {
  34: 'IKE_SA_INIT', 35: 'IKE_AUTH', 36: 'CREATE_CHILD_SA', 37: 'INFORMATIONAL', 43: 'IKE_INTERMEDIATE', 44: 'IKE_FOLLOWUP_KE',
};

export interface RawHeader {
  readonly spiI: string;  // hex
  readonly spiR: string;  // hex
  readonly nextPayload: number;
  readonly exchange: number;
  readonly flags: number;
  readonly response: boolean;
  /** I flag: sent by the original initiator of the IKE SA */
  readonly initiator: boolean;
  readonly messageId: number;
  readonly length: number;
  /** fragment number / total when the first payload is SKF (53) */
  readonly fragment?: { number: number; total: number };
}

export function rawHeader(b: Uint8Array): RawHeader {
  if (b.length < 28) throw new Error('IKE datagram shorter than the IKE header');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const flags = b[19]!;
  const h: RawHeader = {
    spiI: toHex(b.subarray(0, 8)), spiR: toHex(b.subarray(8, 16)), nextPayload: b[16]!, exchange: b[18]!, flags,
    response: (flags & 0x20) !== 0, initiator: (flags & 0x08) !== 0, messageId: dv.getUint32(20), length: dv.getUint32(24),
  };
  if (h.nextPayload === 53) {
    if (b.length < 36) throw new Error('SKF datagram too short');
    return { ...h, fragment: { number: dv.getUint16(32), total: dv.getUint16(34) } };
  }
  return h;
}

export interface WireMessage {
  /** 0-based position among the logical messages of the capture */
  readonly index: number;
  readonly datagrams: IkeDatagram[];
  readonly header: RawHeader; // of the first datagram
  readonly exchangeName: string;
  readonly label: string;     // e.g. "IKE_INTERMEDIATE request mid=2 (frames 9+10)"
}

export function groupMessages(datagrams: IkeDatagram[]): WireMessage[] {
  const out: WireMessage[] = [];
  let open: { dgs: IkeDatagram[]; h: RawHeader } | undefined;
  const close = (dgs: IkeDatagram[], h: RawHeader): void => {
    const name = EXCHANGE_NAMES[h.exchange] ?? `EXCHANGE(${h.exchange})`;
    const frames = dgs.map((d) => d.frame).join('+');
    out.push({
      index: out.length, datagrams: dgs, header: h, exchangeName: name,
      label: `${name} ${h.response ? 'response' : 'request'} mid=${h.messageId} (frame${dgs.length > 1 ? 's' : ''} ${frames})`,
    });
  };
  for (const d of datagrams) {
    const h = rawHeader(d.bytes);
    if (h.fragment === undefined) {
      if (open) throw new Error(`frame ${d.frame}: unfragmented message while fragments are pending`);
      close([d], h);
      continue;
    }
    if (!open) {
      open = { dgs: [d], h };
    } else {
      const o = open.h;
      if (o.spiI !== h.spiI || o.spiR !== h.spiR || o.messageId !== h.messageId || o.response !== h.response) {
        throw new Error(`frame ${d.frame}: fragment of another message while fragments are pending`);
      }
      open.dgs.push(d);
    }
    if (open.dgs.length === h.fragment.total) {
      // the fragments of a message are sent in order here; reassembly sorts them anyway
      close(open.dgs, open.h);
      open = undefined;
    }
  }
  if (open) throw new Error('capture ends with an incomplete fragmented message');
  return out;
}
