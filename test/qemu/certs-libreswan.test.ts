/**
 * The pqike daemon authenticates with X.509 certificates against Debian's libreswan 4.10
 * (pluto + NSS, kernel ESP) inside one qemu VM (see daemon-libreswan.test.ts for the setup:
 * pqike in namespace a, 10.99.0.1; pluto in namespace b, 10.99.0.2 and 10.99.0.3).
 *
 * Key type: ECDSA P-256 for every key (CA, moon = pqike, sun = pluto). libreswan 4.10 with NSS
 * signs and verifies ECDSA only as an RFC 7427 Digital Signature (AUTH method 14, authby=ecdsa;
 * it announces SIGNATURE_HASH_ALGORITHMS), so no RSA fallback is needed.
 *
 * Certificates: the CA, moon's and sun's keys and certificates are made on the host with
 * `pqike pki` (PEM, PKCS#8); sun's key and certificate (with the CA) are packed into PKCS#12
 * with the host's OpenSSL 3.0 (AES-256-CBC PBES2 and an HMAC-SHA-256 MAC, which NSS reads) and
 * imported into pluto's private NSS database in the guest with pk12util; the CA is imported
 * with certutil, trusted for client and server certificates ('CT,,').
 *
 * 1. `pqike up sun`: pqike (identity: its certificate's subject DN, the default) initiates to
 *    pluto's conn "pq" (leftid=@sun.pqike.test, the FQDN of sun's subjectAltName, leftcert=sun,
 *    rightid=pqike's DN, rightca=%same). Both sides list the IKE SA (same IKE SPIs: pqike
 *    list-sas vs pluto's IKE header dumps) and the Child SA (ESP SPIs: pqike vs pluto's status
 *    and the guest kernel's XFRM states); pluto logs that it authenticated us with ECDSA and
 *    our certificate issued by the CA. `pqike down sun` removes them on both sides.
 * 2. pluto (`whack --initiate`, conn "topq" from 10.99.0.3, leftid=%fromcert: sun's DN) initiates
 *    to pqike's responder connection `rw` (remote_addrs %any, local_id moon.pqike.test, the FQDN
 *    of our subjectAltName, remote_id sun's DN): both sides list it, `pqike down <id>` takes it
 *    down. So each side uses both an FQDN and a DN identity once, bound to the certificate.
 *
 * Both directions in one VM boot: the second costs a few seconds, the boot ~a minute.
 * The daemon's data plane is the recording fake (as in daemon-libreswan.test.ts): no traffic.
 * Skips when not root; when the VM cannot be prepared it skips, except with CI=true, where it
 * fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../interop/netns.js';
import { runInVm, shq, type VmResult } from './vm.js';
import { netnsPairSnippet, parseXfrmState, section, waitForSnippet, writeFileSnippet } from './guest.js';
import { establishedStates, guestPlutoPaths, parsePlutoStates, parseTrafficStatus, plutoStartSnippet, whackCmd, type LibreswanConnParams } from './libreswan.js';
import { vmRun, plutoVmPreconditions, snapshotCli, plutoEspSpis, plutoIkeSpiPairs, plutoMessages, daemonMessages } from './daemon-pluto.js';

const here = dirname(fileURLToPath(import.meta.url));
// A hang guard, not a timing check: about 3× the 88 s the guest takes on these machines.
const VM_TIMEOUT_MS = 300_000;

/** Guest paths. */
const D = '/tmp/pqike';
const SOCK = `${D}/run/pqike.sock`;
const pp = guestPlutoPaths({ ns: 'b' });
const NSS = `sql:${pp.nssdir}`;

/** Addresses: pqike in a; pluto answers on B (conn pq) and initiates from B2 (conn topq). */
const A = '10.99.0.1';
const B = '10.99.0.2';
const B2 = '10.99.0.3';

const CLASSIC = 'aes256gcm16-prfsha384-x25519';
const CA_DN = 'C=CH, O=pqike, CN=pqike CA';
const MOON_DN = 'C=CH, O=pqike, CN=moon.pqike.test';
const SUN_DN = 'C=CH, O=pqike, CN=sun.pqike.test';


/* ------------------------------------------------------------------------- */
/* Certificates (host)                                                       */
/* ------------------------------------------------------------------------- */

interface Credentials {
  readonly dir: string;
  readonly caCert: string;
  readonly moonCert: string;
  readonly moonKey: string;
  readonly sunP12: string;
}

function runTool(cmd: string, args: readonly string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${String(r.error ?? '')}${r.stdout}${r.stderr}`);
}

/**
 * One ECDSA P-256 CA, moon's and sun's keys and certificates (pqike pki), sun's as PKCS#12 for
 * NSS. Under /var/tmp: the guest sees the host's /var/tmp (its /tmp is its own).
 */
function makeCredentials(cli: string): Credentials {
  const dir = mkdtempSync('/var/tmp/pqike-lsw-certs-');
  const pki = (...args: string[]): void => runTool(process.execPath, [cli, 'pki', ...args], dir);
  pki('--gen', '--type', 'ecdsa-p256', '--out', 'caKey.pem');
  pki('--self', '--in', 'caKey.pem', '--dn', CA_DN, '--out', 'caCert.pem');
  pki('--gen', '--type', 'ecdsa-p256', '--out', 'moonKey.pem');
  pki('--issue', '--in', 'moonKey.pem', '--cacert', 'caCert.pem', '--cakey', 'caKey.pem', '--dn', MOON_DN, '--san', 'moon.pqike.test', '--out', 'moonCert.pem');
  pki('--gen', '--type', 'ecdsa-p256', '--out', 'sunKey.pem');
  pki('--issue', '--in', 'sunKey.pem', '--cacert', 'caCert.pem', '--cakey', 'caKey.pem', '--dn', SUN_DN, '--san', 'sun.pqike.test', '--out', 'sunCert.pem');
  // OpenSSL 3.0's defaults are PBES2/AES-256-CBC and an HMAC-SHA-256 MAC already; spelled out so
  // a different default (or -legacy) does not hand NSS something it cannot read.
  runTool(
    'openssl',
    ['pkcs12', '-export', '-inkey', 'sunKey.pem', '-in', 'sunCert.pem', '-certfile', 'caCert.pem', '-name', 'sun', '-out', 'sun.p12', '-passout', 'pass:', '-keypbe', 'AES-256-CBC', '-certpbe', 'AES-256-CBC', '-macalg', 'sha256'],
    dir,
  );
  return { dir, caCert: join(dir, 'caCert.pem'), moonCert: join(dir, 'moonCert.pem'), moonKey: join(dir, 'moonKey.pem'), sunP12: join(dir, 'sun.p12') };
}

/* ------------------------------------------------------------------------- */
/* The two peers                                                             */
/* ------------------------------------------------------------------------- */

function daemonConfig(): string {
  const auth = `    auth: pubkey
    certs: [${D}/moonCert.pem]
    private_keys: [${D}/moonKey.pem]
    cacerts: [${D}/caCert.pem]
    proposals: [${CLASSIC}]
`;
  return `log:
  level: debug
  format: json
control:
  socket: ${SOCK}
data_plane: fake
connections:
  sun:
    local_addrs: ${A}
    remote_addrs: '${B}'
    remote_id: sun.pqike.test
${auth}    children:
      net:
        local_ts: [10.99.1.0/24]
        remote_ts: [10.99.2.0/24]
        esp_proposals: [aes256gcm16]
  rw:
    local_addrs: ${A}
    remote_addrs: '%any'
    local_id: moon.pqike.test
    remote_id: '${SUN_DN}'
${auth}    children:
      net:
        local_ts: [10.99.4.0/24]
        remote_ts: [10.99.3.0/24]
        esp_proposals: [aes256gcm16]
`;
}

const plutoConns: LibreswanConnParams[] = [
  {
    // responder for pqike's `sun`: pqike's identity is its certificate's DN
    name: 'pq',
    authby: 'ecdsa',
    left: B,
    right: A,
    leftId: '@sun.pqike.test',
    rightId: MOON_DN,
    leftSubnet: '10.99.2.0/24',
    rightSubnet: '10.99.1.0/24',
    leftSourceIp: '10.99.2.1',
    ike: 'aes_gcm256-sha2_384;dh31',
    esp: 'aes_gcm256',
    auto: 'add',
    extra: ['leftcert=sun', 'rightca=%same'],
  },
  {
    // initiator towards pqike's `rw` (remote_addrs %any); a second address keeps `sun` from matching
    name: 'topq',
    authby: 'ecdsa',
    left: B2,
    right: A,
    leftId: '%fromcert',
    rightId: '@moon.pqike.test',
    leftSubnet: '10.99.3.0/24',
    rightSubnet: '10.99.4.0/24',
    leftSourceIp: '10.99.3.1',
    ike: 'aes_gcm256-sha2_384;dh31',
    esp: 'aes_gcm256',
    auto: 'add',
    // no revival after the peer's delete (pluto 4.10 re-initiates whack-initiated conns otherwise)
    extra: ['leftcert=sun', 'rightca=%same', 'rekey=no'],
  },
];


function buildScript(cli: string, creds: Credentials): string {
  /** `pqike ARGS` in namespace a. */
  const node = (args: string): string => `ip netns exec a ${shq(process.execPath)} ${shq(cli)} ${args}`;
  const pq = (args: string): string => node(`${args} --socket ${SOCK}`);
  const noStates = (conn: string): string => `! ${whackCmd(pp, '--showstates', 10)} | grep STATE_V2_ESTABLISHED | grep -q '"${conn}"'`;
  const nssSetup = [
    section('nss-import', `certutil -A -d ${NSS} -n pqikeca -t 'CT,,' -i ${shq(creds.caCert)} && pk12util -i ${shq(creds.sunP12)} -d ${NSS} -W '' -K ''`),
    section('nss-list', `certutil -L -d ${NSS} && certutil -K -d ${NSS} && certutil -V -u V -d ${NSS} -n sun`),
  ].join('\n');
  return [
    'set -u -o pipefail',
    'stamp() { echo "@@stamp $1 $(cut -d" " -f1 /proc/uptime)"; }',
    `trap 'cp ${pp.log} $PQIKE_VM_OUT/pluto.log 2>/dev/null' EXIT`,
    'stamp start',
    netnsPairSnippet(),
    `ip -n b addr add ${B2}/24 dev vethb`,
    'ip -n b addr add 10.99.3.1/32 dev lo',
    `mkdir -p ${D}/run && chmod 700 ${D}/run`,
    // our credentials: the key must be 0600 and ours (the host's files are seen through 9p)
    `install -m 0644 ${shq(creds.caCert)} ${shq(creds.moonCert)} ${D}/ && install -m 0600 ${shq(creds.moonKey)} ${D}/`,
    writeFileSnippet(`${D}/pqike.yaml`, daemonConfig()),
    `${node(`daemon -c ${D}/pqike.yaml`)} >$PQIKE_VM_OUT/daemon.log 2>&1 &`,
    plutoStartSnippet({
      ns: 'b',
      conns: plutoConns,
      secrets: [],
      // base: IKE header dumps, the only place pluto 4.10 shows IKE SPIs
      setup: { plutodebug: 'base' },
      nssSetup,
    }),
    waitForSnippet(`[ -S ${SOCK} ]`, 60, 'the pqike daemon did not open its control socket', `cat $PQIKE_VM_OUT/daemon.log; exit 1`),
    'stamp daemons',

    // 1. pqike initiates
    section('up', pq('up sun')),
    'stamp up',
    section('sas-1', pq('list-sas --json')),
    section('status-1', whackCmd(pp, '--status')),
    section('traffic-1', whackCmd(pp, '--trafficstatus')),
    section('xfrm-1', 'ip -n b xfrm state'),
    section('down-1', pq('down sun')),
    waitForSnippet(noStates('pq'), 5, 'pluto still lists "pq" after pqike down', 'break'),
    section('states-1', whackCmd(pp, '--showstates')),
    section('xfrm-1-down', 'ip -n b xfrm state'),
    'stamp down-1',

    // 2. pluto initiates to the responder connection rw
    section('initiate', whackCmd(pp, '--initiate --name topq', 60)),
    'stamp initiated',
    section('sas-2', `${pq('list-sas --json')} | tee ${D}/sas-2.json`),
    section('status-2', whackCmd(pp, '--status')),
    section('traffic-2', whackCmd(pp, '--trafficstatus')),
    section('xfrm-2', 'ip -n b xfrm state'),
    `id=$(sed -n 's/^    "id": \\([0-9]*\\),$/\\1/p' ${D}/sas-2.json | head -1)`,
    section('down-2', pq('down "${id:-none}"')),
    waitForSnippet(noStates('topq'), 5, 'pluto still lists "topq" after pqike down', 'break'),
    section('states-2', whackCmd(pp, '--showstates')),
    section('xfrm-2-down', 'ip -n b xfrm state'),
    section('sas-2-down', pq('list-sas --json')),
    'stamp end',
  ].join('\n');
}

/* ------------------------------------------------------------------------- */
/* Host-side parsing                                                         */
/* ------------------------------------------------------------------------- */

interface ChildJson {
  name: string;
  state: string;
  mode: string;
  spiIn: string;
  spiOut: string;
  encryption: string;
  localTs: string[];
  remoteTs: string[];
}

interface SaJson {
  id: number;
  connection: string;
  role: string;
  state: string;
  remote: string;
  localId: string;
  remoteId: string;
  spiI: string;
  spiR: string;
  suite: string | null;
  keyExchanges: string[];
  children: ChildJson[];
}





const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** How pluto 4.10 names an RFC 7427 ECDSA P-256 / SHA-256 signature it verified. */
const PLUTO_ECDSA = `'P-256 ECDSA with SHA2_256' digital signature`;

/** Auth methods of the AUTH payloads pluto parsed / emitted (its plutodebug=base payload dumps). */
function plutoAuthMethods(log: string): { parsed: string[]; emitted: string[] } {
  const out = { parsed: [] as string[], emitted: [] as string[] };
  for (const m of log.matchAll(/\| \*+(parse|emit) IKEv2 Authentication Payload:\n(?:[^\n]*\n){0,4}?[^\n]*\|    auth method: (\S+)/g)) {
    (m[1] === 'parse' ? out.parsed : out.emitted).push(m[2] as string);
  }
  return out;
}



test('pqike daemon ↔ libreswan 4.10 (pluto + NSS, kernel ESP in a qemu guest) with ECDSA P-256 certificates: both directions', { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
  const skip = await plutoVmPreconditions(['certutil', 'pk12util', 'openssl'], 'apt-get install openssl; ');
  if (skip) {
    t.skip(skip);
    return;
  }
  const started = Date.now();
  const snap = snapshotCli('pqike-lsw-certs');
  let creds: Credentials | undefined;
  let r: VmResult;
  try {
    creds = makeCredentials(snap.cli);
    t.diagnostic(`certificates (pqike pki, openssl pkcs12): ${Date.now() - started} ms`);
    r = await runInVm(buildScript(snap.cli, creds), { timeoutMs: VM_TIMEOUT_MS, memoryMb: 1024, keepDir: true });
  } finally {
    rmSync(snap.dir, { recursive: true, force: true });
    if (creds) rmSync(creds.dir, { recursive: true, force: true });
  }
  const { logs, ctx, get, json } = vmRun(r, t);

  const plutoLog = plutoMessages(logs.pluto);
  const ikeSpiPairs = plutoIkeSpiPairs(logs.pluto);
  const espInXfrm = (name: string): { spi: string; dst: string }[] =>
    parseXfrmState(get(name).text)
      .filter((s) => s.proto === 'esp')
      .map((s) => ({ spi: s.spi.replace(/^0x/, '').padStart(8, '0'), dst: s.dst }));
  for (const l of plutoLog.split('\n')) if (/: "\w+" #\d+: (?:responder|initiator) established/.test(l)) t.diagnostic(`pluto: ${l.replace(/^.*?: "/, '"')}`);

  await t.test('both directions: every AUTH payload is an RFC 7427 Digital Signature (method 14), as pluto parsed and emitted them', () => {
    const m = plutoAuthMethods(logs.pluto);
    assert.deepEqual(m.parsed, ['IKEv2_AUTH_DIGSIG', 'IKEv2_AUTH_DIGSIG'], 'our two AUTH payloads (pq, topq)');
    assert.deepEqual(m.emitted, ['IKEv2_AUTH_DIGSIG', 'IKEv2_AUTH_DIGSIG'], "pluto's two");
    // RFC 7427 §4: both announced SHA2-256/384/512 (pqike Identity too, which pluto ignores)
    assert.match(logs.pluto, /digsig: received and accepted hash algorithm SHA2_256/);
  });

  await t.test('NSS: pluto has the CA and its own key and certificate (PKCS#12 from OpenSSL 3.0)', () => {
    const imp = get('nss-import');
    assert.equal(imp.code, 0, `certutil -A / pk12util -i:\n${imp.text}\n${ctx}`);
    assert.match(imp.text, /PKCS12 IMPORT SUCCESSFUL/);
    const list = get('nss-list');
    assert.equal(list.code, 0, list.text);
    assert.match(list.text, /^pqikeca\s+CT,,\s*$/m);
    assert.match(list.text, /^sun\s+u,u,u\s*$/m);
    assert.match(list.text, /<\s*0> ec\s+[0-9a-f]+\s+sun/, 'an EC private key for sun');
    assert.match(list.text, /certificate is valid/);
  });

  await t.test('1. pqike initiates (its DN as identity): pluto verifies our ECDSA certificate and signature, both sides list the SAs; pqike down removes them', () => {
    const up = get('up');
    assert.equal(up.code, 0, `pqike up sun failed:\n${up.text}\n${ctx}`);
    assert.match(up.text, /connection 'sun' established \(IKE SA #\d+\)/);
    const list = json<SaJson[]>('sas-1');
    assert.equal(list.length, 1, JSON.stringify(list));
    const sa = list[0] as SaJson;
    assert.equal(sa.connection, 'sun');
    assert.equal(sa.role, 'initiator');
    assert.equal(sa.state, 'established');
    assert.equal(sa.remote, `${B}:500`);
    assert.equal(sa.remoteId, 'sun.pqike.test');
    assert.match(sa.localId, /CN=moon\.pqike\.test/);
    assert.equal(sa.suite, 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
    assert.equal(sa.children.length, 1, JSON.stringify(sa.children));
    const child = sa.children[0] as ChildJson;
    assert.equal(child.state, 'installed');
    assert.equal(child.encryption, 'AES_GCM_16-256');
    assert.deepEqual(child.localTs, ['10.99.1.0/24']);
    assert.deepEqual(child.remoteTs, ['10.99.2.0/24']);

    // pluto verified our certificate chain and our ECDSA (RFC 7427) signature
    assert.match(plutoLog, new RegExp(`"pq" #\\d+: responder established IKE SA; authenticated peer ${re(PLUTO_ECDSA)} using peer certificate '${re(MOON_DN)}' issued by CA '${re(CA_DN)}'`), `pluto's verdict\n${ctx}`);
    // what went over the wire (pqike's view): our CERT + CERTREQ + AUTH, pluto's CERT + AUTH
    const msgs = daemonMessages(logs.daemon).filter((m) => m.conn === 'sun' && m.exchange === 'IKE_AUTH');
    const req = msgs.find((m) => m.direction === 'out' && !m.response);
    const resp = msgs.find((m) => m.direction === 'in' && m.response);
    assert.deepEqual(req?.payloads.filter((p) => ['IDi', 'CERT', 'CERTREQ', 'AUTH'].includes(p)), ['IDi', 'CERT', 'CERTREQ', 'AUTH'], JSON.stringify(msgs));
    assert.deepEqual(resp?.payloads.filter((p) => ['IDr', 'CERT', 'AUTH'].includes(p)), ['IDr', 'CERT', 'AUTH'], JSON.stringify(msgs));
    t.diagnostic(`1: pqike's IKE_AUTH request ${String(req?.sizes)} B, pluto's response ${String(resp?.sizes)} B (RFC 7383 fragments)`);

    const status = get('status-1').text;
    const { ike, child: plutoChild } = establishedStates(parsePlutoStates(status), 'pq');
    assert.equal(ike.length, 1, `pluto IKE SAs of "pq":\n${status}`);
    assert.equal(plutoChild.length, 1, `pluto Child SAs of "pq":\n${status}`);
    assert.match(plutoChild[0]?.raw ?? '', new RegExp(`IKE SA #${ike[0]?.serial ?? -1};`));
    assert.ok(ikeSpiPairs.has(`${sa.spiI}_${sa.spiR}`), `IKE SPIs ${sa.spiI}_${sa.spiR} not in pluto's log: ${[...ikeSpiPairs].join(' ')}`);
    const esp = plutoEspSpis(status, plutoChild[0]?.serial ?? -1);
    assert.equal(esp.get(A), child.spiIn, `pluto's outbound SPI = pqike's inbound:\n${status}`);
    assert.equal(esp.get(B), child.spiOut, `pluto's inbound SPI = pqike's outbound:\n${status}`);
    const traffic = parseTrafficStatus(get('traffic-1').text).filter((x) => x.conn === 'pq');
    assert.equal(traffic.length, 1, get('traffic-1').text);
    assert.equal(traffic[0]?.serial, plutoChild[0]?.serial);
    assert.equal(traffic[0]?.id, MOON_DN);
    assert.deepEqual(espInXfrm('xfrm-1').map((s) => `${s.spi}@${s.dst}`).sort(), [`${child.spiIn}@${A}`, `${child.spiOut}@${B}`].sort(), get('xfrm-1').text);

    const down = get('down-1');
    assert.equal(down.code, 0, `pqike down sun failed:\n${down.text}\n${ctx}`);
    assert.match(down.text, new RegExp(`deleted IKE SA\\(s\\) #${sa.id}\\b`));
    assert.deepEqual(parsePlutoStates(get('states-1').text).filter((s) => s.conn === 'pq'), [], 'pluto deleted its SAs too');
    assert.deepEqual(espInXfrm('xfrm-1-down'), [], 'no ESP SAs left in the guest kernel');
  });

  await t.test('2. pluto initiates (its DN as identity) to the pqike responder (local_id = our SAN FQDN): both verify, both sides list it; pqike down <id> removes it', () => {
    const init = get('initiate');
    assert.equal(init.code, 0, `whack --initiate failed:\n${init.text}\n${ctx}`);
    // (pluto names the certificate by the peer's IKE ID here)
    assert.match(init.text, new RegExp(`"topq" #\\d+: initiator established IKE SA; authenticated peer ${re(PLUTO_ECDSA)} using peer certificate '@moon\\.pqike\\.test' issued by CA '${re(CA_DN)}'`));
    assert.match(init.text, /"topq" #\d+: initiator established Child SA using #\d+;.*xfrm=AES_GCM_16_256-NONE/);
    const list = json<SaJson[]>('sas-2');
    assert.equal(list.length, 1, JSON.stringify(list));
    const sa = list[0] as SaJson;
    assert.equal(sa.connection, 'rw');
    assert.equal(sa.role, 'responder');
    assert.equal(sa.state, 'established');
    assert.equal(sa.remote, `${B2}:500`);
    assert.equal(sa.localId, 'moon.pqike.test');
    const msgs = daemonMessages(logs.daemon).filter((m) => m.conn === 'rw' && m.exchange === 'IKE_AUTH');
    const req = msgs.find((m) => m.direction === 'in' && !m.response);
    const resp = msgs.find((m) => m.direction === 'out' && m.response);
    assert.deepEqual(req?.payloads.filter((p) => ['IDi', 'CERT', 'CERTREQ', 'AUTH'].includes(p)), ['IDi', 'CERT', 'CERTREQ', 'AUTH'], JSON.stringify(msgs));
    assert.deepEqual(resp?.payloads.filter((p) => ['IDr', 'CERT', 'AUTH'].includes(p)), ['IDr', 'CERT', 'AUTH'], JSON.stringify(msgs));
    t.diagnostic(`2: pluto's IKE_AUTH request ${String(req?.sizes)} B (RFC 7383 fragments), pqike's response ${String(resp?.sizes)} B`);
    assert.match(sa.remoteId, /CN=sun\.pqike\.test/);
    assert.equal(sa.suite, 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
    const child = sa.children[0];
    assert.ok(child, JSON.stringify(sa));
    assert.equal(child.state, 'installed');
    assert.equal(child.encryption, 'AES_GCM_16-256');
    assert.deepEqual(child.localTs, ['10.99.4.0/24']);
    assert.deepEqual(child.remoteTs, ['10.99.3.0/24']);

    const status = get('status-2').text;
    const { ike, child: plutoChild } = establishedStates(parsePlutoStates(status), 'topq');
    assert.equal(ike.length, 1, status);
    assert.equal(plutoChild.length, 1, status);
    assert.ok(ikeSpiPairs.has(`${sa.spiI}_${sa.spiR}`), `IKE SPIs ${sa.spiI}_${sa.spiR} not in pluto's log: ${[...ikeSpiPairs].join(' ')}`);
    const esp = plutoEspSpis(status, plutoChild[0]?.serial ?? -1);
    assert.equal(esp.get(A), child.spiIn, status);
    assert.equal(esp.get(B2), child.spiOut, status);
    const traffic = parseTrafficStatus(get('traffic-2').text).filter((x) => x.conn === 'topq');
    assert.equal(traffic.length, 1, get('traffic-2').text);
    assert.equal(traffic[0]?.id, '@moon.pqike.test');
    assert.deepEqual(espInXfrm('xfrm-2').map((s) => `${s.spi}@${s.dst}`).sort(), [`${child.spiIn}@${A}`, `${child.spiOut}@${B2}`].sort(), get('xfrm-2').text);

    const down = get('down-2');
    assert.equal(down.code, 0, `pqike down ${sa.id} failed:\n${down.text}\n${ctx}`);
    assert.match(down.text, new RegExp(`deleted IKE SA\\(s\\) #${sa.id}\\b`));
    assert.deepEqual(parsePlutoStates(get('states-2').text).filter((s) => s.conn === 'topq'), [], 'pluto deleted its SAs too');
    assert.deepEqual(espInXfrm('xfrm-2-down'), []);
    assert.deepEqual(json<SaJson[]>('sas-2-down'), []);
  });
  t.diagnostic(`test took ${Date.now() - started} ms`);
});
