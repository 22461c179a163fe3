/**
 * Bounds-checked byte reading and range-checked writing for the wire codecs.
 * The reader never touches memory outside [start, end) and reports every shortfall as
 * ParseError('TRUNCATED'), so no RangeError/TypeError can escape a decoder.
 * All multi-octet integers are in network byte order (RFC 7296 §3).
 */
import { EncodeError, ParseError } from './errors.js';

/** Up to this many octets, copyBytes copies them one by one rather than through a view of the source. */
const COPY_BY_LOOP_MAX = 32;

/**
 * Fresh copy of `src[start, end)`; never a view (also when `src` is a Buffer). Most fields are
 * short (SPIs, nonces, notify data): for those a loop costs less than the view object that
 * set() needs, which was the largest single source of garbage in decoding a message.
 */
export function copyBytes(src: Uint8Array, start = 0, end = src.length): Uint8Array {
  const n = end - start;
  const out = new Uint8Array(n);
  if (n <= COPY_BY_LOOP_MAX) for (let i = 0; i < n; i++) out[i] = src[start + i] as number;
  else out.set(src.subarray(start, end));
  return out;
}

export class Reader {
  private pos: number;
  private readonly end: number;

  /** Reads `buf[start, end)`; errors carry `payloadType` when given. */
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
    private readonly payloadType?: number,
  ) {
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw new ParseError('TRUNCATED', this.payloadType, `${what}: need ${n} octets, have ${this.end - this.pos}`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const b = this.buf;
    const v = ((b[this.pos] as number) << 8) | (b[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    const v = (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
    this.pos += 4;
    return v;
  }

  skip(n: number, what = 'reserved'): void {
    this.need(n, what);
    this.pos += n;
  }

  /** Copy of the next `n` octets. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = copyBytes(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Copy of everything left. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** A sub-reader over the next `n` octets (advancing this one past them). */
  sub(n: number, what: string, payloadType = this.payloadType): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n, payloadType);
    this.pos += n;
    return r;
  }
}

function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new EncodeError(`${what} out of range: ${v} (0..${max})`);
  }
}

/**
 * Collects output chunks; integer writers check their range (EncodeError). Integer octets are
 * kept as numbers, not as a Uint8Array per field (that made encoding the largest source of
 * garbage in a handshake); byte strings are kept by reference and copied once, by finish().
 */
export class Writer {
  private readonly chunks: (Uint8Array | number)[] = [];
  private len = 0;

  get length(): number {
    return this.len;
  }

  u8(v: number, what = 'u8'): this {
    checkInt(v, 0xff, what);
    this.chunks.push(v);
    this.len += 1;
    return this;
  }

  u16(v: number, what = 'u16'): this {
    checkInt(v, 0xffff, what);
    this.chunks.push(v >>> 8, v & 0xff);
    this.len += 2;
    return this;
  }

  u32(v: number, what = 'u32'): this {
    checkInt(v, 0xffffffff, what);
    this.chunks.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    this.len += 4;
    return this;
  }

  /** `n` zero octets (RESERVED fields, padding): as numbers when few, without an array of their own. */
  zeros(n: number): this {
    checkInt(n, 0xffff, 'zero octets');
    if (n > COPY_BY_LOOP_MAX) return this.raw(new Uint8Array(n));
    for (let i = 0; i < n; i++) this.chunks.push(0);
    this.len += n;
    return this;
  }

  raw(b: Uint8Array): this {
    if (!(b instanceof Uint8Array)) throw new EncodeError('expected Uint8Array');
    this.chunks.push(b);
    this.len += b.length;
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.len);
    let off = 0;
    for (const c of this.chunks) {
      if (typeof c === 'number') out[off++] = c;
      else {
        out.set(c, off);
        off += c.length;
      }
    }
    return out;
  }
}

/** Range check usable by encoders for derived values (lengths, counts). */
export function checkRange(v: number, max: number, what: string): void {
  checkInt(v, max, what);
}

/** A big-endian octet string as an unsigned integer (addresses, DH values). */
export function bigFromBytes(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** An unsigned integer as a big-endian octet string of `len` octets (the low ones). */
export function bytesFromBig(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
