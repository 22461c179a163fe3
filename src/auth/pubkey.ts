/**
 * Public key authentication with X.509 certificates (RFC 7296 §2.15, §3.6, §3.8):
 *
 * - ours: AUTH method 14, Digital Signature (RFC 7427 §3), with a hash the peer announced in
 *   SIGNATURE_HASH_ALGORITHMS (§4; the Identity "hash" for EdDSA, RFC 8420, and for pure
 *   ML-DSA with an empty context, draft-ietf-ipsecme-ikev2-pqc-auth). A peer that announced
 *   none gets the classic method its key has: 1 (RSA, PKCS#1 v1.5 with SHA-1) or 9/10/11
 *   (ECDSA P-256/P-384/P-521 with SHA-256/384/512, RFC 4754); EdDSA and ML-DSA have none.
 *   Our certificates go in CERT payloads, end entity first.
 * - the peer's: its CERT chain validated to a configured CA (trust-store.ts), the IKE ID named
 *   by the end-entity certificate (x509.ts certificateNames), then its AUTH — method 14 or the
 *   classic 1 and 9/10/11 — checked with the certificate's key.
 */
import type { PrivateSignatureKey, SignatureKeyType, SignatureScheme } from '../crypto/signature-keys.js';
import { schemeFits } from '../crypto/signature-keys.js';
import { AuthMethod, HashAlgorithm } from '../wire/constants.js';
import type { Announcement } from './auth-methods-announcement.js';
import type { Authenticator, PeerProof, Verification } from './authenticator.js';
import { SIGNATURE_ALGORITHMS, decodeSignatureAuthData, encodeSignatureAuthData } from './signature-auth-data.js';
import type { SignatureAlgorithm } from './signature-auth-data.js';
import type { TrustStore } from './trust-store.js';
import { certificateNames, parseCertificate } from './x509.js';

/** Our RFC 7427 algorithms per key type, best first. */
const PREFERRED: Readonly<Record<SignatureKeyType, readonly string[]>> = {
  'ecdsa-p256': ['ecdsa-with-sha256', 'ecdsa-with-sha384', 'ecdsa-with-sha512'],
  'ecdsa-p384': ['ecdsa-with-sha384', 'ecdsa-with-sha512', 'ecdsa-with-sha256'],
  'ecdsa-p521': ['ecdsa-with-sha512', 'ecdsa-with-sha384', 'ecdsa-with-sha256'],
  rsa: ['RSASSA-PSS with sha256', 'RSASSA-PSS with sha384', 'RSASSA-PSS with sha512'],
  'rsa-pss': ['RSASSA-PSS with sha256', 'RSASSA-PSS with sha384', 'RSASSA-PSS with sha512'],
  ed25519: ['id-Ed25519'],
  ed448: ['id-Ed448'],
  'ml-dsa-44': ['id-ml-dsa-44'],
  'ml-dsa-65': ['id-ml-dsa-65'],
  'ml-dsa-87': ['id-ml-dsa-87'],
};

/** RSA PKCS#1 v1.5 for peers that do not verify RSASSA-PSS (RFC 8247 §3.2: MAY). */
const PKCS1: readonly string[] = ['sha256WithRSAEncryption', 'sha384WithRSAEncryption', 'sha512WithRSAEncryption'];

/** The classic AUTH methods (RFC 7296 §3.8, RFC 4754 §3): method → scheme and the key it needs. */
const CLASSIC: Readonly<Record<number, { readonly scheme: SignatureScheme; readonly key: SignatureKeyType; readonly name: string }>> = {
  [AuthMethod.RSA_SIG]: { scheme: { kind: 'rsa-pkcs1', digest: 'sha1' }, key: 'rsa', name: 'RSA PKCS#1 v1.5 with SHA-1 (method 1)' },
  [AuthMethod.ECDSA_SHA256_P256]: { scheme: { kind: 'ecdsa', digest: 'sha256', ieee: true }, key: 'ecdsa-p256', name: 'ECDSA P-256 with SHA-256 (method 9)' },
  [AuthMethod.ECDSA_SHA384_P384]: { scheme: { kind: 'ecdsa', digest: 'sha384', ieee: true }, key: 'ecdsa-p384', name: 'ECDSA P-384 with SHA-384 (method 10)' },
  [AuthMethod.ECDSA_SHA512_P521]: { scheme: { kind: 'ecdsa', digest: 'sha512', ieee: true }, key: 'ecdsa-p521', name: 'ECDSA P-521 with SHA-512 (method 11)' },
};

const KEY_NAMES: Readonly<Record<SignatureKeyType, string>> = {
  rsa: 'RSA', 'rsa-pss': 'RSA-PSS', 'ecdsa-p256': 'ECDSA P-256', 'ecdsa-p384': 'ECDSA P-384', 'ecdsa-p521': 'ECDSA P-521',
  ed25519: 'Ed25519', ed448: 'Ed448', 'ml-dsa-44': 'ML-DSA-44', 'ml-dsa-65': 'ML-DSA-65', 'ml-dsa-87': 'ML-DSA-87',
};

export function keyTypeName(t: SignatureKeyType): string {
  return KEY_NAMES[t];
}

/** The hashes we verify signatures with, announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4, RFC 8420 §2). */
export const VERIFIED_HASHES: readonly number[] = [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512, HashAlgorithm.IDENTITY];

const byName = (n: string): SignatureAlgorithm | undefined => SIGNATURE_ALGORITHMS.find((a) => a.name === n);

/**
 * What we verify, for SUPPORTED_AUTH_METHODS (RFC 9593 §3.2.3): post-quantum first, then
 * EdDSA, ECDSA, RSASSA-PSS and PKCS#1 v1.5 in method 14 (one RSASSA-PSS parameter set: the
 * list travels in IKE_SA_INIT and should stay small), then the classic methods 9-11 and 1.
 */
export const VERIFIED_ANNOUNCEMENTS: readonly Announcement[] = [
  ...['id-ml-dsa-65', 'id-ml-dsa-87', 'id-ml-dsa-44', 'id-Ed25519', 'id-Ed448', 'ecdsa-with-sha256', 'ecdsa-with-sha384', 'ecdsa-with-sha512', 'RSASSA-PSS with sha256', 'sha256WithRSAEncryption']
    .map(byName)
    .filter((a): a is SignatureAlgorithm => a !== undefined)
    .map((a) => ({ method: AuthMethod.DIGITAL_SIGNATURE, certLink: 0, algorithmId: a.algorithmId })),
  { method: AuthMethod.ECDSA_SHA256_P256, certLink: 0 },
  { method: AuthMethod.ECDSA_SHA384_P384, certLink: 0 },
  { method: AuthMethod.ECDSA_SHA512_P521, certLink: 0 },
  { method: AuthMethod.RSA_SIG, certLink: 0 },
];

export interface LocalCertificateOptions {
  readonly key: PrivateSignatureKey;
  /** DER, end entity first, then intermediates (RFC 7296 §3.6). */
  readonly certificates: readonly Uint8Array[];
  /** RSA keys: RSASSA-PSS (default) or PKCS#1 v1.5 in method 14. */
  readonly rsaPadding?: 'pss' | 'pkcs1';
}

/** Ours: sign with our key, send our certificates. Throws when the key is not the certificate's. */
export function certificateAuthenticator(o: LocalCertificateOptions): Authenticator {
  const leaf = o.certificates[0];
  if (leaf === undefined) throw new Error('no certificate for the private key');
  const cert = parseCertificate(leaf);
  if (typeof cert === 'string') throw new Error(`our certificate: ${cert}`);
  if (Buffer.compare(Buffer.from(cert.spki), Buffer.from(o.key.publicKey.spki)) !== 0) throw new Error(`the private key does not belong to certificate "${cert.subject}"`);
  const type = o.key.type;
  // An rsaEncryption key makes both RSA schemes: RSASSA-PSS first (RFC 8247 §3.2), unless told otherwise.
  const preferred = type !== 'rsa' ? PREFERRED[type] : o.rsaPadding === 'pkcs1' ? [...PKCS1, ...PREFERRED.rsa] : [...PREFERRED.rsa, ...PKCS1];
  const algorithms = preferred.map(byName).filter((a): a is SignatureAlgorithm => a !== undefined);
  const classic = Object.entries(CLASSIC).find(([, c]) => c.key === type);
  return {
    describe: `${keyTypeName(type)} certificate "${cert.subject}"`,
    certificates: o.certificates,
    sign(ctx) {
      if (ctx.peerHashes === undefined) {
        // No RFC 7427 at the peer: the classic method of our key, if it has one (RFC 7427 §4).
        if (!classic) return `the peer announced no SIGNATURE_HASH_ALGORITHMS, and a ${keyTypeName(type)} key has no classic AUTH method`;
        return { method: Number(classic[0]), data: o.key.sign(classic[1].scheme, ctx.octets) };
      }
      const hashed = algorithms.filter((a) => ctx.peerHashes?.includes(a.hash));
      // RFC 9593 §3: of those, one the peer announced it verifies, if it announced any.
      const announced = ctx.peerMethods?.flatMap((m) => (m.algorithmId ? [Buffer.from(m.algorithmId).toString('hex')] : []));
      const alg = hashed.find((a) => announced?.includes(Buffer.from(a.algorithmId).toString('hex'))) ?? hashed[0];
      if (!alg) {
        // RFC 7427 §4 leaves the other methods open: the classic one of our key, if it has one.
        if (classic) return { method: Number(classic[0]), data: o.key.sign(classic[1].scheme, ctx.octets) };
        return `no common hash algorithm to sign with a ${keyTypeName(type)} key (the peer announced ${ctx.peerHashes.join(', ') || 'none'})`;
      }
      return { method: AuthMethod.DIGITAL_SIGNATURE, data: encodeSignatureAuthData(alg, o.key.sign(alg.scheme, ctx.octets)) };
    },
    verify: () => 'this authenticator proves our identity, not the peer\'s',
  };
}

/** The peer's: a certificate chain to one of our CAs, its ID in the certificate, its signature. */
export function trustedPeerAuthenticator(trust: TrustStore): Authenticator {
  return {
    describe: `certificates from ${trust.anchors.length} CA(s)`,
    certRequest: trust.caKeyHashes(),
    signatureHashes: VERIFIED_HASHES,
    announcements: VERIFIED_ANNOUNCEMENTS,
    sign: () => 'this authenticator checks the peer, it does not sign',
    verify: (peer) => verifyPeer(trust, peer),
  };
}

/** Whether an RFC 7427 algorithm is one a key of this type makes: the family, and for EdDSA and ML-DSA the exact key. */
function fitsKey(alg: SignatureAlgorithm, type: SignatureKeyType): boolean {
  if (!schemeFits(type, alg.scheme)) return false;
  if (alg.family === 'eddsa' || alg.family === 'ml-dsa') return PREFERRED[type].includes(alg.name);
  return true;
}

function verifyPeer(trust: TrustStore, peer: PeerProof): Verification {
  if (peer.method !== AuthMethod.DIGITAL_SIGNATURE && CLASSIC[peer.method] === undefined) return `peer used auth method ${peer.method}, expected a signature (1, 9, 10, 11 or 14)`;
  if (peer.certs.length === 0) return 'the peer sent no certificate';
  const verdict = trust.verdict(peer.certs);
  if (verdict === undefined) return { query: trust.query(peer.certs) };
  if (!verdict.ok) return verdict.reason;
  const leaf = verdict.leaf;
  if (!certificateNames(leaf, peer.identity)) return `certificate "${leaf.subject}" does not name the peer's identity ${peer.identity.value}`;
  let key;
  try {
    key = leaf.publicKey();
  } catch (e) {
    return `certificate "${leaf.subject}": ${e instanceof Error ? e.message : String(e)}`;
  }
  let scheme: SignatureScheme;
  let name: string;
  let signature: Uint8Array;
  const classic = CLASSIC[peer.method];
  if (classic) {
    if (classic.key !== key.type) return `${classic.name} does not fit the ${keyTypeName(key.type)} key of certificate "${leaf.subject}"`;
    ({ scheme, name } = classic);
    signature = peer.data;
  } else {
    const d = decodeSignatureAuthData(peer.data);
    if (typeof d === 'string') return `RFC 7427 AUTH data: ${d}`;
    if (!fitsKey(d.algorithm, key.type)) return `signature algorithm ${d.algorithm.name} does not fit the ${keyTypeName(key.type)} key of certificate "${leaf.subject}"`;
    ({ scheme, name } = d.algorithm);
    signature = d.signature;
  }
  return key.verify(scheme, peer.octets, signature) ? undefined : `${name} signature does not verify with certificate "${leaf.subject}"`;
}
