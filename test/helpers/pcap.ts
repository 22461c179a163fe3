/**
 * Minimal libpcap reader for test vectors: UDP datagrams over IPv4/IPv6.
 *
 * Supports classic pcap (not pcapng), both byte orders, micro- and nanosecond timestamps,
 * link types Ethernet (1, with 802.1Q/802.1ad tags), raw IP (101, 228, 229), Linux SLL (113)
 * and SLL2 (276). IPv4 fragments other than the first are skipped; IPv6 extension headers
 * (hop-by-hop, routing, destination options) are walked. Non-UDP packets are skipped.
 *
 * For UDP port 4500 (RFC 3948 §2.2): a payload starting with the 4-octet non-ESP marker
 * (zeros) is IKE, `ike` is the payload without the marker; a single 0xFF octet is a NAT
 * keepalive (RFC 3948 §2.3); anything else is ESP. For port 500 the whole payload is IKE.
 */
import { readFileSync } from 'node:fs';

export interface UdpPacket {
  /** Index of the frame in the capture, 1-based as Wireshark numbers them. */
  frame: number;
  /** Capture time in seconds (fractional). */
  ts: number;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  /** The UDP payload as captured (including a non-ESP marker, if any). */
  udpPayload: Uint8Array;
  /** What the UDP payload is, going by ports 500/4500 (RFC 7296 §2.23, RFC 3948 §2.2). */
  kind: 'ike' | 'esp' | 'nat-keepalive' | 'other';
  /** The IKE message (without non-ESP marker) when kind === 'ike'. */
  ike?: Uint8Array;
}

const IKE_PORT = 500;
const NATT_PORT = 4500;

function u16be(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

function ipv4String(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function ipv6String(b: Uint8Array, o: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16be(b, o + 2 * i).toString(16));
  // compress the longest run of zero groups (RFC 5952 §4.2)
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

interface L3 {
  srcIp: string;
  dstIp: string;
  proto: number;
  payload: Uint8Array;
}

function parseIp(pkt: Uint8Array): L3 | undefined {
  if (pkt.length < 1) return undefined;
  const version = (pkt[0] ?? 0) >> 4;
  if (version === 4) {
    if (pkt.length < 20) return undefined;
    const ihl = ((pkt[0] ?? 0) & 0x0f) * 4;
    const total = u16be(pkt, 2);
    const fragOffset = u16be(pkt, 6) & 0x1fff;
    if (ihl < 20 || total < ihl || total > pkt.length || fragOffset !== 0) return undefined;
    return { srcIp: ipv4String(pkt, 12), dstIp: ipv4String(pkt, 16), proto: pkt[9] ?? 0, payload: pkt.subarray(ihl, total) };
  }
  if (version === 6) {
    if (pkt.length < 40) return undefined;
    const plen = u16be(pkt, 4);
    if (40 + plen > pkt.length) return undefined;
    let next = pkt[6] ?? 0;
    let off = 40;
    const end = 40 + plen;
    // hop-by-hop (0), routing (43), destination options (60): length in 8-octet units
    while (next === 0 || next === 43 || next === 60) {
      if (off + 2 > end) return undefined;
      const n = pkt[off] ?? 0;
      off += ((pkt[off + 1] ?? 0) + 1) * 8;
      next = n;
    }
    if (off > end) return undefined;
    return { srcIp: ipv6String(pkt, 8), dstIp: ipv6String(pkt, 24), proto: next, payload: pkt.subarray(off, end) };
  }
  return undefined;
}

/** The IP packet inside a link-layer frame, or undefined. */
function linkToIp(linkType: number, frame: Uint8Array): Uint8Array | undefined {
  switch (linkType) {
    case 1: {
      // Ethernet II, possibly VLAN-tagged
      let off = 12;
      let etherType = u16be(frame, off);
      while ((etherType === 0x8100 || etherType === 0x88a8) && off + 6 <= frame.length) {
        off += 4;
        etherType = u16be(frame, off);
      }
      if (etherType !== 0x0800 && etherType !== 0x86dd) return undefined;
      return frame.subarray(off + 2);
    }
    case 101:
    case 228:
    case 229:
      return frame;
    case 113: {
      const proto = u16be(frame, 14);
      return proto === 0x0800 || proto === 0x86dd ? frame.subarray(16) : undefined;
    }
    case 276: {
      const proto = u16be(frame, 0);
      return proto === 0x0800 || proto === 0x86dd ? frame.subarray(20) : undefined;
    }
    default:
      return undefined;
  }
}

/** Parses a pcap file's bytes into UDP packets (other packets are skipped). */
export function parsePcap(data: Uint8Array): UdpPacket[] {
  if (data.length < 24) throw new Error('pcap: file too short');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magicBE = dv.getUint32(0, false);
  let little: boolean;
  let nano: boolean;
  if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) {
    little = false;
    nano = magicBE === 0xa1b23c4d;
  } else if (magicBE === 0xd4c3b2a1 || magicBE === 0x4d3cb2a1) {
    little = true;
    nano = magicBE === 0x4d3cb2a1;
  } else {
    throw new Error(`pcap: bad magic 0x${magicBE.toString(16)} (pcapng is not supported)`);
  }
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  const out: UdpPacket[] = [];
  let off = 24;
  let frameNo = 0;
  while (off + 16 <= data.length) {
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const inclLen = dv.getUint32(off + 8, little);
    off += 16;
    if (off + inclLen > data.length) throw new Error(`pcap: truncated record at offset ${off - 16}`);
    const frame = data.subarray(off, off + inclLen);
    off += inclLen;
    frameNo++;
    const ip = linkToIp(linkType, frame);
    const l3 = ip && parseIp(ip);
    if (!l3 || l3.proto !== 17 || l3.payload.length < 8) continue;
    const udp = l3.payload;
    const udpLen = u16be(udp, 4);
    if (udpLen < 8 || udpLen > udp.length) continue;
    const srcPort = u16be(udp, 0);
    const dstPort = u16be(udp, 2);
    const udpPayload = udp.slice(8, udpLen);
    const pkt: UdpPacket = {
      frame: frameNo,
      ts: sec + frac / (nano ? 1e9 : 1e6),
      srcIp: l3.srcIp,
      dstIp: l3.dstIp,
      srcPort,
      dstPort,
      udpPayload,
      kind: 'other',
    };
    if (srcPort === NATT_PORT || dstPort === NATT_PORT) {
      if (udpPayload.length === 1 && udpPayload[0] === 0xff) {
        pkt.kind = 'nat-keepalive';
      } else if (udpPayload.length >= 4 && udpPayload[0] === 0 && udpPayload[1] === 0 && udpPayload[2] === 0 && udpPayload[3] === 0) {
        pkt.kind = 'ike';
        pkt.ike = udpPayload.subarray(4);
      } else {
        pkt.kind = 'esp';
      }
    } else if (srcPort === IKE_PORT || dstPort === IKE_PORT) {
      pkt.kind = 'ike';
      pkt.ike = udpPayload;
    }
    out.push(pkt);
  }
  return out;
}

/** Reads and parses a pcap file. */
export function readPcap(path: string): UdpPacket[] {
  return parsePcap(new Uint8Array(readFileSync(path)));
}

/** The IKE messages of a capture, in order (convenience). */
export function ikeMessages(path: string): (UdpPacket & { ike: Uint8Array })[] {
  return readPcap(path).filter((p): p is UdpPacket & { ike: Uint8Array } => p.kind === 'ike' && p.ike !== undefined);
}
