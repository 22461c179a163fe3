/**
 * TUN devices (Linux `Documentation/networking/tuntap.rst`): open /dev/net/tun, TUNSETIFF with
 * IFF_TUN | IFF_NO_PI, so that each read() returns one IP packet the kernel routed into the
 * device and each write() hands one IP packet to the kernel as if received on it.
 *
 * IFF_MULTI_QUEUE: every fd opened with the same name is one more queue of the same device; the
 * kernel spreads the packets it sends into the device over the queues by flow hash
 * (tun_select_queue), so several readers help with many flows but not with one stream.
 *
 * The device is not persistent: it disappears with its addresses and routes when the last queue
 * is closed (also when the process dies). Addresses, MTU, up and routes: rtnl.ts.
 */
import { EAGAIN, O_CLOEXEC, O_NONBLOCK, O_RDWR, SysError, check, closeFd, libc } from './libc.js';

export const IFNAMSIZ = 16;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_ATTACH_QUEUE = 0x0200;
export const IFF_DETACH_QUEUE = 0x0400;
/** _IOW('T', 202, int) and friends (include/uapi/linux/if_tun.h). */
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNGETIFF = 0x800454d2;
export const TUNSETQUEUE = 0x400454d9;
/** sizeof(struct ifreq) on 64-bit Linux. */
export const IFREQ_SIZE = 40;

export interface TunOptions {
  /** Interface name (at most 15 octets), e.g. pqike0; `%d` lets the kernel number it. */
  readonly name: string;
  /** IFF_MULTI_QUEUE with this many queues (fds); default 1 without multi-queue. */
  readonly queues?: number;
  /** Open the queues with O_NONBLOCK (what the pump wants: it polls). Default true. */
  readonly nonBlocking?: boolean;
}

function ifreq(name: string, flags: number): Buffer {
  if (Buffer.byteLength(name) >= IFNAMSIZ) throw new Error(`interface name longer than ${IFNAMSIZ - 1} octets: ${name}`);
  const b = Buffer.alloc(IFREQ_SIZE);
  b.write(name, 0, 'latin1');
  b.writeUInt16LE(flags, IFNAMSIZ);
  return b;
}

function openQueue(name: string, flags: number, nonBlocking: boolean): { fd: number; name: string } {
  const c = libc();
  const fd = check(c.open('/dev/net/tun', O_RDWR | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0), 0), 'open', '/dev/net/tun');
  const req = ifreq(name, flags);
  if (c.ioctl(fd, TUNSETIFF, req) < 0) {
    const e = c.errno();
    closeFd(fd);
    throw new SysError('ioctl', e, `TUNSETIFF ${name}`);
  }
  const end = req.indexOf(0);
  return { fd, name: req.toString('latin1', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end) };
}

/** An open TUN device: its name and one fd per queue. */
export class TunDevice {
  private open = true;
  private constructor(
    readonly name: string,
    readonly fds: readonly number[],
    readonly multiQueue: boolean,
  ) {}

  /** Create (or attach to, with multi-queue) a TUN device in this thread's network namespace. */
  static open(opts: TunOptions): TunDevice {
    const queues = opts.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw new Error(`queues must be 1..256, not ${queues}`);
    const multi = opts.queues !== undefined;
    const flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
    const nb = opts.nonBlocking ?? true;
    const first = openQueue(opts.name, flags, nb);
    const fds = [first.fd];
    try {
      // The kernel may have numbered the name (pqike%d): attach the other queues to that one.
      for (let i = 1; i < queues; i++) fds.push(openQueue(first.name, flags, nb).fd);
    } catch (e) {
      for (const fd of fds) closeFd(fd);
      throw e;
    }
    return new TunDevice(first.name, fds, multi);
  }

  /** The interface index as seen from the calling thread's namespace (0 once closed, or not there); Rtnl.ifindex asks its own. */
  get ifindex(): number {
    return this.open ? libc().ifNameToIndex(this.name) : 0;
  }

  get closed(): boolean {
    return !this.open;
  }

  /** Detach (false) or re-attach (true) one queue of a multi-queue device (TUNSETQUEUE). */
  setQueueEnabled(queue: number, enabled: boolean): void {
    const fd = this.fds[queue];
    if (fd === undefined || !this.multiQueue) throw new Error(`no queue ${queue} on multi-queue ${this.name}`);
    check(libc().ioctl(fd, TUNSETQUEUE, ifreq('', enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE)), 'ioctl', 'TUNSETQUEUE');
  }

  /** Close every queue: the device, its addresses and routes are gone afterwards. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const fd of this.fds) closeFd(fd);
  }
}

/** One read from a TUN fd: the packet length, 0 when nothing is queued (non-blocking fd). */
export function tunRead(fd: number, buf: Uint8Array): number {
  const n = libc().read(fd, buf, buf.length);
  if (n >= 0) return n;
  const e = libc().errno();
  if (e === EAGAIN) return 0;
  throw new SysError('read', e, `tun fd ${fd}`);
}
