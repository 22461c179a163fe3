/**
 * Sockets Node cannot make: raw IP sockets for ESP (IP protocol 50, RFC 4303) and plain UDP
 * sockets made through koffi (for UDP_ENCAP, for handing to node:dgram with { fd }, or for a
 * worker's own recvmmsg/sendmmsg).
 *
 * Raw ESP sockets (raw(7)): on IPv4 the kernel hands a receiver the whole datagram with its IPv4
 * header (stripIpv4Header); on IPv6 only what follows the IPv6 header and its extension headers,
 * with the source address in the recvfrom name. When sending, the kernel writes the IP header
 * (no IP_HDRINCL): the caller passes the ESP packet (SPI first) and the destination. A raw
 * socket gets a copy of every ESP packet of its namespace, also when the kernel has an ESP
 * implementation of its own (and then handles the packet too); where it has none (like this
 * project's test machine), the kernel sends no "protocol unreachable" while a raw socket exists.
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  AF_INET,
  AF_INET6,
  EAGAIN,
  IPPROTO_ESP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_V6ONLY,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_SOCKET,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SO_SNDBUFFORCE,
  SysError,
  check,
  closeFd,
  libc,
  setsockoptInt,
} from './libc.js';
import { SOCKADDR_MAX, decodeSockAddr, encodeSockAddr, type SockAddr } from './sockaddr.js';

export type Family = 4 | 6;

export function familyOf(address: string): Family {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new Error(`not an IP address: ${address}`);
}

export interface SocketOptions {
  /** Local address (and port for UDP) to bind; family from it. */
  readonly bind?: SockAddr;
  /** Connect to (UDP: fixes the peer for send(); raw: filters received packets by source). */
  readonly connect?: SockAddr;
  /** Family when neither bind nor connect gives it. */
  readonly family?: Family;
  /** O_NONBLOCK (default true: the pump polls; node:dgram also wants it). */
  readonly nonBlocking?: boolean;
  /** SO_RCVBUFFORCE / SO_SNDBUFFORCE in octets (root), for bursts of small packets. */
  readonly rcvbuf?: number;
  readonly sndbuf?: number;
  /** SO_REUSEADDR (UDP). */
  readonly reuseAddr?: boolean;
}

function open(type: number, protocol: number, opts: SocketOptions, what: string, setup?: (fd: number, family: Family) => void): number {
  const c = libc();
  const family: Family = opts.bind ? familyOf(opts.bind.address) : opts.connect ? familyOf(opts.connect.address) : (opts.family ?? 4);
  const fd = check(
    c.socket(family === 4 ? AF_INET : AF_INET6, type | SOCK_CLOEXEC | ((opts.nonBlocking ?? true) ? SOCK_NONBLOCK : 0), protocol),
    'socket',
    what,
  );
  try {
    // IPv6 UDP only: raw sockets refuse IPV6_V6ONLY (EINVAL) and never see IPv4 anyway.
    if (family === 6 && type === SOCK_DGRAM) setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, 'IPV6_V6ONLY');
    if (opts.reuseAddr) setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (opts.rcvbuf !== undefined) setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.rcvbuf, 'SO_RCVBUFFORCE');
    if (opts.sndbuf !== undefined) setsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, opts.sndbuf, 'SO_SNDBUFFORCE');
    setup?.(fd, family);
    if (opts.bind) {
      const { buf, len } = encodeSockAddr(opts.bind);
      check(c.bind(fd, buf, len), 'bind', `${what} ${opts.bind.address}:${opts.bind.port}`);
    }
    if (opts.connect) {
      const { buf, len } = encodeSockAddr(opts.connect);
      check(c.connect(fd, buf, len), 'connect', `${what} ${opts.connect.address}:${opts.connect.port}`);
    }
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  return fd;
}

/** A UDP socket made through koffi (bind/connect as given). */
export function openUdpSocket(opts: SocketOptions & { readonly setup?: (fd: number, family: Family) => void } = {}): number {
  return open(SOCK_DGRAM, IPPROTO_UDP, opts, 'udp', opts.setup);
}

/** A raw socket for IP protocol 50 (ESP); bind fixes the source address of what it sends. */
export function openEspSocket(opts: SocketOptions & { readonly family?: Family } = {}): number {
  const strip = (a?: SockAddr): SockAddr | undefined => (a ? { address: a.address, port: 0 } : undefined);
  const bind = strip(opts.bind);
  const connect = strip(opts.connect);
  return open(SOCK_RAW, IPPROTO_ESP, { ...opts, ...(bind ? { bind } : {}), ...(connect ? { connect } : {}) }, 'raw ESP');
}

/** The bound local address of a socket. */
export function localAddress(fd: number): SockAddr {
  const b = new Uint8Array(SOCKADDR_MAX);
  const len = new Uint32Array([SOCKADDR_MAX]);
  check(libc().getsockname(fd, b, len), 'getsockname', `fd ${fd}`);
  return decodeSockAddr(b);
}

/**
 * Send one datagram (raw ESP: the ESP packet; UDP: the payload) to `to` (null: connected).
 * Returns false when the socket's queue is full (EAGAIN/ENOBUFS: the packet is dropped).
 */
export function sendDatagram(fd: number, data: Uint8Array, to: SockAddr | null): boolean {
  const c = libc();
  let r: number;
  if (to === null) r = c.send(fd, data, data.length, 0);
  else {
    const { buf, len } = encodeSockAddr(to);
    r = c.sendto(fd, data, data.length, 0, buf, len);
  }
  if (r >= 0) return true;
  const e = c.errno();
  if (e === EAGAIN || e === 105) return false;
  throw new SysError('sendto', e, to ? `${to.address}` : `fd ${fd}`);
}

/** One received datagram: its length in `buf` and the sender, or null when nothing is queued. */
export function recvDatagram(fd: number, buf: Uint8Array): { length: number; from: SockAddr } | null {
  const c = libc();
  const name = new Uint8Array(SOCKADDR_MAX);
  const nameLen = new Uint32Array([SOCKADDR_MAX]);
  const n = c.recvfrom(fd, buf, buf.length, 0, name, nameLen);
  if (n < 0) {
    const e = c.errno();
    if (e === EAGAIN) return null;
    throw new SysError('recvfrom', e, `fd ${fd}`);
  }
  return { length: n, from: decodeSockAddr(name) };
}

/**
 * What a raw IPv4 socket received: the IPv4 header's length (IHL) so that the ESP packet is
 * packet.subarray(headerLength); null for anything that is not a sane IPv4 header for ESP.
 */
export function ipv4PayloadOffset(packet: Uint8Array, length = packet.length): number | null {
  if (length < 20) return null;
  const vihl = packet[0] ?? 0;
  if (vihl >> 4 !== 4) return null;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20 || ihl > length) return null;
  if (packet[9] !== IPPROTO_ESP) return null;
  return ihl;
}

/** The ESP packet inside what a raw IPv4 socket received (and its source address), or null. */
export function stripIpv4Header(packet: Uint8Array, length = packet.length): { esp: Uint8Array; src: string; dst: string } | null {
  const off = ipv4PayloadOffset(packet, length);
  if (off === null) return null;
  return {
    esp: packet.subarray(off, length),
    src: `${packet[12]}.${packet[13]}.${packet[14]}.${packet[15]}`,
    dst: `${packet[16]}.${packet[17]}.${packet[18]}.${packet[19]}`,
  };
}

