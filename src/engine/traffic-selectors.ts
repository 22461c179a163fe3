/**
 * Traffic selectors (RFC 7296 §3.13) from configuration text ("198.51.100.0/25",
 * "10.1.0.0/16[tcp/443]", "::/0") and the responder's narrowing (RFC 7296 §2.9).
 */
import { TsType } from '../wire/constants.js';
import type { TrafficSelector } from '../wire/types.js';
import { addressFamily, addressToBytes, bytesToAddress } from './address.js';
import { packed } from './util.js';

export class TrafficSelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrafficSelectorError';
  }
}

const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Parse "net/prefix[proto/port]" or "addr" or "a-b" into a selector. */
export function parseTrafficSelector(text: string): TrafficSelector {
  const m = /^([^[\]]+?)(?:\[([a-z0-9]*)(?:\/([0-9]+(?:-[0-9]+)?))?\])?$/i.exec(text.trim());
  if (!m?.[1]) throw new TrafficSelectorError(`traffic selector '${text}' is not of the form 10.0.0.0/24[tcp/80]`);
  const net = m[1];
  let start: Uint8Array;
  let end: Uint8Array;
  if (net.includes('-') && !net.includes('/')) {
    const [a, b] = net.split('-') as [string, string];
    start = addressToBytes(a);
    end = addressToBytes(b);
    if (start.length !== end.length || compare(start, end) > 0) throw new TrafficSelectorError(`bad range '${net}'`);
  } else {
    const [addr, prefixText] = net.split('/') as [string, string | undefined];
    let bytes: Uint8Array;
    try {
      bytes = addressToBytes(addr);
    } catch {
      throw new TrafficSelectorError(`'${addr}' in traffic selector '${text}' is not an IP address`);
    }
    const bits = bytes.length * 8;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) throw new TrafficSelectorError(`bad prefix length in '${text}'`);
    start = new Uint8Array(bytes.length);
    end = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      const keep = Math.max(0, Math.min(8, prefix - i * 8));
      const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
      start[i] = (bytes[i] ?? 0) & mask;
      end[i] = ((bytes[i] ?? 0) & mask) | (~mask & 0xff);
    }
  }
  let ipProtocol = 0;
  let startPort = 0;
  let endPort = 65535;
  if (m[2]) {
    const p = PROTOCOLS[m[2].toLowerCase()] ?? Number(m[2]);
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new TrafficSelectorError(`unknown protocol '${m[2]}' in '${text}'`);
    ipProtocol = p;
  }
  if (m[3]) {
    const [a, b] = m[3].split('-').map(Number) as [number, number | undefined];
    startPort = a;
    endPort = b ?? a;
    if (startPort > 65535 || endPort > 65535 || startPort > endPort) throw new TrafficSelectorError(`bad port range in '${text}'`);
  }
  return {
    tsType: start.length === 4 ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    ipProtocol,
    startPort,
    endPort,
    startAddr: start,
    endAddr: end,
  };
}

/** A selector covering one host (used for the packet-less "dynamic" case: our own address). */
export function hostSelector(address: string): TrafficSelector {
  const b = addressToBytes(address);
  return {
    tsType: addressFamily(address) === 4 ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    ipProtocol: 0,
    startPort: 0,
    endPort: 65535,
    startAddr: b,
    endAddr: b,
  };
}

/** The intersection of two selectors, or undefined if they do not overlap. */
export function intersect(a: TrafficSelector, b: TrafficSelector): TrafficSelector | undefined {
  if (a.tsType !== b.tsType) return undefined;
  if (a.ipProtocol !== 0 && b.ipProtocol !== 0 && a.ipProtocol !== b.ipProtocol) return undefined;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (startPort > endPort) return undefined;
  const startAddr = compare(a.startAddr, b.startAddr) >= 0 ? a.startAddr : b.startAddr;
  const endAddr = compare(a.endAddr, b.endAddr) <= 0 ? a.endAddr : b.endAddr;
  if (compare(startAddr, endAddr) > 0) return undefined;
  return { tsType: a.tsType, ipProtocol: a.ipProtocol || b.ipProtocol, startPort, endPort, startAddr, endAddr };
}

/** A TS payload holds at most 255 selectors (RFC 7296 §3.13: Number of TSs is one octet). */
export const MAX_SELECTORS = 255;

/**
 * Narrow the peer's proposed selectors to our configured ones (RFC 7296 §2.9): the non-empty
 * intersections, in the peer's order, at most MAX_SELECTORS of them (a subset is a valid
 * narrowing; more would not fit the answer). Empty result means TS_UNACCEPTABLE.
 */
export function narrow(proposed: readonly TrafficSelector[], configured: readonly TrafficSelector[]): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  for (const p of proposed) {
    for (const c of configured) {
      const i = intersect(p, c);
      if (i && !out.some((o) => sameSelector(o, i))) out.push(i);
      if (out.length === MAX_SELECTORS) return out;
    }
  }
  return out;
}

/** True if every selector of `inner` lies within one of `outer` (initiator's check of the answer). */
export function isSubset(inner: readonly TrafficSelector[], outer: readonly TrafficSelector[]): boolean {
  return inner.every((i) => outer.some((o) => {
    const x = intersect(i, o);
    return x !== undefined && sameSelector(x, i);
  }));
}

export function sameSelector(a: TrafficSelector, b: TrafficSelector): boolean {
  return (
    a.tsType === b.tsType &&
    a.ipProtocol === b.ipProtocol &&
    a.startPort === b.startPort &&
    a.endPort === b.endPort &&
    compare(a.startAddr, b.startAddr) === 0 &&
    compare(a.endAddr, b.endAddr) === 0
  );
}

/** "198.51.100.0/25" where the range is a prefix, else "a-b"; with "[proto/ports]" if set. */
export function formatSelector(ts: TrafficSelector): string {
  let net = `${bytesToAddress(ts.startAddr)}-${bytesToAddress(ts.endAddr)}`;
  const bits = ts.startAddr.length * 8;
  for (let prefix = 0; prefix <= bits; prefix++) {
    let ok = true;
    for (let i = 0; i < ts.startAddr.length && ok; i++) {
      const keep = Math.max(0, Math.min(8, prefix - i * 8));
      const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
      if (((ts.startAddr[i] ?? 0) & mask) !== (ts.startAddr[i] ?? 0)) ok = false;
      if (((ts.startAddr[i] ?? 0) | (~mask & 0xff)) !== (ts.endAddr[i] ?? 0)) ok = false;
    }
    if (ok) {
      net = `${bytesToAddress(ts.startAddr)}/${prefix}`;
      break;
    }
  }
  if (ts.ipProtocol === 0 && ts.startPort === 0 && ts.endPort === 65535) return net;
  const ports = ts.startPort === 0 && ts.endPort === 65535 ? '' : ts.startPort === ts.endPort ? `/${ts.startPort}` : `/${ts.startPort}-${ts.endPort}`;
  return `${net}[${ts.ipProtocol}${ports}]`;
}

/** `ts` with its addresses in a buffer of its own (not views of a received message). */
export function ownSelector(ts: TrafficSelector): TrafficSelector {
  const [startAddr, endAddr] = packed([ts.startAddr, ts.endAddr]) as [Uint8Array, Uint8Array];
  return { tsType: ts.tsType, ipProtocol: ts.ipProtocol, startPort: ts.startPort, endPort: ts.endPort, startAddr, endAddr };
}

/**
 * The selectors a Child SA keeps for its lifetime: each one equal to one of `known` (the
 * configured ones) is that object, the others copies of their own; and the list is `known`
 * itself when it is the same list. A gateway with many Child SAs of one configuration then holds
 * one set of selector objects instead of one per Child SA (and no received message through them).
 */
export function canonicalSelectors(list: readonly TrafficSelector[], known: readonly TrafficSelector[]): readonly TrafficSelector[] {
  let all = list.length === known.length;
  const out = list.map((t, i) => {
    const k = known.find((x) => x === t || sameSelector(x, t));
    if (k !== known[i]) all = false;
    return k ?? ownSelector(t);
  });
  return all ? known : out;
}
