/**
 * Harness self-test for the qemu harness: libreswan (pluto) ↔ strongSwan
 * (charon, kernel-netlink) inside one VM running a stock Debian kernel (with
 * ESP), in two namespaces joined by veth.
 *
 * pluto (namespace a, 10.99.0.1, inner 10.99.1.1) initiates IKEv2 PSK with
 * x25519 + AES-GCM-256 to charon (namespace b, 10.99.0.2, inner 10.99.2.1);
 * a ping goes through the ESP SAs (kernel XFRM counters grow); the Child SA
 * is rekeyed by pluto, then by charon, and the IKE SA by charon; pings go
 * through the new SAs each time.
 *
 * Skips when not root; when the VM cannot be prepared it skips, except with
 * CI=true, where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isRoot, skipOrFail, which } from '../interop/netns.js';
import { findCharon, parseListSas, type SwanctlConnParams } from '../interop/strongswan.js';
import { prepareKernel } from './setup.js';
import { runInVm, type VmResult } from './vm.js';
import {
  charonStartSnippet,
  guestCharonPaths,
  lastSection,
  netnsPairSnippet,
  parseSections,
  parseXfrmState,
  section,
  swanctlCmd,
  waitForSnippet,
  type Section,
  type XfrmSa,
} from './guest.js';
import {
  childSerialsExpr,
  guestPlutoPaths,
  parsePlutoStates,
  parseTrafficStatus,
  plutoStartSnippet,
  whackCmd,
  type LibreswanConnParams,
} from './libreswan.js';

const PSK = 'pqike-qemu-selftest-psk-0123456789abcdef';
// A hang guard, not a timing check: about 3× the 38 s the guest takes on these machines.
const VM_TIMEOUT_MS = 150_000;

async function preconditions(): Promise<string | null> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail('the qemu harness needs x86-64 Linux');
  if (!isRoot()) return skipOrFail('the qemu harness needs root (apt-get, 9p export of /)');
  const problems: string[] = [];
  if (!findCharon()) problems.push('charon missing (strongswan-charon)');
  if (!which('swanctl')) problems.push('swanctl missing (strongswan-swanctl)');
  if (!existsSync('/bin/busybox')) problems.push('/bin/busybox missing (busybox-static)');
  if (problems.length === 0) {
    try {
      await prepareKernel();
    } catch (err) {
      problems.push(`kernel cache: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!which('qemu-system-x86_64')) problems.push('qemu-system-x86_64 missing');
  }
  if (problems.length === 0) return null;
  return skipOrFail(`${problems.join('; ')} (bash scripts/qemu-kernel.sh as root; or run .ci/run)`);
}

const plutoConn: LibreswanConnParams = {
  name: 'ab',
  left: '10.99.0.1',
  right: '10.99.0.2',
  leftId: '@a.pqike.test',
  rightId: '@b.pqike.test',
  leftSubnet: '10.99.1.1/32',
  rightSubnet: '10.99.2.1/32',
  leftSourceIp: '10.99.1.1',
  ike: 'aes_gcm256-sha2_384;dh31',
  esp: 'aes_gcm256',
  auto: 'add',
};

const charonConn: SwanctlConnParams = {
  name: 'ab',
  localAddrs: '10.99.0.2',
  remoteAddrs: '10.99.0.1',
  localId: 'b.pqike.test',
  remoteId: 'a.pqike.test',
  psk: PSK,
  ikeProposals: ['aes256gcm16-prfsha384-x25519'],
  // pluto uses PFS (pfs=yes, the IKE SA's group) when it rekeys the Child SA,
  // so the ESP proposal must carry a group; without it: NO_PROPOSAL_CHOSEN.
  espProposals: ['aes256gcm16-x25519'],
  childName: 'ab',
  localTs: '10.99.2.1/32',
  remoteTs: '10.99.1.1/32',
};

const pp = guestPlutoPaths({ ns: 'a' });
const cp = guestCharonPaths({ ns: 'b' });

/** Ping b's inner address from a's inner address (through the tunnel). */
const PING = 'ip netns exec a /bin/busybox ping -c 3 -i 0.2 -W 3 -I 10.99.1.1 10.99.2.1';

function checkpoint(tag: string): string {
  return [
    section(`ping-${tag}`, PING),
    section(`xfrm-${tag}`, 'ip -n a -s xfrm state'),
    section(`traffic-${tag}`, whackCmd(pp, '--trafficstatus')),
    section(`states-${tag}`, whackCmd(pp, '--showstates')),
    section(`sas-${tag}`, swanctlCmd(cp, '--list-sas --pretty')),
  ].join('');
}

/** Wait (in the guest) until pluto's Child SA serials differ from those saved in $old. */
function waitForNewChild(what: string): string {
  return waitForSnippet(`[ -n "${childSerialsExpr(pp)}" ] && [ "${childSerialsExpr(pp)}" != "$old" ]`, 20, what, 'break');
}

function buildScript(): string {
  return [
    'set -u',
    'stamp() { echo "@@stamp $1 $(cut -d" " -f1 /proc/uptime)"; }',
    'stamp start',
    netnsPairSnippet(),
    plutoStartSnippet({
      ns: 'a',
      conns: [plutoConn],
      secrets: [{ localId: plutoConn.leftId, remoteId: plutoConn.rightId, psk: PSK }],
    }),
    charonStartSnippet({ ns: 'b', conns: [charonConn] }),
    'stamp daemons',
    section('initiate', whackCmd(pp, '--initiate --name ab')),
    'stamp initiated',
    checkpoint('1'),
    // Child SA rekey initiated by pluto
    `old="${childSerialsExpr(pp)}"`,
    section('rekey-pluto', whackCmd(pp, '--rekey-ipsec --name ab --asynchronous')),
    waitForNewChild('pluto did not rekey the Child SA'),
    'sleep 0.5',
    'stamp rekey-pluto',
    checkpoint('2'),
    // Child SA rekey initiated by charon
    `old="${childSerialsExpr(pp)}"`,
    section('rekey-charon', swanctlCmd(cp, '--rekey --child ab')),
    waitForNewChild('charon did not rekey the Child SA'),
    'sleep 0.5',
    'stamp rekey-charon',
    checkpoint('3'),
    // IKE SA rekey initiated by charon
    `oldike="$(${whackCmd(pp, '--showstates', 10)} | grep STATE_V2_ESTABLISHED_IKE_SA)"`,
    section('rekey-ike', swanctlCmd(cp, '--rekey --ike ab')),
    waitForSnippet(
      `${whackCmd(pp, '--showstates', 10)} | grep STATE_V2_ESTABLISHED_IKE_SA | grep -qvF "$oldike"`,
      20,
      'charon did not rekey the IKE SA',
      'break',
    ),
    'sleep 0.5',
    'stamp rekey-ike',
    checkpoint('4'),
    section('pluto-log', `cat ${pp.log}`),
    section('charon-log', `cat ${cp.logPath}`),
    'stamp end',
  ].join('\n');
}

function espSas(sec: Section): XfrmSa[] {
  return parseXfrmState(sec.text).filter((s) => s.proto === 'esp');
}

function describe(r: VmResult): string {
  return `VM: code=${String(r.code)} timedOut=${r.timedOut} ${r.durationMs} ms (boot ${String(r.bootMs)} ms)\n--- output ---\n${r.output || r.console}`;
}

test('qemu harness self-test: libreswan (pluto) ↔ strongSwan (charon, kernel ESP) in a stock Debian kernel', { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
  const skip = await preconditions();
  if (skip) {
    t.skip(skip);
    return;
  }
  const r = await runInVm(buildScript(), { timeoutMs: VM_TIMEOUT_MS, memoryMb: 1024 });
  const stamps = Object.fromEntries([...r.output.matchAll(/^@@stamp (\S+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
  t.diagnostic(`VM ${r.kver}: total ${r.durationMs} ms, boot ${String(r.bootMs)} ms; guest uptime stamps ${JSON.stringify(stamps)}`);
  const ctx = describe(r);
  assert.equal(r.timedOut, false, `VM timed out\n${ctx}`);
  assert.equal(r.code, 0, `guest script failed\n${ctx}`);
  const secs = parseSections(r.output);
  const get = (name: string): Section => lastSection(secs, name);

  // IKE SA + Child SA up
  const init = get('initiate');
  assert.equal(init.code, 0, `whack --initiate failed\n${ctx}`);
  assert.match(init.text, /established Child SA/, ctx);
  assert.match(init.text, /group=DH31/, ctx);

  let prevSpis = new Set<string>();
  for (const tag of ['1', '2', '3', '4']) {
    const ping = get(`ping-${tag}`);
    assert.equal(ping.code, 0, `ping ${tag} through the tunnel failed\n${ping.text}\n${ctx}`);
    assert.match(ping.text, /3 packets received/, `ping ${tag}\n${ctx}`);

    // Exactly one Child SA pair carries the traffic: two ESP SAs with packets.
    const esp = espSas(get(`xfrm-${tag}`));
    const used = esp.filter((s) => (s.packets ?? 0) >= 3);
    assert.equal(used.length, 2, `checkpoint ${tag}: ESP SAs with >= 3 packets: ${JSON.stringify(esp)}\n${ctx}`);
    for (const s of used) {
      assert.ok(s.algs.some((a) => a.startsWith('aead rfc4106(gcm(aes))')), `AES-GCM SA expected: ${JSON.stringify(s)}`);
      assert.equal(s.mode, 'tunnel');
    }
    const spis = new Set(used.map((s) => s.spi));
    if (tag === '2' || tag === '3') {
      for (const spi of spis) assert.ok(!prevSpis.has(spi), `checkpoint ${tag}: SPI ${spi} survived the Child SA rekey\n${ctx}`);
    }
    prevSpis = spis;

    // pluto: one Child SA in traffic status with bytes both ways; an established IKE SA
    const traffic = parseTrafficStatus(get(`traffic-${tag}`).text).filter((x) => x.conn === 'ab' && x.type === 'ESP');
    assert.equal(traffic.length, 1, `checkpoint ${tag}: pluto trafficstatus ${JSON.stringify(traffic)}\n${ctx}`);
    assert.ok((traffic[0]?.inBytes ?? 0) > 0 && (traffic[0]?.outBytes ?? 0) > 0, `checkpoint ${tag}: no ESP bytes in pluto: ${JSON.stringify(traffic)}`);
    const states = parsePlutoStates(get(`states-${tag}`).text);
    assert.ok(states.some((s) => s.state === 'STATE_V2_ESTABLISHED_IKE_SA'), `checkpoint ${tag}: ${JSON.stringify(states)}`);

    // charon: IKE SA with x25519, Child SA installed
    const sas = parseListSas(get(`sas-${tag}`).text);
    const ike = sas.find((s) => s.name === 'ab' && s.state === 'ESTABLISHED');
    assert.ok(ike, `checkpoint ${tag}: charon has no established IKE SA: ${JSON.stringify(sas)}\n${ctx}`);
    assert.equal(ike.raw['dh-group'], 'CURVE_25519');
    assert.ok(ike.children.some((c) => c.name === 'ab' && c.state === 'INSTALLED'), `checkpoint ${tag}: ${JSON.stringify(ike.children)}`);
  }
  // The IKE SA rekey gave a new IKE SA serial in pluto.
  const ike3 = parsePlutoStates(get('states-3').text).filter((s) => s.state === 'STATE_V2_ESTABLISHED_IKE_SA').map((s) => s.serial);
  const ike4 = parsePlutoStates(get('states-4').text).filter((s) => s.state === 'STATE_V2_ESTABLISHED_IKE_SA').map((s) => s.serial);
  assert.ok(ike4.some((n) => !ike3.includes(n)), `IKE SA not rekeyed: ${JSON.stringify({ ike3, ike4 })}\n${ctx}`);
  assert.ok(r.durationMs < 90_000, `self-test took ${r.durationMs} ms`);
});
