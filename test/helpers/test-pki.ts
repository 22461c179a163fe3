/**
 * A test CA and gateway certificates made by src/auth/pki.ts (pkijs for the ASN.1), one CA per
 * key type, kept for the process (RSA keys take a second to make). Certificates for
 * moon.example.org and sun.example.org, the identities of test/helpers/engine-pair.ts.
 */
import type { Authenticator } from '../../src/auth/authenticator.js';
import { issueCertificate } from '../../src/auth/pki.js';
import type { IssueOptions } from '../../src/auth/pki.js';
import { certificateAuthenticator, trustedPeerAuthenticator } from '../../src/auth/pubkey.js';
import { TrustStore } from '../../src/auth/trust-store.js';
import type { TrustStoreOptions } from '../../src/auth/trust-store.js';
import { parseCertificate } from '../../src/auth/x509.js';
import type { ParsedCertificate } from '../../src/auth/x509.js';
import { generatePrivateKey, loadPrivateKey } from '../../src/crypto/signature-keys.js';
import type { PrivateSignatureKey, SignatureKeyType } from '../../src/crypto/signature-keys.js';

export interface TestCa {
  readonly key: PrivateSignatureKey;
  readonly der: Uint8Array;
  readonly cert: ParsedCertificate;
}

const keys = new Map<string, PrivateSignatureKey>();

/** A key per (type, name), made once per process. */
export function testKey(type: SignatureKeyType, name: string): PrivateSignatureKey {
  const k = `${type}/${name}`;
  let key = keys.get(k);
  if (!key) keys.set(k, (key = loadPrivateKey(generatePrivateKey(type))));
  return key;
}

export function parsed(der: Uint8Array): ParsedCertificate {
  const c = parseCertificate(der);
  if (typeof c === 'string') throw new Error(c);
  return c;
}

const cas = new Map<string, TestCa>();

export function testCa(type: SignatureKeyType = 'ecdsa-p256', name = 'pqike Test CA'): TestCa {
  const k = `${type}/${name}`;
  let ca = cas.get(k);
  if (!ca) {
    const key = testKey(type, `ca:${name}`);
    const der = issueCertificate({ subject: `C=CH, O=pqike, CN=${name}`, publicKey: key.publicKey.spki, signer: key, ca: true });
    cas.set(k, (ca = { key, der, cert: parsed(der) }));
  }
  return ca;
}

/** An end-entity certificate of `ca` for `host` (a dNSName of the same name), with its key. */
export function testCert(ca: TestCa, type: SignatureKeyType, host: string, o: Partial<IssueOptions> = {}): { key: PrivateSignatureKey; der: Uint8Array } {
  const key = testKey(type, host);
  const der = issueCertificate({ subject: `C=CH, O=pqike, CN=${host}`, publicKey: key.publicKey.spki, signer: ca.key, issuer: ca.cert, altNames: [host], ...o });
  return { key, der };
}

/** The auth of one end: its own certificate (and chain) to sign, the CA(s) to check the peer by. */
export function certAuth(own: { key: PrivateSignatureKey; der: Uint8Array }, trust: readonly Uint8Array[], o: { chain?: readonly Uint8Array[]; store?: Partial<TrustStoreOptions> } = {}): { local: Authenticator; remote: Authenticator; store: TrustStore } {
  const store = new TrustStore({ anchors: trust, ...o.store });
  return { local: certificateAuthenticator({ key: own.key, certificates: [own.der, ...(o.chain ?? [])] }), remote: trustedPeerAuthenticator(store), store };
}
