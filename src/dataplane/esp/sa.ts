/**
 * ESP Security Associations (RFC 4303), one direction each, with no I/O: an outbound SA turns
 * an inner packet into an ESP packet, an inbound SA turns an ESP packet back into the inner
 * packet or a typed drop reason. The caller reads the TUN device and the sockets, looks up
 * the inbound SA by SPI (RFC 4303 §3.4.2), and sends what comes out.
 *
 * Outbound (RFC 4303 §3.3): sequence number (32-bit, or 64-bit with ESN, §2.2.1/§3.3.3;
 * never cycles: at the last number the SA reports a hard expiry and refuses further packets,
 * so a rekey replaces it), the default padding 1, 2, 3, ... to the transform's alignment
 * (§2.4), Pad Length and Next Header (tunnel mode: 4 for an IPv4 inner packet, 41 for IPv6),
 * IV, ICV.
 *
 * Inbound (RFC 4303 §3.4): length, SPI, sequence number against the replay window (the high
 * 32 bits inferred for ESN, Appendix A), integrity, THEN the window update (§3.4.3), padding
 * (the default pattern must match, §2.4), Next Header (59 = dummy packet, §2.6, dropped),
 * and in tunnel mode the inner IP header (version matches Next Header; the packet is cut to
 * the inner header's length, which drops TFC padding, §2.7). open() never throws.
 *
 * Counters: packets and bytes of inner packets (the IP packet in tunnel mode, the upper-layer
 * payload in transport mode), and drops by reason. Usage limits (EspSaSpec.limits) and the
 * sequence number space report through onEvent, each kind ('soft', 'hard') once; after a hard
 * event the SA refuses (outbound) or drops ('expired', inbound) every further packet.
 */
import type { EspSaSpec } from '../../engine/dataplane.js';
import { ESP_HEADER_LENGTH, espTransform, type EspTransform } from './transform.js';
import { REPLAY_DUPLICATE, REPLAY_TOO_OLD, ReplayWindow } from './replay.js';

/** IP protocol numbers used as Next Header (IANA). */
export const NextHeader = {
  IPV4: 4,
  IPV6: 41,
  /** RFC 4303 §2.6: a dummy packet, to be discarded by the receiver. */
  NO_NEXT_HEADER: 59,
} as const;

/** Default anti-replay window (packets) when the spec does not give one. */
export const DEFAULT_ESP_REPLAY_WINDOW = 128;

/**
 * Outbound: a soft expiry this many packets before the sequence number space runs out (the
 * SA still sends; the engine rekeys). 2^24 packets: ~16 s at 1 Mpps.
 */
export const DEFAULT_SEQ_SOFT_MARGIN = 0x100_0000;

/** Why an inbound packet was dropped. */
export type EspDropReason =
  /** Shorter than SPI | seq | IV | 2-octet trailer | ICV. */
  | 'truncated'
  /** Ciphertext not a multiple of the cipher's block (AES-CBC). */
  | 'alignment'
  /** The SPI field is not this SA's (a lookup error of the caller). */
  | 'spi'
  /** Sequence number already received (inside the window). */
  | 'replay'
  /** Sequence number left of the window (or 0). */
  | 'too-old'
  /** ICV / AEAD tag does not verify. */
  | 'integrity'
  /** Pad Length beyond the plaintext, or padding octets not 1, 2, 3, ... (RFC 4303 §2.4). */
  | 'padding'
  /** Next Header not allowed here (tunnel mode: only 4 and 41). */
  | 'next-header'
  /** Next Header 59: a dummy packet (RFC 4303 §2.6); authenticated, counted, not delivered. */
  | 'dummy'
  /** Tunnel mode: the inner packet's IP header is not a valid IPv4 / IPv6 header of its Next Header. */
  | 'inner-header'
  /** A hard limit was crossed: the SA is expired. */
  | 'expired';

export const ESP_DROP_REASONS: readonly EspDropReason[] = [
  'truncated', 'alignment', 'spi', 'replay', 'too-old', 'integrity', 'padding', 'next-header', 'dummy', 'inner-header', 'expired',
];

/** Why an outbound SA did not seal a packet. */
export type EspRefusal =
  /** The sequence number space is used up (RFC 4303 §3.3.3): the SA must be replaced. */
  | 'seq-exhausted'
  /** A hard byte/packet limit was crossed. */
  | 'expired'
  /** Tunnel mode: not an IPv4 or IPv6 packet. Transport mode: no valid Next Header given. */
  | 'inner-header'
  /** The output buffer cannot hold the ESP packet. */
  | 'no-room';

export const ESP_REFUSALS: readonly EspRefusal[] = ['seq-exhausted', 'expired', 'inner-header', 'no-room'];

/** A usage limit or the sequence number space, reported once per kind and SA. */
export interface EspSaEvent {
  readonly kind: 'soft' | 'hard';
  readonly cause: 'bytes' | 'packets' | 'sequence';
  readonly direction: 'in' | 'out';
  readonly spi: number;
}

/** What an ESP SA needs from EspSaSpec (the rest — addresses, selectors, names — is the caller's). */
export type EspSaParams = Pick<EspSaSpec, 'spi' | 'mode' | 'encr' | 'integ' | 'esn' | 'limits'> & {
  readonly replayWindow?: number;
};

export interface EspSaOptions {
  /** Called synchronously, once per kind, when a limit is crossed. */
  readonly onEvent?: (event: EspSaEvent) => void;
}

export interface EspOutboundOptions extends EspSaOptions {
  /**
   * AEAD only: IV = 64-bit sequence number xor this 8-octet mask (default zero: the IV is the
   * sequence number, RFC 4106 §3.1 / RFC 7634 §2). Any constant mask keeps IVs unique per key.
   */
  readonly ivMask?: Uint8Array;
  /** The sequence number of the first packet (default 1; for tests and to continue a counter). */
  readonly firstSeq?: bigint;
  /** Soft expiry this many packets before the sequence numbers run out (default 2^24). */
  readonly seqSoftMargin?: number;
}

export interface EspCounters {
  readonly spi: number;
  readonly direction: 'in' | 'out';
  /** Transform name, e.g. AES_GCM_16_256. */
  readonly transform: string;
  readonly packets: number;
  /** Octets of inner packets. */
  readonly bytes: number;
  /** Inbound: dropped packets by reason; outbound: refused packets by reason. */
  readonly drops: Readonly<Record<string, number>>;
  /** Outbound: the last sequence number sent; inbound: the highest authenticated (64-bit, as a number). */
  readonly seq: number;
  readonly softExpired: boolean;
  readonly hardExpired: boolean;
}

export type EspOpenResult =
  | { readonly ok: true; readonly inner: Uint8Array; readonly nextHeader: number; readonly seq: number }
  | { readonly ok: false; readonly reason: EspDropReason };

export type EspSealResult =
  | { readonly ok: true; readonly packet: Buffer }
  | { readonly ok: false; readonly reason: EspRefusal };

const TWO32 = 0x1_0000_0000;

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function checkLimit(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`ESP SA limit ${name}: ${v}`);
}

/** Counting and usage limits, shared by both directions. */
abstract class EspSaBase {
  readonly spi: number;
  readonly mode: 'tunnel' | 'transport';
  readonly esn: boolean;
  readonly transform: EspTransform;
  abstract readonly direction: 'in' | 'out';
  protected packets = 0;
  protected bytes = 0;
  protected softFired = false;
  protected hardFired = false;
  private readonly softBytes: number;
  private readonly hardBytes: number;
  private readonly softPackets: number;
  private readonly hardPackets: number;
  private readonly onEvent: ((e: EspSaEvent) => void) | undefined;

  protected constructor(params: EspSaParams, transform: EspTransform, opts: EspSaOptions | undefined) {
    if (!Number.isInteger(params.spi) || params.spi <= 0 || params.spi > 0xffff_ffff) {
      // RFC 4303 §2.1: SPI 0 is reserved; 1..255 reserved by IANA but seen in tests (RFC 7634 A).
      throw new RangeError(`ESP SPI ${params.spi} invalid`);
    }
    if (params.mode !== 'tunnel' && params.mode !== 'transport') throw new RangeError(`ESP mode ${String(params.mode)}`);
    this.spi = params.spi;
    this.mode = params.mode;
    this.esn = params.esn;
    this.transform = transform;
    const l = params.limits;
    checkLimit('softBytes', l.softBytes);
    checkLimit('hardBytes', l.hardBytes);
    checkLimit('softPackets', l.softPackets);
    checkLimit('hardPackets', l.hardPackets);
    this.softBytes = l.softBytes ?? Infinity;
    this.hardBytes = l.hardBytes ?? Infinity;
    this.softPackets = l.softPackets ?? Infinity;
    this.hardPackets = l.hardPackets ?? Infinity;
    this.onEvent = opts?.onEvent;
  }

  /** True once a hard limit was crossed (or the sequence numbers ran out). */
  get expired(): boolean {
    return this.hardFired;
  }

  protected fire(kind: 'soft' | 'hard', cause: EspSaEvent['cause']): void {
    if (kind === 'soft') {
      if (this.softFired) return;
      this.softFired = true;
    } else {
      if (this.hardFired) return;
      this.hardFired = true;
      // A hard expiry without a soft one first (e.g. hard <= soft) still tells the rekey logic.
      this.softFired = true;
    }
    this.onEvent?.({ kind, cause, direction: this.direction, spi: this.spi });
  }

  /** Count one packet of `n` inner octets and report the limits it crosses. */
  protected count(n: number): void {
    const packets = ++this.packets;
    const bytes = (this.bytes += n);
    if (!this.softFired) {
      if (bytes >= this.softBytes) this.fire('soft', 'bytes');
      else if (packets >= this.softPackets) this.fire('soft', 'packets');
    }
    if (!this.hardFired) {
      if (bytes >= this.hardBytes) this.fire('hard', 'bytes');
      else if (packets >= this.hardPackets) this.fire('hard', 'packets');
    }
  }
}

/** One outbound ESP SA. Not safe for concurrent use from several threads (none in Node). */
export class EspOutboundSa extends EspSaBase {
  readonly direction = 'out' as const;
  /** Octets around the payload with the least padding: header, IV, trailer, ICV (no padding). */
  readonly overhead: number;
  /**
   * Where the payload goes, from the start of the ESP packet (SPI | seq | IV). A driver may read
   * the inner packet straight into out[offset + payloadOffset ...] and pass that view as
   * `inner`: sealInto() then encrypts it where it lies (the copy is onto itself).
   */
  readonly payloadOffset: number;
  private seqHi = 0;
  /** The last sequence number used (low half). */
  private seqLo = 0;
  private readonly maxHi: number;
  private readonly softHi: number;
  private readonly softLo: number;
  private readonly refused: Record<EspRefusal, number> = { 'seq-exhausted': 0, expired: 0, 'inner-header': 0, 'no-room': 0 };

  constructor(params: EspSaParams, opts?: EspOutboundOptions) {
    super(params, espTransform(params, opts?.ivMask), opts);
    const t = this.transform;
    this.overhead = ESP_HEADER_LENGTH + t.ivLength + 2 + t.icvLength;
    this.payloadOffset = ESP_HEADER_LENGTH + t.ivLength;
    this.maxHi = params.esn ? 0xffff_ffff : 0;
    const first = opts?.firstSeq ?? 1n;
    const max = params.esn ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
    if (first < 1n || first > max + 1n) throw new RangeError(`ESP first sequence number ${first}`);
    const last = first - 1n;
    this.seqHi = Number(last >> 32n);
    this.seqLo = Number(last & 0xffff_ffffn);
    const margin = BigInt(opts?.seqSoftMargin ?? DEFAULT_SEQ_SOFT_MARGIN);
    const soft = max - margin > 0n ? max - margin : 0n;
    this.softHi = Number(soft >> 32n);
    this.softLo = Number(soft & 0xffff_ffffn);
    if (last === max) this.fire('hard', 'sequence');
  }

  /** Octets of the ESP packet for an inner packet of `innerLength` octets (SPI through ICV). */
  sealedLength(innerLength: number): number {
    const t = this.transform;
    const plain = innerLength + 2;
    const padded = plain + ((t.align - (plain % t.align)) % t.align);
    return ESP_HEADER_LENGTH + t.ivLength + padded + t.icvLength;
  }

  /** The last sequence number used (64-bit; 0n before the first packet). */
  get lastSeq(): bigint {
    return (BigInt(this.seqHi) << 32n) | BigInt(this.seqLo);
  }

  /**
   * Seal `inner` into `out` at `offset` (room in front for outer headers is the caller's).
   * Tunnel mode: `inner` is an IPv4 or IPv6 packet, Next Header follows from its version.
   * Transport mode: `inner` is the upper-layer payload, `nextHeader` its protocol (required).
   * Returns the octets written, or why the packet was refused. `inner` may be a view of `out`
   * at exactly offset + payloadOffset; it must not overlap `out` anywhere else.
   */
  sealInto(inner: Uint8Array, out: Uint8Array, offset = 0, nextHeader?: number): number | EspRefusal {
    if (this.hardFired) return this.refuse(this.seqHi === this.maxHi && this.seqLo === 0xffff_ffff ? 'seq-exhausted' : 'expired');
    let nh: number;
    if (this.mode === 'tunnel') {
      const v = inner.length > 0 ? inner[0]! >> 4 : 0;
      if (v === 4 && inner.length >= 20) nh = NextHeader.IPV4;
      else if (v === 6 && inner.length >= 40) nh = NextHeader.IPV6;
      else return this.refuse('inner-header');
    } else {
      if (nextHeader === undefined || !Number.isInteger(nextHeader) || nextHeader < 0 || nextHeader > 255) return this.refuse('inner-header');
      nh = nextHeader;
    }
    const t = this.transform;
    const n = inner.length;
    const plain = n + 2;
    const padLen = (t.align - (plain % t.align)) % t.align;
    const plainLen = plain + padLen;
    const total = ESP_HEADER_LENGTH + t.ivLength + plainLen + t.icvLength;
    if (!Number.isInteger(offset) || offset < 0 || offset + total > out.length) return this.refuse('no-room');

    // Next sequence number (RFC 4303 §3.3.3); the hard limit fires on the last one.
    let hi = this.seqHi;
    let lo = this.seqLo + 1;
    if (lo === TWO32) {
      lo = 0;
      hi++;
    }
    this.seqHi = hi;
    this.seqLo = lo;

    writeU32(out, offset, this.spi);
    writeU32(out, offset + 4, lo);
    let q = offset + ESP_HEADER_LENGTH + t.ivLength;
    out.set(inner, q);
    q += n;
    for (let i = 1; i <= padLen; i++) out[q++] = i;
    out[q++] = padLen;
    out[q] = nh;
    t.seal(out, offset, plainLen, hi, lo);

    this.count(n);
    if (!this.softFired && (hi > this.softHi || (hi === this.softHi && lo >= this.softLo))) this.fire('soft', 'sequence');
    if (hi === this.maxHi && lo === 0xffff_ffff) this.fire('hard', 'sequence');
    return total;
  }

  /** As sealInto(), into a new buffer of the exact size. */
  seal(inner: Uint8Array, nextHeader?: number): EspSealResult {
    const out = Buffer.allocUnsafe(this.sealedLength(inner.length));
    const r = this.sealInto(inner, out, 0, nextHeader);
    return typeof r === 'number' ? { ok: true, packet: out } : { ok: false, reason: r };
  }

  stats(): EspCounters {
    return {
      spi: this.spi, direction: 'out', transform: this.transform.name, packets: this.packets, bytes: this.bytes,
      drops: { ...this.refused }, seq: this.seqHi * TWO32 + this.seqLo, softExpired: this.softFired, hardExpired: this.hardFired,
    };
  }

  private refuse(r: EspRefusal): EspRefusal {
    this.refused[r]++;
    return r;
  }
}

/** One inbound ESP SA. */
export class EspInboundSa extends EspSaBase {
  readonly direction = 'in' as const;
  readonly window: ReplayWindow;
  private readonly minLength: number;
  private readonly drops: Record<EspDropReason, number> = {
    truncated: 0, alignment: 0, spi: 0, replay: 0, 'too-old': 0, integrity: 0, padding: 0, 'next-header': 0, dummy: 0, 'inner-header': 0, expired: 0,
  };
  private readonly spiBytes: Uint8Array;

  constructor(params: EspSaParams, opts?: EspSaOptions) {
    super(params, espTransform(params), opts);
    this.window = new ReplayWindow(params.replayWindow ?? DEFAULT_ESP_REPLAY_WINDOW, params.esn);
    const t = this.transform;
    this.minLength = ESP_HEADER_LENGTH + t.ivLength + Math.max(2, t.align === 16 ? 16 : 0) + t.icvLength;
    this.spiBytes = new Uint8Array(4);
    writeU32(this.spiBytes, 0, this.spi);
  }

  /**
   * Process one ESP packet (from the SPI field on: the IP payload of protocol 50, or the UDP
   * payload on port 4500 — see classifyUdp4500()). Never throws. The inner packet is a view of
   * a buffer of its own, or of `packet` itself for NULL encryption.
   */
  open(packet: Uint8Array): EspOpenResult {
    try {
      return this.openUnsafe(packet);
    } catch {
      // Nothing below throws on any input; this keeps the promise if node:crypto ever does.
      return this.drop('integrity');
    }
  }

  private openUnsafe(pkt: Uint8Array): EspOpenResult {
    const t = this.transform;
    const len = pkt.length;
    if (len < this.minLength) return this.drop('truncated');
    const s = this.spiBytes;
    if (pkt[0] !== s[0] || pkt[1] !== s[1] || pkt[2] !== s[2] || pkt[3] !== s[3]) return this.drop('spi');
    if (this.hardFired) return this.drop('expired');
    if (t.align === 16 && (len - ESP_HEADER_LENGTH - t.ivLength - t.icvLength) % 16 !== 0) return this.drop('alignment');
    const seqLo = readU32(pkt, 4);
    const hi = this.window.check(seqLo);
    if (hi === REPLAY_DUPLICATE) return this.drop('replay');
    if (hi === REPLAY_TOO_OLD) return this.drop('too-old');

    const plain = t.open(pkt, hi);
    if (plain === null) return this.drop('integrity');
    // Authenticated: only now may the window move (RFC 4303 §3.4.3).
    this.window.accept(hi, seqLo);

    const pl = plain.length;
    const padLen = plain[pl - 2]!;
    const nh = plain[pl - 1]!;
    const end = pl - 2 - padLen;
    if (end < 0) return this.drop('padding');
    for (let i = 0; i < padLen; i++) {
      if (plain[end + i] !== i + 1) return this.drop('padding');
    }
    if (nh === NextHeader.NO_NEXT_HEADER) return this.drop('dummy');
    let innerLen = end;
    if (this.mode === 'tunnel') {
      if (nh === NextHeader.IPV4) {
        if (end < 20 || plain[0]! >> 4 !== 4) return this.drop('inner-header');
        const ihl = (plain[0]! & 0x0f) * 4;
        const total = (plain[2]! << 8) | plain[3]!;
        if (ihl < 20 || total < ihl || total > end) return this.drop('inner-header');
        innerLen = total;
      } else if (nh === NextHeader.IPV6) {
        if (end < 40 || plain[0]! >> 4 !== 6) return this.drop('inner-header');
        const total = 40 + ((plain[4]! << 8) | plain[5]!);
        // Payload Length 0 is a jumbogram (RFC 2675): take the whole payload.
        if (total > end) return this.drop('inner-header');
        if (total > 40) innerLen = total;
      } else {
        return this.drop('next-header');
      }
    }
    this.count(innerLen);
    return { ok: true, inner: plain.subarray(0, innerLen), nextHeader: nh, seq: hi * TWO32 + seqLo };
  }

  stats(): EspCounters {
    return {
      spi: this.spi, direction: 'in', transform: this.transform.name, packets: this.packets, bytes: this.bytes,
      drops: { ...this.drops }, seq: this.window.highest, softExpired: this.softFired, hardExpired: this.hardFired,
    };
  }

  private drop(reason: EspDropReason): EspOpenResult {
    this.drops[reason]++;
    return { ok: false, reason };
  }
}

/** The SA of an EspSaSpec's direction. */
export function createEspSa(spec: EspSaParams & { readonly direction: 'in' }, opts?: EspSaOptions): EspInboundSa;
export function createEspSa(spec: EspSaParams & { readonly direction: 'out' }, opts?: EspOutboundOptions): EspOutboundSa;
export function createEspSa(spec: EspSaParams & { readonly direction: 'in' | 'out' }, opts?: EspOutboundOptions): EspInboundSa | EspOutboundSa;
export function createEspSa(
  spec: EspSaParams & { readonly direction: 'in' | 'out' }, opts?: EspOutboundOptions,
): EspInboundSa | EspOutboundSa {
  return spec.direction === 'in' ? new EspInboundSa(spec, opts) : new EspOutboundSa(spec, opts);
}
