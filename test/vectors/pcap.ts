// Minimal libpcap reader for the reference captures (Ethernet / IPv4 / UDP and ESP).
// The suite reads IKE messages with the project's test/helpers/pcap.ts; this reader adds what
// that helper does not report (ESP over IP protocol 50, frame lengths) and a second, independent
// reading of the IKE datagrams to cross-check it.
// Format: https://wiki.wireshark.org/Development/LibpcapFileFormat (classic pcap, not pcapng).

export interface PcapFrame {
  /** 1-based frame number, as Wireshark/tshark number them (exchanges.txt uses these). */
  readonly frame: number;
  /** seconds since the epoch (float). */
  readonly time: number;
  readonly data: Uint8Array;
}

export interface Ipv4Packet {
  readonly frame: number;
  /** length of the whole captured frame (Ethernet header included) */
  readonly frameLength: number;
  readonly time: number;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  /** IPv4 payload (exactly total length - header length; Ethernet padding removed). */
  readonly payload: Uint8Array;
}

export interface UdpDatagram extends Ipv4Packet {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly udpPayload: Uint8Array;
}

const LINKTYPE_ETHERNET = 1;

export function readPcapFrames(file: Uint8Array): PcapFrame[] {
  if (file.length < 24) throw new Error('pcap: file shorter than global header');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = dv.getUint32(0, false);
  let little: boolean;
  let nanos = false;
  if (magic === 0xa1b2c3d4) little = false;
  else if (magic === 0xd4c3b2a1) little = true;
  else if (magic === 0xa1b23c4d) { little = false; nanos = true; }
  else if (magic === 0x4d3cb2a1) { little = true; nanos = true; }
  else throw new Error(`pcap: bad magic 0x${magic.toString(16)}`);
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  if (linkType !== LINKTYPE_ETHERNET) throw new Error(`pcap: unsupported link type ${linkType}`);
  const frames: PcapFrame[] = [];
  let off = 24;
  while (off < file.length) {
    if (off + 16 > file.length) throw new Error('pcap: truncated record header');
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const inclLen = dv.getUint32(off + 8, little);
    off += 16;
    if (off + inclLen > file.length) throw new Error('pcap: truncated record');
    frames.push({ frame: frames.length + 1, time: sec + frac / (nanos ? 1e9 : 1e6), data: file.subarray(off, off + inclLen) });
    off += inclLen;
  }
  return frames;
}

function ipv4ToString(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** IPv4 packets of the capture (other ethertypes, e.g. IPv6 neighbour discovery, are skipped). */
export function readIpv4Packets(file: Uint8Array): Ipv4Packet[] {
  const out: Ipv4Packet[] = [];
  for (const f of readPcapFrames(file)) {
    const d = f.data;
    if (d.length < 14) continue;
    let etherType = (d[12]! << 8) | d[13]!;
    let l3 = 14;
    if (etherType === 0x8100) { etherType = (d[16]! << 8) | d[17]!; l3 = 18; } // 802.1Q
    if (etherType !== 0x0800) continue;
    const ip = d.subarray(l3);
    if (ip.length < 20 || ip[0]! >> 4 !== 4) throw new Error(`pcap frame ${f.frame}: bad IPv4 header`);
    const ihl = (ip[0]! & 0x0f) * 4;
    const total = (ip[2]! << 8) | ip[3]!;
    const fragField = (ip[6]! << 8) | ip[7]!;
    if ((fragField & 0x3fff) !== 0) throw new Error(`pcap frame ${f.frame}: IP fragment (not supported)`);
    if (total > ip.length || ihl > total) throw new Error(`pcap frame ${f.frame}: bad IPv4 length`);
    out.push({
      frame: f.frame, frameLength: d.length, time: f.time, src: ipv4ToString(ip.subarray(12, 16)), dst: ipv4ToString(ip.subarray(16, 20)),
      protocol: ip[9]!, payload: ip.subarray(ihl, total),
    });
  }
  return out;
}

export function readUdpDatagrams(file: Uint8Array): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  for (const p of readIpv4Packets(file)) {
    if (p.protocol !== 17) continue;
    const u = p.payload;
    if (u.length < 8) throw new Error(`pcap frame ${p.frame}: short UDP header`);
    const len = (u[4]! << 8) | u[5]!;
    if (len < 8 || len > u.length) throw new Error(`pcap frame ${p.frame}: bad UDP length`);
    out.push({ ...p, srcPort: (u[0]! << 8) | u[1]!, dstPort: (u[2]! << 8) | u[3]!, udpPayload: u.subarray(8, len) });
  }
  return out;
}

export interface IkeDatagram {
  readonly frame: number;
  readonly frameLength: number;
  readonly time: number;
  readonly src: string;
  readonly dst: string;
  /** the IKE message exactly as on the wire (non-ESP marker of port 4500 removed). */
  readonly bytes: Uint8Array;
}

/** IKE messages (UDP 500, or UDP 4500 with the four-octet non-ESP marker, RFC 3948 §2.2). */
export function readIkeDatagrams(file: Uint8Array): IkeDatagram[] {
  const out: IkeDatagram[] = [];
  for (const u of readUdpDatagrams(file)) {
    if (u.srcPort === 500 || u.dstPort === 500) {
      out.push({ frame: u.frame, frameLength: u.frameLength, time: u.time, src: u.src, dst: u.dst, bytes: u.udpPayload });
    } else if (u.srcPort === 4500 || u.dstPort === 4500) {
      const b = u.udpPayload;
      if (b.length === 1 && b[0] === 0xff) continue; // NAT-keepalive
      if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0) {
        out.push({ frame: u.frame, frameLength: u.frameLength, time: u.time, src: u.src, dst: u.dst, bytes: b.subarray(4) });
      }
    }
  }
  return out;
}

export interface EspPacket {
  readonly frame: number;
  readonly frameLength: number;
  readonly src: string;
  readonly dst: string;
  /** the ESP packet from the SPI field on (RFC 4303 §2). */
  readonly bytes: Uint8Array;
}

/** ESP packets: IP protocol 50, or UDP-encapsulated on 4500 (RFC 3948). */
export function readEspPackets(file: Uint8Array): EspPacket[] {
  const out: EspPacket[] = [];
  for (const p of readIpv4Packets(file)) {
    if (p.protocol === 50) out.push({ frame: p.frame, frameLength: p.frameLength, src: p.src, dst: p.dst, bytes: p.payload });
  }
  for (const u of readUdpDatagrams(file)) {
    if ((u.srcPort === 4500 || u.dstPort === 4500) && u.udpPayload.length > 8) {
      const b = u.udpPayload;
      if (!(b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0)) out.push({ frame: u.frame, frameLength: u.frameLength, src: u.src, dst: u.dst, bytes: b });
    }
  }
  return out.sort((a, b) => a.frame - b.frame);
}
