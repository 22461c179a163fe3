/**
 * The pqike daemon authenticates with X.509 certificates against Debian's strongSwan 5.9.8
 * (charon with kernel-libipsec) in a namespace pair, both directions, for three kinds of key:
 * ECDSA P-256, Ed25519 and RSASSA-PSS. Both peers' certificates come from one test CA per key
 * type; the CA and pqike's certificate (moon) are made with `pqike pki`, charon's (sun) with
 * strongSwan's own `pki` (strongswan-pki; without it, with `pqike pki`, and the test says so).
 *
 * Each case: the IKE SA and its Child SA come up (pqike up, or charon's initiate), both sides
 * list the same SPIs, charon's log shows that it verified our AUTH as an RFC 7427 Digital
 * Signature (AUTH method 14: "authentication of '<our DN>' with ECDSA_WITH_SHA256_DER
 * successful"; the RFC 4754 method 9 would log ECDSA-256) and signed its own with the same
 * scheme, then pqike rekeys the IKE SA (`pqike rekey #`) and the Child SA (`--child SPI`), and
 * both sides again list one IKE SA and one Child SA with matching SPIs, and a ping goes through.
 *
 * Identities: pqike uses its certificate's subject DN (its default, as strongSwan's), charon
 * the FQDN of its subjectAltName, so both ID types are checked against the certificates.
 *
 * RSA: pqike's CA and moon keys are RSASSA-PSS keys (`pqike pki --type rsa-pss`: the PSS OID in
 * the SubjectPublicKeyInfo, certificates signed with PSS), which strongSwan 5.9.8 loads (its
 * openssl plugin); sun's key from strongSwan's `pki --gen --type rsa` is a plain rsaEncryption
 * key, its certificate signed by the PSS CA with `--rsa-padding pss`. charon signs RSASSA-PSS
 * in IKE only with `charon.rsa_pss = yes` (else PKCS#1 v1.5), which every case here sets.
 */
import { after, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, skipOrFail, which } from './netns.js';
import type { NetnsPair } from './netns.js';
import { CERT_CHARON_PLUGINS, charonSkipReason, missingCharonPlugins } from './strongswan.js';
import type { Charon, SwanctlConnParams } from './strongswan.js';
import { CLI, pqike } from './daemons.js';
import type { SaJson } from './daemons.js';
import { charonPeer, ourSa, pingThrough, sameOnCharon, daemonHead, withPqikeAndCharon } from './pqike-charon.js';
import type { PqikeCharon } from './pqike-charon.js';
import { tail } from './traffic.js';

const missingPlugins = missingCharonPlugins(CERT_CHARON_PLUGINS);
const skip = charonSkipReason() ?? (missingPlugins.length > 0 ? skipOrFail(`charon plugins missing: ${missingPlugins.join(', ')}`) : null) ?? false;
const STRONGSWAN_PKI = which('pki');
/** Why sun's certificate is made with pqike pki (CI must have strongswan-pki: .ci/run installs it). */
const noStrongswanPki = skip !== false || STRONGSWAN_PKI ? null : skipOrFail('strongswan-pki is not installed (apt-get install strongswan-pki): sun\'s certificate is made with pqike pki');

const IKE = 'aes256gcm16-prfsha384-x25519';
const MOON_DN = 'C=CH, O=pqike, CN=moon.pqike.test';
const SUN_DN = 'C=CH, O=pqike, CN=sun.pqike.test';
const SUN_ID = 'sun.pqike.test';

interface CertType {
  readonly label: string;
  /** `pqike pki --gen --type`, for the CA and moon. */
  readonly pqike: string;
  /** `pki --gen` arguments of strongSwan's pki, for sun. */
  readonly strongswan: readonly string[];
  /** What `pki --issue` needs beyond the defaults with this CA. */
  readonly issueArgs: readonly string[];
  /** charon's name of the signature scheme (signature_scheme_names) in its AUTH log lines. */
  readonly scheme: string;
}

const TYPES: readonly CertType[] = [
  // RFC 7427 A.3.1 ecdsa-with-SHA256; the RFC 4754 method 9 would be logged as ECDSA-256.
  { label: 'ECDSA P-256', pqike: 'ecdsa-p256', strongswan: ['--type', 'ecdsa', '--size', '256'], issueArgs: [], scheme: 'ECDSA_WITH_SHA256_DER' },
  // RFC 8420: Ed25519 exists only in method 14.
  { label: 'Ed25519', pqike: 'ed25519', strongswan: ['--type', 'ed25519'], issueArgs: [], scheme: 'ED25519' },
  // RFC 7427 A.4.3, RFC 8247 §3.2: RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (charon prints
  // the parameters it parsed from our AlgorithmIdentifier; PKCS#1 v1.5 would be RSA_EMSA_PKCS1_SHA2_256).
  { label: 'RSASSA-PSS', pqike: 'rsa-pss', strongswan: ['--type', 'rsa', '--size', '3072'], issueArgs: ['--rsa-padding', 'pss'], scheme: 'RSA_EMSA_PSS_SHA2_256_SALT_32' },
];

/* ------------------------------------------------------------------------- */
/* Certificates: one CA per key type, shared by both directions              */
/* ------------------------------------------------------------------------- */

interface Credentials {
  readonly dir: string;
  readonly caCert: string;
  readonly moonCert: string;
  readonly moonKey: string;
  readonly sun: { readonly cert: string; readonly key: string; readonly madeBy: string };
}

const made = new Map<string, Promise<Credentials>>();
const certDirs: string[] = [];
after(() => {
  for (const d of certDirs) rmSync(d, { recursive: true, force: true });
});

async function pqikePki(...args: string[]): Promise<void> {
  const r = await run(process.execPath, [CLI, 'pki', ...args], { allowFail: true, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `pqike pki ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

async function strongswanPki(conf: string, args: readonly string[]): Promise<string> {
  const r = await run(STRONGSWAN_PKI ?? 'pki', [...args, '--outform', 'pem'], { env: { STRONGSWAN_CONF: conf }, allowFail: true, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `pki ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function credentials(type: CertType): Promise<Credentials> {
  let p = made.get(type.pqike);
  if (!p) {
    p = makeCredentials(type);
    made.set(type.pqike, p);
  }
  return p;
}

async function makeCredentials(type: CertType): Promise<Credentials> {
  const dir = mkdtempSync(join(tmpdir(), `pqike-certs-${type.pqike}-`));
  certDirs.push(dir);
  const f = (name: string): string => join(dir, name);
  await pqikePki('--gen', '--type', type.pqike, '--out', f('caKey.pem'));
  await pqikePki('--self', '--in', f('caKey.pem'), '--dn', `C=CH, O=pqike, CN=pqike ${type.label} CA`, '--out', f('caCert.pem'));
  await pqikePki('--gen', '--type', type.pqike, '--out', f('moonKey.pem'));
  await pqikePki('--issue', '--in', f('moonKey.pem'), '--cacert', f('caCert.pem'), '--cakey', f('caKey.pem'), '--dn', MOON_DN, '--san', 'moon.pqike.test', '--out', f('moonCert.pem'));
  let madeBy: string;
  if (STRONGSWAN_PKI) {
    // strongSwan's pki reads pqike's CA key (PKCS#8) and certificate; its own strongswan.conf
    // section keeps it to the plugins it needs (and quiet about the others).
    const conf = f('pki.conf');
    writeFileSync(conf, 'pki {\n    load = random openssl pem pkcs1 pkcs8 x509 pubkey sha1 sha2\n}\n');
    writeFileSync(f('sunKey.pem'), await strongswanPki(conf, ['--gen', ...type.strongswan]), { mode: 0o600 });
    const cert = await strongswanPki(conf, ['--issue', '--cacert', f('caCert.pem'), '--cakey', f('caKey.pem'), '--type', 'priv', '--in', f('sunKey.pem'), '--dn', SUN_DN, '--san', SUN_ID, ...type.issueArgs]);
    writeFileSync(f('sunCert.pem'), cert);
    madeBy = 'strongSwan pki';
  } else {
    await pqikePki('--gen', '--type', type.pqike, '--out', f('sunKey.pem'));
    await pqikePki('--issue', '--in', f('sunKey.pem'), '--cacert', f('caCert.pem'), '--cakey', f('caKey.pem'), '--dn', SUN_DN, '--san', SUN_ID, '--out', f('sunCert.pem'));
    madeBy = 'pqike pki';
  }
  return {
    dir,
    caCert: f('caCert.pem'),
    moonCert: f('moonCert.pem'),
    moonKey: f('moonKey.pem'),
    sun: { cert: readFileSync(f('sunCert.pem'), 'utf8'), key: readFileSync(f('sunKey.pem'), 'utf8'), madeBy },
  };
}

/* ------------------------------------------------------------------------- */
/* The two peers                                                             */
/* ------------------------------------------------------------------------- */

function daemonConfig(pair: NetnsPair, socket: string, creds: Credentials, remote: string): string {
  // No local_id: our identity is the certificate's subject DN.
  return `${daemonHead(socket)}connections:
  sun:
    local_addrs: ${pair.a.addr}
    remote_addrs: '${remote}'
    remote_id: ${SUN_ID}
    auth: pubkey
    certs: [${creds.moonCert}]
    private_keys: [${creds.moonKey}]
    cacerts: [${creds.caCert}]
    proposals: [${IKE}]
    children:
      net:
        local_ts: [10.99.1.0/24]
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
`;
}

function charonConn(pair: NetnsPair, creds: Credentials): SwanctlConnParams {
  return charonPeer(pair, 'unused-with-certificates', {
    localId: SUN_ID,
    remoteId: MOON_DN,
    localTs: '10.99.2.0/24',
    remoteTs: '10.99.1.0/24',
    ikeProposals: [IKE],
    pubkey: { cert: creds.sun.cert, key: creds.sun.key, cacerts: [readFileSync(creds.caCert, 'utf8')] },
  });
}

function withPeers(creds: Credentials, remote: 'peer' | '%any', fn: (env: PqikeCharon) => Promise<void>): Promise<void> {
  return withPqikeAndCharon(
    {
      prefix: 'pqike-certs-ss-',
      psk: 'unused-with-certificates',
      daemonConfig: (pair, socket) => daemonConfig(pair, socket, creds, remote === 'peer' ? pair.b.addr : '%any'),
      charonConfig: (pair) => [charonConn(pair, creds)],
      // rsa_pss: charon signs RSA keys with RSASSA-PSS (it does not otherwise; ECDSA and Ed25519 are unaffected).
      charon: { plugins: CERT_CHARON_PLUGINS, extraCharonConf: '    rsa_pss = yes', logLevels: { default: 1, ike: 2, cfg: 2, net: 1, lib: 1 } },
    },
    fn,
  );
}

/* ------------------------------------------------------------------------- */
/* Checks                                                                    */
/* ------------------------------------------------------------------------- */



/** charon's AUTH lines: the signature it verified from `peer` and the one it made itself. */
function authLines(charon: Charon): { verified: string[]; signed: string[] } {
  const lines = charon.log().split('\n').filter((l) => /authentication of '/.test(l));
  return { verified: lines.filter((l) => !l.includes('(myself)')), signed: lines.filter((l) => l.includes('(myself)')) };
}

function assertAuth(t: TestContext, charon: Charon, type: CertType): void {
  const { verified, signed } = authLines(charon);
  const peerLine = new RegExp(`authentication of '${MOON_DN}' with ${type.scheme} successful`);
  const ownLine = new RegExp(`authentication of '${SUN_ID}' \\(myself\\) with ${type.scheme} successful`);
  const all = `${verified.join('\n')}\n${signed.join('\n')}\n${charon.logTail(60)}`;
  assert.equal(verified.length, 1, `charon verified one AUTH:\n${all}`);
  assert.match(verified[0] ?? '', peerLine, `charon verified our ${type.label} signature as RFC 7427 ${type.scheme}:\n${all}`);
  assert.equal(signed.length, 1, `charon signed one AUTH:\n${all}`);
  assert.match(signed[0] ?? '', ownLine, `charon signed with ${type.scheme}:\n${all}`);
  // charon found sun's chain to the common CA (constraints, lifetimes) before it believed the signature.
  assert.match(charon.log(), /using trusted ca certificate "C=CH, O=pqike, CN=pqike [^"]+ CA"/);
  t.diagnostic(`charon: ${verified[0]?.replace(/^.*?authentication/, 'authentication')}`);
  t.diagnostic(`charon: ${signed[0]?.replace(/^.*?authentication/, 'authentication')}`);
}


/**
 * pqike rekeys the IKE SA, then the Child SA (now on the new IKE SA): each time both sides list
 * the new SAs and nothing else, and traffic still flows.
 */
async function rekeys(t: TestContext, env: PqikeCharon, first: SaJson): Promise<void> {
  const started = Date.now();
  const ike = await pqike(env, 'rekey', String(first.id));
  assert.equal(ike.code, 0, `pqike rekey ${first.id}: ${ike.stdout}${ike.stderr}\n${env.charon.logTail()}`);
  const second = await ourSa(env, { id: first.id });
  assert.notEqual(second.spiI, first.spiI, 'a new IKE SA');
  assert.equal(second.children[0]?.spiIn, first.children[0]?.spiIn, 'the Child SA moved to the new IKE SA (RFC 7296 §2.18)');
  await sameOnCharon(env, second);
  const ikeMs = Date.now() - started;
  const oldSpi = second.children[0]?.spiIn ?? '';
  const child = await pqike(env, 'rekey', String(second.id), '--child', oldSpi);
  assert.equal(child.code, 0, `pqike rekey ${second.id} --child ${oldSpi}: ${child.stdout}${child.stderr}\n${env.charon.logTail()}`);
  const third = await ourSa(env, { childSpi: oldSpi });
  assert.equal(third.id, second.id, 'the Child SA rekey keeps the IKE SA');
  assert.equal(third.children[0]?.rekeyOf, oldSpi);
  await sameOnCharon(env, third);
  await pingThrough(env, 'after the rekeys');
  t.diagnostic(`IKE SA rekey ${ikeMs} ms, Child SA rekey ${Date.now() - started - ikeMs} ms`);
}

async function runCase(t: TestContext, type: CertType, initiator: 'pqike' | 'charon'): Promise<void> {
  const t0 = Date.now();
  const creds = await credentials(type);
  if (noStrongswanPki) t.diagnostic(noStrongswanPki);
  t.diagnostic(`certificates: CA and moon by pqike pki, sun by ${creds.sun.madeBy} (${Date.now() - t0} ms)`);
  await withPeers(creds, initiator === 'pqike' ? 'peer' : '%any', async (env) => {
    if (initiator === 'pqike') {
      const up = await pqike(env, 'up', 'sun');
      assert.equal(up.code, 0, `pqike up: ${up.stdout}${up.stderr}\n${env.charon.logTail(60)}`);
    } else {
      const r = await env.charon.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
      assert.equal(r.code, 0, `swanctl --initiate: ${r.stdout}${r.stderr}\n${tail(env.log)}`);
    }
    const sa = await ourSa(env);
    assert.equal(sa.role, initiator === 'pqike' ? 'initiator' : 'responder');
    assert.equal(sa.suite, 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
    assert.equal(sa.remoteId, SUN_ID);
    assert.match(sa.localId, /CN=moon\.pqike\.test/);
    const peer = await sameOnCharon(env, sa);
    // charon's view of the identities: ours is the DN of our certificate, its own the SAN.
    assert.equal(peer.raw['remote-id'], MOON_DN);
    assert.equal(peer.raw['local-id'], SUN_ID);
    assertAuth(t, env.charon, type);
    await pingThrough(env, 'after IKE_AUTH');
    await rekeys(t, env, sa);
    // The rekeys did not authenticate again (no new AUTH lines).
    assert.equal(authLines(env.charon).verified.length, 1);
  });
  t.diagnostic(`case took ${Date.now() - t0} ms`);
}

for (const type of TYPES) {
  test(`${type.label} certificates: the pqike daemon initiates to strongSwan, both authenticate with RFC 7427 signatures; IKE SA and Child SA rekeys`, { skip, timeout: 120_000 }, (t) => runCase(t, type, 'pqike'));
  test(`${type.label} certificates: strongSwan initiates to the pqike daemon, both authenticate with RFC 7427 signatures; IKE SA and Child SA rekeys`, { skip, timeout: 120_000 }, (t) => runCase(t, type, 'charon'));
}
