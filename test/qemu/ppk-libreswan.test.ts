/**
 * RFC 8784 post-quantum preshared keys: the pqike daemon against Debian's libreswan 4.10 (pluto,
 * kernel ESP) inside one qemu VM (the setup of daemon-libreswan.test.ts: pqike in namespace a,
 * 10.99.0.1; pluto in namespace b, one address per pluto connection). PSK authentication and a
 * classic proposal (aes256gcm16-prfsha384-x25519; pluto `ike=aes_gcm256-sha2_384;dh31`):
 * libreswan 4.10 has no ML-KEM. The PPKs are 32 random octets, written `0x…` on both sides
 * (pqike: `ppk:` in the secrets file; pluto: `@local @remote : PPKS "ppk-id" 0x…` in
 * ipsec.secrets; the PPK_ID on the wire is PPK_ID_FIXED, octet 2, then the id's octets, which is
 * all pluto 4.10 sends and accepts).
 *
 * 1. `pqike up sun` (ppk_id pqike-ppk-1, ppk_required) to pluto's conn "pq" (ppk=insist): pluto
 *    finds the PPK by our PPK_ID, checks our AUTH with it and confirms (PPK_IDENTITY); no
 *    NO_PPK_AUTH is sent (mandatory PPK). Both sides list the SAs, pqike with "ppk".
 * 2. pluto (`whack --initiate`, conn "topq", ppk=propose: PPK_IDENTITY and NO_PPK_AUTH) to the
 *    pqike responder `rw` (ppk_id pqike-ppk-2, ppk_required): we use the PPK and confirm, pluto
 *    takes the confirmation (no "continue without PPK").
 * 3. `pqike up nop` (optional PPK) to pluto's conn "nop" (ppk=no): pluto 4.10 still answers
 *    USE_PPK (it answers it whenever it was sent: it has PPKs, for other connections), so we send
 *    PPK_IDENTITY and NO_PPK_AUTH; pluto ignores the PPK_IDENTITY, verifies NO_PPK_AUTH, and the
 *    IKE SA comes up without a PPK.
 * 4. `pqike up nokey` (optional PPK pqike-ppk-x, which pluto does not have) to pluto's conn
 *    "nokey" (ppk=propose): pluto finds no PPK for the PPK_ID and verifies our NO_PPK_AUTH
 *    instead; up without a PPK, on both sides.
 *
 * In every case the ESP keys pqike derived (its export_keys file) are those in pluto's kernel
 * SAs: with the PPK in SK_d in 1 and 2, without in 3 and 4.
 *
 * The daemon's data plane is the recording fake: no traffic, only the negotiation and both
 * sides' listings. Skips when not root; when the VM cannot be prepared it skips, except with
 * CI=true, where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { which } from '../interop/netns.js';
import { runInVm, shq, type VmResult } from './vm.js';
import { netnsPairSnippet, parseXfrmState, section, waitForSnippet, writeFileSnippet } from './guest.js';
import { establishedStates, guestPlutoPaths, parsePlutoStates, plutoStartSnippet, whackCmd, type LibreswanConnParams } from './libreswan.js';
import { vmRun, plutoVmPreconditions, snapshotCli, plutoEspSpis, plutoMessages, daemonMessages } from './daemon-pluto.js';

const PSK = 'pqike-ppk-libreswan-psk-0123456789';
// A hang guard, not a timing check: about 3× the 116 s the guest takes on these machines.
const VM_TIMEOUT_MS = 360_000;

/** The PPKs (fresh per run): pluto has the first two, pqike all three. */
const PPK1 = `0x${randomBytes(32).toString('hex')}`;
const PPK2 = `0x${randomBytes(32).toString('hex')}`;
const PPKX = `0x${randomBytes(32).toString('hex')}`;

/** Guest paths. */
const D = '/tmp/pqike';
const SOCK = `${D}/run/pqike.sock`;
const pp = guestPlutoPaths({ ns: 'b' });

/** pqike in a; pluto answers on B (pq), B3 (nop), B4 (nokey) and initiates from B2 (topq). */
const A = '10.99.0.1';
const B = '10.99.0.2';
const B2 = '10.99.0.3';
const B3 = '10.99.0.4';
const B4 = '10.99.0.5';

const CLASSIC = 'aes256gcm16-prfsha384-x25519';
const PLUTO_IKE = 'aes_gcm256-sha2_384;dh31';


function daemonConfig(): string {
  const conn = (name: string, remote: string, remoteId: string, ppk: string, localTs: string, remoteTs: string): string => `  ${name}:
    local_addrs: ${A}
    remote_addrs: '${remote}'
    local_id: moon.pqike.test
    remote_id: ${remoteId}
    psk: pluto
${ppk}    proposals: [${CLASSIC}]
    children:
      net:
        local_ts: [${localTs}]
        remote_ts: [${remoteTs}]
        esp_proposals: [aes256gcm16]
`;
  const ppk = (id: string, required: boolean): string => `    ppk_id: ${id}\n    ppk_required: ${required}\n`;
  return `secrets: secrets.yaml
log:
  level: debug
  format: json
control:
  socket: ${SOCK}
data_plane: fake
export_keys: ${D}/keys
connections:
${conn('sun', B, 'sun.pqike.test', ppk('pqike-ppk-1', true), '10.99.1.0/24', '10.99.2.0/24')}${conn('rw', '%any', 'rw.pqike.test', ppk('pqike-ppk-2', true), '10.99.4.0/24', '10.99.3.0/24')}${conn('nop', B3, 'nop.pqike.test', ppk('pqike-ppk-1', false), '10.99.6.0/24', '10.99.5.0/24')}${conn('nokey', B4, 'nokey.pqike.test', ppk('pqike-ppk-x', false), '10.99.8.0/24', '10.99.7.0/24')}`;
}

function daemonSecrets(): string {
  return `psk:\n  pluto: "${PSK}"\nppk:\n  pqike-ppk-1: "${PPK1}"\n  pqike-ppk-2: "${PPK2}"\n  pqike-ppk-x: "${PPKX}"\n`;
}

const plutoConn = (name: string, left: string, leftId: string, leftSubnet: string, rightSubnet: string, ppk: LibreswanConnParams['ppk'], extra?: string[]): LibreswanConnParams => ({
  name,
  left,
  right: A,
  leftId,
  rightId: '@moon.pqike.test',
  leftSubnet,
  rightSubnet,
  ike: PLUTO_IKE,
  esp: 'aes_gcm256',
  auto: 'add',
  ...(ppk ? { ppk } : {}),
  ...(extra ? { extra } : {}),
});

const plutoConns: LibreswanConnParams[] = [
  plutoConn('pq', B, '@sun.pqike.test', '10.99.2.0/24', '10.99.1.0/24', 'insist'),
  // no revival after the peer's delete (pluto 4.10 re-initiates whack-initiated conns otherwise)
  plutoConn('topq', B2, '@rw.pqike.test', '10.99.3.0/24', '10.99.4.0/24', 'propose', ['rekey=no']),
  plutoConn('nop', B3, '@nop.pqike.test', '10.99.5.0/24', '10.99.6.0/24', 'no'),
  plutoConn('nokey', B4, '@nokey.pqike.test', '10.99.7.0/24', '10.99.8.0/24', 'propose'),
];

/**
 * A private copy of dist/src for the guest (see daemon-libreswan.test.ts: a concurrent tsc
 * must not hand the guest half-written modules). Under /var/tmp: the guest has its own /tmp.
 */

function buildScript(cli: string): string {
  const node = (args: string): string => `ip netns exec a ${shq(process.execPath)} ${shq(cli)} ${args}`;
  const pq = (args: string): string => node(`${args} --socket ${SOCK}`);
  const noStates = (conn: string): string => `! ${whackCmd(pp, '--showstates', 10)} | grep STATE_V2_ESTABLISHED | grep -q '"${conn}"'`;
  /** `pqike up NAME`, both listings, `pqike down NAME`, until pluto lists nothing for CONN. */
  const upDown = (n: string, name: string, conn: string): string[] => [
    section(`up-${n}`, pq(`up ${name}`)),
    section(`sas-${n}`, pq('list-sas --json')),
    section(`status-${n}`, whackCmd(pp, '--status')),
    section(`xfrm-${n}`, 'ip -n b xfrm state'),
    section(`down-${n}`, pq(`down ${name}`)),
    waitForSnippet(noStates(conn), 5, `pluto still lists "${conn}" after pqike down`, 'break'),
    section(`states-${n}-down`, whackCmd(pp, '--showstates')),
    `stamp case-${n}`,
  ];
  return [
    'set -u -o pipefail',
    'stamp() { echo "@@stamp $1 $(cut -d" " -f1 /proc/uptime)"; }',
    `trap 'cp ${pp.log} $PQIKE_VM_OUT/pluto.log 2>/dev/null' EXIT`,
    'stamp start',
    netnsPairSnippet(),
    ...[B2, B3, B4].map((b) => `ip -n b addr add ${b}/24 dev vethb`),
    `mkdir -p ${D}/run && chmod 700 ${D}/run`,
    writeFileSnippet(`${D}/secrets.yaml`, daemonSecrets(), '0600'),
    writeFileSnippet(`${D}/pqike.yaml`, daemonConfig()),
    `${node(`daemon -c ${D}/pqike.yaml`)} >$PQIKE_VM_OUT/daemon.log 2>&1 &`,
    plutoStartSnippet({
      ns: 'b',
      conns: plutoConns,
      secrets: [
        ...['@sun', '@rw', '@nop', '@nokey'].map((l) => ({ localId: `${l}.pqike.test`, remoteId: '@moon.pqike.test', psk: PSK })),
        { localId: '@sun.pqike.test', remoteId: '@moon.pqike.test', ppkId: 'pqike-ppk-1', ppk: PPK1 },
        { localId: '@rw.pqike.test', remoteId: '@moon.pqike.test', ppkId: 'pqike-ppk-2', ppk: PPK2 },
      ],
      // base: pluto 4.10 says what it did with the PPK only in debug lines
      setup: { plutodebug: 'base' },
    }),
    waitForSnippet(`[ -S ${SOCK} ]`, 60, 'the pqike daemon did not open its control socket', `cat $PQIKE_VM_OUT/daemon.log; exit 1`),
    'stamp daemons',

    // 1. pqike initiates, PPK mandatory on both sides
    ...upDown('1', 'sun', 'pq'),

    // 2. pluto initiates (ppk=propose) to the responder connection rw (PPK mandatory)
    section('initiate-2', whackCmd(pp, '--initiate --name topq', 60)),
    section('sas-2', `${pq('list-sas --json')} | tee ${D}/sas-2.json`),
    section('status-2', whackCmd(pp, '--status')),
    section('xfrm-2', 'ip -n b xfrm state'),
    `id=$(sed -n 's/^    "id": \\([0-9]*\\),$/\\1/p' ${D}/sas-2.json | head -1)`,
    section('down-2', pq('down "${id:-none}"')),
    waitForSnippet(noStates('topq'), 5, 'pluto still lists "topq" after pqike down', 'break'),
    section('states-2-down', whackCmd(pp, '--showstates')),
    'stamp case-2',

    // 3. optional PPK, pluto conn without PPK
    ...upDown('3', 'nop', 'nop'),
    // 4. optional PPK that pluto does not have: NO_PPK_AUTH
    ...upDown('4', 'nokey', 'nokey'),
    // the ESP keys pqike derived (from SK_d: with the PPK in 1 and 2), to compare with pluto's kernel's
    section('esp-keys', `cat ${D}/keys.esp_sa`),
    'stamp end',
  ].join('\n');
}

interface ChildJson {
  name: string;
  state: string;
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
  ppk?: string;
  children: ChildJson[];
}





/**
 * pluto's log by IKE SA: the lines from the first one naming a state of `"conn"` (`#N`, N > 0)
 * up to the first naming a state of `"next"`. Debug lines carry no
 * state prefix, so a slice of the log is the only way to tie them to an exchange.
 */
function plutoSlice(log: string, conn: string, next?: string): string {
  const lines = log.split('\n');
  const state = (c: string): RegExp => new RegExp(`"${c}" #[1-9]`);
  const start = lines.findIndex((l) => state(conn).test(l));
  if (start < 0) return '';
  const end = next === undefined ? -1 : lines.findIndex((l, i) => i > start && state(next).test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}


test('pqike daemon ↔ libreswan 4.10 (pluto, kernel ESP in a qemu guest): RFC 8784 post-quantum preshared keys, both directions, optional PPK without one', { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
  const skip = await plutoVmPreconditions([], '');
  if (skip) {
    t.skip(skip);
    return;
  }
  const started = Date.now();
  const snap = snapshotCli('pqike-lsw-ppk');
  let r: VmResult;
  try {
    r = await runInVm(buildScript(snap.cli), { timeoutMs: VM_TIMEOUT_MS, memoryMb: 1024, keepDir: true });
  } finally {
    rmSync(snap.dir, { recursive: true, force: true });
  }
  const { logs, ctx, get, json } = vmRun(r, t);

  const plutoLog = plutoMessages(logs.pluto);
  for (const l of plutoLog.split('\n')) if (/: "\w+" #\d+: (?:responder|initiator) established IKE SA/.test(l)) t.diagnostic(`pluto: ${l.replace(/^.*?: "/, '"')}`);
  const msgs = daemonMessages(logs.daemon);
  /** pqike's exported ESP keys (Wireshark esp_sa lines): encryption key (with the GCM salt) by SPI. */
  const espKeys = new Map<string, string>();
  for (const m of get('esp-keys').text.matchAll(/^"IPv4","[^"]+","[^"]+","0x([0-9a-f]{8})","AES-GCM \[RFC4106\]","0x([0-9a-f]+)"/gm)) espKeys.set(m[1] as string, m[2] as string);
  t.diagnostic(`pqike exported ${espKeys.size} ESP keys`);
  /** The payloads of the daemon's IKE_SA_INIT / IKE_AUTH request and response of a connection. */
  const exchange = (conn: string, name: 'IKE_SA_INIT' | 'IKE_AUTH'): { req: string[]; resp: string[] } => {
    const m = msgs.filter((x) => x.conn === conn && x.exchange === name);
    return { req: m.find((x) => !x.response)?.payloads ?? [], resp: m.find((x) => x.response)?.payloads ?? [] };
  };
  const notifies = (payloads: readonly string[]): string[] => payloads.filter((p) => /^N\((?:USE_PPK|PPK_IDENTITY|NO_PPK_AUTH)\)$/.test(p));
  /** One established SA of the connection in a listing, its Child SA installed. */
  const listed = (name: string, conn: string, role: string): SaJson => {
    const list = json<SaJson[]>(name);
    assert.equal(list.length, 1, JSON.stringify(list));
    const sa = list[0] as SaJson;
    assert.equal(sa.connection, conn);
    assert.equal(sa.role, role);
    assert.equal(sa.state, 'established');
    assert.equal(sa.suite, 'AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
    assert.equal(sa.children.length, 1, JSON.stringify(sa.children));
    assert.equal(sa.children[0]?.state, 'installed');
    return sa;
  };
  /** pluto lists one IKE SA and one Child SA of conn, its ESP SPIs pqike's, and none after the delete. */
  const plutoBoth = (n: string, conn: string, sa: SaJson): void => {
    const status = get(`status-${n}`).text;
    const { ike, child } = establishedStates(parsePlutoStates(status), conn);
    assert.equal(ike.length, 1, `pluto IKE SAs of "${conn}":\n${status}`);
    assert.equal(child.length, 1, `pluto Child SAs of "${conn}":\n${status}`);
    const c = sa.children[0] as ChildJson;
    const esp = plutoEspSpis(status, child[0]?.serial ?? -1);
    const peer = sa.remote.replace(/:\d+$/, '');
    assert.equal(esp.get(A), c.spiIn, `pluto's outbound SPI = pqike's inbound:\n${status}`);
    assert.equal(esp.get(peer), c.spiOut, `pluto's inbound SPI = pqike's outbound:\n${status}`);
    const xfrm = parseXfrmState(get(`xfrm-${n}`).text).filter((s) => s.proto === 'esp');
    const spi = (s: { spi: string }): string => s.spi.replace(/^0x/, '').padStart(8, '0');
    assert.deepEqual(xfrm.map((s) => `${spi(s)}@${s.dst}`).sort(), [`${c.spiIn}@${A}`, `${c.spiOut}@${peer}`].sort(), get(`xfrm-${n}`).text);
    // same ESP keys (KEYMAT from SK_d, RFC 7296 §2.17): pqike's export vs pluto's kernel SAs
    for (const x of xfrm) {
      const kernel = /^aead rfc4106\(gcm\(aes\)\) 0x([0-9a-f]+) 128$/.exec(x.algs[0] ?? '')?.[1];
      assert.ok(kernel, JSON.stringify(x));
      assert.equal(espKeys.get(spi(x)), kernel, `ESP key of SPI ${spi(x)}: pqike's export vs pluto's kernel`);
    }
    assert.deepEqual(parsePlutoStates(get(`states-${n}-down`).text).filter((s) => s.conn === conn), [], 'pluto deleted its SAs too');
  };
  const down = (n: string, id: number): void => {
    const d = get(`down-${n}`);
    assert.equal(d.code, 0, `pqike down failed:\n${d.text}\n${ctx}`);
    assert.match(d.text, new RegExp(`deleted IKE SA\\(s\\) #${id}\\b`));
  };

  await t.test('1. pqike initiates with a mandatory PPK to pluto (ppk=insist): pluto uses our PPK_ID\'s PPK and confirms; both list the SA, pqike with "ppk"', () => {
    const up = get('up-1');
    assert.equal(up.code, 0, `pqike up sun failed:\n${up.text}\n${ctx}`);
    assert.match(up.text, /connection 'sun' established \(IKE SA #\d+\)/);
    const sa = listed('sas-1', 'sun', 'initiator');
    assert.equal(sa.remote, `${B}:500`);
    assert.equal(sa.ppk, 'pqike-ppk-1');
    // on the wire (pqike's view): USE_PPK both ways; PPK_IDENTITY without NO_PPK_AUTH (mandatory), confirmed
    const init = exchange('sun', 'IKE_SA_INIT');
    assert.deepEqual(notifies(init.req), ['N(USE_PPK)'], init.req.join(' '));
    assert.deepEqual(notifies(init.resp), ['N(USE_PPK)'], init.resp.join(' '));
    const auth = exchange('sun', 'IKE_AUTH');
    assert.deepEqual(notifies(auth.req), ['N(PPK_IDENTITY)'], auth.req.join(' '));
    assert.deepEqual(notifies(auth.resp), ['N(PPK_IDENTITY)'], auth.resp.join(' '));
    assert.match(logs.daemon, /post-quantum preshared key pqike-ppk-1 mixed into the keys/);
    // pluto: found the PPK by its PPK_ID (type PPK_ID_FIXED), checked our AUTH with it
    const pl = plutoSlice(logs.pluto, 'pq', 'topq');
    assert.match(pl, /\| Unified PPK_ID Payload\n[^\n]*\|   02 70 71 69  6b 65 2d 70  70 6b 2d 31 /, `our PPK_ID as pluto parsed it: 02 (PPK_ID_FIXED) "pqike-ppk-1"\n${ctx}`);
    assert.match(pl, /\| received PPK_ID type: PPK_ID_FIXED\n/);
    assert.match(plutoLog, /"pq" #\d+: PPK AUTH calculated as responder\n[^\n]*"pq" #\d+: responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@moon\.pqike\.test'/, `pluto checked our AUTH with the PPK\n${ctx}`);
    assert.doesNotMatch(pl, /NO_PPK_AUTH|No PPK found|requires a valid PPK|ignored received PPK_IDENTITY/);
    // pluto's confirmation: an empty PPK_IDENTITY (RFC 8784 §3)
    assert.match(pl, /Notify Message Type: v2N_PPK_IDENTITY \(0x4034\)\n(?:[^\n]*next payload chain[^\n]*\n)*[^\n]*emitting length of IKEv2 Notify Payload: 8\n/, 'pluto emitted an empty PPK_IDENTITY');
    plutoBoth('1', 'pq', sa);
    down('1', sa.id);
  });

  await t.test('2. pluto initiates (ppk=propose) to the pqike responder with a mandatory PPK: we use it and confirm, pluto takes the confirmation; both list the SA', () => {
    const init = get('initiate-2');
    assert.equal(init.code, 0, `whack --initiate failed:\n${init.text}\n${ctx}`);
    assert.match(init.text, /"topq" #\d+: initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN '@moon\.pqike\.test'/);
    assert.match(init.text, /"topq" #\d+: initiator established Child SA using #\d+;.*xfrm=AES_GCM_16_256-NONE/);
    const sa = listed('sas-2', 'rw', 'responder');
    assert.equal(sa.remote, `${B2}:500`);
    assert.equal(sa.remoteId, 'rw.pqike.test');
    assert.equal(sa.ppk, 'pqike-ppk-2');
    const ikeInit = exchange('rw', 'IKE_SA_INIT');
    assert.deepEqual(notifies(ikeInit.req), ['N(USE_PPK)'], ikeInit.req.join(' '));
    assert.deepEqual(notifies(ikeInit.resp), ['N(USE_PPK)'], ikeInit.resp.join(' '));
    const auth = exchange('rw', 'IKE_AUTH');
    // ppk=propose: pluto's PPK_IDENTITY and NO_PPK_AUTH; our confirmation
    assert.deepEqual(notifies(auth.req).sort(), ['N(NO_PPK_AUTH)', 'N(PPK_IDENTITY)'], auth.req.join(' '));
    assert.deepEqual(notifies(auth.resp), ['N(PPK_IDENTITY)'], auth.resp.join(' '));
    const pl = plutoSlice(logs.pluto, 'topq', 'nop');
    assert.match(pl, /\| found PPK and PPK_ID for our connection/, `pluto's PPK (by its IDs)\n${ctx}`);
    assert.match(pl, /\| PPK_ID_FIXED: 02\n[^\n]*\n[^\n]*\| PPK_ID: 70 71 69 6b  65 2d 70 70  6b 2d 32\n/, 'pluto sent PPK_ID_FIXED "pqike-ppk-2"');
    assert.match(plutoLog, /"topq" #\d+: PPK AUTH calculated as initiator/);
    assert.match(pl, /matching IKE_AUTH response: SK\{IDr,AUTH,SA,TSi,TSr,N\(PPK_IDENTITY\)\}/, 'pluto got our confirmation');
    assert.doesNotMatch(pl, /continue without PPK|failed to receive PPK confirmation/);
    plutoBoth('2', 'topq', sa);
    down('2', sa.id);
  });

  await t.test('3. optional PPK to a pluto conn without PPK (ppk=no): pluto ignores our PPK_IDENTITY and verifies NO_PPK_AUTH, up without a PPK', () => {
    const up = get('up-3');
    assert.equal(up.code, 0, `pqike up nop failed:\n${up.text}\n${ctx}`);
    const sa = listed('sas-3', 'nop', 'initiator');
    assert.equal(sa.remote, `${B3}:500`);
    assert.equal(sa.ppk, undefined, JSON.stringify(sa));
    // pluto 4.10 answers USE_PPK whenever the initiator sent it, even on a ppk=no connection (it
    // has PPKs: RFC 8784 §3 lets it), so we offer the PPK with NO_PPK_AUTH; it takes the latter.
    const init = exchange('nop', 'IKE_SA_INIT');
    assert.deepEqual(notifies(init.req), ['N(USE_PPK)'], init.req.join(' '));
    assert.deepEqual(notifies(init.resp), ['N(USE_PPK)'], init.resp.join(' '));
    const auth = exchange('nop', 'IKE_AUTH');
    assert.deepEqual(notifies(auth.req), ['N(PPK_IDENTITY)', 'N(NO_PPK_AUTH)'], auth.req.join(' '));
    assert.deepEqual(notifies(auth.resp), [], 'no confirmation: no PPK');
    assert.match(plutoLog, /"nop" #\d+: ignored received PPK_IDENTITY - connection does not require PPK or PPKID not found/);
    const pl = plutoSlice(logs.pluto, 'nop', 'nokey');
    assert.match(pl, /\| NO_PPK_AUTH verified\n/, `pluto's NO_PPK_AUTH check\n${ctx}`);
    assert.match(plutoLog, /"nop" #\d+: responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@moon\.pqike\.test'/);
    plutoBoth('3', 'nop', sa);
    down('3', sa.id);
  });

  await t.test('4. optional PPK that pluto lacks (ppk=propose): pluto verifies our NO_PPK_AUTH instead, up without a PPK on both sides', () => {
    const up = get('up-4');
    assert.equal(up.code, 0, `pqike up nokey failed:\n${up.text}\n${ctx}`);
    const sa = listed('sas-4', 'nokey', 'initiator');
    assert.equal(sa.remote, `${B4}:500`);
    assert.equal(sa.ppk, undefined, JSON.stringify(sa));
    const init = exchange('nokey', 'IKE_SA_INIT');
    assert.deepEqual(notifies(init.req), ['N(USE_PPK)'], init.req.join(' '));
    assert.deepEqual(notifies(init.resp), ['N(USE_PPK)'], init.resp.join(' '));
    const auth = exchange('nokey', 'IKE_AUTH');
    assert.deepEqual(notifies(auth.req), ['N(PPK_IDENTITY)', 'N(NO_PPK_AUTH)'], auth.req.join(' '));
    assert.deepEqual(notifies(auth.resp), [], 'no confirmation: no PPK');
    const pl = plutoSlice(logs.pluto, 'nokey');
    assert.match(pl, /\|   70 71 69 6b  65 2d 70 70  6b 2d 78 +pqike-ppk-x\n[^\n]*\| No PPK found with given PPK_ID\n/, `pluto's PPK lookup\n${ctx}`);
    assert.match(plutoLog, /"nokey" #\d+: ignored received PPK_IDENTITY - connection does not require PPK or PPKID not found/);
    assert.match(pl, /\| NO_PPK_AUTH verified\n/, `pluto's NO_PPK_AUTH check\n${ctx}`);
    assert.match(plutoLog, /"nokey" #\d+: responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@moon\.pqike\.test'/);
    plutoBoth('4', 'nokey', sa);
    down('4', sa.id);
  });

  t.diagnostic(`test took ${Date.now() - started} ms`);
});
