/**
 * Harness self-test: strongSwan charon <-> charon in two network namespaces.
 *
 * Proves that the interop tooling works independently of pqike's engine:
 * namespaces + veth, isolated charon instances (kernel-libipsec), swanctl
 * config generation/loading/initiation/list-sas parsing, traffic through the
 * Child SA, a capture, and a tshark dissection without malformed packets.
 *
 * Skips when not root (or, outside CI, when tools are missing); fails when
 * CI=true and a tool is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cleanupStaleNamespaces,
  nsExec,
  startCapture,
  startInNs,
  withNetnsPair,
  type NetnsPair,
} from './netns.js';
import { Charon, charonSkipReason, type SwanctlConnParams } from './strongswan.js';
import { assertNoMalformed, dissect, findMalformed, summary, truncateCapture } from './tshark.js';

const PSK = 'pqike-selftest-psk-0123456789abcdef';

interface Case {
  readonly label: string;
  readonly ike: string;
  readonly esp: string;
  /** Expected list-sas values on the IKE SA. */
  readonly ikeSa: Readonly<Record<string, string>>;
  /** Expected list-sas values on the Child SA. */
  readonly childSa: Readonly<Record<string, string>>;
  /** Strings the tshark dissection must contain. */
  readonly dissection: readonly string[];
}

const CASES: readonly Case[] = [
  {
    label: 'x25519 + AES-GCM-256 / PRF-HMAC-SHA384, ESP AES-GCM-256',
    ike: 'aes256gcm16-prfsha384-x25519',
    esp: 'aes256gcm16',
    ikeSa: { 'encr-alg': 'AES_GCM_16', 'encr-keysize': '256', 'prf-alg': 'PRF_HMAC_SHA2_384', 'dh-group': 'CURVE_25519' },
    childSa: { 'encr-alg': 'AES_GCM_16', 'encr-keysize': '256', protocol: 'ESP', state: 'INSTALLED' },
    dissection: ['IKE_SA_INIT (34)', 'IKE_AUTH (35)', 'Curve25519', 'Encapsulating Security Payload'],
  },
  {
    label: 'ecp256 + AES-CBC-128 / HMAC-SHA256, ESP AES-CBC-128 / HMAC-SHA256',
    ike: 'aes128-sha256-ecp256',
    esp: 'aes128-sha256',
    ikeSa: {
      'encr-alg': 'AES_CBC',
      'encr-keysize': '128',
      'integ-alg': 'HMAC_SHA2_256_128',
      'prf-alg': 'PRF_HMAC_SHA2_256',
      'dh-group': 'ECP_256',
    },
    childSa: { 'encr-alg': 'AES_CBC', 'encr-keysize': '128', 'integ-alg': 'HMAC_SHA2_256_128', state: 'INSTALLED' },
    dissection: ['IKE_SA_INIT (34)', 'IKE_AUTH (35)', '256-bit random ECP group', 'Encapsulating Security Payload'],
  },
];

/** charon and swanctl plus what the capture checks need. */
function preconditions(): string | null {
  return charonSkipReason(['tshark', 'dumpcap', 'editcap']);
}

function conn(pair: NetnsPair, side: 'a' | 'b', c: Case): SwanctlConnParams {
  const me = side === 'a' ? pair.a : pair.b;
  const peer = side === 'a' ? pair.b : pair.a;
  return {
    name: 'selftest',
    localAddrs: me.addr,
    remoteAddrs: side === 'a' ? peer.addr : '%any',
    localId: `${side}.selftest.pqike.test`,
    remoteId: `${side === 'a' ? 'b' : 'a'}.selftest.pqike.test`,
    psk: PSK,
    ikeProposals: [c.ike],
    espProposals: [c.esp],
    childName: 'net',
    // kernel-libipsec routes need a local address inside the local TS: the lo addresses.
    localTs: `${me.innerAddr ?? me.addr}/32`,
    remoteTs: `${peer.innerAddr ?? peer.addr}/32`,
  };
}

const RECEIVER = `
const d = require('node:dgram').createSocket('udp4');
const t = setTimeout(() => { console.log('timeout'); process.exit(3); }, 5000);
d.on('message', (m, r) => { console.log('got ' + m + ' from ' + r.address); clearTimeout(t); d.close(); });
d.bind(7777, process.argv[1], () => console.log('listening'));
`;
const SENDER = `
const d = require('node:dgram').createSocket('udp4');
d.bind(0, process.argv[1], () => d.send('through-the-tunnel', 7777, process.argv[2], (e) => { if (e) throw e; d.close(); }));
`;

function expectFields(actual: Readonly<Record<string, unknown>>, expected: Readonly<Record<string, string>>, what: string): void {
  for (const [k, v] of Object.entries(expected)) assert.equal(actual[k], v, `${what}: ${k}`);
}

test('interop harness self-test: strongSwan <-> strongSwan in netns', { timeout: 180_000 }, async (t) => {
  const reason = preconditions();
  if (reason) {
    t.skip(reason);
    return;
  }
  const stale = await cleanupStaleNamespaces();
  if (stale.length > 0) t.diagnostic(`removed stale namespaces: ${stale.join(' ')}`);

  for (const c of CASES) {
    await t.test(c.label, { timeout: 90_000 }, async (st) => {
      const work = mkdtempSync(join(tmpdir(), 'pqike-selftest-'));
      const times: Record<string, number> = {};
      let mark = Date.now();
      const lap = (name: string): void => {
        const now = Date.now();
        times[name] = now - mark;
        mark = now;
      };
      const t0 = Date.now();
      let ok = false;
      try {
        await withNetnsPair(async (pair) => {
          lap('netns');
          // IKE and (UDP-encapsulated) ESP only: no ARP / IPv6 ND noise.
          const cap = await startCapture(pair.a.ns, pair.a.ifname, join(work, 'selftest.pcap'), {
            filter: 'udp port 500 or udp port 4500',
          });
          lap('capture-start');
          const [ca, cb] = await Promise.all([
            Charon.start({ ns: pair.a.ns, name: 'a', dir: join(work, 'charon-a') }),
            Charon.start({ ns: pair.b.ns, name: 'b', dir: join(work, 'charon-b') }),
          ]);
          lap('charon-start');
          await cb.loadConfig([conn(pair, 'b', c)]);
          await ca.loadConfig([conn(pair, 'a', c)]);
          lap('load-config');
          await ca.initiate('net', { timeoutMs: 20_000 });
          lap('initiate');
          const saA = await ca.waitForSa('selftest', 10_000, { child: 'net' });
          const saB = await cb.waitForSa('selftest', 10_000, { child: 'net' });
          lap('wait-sa');
          for (const sa of [saA, saB]) {
            expectFields(sa.raw, c.ikeSa, `IKE SA in ${sa === saA ? 'A' : 'B'}`);
            const child = sa.children.find((ch) => ch.name === 'net');
            assert.ok(child, 'child SA net present');
            expectFields(child.raw, c.childSa, `Child SA in ${sa === saA ? 'A' : 'B'}`);
          }
          assert.equal(saA.raw['initiator'], 'yes');
          const text = await ca.listSasText();
          assert.match(text, /selftest: #\d+, ESTABLISHED, IKEv2/);
          assert.match(text, /net: #\d+, reqid \d+, INSTALLED, TUNNEL/);

          // Traffic through the Child SA: UDP from A's lo address to B's, ESP on the veth.
          const innerA = pair.a.innerAddr ?? pair.a.addr;
          const innerB = pair.b.innerAddr ?? pair.b.addr;
          const receiver = await startInNs(pair.b.ns, process.execPath, ['-e', RECEIVER, innerB], {
            readyPattern: /listening/,
          });
          await nsExec(pair.a.ns, process.execPath, ['-e', SENDER, innerA, innerB], { timeoutMs: 10_000 });
          const exit = await receiver.exited;
          assert.equal(exit.code, 0, `receiver: ${receiver.output()}`);
          assert.match(receiver.output(), new RegExp(`got through-the-tunnel from ${innerA.replace(/\./g, '\\.')}`));
          const afterB = await cb.waitForSa('selftest', 5000, { child: 'net' });
          const childB = afterB.children.find((ch) => ch.name === 'net');
          assert.ok(childB && Number(childB.raw['packets-in']) >= 1, 'B counted the ESP packet');
          lap('traffic');

          const res = await cap.stop();
          lap('capture-stop');
          await Promise.all([ca.stop(), cb.stop()]);
          lap('charon-stop');

          const d = await dissect(res.pcapPath);
          lap('dissect');
          st.diagnostic(`captured ${String(res.packets)} packets, dissected ${d.frames} frames`);
          if (d.stderr) st.diagnostic(`tshark stderr: ${d.stderr}`);
          assert.ok(d.frames >= 5, `expected >= 5 frames, got ${d.frames}:\n${await summary(res.pcapPath)}`);
          assertNoMalformed(d.text);
          for (const s of c.dissection) assert.ok(d.text.includes(s), `dissection lacks "${s}":\n${await summary(res.pcapPath)}`);
          // The malformed check must bite: the same capture cut to 90 bytes per packet.
          const cut = await dissect(await truncateCapture(res.pcapPath, join(work, 'truncated.pcap'), 90));
          assert.ok(findMalformed(cut.text).length > 0, 'truncated capture flagged by findMalformed');
          assert.throws(() => assertNoMalformed(cut.text), /tshark reported/);
          lap('dissect-truncated');
        });
        lap('netns-destroy');
        ok = true;
      } finally {
        st.diagnostic(
          `timings ms: ${Object.entries(times)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')} total=${Date.now() - t0}`,
        );
        if (ok) rmSync(work, { recursive: true, force: true });
        else st.diagnostic(`kept logs and capture in ${work}`);
      }
    });
  }
});
