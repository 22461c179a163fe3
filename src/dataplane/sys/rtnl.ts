/**
 * A small rtnetlink client (RFC 3549; include/uapi/linux/rtnetlink.h) for what the userspace
 * plane configures around its TUN device: link up/down and MTU, addresses, routes for the remote
 * traffic selectors, deleting a link. No keys ever pass here (XFRM is someone else's file).
 *
 * Requests are synchronous: the kernel runs an rtnetlink request inside sendmsg and queues the
 * acknowledgement before sendmsg returns, so the ack is read with MSG_DONTWAIT (a short poll
 * covers the unexpected). One request costs a few microseconds, against about a millisecond
 * for spawning `ip` (bench/sys-route.ts), and failures come back as errno, not as text.
 *
 * The socket belongs to the network namespace it was opened in (see netns.ts).
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  EAGAIN,
  MSG_DONTWAIT,
  POLLIN,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SysError,
  check,
  closeFd,
  libc,
} from './libc.js';
import { ipv4Bytes, ipv6Bytes } from './sockaddr.js';

const NETLINK_ROUTE = 0;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;
const IFF_UP = 0x1;
export const RT_TABLE_MAIN = 254;
export const RTPROT_STATIC = 4;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;

/** A prefix like 10.2.0.0/16 or fd00::/64 (a bare address is a host prefix). */
export interface Prefix {
  readonly address: string;
  readonly prefixLen: number;
}

export function parsePrefix(text: string): Prefix {
  const [address = '', len] = text.split('/');
  const v6 = isIPv6(address);
  if (!v6 && !isIPv4(address)) throw new Error(`not an IP prefix: ${text}`);
  const max = v6 ? 128 : 32;
  const prefixLen = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) throw new Error(`bad prefix length: ${text}`);
  return { address, prefixLen };
}

function addrBytes(address: string): { family: number; bytes: Uint8Array } {
  if (isIPv4(address)) return { family: AF_INET, bytes: ipv4Bytes(address) };
  return { family: AF_INET6, bytes: ipv6Bytes(address) };
}

export interface RouteSpec {
  /** Destination prefix (a remote traffic selector's range as a prefix). */
  readonly dst: string | Prefix;
  /** Output interface (name or index). */
  readonly dev: string | number;
  readonly gateway?: string;
  /** Preferred source address (RTA_PREFSRC), e.g. the local inner address. */
  readonly src?: string;
  readonly table?: number;
  readonly metric?: number;
  readonly protocol?: number;
}

/** Build a netlink request: header (filled in on send), a fixed family header, attributes. */
class Msg {
  private parts: Uint8Array[] = [];
  private len = 16;
  constructor(
    readonly type: number,
    readonly flags: number,
    fixed: Uint8Array,
  ) {
    this.push(fixed);
  }
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.len += b.length;
  }
  attr(type: number, data: Uint8Array): this {
    const alen = 4 + data.length;
    const b = Buffer.alloc((alen + 3) & ~3);
    b.writeUInt16LE(alen, 0);
    b.writeUInt16LE(type, 2);
    b.set(data, 4);
    this.push(b);
    return this;
  }
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return this.attr(type, b);
  }
  str(type: number, s: string): this {
    return this.attr(type, Buffer.from(`${s}\0`, 'latin1'));
  }
  encode(seq: number): Buffer {
    const out = Buffer.alloc(this.len);
    out.writeUInt32LE(this.len, 0);
    out.writeUInt16LE(this.type, 4);
    out.writeUInt16LE(this.flags | NLM_F_REQUEST | NLM_F_ACK, 6);
    out.writeUInt32LE(seq, 8);
    out.writeUInt32LE(0, 12);
    let off = 16;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

/** An rtnetlink socket in the namespace it was opened in. */
export class Rtnl {
  private fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly rx = Buffer.alloc(65536);

  constructor() {
    const c = libc();
    this.fd = check(c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 'socket', 'AF_NETLINK');
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    if (c.bind(this.fd, sa, 12) < 0) {
      const e = c.errno();
      closeFd(this.fd);
      throw new SysError('bind', e, 'AF_NETLINK');
    }
  }

  close(): void {
    closeFd(this.fd);
    this.fd = -1;
  }

  /**
   * A name's interface index in this socket's namespace (RTM_GETLINK), not the calling
   * thread's: if_nametoindex would look in the namespace the thread is in now.
   */
  ifindex(dev: string | number): number {
    if (typeof dev === 'number') return dev;
    const reply = this.request(new Msg(RTM_GETLINK, 0, Buffer.alloc(16)).str(IFLA_IFNAME, dev), `link ${dev}`);
    if (!reply || reply.length < 24) throw new Error(`rtnetlink: no link message for ${dev}`);
    return reply.readInt32LE(20);
  }

  /**
   * Send one request and wait for its acknowledgement; a negative error throws SysError.
   * Returns the first answer message (header included) a GET request brought, if any.
   */
  private request(m: Msg, what: string): Buffer | undefined {
    if (this.fd < 0) throw new Error('rtnetlink socket closed');
    const c = libc();
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const req = m.encode(seq);
    const dst = Buffer.alloc(12);
    dst.writeUInt16LE(AF_NETLINK, 0);
    check(c.sendto(this.fd, req, req.length, 0, dst, 12), 'sendto', `rtnetlink ${what}`);
    let kept: Buffer | undefined;
    for (;;) {
      let n = c.recv(this.fd, this.rx, this.rx.length, MSG_DONTWAIT);
      if (n < 0 && c.errno() === EAGAIN) {
        const pfd = Buffer.alloc(8);
        pfd.writeInt32LE(this.fd, 0);
        pfd.writeInt16LE(POLLIN, 4);
        if (check(c.poll(pfd, 1, 2000), 'poll', 'rtnetlink') === 0) throw new Error(`rtnetlink ${what}: no acknowledgement within 2 s`);
        n = c.recv(this.fd, this.rx, this.rx.length, MSG_DONTWAIT);
      }
      check(n, 'recv', `rtnetlink ${what}`);
      let answer: Buffer | undefined;
      for (let off = 0; off + 16 <= n; ) {
        const len = this.rx.readUInt32LE(off);
        const type = this.rx.readUInt16LE(off + 4);
        const mseq = this.rx.readUInt32LE(off + 8);
        if (len < 16) break;
        if (mseq === seq && type === NLMSG_ERROR) {
          const err = this.rx.readInt32LE(off + 16);
          if (err !== 0) throw new SysError('rtnetlink', -err, what);
          return answer ?? kept;
        }
        if (mseq === seq && type === NLMSG_DONE) return answer ?? kept;
        if (mseq === seq && answer === undefined) answer = Buffer.from(this.rx.subarray(off, off + len));
        off += (len + 3) & ~3;
      }
      kept ??= answer;
    }
  }

  private link(index: number, flags: number, change: number, nlFlags = 0): Msg {
    const b = Buffer.alloc(16);
    b.writeUInt8(0, 0); // AF_UNSPEC
    b.writeInt32LE(index, 4);
    b.writeUInt32LE(flags, 8);
    b.writeUInt32LE(change, 12);
    return new Msg(RTM_NEWLINK, nlFlags, b);
  }

  /** ip link set DEV up|down */
  setUp(dev: string | number, up = true): void {
    this.request(this.link(this.ifindex(dev), up ? IFF_UP : 0, IFF_UP), `link ${dev} ${up ? 'up' : 'down'}`);
  }

  /** ip link set DEV mtu N */
  setMtu(dev: string | number, mtu: number): void {
    this.request(this.link(this.ifindex(dev), 0, 0).u32(IFLA_MTU, mtu), `link ${dev} mtu ${mtu}`);
  }

  /** ip link del DEV (not needed for TUN: closing its fds removes it). */
  deleteLink(dev: string | number): void {
    const b = Buffer.alloc(16);
    const m = new Msg(RTM_DELLINK, 0, b);
    if (typeof dev === 'number') b.writeInt32LE(dev, 4);
    else m.str(IFLA_IFNAME, dev);
    this.request(m, `link del ${dev}`);
  }

  private addr(type: number, nlFlags: number, dev: string | number, prefix: string | Prefix): Msg {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    const { family, bytes } = addrBytes(p.address);
    const b = Buffer.alloc(8);
    b.writeUInt8(family, 0);
    b.writeUInt8(p.prefixLen, 1);
    b.writeUInt8(family === AF_INET6 ? IFA_F_NODAD : 0, 2);
    b.writeUInt8(RT_SCOPE_UNIVERSE, 3);
    b.writeUInt32LE(this.ifindex(dev), 4);
    return new Msg(type, nlFlags, b).attr(IFA_LOCAL, bytes).attr(IFA_ADDRESS, bytes);
  }

  /** ip addr add PREFIX dev DEV (IPv6 without duplicate address detection). */
  addAddress(dev: string | number, prefix: string | Prefix): void {
    this.request(this.addr(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, dev, prefix), `addr add ${String(typeof prefix === 'string' ? prefix : prefix.address)} dev ${dev}`);
  }

  deleteAddress(dev: string | number, prefix: string | Prefix): void {
    this.request(this.addr(RTM_DELADDR, 0, dev, prefix), `addr del ${String(typeof prefix === 'string' ? prefix : prefix.address)} dev ${dev}`);
  }

  private route(type: number, nlFlags: number, r: RouteSpec): Msg {
    const p = typeof r.dst === 'string' ? parsePrefix(r.dst) : r.dst;
    const { family, bytes } = addrBytes(p.address);
    const table = r.table ?? RT_TABLE_MAIN;
    const b = Buffer.alloc(12);
    b.writeUInt8(family, 0);
    b.writeUInt8(p.prefixLen, 1);
    b.writeUInt8(table < 256 ? table : 252, 4); // RT_TABLE_COMPAT, the real one in RTA_TABLE
    b.writeUInt8(r.protocol ?? RTPROT_STATIC, 5);
    b.writeUInt8(type === RTM_DELROUTE ? RT_SCOPE_NOWHERE : r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, 6);
    b.writeUInt8(RTN_UNICAST, 7);
    const m = new Msg(type, nlFlags, b).u32(RTA_TABLE, table).attr(RTA_DST, bytes).u32(RTA_OIF, this.ifindex(r.dev));
    if (r.gateway) m.attr(RTA_GATEWAY, addrBytes(r.gateway).bytes);
    if (r.src) m.attr(RTA_PREFSRC, addrBytes(r.src).bytes);
    if (r.metric !== undefined) m.u32(RTA_PRIORITY, r.metric);
    return m;
  }

  private static describe(r: RouteSpec): string {
    const d = typeof r.dst === 'string' ? r.dst : `${r.dst.address}/${r.dst.prefixLen}`;
    return `${d} dev ${r.dev}${r.table ? ` table ${r.table}` : ''}`;
  }

  /** ip route add (replace: also succeeds when the same route exists). */
  addRoute(r: RouteSpec, opts: { readonly replace?: boolean } = {}): void {
    const flags = NLM_F_CREATE | (opts.replace ? NLM_F_REPLACE : NLM_F_EXCL);
    this.request(this.route(RTM_NEWROUTE, flags, r), `route add ${Rtnl.describe(r)}`);
  }

  /** ip route del */
  deleteRoute(r: RouteSpec): void {
    this.request(this.route(RTM_DELROUTE, 0, r), `route del ${Rtnl.describe(r)}`);
  }
}
