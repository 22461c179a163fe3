/**
 * Netlink sockets through koffi (libc's socket/bind/sendto/recvfrom/poll; Node has no
 * AF_NETLINK): a synchronous request socket and an asynchronous multicast subscription.
 *
 * Requests (NetlinkSocket.request): the kernel handles a netlink request inside sendto() and
 * has queued the reply and the acknowledgement by the time sendto() returns, so a request is
 * sendto + poll + recvfrom — tens of microseconds (xfrm-netlink test: ~13 µs for an empty
 * XFRM dump on x86-64). Every wait is a poll() with the time left to a deadline, so a request
 * never blocks for ever (default 5 s; NetlinkError ETIMEDOUT). What the kernel does inside
 * sendto() itself (e.g. loading a crypto module for a new SA) is not bounded by us.
 *
 * Errors: NLMSG_ERROR becomes a NetlinkError with the errno, its name, strerror()'s text and
 * the kernel's extended ACK message (NETLINK_EXT_ACK, e.g. "Requested type not found"). The
 * socket sets NETLINK_CAP_ACK, so an error does not echo the whole request back (an XFRM
 * request carries keys).
 *
 * Subscriptions (NetlinkSubscription): a second socket bound to multicast groups, read without
 * blocking the event loop: poll() runs as a koffi asynchronous call (on koffi's own thread pool,
 * not libuv's), watching the netlink socket and an eventfd that close() writes to; when it
 * reports the socket readable, the main thread drains it with non-blocking recvfrom. Measured
 * against a worker_thread doing blocking poll/recv (tmp bench in the report): wake-up latency
 * 8 µs vs 10 µs median, no 30 ms worker start, no second copy of koffi and no second file;
 * a timer polling every N ms would add up to N ms to every ACQUIRE.
 *
 * Only 64-bit little-endian Linux (x86_64, aarch64, …): the XFRM structs have the x86-64/aarch64
 * layout (u64 aligned to 8; 32-bit x86 differs) and the codecs write host order as little-endian.
 */
import koffi from 'koffi';
import { endianness } from 'node:os';
import { decodeDone, decodeError, decodeMessages, encodeMessage, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, StructReader, StructWriter, type NlMessage } from './netlink-codec.js';

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const NETLINK_XFRM = 6;

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;
const ETIMEDOUT = 110;
const SOCKADDR_NL_LEN = 12;
/** Receive buffer: one netlink datagram is at most 32 KiB (netlink_recvmsg caps dump skbs there). */
const RECV_BUFFER = 64 * 1024;

interface Bindings {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  recvfrom(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: Uint32Array): number;
  poll(fds: Uint8Array, nfds: number, timeoutMs: number): number;
  pollAsync(fds: Uint8Array, nfds: number, timeoutMs: number, cb: (err: unknown, res: number) => void): void;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  close(fd: number): number;
  strerror(errnum: number): string;
  errno(): number;
}

let bindings: Bindings | undefined;

function lib(): Bindings {
  if (bindings) return bindings;
  if (process.platform !== 'linux') throw new Error('netlink needs Linux');
  if (endianness() !== 'LE' || !['x64', 'arm64', 'riscv64', 'loong64', 'ppc64'].includes(process.arch)) {
    throw new Error(`netlink codecs support 64-bit little-endian Linux only, not ${process.arch}/${endianness()}`);
  }
  const l = koffi.load('libc.so.6');
  const f = <T>(proto: string): T => l.func(proto) as unknown as T;
  const poll = l.func('int poll(void *fds, unsigned long nfds, int timeout)');
  bindings = {
    socket: f('int socket(int domain, int type, int protocol)'),
    bind: f('int bind(int fd, const void *addr, unsigned int len)'),
    getsockname: f('int getsockname(int fd, void *addr, void *len)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const void *value, unsigned int len)'),
    sendto: f('long sendto(int fd, const void *buf, unsigned long len, int flags, const void *addr, unsigned int addrlen)'),
    recvfrom: f('long recvfrom(int fd, void *buf, unsigned long len, int flags, void *addr, void *addrlen)'),
    poll: poll as unknown as Bindings['poll'],
    pollAsync: poll.async as unknown as Bindings['pollAsync'],
    eventfd: f('int eventfd(unsigned int initval, int flags)'),
    write: f('long write(int fd, const void *buf, unsigned long len)'),
    close: f('int close(int fd)'),
    strerror: f('const char *strerror(int errnum)'),
    errno: () => koffi.errno(),
  };
  return bindings;
}

let errnoNames: Map<number, string> | undefined;

/** 'EEXIST' for 17, … ('errno N' when unknown). */
export function errnoName(errno: number): string {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, n] of Object.entries(koffi.os.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** strerror(errno), e.g. "File exists". */
export function errnoText(errno: number): string {
  try {
    return lib().strerror(errno);
  } catch {
    return errnoName(errno);
  }
}

/** A netlink request the kernel refused, or a socket call that failed. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** Positive errno. */
  readonly errno: number;
  /** Its name: 'EEXIST', 'ESRCH', … */
  readonly code: string;
  /** strerror(errno). */
  readonly errnoText: string;
  /** The kernel's extended ACK text ("Requested type not found"), when it gave one. */
  readonly kernelMessage?: string;

  /** `what`: the operation ("XFRM_MSG_NEWSA", "bind"). */
  constructor(what: string, errno: number, kernelMessage?: string, detail?: string) {
    const text = errnoText(errno);
    super(`${what}: ${kernelMessage ? `${kernelMessage} (${text}, ${errnoName(errno)})` : `${text} (${errnoName(errno)})`}${detail ? `: ${detail}` : ''}`);
    this.errno = errno;
    this.code = errnoName(errno);
    this.errnoText = text;
    if (kernelMessage !== undefined) this.kernelMessage = kernelMessage;
  }
}

function sockaddrNl(pid: number, groups: number): Uint8Array {
  return new StructWriter(SOCKADDR_NL_LEN).u16(0, AF_NETLINK).u32(4, pid, 'nl_pid').u32(8, groups, 'nl_groups').bytes;
}

function setIntOption(fd: number, level: number, name: number, value: number): boolean {
  return lib().setsockopt(fd, level, name, new StructWriter(4).u32(0, value).bytes, 4) === 0;
}

/** Open, configure and bind a netlink socket; returns fd and the port ID the kernel assigned. */
function openSocket(protocol: number, groups: number, rcvbufBytes: number | undefined): { fd: number; portId: number } {
  const c = lib();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new NetlinkError(`socket(AF_NETLINK, ${protocol})`, c.errno());
  try {
    // Ask for the kernel's error texts, and no echo of the request in errors (keys). Old
    // kernels (< 4.12) lack EXT_ACK: errors then come without text.
    setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    if (rcvbufBytes !== undefined && !setIntOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbufBytes)) {
      setIntOption(fd, SOL_SOCKET, SO_RCVBUF, rcvbufBytes);
    }
    if (c.bind(fd, sockaddrNl(0, groups), SOCKADDR_NL_LEN) !== 0) throw new NetlinkError('bind(AF_NETLINK)', c.errno(), undefined, `groups 0x${groups.toString(16)}`);
    const addr = new Uint8Array(SOCKADDR_NL_LEN);
    const len = Uint32Array.of(SOCKADDR_NL_LEN);
    if (c.getsockname(fd, addr, len) !== 0) throw new NetlinkError('getsockname(AF_NETLINK)', c.errno());
    return { fd, portId: new StructReader(addr, 0, SOCKADDR_NL_LEN, 'sockaddr_nl').u32(4) };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

export interface NetlinkSocketOptions {
  /** NETLINK_XFRM, NETLINK_ROUTE, … */
  readonly protocol: number;
  /** Longest wait for the kernel's answer to one request, in ms. Default 5000. */
  readonly timeoutMs?: number;
}

export interface RequestOptions {
  /** Overrides the socket's timeout for this request. */
  readonly timeoutMs?: number;
  /** Zero the encoded request after sending it (it holds keys). */
  readonly wipe?: boolean;
  /** Name for errors (e.g. "XFRM_MSG_NEWSA"); default "netlink message <type>". */
  readonly what?: string;
}

/** Synchronous request/response over one netlink socket (see the file comment). */
export class NetlinkSocket {
  readonly portId: number;
  private fd: number;
  private seq: number;
  private readonly timeoutMs: number;
  private readonly rbuf = new Uint8Array(RECV_BUFFER);
  private readonly from = new Uint8Array(SOCKADDR_NL_LEN);
  private readonly fromLen = new Uint32Array(1);
  private readonly pfd = new Uint8Array(8);
  private readonly kernel = sockaddrNl(0, 0);

  constructor(opts: NetlinkSocketOptions) {
    const { fd, portId } = openSocket(opts.protocol, 0, undefined);
    this.fd = fd;
    this.portId = portId;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    // Start from a time-based sequence number, like iproute2, so that replies meant for an
    // earlier process with a recycled port ID are not taken for ours.
    this.seq = Math.floor(Date.now() / 1000) >>> 0;
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  close(): void {
    if (this.fd < 0) return;
    lib().close(this.fd);
    this.fd = -1;
    this.rbuf.fill(0);
  }

  /**
   * Send one request and collect its answer: the replies up to the acknowledgement (NLM_F_ACK is
   * added), or for a dump (NLM_F_DUMP in `flags`) every message up to NLMSG_DONE. Throws
   * NetlinkError for an NLMSG_ERROR, a failed system call or a timeout. Messages of other
   * sequence numbers (answers to an earlier request that timed out) are dropped.
   */
  request(type: number, flags: number, parts: readonly Uint8Array[], opts: RequestOptions = {}): NlMessage[] {
    if (this.fd < 0) throw new Error('netlink socket is closed');
    const what = opts.what ?? `netlink message ${type}`;
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const msg = encodeMessage({ type, flags: flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK), seq, pid: 0 }, parts);
    try {
      this.send(msg, what);
    } finally {
      if (opts.wipe) msg.fill(0);
    }
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    const replies: NlMessage[] = [];
    let interrupted = false;
    for (;;) {
      const n = this.receive(deadline, what);
      let messages: NlMessage[];
      try {
        messages = decodeMessages(this.rbuf, n);
      } finally {
        this.rbuf.fill(0, 0, n); // dumps of SAs carry keys
      }
      for (const m of messages) {
        if (m.seq !== seq || m.pid !== this.portId) continue;
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m.payload, m.flags);
          if (e.errno === 0) return replies;
          throw new NetlinkError(what, e.errno, e.message);
        }
        if (m.type === NLMSG_DONE) {
          const err = decodeDone(m.payload);
          if (err !== 0) throw new NetlinkError(what, err);
          if (interrupted) throw new NetlinkError(what, EINTR, undefined, 'dump interrupted by a concurrent change (NLM_F_DUMP_INTR)');
          return replies;
        }
        if (m.type === NLMSG_OVERRUN) throw new NetlinkError(what, ENOBUFS, undefined, 'NLMSG_OVERRUN');
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        replies.push(m);
      }
    }
  }

  private send(msg: Uint8Array, what: string): void {
    const c = lib();
    for (;;) {
      const r = c.sendto(this.fd, msg, msg.length, 0, this.kernel, SOCKADDR_NL_LEN);
      if (r === msg.length) return;
      const errno = r < 0 ? c.errno() : 0;
      if (r < 0 && errno === EINTR) continue;
      throw new NetlinkError(`${what}: sendto`, r < 0 ? errno : ENOBUFS, undefined, r < 0 ? undefined : `short send ${r} of ${msg.length}`);
    }
  }

  /** One datagram from the kernel into rbuf; its length. */
  private receive(deadline: number, what: string): number {
    const c = lib();
    const dv = new DataView(this.pfd.buffer);
    for (;;) {
      const left = deadline - Date.now();
      if (left < 0) throw new NetlinkError(what, ETIMEDOUT, undefined, 'no answer from the kernel in time');
      dv.setInt32(0, this.fd, true);
      dv.setInt16(4, POLLIN, true);
      dv.setInt16(6, 0, true);
      const p = c.poll(this.pfd, 1, Math.min(left, 0x7fffffff));
      if (p < 0) {
        const e = c.errno();
        if (e === EINTR) continue;
        throw new NetlinkError(`${what}: poll`, e);
      }
      if (p === 0) continue; // the deadline check above ends it
      this.fromLen[0] = SOCKADDR_NL_LEN;
      const n = c.recvfrom(this.fd, this.rbuf, this.rbuf.length, MSG_DONTWAIT | MSG_TRUNC, this.from, this.fromLen);
      if (n < 0) {
        const e = c.errno();
        if (e === EINTR || e === EAGAIN) continue;
        throw new NetlinkError(`${what}: recvfrom`, e);
      }
      if (n > this.rbuf.length) throw new NetlinkError(`${what}: recvfrom`, ENOBUFS, undefined, `datagram of ${n} octets truncated to ${this.rbuf.length}`);
      // Only the kernel (port 0) answers requests.
      if (new StructReader(this.from, 0, SOCKADDR_NL_LEN, 'sockaddr_nl').u32(4) !== 0) continue;
      return n;
    }
  }
}

export interface SubscriptionHandlers {
  /** Each message the kernel multicast to the groups. */
  readonly onMessage: (m: NlMessage) => void;
  /** The socket buffer overflowed (ENOBUFS): messages were lost; state should be re-read. */
  readonly onOverrun?: () => void;
  /**
   * A failure of the subscription itself (it then stops: `closed` is true) or an exception from a
   * handler. Default: process.emitWarning.
   */
  readonly onError?: (e: Error) => void;
}

export interface SubscriptionOptions {
  readonly protocol: number;
  /** Bitmask of multicast groups, bit (g - 1) for group g (e.g. XFRMGRP_ACQUIRE | XFRMGRP_EXPIRE). */
  readonly groups: number;
  /** SO_RCVBUF(FORCE); default 1 MiB. */
  readonly rcvbufBytes?: number;
  /** Datagrams read per wake-up before polling again. Default 64. */
  readonly batch?: number;
}

/** Multicast messages delivered on the event loop (see the file comment). */
export class NetlinkSubscription {
  readonly portId: number;
  private readonly fd: number;
  private readonly wakeFd: number;
  private readonly pfds = new Uint8Array(16);
  private readonly rbuf = new Uint8Array(RECV_BUFFER);
  private readonly from = new Uint8Array(SOCKADDR_NL_LEN);
  private readonly fromLen = new Uint32Array(1);
  private readonly batch: number;
  private closing = false;
  private finished = false;
  private polling = false;
  private pollFailures = 0;
  private readonly done: Promise<void>;
  private resolveDone: () => void = () => undefined;

  constructor(
    opts: SubscriptionOptions,
    private readonly handlers: SubscriptionHandlers,
  ) {
    const c = lib();
    const { fd, portId } = openSocket(opts.protocol, opts.groups, opts.rcvbufBytes ?? 1 << 20);
    const wake = c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
      const e = c.errno();
      c.close(fd);
      throw new NetlinkError('eventfd', e);
    }
    this.fd = fd;
    this.wakeFd = wake;
    this.portId = portId;
    this.batch = opts.batch ?? 64;
    this.done = new Promise((r) => (this.resolveDone = r));
    this.arm();
  }

  /** Stop: wakes the poll, closes both descriptors once it has returned. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      if (this.polling) lib().write(this.wakeFd, new StructWriter(8).u64(0, 1n).bytes, 8);
      else this.finish();
    }
    return this.done;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const c = lib();
    c.close(this.fd);
    c.close(this.wakeFd);
    this.resolveDone();
  }

  /** True once closed, or stopped by a failure. */
  get closed(): boolean {
    return this.closing;
  }

  private report(e: Error): void {
    if (this.handlers.onError) this.handlers.onError(e);
    else process.emitWarning(e);
  }

  private fail(e: Error): void {
    this.closing = true;
    this.finish();
    this.report(e);
  }

  private arm(): void {
    const dv = new DataView(this.pfds.buffer);
    dv.setInt32(0, this.fd, true);
    dv.setInt16(4, POLLIN, true);
    dv.setInt16(6, 0, true);
    dv.setInt32(8, this.wakeFd, true);
    dv.setInt16(12, POLLIN, true);
    dv.setInt16(14, 0, true);
    this.polling = true;
    // The timeout only bounds one poll; close() wakes it through the eventfd at once.
    lib().pollAsync(this.pfds, 2, 10_000, (err, res) => {
      this.polling = false;
      if (this.closing) {
        this.finish();
        return;
      }
      if (err !== null && err !== undefined) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      try {
        if (res < 0) {
          // errno belongs to koffi's thread, not ours: count failures instead (EINTR is the
          // only one expected; anything persistent ends the subscription).
          if (++this.pollFailures > 100) throw new Error('poll (netlink subscription) keeps failing');
        } else {
          this.pollFailures = 0;
        }
        if (res > 0) {
          const revents = dv.getInt16(6, true);
          if (revents & POLLNVAL) throw new NetlinkError('poll (netlink subscription)', 9 /* EBADF */);
          if (revents & (POLLIN | POLLERR | POLLHUP)) this.drain();
        }
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (this.closing) this.finish();
      else {
        try {
          this.arm();
        } catch (e) {
          this.fail(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  }

  private drain(): void {
    const c = lib();
    for (let i = 0; i < this.batch && !this.closing; i++) {
      this.fromLen[0] = SOCKADDR_NL_LEN;
      const n = c.recvfrom(this.fd, this.rbuf, this.rbuf.length, MSG_DONTWAIT | MSG_TRUNC, this.from, this.fromLen);
      if (n < 0) {
        const e = c.errno();
        if (e === EAGAIN) return;
        if (e === EINTR) continue;
        if (e === ENOBUFS) {
          this.call(() => this.handlers.onOverrun?.());
          continue;
        }
        throw new NetlinkError('recvfrom (netlink subscription)', e);
      }
      const len = Math.min(n, this.rbuf.length);
      // Multicast from anyone but the kernel (a root process can send to the groups) is dropped.
      if (new StructReader(this.from, 0, SOCKADDR_NL_LEN, 'sockaddr_nl').u32(4) !== 0) continue;
      let messages: NlMessage[];
      try {
        messages = decodeMessages(this.rbuf, len);
      } catch (e) {
        this.call(() => {
          throw e;
        });
        continue;
      } finally {
        this.rbuf.fill(0, 0, len);
      }
      for (const m of messages) this.call(() => this.handlers.onMessage(m));
    }
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
