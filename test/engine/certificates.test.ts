/**
 * Certificate authentication in the engine (RFC 7296 §2.15, §3.6-3.8; RFC 7427; RFC 8420;
 * draft-ietf-ipsecme-ikev2-pqc-auth): every signature type we support, end to end between two
 * engines with a hybrid x25519+mlkem768 proposal, the certificate paths validated outside the
 * engine (pkijs, asynchronous) while IKE_AUTH waits; the classic methods; and each bad input a
 * precise AUTHENTICATION_FAILED with nothing installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Authenticator, PeerProof } from '../../src/auth/authenticator.js';
import { issueCertificate, issueCrl, serialOf } from '../../src/auth/pki.js';
import { decodeSignatureAuthData } from '../../src/auth/signature-auth-data.js';
import { parseIdentity } from '../../src/engine/identity.js';
import type { SignatureKeyType } from '../../src/crypto/signature-keys.js';
import { AuthMethod, CertEncoding, ExchangeType, IdType, NotifyType, PayloadType } from '../../src/wire/constants.js';
import { EnginePair } from '../helpers/engine-pair.js';
import { sasOf, sealAs } from '../helpers/engine-wire.js';
import type { Payload } from '../../src/wire/types.js';
import type { PairOptions } from '../helpers/engine-pair.js';
import { certAuth, parsed, testCa, testCert, testKey } from '../helpers/test-pki.js';
import type { TestCa } from '../helpers/test-pki.js';

const MOON = 'moon.example.org';
const SUN = 'sun.example.org';

/** Both ends with certificates of `type` from one CA; `tweak` changes either side's auth. */
function certPair(type: SignatureKeyType, o: { ca?: TestCa; i?: Partial<ReturnType<typeof certAuth>>; r?: Partial<ReturnType<typeof certAuth>>; pair?: PairOptions } = {}): EnginePair {
  const ca = o.ca ?? testCa(type);
  const i = { ...certAuth(testCert(ca, type, MOON), [ca.der]), ...o.i };
  const r = { ...certAuth(testCert(ca, type, SUN), [ca.der]), ...o.r };
  return new EnginePair({ ...o.pair, connI: { auth: { local: i.local, remote: i.remote }, ...o.pair?.connI }, connR: { auth: { local: r.local, remote: r.remote }, ...o.pair?.connR } });
}

/** Records the peer's AUTH method on its way to the real check. */
function recording(a: Authenticator, seen: number[]): Authenticator {
  return { ...a, verify: (p: PeerProof) => (seen.push(p.method), a.verify(p)) };
}

const TYPES: SignatureKeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'ed448', 'rsa-pss', 'rsa', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'];

for (const type of TYPES) {
  test(`${type} certificates: both ends sign with AUTH method 14 and verify the other's chain; the Child SA is installed`, async () => {
    const seenI: number[] = [];
    const seenR: number[] = [];
    const ca = testCa(type);
    const i = certAuth(testCert(ca, type, MOON), [ca.der]);
    const r = certAuth(testCert(ca, type, SUN), [ca.der]);
    const pair = new EnginePair({ connI: { auth: { local: i.local, remote: recording(i.remote, seenI) } }, connR: { auth: { local: r.local, remote: recording(r.remote, seenR) } }, fragmentSize: 1280 });
    const ids = await pair.establishAsync();
    assert.deepEqual(pair.errors(), []);
    assert.equal(pair.i.children(ids.i).length, 1);
    assert.ok(seenR.includes(AuthMethod.DIGITAL_SIGNATURE) && seenI.includes(AuthMethod.DIGITAL_SIGNATURE), `${seenI} ${seenR}`);
    const authIn = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'in' && e.payloads.includes('CERT'));
    assert.ok(authIn, 'the IKE_AUTH request carried CERT');
    assert.ok(pair.planeR.some((c) => c.op === 'add-sa') && pair.planeI.some((c) => c.op === 'add-sa'));
    if (type.startsWith('ml-dsa')) assert.ok(pair.eventsI.some((e) => e.type === 'message' && e.direction === 'out' && e.sizes.length > 1), 'an ML-DSA IKE_AUTH is fragmented at 1280 octets (RFC 7383)');
  });
}

test('a peer that announces no SIGNATURE_HASH_ALGORITHMS gets the classic methods: 9 for ECDSA P-256 (RFC 4754) and 1 for RSA', async () => {
  for (const [type, method] of [['ecdsa-p256', AuthMethod.ECDSA_SHA256_P256], ['ecdsa-p384', AuthMethod.ECDSA_SHA384_P384], ['rsa', AuthMethod.RSA_SIG]] as const) {
    const seen: number[] = [];
    const ca = testCa(type);
    const i = certAuth(testCert(ca, type, MOON), [ca.der]);
    // The initiator's check announces no hashes (as a peer without RFC 7427): the responder signs the classic way.
    const quiet = { ...i.remote, signatureHashes: [] };
    const pair = certPair(type, { ca, i: { remote: recording(quiet, seen) } });
    await pair.establishAsync();
    // (asked twice: once before the path was validated, once after)
    assert.deepEqual([...new Set(seen)], [method], type);
  }
});

/** Run a pair whose initiator the responder must refuse; returns the refusal reason. */
async function refusedByResponder(pair: EnginePair): Promise<string> {
  pair.initiate();
  await pair.settle();
  const refused = pair.eventsR.find((e) => e.type === 'refused');
  assert.ok(refused?.type === 'refused', `refused: ${JSON.stringify(pair.eventsR.filter((e) => e.type === 'ike-failed' || e.type === 'log').slice(-3))}`);
  assert.equal(refused.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.ok(!pair.planeR.some((c) => c.op === 'add-sa'), 'nothing installed at the responder');
  assert.ok(!pair.planeI.some((c) => c.op === 'add-sa'), 'nothing installed at the initiator');
  assert.ok(pair.eventsI.some((e) => e.type === 'ike-failed'), 'the initiator failed too');
  return refused.reason ?? '';
}

const HOUR = 3_600_000;

test('bad input, each refused with AUTHENTICATION_FAILED and a reason that names the check', async (t) => {
  const ca = testCa('ecdsa-p256');
  const other = testCa('ecdsa-p256', 'Other CA');
  const moon = testCert(ca, 'ecdsa-p256', MOON);
  const withChain = (der: Uint8Array, chain: Uint8Array[] = []) => certAuth({ key: moon.key, der }, [ca.der], { chain });
  const cases: { name: string; i: () => Partial<ReturnType<typeof certAuth>>; r?: () => Partial<ReturnType<typeof certAuth>>; why: RegExp }[] = [
    {
      name: 'a wrong signature',
      i: () => {
        const a = certAuth(moon, [ca.der]);
        return { local: { ...a.local, sign: (ctx) => { const s = a.local.sign(ctx); if (typeof s === 'string') return s; const d = Uint8Array.from(s.data); d[d.length - 1] = (d[d.length - 1] ?? 0) ^ 1; return { method: s.method, data: d }; } } };
      },
      why: /ecdsa-with-sha256 signature does not verify with certificate "C=CH, O=pqike, CN=moon.example.org"/,
    },
    { name: 'an expired certificate', i: () => withChain(testCert(ca, 'ecdsa-p256', MOON, { notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - HOUR) }).der), why: /expired at/ },
    { name: 'a certificate not yet valid', i: () => withChain(testCert(ca, 'ecdsa-p256', MOON, { notBefore: new Date(Date.now() + HOUR) }).der), why: /is not valid before/ },
    { name: 'an untrusted CA', i: () => withChain(testCert(other, 'ecdsa-p256', MOON).der), why: /not trusted: no path to a configured CA certificate/ },
    { name: 'an ID the certificate does not name', i: () => withChain(testCert(ca, 'ecdsa-p256', MOON, { altNames: ['venus.example.org'] }).der), why: /does not name the peer's identity moon\.example\.org/ },
    { name: 'a garbage CERT', i: () => ({ local: { ...certAuth(moon, [ca.der]).local, certificates: [Uint8Array.of(0x30, 0x03, 1, 2, 3)] } }), why: /certificate 1 of the peer: not an X\.509 certificate/ },
    { name: 'a truncated CERT', i: () => ({ local: { ...certAuth(moon, [ca.der]).local, certificates: [moon.der.subarray(0, 200)] } }), why: /certificate 1 of the peer: not an X\.509 certificate/ },
    { name: 'no CERT at all', i: () => ({ local: { ...certAuth(moon, [ca.der]).local, certificates: [] } }), why: /the peer sent no certificate/ },
    { name: 'a key that may not sign (keyUsage keyAgreement)', i: () => withChain(testCert(ca, 'ecdsa-p256', MOON, { keyUsage: 'key-agreement' }).der), why: /may not sign \(keyUsage/ },
    {
      name: 'a signature algorithm we do not support (sha1WithRSAEncryption)',
      i: () => {
        const a = certAuth(moon, [ca.der]);
        const sha1Rsa = Buffer.from('300d06092a864886f70d0101050500', 'hex');
        return { local: { ...a.local, sign: () => ({ method: AuthMethod.DIGITAL_SIGNATURE, data: Uint8Array.from([sha1Rsa.length, ...sha1Rsa, 1, 2, 3, 4]) }) } };
      },
      why: /RFC 7427 AUTH data: unknown signature algorithm 300d06092a864886f70d0101050500/,
    },
    {
      name: 'an ML-DSA-65 signature over an ECDSA certificate',
      i: () => {
        const a = certAuth(moon, [ca.der]);
        const ml = testKey('ml-dsa-65', 'stray');
        const mlId = Buffer.from('300b0609608648016503040312', 'hex');
        return { local: { ...a.local, sign: (ctx) => ({ method: AuthMethod.DIGITAL_SIGNATURE, data: Uint8Array.from([mlId.length, ...mlId, ...ml.sign({ kind: 'ml-dsa' }, ctx.octets)]) }) } };
      },
      why: /signature algorithm id-ml-dsa-65 does not fit the ECDSA P-256 key/,
    },
    {
      name: 'a revoked certificate (CRL)',
      i: () => certAuth(moon, [ca.der]),
      r: () => certAuth(testCert(ca, 'ecdsa-p256', SUN), [ca.der], { store: { crls: [issueCrl({ issuer: ca.cert, signer: ca.key, revoked: [serialOf(parsed(moon.der))] })] } }),
      why: /revoked by a CRL/,
    },
    {
      name: 'a chain with a loop',
      i: () => {
        const ka = testKey('ecdsa-p256', 'loop-a');
        const kb = testKey('ecdsa-p256', 'loop-b');
        const b0 = parsed(issueCertificate({ subject: 'CN=Loop B', publicKey: kb.publicKey.spki, signer: kb, ca: true }));
        const a = issueCertificate({ subject: 'CN=Loop A', publicKey: ka.publicKey.spki, signer: kb, issuer: b0, ca: true });
        const b = issueCertificate({ subject: 'CN=Loop B', publicKey: kb.publicKey.spki, signer: ka, issuer: parsed(a), ca: true });
        const leaf = issueCertificate({ subject: `CN=${MOON}`, publicKey: moon.key.publicKey.spki, signer: ka, issuer: parsed(a), altNames: [MOON] });
        return withChain(leaf, [a, b]);
      },
      why: /not trusted|loop/,
    },
    {
      name: 'a chain deeper than the limit',
      i: () => {
        let issuer = ca;
        const chain: Uint8Array[] = [];
        for (let n = 0; n < 7; n++) {
          const k = testKey('ecdsa-p256', `deep-${n}`);
          const der = issueCertificate({ subject: `CN=Intermediate ${n}`, publicKey: k.publicKey.spki, signer: issuer.key, issuer: issuer.cert, ca: true });
          chain.unshift(der);
          issuer = { key: k, der, cert: parsed(der) };
        }
        const leaf = issueCertificate({ subject: `CN=${MOON}`, publicKey: moon.key.publicKey.spki, signer: issuer.key, issuer: issuer.cert, altNames: [MOON] });
        return withChain(leaf, chain);
      },
      why: /more than 7|longer than/,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const reason = await refusedByResponder(certPair('ecdsa-p256', { ca, i: c.i(), ...(c.r ? { r: c.r() } : {}) }));
      assert.match(reason, c.why);
    });
  }
});

test('the initiator checks the responder alike: an untrusted responder certificate fails the IKE SA at the initiator, nothing installed', async () => {
  const ca = testCa('ed25519');
  const other = testCa('ed25519', 'Other CA');
  const pair = certPair('ed25519', { ca, r: certAuth(testCert(other, 'ed25519', SUN), [ca.der]) });
  pair.initiate();
  await pair.settle();
  const failed = pair.eventsI.find((e) => e.type === 'ike-failed');
  assert.ok(failed?.type === 'ike-failed');
  assert.match(failed.reason, /not trusted: no path to a configured CA certificate/);
  assert.ok(!pair.planeI.some((c) => c.op === 'add-sa'));
});

test('a CERTREQ for a CA we hold no certificate from: we still send ours (RFC 7296 §3.7), and the SA comes up', async () => {
  const ca = testCa('ecdsa-p384');
  const unknown = testCa('ecdsa-p384', 'Unknown CA');
  const i = certAuth(testCert(ca, 'ecdsa-p384', MOON), [ca.der]);
  // The initiator asks for "Unknown CA" only, yet trusts ours.
  const asks = { ...i.remote, certRequest: certAuth(testCert(unknown, 'ecdsa-p384', 'x'), [unknown.der]).remote.certRequest };
  const pair = certPair('ecdsa-p384', { ca, i: { remote: asks } });
  await pair.establishAsync();
  const req = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'in' && e.payloads.includes('CERTREQ'));
  assert.ok(req, 'the CERTREQ was sent');
});

test('CERTREQ in the IKE_SA_INIT response names our CA by its key hash; the IKE_AUTH request carries the initiator\'s; the cache answers a second SA synchronously', async () => {
  const pair = certPair('ecdsa-p256');
  await pair.establishAsync();
  const init = pair.eventsI.find((e) => e.type === 'message' && e.direction === 'in' && e.payloads.includes('CERTREQ'));
  assert.ok(init, 'IKE_SA_INIT response with CERTREQ');
  const before = pair.r.drainTrust().length;
  assert.equal(before, 0);
  pair.initiate();
  pair.run();
  assert.equal(pair.i.list().filter((s) => s.state === 'established').length, 2, 'the second SA needed no validation: the verdicts are cached');
});

test('SIGNATURE_HASH_ALGORITHMS lists SHA2-256/384/512 and Identity (RFC 8420), as strongSwan does, with or without certificates', async () => {
  const listed = (p: EnginePair): boolean => p.eventsR.some((e) => e.type === 'message' && e.direction === 'out' && e.payloads.includes('N(SIGNATURE_HASH_ALGORITHMS)'));
  const psk = new EnginePair();
  psk.establish();
  assert.ok(listed(psk));
  const cert = certPair('ed25519');
  await cert.establishAsync();
  assert.ok(listed(cert));
});

test('RFC 9593: the IKE_SA_INIT response and the IKE_AUTH request carry SUPPORTED_AUTH_METHODS where certificates are configured, not with PSK only', async () => {
  const has = (events: EnginePair['eventsR'], dir: 'in' | 'out'): boolean => events.some((e) => e.type === 'message' && e.direction === dir && e.payloads.includes('N(SUPPORTED_AUTH_METHODS)'));
  const cert = certPair('ecdsa-p256');
  await cert.establishAsync();
  assert.ok(has(cert.eventsI, 'in'), 'the responder announced in IKE_SA_INIT');
  assert.ok(has(cert.eventsR, 'in'), 'the initiator announced in IKE_AUTH');
  const psk = new EnginePair();
  psk.establish();
  assert.ok(!has(psk.eventsI, 'in') && !has(psk.eventsR, 'in'));
});

test('RFC 9593: an RSA initiator whose responder announces only sha256WithRSAEncryption signs with PKCS#1 v1.5, not RSASSA-PSS', async () => {
  const ca = testCa('rsa');
  const algs: string[] = [];
  const r = certAuth(testCert(ca, 'rsa', SUN), [ca.der]);
  const pkcs1 = Buffer.from('300d06092a864886f70d01010b0500', 'hex');
  const onlyPkcs1 = { ...r.remote, announcements: [{ method: AuthMethod.DIGITAL_SIGNATURE, certLink: 0, algorithmId: Uint8Array.from(pkcs1) }] };
  const recordingAlg = { ...onlyPkcs1, verify: (p: PeerProof) => { const d = decodeSignatureAuthData(p.data); if (typeof d !== 'string') algs.push(d.algorithm.name); return onlyPkcs1.verify(p); } };
  await certPair('rsa', { ca, r: { ...r, remote: recordingAlg } }).establishAsync();
  assert.deepEqual([...new Set(algs)], ['sha256WithRSAEncryption']);
  // Without the announcement, RSASSA-PSS (RFC 8247 §3.2: SHOULD).
  const algs2: string[] = [];
  const plain = certAuth(testCert(ca, 'rsa', SUN), [ca.der]);
  await certPair('rsa', { ca, r: { ...plain, remote: { ...plain.remote, verify: (p: PeerProof) => { const d = decodeSignatureAuthData(p.data); if (typeof d !== 'string') algs2.push(d.algorithm.name); return plain.remote.verify(p); } } } }).establishAsync();
  assert.deepEqual([...new Set(algs2)], ['RSASSA-PSS with sha256']);
});

test('while an IKE_AUTH request waits for its certificates, a further request (Message ID 3) is not taken: the waiting one (2) is answered, once (RFC 7296 §2.2-2.3)', async () => {
  const seen: PeerProof[] = [];
  const ca = testCa('ecdsa-p256');
  const r = certAuth(testCert(ca, 'ecdsa-p256', SUN), [ca.der]);
  const pair = certPair('ecdsa-p256', { ca, r: { ...r, remote: { ...r.remote, verify: (p: PeerProof) => (seen.push(p), r.remote.verify(p)) } } });
  pair.initiate();
  pair.run();
  const queries = pair.r.drainTrust();
  assert.equal(queries.length, 1, 'the responder waits');
  const proof = seen[0];
  assert.ok(proof);
  const iSa = sasOf(pair.i)[0];
  const rSa = sasOf(pair.r)[0];
  assert.ok(iSa && rSa);
  const mid = rSa.expectedRequestId;
  const payloads: Payload[] = [
    { type: PayloadType.IDi, critical: false, idType: IdType.FQDN, data: new TextEncoder().encode(MOON) },
    ...proof.certs.map((data) => ({ type: PayloadType.CERT, critical: false, encoding: CertEncoding.X509_SIGNATURE, data }) as Payload),
    { type: PayloadType.AUTH, critical: false, method: proof.method, data: proof.data },
  ];
  for (const d of sealAs(iSa, ExchangeType.IKE_AUTH, mid, payloads)) pair.inject('i', d);
  assert.equal(pair.r.drainTrust().length, 0, 'request 3 was not taken');
  for (const q of queries) {
    await q.run();
    pair.r.trustSettled(q, pair.now);
  }
  await pair.settle();
  assert.equal(rSa.lastResponse?.messageId, mid - 1, 'the waiting request was answered');
  assert.equal(pair.r.list()[0]?.state, 'established');
  assert.equal(pair.i.list()[0]?.state, 'established');
});

test('an initiator whose certificate validation never comes back fails after 10 s instead of waiting for ever', async () => {
  const pair = certPair('ed25519');
  pair.initiate();
  pair.run();
  for (const q of pair.r.drainTrust()) {
    await q.run();
    pair.r.trustSettled(q, pair.now);
  }
  pair.run();
  assert.equal(pair.i.drainTrust().length, 1, 'the initiator waits for the responder\'s chain; the host never runs it');
  pair.runFor(11_000);
  const failed = pair.eventsI.find((e) => e.type === 'ike-failed');
  assert.ok(failed?.type === 'ike-failed');
  assert.match(failed.reason, /not validated within 10 s/);
});

test('two connections that trust by different stores wait on their own queries for the same chain; both SAs come up', async () => {
  const ca = testCa('ecdsa-p256');
  const moon = testCert(ca, 'ecdsa-p256', MOON);
  const sun = testCert(ca, 'ecdsa-p256', SUN);
  const pair = certPair('ecdsa-p256', { ca, i: certAuth(moon, [ca.der]), r: certAuth(sun, [ca.der]) });
  // A second responder connection for the same peer, with a trust store of its own.
  const second = certAuth(sun, [ca.der]);
  pair.r.addConnection({ ...pair.r.connections()[0]!, name: 'sun2', auth: { local: second.local, remote: second.remote } });
  pair.initiate();
  pair.initiate();
  await pair.settle();
  assert.equal(pair.r.list().filter((s) => s.state === 'established').length, 2, JSON.stringify(pair.eventsR.filter((e) => e.type === 'refused')));
});

void CertEncoding;
void PayloadType;
void parseIdentity;
