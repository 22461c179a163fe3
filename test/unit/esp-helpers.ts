// Shared by the esp-*.test.ts files: the suites, inner packets, and an independent reference
// ESP encoder/decoder (one createCipheriv per packet, every field assembled by hand from the
// RFC text) to check src/dataplane/esp against.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { EspInboundSa, EspOutboundSa, type EspOutboundOptions, type EspSaOptions, type EspSaParams } from '../../src/dataplane/esp/index.js';

export interface Suite {
  readonly label: string;
  readonly encr: number;
  readonly keyBits?: number;
  readonly integ: number;
  readonly encrKeyLength: number;
  readonly integKeyLength: number;
}

export const SUITES: readonly Suite[] = [
  { label: 'AES-GCM-16-128', encr: 20, keyBits: 128, integ: 0, encrKeyLength: 20, integKeyLength: 0 },
  { label: 'AES-GCM-16-192', encr: 20, keyBits: 192, integ: 0, encrKeyLength: 28, integKeyLength: 0 },
  { label: 'AES-GCM-16-256', encr: 20, keyBits: 256, integ: 0, encrKeyLength: 36, integKeyLength: 0 },
  { label: 'AES-GCM-12-256', encr: 19, keyBits: 256, integ: 0, encrKeyLength: 36, integKeyLength: 0 },
  { label: 'AES-GCM-8-128', encr: 18, keyBits: 128, integ: 0, encrKeyLength: 20, integKeyLength: 0 },
  { label: 'ChaCha20-Poly1305', encr: 28, integ: 0, encrKeyLength: 36, integKeyLength: 0 },
  { label: 'AES-CBC-128/HMAC-SHA2-256-128', encr: 12, keyBits: 128, integ: 12, encrKeyLength: 16, integKeyLength: 32 },
  { label: 'AES-CBC-192/HMAC-SHA2-384-192', encr: 12, keyBits: 192, integ: 13, encrKeyLength: 24, integKeyLength: 48 },
  { label: 'AES-CBC-256/HMAC-SHA2-256-128', encr: 12, keyBits: 256, integ: 12, encrKeyLength: 32, integKeyLength: 32 },
  { label: 'AES-CBC-256/HMAC-SHA2-384-192', encr: 12, keyBits: 256, integ: 13, encrKeyLength: 32, integKeyLength: 48 },
  { label: 'AES-CBC-256/HMAC-SHA2-512-256', encr: 12, keyBits: 256, integ: 14, encrKeyLength: 32, integKeyLength: 64 },
  { label: 'AES-CBC-128/HMAC-SHA1-96', encr: 12, keyBits: 128, integ: 2, encrKeyLength: 16, integKeyLength: 20 },
  { label: 'NULL/HMAC-SHA2-256-128', encr: 11, integ: 12, encrKeyLength: 0, integKeyLength: 32 },
  { label: 'NULL/HMAC-SHA2-512-256', encr: 11, integ: 14, encrKeyLength: 0, integKeyLength: 64 },
];

export interface SaKeys {
  readonly encrKey: Uint8Array;
  readonly integKey: Uint8Array;
}

export function randomKeys(s: Suite): SaKeys {
  return { encrKey: randomBytes(s.encrKeyLength), integKey: randomBytes(s.integKeyLength) };
}

export function params(s: Suite, k: SaKeys, o: { spi?: number; esn?: boolean; mode?: 'tunnel' | 'transport'; replayWindow?: number; limits?: EspSaParams['limits'] } = {}): EspSaParams {
  return {
    spi: o.spi ?? 0x11223344,
    mode: o.mode ?? 'tunnel',
    encr: { id: s.encr, ...(s.keyBits !== undefined ? { keyBits: s.keyBits } : {}), key: k.encrKey },
    ...(s.integ !== 0 ? { integ: { id: s.integ, key: k.integKey } } : {}),
    esn: o.esn ?? false,
    replayWindow: o.replayWindow ?? 128,
    limits: o.limits ?? {},
  };
}

/** A matching outbound / inbound pair with fresh keys. */
export function saPair(
  s: Suite, o: Parameters<typeof params>[2] = {}, outOpts?: EspOutboundOptions, inOpts?: EspSaOptions,
): { out: EspOutboundSa; inb: EspInboundSa; keys: SaKeys; p: EspSaParams } {
  const keys = randomKeys(s);
  const p = params(s, keys, o);
  return { out: new EspOutboundSa(p, outOpts), inb: new EspInboundSa(p, inOpts), keys, p };
}

/** A syntactically valid IPv4 packet of `total` octets (>= 20), protocol 17, random payload. */
export function ipv4Packet(total: number, fill?: number): Uint8Array {
  const b = fill === undefined ? new Uint8Array(randomBytes(total)) : new Uint8Array(total).fill(fill);
  b[0] = 0x45; b[1] = 0;
  b[2] = total >> 8; b[3] = total & 0xff;
  b[8] = 64; b[9] = 17;
  return b;
}

/** A syntactically valid IPv6 packet of `total` octets (>= 40), next header 17. */
export function ipv6Packet(total: number): Uint8Array {
  const b = new Uint8Array(randomBytes(total));
  b[0] = 0x60;
  const pl = total - 40;
  b[4] = pl >> 8; b[5] = pl & 0xff;
  b[6] = 17; b[7] = 64;
  return b;
}

// ---------------------------------------------------------------------------------------------
// The reference implementation

const HASH: Record<number, { hash: string; icv: number }> = {
  2: { hash: 'sha1', icv: 12 }, 12: { hash: 'sha256', icv: 16 }, 13: { hash: 'sha384', icv: 24 }, 14: { hash: 'sha512', icv: 32 },
};

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function aeadIcv(s: Suite): number {
  return s.encr === 18 ? 8 : s.encr === 19 ? 12 : 16;
}

function aeadAlg(s: Suite): string {
  return s.encr === 28 ? 'chacha20-poly1305' : `aes-${s.keyBits}-gcm`;
}

export interface RefPacket {
  readonly spi: number;
  readonly seq: bigint;
  readonly esn: boolean;
  /** payload | padding | pad length | next header, exactly as to be encrypted. */
  readonly plain: Uint8Array;
  /** AEAD: 8 octets, CBC: 16 (random when absent). */
  readonly iv?: Uint8Array;
}

/** Build payload | padding | Pad Length | Next Header. */
export function trailer(payload: Uint8Array, padding: Uint8Array, nextHeader: number): Uint8Array {
  return Buffer.concat([payload, padding, Uint8Array.of(padding.length, nextHeader)]);
}

export function defaultPadding(payloadLength: number, align: number): Uint8Array {
  const n = (align - ((payloadLength + 2) % align)) % align;
  return Uint8Array.from({ length: n }, (_, i) => i + 1);
}

/** RFC 4303 §2 packet from SPI to ICV, by the book. */
export function refSeal(s: Suite, k: SaKeys, p: RefPacket): Uint8Array {
  const seqLo = u32(Number(p.seq & 0xffffffffn));
  const seqHi = u32(Number(p.seq >> 32n));
  const hdr = Buffer.concat([u32(p.spi), seqLo]);
  if (s.integ === 0) {
    const keyLen = s.encrKeyLength - 4;
    const iv = p.iv ?? randomBytes(8);
    const nonce = Buffer.concat([k.encrKey.subarray(keyLen), iv]);
    const c = createCipheriv(aeadAlg(s) as 'aes-256-gcm', k.encrKey.subarray(0, keyLen), nonce, { authTagLength: aeadIcv(s) });
    // RFC 4106 §5 / RFC 7634 §2.1: SPI | seq, with ESN SPI | seq high | seq low.
    c.setAAD(p.esn ? Buffer.concat([u32(p.spi), seqHi, seqLo]) : hdr);
    const ct = Buffer.concat([c.update(p.plain), c.final()]);
    return Buffer.concat([hdr, iv, ct, c.getAuthTag()]);
  }
  const h = HASH[s.integ]!;
  let body: Buffer;
  if (s.encr === 12) {
    const iv = p.iv ?? randomBytes(16);
    const c = createCipheriv(`aes-${s.keyBits}-cbc`, k.encrKey, iv).setAutoPadding(false);
    body = Buffer.concat([iv, c.update(p.plain), c.final()]);
  } else {
    body = Buffer.from(p.plain);
  }
  // RFC 4303 §3.3.2.1: the high-order bits of an ESN enter the ICV, after the payload.
  const mac = createHmac(h.hash, k.integKey).update(hdr).update(body);
  if (p.esn) mac.update(seqHi);
  return Buffer.concat([hdr, body, mac.digest().subarray(0, h.icv)]);
}

/** Check and decrypt by the book; null on an ICV/tag failure. Returns the whole plaintext. */
export function refOpen(s: Suite, k: SaKeys, pkt: Uint8Array, seqHi: number, esn: boolean): Uint8Array | null {
  const b = Buffer.from(pkt);
  if (s.integ === 0) {
    const keyLen = s.encrKeyLength - 4;
    const icv = aeadIcv(s);
    const nonce = Buffer.concat([k.encrKey.subarray(keyLen), b.subarray(8, 16)]);
    const d = createDecipheriv(aeadAlg(s) as 'aes-256-gcm', k.encrKey.subarray(0, keyLen), nonce, { authTagLength: icv });
    d.setAAD(esn ? Buffer.concat([b.subarray(0, 4), u32(seqHi), b.subarray(4, 8)]) : b.subarray(0, 8));
    d.setAuthTag(b.subarray(b.length - icv));
    try {
      return Buffer.concat([d.update(b.subarray(16, b.length - icv)), d.final()]);
    } catch {
      return null;
    }
  }
  const h = HASH[s.integ]!;
  const end = b.length - h.icv;
  const mac = createHmac(h.hash, k.integKey).update(b.subarray(0, end));
  if (esn) mac.update(u32(seqHi));
  if (!mac.digest().subarray(0, h.icv).equals(b.subarray(end))) return null;
  if (s.encr === 11) return b.subarray(8, end);
  const d = createDecipheriv(`aes-${s.keyBits}-cbc`, k.encrKey, b.subarray(8, 24)).setAutoPadding(false);
  return Buffer.concat([d.update(b.subarray(24, end)), d.final()]);
}

/** The alignment of a suite's plaintext (RFC 4303 §2.4; RFC 3602: the AES block). */
export function alignOf(s: Suite): number {
  return s.encr === 12 ? 16 : 4;
}
