/**
 * The cryptographic transforms of one ESP SA (RFC 4303 §3.3.2, §3.4.4), keyed once per SA.
 *
 * Every transform works in place on a packet laid out as RFC 4303 §2 draws it:
 *
 *     SPI (4) | Sequence Number (4) | IV | payload | Padding | Pad Length | Next Header | ICV
 *
 * seal() is handed a buffer whose SPI, sequence number and plaintext (payload, padding, pad
 * length, next header) are already in place; it writes the IV, replaces the plaintext with the
 * ciphertext and appends the ICV. open() checks the ICV and returns the plaintext.
 *
 *  - AES-GCM (ENCR 18/19/20, RFC 4106): key | 4-octet salt; 8-octet IV; nonce = salt | IV;
 *    AAD = SPI | Sequence Number, with ESN SPI | high 32 bits | low 32 bits (RFC 4106 §5);
 *    ICV = 8, 12 or 16-octet tag.
 *  - ChaCha20-Poly1305 (ENCR 28, RFC 7634 §2): 32-octet key | 4-octet salt, otherwise as GCM
 *    with a 16-octet tag (AAD as RFC 7634 §2.1).
 *    The AEAD IV is the 64-bit sequence number, XORed with a per-SA mask (zero by default):
 *    unique per key as RFC 4106 §3.1 and RFC 7634 §2 require. strongSwan's libipsec uses the
 *    same construction with a random mask; RFC 7634 Appendix A is a mask of 0x1011121314151612.
 *  - AES-CBC (ENCR 12, RFC 3602) with HMAC (RFC 4868, RFC 2404): a 16-octet IV; the ICV is the
 *    truncated HMAC over SPI | Sequence Number | IV | ciphertext, with ESN the high 32 bits of
 *    the sequence number appended for the ICV only (RFC 4303 §3.3.2.1, §2.2.1).
 *  - NULL encryption (ENCR 11, RFC 2410) with HMAC: no IV, the payload goes in the clear.
 *
 * Speed (node:crypto, no per-packet key schedule where avoidable):
 *  - All keys are KeyObjects made once per SA: on Node 24 createCipheriv/createHmac with a raw
 *    Buffer key cost 3-4 times as much (bench/esp.ts measures both).
 *  - AES-CBC runs one long-lived cipher and decipher per SA instead of one per packet.
 *    CBC chains each block to the previous ciphertext block, so a continuing stream whose last
 *    output block is C encrypts a packet under a fresh IV when its first input block is
 *    N xor C: the output starts with E(N), which is then the packet's IV, followed by the CBC
 *    encryption of the plaintext under that IV. N = a per-SA random 64-bit value | the 64-bit
 *    sequence number is unique per packet, so IV = E_K(N) is the IV generation of NIST SP
 *    800-38A Appendix C (forward cipher of a nonce under the same key): unpredictable to
 *    anyone without the key, as RFC 3602 §2 requires. Decryption feeds IV | ciphertext to the
 *    continuing decipher and drops the first output block (D(IV) xor whatever came before).
 *  - AEAD ciphers cannot continue across messages (a tag per packet), so GCM and ChaCha20-
 *    Poly1305 make one cipher object per packet from the cached KeyObject; the nonce, AAD and
 *    trailer buffers are the SA's own, and each packet is encrypted with one update() call.
 */
import {
  createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual,
  type Cipheriv, type CipherGCMTypes, type Decipheriv, type KeyObject,
} from 'node:crypto';
import { CryptoError } from '../../crypto/errors.js';
import { EncrId, IntegId } from '../../wire/constants.js';

/** SPI and Sequence Number (RFC 4303 §2.1, §2.2). */
export const ESP_HEADER_LENGTH = 8;

export interface EspTransformSpec {
  /** ENCR transform ID (RFC 7296 §3.3.2) and its Key Length attribute (AES: 128/192/256). */
  readonly encr: { readonly id: number; readonly keyBits?: number; readonly key: Uint8Array };
  /** INTEG transform ID and key; absent (or NONE) for AEAD. */
  readonly integ?: { readonly id: number; readonly key: Uint8Array } | undefined;
  /** Extended Sequence Numbers (RFC 4303 §2.2.1). */
  readonly esn: boolean;
  /** The SA's SPI (host order, as in EspSaSpec). */
  readonly spi: number;
}

export interface EspTransform {
  /** Names for listings, e.g. 'AES_GCM_16_256', 'AES_CBC_128/HMAC_SHA2_256_128'. */
  readonly name: string;
  readonly ivLength: number;
  readonly icvLength: number;
  /** The ciphertext (payload | padding | trailer) is a multiple of this: 16 for CBC, else 4. */
  readonly align: number;
  /**
   * Encrypt in place. `p` is where the SPI is; the plaintext of `plainLength` octets (a
   * multiple of `align`) is at p + 8 + ivLength; the ICV goes right after it.
   */
  seal(buf: Uint8Array, p: number, plainLength: number, seqHi: number, seqLo: number): void;
  /**
   * Check and decrypt `pkt` (SPI through ICV; its length already checked against the minimum
   * and `align`). Returns the plaintext (payload | padding | trailer), or null when the ICV or
   * tag does not verify. The plaintext may be a view of `pkt` (NULL encryption).
   */
  open(pkt: Uint8Array, seqHi: number): Uint8Array | null;
}

interface HmacParams { readonly name: string; readonly hash: string; readonly keyLength: number; readonly icvLength: number }

/** RFC 4868 §2.1-§2.3 and RFC 2404: key length = hash output, ICV = the leading half / 96 bits. */
const HMACS: ReadonlyMap<number, HmacParams> = new Map([
  [IntegId.HMAC_SHA1_96, { name: 'HMAC_SHA1_96', hash: 'sha1', keyLength: 20, icvLength: 12 }],
  [IntegId.HMAC_SHA2_256_128, { name: 'HMAC_SHA2_256_128', hash: 'sha256', keyLength: 32, icvLength: 16 }],
  [IntegId.HMAC_SHA2_384_192, { name: 'HMAC_SHA2_384_192', hash: 'sha384', keyLength: 48, icvLength: 24 }],
  [IntegId.HMAC_SHA2_512_256, { name: 'HMAC_SHA2_512_256', hash: 'sha512', keyLength: 64, icvLength: 32 }],
]);

function unsupported(msg: string): CryptoError {
  return new CryptoError('UNSUPPORTED', msg);
}

function badKey(msg: string): CryptoError {
  return new CryptoError('BAD_KEY', msg);
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** The ICV part of HMAC-based transforms: one KeyObject, the high sequence bits for ESN. */
class EspHmac {
  readonly icvLength: number;
  readonly name: string;
  private readonly hash: string;
  private readonly key: KeyObject;
  private readonly esn: boolean;
  private readonly seqHi = Buffer.alloc(4);

  constructor(integ: EspTransformSpec['integ'], esn: boolean) {
    if (integ === undefined || integ.id === IntegId.NONE) throw unsupported('ESP without an AEAD cipher needs an integrity algorithm');
    const p = HMACS.get(integ.id);
    if (p === undefined) throw unsupported(`ESP integrity algorithm ${integ.id} not supported`);
    if (integ.key.length !== p.keyLength) throw badKey(`${p.name} key is ${integ.key.length} octets, expected ${p.keyLength}`);
    this.icvLength = p.icvLength;
    this.name = p.name;
    this.hash = p.hash;
    this.key = createSecretKey(integ.key);
    this.esn = esn;
  }

  /** The untruncated HMAC of buf[start, end) (| seqHi with ESN). */
  mac(buf: Uint8Array, start: number, end: number, seqHi: number): Buffer {
    const h = createHmac(this.hash, this.key);
    h.update(buf.subarray(start, end));
    if (this.esn) {
      writeU32(this.seqHi, 0, seqHi);
      h.update(this.seqHi);
    }
    return h.digest();
  }

  /** Write the ICV of buf[start, end) at `end`. */
  sign(buf: Uint8Array, start: number, end: number, seqHi: number): void {
    const d = this.mac(buf, start, end, seqHi);
    buf.set(d.subarray(0, this.icvLength), end);
  }

  /** Constant-time check of the ICV at the end of `pkt`. */
  verify(pkt: Uint8Array, seqHi: number): boolean {
    const end = pkt.length - this.icvLength;
    const d = this.mac(pkt, 0, end, seqHi);
    return timingSafeEqual(d.subarray(0, this.icvLength), pkt.subarray(end));
  }
}

type AeadAlg = CipherGCMTypes | 'chacha20-poly1305';

/** AES-GCM (RFC 4106) and ChaCha20-Poly1305 (RFC 7634). */
class AeadTransform implements EspTransform {
  readonly ivLength = 8;
  readonly align = 4;
  private readonly key: KeyObject;
  /** salt | IV, copied by createCipheriv: one buffer per SA. */
  private readonly nonce = Buffer.alloc(12);
  /** ESN only: SPI | seq high | seq low (RFC 4106 §5, RFC 7634 §2.1). */
  private readonly aad12: Buffer;
  private readonly maskHi: number;
  private readonly maskLo: number;
  private readonly cipherOptions: { readonly authTagLength: number };

  constructor(
    readonly name: string, private readonly alg: AeadAlg, keyLength: number, readonly icvLength: number,
    material: Uint8Array, private readonly esn: boolean, spi: number, ivMask: Uint8Array | undefined,
  ) {
    if (material.length !== keyLength + 4) throw badKey(`${name} key material is ${material.length} octets, expected ${keyLength + 4} (key | salt)`);
    this.key = createSecretKey(material.subarray(0, keyLength));
    this.nonce.set(material.subarray(keyLength), 0);
    this.cipherOptions = { authTagLength: icvLength };
    this.aad12 = Buffer.alloc(12);
    writeU32(this.aad12, 0, spi);
    if (ivMask !== undefined && ivMask.length !== 8) throw new RangeError('ESP IV mask must be 8 octets');
    const m = ivMask ?? new Uint8Array(8);
    this.maskHi = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
    this.maskLo = ((m[4]! << 24) | (m[5]! << 16) | (m[6]! << 8) | m[7]!) >>> 0;
  }

  private aad(buf: Uint8Array, p: number, seqHi: number): Uint8Array {
    if (!this.esn) return buf.subarray(p, p + ESP_HEADER_LENGTH);
    writeU32(this.aad12, 4, seqHi);
    this.aad12[8] = buf[p + 4]!;
    this.aad12[9] = buf[p + 5]!;
    this.aad12[10] = buf[p + 6]!;
    this.aad12[11] = buf[p + 7]!;
    return this.aad12;
  }

  seal(buf: Uint8Array, p: number, plainLength: number, seqHi: number, seqLo: number): void {
    const ivAt = p + ESP_HEADER_LENGTH;
    writeU32(buf, ivAt, (seqHi ^ this.maskHi) >>> 0);
    writeU32(buf, ivAt + 4, (seqLo ^ this.maskLo) >>> 0);
    this.nonce.set(buf.subarray(ivAt, ivAt + 8), 4);
    const c = createCipheriv(this.alg as CipherGCMTypes, this.key, this.nonce, this.cipherOptions);
    c.setAAD(this.aad(buf, p, seqHi));
    const ctAt = ivAt + 8;
    const ct = c.update(buf.subarray(ctAt, ctAt + plainLength));
    c.final();
    buf.set(ct, ctAt);
    buf.set(c.getAuthTag(), ctAt + plainLength);
  }

  open(pkt: Uint8Array, seqHi: number): Uint8Array | null {
    const ivAt = ESP_HEADER_LENGTH;
    const ctAt = ivAt + 8;
    const tagAt = pkt.length - this.icvLength;
    this.nonce.set(pkt.subarray(ivAt, ctAt), 4);
    const d = createDecipheriv(this.alg as CipherGCMTypes, this.key, this.nonce, this.cipherOptions);
    d.setAAD(this.aad(pkt, 0, seqHi));
    d.setAuthTag(pkt.subarray(tagAt));
    const plain = d.update(pkt.subarray(ctAt, tagAt));
    try {
      d.final();
    } catch {
      return null;
    }
    return plain;
  }
}

/** AES-CBC (RFC 3602) + HMAC, on one continuing cipher and decipher per SA (see the file comment). */
class CbcTransform implements EspTransform {
  readonly ivLength = 16;
  readonly align = 16;
  readonly icvLength: number;
  readonly name: string;
  private readonly enc: Cipheriv;
  private readonly dec: Decipheriv;
  private readonly hmac: EspHmac;
  /** The last ciphertext block the encryption stream produced. */
  private readonly last = Buffer.alloc(16);
  /** Per-SA random half of the IV nonce N = salt | seq high | seq low. */
  private readonly nonceSalt: Buffer;

  constructor(keyBits: number, key: Uint8Array, integ: EspTransformSpec['integ'], esn: boolean) {
    if (key.length !== keyBits / 8) throw badKey(`AES-CBC-${keyBits} key is ${key.length} octets, expected ${keyBits / 8}`);
    this.hmac = new EspHmac(integ, esn);
    this.icvLength = this.hmac.icvLength;
    this.name = `AES_CBC_${keyBits}/${this.hmac.name}`;
    const k = createSecretKey(key);
    const iv0 = randomBytes(16);
    iv0.copy(this.last);
    this.enc = createCipheriv(`aes-${keyBits}-cbc`, k, iv0).setAutoPadding(false);
    this.dec = createDecipheriv(`aes-${keyBits}-cbc`, k, iv0).setAutoPadding(false);
    this.nonceSalt = randomBytes(8);
  }

  seal(buf: Uint8Array, p: number, plainLength: number, seqHi: number, seqLo: number): void {
    const ivAt = p + ESP_HEADER_LENGTH;
    // First input block: N xor (last ciphertext block); the stream turns it into E(N) = the IV.
    const last = this.last;
    const salt = this.nonceSalt;
    for (let i = 0; i < 8; i++) buf[ivAt + i] = salt[i]! ^ last[i]!;
    writeU32(buf, ivAt + 8, (seqHi ^ ((last[8]! << 24) | (last[9]! << 16) | (last[10]! << 8) | last[11]!)) >>> 0);
    writeU32(buf, ivAt + 12, (seqLo ^ ((last[12]! << 24) | (last[13]! << 16) | (last[14]! << 8) | last[15]!)) >>> 0);
    const end = ivAt + 16 + plainLength;
    const out = this.enc.update(buf.subarray(ivAt, end));
    buf.set(out, ivAt);
    out.copy(last, 0, out.length - 16);
    this.hmac.sign(buf, p, end, seqHi);
  }

  open(pkt: Uint8Array, seqHi: number): Uint8Array | null {
    if (!this.hmac.verify(pkt, seqHi)) return null;
    const out = this.dec.update(pkt.subarray(ESP_HEADER_LENGTH, pkt.length - this.icvLength));
    return out.subarray(16);
  }
}

/** NULL encryption (RFC 2410) + HMAC: integrity only. */
class NullTransform implements EspTransform {
  readonly ivLength = 0;
  readonly align = 4;
  readonly icvLength: number;
  readonly name: string;
  private readonly hmac: EspHmac;

  constructor(integ: EspTransformSpec['integ'], esn: boolean) {
    this.hmac = new EspHmac(integ, esn);
    this.icvLength = this.hmac.icvLength;
    this.name = `NULL/${this.hmac.name}`;
  }

  seal(buf: Uint8Array, p: number, plainLength: number, seqHi: number): void {
    this.hmac.sign(buf, p, p + ESP_HEADER_LENGTH + plainLength, seqHi);
  }

  open(pkt: Uint8Array, seqHi: number): Uint8Array | null {
    if (!this.hmac.verify(pkt, seqHi)) return null;
    return pkt.subarray(ESP_HEADER_LENGTH, pkt.length - this.icvLength);
  }
}

function aesBits(keyBits: number | undefined, what: string): 128 | 192 | 256 {
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) throw unsupported(`${what} key length ${String(keyBits)} not supported`);
  return keyBits;
}

function noInteg(spec: EspTransformSpec, what: string): void {
  if (spec.integ !== undefined && spec.integ.id !== IntegId.NONE) throw unsupported(`${what} is an AEAD cipher: no integrity algorithm`);
}

/**
 * The transform of one SA. `ivMask` (AEAD only, 8 octets): the IV is seq64 xor mask; zero by
 * default. Throws CryptoError (UNSUPPORTED, BAD_KEY) for a transform or key it cannot use.
 */
export function espTransform(spec: EspTransformSpec, ivMask?: Uint8Array): EspTransform {
  const { encr } = spec;
  switch (encr.id) {
    case EncrId.AES_GCM_8:
    case EncrId.AES_GCM_12:
    case EncrId.AES_GCM_16: {
      noInteg(spec, 'AES-GCM');
      const bits = aesBits(encr.keyBits, 'AES-GCM');
      const icv = encr.id === EncrId.AES_GCM_8 ? 8 : encr.id === EncrId.AES_GCM_12 ? 12 : 16;
      return new AeadTransform(`AES_GCM_${icv}_${bits}`, `aes-${bits}-gcm`, bits / 8, icv, encr.key, spec.esn, spec.spi, ivMask);
    }
    case EncrId.CHACHA20_POLY1305:
      noInteg(spec, 'ChaCha20-Poly1305');
      // RFC 7634 §4: no Key Length attribute; tolerate an explicit 256.
      if (encr.keyBits !== undefined && encr.keyBits !== 256) throw unsupported(`ChaCha20-Poly1305 key length ${encr.keyBits}`);
      return new AeadTransform('CHACHA20_POLY1305', 'chacha20-poly1305', 32, 16, encr.key, spec.esn, spec.spi, ivMask);
    case EncrId.AES_CBC:
      return new CbcTransform(aesBits(encr.keyBits, 'AES-CBC'), encr.key, spec.integ, spec.esn);
    case EncrId.NULL:
      if (encr.key.length !== 0) throw badKey('ENCR_NULL takes no key');
      return new NullTransform(spec.integ, spec.esn);
    default:
      throw unsupported(`ESP encryption algorithm ${encr.id} not supported`);
  }
}
