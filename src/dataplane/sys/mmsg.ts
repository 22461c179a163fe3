/**
 * Batches for recvmmsg(2) / sendmmsg(2): one native struct mmsghdr array whose iovecs point into
 * slots of one packet buffer, built once (the pointers never change: a Buffer's memory does not
 * move), so a batch costs one koffi call and one system call, not one per packet.
 *
 * Layout (LP64 Linux): struct msghdr is 56 octets (name ptr, namelen, iov ptr, iovlen,
 * control ptr, controllen, flags), struct mmsghdr 64 (msghdr, msg_len), struct iovec 16.
 */
import { EAGAIN, EBADF, EINTR, ENOBUFS, MSG_DONTWAIT, SysError, libc } from './libc.js';

const ENOTSOCK = 88;
const EFAULT = 14;
/** ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE, EHOSTDOWN, ENETDOWN, EPROTO. */
const SOCKET_ERRORS = new Set([111, 113, 101, 90, 112, 100, 71]);
import { SOCKADDR_MAX, decodeSockAddr, encodeSockAddr, type SockAddr } from './sockaddr.js';

const MMSGHDR = 64;
const IOVEC = 16;
const NAME = 32;

export class MmsgBatch {
  /** Packet memory: slot i is data[i * slotSize, (i + 1) * slotSize). */
  readonly data: Buffer;
  private readonly vec: Buffer;
  private readonly iov: Buffer;
  private readonly names: Buffer;
  private readonly dv: DataView;
  private readonly iovDv: DataView;
  /** Datagrams sendmmsg refused one by one (see send), and the last errno. */
  sendErrors = 0;
  /** Socket errors recvmmsg reported (and cleared) instead of data. */
  recvErrors = 0;
  lastSendErrno = 0;

  constructor(
    readonly count: number,
    readonly slotSize: number,
  ) {
    const c = libc();
    this.data = Buffer.alloc(count * slotSize);
    this.vec = Buffer.alloc(count * MMSGHDR);
    this.iov = Buffer.alloc(count * IOVEC);
    this.names = Buffer.alloc(count * NAME);
    this.dv = new DataView(this.vec.buffer, this.vec.byteOffset, this.vec.byteLength);
    this.iovDv = new DataView(this.iov.buffer, this.iov.byteOffset, this.iov.byteLength);
    const dataAddr = c.address(this.data);
    const iovAddr = c.address(this.iov);
    const namesAddr = c.address(this.names);
    for (let i = 0; i < count; i++) {
      this.iovDv.setBigUint64(i * IOVEC, dataAddr + BigInt(i * slotSize), true);
      this.iovDv.setBigUint64(i * IOVEC + 8, BigInt(slotSize), true);
      const m = i * MMSGHDR;
      this.dv.setBigUint64(m, namesAddr + BigInt(i * NAME), true);
      this.dv.setUint32(m + 8, NAME, true);
      this.dv.setBigUint64(m + 16, iovAddr + BigInt(i * IOVEC), true);
      this.dv.setBigUint64(m + 24, 1n, true);
    }
  }

  /** Slot i's memory (full size). */
  slot(i: number): Buffer {
    return this.data.subarray(i * this.slotSize, (i + 1) * this.slotSize);
  }

  /**
   * recvmmsg(MSG_DONTWAIT) into up to `max` slots: the number received (0: nothing queued).
   * Then length(i), packet(i) and from(i).
   */
  recv(fd: number, max = this.count): number {
    const n = Math.min(max, this.count);
    for (let i = 0; i < n; i++) {
      this.dv.setUint32(i * MMSGHDR + 8, NAME, true);
      this.iovDv.setUint32(i * IOVEC + 8, this.slotSize, true);
    }
    const c = libc();
    const r = c.recvmmsg(fd, this.vec, n, MSG_DONTWAIT, null);
    if (r >= 0) return r;
    const e = c.errno();
    if (e === EAGAIN || e === EINTR) return 0;
    // A pending socket error (ICMP port/host unreachable for what a connected socket sent):
    // reading returned and cleared it; nothing was received.
    if (SOCKET_ERRORS.has(e)) {
      this.recvErrors++;
      return 0;
    }
    throw new SysError('recvmmsg', e, `fd ${fd}`);
  }

  /** Octets received into slot i (msg_len). */
  length(i: number): number {
    return this.dv.getUint32(i * MMSGHDR + 56, true);
  }

  /** The packet in slot i (a view: copy it to keep it past the next recv). */
  packet(i: number): Buffer {
    const off = i * this.slotSize;
    return this.data.subarray(off, off + this.length(i));
  }

  /** The source address of slot i. */
  from(i: number): SockAddr {
    return decodeSockAddr(this.names.subarray(i * NAME, i * NAME + SOCKADDR_MAX));
  }

  /** Set slot i for sending: copies the packet in, the destination (null: connected socket). */
  set(i: number, packet: Uint8Array, to: SockAddr | null): void {
    if (packet.length > this.slotSize) throw new Error(`packet of ${packet.length} octets > slot ${this.slotSize}`);
    this.data.set(packet, i * this.slotSize);
    this.setLength(i, packet.length, to);
  }

  /** Copy a packet into slot i (no view allocated). */
  copyIn(i: number, packet: Uint8Array): void {
    this.data.set(packet, i * this.slotSize);
  }

  /** Set slot i's length and destination for a packet already written into slot(i). */
  setLength(i: number, len: number, to: SockAddr | null): void {
    this.iovDv.setUint32(i * IOVEC + 8, len, true);
    const m = i * MMSGHDR;
    if (to === null) {
      this.dv.setUint32(m + 8, 0, true);
    } else {
      const { len: nl } = encodeSockAddr(to, this.names.subarray(i * NAME, (i + 1) * NAME));
      this.dv.setUint32(m + 8, nl, true);
    }
  }

  /** Set slot i's destination from an encoded sockaddr (fast path: no text parsing per packet). */
  setLengthRawName(i: number, len: number, name: Uint8Array, nameLen: number): void {
    this.iovDv.setUint32(i * IOVEC + 8, len, true);
    this.names.set(name.subarray(0, nameLen), i * NAME);
    this.dv.setUint32(i * MMSGHDR + 8, nameLen, true);
  }

  /**
   * sendmmsg slots [0, n): returns how many were sent or dropped for an error of their own
   * (counted in sendErrors); the rest (EAGAIN/ENOBUFS on a full queue) are the caller's to drop
   * or retry. A bad fd throws.
   */
  send(fd: number, n: number, flags = MSG_DONTWAIT): number {
    const c = libc();
    let sent = 0;
    while (sent < n) {
      const r = c.sendmmsg(fd, sent === 0 ? this.vec : this.vec.subarray(sent * MMSGHDR), n - sent, flags);
      if (r > 0) {
        sent += r;
        continue;
      }
      const e = c.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN || e === ENOBUFS) return sent;
      if (e === EBADF || e === ENOTSOCK || e === EFAULT) throw new SysError('sendmmsg', e, `fd ${fd}`);
      // A per-datagram failure (ECONNREFUSED after an ICMP error, EHOSTUNREACH, EMSGSIZE, ...):
      // skip that datagram, count it, go on with the rest.
      this.sendErrors++;
      this.lastSendErrno = e;
      sent++;
    }
    return sent;
  }
}
