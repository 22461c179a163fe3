/**
 * X.509 certificates (RFC 5280) as IKEv2 uses them (RFC 7296 §3.6, RFC 4945 §5): parsed by
 * pkijs, never by hand. What authentication needs of one certificate: its subject (the DER for
 * ID_DER_ASN1_DN, a strongSwan-style text for logs and configuration), its subjectAltNames
 * (dNSName, iPAddress, rfc822Name), key usage, validity, CA flag and public key; and the
 * signature schemes of certificate and AUTH AlgorithmIdentifiers (RSASSA-PSS parameters
 * included, RFC 4055 §3.1). Parsing is total: a malformed certificate is a reason string.
 *
 * pkijs verifies signatures through a crypto engine; ours (PqikeCryptoEngine) hands every
 * certificate and CRL signature to src/crypto/signature-keys.ts, so that Ed25519, Ed448 and
 * ML-DSA certificates verify on every Node version we run on.
 */
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { isIP } from 'node:net';
import { publicKeyFromSpki } from '../crypto/signature-keys.js';
import type { PublicSignatureKey, SignatureScheme } from '../crypto/signature-keys.js';
import { addressToBytes, bytesToAddress } from '../engine/address.js';

const DIGEST_OF_OID: Readonly<Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature AlgorithmIdentifiers of certificates, CRLs and RFC 7427 AUTH data. */
const SCHEME_OF_OID: Readonly<Record<string, SignatureScheme>> = {
  '1.2.840.113549.1.1.11': { kind: 'rsa-pkcs1', digest: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa-pkcs1', digest: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa-pkcs1', digest: 'sha512' },
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', digest: 'sha256', ieee: false },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', digest: 'sha384', ieee: false },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', digest: 'sha512', ieee: false },
  '1.3.101.112': { kind: 'eddsa' },
  '1.3.101.113': { kind: 'eddsa' },
  '2.16.840.1.101.3.4.3.17': { kind: 'ml-dsa' },
  '2.16.840.1.101.3.4.3.18': { kind: 'ml-dsa' },
  '2.16.840.1.101.3.4.3.19': { kind: 'ml-dsa' },
};

export const RSASSA_PSS_OID = '1.2.840.113549.1.1.10';

/**
 * The scheme of a signature AlgorithmIdentifier, or why we do not make or accept it: SHA-1
 * signatures are refused (RFC 8247 §3.2), RSASSA-PSS needs MGF1 with the same hash (RFC 4055
 * §3.1 allows others; nobody uses them).
 */
export function schemeOfAlgorithm(alg: pkijs.AlgorithmIdentifier): SignatureScheme | string {
  const known = SCHEME_OF_OID[alg.algorithmId];
  if (known) return known;
  if (alg.algorithmId !== RSASSA_PSS_OID) return `signature algorithm ${alg.algorithmId} is not supported`;
  let params: pkijs.RSASSAPSSParams;
  try {
    params = new pkijs.RSASSAPSSParams({ schema: alg.algorithmParams });
  } catch {
    return 'RSASSA-PSS parameters do not parse';
  }
  const digest = DIGEST_OF_OID[params.hashAlgorithm.algorithmId];
  if (digest === undefined || digest === 'sha1') return `RSASSA-PSS with hash ${params.hashAlgorithm.algorithmId} is not supported (SHA-256/384/512 are)`;
  if (params.maskGenAlgorithm.algorithmId !== '1.2.840.113549.1.1.8') return 'RSASSA-PSS with a mask generation function other than MGF1';
  let mgfHash: string | undefined;
  try {
    mgfHash = DIGEST_OF_OID[new pkijs.AlgorithmIdentifier({ schema: params.maskGenAlgorithm.algorithmParams }).algorithmId];
  } catch {
    mgfHash = undefined;
  }
  if (mgfHash !== digest) return 'RSASSA-PSS whose MGF1 hash differs from its message hash';
  if (params.trailerField !== 1) return `RSASSA-PSS trailer field ${params.trailerField}`;
  return { kind: 'rsa-pss', digest, saltLength: params.saltLength };
}

/** pkijs's crypto engine with every signature check done by src/crypto/signature-keys.ts. */
class PqikeCryptoEngine extends pkijs.CryptoEngine {
  override async verifyWithPublicKey(data: ArrayBuffer | ArrayBufferView, signature: asn1js.BitString | asn1js.OctetString, publicKeyInfo: pkijs.PublicKeyInfo, signatureAlgorithm: pkijs.AlgorithmIdentifier): Promise<boolean> {
    await Promise.resolve();
    const scheme = schemeOfAlgorithm(signatureAlgorithm);
    if (typeof scheme === 'string') return false;
    let key: PublicSignatureKey;
    try {
      key = publicKeyFromSpki(new Uint8Array(publicKeyInfo.toSchema().toBER()));
    } catch {
      return false;
    }
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    return key.verify(scheme, bytes, new Uint8Array(signature.valueBlock.valueHexView));
  }
}

export const pkiCrypto: pkijs.ICryptoEngine = new PqikeCryptoEngine({ name: 'pqike', crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'] });

export interface AltNames {
  readonly dns: readonly string[];
  /** Addresses in the text form of src/engine/address.ts. */
  readonly ip: readonly string[];
  readonly email: readonly string[];
}

export interface KeyUsage {
  readonly digitalSignature: boolean;
  readonly nonRepudiation: boolean;
  readonly keyCertSign: boolean;
}

export interface ParsedCertificate {
  readonly der: Uint8Array;
  readonly pki: pkijs.Certificate;
  readonly subjectDer: Uint8Array;
  /** strongSwan's form: "C=CH, O=strongSwan, CN=moon.strongswan.org". */
  readonly subject: string;
  readonly issuer: string;
  readonly spki: Uint8Array;
  readonly altNames: AltNames;
  /** undefined: no keyUsage extension (any use allowed, RFC 5280 §4.2.1.3). */
  readonly keyUsage?: KeyUsage;
  readonly isCa: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
  publicKey(): PublicSignatureKey;
}

const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.12': 'T', '2.5.4.42': 'G', '1.2.840.113549.1.9.1': 'E', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
};

/** RFC 4514 §2.4: the characters escaped in an attribute value, so that every text names one DN. */
function escapeValue(v: string): string {
  let out = v.replace(/[\\,+"<>;]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * A Name (DER) as strongSwan prints it, RDNs in encoded order joined by ", ", the attributes of
 * a multi-valued RDN by "+", values escaped as RFC 4514 §2.4 says (a value that is no string:
 * "#" and its DER in hex) — so that two different Names never print alike. undefined: not one
 * DER Name, or octets after it.
 */
export function nameTextOfDer(der: Uint8Array): string | undefined {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset !== der.length || !(parsed.result instanceof asn1js.Sequence)) return undefined;
  const rdns: string[] = [];
  for (const set of parsed.result.valueBlock.value) {
    if (!(set instanceof asn1js.Set) || set.valueBlock.value.length === 0) return undefined;
    const parts: string[] = [];
    for (const atv of set.valueBlock.value) {
      const [oid, value] = atv instanceof asn1js.Sequence ? atv.valueBlock.value : [];
      if (!(oid instanceof asn1js.ObjectIdentifier) || value === undefined) return undefined;
      const type = oid.valueBlock.toString();
      const text = (value.valueBlock as { value?: unknown }).value;
      parts.push(`${ATTRIBUTE_NAMES[type] ?? type}=${typeof text === 'string' ? escapeValue(text) : `#${Buffer.from(value.toBER()).toString('hex')}`}`);
    }
    rdns.push(parts.join('+'));
  }
  return rdns.join(', ');
}

/** The RDNs of a DN text, split at the commas that are not escaped (RFC 4514 §3). */
export function splitDn(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === '\\' && i + 1 < text.length) {
      cur += c + (text[++i] ?? '');
      continue;
    }
    if (c === ',') {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur.trim());
  return out;
}

/** An escaped attribute value back to its characters. */
export function unescapeValue(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

/** A DN text compared loosely: spaces around separators and the case of attribute types do not matter. */
export function normalizeDn(text: string): string {
  return splitDn(text)
    .map((rdn) => {
      const i = rdn.indexOf('=');
      return i < 0 ? rdn : `${rdn.slice(0, i).trim().toUpperCase()}=${rdn.slice(i + 1).trim()}`;
    })
    .join(', ');
}

function extension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  return cert.extensions?.find((e) => e.extnID === oid);
}

function altNamesOf(cert: pkijs.Certificate): AltNames {
  const dns: string[] = [];
  const ip: string[] = [];
  const email: string[] = [];
  const ext = extension(cert, '2.5.29.17');
  const names = ext?.parsedValue instanceof pkijs.AltName ? ext.parsedValue.altNames : [];
  for (const n of names) {
    if (n.type === 2 && typeof n.value === 'string') dns.push(n.value);
    else if (n.type === 1 && typeof n.value === 'string') email.push(n.value);
    else if (n.type === 7 && n.value instanceof asn1js.OctetString) {
      const b = new Uint8Array(n.value.valueBlock.valueHexView);
      if (b.length === 4 || b.length === 16) ip.push(bytesToAddress(b));
    }
  }
  return { dns, ip, email };
}

function keyUsageOf(cert: pkijs.Certificate): KeyUsage | undefined {
  const ext = extension(cert, '2.5.29.15');
  if (!ext) return undefined;
  const bits = ext.parsedValue instanceof asn1js.BitString ? new Uint8Array(ext.parsedValue.valueBlock.valueHexView) : new Uint8Array(0);
  const first = bits[0] ?? 0;
  return { digitalSignature: (first & 0x80) !== 0, nonRepudiation: (first & 0x40) !== 0, keyCertSign: (first & 0x04) !== 0 };
}

/** A certificate from DER, or why it is not one (RFC 5280 §4.1). */
export function parseCertificate(der: Uint8Array): ParsedCertificate | string {
  if (der.length === 0) return 'empty certificate';
  let pki: pkijs.Certificate;
  try {
    pki = pkijs.Certificate.fromBER(der);
  } catch (e) {
    return `not an X.509 certificate (${e instanceof Error ? e.message.slice(0, 120) : 'unparsable'})`;
  }
  try {
    const bc = extension(pki, '2.5.29.19')?.parsedValue;
    let key: PublicSignatureKey | undefined;
    const spki = new Uint8Array(pki.subjectPublicKeyInfo.toSchema().toBER());
    const parsed: ParsedCertificate = {
      der: Uint8Array.from(der),
      pki,
      subjectDer: new Uint8Array(pki.subject.toSchema().toBER()),
      subject: nameTextOfDer(new Uint8Array(pki.subject.toSchema().toBER())) ?? '?',
      issuer: nameTextOfDer(new Uint8Array(pki.issuer.toSchema().toBER())) ?? '?',
      spki,
      altNames: altNamesOf(pki),
      ...(keyUsageOf(pki) ? { keyUsage: keyUsageOf(pki) } : {}),
      isCa: bc instanceof pkijs.BasicConstraints && bc.cA === true,
      notBefore: pki.notBefore.value,
      notAfter: pki.notAfter.value,
      publicKey: () => (key ??= publicKeyFromSpki(spki)),
    };
    return parsed;
  } catch (e) {
    return `malformed certificate (${e instanceof Error ? e.message.slice(0, 120) : 'unreadable'})`;
  }
}

/**
 * Whether the certificate names this IKE identity (RFC 4945 §3.1, §5.1.3.6 and strongSwan's
 * rules): an FQDN a dNSName, an address an iPAddress, an email an rfc822Name (case-insensitive
 * for names), a DN the subject. A KEY_ID is never bound to a certificate.
 */
export function certificateNames(cert: ParsedCertificate, id: { readonly kind: string; readonly value: string; readonly der?: Uint8Array }): boolean {
  const lower = (s: string): string => s.toLowerCase();
  switch (id.kind) {
    case 'fqdn':
      return cert.altNames.dns.some((d) => lower(d) === lower(id.value));
    case 'email':
      return cert.altNames.email.some((d) => lower(d) === lower(id.value));
    case 'ipv4':
    case 'ipv6': {
      if (isIP(id.value) === 0) return false;
      const want = bytesToAddress(addressToBytes(id.value));
      return cert.altNames.ip.includes(want);
    }
    case 'dn':
      // The peer's ID payload is a DER Name: the certificate's subject octets exactly
      // (RFC 4945 §3.1.5); a configured DN text: the same text once normalised.
      if ('der' in id && id.der instanceof Uint8Array) return Buffer.compare(Buffer.from(id.der), Buffer.from(cert.subjectDer)) === 0;
      return normalizeDn(cert.subject) === normalizeDn(id.value);
    default:
      return false;
  }
}
