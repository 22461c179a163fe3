/**
 * One UDP port, two readers: IKE for the daemon's event loop, ESP in UDP for the data plane's
 * worker (RFC 3948 §2: both share port 4500; the first four octets tell them apart — zero for
 * IKE's non-ESP marker, the SPI for ESP).
 *
 * Both sockets are bound to the same address and port with SO_REUSEPORT, the IKE socket first
 * (index 0 of the reuseport group), the worker's second (index 1); a classic BPF program
 * attached to the group (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5+) picks the socket per datagram:
 * it sees the UDP payload (the kernel pulls the UDP header first, reuseport_select_sock) and
 * returns 0 when the first 32-bit word is zero, 1 otherwise. A datagram shorter than four
 * octets (a NAT keepalive, RFC 3948 §2.3) makes the load fail, which returns 0: the daemon's
 * socket, which drops it. Without the second socket (not yet bound, or closed), an index out of
 * range falls back to the normal hash over the one socket left: everything reaches the daemon,
 * which hands ESP to the worker itself (the slow path).
 *
 * So ESP in UDP goes from the kernel to the worker with no hop through the main thread, as plain
 * ESP does on its raw socket.
 */
import { SOL_SOCKET, check, libc } from './libc.js';

/** asm-generic/socket.h */
export const SO_REUSEPORT = 15;
export const SO_ATTACH_REUSEPORT_CBPF = 51;

/* linux/filter.h, linux/bpf_common.h */
const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K

/** struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } ×4, host byte order. */
export function splitProgram(): Uint8Array {
  const insns: [number, number, number, number][] = [
    [BPF_LD_W_ABS, 0, 0, 0], // A = first word of the UDP payload (network order)
    [BPF_JEQ_K, 0, 1, 0], // A == 0 ? next : skip one
    [BPF_RET_K, 0, 0, 0], // IKE (non-ESP marker): socket 0
    [BPF_RET_K, 0, 0, 1], // ESP: socket 1
  ];
  const b = new Uint8Array(insns.length * 8);
  const v = new DataView(b.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    v.setUint16(i * 8, code, true);
    v.setUint8(i * 8 + 2, jt);
    v.setUint8(i * 8 + 3, jf);
    v.setUint32(i * 8 + 4, k, true);
  });
  return b;
}

/**
 * Attach the split program to `fd`'s reuseport group (call it on the second socket, after its
 * bind). struct sock_fprog { unsigned short len; struct sock_filter *filter; } on a 64-bit
 * host: the length, padding, and the program's address at offset 8; the kernel copies it.
 */
export function attachSplit(fd: number): void {
  const c = libc();
  const prog = splitProgram();
  const fprog = new Uint8Array(16);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, prog.length / 8, true);
  v.setBigUint64(8, c.address(prog), true);
  check(c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog, fprog.length), 'setsockopt', 'SO_ATTACH_REUSEPORT_CBPF');
}
