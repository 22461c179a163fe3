/** struct sockaddr_in / sockaddr_in6 (Linux layout) to and from address strings. */
import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6 } from './libc.js';

export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;
/** Room for either. */
export const SOCKADDR_MAX = 28;

export interface SockAddr {
  readonly address: string;
  readonly port: number;
}

/** IPv4 dotted quad to its 4 octets. */
export function ipv4Bytes(address: string): Uint8Array {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return Uint8Array.from(address.split('.').map(Number));
}

/** IPv6 text (any RFC 4291 form, also with an embedded IPv4 tail) to its 16 octets. */
export function ipv6Bytes(address: string): Uint8Array {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  let text = address;
  const out = new Uint8Array(16);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const b = ipv4Bytes(v4[1]);
    const hi = (((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16);
    const lo = (((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16);
    text = `${text.slice(0, text.length - v4[1].length)}${hi}:${lo}`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - r.length).fill('0'), ...r];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function ipv4Text(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** 16 octets to canonical IPv6 text (RFC 5952: lower case, the first longest run of 2+ zero groups as ::). */
export function ipv6Text(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[off + i * 2] ?? 0) << 8) | (b[off + i * 2 + 1] ?? 0));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${ipv4Text(b, off + 12)}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Encode a socket address (family from the address text) into `out` (or a new buffer); returns its length. */
export function encodeSockAddr(addr: SockAddr, out: Uint8Array = new Uint8Array(SOCKADDR_MAX)): { buf: Uint8Array; len: number } {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.fill(0, 0, SOCKADDR_MAX);
  if (isIPv4(addr.address)) {
    dv.setUint16(0, AF_INET, true);
    dv.setUint16(2, addr.port, false);
    out.set(ipv4Bytes(addr.address), 4);
    return { buf: out, len: SOCKADDR_IN_LEN };
  }
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, addr.port, false);
  out.set(ipv6Bytes(addr.address), 8);
  return { buf: out, len: SOCKADDR_IN6_LEN };
}

/** Decode a sockaddr_in / sockaddr_in6. */
export function decodeSockAddr(b: Uint8Array): SockAddr {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { address: ipv4Text(b, 4), port };
  if (family === AF_INET6) return { address: ipv6Text(b, 8), port };
  throw new Error(`unknown address family ${family}`);
}
