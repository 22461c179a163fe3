/**
 * The security policy database of the userspace plane (RFC 4301 §4.4.1), as the worker holds
 * it: per request ID the traffic selectors of a Child SA (or of a trap), matched against the
 * header of each packet — outbound to pick the SA that protects it, inbound to check that a
 * decrypted packet is one its SA may carry (RFC 4301 §5.2, step 4).
 */
import type { TrafficSelector } from '../../wire/types.js';

/** The fields of an IP packet the selectors look at (RFC 4301 §4.4.1.1). */
export interface PacketFields {
  readonly version: 4 | 6;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly protocol: number;
  /** Source and destination port (TCP, UDP, SCTP); 0 when the protocol has none or it is a fragment. */
  readonly srcPort: number;
  readonly dstPort: number;
}

/**
 * The selector fields of an IPv4 or IPv6 packet (the first header after IPv6's fixed one is
 * taken as the upper layer: extension headers are not walked), or undefined for a packet too
 * short to hold them.
 */
export function packetFields(p: Uint8Array): PacketFields | undefined {
  const v = (p[0] ?? 0) >> 4;
  if (v === 4) {
    if (p.length < 20) return undefined;
    const ihl = ((p[0] ?? 0) & 0x0f) * 4;
    const protocol = p[9] ?? 0;
    // A fragment other than the first carries no ports (RFC 4301 §7.1).
    const offset = (((p[6] ?? 0) & 0x1f) << 8) | (p[7] ?? 0);
    const ports = offset === 0 && hasPorts(protocol) && p.length >= ihl + 4;
    return {
      version: 4,
      src: p.subarray(12, 16),
      dst: p.subarray(16, 20),
      protocol,
      srcPort: ports ? ((p[ihl] ?? 0) << 8) | (p[ihl + 1] ?? 0) : 0,
      dstPort: ports ? ((p[ihl + 2] ?? 0) << 8) | (p[ihl + 3] ?? 0) : 0,
    };
  }
  if (v === 6) {
    if (p.length < 40) return undefined;
    const protocol = p[6] ?? 0;
    const ports = hasPorts(protocol) && p.length >= 44;
    return {
      version: 6,
      src: p.subarray(8, 24),
      dst: p.subarray(24, 40),
      protocol,
      srcPort: ports ? ((p[40] ?? 0) << 8) | (p[41] ?? 0) : 0,
      dstPort: ports ? ((p[42] ?? 0) << 8) | (p[43] ?? 0) : 0,
    };
  }
  return undefined;
}

function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 136;
}

function inRange(a: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  if (a.length !== start.length) return false;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    if (lo === 0) lo = x < (start[i] ?? 0) ? -1 : x > (start[i] ?? 0) ? 1 : 0;
    if (hi === 0) hi = x > (end[i] ?? 0) ? 1 : x < (end[i] ?? 0) ? -1 : 0;
  }
  return lo >= 0 && hi <= 0;
}

/** Does an address with protocol and port fall within a selector (RFC 7296 §3.13.1)? */
export function matches(ts: TrafficSelector, addr: Uint8Array, protocol: number, port: number): boolean {
  if (!inRange(addr, ts.startAddr, ts.endAddr)) return false;
  if (ts.ipProtocol !== 0 && ts.ipProtocol !== protocol) return false;
  return port >= ts.startPort && port <= ts.endPort;
}

export interface SpdEntry {
  readonly reqid: number;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  /** A trap: no SA yet; traffic matching it raises an acquire. */
  readonly trap: boolean;
}

/**
 * Policies of Child SAs and traps, each by request ID. A trap keeps its own entry while the
 * Child SA it brought up has its policies (the same request ID, RFC 4301 §4.4.1 order:
 * installed SAs' policies first), as strongSwan keeps trap and SA policies apart.
 */
export class Spd {
  private readonly policies = new Map<number, SpdEntry>();
  private readonly traps = new Map<number, SpdEntry>();

  set(e: SpdEntry): void {
    (e.trap ? this.traps : this.policies).set(e.reqid, e);
  }

  delete(reqid: number, trap: boolean): void {
    (trap ? this.traps : this.policies).delete(reqid);
  }

  /** The Child SA policy of a request ID (the selectors its inbound packets must fit). */
  get(reqid: number): SpdEntry | undefined {
    // A trapped child's SAs have no policy of their own: the trap's covers them, in both
    // directions, as the kernel's trap policy does (its template names the same reqid).
    return this.policies.get(reqid) ?? this.traps.get(reqid);
  }

  /** The policy an outbound packet falls under: local selector covers its source, remote its destination. */
  outbound(f: PacketFields): SpdEntry | undefined {
    return find(this.policies, f) ?? find(this.traps, f);
  }
}

function find(entries: ReadonlyMap<number, SpdEntry>, f: PacketFields): SpdEntry | undefined {
  for (const e of entries.values()) {
    if (e.localTs.some((t) => matches(t, f.src, f.protocol, f.srcPort)) && e.remoteTs.some((t) => matches(t, f.dst, f.protocol, f.dstPort))) return e;
  }
  return undefined;
}

/** Does a decrypted inbound packet fit the selectors of the SA it came on (source remote, destination local)? */
export function inboundAllowed(e: SpdEntry, f: PacketFields): boolean {
  return e.remoteTs.some((t) => matches(t, f.src, f.protocol, f.srcPort)) && e.localTs.some((t) => matches(t, f.dst, f.protocol, f.dstPort));
}
