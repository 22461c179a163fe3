/**
 * IKE sockets that our own policies never catch: per-socket bypass policies.
 *
 * A tunnel's SPD entries may cover the gateways' own addresses (a transport-mode Child SA
 * between them, or a tunnel whose selectors include the outer addresses, e.g. 0.0.0.0/0). IKE
 * must then still pass in clear: the IKE SA is what negotiates the Child SA, and RFC 4301
 * §4.4.1.1 says IKE traffic must bypass the SPD. Linux does this per socket: a policy set with
 * setsockopt(IP_XFRM_POLICY / IPV6_XFRM_POLICY) takes precedence over the SPD for the socket's
 * own packets (xfrm_sk_policy_lookup runs before the SPD lookup, in both directions). As
 * strongSwan's kernel-netlink (bypass_socket()) does, each IKE socket gets two: an
 * xfrm_userpolicy_info zeroed but for action XFRM_POLICY_ALLOW, sel.family and dir (IN, OUT),
 * with no template, so nothing is required of its packets. Needs CAP_NET_ADMIN.
 *
 * The NAT-T socket gets the same plus UDP_ENCAP_ESPINUDP (RFC 3948: the kernel takes ESP in UDP
 * off it; see ../sys/natt-socket.ts).
 */
import type dgram from 'node:dgram';
import { IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP, check, getsockoptInt, libc, setsockoptInt } from '../sys/libc.js';
import { adoptDgram } from '../sys/natt-socket.js';
import { familyOf, openUdpSocket, type Family } from '../sys/sockets.js';
import { AF_INET, AF_INET6, XfrmDir, XFRM_POLICY_ALLOW } from './constants.js';
import { ANY_SELECTOR, encodePolicyRequest } from './messages.js';

/** include/uapi/linux/in.h, in6.h. */
export const IP_XFRM_POLICY = 17;
export const IPV6_XFRM_POLICY = 35;

/** The xfrm_userpolicy_info of a bypass policy for one direction (what strongSwan sets). */
export function bypassPolicy(family: Family, dir: 'in' | 'out'): Uint8Array {
  const [info] = encodePolicyRequest({
    sel: { ...ANY_SELECTOR, family: family === 4 ? AF_INET : AF_INET6 },
    dir: dir === 'in' ? XfrmDir.IN : XfrmDir.OUT,
    priority: 0,
    action: XFRM_POLICY_ALLOW,
    tmpls: [],
  });
  if (!info) throw new Error('no xfrm_userpolicy_info');
  return info;
}

/** Set both bypass policies on a socket (throws SysError: EPERM without CAP_NET_ADMIN). */
export function setBypass(fd: number, family: Family): void {
  const [level, name] = family === 4 ? [IPPROTO_IP, IP_XFRM_POLICY] : [IPPROTO_IPV6, IPV6_XFRM_POLICY];
  for (const dir of ['in', 'out'] as const) {
    const p = bypassPolicy(family, dir);
    check(libc().setsockopt(fd, level, name, p, p.length), 'setsockopt', `${family === 4 ? 'IP' : 'IPV6'}_XFRM_POLICY ${dir} (bypass)`);
  }
}

export interface IkeSocketOptions {
  readonly address: string;
  readonly port: number;
  /** UDP_ENCAP_ESPINUDP (the NAT-T socket, RFC 3948). */
  readonly natt?: boolean;
  /** SO_RCVBUFFORCE in octets (as the daemon's own IKE sockets: 4 MiB). */
  readonly rcvbuf?: number;
}

/** A bound UDP fd with the bypass policies (and UDP_ENCAP when natt), made through koffi. */
export function openIkeFd(opts: IkeSocketOptions): number {
  return openUdpSocket({
    bind: { address: opts.address, port: opts.port },
    ...(opts.rcvbuf !== undefined ? { rcvbuf: opts.rcvbuf } : {}),
    setup: (fd, family) => {
      setBypass(fd, family);
      if (opts.natt) setsockoptInt(fd, IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP, 'UDP_ENCAP_ESPINUDP');
    },
  });
}

/** openIkeFd handed to node:dgram (which then owns the fd). */
export async function createIkeSocket(opts: IkeSocketOptions): Promise<{ socket: dgram.Socket; fd: number }> {
  const fd = openIkeFd(opts);
  const socket = await adoptDgram(fd, familyOf(opts.address));
  return { socket, fd };
}

/** UDP_ENCAP of a socket (2: ESP in UDP), for tests. */
export function encapOf(fd: number): number {
  return getsockoptInt(fd, IPPROTO_UDP, UDP_ENCAP, 'UDP_ENCAP');
}
