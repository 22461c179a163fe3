/**
 * The Authentication Data of AUTH method 14, Digital Signature (RFC 7427 §3): a 1-octet
 * length, the signature algorithm's ASN.1 AlgorithmIdentifier (DER, RFC 5280 §4.1.1.2), then
 * the signature. As §3 allows, the AlgorithmIdentifiers are known blobs compared as octets,
 * not parsed ASN.1: RFC 7427 Appendix A (PKCS#1 v1.5, ECDSA, RSASSA-PSS), RFC 8420 Appendix A
 * (Ed25519, Ed448) and draft-ietf-ipsecme-ikev2-pqc-auth (ML-DSA-44/65/87, pure, empty
 * context). Decoding is total: malformed data is a reason string, never an exception.
 */
import * as pkijs from 'pkijs';
import type { SignatureScheme } from '../crypto/signature-keys.js';
import { HashAlgorithm } from '../wire/constants.js';
import { RSASSA_PSS_OID, schemeOfAlgorithm } from './x509.js';

export type SignatureFamily = 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa' | 'eddsa' | 'ml-dsa';

export interface SignatureAlgorithm {
  /** As its specification names it, e.g. 'ecdsa-with-sha256', 'id-Ed25519', 'id-ml-dsa-65'. */
  readonly name: string;
  readonly family: SignatureFamily;
  /** The hash of the SIGNATURE_HASH_ALGORITHMS registry it signs with (RFC 7427 §4, RFC 8420 §2: Identity for EdDSA and ML-DSA). */
  readonly hash: number;
  /** node:crypto's digest name for sign/verify; undefined: the algorithm hashes by itself. */
  readonly digest?: 'sha256' | 'sha384' | 'sha512';
  /** The DER AlgorithmIdentifier. */
  readonly algorithmId: Uint8Array;
  /** How the signature is made and checked (src/crypto/signature-keys.ts). */
  readonly scheme: SignatureScheme;
}

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

const { SHA2_256, SHA2_384, SHA2_512, IDENTITY } = HashAlgorithm;

type Named = Omit<SignatureAlgorithm, 'scheme'>;

const DIGEST_HASH = { sha256: SHA2_256, sha384: SHA2_384, sha512: SHA2_512 } as const;
const PSS_HASH_OIDS = { sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' } as const;

/**
 * RSASSA-PSS with SHA-2, MGF1 with the same hash and a salt of the hash's length (RFC 8247
 * §3.2 SHOULD), in DER as pkijs writes it: the default trailer field is left out (X.690
 * §11.5), as strongSwan writes it too.
 */
function pss(digest: 'sha256' | 'sha384' | 'sha512'): Named {
  const hash = new pkijs.AlgorithmIdentifier({ algorithmId: PSS_HASH_OIDS[digest] });
  const params = new pkijs.RSASSAPSSParams({
    hashAlgorithm: hash,
    maskGenAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.8', algorithmParams: hash.toSchema() }),
    saltLength: { sha256: 32, sha384: 48, sha512: 64 }[digest],
  });
  const id = new pkijs.AlgorithmIdentifier({ algorithmId: RSASSA_PSS_OID, algorithmParams: params.toSchema() });
  return { name: `RSASSA-PSS with ${digest}`, family: 'rsa-pss', hash: DIGEST_HASH[digest], digest, algorithmId: new Uint8Array(id.toSchema().toBER()) };
}

function withScheme(a: Named): SignatureAlgorithm {
  const parsed = pkijs.AlgorithmIdentifier.fromBER(a.algorithmId);
  const scheme = schemeOfAlgorithm(parsed);
  if (typeof scheme === 'string') throw new Error(`${a.name}: ${scheme}`);
  return { ...a, scheme };
}

/** The algorithms we name; SHA-1 and DSA ones are left out (RFC 8247 §3.2: MUST NOT / SHOULD NOT). */
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ([
  // RFC 7427 A.1.2-A.1.4: parameters NULL.
  { name: 'sha256WithRSAEncryption', family: 'rsa-pkcs1', hash: SHA2_256, digest: 'sha256', algorithmId: hex('300d 0609 2a86 4886 f70d 0101 0b05 00') },
  { name: 'sha384WithRSAEncryption', family: 'rsa-pkcs1', hash: SHA2_384, digest: 'sha384', algorithmId: hex('300d 0609 2a86 4886 f70d 0101 0c05 00') },
  { name: 'sha512WithRSAEncryption', family: 'rsa-pkcs1', hash: SHA2_512, digest: 'sha512', algorithmId: hex('300d 0609 2a86 4886 f70d 0101 0d05 00') },
  // RFC 7427 A.3.2-A.3.4: parameters absent.
  { name: 'ecdsa-with-sha256', family: 'ecdsa', hash: SHA2_256, digest: 'sha256', algorithmId: hex('300a 0608 2a86 48ce 3d04 0302') },
  { name: 'ecdsa-with-sha384', family: 'ecdsa', hash: SHA2_384, digest: 'sha384', algorithmId: hex('300a 0608 2a86 48ce 3d04 0303') },
  { name: 'ecdsa-with-sha512', family: 'ecdsa', hash: SHA2_512, digest: 'sha512', algorithmId: hex('300a 0608 2a86 48ce 3d04 0304') },
  // RFC 7427 A.4.3: RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32, trailer 1.
  {
    name: 'RSASSA-PSS with sha-256',
    family: 'rsa-pss',
    hash: SHA2_256,
    digest: 'sha256',
    algorithmId: hex(`3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 0304 0201 0500
      a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20a3 0302 0101`),
  },
  // What we send for RSASSA-PSS (the A.4.3 octets above are accepted as they are printed).
  pss('sha256'),
  pss('sha384'),
  pss('sha512'),
  // RFC 8420 A.1, A.2: the Identity "hash".
  { name: 'id-Ed25519', family: 'eddsa', hash: IDENTITY, algorithmId: hex('3005 0603 2b65 70') },
  { name: 'id-Ed448', family: 'eddsa', hash: IDENTITY, algorithmId: hex('3005 0603 2b65 71') },
  // draft-ietf-ipsecme-ikev2-pqc-auth: pure ML-DSA, parameters absent.
  { name: 'id-ml-dsa-44', family: 'ml-dsa', hash: IDENTITY, algorithmId: hex('300b 0609 6086 4801 6503 0403 11') },
  { name: 'id-ml-dsa-65', family: 'ml-dsa', hash: IDENTITY, algorithmId: hex('300b 0609 6086 4801 6503 0403 12') },
  { name: 'id-ml-dsa-87', family: 'ml-dsa', hash: IDENTITY, algorithmId: hex('300b 0609 6086 4801 6503 0403 13') },
] satisfies Named[]).map(withScheme);

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * RSASSA-PSS parameters other than the octets we know (RFC 7427 §3 lets a peer encode them its
 * way, RFC 4055 §3.1): parsed by pkijs; undefined when the OID is not RSASSA-PSS.
 */
function otherPss(id: Uint8Array): SignatureAlgorithm | string | undefined {
  let alg: pkijs.AlgorithmIdentifier;
  try {
    alg = pkijs.AlgorithmIdentifier.fromBER(id);
  } catch {
    return undefined;
  }
  if (alg.algorithmId !== RSASSA_PSS_OID) return undefined;
  const scheme = schemeOfAlgorithm(alg);
  if (typeof scheme === 'string') return scheme;
  if (scheme.kind !== 'rsa-pss') return undefined;
  return { name: `RSASSA-PSS with ${scheme.digest}, salt ${scheme.saltLength}`, family: 'rsa-pss', hash: DIGEST_HASH[scheme.digest], digest: scheme.digest, algorithmId: Uint8Array.from(id), scheme };
}

/** AUTH data: length | AlgorithmIdentifier | signature (RFC 7427 §3). */
export function encodeSignatureAuthData(alg: SignatureAlgorithm, signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + alg.algorithmId.length + signature.length);
  out[0] = alg.algorithmId.length;
  out.set(alg.algorithmId, 1);
  out.set(signature, 1 + alg.algorithmId.length);
  return out;
}

/**
 * The algorithm and signature of AUTH data, or why it cannot be used: too short, an
 * AlgorithmIdentifier that is not one DER SEQUENCE of the stated length, one we do not know,
 * or an empty signature.
 */
export function decodeSignatureAuthData(data: Uint8Array): { readonly algorithm: SignatureAlgorithm; readonly signature: Uint8Array } | string {
  const len = data[0];
  if (len === undefined) return 'empty AUTH data';
  if (len < 2 || 1 + len > data.length) return `AlgorithmIdentifier length ${len} does not fit ${data.length} octets of AUTH data`;
  const id = data.subarray(1, 1 + len);
  // A DER SEQUENCE in short form whose contents fill the stated length (every object we know is).
  if (id[0] !== 0x30 || id[1] !== len - 2) return 'the AlgorithmIdentifier is not one DER SEQUENCE of its stated length';
  const algorithm = SIGNATURE_ALGORITHMS.find((a) => same(a.algorithmId, id)) ?? otherPss(id);
  if (!algorithm) return `unknown signature algorithm ${Buffer.from(id).toString('hex')}`;
  if (typeof algorithm === 'string') return algorithm;
  const signature = data.subarray(1 + len);
  if (signature.length === 0) return `${algorithm.name}: no signature`;
  return { algorithm, signature };
}
