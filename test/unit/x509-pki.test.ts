/**
 * Certificates and keys against an outside implementation: what src/auth/pki.ts makes (pkijs
 * ASN.1, our signatures) is read and verified by OpenSSL through node:crypto's X509Certificate
 * (checkIssued, verify, SAN checks) — ML-DSA on Node 24 with OpenSSL 3.5 — and keys OpenSSL
 * writes (PKCS#8; ML-DSA in its seed-and-expanded form) load and sign with the other ML-DSA
 * backend. Key loading refuses an encrypted key without a passphrase, with a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as asn1js from 'asn1js';
import { PrivateKeyInfo } from 'pkijs';
import { TrustStore } from '../../src/auth/trust-store.js';
import { pkiCrypto } from '../../src/auth/x509.js';
import { issueCertificate, serialOf } from '../../src/auth/pki.js';
import { parseCertificate } from '../../src/auth/x509.js';
import type { ParsedCertificate } from '../../src/auth/x509.js';
import { generatePrivateKey, loadPrivateKey, mlDsaBackend, pemBlocks, publicKeyFromSpki, toPem } from '../../src/crypto/signature-keys.js';
import type { SignatureKeyType } from '../../src/crypto/signature-keys.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { testCa, testCert, testKey } from '../helpers/test-pki.js';

const CLASSIC: SignatureKeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'ed448', 'rsa', 'rsa-pss'];

test('OpenSSL (node:crypto X509Certificate) reads our certificates: issuer, signature, SANs, CA flag', () => {
  for (const type of CLASSIC) {
    const ca = testCa(type);
    const leaf = testCert(ca, type, 'moon.pqike.test', { altNames: ['moon.pqike.test', '192.0.2.7', 'moon@pqike.test'] });
    const x = new X509Certificate(Buffer.from(leaf.der));
    const xca = new X509Certificate(Buffer.from(ca.der));
    assert.ok(x.checkIssued(xca), `${type}: issued by the CA`);
    assert.ok(x.verify(xca.publicKey), `${type}: OpenSSL verifies our signature`);
    assert.ok(xca.verify(xca.publicKey), `${type}: the CA is self-signed`);
    assert.equal(xca.ca, true);
    assert.equal(x.ca, false);
    assert.equal(x.checkHost('moon.pqike.test'), 'moon.pqike.test');
    assert.equal(x.checkIP('192.0.2.7'), '192.0.2.7');
    assert.equal(x.checkEmail('moon@pqike.test'), 'moon@pqike.test');
    assert.match(x.subject, /CN=moon\.pqike\.test/);
  }
});

test('ML-DSA certificates made here verify with OpenSSL 3.5 (Node 24); the noble and native backends verify each other', (t) => {
  let native: boolean;
  try {
    generateKeyPairSync('ml-dsa-44' as 'ed25519');
    native = true;
  } catch {
    native = false;
  }
  if (!native) return t.skip('this Node has no native ML-DSA (OpenSSL 3.0): checked on Node 24');
  const saved = process.env.PQIKE_MLDSA_BACKEND;
  try {
    for (const level of ['44', '65', '87'] as const) {
      const type = `ml-dsa-${level}` as const;
      // Made with noble: CA key in our PKCS#8 seed form, signatures by noble.
      process.env.PQIKE_MLDSA_BACKEND = 'noble';
      assert.equal(mlDsaBackend(), 'noble');
      const caKey = loadPrivateKey(generatePrivateKey(type));
      const caDer = issueCertificate({ subject: `CN=noble ${type} CA`, publicKey: caKey.publicKey.spki, signer: caKey, ca: true });
      const xca = new X509Certificate(Buffer.from(caDer));
      assert.ok(xca.verify(xca.publicKey), `${type}: OpenSSL verifies the noble-signed certificate`);
      assert.equal(xca.publicKey.asymmetricKeyType, type);
      // OpenSSL reads our seed-form PKCS#8 as the same key.
      process.env.PQIKE_MLDSA_BACKEND = 'node';
      const again = loadPrivateKey(toPem(generatePrivateKey(type), 'PRIVATE KEY'));
      assert.equal(again.type, type);
      // An OpenSSL key (seed + expanded form) loaded by noble signs what OpenSSL verifies.
      const pem = generateKeyPairSync(type as 'ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      process.env.PQIKE_MLDSA_BACKEND = 'noble';
      const nk = loadPrivateKey(pem);
      const sig = nk.sign({ kind: 'ml-dsa' }, Buffer.from('signed octets'));
      process.env.PQIKE_MLDSA_BACKEND = 'node';
      assert.ok(publicKeyFromSpki(nk.publicKey.spki).verify({ kind: 'ml-dsa' }, Buffer.from('signed octets'), sig), `${type}: native verifies noble's signature`);
      assert.deepEqual(Buffer.from(createPublicKey(pem).export({ format: 'der', type: 'spki' })), Buffer.from(nk.publicKey.spki), 'the same public key');
    }
  } finally {
    if (saved === undefined) delete process.env.PQIKE_MLDSA_BACKEND;
    else process.env.PQIKE_MLDSA_BACKEND = saved;
  }
});

test('an encrypted private key is refused without a passphrase, with a message; with the passphrase it loads', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'correct horse' }).toString();
  assert.throws(() => loadPrivateKey(pem), (e: unknown) => e instanceof CryptoError && /encrypted and no passphrase is configured/.test(e.message));
  assert.throws(() => loadPrivateKey(pem, { passphrase: 'wrong' }), /cannot decrypt the private key/);
  assert.equal(loadPrivateKey(pem, { passphrase: 'correct horse' }).type, 'ecdsa-p256');
  assert.throws(() => loadPrivateKey('not a key'), /no PEM private key found/);
});

test('parseCertificate is total: garbage, truncations and bit flips give a reason or a certificate, never an exception', () => {
  const der = testCert(testCa('ed25519'), 'ed25519', 'moon.pqike.test').der;
  for (let n = 0; n < der.length; n += 7) {
    const r = parseCertificate(der.subarray(0, n));
    assert.ok(typeof r === 'string' || r.der.length === n);
  }
  for (let i = 0; i < der.length; i += 3) {
    const flipped = Uint8Array.from(der);
    flipped[i] = (flipped[i] ?? 0) ^ 0xff;
    const r = parseCertificate(flipped);
    assert.ok(typeof r === 'string' || r.subject.length >= 0);
  }
});

/** The RFC 9881 example certificates (test/vectors/rfc9881/README.md), made by Go/circl. */
const RFC9881 = join(dirname(fileURLToPath(import.meta.url)), '../../../test/vectors/rfc9881');

test('RFC 9881 example ML-DSA certificates (made by Go/circl): parsed, their self-signatures verify, the seed 00..1f gives their keys, and a chain we issue under them validates', async () => {
  for (const [level, file] of [['44', 'ML-DSA-44.crt'], ['65', 'ML-DSA-65.crt']] as const) {
    const der = pemBlocks(readFileSync(join(RFC9881, file), 'latin1'), 'CERTIFICATE')[0];
    assert.ok(der);
    const cert = parseCertificate(der);
    assert.ok(typeof cert !== 'string', String(cert));
    assert.equal(cert.subject, 'O=IETF, CN=LAMPS WG');
    assert.equal(cert.isCa, true);
    assert.equal(cert.keyUsage?.keyCertSign, true);
    assert.equal(cert.publicKey().type, `ml-dsa-${level}`);
    // The self-signature, checked by whichever backend this Node has (pkijs with our engine).
    assert.equal(await cert.pki.verify(undefined, pkiCrypto), true, `ml-dsa-${level} self-signature (${mlDsaBackend()})`);
    // Our PKCS#8 seed form ([0] IMPLICIT OCTET STRING) of the seed 0x00..0x1f is that key.
    const info = new PrivateKeyInfo();
    info.version = 0;
    info.privateKeyAlgorithm.algorithmId = `2.16.840.1.101.3.4.3.${level === '44' ? 17 : 18}`;
    info.privateKey = new asn1js.OctetString({ valueHex: new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: Uint8Array.from({ length: 32 }, (_, i) => i) }).toBER() });
    const key = loadPrivateKey(new Uint8Array(info.toSchema().toBER()));
    assert.deepEqual(Buffer.from(key.publicKey.spki), Buffer.from(cert.spki), `ml-dsa-${level}: the seed gives the certificate's key`);
    // With that key, a gateway certificate under the RFC's CA: its path validates to it.
    const leafKey = loadPrivateKey(generatePrivateKey(`ml-dsa-${level}`));
    const leaf = issueCertificate({ subject: 'CN=moon.example.org', publicKey: leafKey.publicKey.spki, signer: key, issuer: cert, altNames: ['moon.example.org'] });
    const v = await new TrustStore({ anchors: [der] }).validate([leaf]);
    assert.ok(v.ok, v.ok ? '' : v.reason);
  }
});

test('serial numbers are minimal DER: a given one loses its redundant leading zeros, and 300 random ones all parse with OpenSSL (one in 256 did not)', () => {
  const ca = testCa('ecdsa-p256');
  const key = testKey('ecdsa-p256', 'serials');
  const given = issueCertificate({ subject: 'CN=serial', publicKey: key.publicKey.spki, signer: ca.key, issuer: ca.cert, serial: Uint8Array.of(0, 0, 0x12, 0x34) });
  assert.equal(new X509Certificate(Buffer.from(given)).serialNumber, '1234');
  const high = issueCertificate({ subject: 'CN=serial', publicKey: key.publicKey.spki, signer: ca.key, issuer: ca.cert, serial: Uint8Array.of(0, 0, 0x92) });
  assert.equal(new X509Certificate(Buffer.from(high)).serialNumber, '92');
  assert.equal(Buffer.from(serialOf(parseCertificate(high) as ParsedCertificate)).toString('hex'), '0092', 'a zero kept before a high bit: still positive');
  for (let i = 0; i < 300; i++) {
    const der = issueCertificate({ subject: 'CN=serial', publicKey: key.publicKey.spki, signer: ca.key, issuer: ca.cert });
    assert.doesNotThrow(() => new X509Certificate(Buffer.from(der)), `certificate ${i}`);
  }
});
