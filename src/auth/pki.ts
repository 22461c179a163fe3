/**
 * Making certificates and CRLs (RFC 5280 §4, §5) for a test CA, gateway certificates and a
 * first deployment — `pqike pki`, the demo and the tests — in the spirit of strongSwan's
 * `pki`. pkijs builds the ASN.1; the signature is made by src/crypto/signature-keys.ts, so a
 * CA may sign with any key type we authenticate with, ML-DSA included.
 *
 * Profile (RFC 5280 §4.2, RFC 4945 §5.1.3): v3; basicConstraints critical (cA for a CA, with
 * an optional pathLenConstraint); keyUsage critical (keyCertSign and cRLSign for a CA,
 * digitalSignature for an end entity); subjectKeyIdentifier (SHA-1 of the key, method 1 of
 * §4.2.1.2) and authorityKeyIdentifier; subjectAltName from the given names.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { PrivateSignatureKey, SignatureKeyType, SignatureScheme } from '../crypto/signature-keys.js';
import { addressToBytes } from '../engine/address.js';
import { SIGNATURE_ALGORITHMS } from './signature-auth-data.js';
import { splitDn, unescapeValue } from './x509.js';
import type { ParsedCertificate } from './x509.js';

const ATTRIBUTE_OIDS: Readonly<Record<string, string>> = {
  CN: '2.5.4.3', SN: '2.5.4.4', SERIALNUMBER: '2.5.4.5', C: '2.5.4.6', L: '2.5.4.7', ST: '2.5.4.8',
  O: '2.5.4.10', OU: '2.5.4.11', T: '2.5.4.12', G: '2.5.4.42', E: '1.2.840.113549.1.9.1', DC: '0.9.2342.19200300.100.1.25', UID: '0.9.2342.19200300.100.1.1',
};

/** A Name from strongSwan's text form "C=CH, O=pqike, CN=moon" (RDNs in this order). */
export function nameFromText(text: string): pkijs.RelativeDistinguishedNames {
  // One attribute per RDN (a SET of one): pkijs's own encoder would put them all in one SET,
  // a multi-valued RDN that strongSwan and OpenSSL print as "C=CH + O=pqike + CN=moon".
  const rdns: asn1js.Set[] = [];
  for (const part of splitDn(text)) {
    const i = part.indexOf('=');
    const type = i < 0 ? undefined : ATTRIBUTE_OIDS[part.slice(0, i).trim().toUpperCase()];
    if (i < 0 || type === undefined) throw new Error(`'${part}' in "${text}" is not TYPE=value with a type of ${Object.keys(ATTRIBUTE_OIDS).join(', ')}`);
    const value = unescapeValue(part.slice(i + 1).trim());
    const v = type === '2.5.4.6' ? new asn1js.PrintableString({ value }) : type === '1.2.840.113549.1.9.1' ? new asn1js.IA5String({ value }) : new asn1js.Utf8String({ value });
    rdns.push(new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: v }).toSchema()] }));
  }
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER());
}

/** The signature AlgorithmIdentifier a CA key signs certificates and CRLs with. */
function signingAlgorithm(type: SignatureKeyType): { readonly id: pkijs.AlgorithmIdentifier; readonly scheme: SignatureScheme } {
  const name = ((): string => {
    switch (type) {
      case 'ecdsa-p256': return 'ecdsa-with-sha256';
      case 'ecdsa-p384': return 'ecdsa-with-sha384';
      case 'ecdsa-p521': return 'ecdsa-with-sha512';
      case 'rsa': return 'sha256WithRSAEncryption';
      case 'rsa-pss': return 'RSASSA-PSS with sha256';
      case 'ed25519': return 'id-Ed25519';
      case 'ed448': return 'id-Ed448';
      default: return `id-${type}`;
    }
  })();
  const alg = SIGNATURE_ALGORITHMS.find((a) => a.name === name);
  if (!alg) throw new Error(`no certificate signature algorithm for a ${type} key`);
  return { id: pkijs.AlgorithmIdentifier.fromBER(alg.algorithmId), scheme: alg.scheme };
}

function extension(extnID: string, critical: boolean, value: asn1js.AsnType): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** subjectKeyIdentifier, method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Uint8Array): Uint8Array {
  const info = pkijs.PublicKeyInfo.fromBER(spki);
  return createHash('sha1').update(new Uint8Array(info.subjectPublicKey.valueBlock.valueHexView)).digest();
}

/** An unsigned integer's octets as DER wants them: no leading 0x00 unless the next octet has its high bit set. */
function minimalInteger(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && ((b[i + 1] ?? 0) & 0x80) === 0) i++;
  const rest = b.subarray(i);
  return (rest[0] ?? 0) & 0x80 ? Uint8Array.from([0, ...rest]) : Uint8Array.from(rest);
}

/** The subjectKeyIdentifier octets of a certificate, if it has the extension. */
function subjectKeyIdOf(cert: ParsedCertificate): Uint8Array | undefined {
  const v = cert.pki.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue;
  return v instanceof asn1js.OctetString ? new Uint8Array(v.valueBlock.valueHexView) : undefined;
}

function generalName(n: string): pkijs.GeneralName {
  if (isIP(n) !== 0) return new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: addressToBytes(n) }) });
  if (n.includes('@')) return new pkijs.GeneralName({ type: 1, value: n });
  return new pkijs.GeneralName({ type: 2, value: n });
}

export interface IssueOptions {
  /** strongSwan's DN text, "C=CH, O=pqike, CN=moon.pqike.test". */
  readonly subject: string;
  /** The certified key's SubjectPublicKeyInfo. */
  readonly publicKey: Uint8Array;
  /** The key that signs: the CA's, or the subject's own for a self-signed CA. */
  readonly signer: PrivateSignatureKey;
  /** The CA's certificate; undefined: self-signed. */
  readonly issuer?: ParsedCertificate;
  readonly ca?: boolean;
  readonly pathLen?: number;
  /** subjectAltNames: DNS names, addresses, email addresses. */
  readonly altNames?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Positive, at most 20 octets (RFC 5280 §4.1.2.2); random if not given. */
  readonly serial?: Uint8Array;
  /** Leave keyUsage out, or give it other bits (tests of key usage). */
  readonly keyUsage?: 'none' | 'key-agreement';
  /** More extensions, as they are (tests: a critical extension nobody knows, an extendedKeyUsage). */
  readonly extraExtensions?: readonly pkijs.Extension[];
}

const DAY = 86_400_000;

/** Make and sign a certificate; DER. */
export function issueCertificate(o: IssueOptions): Uint8Array {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  // Positive and minimal (DER, X.690 §8.3.2): a random serial whose first octet is 0x40..0x7f;
  // a given one without redundant leading zeros. OpenSSL refuses a certificate whose serial
  // starts with a 0x00 that is not needed (about 1 in 256 of random ones before this).
  const serial = o.serial ? minimalInteger(o.serial) : Uint8Array.from(randomBytes(16), (b, i) => (i === 0 ? (b & 0x3f) | 0x40 : b));
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  cert.subject = nameFromText(o.subject);
  cert.issuer = o.issuer ? o.issuer.pki.subject : nameFromText(o.subject);
  const notBefore = o.notBefore ?? new Date(Date.now() - DAY);
  cert.notBefore = new pkijs.Time({ type: notBefore.getUTCFullYear() < 2050 ? 0 : 1, value: notBefore });
  const notAfter = o.notAfter ?? new Date(notBefore.getTime() + 3 * 365 * DAY);
  cert.notAfter = new pkijs.Time({ type: notAfter.getUTCFullYear() < 2050 ? 0 : 1, value: notAfter });
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(o.publicKey);
  const ski = keyIdentifier(o.publicKey);
  // RFC 5280 §4.2.1.1: the issuer's subjectKeyIdentifier as it is in its certificate (a CA may
  // compute it otherwise than we do), our own method only for an issuer without one.
  const aki = o.issuer ? (subjectKeyIdOf(o.issuer) ?? keyIdentifier(o.issuer.spki)) : ski;
  const ext: pkijs.Extension[] = [
    extension('2.5.29.19', true, new pkijs.BasicConstraints({ cA: o.ca === true, ...(o.ca && o.pathLen !== undefined ? { pathLenConstraint: o.pathLen } : {}) }).toSchema()),
  ];
  if (o.keyUsage !== 'none') {
    // digitalSignature (0) | keyCertSign (5) | cRLSign (6); keyAgreement (4) for the test of a key that may not sign.
    const bits = o.ca ? Uint8Array.of(0x86) : o.keyUsage === 'key-agreement' ? Uint8Array.of(0x08) : Uint8Array.of(0x80);
    const unused = o.ca ? 1 : o.keyUsage === 'key-agreement' ? 3 : 7;
    ext.push(extension('2.5.29.15', true, new asn1js.BitString({ valueHex: bits, unusedBits: unused })));
  }
  ext.push(extension('2.5.29.14', false, new asn1js.OctetString({ valueHex: ski })));
  ext.push(extension('2.5.29.35', false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: aki }) }).toSchema()));
  if (o.altNames && o.altNames.length > 0) ext.push(extension('2.5.29.17', false, new pkijs.AltName({ altNames: o.altNames.map(generalName) }).toSchema()));
  cert.extensions = [...ext, ...(o.extraExtensions ?? [])];
  const alg = signingAlgorithm(o.signer.type);
  cert.signature = alg.id;
  cert.signatureAlgorithm = alg.id;
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER());
  cert.signatureValue = new asn1js.BitString({ valueHex: o.signer.sign(alg.scheme, cert.tbsView) });
  return new Uint8Array(cert.toSchema().toBER());
}

export interface CrlOptions {
  readonly issuer: ParsedCertificate;
  readonly signer: PrivateSignatureKey;
  /** Serial numbers (as in the certificates) of the revoked certificates. */
  readonly revoked: readonly Uint8Array[];
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
}

/** Make and sign a CRL (RFC 5280 §5.1, v2); DER. */
export function issueCrl(o: CrlOptions): Uint8Array {
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = o.issuer.pki.subject;
  const thisUpdate = o.thisUpdate ?? new Date(Date.now() - 60_000);
  crl.thisUpdate = new pkijs.Time({ type: 0, value: thisUpdate });
  crl.nextUpdate = new pkijs.Time({ type: 0, value: o.nextUpdate ?? new Date(thisUpdate.getTime() + 30 * DAY) });
  crl.revokedCertificates = o.revoked.map((serial) => new pkijs.RevokedCertificate({ userCertificate: new asn1js.Integer({ valueHex: minimalInteger(serial) }), revocationDate: new pkijs.Time({ type: 0, value: thisUpdate }) }));
  const alg = signingAlgorithm(o.signer.type);
  crl.signature = alg.id;
  crl.signatureAlgorithm = alg.id;
  // (encodeTBS is protected on the CRL class: the TBSCertList is the first element of the encoded list.)
  const tbs = (crl.toSchema(true) as asn1js.Sequence).valueBlock.value[0];
  if (!tbs) throw new Error('pkijs gave no TBSCertList');
  crl.tbsView = new Uint8Array(tbs.toBER());
  crl.signatureValue = new asn1js.BitString({ valueHex: o.signer.sign(alg.scheme, crl.tbsView) });
  return new Uint8Array(crl.toSchema().toBER());
}

/** A certificate's serial number octets (for a CRL). */
export function serialOf(cert: ParsedCertificate): Uint8Array {
  return new Uint8Array(cert.pki.serialNumber.valueBlock.valueHexView);
}
