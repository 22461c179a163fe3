/**
 * The libc calls the userspace data plane needs and Node lacks (TUN, raw sockets, UDP_ENCAP,
 * recvmmsg/sendmmsg, poll, eventfd, setns), through koffi. Linux x86_64 / aarch64 only.
 *
 * Every function takes plain numbers and Uint8Arrays (koffi passes a typed array's memory to C
 * without a copy, also for a SharedArrayBuffer); every one returns what the system call returns
 * (-1 on failure) and leaves errno for `errno()`, which must be read right after the call, on
 * the same thread. `check()` turns -1 into a SysError.
 *
 * Variadic prototypes (ioctl, fcntl, open) are declared with fixed arguments: on the Linux ABIs
 * for x86_64 and aarch64 a fixed integer or pointer argument is passed where the variadic one is
 * read, and koffi cannot call variadic functions without a per-call type list.
 *
 * koffi is loaded on first use, once per thread (the main thread and each worker have their own).
 */
import koffi from 'koffi';

export interface Libc {
  open(path: string, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  /** ioctl(fd, request, arg) with a buffer argument (struct ifreq, ...). */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl(fd, request, int) for requests taking an integer (TUNSETPERSIST, ...). */
  ioctlInt(fd: number, request: number, arg: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint32Array): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array | null, addrLen: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recvfrom(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array | null, addrLen: Uint32Array | null): number;
  /** recvmmsg / sendmmsg over a struct mmsghdr array built in `vec` (see mmsg.ts). */
  recvmmsg(fd: number, vec: Uint8Array, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: Uint8Array, vlen: number, flags: number): number;
  poll(fds: Uint8Array, nfds: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  setns(fd: number, nstype: number): number;
  ifNameToIndex(name: string): number;
  strerror(errnum: number): string;
  /** errno of the last call on this thread. */
  errno(): number;
  /** The address of a typed array's memory (for iovecs and msghdrs that point into it). */
  address(buf: Uint8Array): bigint;
}

let cached: Libc | undefined;

/** The bindings of this thread (loads libc through koffi on the first call). */
export function libc(): Libc {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  const f = <T>(proto: string): T => lib.func(proto) as unknown as T;
  const ioctlPtr = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
  const ioctlInt = lib.func('int ioctl(int fd, unsigned long request, long arg)');
  const strerror = f<(e: number) => string>('const char *strerror(int errnum)');
  cached = {
    open: f('int open(const char *path, int flags, int mode)'),
    close: f('int close(int fd)'),
    read: f('long read(int fd, void *buf, unsigned long len)'),
    write: f('long write(int fd, const void *buf, unsigned long len)'),
    ioctl: ioctlPtr as unknown as Libc['ioctl'],
    ioctlInt: ioctlInt as unknown as Libc['ioctlInt'],
    fcntl: f('int fcntl(int fd, int cmd, long arg)'),
    socket: f('int socket(int domain, int type, int protocol)'),
    bind: f('int bind(int fd, const void *addr, unsigned int len)'),
    connect: f('int connect(int fd, const void *addr, unsigned int len)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const void *value, unsigned int len)'),
    getsockopt: f('int getsockopt(int fd, int level, int name, void *value, void *len)'),
    getsockname: f('int getsockname(int fd, void *addr, void *len)'),
    send: f('long send(int fd, const void *buf, unsigned long len, int flags)'),
    sendto: f('long sendto(int fd, const void *buf, unsigned long len, int flags, const void *addr, unsigned int addrlen)'),
    recv: f('long recv(int fd, void *buf, unsigned long len, int flags)'),
    recvfrom: f('long recvfrom(int fd, void *buf, unsigned long len, int flags, void *addr, void *addrlen)'),
    recvmmsg: f('int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)'),
    sendmmsg: f('int sendmmsg(int fd, void *vec, unsigned int vlen, int flags)'),
    poll: f('int poll(void *fds, unsigned long nfds, int timeout)'),
    eventfd: f('int eventfd(unsigned int initval, int flags)'),
    setns: f('int setns(int fd, int nstype)'),
    ifNameToIndex: f('unsigned int if_nametoindex(const char *name)'),
    strerror,
    errno: () => koffi.errno(),
    address: (buf) => koffi.address(buf) as bigint,
  };
  return cached;
}

/* Linux constants (generic: x86_64, aarch64). */
export const O_RDWR = 0o2;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_UDP = 17;
export const IPPROTO_ESP = 50;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_RCVBUFFORCE = 33;
export const SO_SNDBUFFORCE = 32;
export const SOL_UDP = 17;
/** setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP): the kernel decapsulates ESP in UDP (RFC 3948). */
export const UDP_ENCAP = 100;
export const UDP_ENCAP_ESPINUDP = 2;
export const IPV6_V6ONLY = 26;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export const CLONE_NEWNET = 0x40000000;

export const EINTR = 4;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const EBADF = 9;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 90: 'EMSGSIZE', 92: 'ENOPROTOOPT',
  93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH', 105: 'ENOBUFS', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
};

/** A failed system call, with errno and its symbolic name as `code` (like Node's own errors). */
export class SysError extends Error {
  readonly code: string;
  constructor(
    readonly syscall: string,
    readonly errno: number,
    detail?: string,
  ) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`${syscall}${detail ? ` (${detail})` : ''}: ${code} ${libc().strerror(errno)}`);
    this.name = 'SysError';
    this.code = code;
  }
}

/** Throw a SysError when a call returned a negative value; otherwise return the value. */
export function check(result: number, syscall: string, detail?: string): number {
  if (result < 0) throw new SysError(syscall, libc().errno(), detail);
  return result;
}

/** A Buffer holding one native int (setsockopt values). */
export function intBuf(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return b;
}

export function setsockoptInt(fd: number, level: number, name: number, value: number, what: string): void {
  check(libc().setsockopt(fd, level, name, intBuf(value), 4), 'setsockopt', what);
}

export function getsockoptInt(fd: number, level: number, name: number, what: string): number {
  const v = Buffer.alloc(4);
  const len = new Uint32Array([4]);
  check(libc().getsockopt(fd, level, name, v, len), 'getsockopt', what);
  return v.readInt32LE(0);
}

/** Set or clear O_NONBLOCK. */
export function setNonBlocking(fd: number, on: boolean): void {
  const c = libc();
  const fl = check(c.fcntl(fd, F_GETFL, 0), 'fcntl', 'F_GETFL');
  check(c.fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 'fcntl', 'F_SETFL');
}

/** close(2), ignoring EBADF for an fd already gone; other errors throw. */
export function closeFd(fd: number): void {
  if (fd < 0) return;
  const r = libc().close(fd);
  if (r < 0 && libc().errno() !== EBADF) throw new SysError('close', libc().errno(), `fd ${fd}`);
}
