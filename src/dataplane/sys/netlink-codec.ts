/**
 * Netlink framing (RFC 3549; include/uapi/linux/netlink.h) without any I/O: nlmsghdr, netlink
 * attributes (struct nlattr), the NLMSG_ERROR payload with its extended ACK (the kernel's error
 * text, NLMSGERR_ATTR_MSG), and fixed-layout C structs.
 *
 * Netlink integers are in host byte order. These codecs write little-endian, which is host order
 * on every platform the data plane supports (x86_64, aarch64; checked by the socket layer,
 * netlink.ts, before anything is sent). Fields that a kernel header declares as __be16/__be32
 * (SPIs, ports, port masks) are written big-endian with the be16/be32 accessors.
 *
 * Style as in src/wire/bytes.ts: writers range-check every value (EncodeError), readers never
 * look outside their bounds and report any shortfall as ParseError('TRUNCATED'), decoders return
 * copies, never views of the receive buffer (which the next recv overwrites).
 */
import { copyBytes } from '../../wire/bytes.js';
import { EncodeError, ParseError } from '../../wire/errors.js';

/** sizeof(struct nlmsghdr). */
export const NLMSG_HDRLEN = 16;
/** sizeof(struct nlattr). */
export const NLA_HDRLEN = 4;
/** NLA_F_NESTED | NLA_F_NET_BYTEORDER: flag bits in nla_type. */
export const NLA_TYPE_MASK = 0x3fff;

/* nlmsg_type values below NLMSG_MIN_TYPE (0x10). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/* nlmsg_flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
/* GET requests. */
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/* NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/* In NLMSG_ERROR messages: the request was not echoed in full (NETLINK_CAP_ACK), TLVs follow (NETLINK_EXT_ACK). */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/* enum nlmsgerr_attrs. */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

/** NLMSG_ALIGN / NLA_ALIGN: round up to a multiple of 4. */
export function nlAlign(n: number): number {
  return n + ((4 - (n % 4)) % 4); // not (n + 3) & ~3: lengths from the wire may exceed 2^31
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EncodeError(`${what} out of range: ${v} (0..${max})`);
}

const U64_MAX = 0xffffffffffffffffn;

/**
 * A C struct of fixed size being filled in: every field is written at its offset (from the
 * kernel header), the rest stays zero (padding, reserved fields). Range-checked.
 */
export class StructWriter {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }

  private at(off: number, n: number, what: string): void {
    if (off < 0 || off + n > this.bytes.length) throw new EncodeError(`${what}: offset ${off}+${n} outside a struct of ${this.bytes.length}`);
  }

  u8(off: number, v: number, what = 'u8'): this {
    checkUint(v, 0xff, what);
    this.at(off, 1, what);
    this.dv.setUint8(off, v);
    return this;
  }

  u16(off: number, v: number, what = 'u16'): this {
    checkUint(v, 0xffff, what);
    this.at(off, 2, what);
    this.dv.setUint16(off, v, true);
    return this;
  }

  u32(off: number, v: number, what = 'u32'): this {
    checkUint(v, 0xffffffff, what);
    this.at(off, 4, what);
    this.dv.setUint32(off, v, true);
    return this;
  }

  i32(off: number, v: number, what = 'i32'): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new EncodeError(`${what} out of range: ${v}`);
    this.at(off, 4, what);
    this.dv.setInt32(off, v, true);
    return this;
  }

  /** A __u64; numbers must be safe integers. */
  u64(off: number, v: bigint | number, what = 'u64'): this {
    const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
    if (b < 0n || b > U64_MAX) throw new EncodeError(`${what} out of range: ${String(v)}`);
    this.at(off, 8, what);
    this.dv.setBigUint64(off, b, true);
    return this;
  }

  /** A __be16 (network byte order). */
  be16(off: number, v: number, what = 'be16'): this {
    checkUint(v, 0xffff, what);
    this.at(off, 2, what);
    this.dv.setUint16(off, v, false);
    return this;
  }

  /** A __be32 (network byte order). */
  be32(off: number, v: number, what = 'be32'): this {
    checkUint(v, 0xffffffff, what);
    this.at(off, 4, what);
    this.dv.setUint32(off, v, false);
    return this;
  }

  /** Raw octets at off, at most `max` of them. */
  raw(off: number, b: Uint8Array, max: number, what = 'bytes'): this {
    if (b.length > max) throw new EncodeError(`${what}: ${b.length} octets, at most ${max}`);
    this.at(off, b.length, what);
    this.bytes.set(b, off);
    return this;
  }

  /** A NUL-terminated string in a char[size] field (at most size-1 ASCII characters). */
  cstring(off: number, s: string, size: number, what = 'string'): this {
    if (!/^[\x20-\x7e]*$/.test(s)) throw new EncodeError(`${what}: not printable ASCII: ${JSON.stringify(s)}`);
    if (s.length > size - 1) throw new EncodeError(`${what}: '${s}' longer than ${size - 1} characters`);
    this.at(off, size, what);
    for (let i = 0; i < s.length; i++) this.bytes[off + i] = s.charCodeAt(i);
    return this;
  }
}

/** Bounds-checked reading of a struct inside a buffer (offsets relative to the struct). */
export class StructReader {
  private readonly dv: DataView;

  /** Throws ParseError('TRUNCATED') unless buf[start, start+size) exists. */
  constructor(
    private readonly buf: Uint8Array,
    private readonly start: number,
    readonly size: number,
    private readonly what: string,
  ) {
    if (start < 0 || start + size > buf.length) {
      throw new ParseError('TRUNCATED', `${what}: need ${size} octets at ${start}, have ${Math.max(0, buf.length - start)}`);
    }
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private at(off: number, n: number): number {
    if (off < 0 || off + n > this.size) throw new ParseError('TRUNCATED', `${this.what}: field at ${off}+${n} outside ${this.size} octets`);
    return this.start + off;
  }

  u8(off: number): number {
    return this.dv.getUint8(this.at(off, 1));
  }
  u16(off: number): number {
    return this.dv.getUint16(this.at(off, 2), true);
  }
  u32(off: number): number {
    return this.dv.getUint32(this.at(off, 4), true);
  }
  i32(off: number): number {
    return this.dv.getInt32(this.at(off, 4), true);
  }
  u64(off: number): bigint {
    return this.dv.getBigUint64(this.at(off, 8), true);
  }
  be16(off: number): number {
    return this.dv.getUint16(this.at(off, 2), false);
  }
  be32(off: number): number {
    return this.dv.getUint32(this.at(off, 4), false);
  }
  /** Copy of n octets at off. */
  bytes(off: number, n: number): Uint8Array {
    const p = this.at(off, n);
    return copyBytes(this.buf, p, p + n);
  }
  /** A view (not a copy) of n octets at off, for fields that are converted at once (addresses). */
  view(off: number, n: number): Uint8Array {
    const p = this.at(off, n);
    return this.buf.subarray(p, p + n);
  }
  /** A char[size] field up to its first NUL. */
  cstring(off: number, size: number): string {
    const p = this.at(off, size);
    let s = '';
    for (let i = 0; i < size; i++) {
      const c = this.buf[p + i] as number;
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }
}

/** One netlink attribute as received: type without the NLA_F_* flag bits, and a copy of its data. */
export interface NlAttr {
  readonly type: number;
  readonly data: Uint8Array;
}

/** struct nlattr + data + padding to 4 octets. */
export function encodeAttr(type: number, data: Uint8Array): Uint8Array {
  checkUint(type, 0xffff, 'attribute type');
  const len = NLA_HDRLEN + data.length;
  checkUint(len, 0xffff, `attribute ${type} length`);
  const out = new Uint8Array(nlAlign(len));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(data, NLA_HDRLEN);
  return out;
}

/** A __u32 attribute. */
export function encodeAttrU32(type: number, v: number): Uint8Array {
  return encodeAttr(type, new StructWriter(4).u32(0, v, `attribute ${type}`).bytes);
}

/**
 * The attributes in buf[start, end). A length that runs past the end or is shorter than the
 * attribute header is BAD_LENGTH; trailing octets shorter than a header are ignored, as the
 * kernel's nla_for_each_attr does.
 */
export function decodeAttrs(buf: Uint8Array, start: number, end: number = buf.length): NlAttr[] {
  const out: NlAttr[] = [];
  if (start < 0 || start > end || end > buf.length) throw new ParseError('TRUNCATED', `attributes at ${start}..${end} outside ${buf.length} octets`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = start;
  while (end - p >= NLA_HDRLEN) {
    const len = dv.getUint16(p, true);
    const type = dv.getUint16(p + 2, true) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || p + len > end) throw new ParseError('BAD_LENGTH', `attribute ${type} of length ${len} at ${p} (end ${end})`);
    out.push({ type, data: copyBytes(buf, p + NLA_HDRLEN, p + len) });
    p += nlAlign(len);
  }
  return out;
}

/** The first attribute of a type, or undefined. */
export function findAttr(attrs: readonly NlAttr[], type: number): Uint8Array | undefined {
  return attrs.find((a) => a.type === type)?.data;
}

export interface NlHeader {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** nlmsg_pid: the sender's port ID (0: the kernel). */
  readonly pid: number;
}

/** One received message: its header and a copy of its payload (everything after nlmsghdr). */
export interface NlMessage extends NlHeader {
  readonly payload: Uint8Array;
}

/** nlmsghdr followed by the parts, each padded to 4 octets (struct, then attributes). */
export function encodeMessage(h: NlHeader, parts: readonly Uint8Array[]): Uint8Array {
  let len = NLMSG_HDRLEN;
  for (const p of parts) len += nlAlign(p.length);
  checkUint(len, 0xffffffff, 'netlink message length');
  checkUint(h.type, 0xffff, 'nlmsg_type');
  checkUint(h.flags, 0xffff, 'nlmsg_flags');
  checkUint(h.seq, 0xffffffff, 'nlmsg_seq');
  checkUint(h.pid, 0xffffffff, 'nlmsg_pid');
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, h.type, true);
  dv.setUint16(6, h.flags, true);
  dv.setUint32(8, h.seq, true);
  dv.setUint32(12, h.pid, true);
  let off = NLMSG_HDRLEN;
  for (const p of parts) {
    out.set(p, off);
    off += nlAlign(p.length);
  }
  return out;
}

/**
 * The messages of one datagram, buf[0, len). A header whose length is below NLMSG_HDRLEN or past
 * the datagram is BAD_LENGTH (the rest of the datagram cannot be framed).
 */
export function decodeMessages(buf: Uint8Array, len: number = buf.length): NlMessage[] {
  if (len > buf.length) throw new ParseError('TRUNCATED', `datagram of ${len} octets in a buffer of ${buf.length}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMessage[] = [];
  let p = 0;
  while (len - p >= NLMSG_HDRLEN) {
    const mlen = dv.getUint32(p, true);
    if (mlen < NLMSG_HDRLEN || mlen > len - p) throw new ParseError('BAD_LENGTH', `netlink message of length ${mlen} at ${p} in a datagram of ${len}`);
    out.push({
      type: dv.getUint16(p + 4, true),
      flags: dv.getUint16(p + 6, true),
      seq: dv.getUint32(p + 8, true),
      pid: dv.getUint32(p + 12, true),
      payload: copyBytes(buf, p + NLMSG_HDRLEN, p + mlen),
    });
    p += nlAlign(mlen);
  }
  if (p < len) {
    // Fewer octets than a header left over: the kernel never sends that.
    throw new ParseError('TRUNCATED', `${len - p} octets after the last netlink message`);
  }
  return out;
}

/** struct nlmsgerr and its extended ACK (NETLINK_EXT_ACK). */
export interface NlError {
  /** Positive errno; 0 for an ACK. */
  readonly errno: number;
  /** Header of the request it answers. */
  readonly request: NlHeader;
  /** The kernel's text (NL_SET_ERR_MSG), e.g. "Requested type not found". */
  readonly message?: string;
  /** Offset of the offending attribute in the request (NLMSGERR_ATTR_OFFS). */
  readonly offset?: number;
}

/** Decode an NLMSG_ERROR payload; `flags` are the error message's nlmsg_flags. */
export function decodeError(payload: Uint8Array, flags: number): NlError {
  const r = new StructReader(payload, 0, 4 + NLMSG_HDRLEN, 'nlmsgerr');
  const error = r.i32(0);
  const reqLen = r.u32(4);
  const request: NlHeader = { type: r.u16(8), flags: r.u16(10), seq: r.u32(12), pid: r.u32(16) };
  // Without NLM_F_CAPPED the whole request is echoed after the error code.
  const tlvStart = flags & NLM_F_CAPPED ? 4 + NLMSG_HDRLEN : 4 + nlAlign(Math.max(reqLen, NLMSG_HDRLEN));
  let message: string | undefined;
  let offset: number | undefined;
  if (flags & NLM_F_ACK_TLVS && tlvStart <= payload.length) {
    for (const a of decodeAttrs(payload, tlvStart)) {
      if (a.type === NLMSGERR_ATTR_MSG) {
        let s = '';
        for (const c of a.data) {
          if (c === 0) break;
          s += String.fromCharCode(c);
        }
        message = s;
      } else if (a.type === NLMSGERR_ATTR_OFFS && a.data.length >= 4) {
        offset = new StructReader(a.data, 0, 4, 'NLMSGERR_ATTR_OFFS').u32(0);
      }
    }
  }
  return {
    errno: error === 0 ? 0 : -error,
    request,
    ...(message !== undefined ? { message } : {}),
    ...(offset !== undefined ? { offset } : {}),
  };
}

/** The int of an NLMSG_DONE payload (0, or a negative errno when a dump failed); 0 when absent. */
export function decodeDone(payload: Uint8Array): number {
  if (payload.length < 4) return 0;
  return -new StructReader(payload, 0, 4, 'NLMSG_DONE').i32(0);
}
