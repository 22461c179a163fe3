/**
 * Signature keys for IKEv2 authentication (RFC 7296 §2.15, RFC 7427): loading private keys
 * (PEM or DER, PKCS#8 and the traditional RSA/EC forms) and public keys (SubjectPublicKeyInfo),
 * and signing/verifying with them.
 *
 * Every key type node:crypto knows goes through node:crypto: RSA (PKCS#1 v1.5 and RSASSA-PSS),
 * ECDSA P-256/P-384/P-521, Ed25519, Ed448. ML-DSA-44/65/87 (FIPS 204; id-ml-dsa-* of
 * draft-ietf-ipsecme-ikev2-pqc-auth) goes through node:crypto where its OpenSSL has it (Node ≥
 * 24.6, OpenSSL 3.5) and through @noble/post-quantum elsewhere; both sign pure ML-DSA with an
 * empty context string. The environment variable PQIKE_MLDSA_BACKEND=node|noble overrides the
 * choice. Key material never appears in an error message.
 */
import * as nodeCrypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import * as asn1js from 'asn1js';
import { PrivateKeyInfo, PublicKeyInfo } from 'pkijs';
import { CryptoError } from './errors.js';

export type SignatureKeyType =
  | 'rsa' | 'rsa-pss' | 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'ed448'
  | 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87';

/** How one signature is made: the family's scheme, with a digest where the scheme hashes first. */
export type SignatureScheme =
  | { readonly kind: 'rsa-pkcs1'; readonly digest: 'sha1' | 'sha256' | 'sha384' | 'sha512' }
  | { readonly kind: 'rsa-pss'; readonly digest: 'sha256' | 'sha384' | 'sha512'; readonly saltLength: number }
  /** `ieee`: r|s of fixed length (RFC 4754, AUTH methods 9-11); else DER Ecdsa-Sig-Value (RFC 7427 §3). */
  | { readonly kind: 'ecdsa'; readonly digest: 'sha256' | 'sha384' | 'sha512'; readonly ieee: boolean }
  | { readonly kind: 'eddsa' }
  | { readonly kind: 'ml-dsa' };

export interface PublicSignatureKey {
  readonly type: SignatureKeyType;
  /** The SubjectPublicKeyInfo DER (for CERTREQ hashes and comparisons). */
  readonly spki: Uint8Array;
  verify(scheme: SignatureScheme, data: Uint8Array, signature: Uint8Array): boolean;
}

export interface PrivateSignatureKey {
  readonly type: SignatureKeyType;
  readonly publicKey: PublicSignatureKey;
  sign(scheme: SignatureScheme, data: Uint8Array): Uint8Array;
}

const ML_DSA_OIDS: Readonly<Record<string, 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87'>> = {
  '2.16.840.1.101.3.4.3.17': 'ml-dsa-44',
  '2.16.840.1.101.3.4.3.18': 'ml-dsa-65',
  '2.16.840.1.101.3.4.3.19': 'ml-dsa-87',
};

const NOBLE = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;

export type MlDsaBackend = 'node' | 'noble';

let nativeMlDsa: boolean | undefined;

/** Whether node:crypto signs and verifies ML-DSA here (OpenSSL 3.5 in Node ≥ 24.6). */
export function mlDsaBackend(): MlDsaBackend {
  const forced = process.env.PQIKE_MLDSA_BACKEND;
  if (forced === 'node' || forced === 'noble') return forced;
  if (nativeMlDsa === undefined) {
    try {
      const k = nodeCrypto.generateKeyPairSync('ml-dsa-44' as 'ed25519');
      nativeMlDsa = nodeCrypto.verify(null, Buffer.of(1), k.publicKey, nodeCrypto.sign(null, Buffer.of(1), k.privateKey));
    } catch {
      nativeMlDsa = false;
    }
  }
  return nativeMlDsa ? 'node' : 'noble';
}

function typeOfKeyObject(k: KeyObject): SignatureKeyType {
  const t = k.asymmetricKeyType;
  switch (t) {
    case 'rsa':
    case 'rsa-pss':
    case 'ed25519':
    case 'ed448':
      return t;
    case 'ec': {
      const curve = k.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ecdsa-p256';
      if (curve === 'secp384r1') return 'ecdsa-p384';
      if (curve === 'secp521r1') return 'ecdsa-p521';
      throw new CryptoError('UNSUPPORTED', `EC key on curve ${curve ?? 'unknown'} (P-256, P-384 and P-521 are supported)`);
    }
    default:
      if (t === 'ml-dsa-44' || t === 'ml-dsa-65' || t === 'ml-dsa-87') return t;
      throw new CryptoError('UNSUPPORTED', `key type ${t ?? 'unknown'} cannot make IKE signatures`);
  }
}

function nodeSign(scheme: SignatureScheme, key: KeyObject, data: Uint8Array): Uint8Array {
  switch (scheme.kind) {
    case 'rsa-pkcs1':
      return nodeCrypto.sign(scheme.digest, data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PADDING });
    case 'rsa-pss':
      return nodeCrypto.sign(scheme.digest, data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength });
    case 'ecdsa':
      return nodeCrypto.sign(scheme.digest, data, { key, dsaEncoding: scheme.ieee ? 'ieee-p1363' : 'der' });
    case 'eddsa':
    case 'ml-dsa':
      return nodeCrypto.sign(null, data, key);
  }
}

function nodeVerify(scheme: SignatureScheme, key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (scheme.kind) {
      case 'rsa-pkcs1':
        return nodeCrypto.verify(scheme.digest, data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PADDING }, sig);
      case 'rsa-pss':
        return nodeCrypto.verify(scheme.digest, data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength }, sig);
      case 'ecdsa':
        return nodeCrypto.verify(scheme.digest, data, { key, dsaEncoding: scheme.ieee ? 'ieee-p1363' : 'der' }, sig);
      case 'eddsa':
      case 'ml-dsa':
        return nodeCrypto.verify(null, data, key, sig);
    }
  } catch {
    // A malformed signature (bad DER, wrong length) is a signature that does not verify.
    return false;
  }
}

/** Which schemes a key type can make: an RSA key both RSA schemes, every other key its own. */
export function schemeFits(type: SignatureKeyType, scheme: SignatureScheme): boolean {
  switch (scheme.kind) {
    case 'rsa-pkcs1':
      return type === 'rsa';
    case 'rsa-pss':
      return type === 'rsa' || type === 'rsa-pss';
    case 'ecdsa':
      return type.startsWith('ecdsa-');
    case 'eddsa':
      return type === 'ed25519' || type === 'ed448';
    case 'ml-dsa':
      return type.startsWith('ml-dsa-');
  }
}

function nodePublic(key: KeyObject, type: SignatureKeyType): PublicSignatureKey {
  const spki = Uint8Array.from(key.export({ format: 'der', type: 'spki' }));
  return {
    type,
    spki,
    verify: (scheme, data, sig) => schemeFits(type, scheme) && nodeVerify(scheme, key, data, sig),
  };
}

function noblePublic(type: 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87', raw: Uint8Array, spki: Uint8Array): PublicSignatureKey {
  const alg = NOBLE[type];
  if (raw.length !== alg.lengths.publicKey) throw new CryptoError('BAD_KEY', `${type} public key of ${raw.length} octets, expected ${alg.lengths.publicKey}`);
  return {
    type,
    spki,
    verify(scheme, data, sig) {
      if (scheme.kind !== 'ml-dsa' || sig.length !== alg.lengths.signature) return false;
      try {
        return alg.verify(sig, data, raw);
      } catch {
        return false;
      }
    },
  };
}

/** The SubjectPublicKeyInfo's algorithm OID and key bits, parsed by pkijs (undefined: not an SPKI). */
function spkiParts(der: Uint8Array): { oid: string; raw: Uint8Array } | undefined {
  try {
    const info = PublicKeyInfo.fromBER(der);
    return { oid: info.algorithm.algorithmId, raw: new Uint8Array(info.subjectPublicKey.valueBlock.valueHexView) };
  } catch {
    return undefined;
  }
}

/** A public key from its SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7). Throws CryptoError. */
export function publicKeyFromSpki(der: Uint8Array): PublicSignatureKey {
  const parts = spkiParts(der);
  const mlDsa = parts ? ML_DSA_OIDS[parts.oid] : undefined;
  if (parts && mlDsa && mlDsaBackend() === 'noble') return noblePublic(mlDsa, parts.raw, Uint8Array.from(der));
  let key: KeyObject;
  try {
    key = nodeCrypto.createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (e) {
    throw new CryptoError('BAD_KEY', `unusable public key${parts ? ` (algorithm ${parts.oid})` : ''}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return nodePublic(key, typeOfKeyObject(key));
}

/** The ML-DSA key of a PKCS#8 PrivateKeyInfo (the seed, the expanded key, or both, as OpenSSL 3.5 writes them). */
function nobleMlDsaPrivate(type: 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87', inner: Uint8Array): PrivateSignatureKey {
  const alg = NOBLE[type];
  const parsed = asn1js.fromBER(inner);
  if (parsed.offset === -1) throw new CryptoError('BAD_KEY', `${type} private key: not DER`);
  const node = parsed.result;
  let seed: Uint8Array | undefined;
  let expanded: Uint8Array | undefined;
  // An OCTET STRING, or (the seed of drafts before RFC 9881 in the "both" form) a [0] primitive.
  const octets = (b: asn1js.AsnType | undefined): Uint8Array | undefined =>
    b instanceof asn1js.OctetString || (b instanceof asn1js.Primitive && b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0) ? new Uint8Array(b.valueBlock.valueHexView) : undefined;
  if (node.idBlock.tagClass === 3 && node.idBlock.tagNumber === 0 && node instanceof asn1js.Primitive) seed = new Uint8Array(node.valueBlock.valueHexView);
  else if (node instanceof asn1js.OctetString) expanded = octets(node);
  else if (node instanceof asn1js.Sequence) {
    seed = octets(node.valueBlock.value[0]);
    expanded = octets(node.valueBlock.value[1]);
  }
  let secretKey: Uint8Array;
  let publicKey: Uint8Array;
  if (seed !== undefined) {
    if (seed.length !== 32) throw new CryptoError('BAD_KEY', `${type} private key: seed of ${seed.length} octets, expected 32`);
    ({ secretKey, publicKey } = alg.keygen(seed));
    if (expanded !== undefined && Buffer.compare(Buffer.from(expanded), Buffer.from(secretKey)) !== 0) throw new CryptoError('BAD_KEY', `${type} private key: the seed and the expanded key disagree`);
  } else if (expanded !== undefined && expanded.length === alg.lengths.secretKey) {
    secretKey = expanded;
    publicKey = alg.getPublicKey(expanded);
  } else throw new CryptoError('BAD_KEY', `${type} private key: neither a 32-octet seed nor a ${alg.lengths.secretKey}-octet expanded key`);
  const spki = new PublicKeyInfo();
  spki.algorithm.algorithmId = Object.keys(ML_DSA_OIDS).find((o) => ML_DSA_OIDS[o] === type) ?? '';
  spki.subjectPublicKey = new asn1js.BitString({ valueHex: publicKey });
  const pub = noblePublic(type, publicKey, new Uint8Array(spki.toSchema().toBER()));
  return {
    type,
    publicKey: pub,
    sign(scheme, data) {
      if (scheme.kind !== 'ml-dsa') throw new CryptoError('UNSUPPORTED', `an ${type} key makes ML-DSA signatures only`);
      return alg.sign(data, secretKey);
    },
  };
}

function fromKeyObject(key: KeyObject): PrivateSignatureKey {
  const type = typeOfKeyObject(key);
  const pub = nodePublic(nodeCrypto.createPublicKey(key), type);
  return {
    type,
    publicKey: pub,
    sign(scheme, data) {
      if (!schemeFits(type, scheme)) throw new CryptoError('UNSUPPORTED', `a ${type} key cannot make ${scheme.kind} signatures`);
      return nodeSign(scheme, key, data);
    },
  };
}

export interface PrivateKeyOptions {
  /** For an encrypted PKCS#8 key. Without it such a key is refused with a message that says so. */
  readonly passphrase?: string;
}

const PEM_KEY = /-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----/;

/**
 * A private key from PEM text or DER octets: PKCS#8 (encrypted with a passphrase, or not), or
 * the traditional "RSA PRIVATE KEY" / "EC PRIVATE KEY". Throws CryptoError with the reason.
 */
export function loadPrivateKey(input: string | Uint8Array, opts: PrivateKeyOptions = {}): PrivateSignatureKey {
  const pem = typeof input === 'string' ? input : undefined;
  const label = pem?.match(PEM_KEY)?.[1];
  if (pem !== undefined && label === undefined) throw new CryptoError('BAD_KEY', 'no PEM private key found (expected -----BEGIN PRIVATE KEY----- or an RSA/EC/ENCRYPTED one)');
  const encrypted = label === 'ENCRYPTED PRIVATE KEY' || (pem?.includes('Proc-Type: 4,ENCRYPTED') ?? false);
  if (encrypted && opts.passphrase === undefined) throw new CryptoError('BAD_KEY', 'the private key is encrypted and no passphrase is configured for it');
  const der = pem === undefined ? Buffer.from(input as Uint8Array) : undefined;
  // ML-DSA PKCS#8 where node:crypto has no ML-DSA: pkijs reads the PrivateKeyInfo.
  if (!encrypted && mlDsaBackend() === 'noble') {
    const bytes = der ?? pemBody(pem ?? '');
    try {
      const info = PrivateKeyInfo.fromBER(bytes);
      const type = ML_DSA_OIDS[info.privateKeyAlgorithm.algorithmId];
      if (type) return nobleMlDsaPrivate(type, new Uint8Array(info.privateKey.valueBlock.valueHexView));
    } catch (e) {
      if (e instanceof CryptoError) throw e;
      // not PKCS#8 (a traditional RSA/EC key): node:crypto reads it below
    }
  }
  let key: KeyObject;
  try {
    key = der !== undefined
      ? nodeCrypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8', ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) })
      : nodeCrypto.createPrivateKey({ key: pem ?? '', format: 'pem', ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CryptoError('BAD_KEY', encrypted ? `cannot decrypt the private key (wrong passphrase?): ${why}` : `unusable private key: ${why}`);
  }
  return fromKeyObject(key);
}

/** The DER body of the first PEM block. */
export function pemBody(pem: string): Uint8Array {
  const m = pem.match(/-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END [A-Z0-9 ]+-----/);
  if (!m) throw new CryptoError('BAD_KEY', 'no PEM block found');
  return Uint8Array.from(Buffer.from((m[1] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, ''), 'base64'));
}

/** Every PEM block of one label ("CERTIFICATE", "X509 CRL") in text, as DER. */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => Uint8Array.from(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')));
}

/** PEM text of DER octets. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A fresh key pair of a type, as a PKCS#8 DER private key (for `pqike pki` and tests). */
export function generatePrivateKey(type: SignatureKeyType): Uint8Array {
  if (type.startsWith('ml-dsa-') && mlDsaBackend() === 'noble') {
    const oid = Object.keys(ML_DSA_OIDS).find((o) => ML_DSA_OIDS[o] === type) ?? '';
    // PKCS#8 with the seed form of the ML-DSA private key ([0] IMPLICIT OCTET STRING, 32 octets).
    const info = new PrivateKeyInfo();
    info.version = 0;
    info.privateKeyAlgorithm.algorithmId = oid;
    const seed = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: nodeCrypto.randomBytes(32) });
    info.privateKey = new asn1js.OctetString({ valueHex: seed.toBER() });
    return new Uint8Array(info.toSchema().toBER());
  }
  const k = (() => {
    switch (type) {
      case 'rsa': return nodeCrypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
      case 'rsa-pss': return nodeCrypto.generateKeyPairSync('rsa-pss', { modulusLength: 3072 });
      case 'ecdsa-p256': return nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      case 'ecdsa-p384': return nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      case 'ecdsa-p521': return nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
      case 'ed25519': return nodeCrypto.generateKeyPairSync('ed25519');
      case 'ed448': return nodeCrypto.generateKeyPairSync('ed448');
      default: return nodeCrypto.generateKeyPairSync(type as 'ed25519');
    }
  })();
  return Uint8Array.from(k.privateKey.export({ format: 'der', type: 'pkcs8' }));
}
