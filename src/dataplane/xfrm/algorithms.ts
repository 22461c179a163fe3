/**
 * ESP transforms (RFC 7296 §3.3.2 IDs) as Linux crypto API names for XFRM (the names strongSwan's
 * kernel-netlink plugin uses; the kernel's own table is net/xfrm/xfrm_algo.c), with the ICV or
 * truncation lengths and key checks. AEAD keys are key | salt (RFC 4106 §8.1, RFC 7634 §2).
 */
import { EncrId, IntegId } from '../../wire/constants.js';
import type { EspSaSpec } from '../../engine/dataplane.js';
import type { SaParams } from './messages.js';
import { XfrmError } from './errors.js';

interface AeadAlg {
  readonly kind: 'aead';
  readonly name: string;
  readonly icvBits: number;
  /** Octets of salt after the key. */
  readonly salt: number;
  /** Allowed key sizes in bits (without salt). */
  readonly keyBits: readonly number[];
}

interface CryptAlg {
  readonly kind: 'crypt';
  readonly name: string;
  readonly salt: number;
  readonly keyBits: readonly number[];
}

const AES = [128, 192, 256] as const;

const ENCR: ReadonlyMap<number, AeadAlg | CryptAlg> = new Map<number, AeadAlg | CryptAlg>([
  [EncrId.AES_GCM_8, { kind: 'aead', name: 'rfc4106(gcm(aes))', icvBits: 64, salt: 4, keyBits: AES }],
  [EncrId.AES_GCM_12, { kind: 'aead', name: 'rfc4106(gcm(aes))', icvBits: 96, salt: 4, keyBits: AES }],
  [EncrId.AES_GCM_16, { kind: 'aead', name: 'rfc4106(gcm(aes))', icvBits: 128, salt: 4, keyBits: AES }],
  [EncrId.NULL_AUTH_AES_GMAC, { kind: 'aead', name: 'rfc4543(gcm(aes))', icvBits: 128, salt: 4, keyBits: AES }],
  [EncrId.CHACHA20_POLY1305, { kind: 'aead', name: 'rfc7539esp(chacha20,poly1305)', icvBits: 128, salt: 4, keyBits: [256] }],
  [EncrId.AES_CBC, { kind: 'crypt', name: 'cbc(aes)', salt: 0, keyBits: AES }],
  // RFC 3686 §5.1: key | 4-octet nonce.
  [EncrId.AES_CTR, { kind: 'crypt', name: 'rfc3686(ctr(aes))', salt: 4, keyBits: AES }],
  [EncrId.NULL, { kind: 'crypt', name: 'ecb(cipher_null)', salt: 0, keyBits: [0] }],
]);

const INTEG: ReadonlyMap<number, { readonly name: string; readonly truncBits: number; readonly keyBytes: number }> = new Map([
  [IntegId.HMAC_SHA2_256_128, { name: 'hmac(sha256)', truncBits: 128, keyBytes: 32 }],
  [IntegId.HMAC_SHA2_384_192, { name: 'hmac(sha384)', truncBits: 192, keyBytes: 48 }],
  [IntegId.HMAC_SHA2_512_256, { name: 'hmac(sha512)', truncBits: 256, keyBytes: 64 }],
  [IntegId.HMAC_SHA1_96, { name: 'hmac(sha1)', truncBits: 96, keyBytes: 20 }],
  [IntegId.AES_XCBC_96, { name: 'xcbc(aes)', truncBits: 96, keyBytes: 16 }],
]);

/** The XFRM algorithm attributes of an ESP SA. Keys are the spec's arrays (not copied). */
export function espAlgorithms(spec: Pick<EspSaSpec, 'encr' | 'integ'>): Pick<SaParams, 'aead' | 'crypt' | 'auth'> {
  const e = ENCR.get(spec.encr.id);
  if (!e) throw new XfrmError('UNSUPPORTED', `ESP encryption transform ${spec.encr.id} has no kernel mapping`);
  const key = spec.encr.key;
  const keyBits = (key.length - e.salt) * 8;
  if (!e.keyBits.includes(keyBits)) throw new XfrmError('BAD_KEY', `${e.name}: key of ${key.length} octets (${e.salt} of salt): ${keyBits} bits, not ${e.keyBits.join('/')}`);
  if (spec.encr.keyBits !== undefined && spec.encr.keyBits !== keyBits && e.keyBits.length > 1) {
    throw new XfrmError('BAD_KEY', `${e.name}: key length attribute ${spec.encr.keyBits} but ${keyBits} bits of key`);
  }
  if (e.kind === 'aead') {
    if (spec.integ && spec.integ.id !== IntegId.NONE) throw new XfrmError('BAD_SPEC', `AEAD ${e.name} combined with integrity transform ${spec.integ.id}`);
    return { aead: { name: e.name, key, icvBits: e.icvBits } };
  }
  if (!spec.integ || spec.integ.id === IntegId.NONE) {
    throw new XfrmError('BAD_SPEC', `${e.name} without an integrity transform (RFC 8221 §5: ESP without integrity is not allowed here)`);
  }
  const i = INTEG.get(spec.integ.id);
  if (!i) throw new XfrmError('UNSUPPORTED', `ESP integrity transform ${spec.integ.id} has no kernel mapping`);
  if (spec.integ.key.length !== i.keyBytes) throw new XfrmError('BAD_KEY', `${i.name}: key of ${spec.integ.key.length} octets, not ${i.keyBytes}`);
  return { crypt: { name: e.name, key }, auth: { name: i.name, key: spec.integ.key, truncBits: i.truncBits } };
}
