/**
 * IKEv2 traffic selectors (RFC 7296 §3.13.1: address ranges, port ranges, protocol) as XFRM
 * selectors (prefix + port/mask), and policy priorities.
 *
 * An XFRM selector is one address prefix per side and one port/mask per side, so a range that
 * is not a prefix becomes several selectors that cover it exactly (never a wider prefix: an
 * inbound policy wider than the negotiated selectors would accept traffic the peer may not send,
 * RFC 4301 §5.2). One policy per (local TS, remote TS) pair, per piece, per direction.
 *
 * ICMP and ICMPv6 (RFC 7296 §3.13.1: type in the high octet of the "port", code in the low
 * one): the kernel matches the ICMP type in the selector's sport field and the code in dport
 * (as strongSwan notes), whatever the direction; the type/code range used is the intersection
 * of both selectors' ranges.
 */
import { bigFromBytes, bytesFromBig } from '../../wire/bytes.js';
import { TsType } from '../../wire/constants.js';
import type { TrafficSelector } from '../../wire/types.js';
import { addressToBytes, bytesToAddress } from '../../engine/address.js';
import { AF_INET, AF_INET6, IPPROTO_ICMP, IPPROTO_ICMPV6, type XfrmDirName } from './constants.js';
import type { XfrmSelector } from './messages.js';
import { XfrmError } from './errors.js';

/** At most this many XFRM selectors for one Child SA's selectors (each becomes 2–3 policies). */
export const MAX_SELECTORS = 256;

interface Prefix {
  readonly addr: Uint8Array;
  readonly len: number;
}

/** The prefix length when [start, end] is exactly one prefix, else -1 (the common case, without BigInt). */
function singlePrefix(start: Uint8Array, end: Uint8Array): number {
  let i = 0;
  while (i < start.length && start[i] === end[i]) i++;
  if (i === start.length) return i * 8;
  const x = ((start[i] as number) ^ (end[i] as number)) & 0xff;
  if ((x & (x + 1)) !== 0 || ((start[i] as number) & x) !== 0 || ((end[i] as number) & x) !== x) return -1;
  for (let j = i + 1; j < start.length; j++) if (start[j] !== 0 || end[j] !== 0xff) return -1;
  return i * 8 + (8 - Math.log2(x + 1));
}

/** The smallest set of prefixes covering [start, end] exactly (equal-length byte strings). */
export function rangeToPrefixes(start: Uint8Array, end: Uint8Array): Prefix[] {
  if (start.length !== end.length) throw new XfrmError('BAD_SELECTOR', 'range ends of different lengths');
  const one = singlePrefix(start, end);
  if (one >= 0) return [{ addr: Uint8Array.from(start), len: one }];
  const bits = start.length * 8;
  let lo = bigFromBytes(start);
  const hi = bigFromBytes(end);
  if (lo > hi) throw new XfrmError('BAD_SELECTOR', 'range start after its end');
  const out: Prefix[] = [];
  const top = 1n << BigInt(bits);
  while (lo <= hi) {
    // Largest block aligned at lo that stays within hi.
    let size = lo === 0n ? top : lo & -lo;
    while (lo + size - 1n > hi) size >>= 1n;
    let len = bits;
    for (let s = size; s > 1n; s >>= 1n) len--;
    out.push({ addr: bytesFromBig(lo, start.length), len });
    lo += size;
    if (out.length > MAX_SELECTORS) throw new XfrmError('BAD_SELECTOR', `address range needs more than ${MAX_SELECTORS} prefixes`);
  }
  return out;
}

interface PortMask {
  readonly port: number;
  readonly mask: number;
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff;
}

/** A 16-bit range as port/mask pairs (0..65535 → one pair with mask 0). */
export function portRangeToMasks(start: number, end: number): PortMask[] {
  if (start === 0 && end === 0xffff) return [{ port: 0, mask: 0 }];
  if (start === end) return [{ port: start, mask: 0xffff }];
  const prefixes = rangeToPrefixes(Uint8Array.of(start >> 8, start & 0xff), Uint8Array.of(end >> 8, end & 0xff));
  return prefixes.map((p) => ({ port: ((p.addr[0] as number) << 8) | (p.addr[1] as number), mask: maskOf(p.len) }));
}

interface PortPart {
  readonly sport: number;
  readonly sportMask: number;
  readonly dport: number;
  readonly dportMask: number;
}

/** ICMP type/code range → the kernel's (sport = type, dport = code) pairs. */
export function icmpParts(start: number, end: number): PortPart[] {
  const out: PortPart[] = [];
  for (const p of rangeToPrefixes(Uint8Array.of(start >> 8, start & 0xff), Uint8Array.of(end >> 8, end & 0xff))) {
    const type = p.addr[0] as number;
    const code = p.addr[1] as number;
    if (p.len >= 8) {
      const codeBits = p.len - 8;
      out.push({ sport: type, sportMask: 0xffff, dport: code, dportMask: codeBits === 0 ? 0 : 0xff00 | ((0xff << (8 - codeBits)) & 0xff) });
    } else {
      out.push({ sport: type, sportMask: p.len === 0 ? 0 : 0xff00 | ((0xff << (8 - p.len)) & 0xff), dport: 0, dportMask: 0 });
    }
  }
  return out;
}

function addrText(b: Uint8Array): string {
  return b.length === 4 ? `${b[0] as number}.${b[1] as number}.${b[2] as number}.${b[3] as number}` : bytesToAddress(b);
}

function family(ts: TrafficSelector): number {
  if (ts.tsType === TsType.IPV4_ADDR_RANGE) return AF_INET;
  if (ts.tsType === TsType.IPV6_ADDR_RANGE) return AF_INET6;
  throw new XfrmError('BAD_SELECTOR', `traffic selector type ${ts.tsType} has no XFRM form`);
}

/**
 * The XFRM selectors of the traffic between our selectors and the peer's, as seen by a policy of
 * direction `dir` (out: source = local; in, fwd: source = remote). Pairs that cannot match
 * (different families, different protocols, disjoint ICMP ranges, OPAQUE ports) are left out.
 */
export function policySelectors(localTs: readonly TrafficSelector[], remoteTs: readonly TrafficSelector[], dir: XfrmDirName): XfrmSelector[] {
  const out: XfrmSelector[] = [];
  for (const l of localTs) {
    for (const r of remoteTs) {
      const fam = family(l);
      if (family(r) !== fam) continue;
      if (l.ipProtocol !== 0 && r.ipProtocol !== 0 && l.ipProtocol !== r.ipProtocol) continue;
      const proto = Math.max(l.ipProtocol, r.ipProtocol);
      if (l.startPort > l.endPort || r.startPort > r.endPort) continue; // OPAQUE (RFC 4301 §4.4.1.1)
      let ports: PortPart[];
      if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
        const s = Math.max(l.startPort, r.startPort);
        const e = Math.min(l.endPort, r.endPort);
        if (s > e) continue;
        ports = icmpParts(s, e);
      } else {
        const lp = portRangeToMasks(l.startPort, l.endPort);
        const rp = portRangeToMasks(r.startPort, r.endPort);
        ports = [];
        for (const a of lp) {
          for (const b of rp) {
            ports.push(dir === 'out' ? { sport: a.port, sportMask: a.mask, dport: b.port, dportMask: b.mask } : { sport: b.port, sportMask: b.mask, dport: a.port, dportMask: a.mask });
          }
        }
      }
      const lNets = rangeToPrefixes(l.startAddr, l.endAddr);
      const rNets = rangeToPrefixes(r.startAddr, r.endAddr);
      for (const ln of lNets) {
        for (const rn of rNets) {
          const [src, dst] = dir === 'out' ? [ln, rn] : [rn, ln];
          for (const p of ports) {
            out.push({
              family: fam,
              saddr: addrText(src.addr),
              daddr: addrText(dst.addr),
              prefixlenS: src.len,
              prefixlenD: dst.len,
              proto,
              sport: p.sport,
              sportMask: p.sportMask,
              dport: p.dport,
              dportMask: p.dportMask,
              ifindex: 0,
              user: 0,
            });
            if (out.length > MAX_SELECTORS) throw new XfrmError('BAD_SELECTOR', `the traffic selectors need more than ${MAX_SELECTORS} XFRM selectors`);
          }
        }
      }
    }
  }
  return out;
}

/** Base of strongSwan's priorities (kernel_netlink_ipsec.c, PRIO_BASE). */
export const PRIO_BASE = 200_000;

function leadingOnes(mask: number): number {
  let n = 0;
  for (let bit = 0x8000; bit > 0 && mask & bit; bit >>= 1) n++;
  return n;
}

/**
 * strongSwan's policy priority (kernel_netlink_ipsec.c get_priority, lower = preferred): from
 * 2 × PRIO_BASE, minus 512 per prefix bit of both sides, 256 for a protocol, 4 per port-mask bit,
 * and 1 for a regular (not trap) policy, so that the more specific policy wins and an installed
 * Child SA's policy beats a trap on the same selector. Interface-bound policies (−2) are not used.
 */
export function policyPriority(sel: XfrmSelector, trap: boolean): number {
  let p = 2 * PRIO_BASE;
  p -= (sel.prefixlenS + sel.prefixlenD) * 512;
  p -= sel.proto ? 256 : 0;
  p -= (leadingOnes(sel.sportMask) + leadingOnes(sel.dportMask)) * 4;
  p -= trap ? 0 : 1;
  return p;
}

/** A selector's source or destination side as a traffic selector (for ACQUIRE events). */
export function selectorSide(sel: XfrmSelector, side: 'src' | 'dst'): TrafficSelector | undefined {
  const addr = side === 'src' ? sel.saddr : sel.daddr;
  const plen = side === 'src' ? sel.prefixlenS : sel.prefixlenD;
  if (sel.family !== AF_INET && sel.family !== AF_INET6) return undefined;
  const bytes = addr === '' ? new Uint8Array(sel.family === AF_INET ? 4 : 16) : addressToBytes(addr);
  const bits = bytes.length * 8;
  const v = bigFromBytes(bytes);
  const hostBits = BigInt(bits - Math.min(plen, bits));
  const lo = (v >> hostBits) << hostBits;
  const hi = lo | ((1n << hostBits) - 1n);
  let startPort = 0;
  let endPort = 65535;
  if (sel.proto === IPPROTO_ICMP || sel.proto === IPPROTO_ICMPV6) {
    // type in sport, code in dport, both sides alike
    const typeFixed = (sel.sportMask & 0xff) === 0xff;
    const codeFixed = (sel.dportMask & 0xff) === 0xff;
    if (typeFixed) {
      startPort = (sel.sport & 0xff) << 8;
      endPort = startPort | 0xff;
      if (codeFixed) startPort = endPort = startPort | (sel.dport & 0xff);
    }
  } else {
    const port = side === 'src' ? sel.sport : sel.dport;
    const mask = side === 'src' ? sel.sportMask : sel.dportMask;
    startPort = port & mask;
    endPort = startPort | (~mask & 0xffff);
  }
  return {
    tsType: sel.family === AF_INET ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    ipProtocol: sel.proto,
    startPort,
    endPort,
    startAddr: bytesFromBig(lo, bytes.length),
    endAddr: bytesFromBig(hi, bytes.length),
  };
}
