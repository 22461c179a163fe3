/**
 * What RFC 5280 path validation needs beyond pkijs (src/auth/trust-store.ts), each a case an
 * adversarial review found accepted before: pathLenConstraint, a stale CRL that must still
 * revoke, critical extensions of the end entity (unknown ones, and an extendedKeyUsage for
 * other purposes, RFC 4945 §5.1.3.12), refusals re-checked after a while, and DN texts that
 * cannot make two different Names look alike (RFC 4514 escaping, multi-valued RDNs, octets
 * after the Name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { issueCertificate, issueCrl, serialOf } from '../../src/auth/pki.js';
import { TrustStore } from '../../src/auth/trust-store.js';
import { certificateNames, nameTextOfDer } from '../../src/auth/x509.js';
import { dnIdentity, parseIdentity, sameIdentity } from '../../src/engine/identity.js';
import { parsed, testCa, testCert, testKey } from '../helpers/test-pki.js';

const HOUR = 3_600_000;
const reason = (v: Awaited<ReturnType<TrustStore['validate']>>): string => (v.ok ? 'ACCEPTED' : v.reason);

test('pathLenConstraint 0: an intermediate may not certify another CA (RFC 5280 §4.2.1.9)', async () => {
  const ca = testCa('ecdsa-p256');
  const k1 = testKey('ecdsa-p256', 'pl-1');
  const k2 = testKey('ecdsa-p256', 'pl-2');
  const i1 = issueCertificate({ subject: 'CN=I1 pathLen0', publicKey: k1.publicKey.spki, signer: ca.key, issuer: ca.cert, ca: true, pathLen: 0 });
  const i2 = issueCertificate({ subject: 'CN=I2', publicKey: k2.publicKey.spki, signer: k1, issuer: parsed(i1), ca: true });
  const leaf = testCert({ key: k2, der: i2, cert: parsed(i2) }, 'ecdsa-p256', 'moon.example.org').der;
  const store = new TrustStore({ anchors: [ca.der] });
  assert.match(reason(await store.validate([leaf, i2, i1])), /CA "CN=I1 pathLen0" allows 0 CA\(s\) below it/);
  // pathLen 0 with the end entity right below it is fine.
  const direct = testCert({ key: k1, der: i1, cert: parsed(i1) }, 'ecdsa-p256', 'moon.example.org').der;
  assert.equal(reason(await store.validate([direct, i1])), 'ACCEPTED');
});

test('a CRL past its nextUpdate still revokes what it lists; one that does not verify revokes nothing', async () => {
  const ca = testCa('ecdsa-p256');
  const leaf = testCert(ca, 'ecdsa-p256', 'moon.example.org');
  const stale = issueCrl({ issuer: ca.cert, signer: ca.key, revoked: [serialOf(parsed(leaf.der))], thisUpdate: new Date(Date.now() - 48 * HOUR), nextUpdate: new Date(Date.now() - 24 * HOUR) });
  assert.match(reason(await new TrustStore({ anchors: [ca.der], crls: [stale] }).validate([leaf.der])), /revoked by a CRL/);
  const forged = issueCrl({ issuer: ca.cert, signer: testKey('ecdsa-p256', 'not-the-ca'), revoked: [serialOf(parsed(leaf.der))] });
  assert.equal(reason(await new TrustStore({ anchors: [ca.der], crls: [forged] }).validate([leaf.der])), 'ACCEPTED');
});

test('an end entity with a critical extension we do not process, or a critical extendedKeyUsage without an IKE purpose, is refused', async () => {
  const ca = testCa('ecdsa-p256');
  const store = new TrustStore({ anchors: [ca.der] });
  const odd = new pkijs.Extension({ extnID: '1.3.6.1.4.1.99999.1', critical: true, extnValue: new asn1js.Null().toBER() });
  assert.match(reason(await store.validate([testCert(ca, 'ecdsa-p256', 'moon.example.org', { extraExtensions: [odd] }).der])), /critical extension we do not process \(1\.3\.6\.1\.4\.1\.99999\.1/);
  const eku = (purposes: string[]): pkijs.Extension => new pkijs.Extension({ extnID: '2.5.29.37', critical: true, extnValue: new pkijs.ExtKeyUsage({ keyPurposes: purposes }).toSchema().toBER() });
  assert.match(reason(await store.validate([testCert(ca, 'ecdsa-p256', 'moon.example.org', { extraExtensions: [eku(['1.3.6.1.5.5.7.3.3'])] }).der])), /for other purposes \(critical extendedKeyUsage 1\.3\.6\.1\.5\.5\.7\.3\.3/);
  assert.equal(reason(await store.validate([testCert(ca, 'ecdsa-p256', 'moon.example.org', { extraExtensions: [eku(['1.3.6.1.5.5.7.3.17'])] }).der])), 'ACCEPTED', 'id-kp-ipsecIKE');
});

test('a refusal is re-checked after a minute: a certificate not yet valid becomes valid', async () => {
  const ca = testCa('ecdsa-p256');
  let now = new Date();
  const early = testCert(ca, 'ecdsa-p256', 'moon.example.org', { notBefore: new Date(now.getTime() + HOUR) }).der;
  const store = new TrustStore({ anchors: [ca.der], clock: () => now });
  await store.query([early]).run();
  assert.match(reason(store.verdict([early]) ?? { ok: true } as never), /not valid before/);
  now = new Date(now.getTime() + 2 * HOUR);
  assert.equal(store.verdict([early]), undefined, 'validated again');
  await store.query([early]).run();
  assert.equal(store.verdict([early])?.ok, true);
});

test('DN texts name one Name each: an escaped comma, a multi-valued RDN and two RDNs differ; octets after a Name make no identity', () => {
  const rdn = (...atvs: [string, string][]): asn1js.Set => new asn1js.Set({ value: atvs.map(([type, value]) => new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }).toSchema()) });
  const der = (...rdns: asn1js.Set[]): Uint8Array => new Uint8Array(new asn1js.Sequence({ value: rdns }).toBER());
  const two = der(rdn(['2.5.4.3', 'moon']), rdn(['2.5.4.10', 'pqike']));
  const comma = der(rdn(['2.5.4.3', 'moon, O=pqike']));
  const multi = der(rdn(['2.5.4.3', 'moon'], ['2.5.4.10', 'pqike']));
  assert.equal(nameTextOfDer(two), 'CN=moon, O=pqike');
  assert.equal(nameTextOfDer(comma), 'CN=moon\\, O=pqike');
  assert.equal(nameTextOfDer(multi), 'CN=moon+O=pqike');
  const configured = parseIdentity('CN=moon, O=pqike');
  assert.ok(sameIdentity(configured, dnIdentity(two) ?? configured));
  assert.ok(!sameIdentity(configured, dnIdentity(comma) ?? configured));
  assert.ok(!sameIdentity(configured, dnIdentity(multi) ?? configured));
  assert.equal(dnIdentity(Uint8Array.from([...two, 0])), undefined, 'trailing octet');
  // A certificate whose subject is the one-RDN Name does not name the configured two-RDN DN.
  const ca = testCa('ecdsa-p256');
  const k = testKey('ecdsa-p256', 'dn-evil');
  const evil = parsed(issueCertificate({ subject: 'CN=moon\\, O=pqike', publicKey: k.publicKey.spki, signer: ca.key, issuer: ca.cert }));
  assert.equal(evil.subject, 'CN=moon\\, O=pqike');
  assert.ok(!certificateNames(evil, configured));
});
