/**
 * The NAT-T socket (UDP 4500, RFC 3948) shared by IKE and ESP in UDP.
 *
 * One socket carries three things (RFC 3948 §2): IKE behind a 4-octet zero non-ESP marker,
 * NAT keepalives (one octet 0xFF), and ESP (the first four octets are its non-zero SPI).
 *
 * - Userspace plane: the worker has a socket of its own on the same port, and the kernel picks
 *   the socket per datagram (natt-split.ts): ESP to the worker, IKE and keepalives to the
 *   daemon's node:dgram socket. Where that cannot be set up, the daemon's socket receives all
 *   three; `classifyNatt` tells them apart and ESP goes to the pump (pump.inject on an
 *   'inject' port), and the worker sends ESP in UDP from the daemon's socket through its fd.
 * - Kernel plane (XFRM): UDP_ENCAP_ESPINUDP must be set on the very socket IKE uses on 4500, so
 *   the kernel decapsulates ESP itself (xfrm4_udp_encap_rcv / xfrm6_udp_encap_rcv): it eats
 *   keepalives, takes ESP datagrams longer than 8 octets whose first four are not zero to XFRM,
 *   and passes the rest — IKE with its marker, untouched — to the socket. node:dgram cannot set
 *   the option, so `createNattSocket` makes the socket through koffi (socket, setsockopt, bind)
 *   and hands its fd to node:dgram (`bind({ fd })`), which then owns (and closes) it.
 */
import dgram from 'node:dgram';
import { IPPROTO_UDP, SOL_SOCKET, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP, closeFd, getsockoptInt, setsockoptInt } from './libc.js';
import { SO_REUSEPORT } from './natt-split.js';
import { familyOf, openUdpSocket } from './sockets.js';

/** What arrived on the NAT-T port. */
export type NattKind = 'ike' | 'keepalive' | 'esp' | 'invalid';

/**
 * RFC 3948 §2.2/§2.3, as the kernel does it: one octet 0xFF is a keepalive; a zero marker
 * followed by an IKE message is IKE; more than 8 octets with a non-zero first word is ESP
 * (SPI + sequence number at least); everything else is invalid (a bare marker, a short
 * datagram, ESP too short to carry anything).
 */
export function classifyNatt(d: Uint8Array): NattKind {
  if (d.length === 1 && d[0] === 0xff) return 'keepalive';
  if (d.length < 4) return 'invalid';
  const zero = d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0;
  if (zero) return d.length > 4 ? 'ike' : 'invalid';
  return d.length > 8 ? 'esp' : 'invalid';
}

export interface NattSocketOptions {
  readonly address: string;
  /** 4500 for a gateway; 0 picks a free port (tests). */
  readonly port: number;
  /** Set UDP_ENCAP_ESPINUDP (kernel plane). Default false (userspace plane). */
  readonly kernelEncap?: boolean;
  /** SO_RCVBUFFORCE in octets (ESP bursts on a userspace plane). */
  readonly rcvbuf?: number;
  /** SO_REUSEPORT, so that a second socket can share the port (natt-split.ts). Default false. */
  readonly reuseport?: boolean;
}

export interface NattSocket {
  /** The node:dgram socket, bound, owning the fd (close it to close the fd). */
  readonly socket: dgram.Socket;
  /** The fd, for a worker that sends ESP in UDP from it (valid until socket.close()). */
  readonly fd: number;
  readonly kernelEncap: boolean;
}

/** Read back UDP_ENCAP of a socket (0: none, 2: ESP in UDP). */
export function udpEncapOf(fd: number): number {
  return getsockoptInt(fd, SOL_UDP, UDP_ENCAP, 'UDP_ENCAP');
}

/**
 * The NAT-T socket's fd, bound, made through koffi, with UDP_ENCAP_ESPINUDP when kernelEncap is
 * set (throws SysError ENOPROTOOPT where the kernel has no XFRM). Synchronous, so that it can be
 * made inside another namespace (netns.ts); adoptDgram turns it into a node:dgram socket.
 */
export function openNattFd(opts: NattSocketOptions): number {
  const kernelEncap = opts.kernelEncap ?? false;
  return openUdpSocket({
    bind: { address: opts.address, port: opts.port },
    ...(opts.rcvbuf !== undefined ? { rcvbuf: opts.rcvbuf } : {}),
    setup: (s) => {
      if (kernelEncap) setsockoptInt(s, IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP, 'UDP_ENCAP_ESPINUDP');
      if (opts.reuseport) setsockoptInt(s, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    },
  });
}

/** Hand a bound UDP socket fd to node:dgram (bind({ fd })); the dgram socket then owns the fd. */
export async function adoptDgram(fd: number, family: 4 | 6): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ...(family === 6 ? { ipv6Only: true } : {}) });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ fd }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    try {
      socket.close();
    } catch {
      /* never bound */
    }
    closeFd(fd);
    throw e;
  }
  return socket;
}

/** A bound node:dgram socket on address:port made through koffi (openNattFd + adoptDgram). */
export async function createNattSocket(opts: NattSocketOptions): Promise<NattSocket> {
  const fd = openNattFd(opts);
  const socket = await adoptDgram(fd, familyOf(opts.address));
  return { socket, fd, kernelEncap: opts.kernelEncap ?? false };
}
