/**
 * pqike against Debian's strongSwan (charon 5.9.8 with the userspace ESP plugin
 * kernel-libipsec, since this kernel has XFRM but no ESP) in network namespaces, both
 * directions, PSK, x25519 with AES-GCM and ecp256 with AES-CBC + HMAC-SHA2: the IKE SA and the
 * first Child SA come up and `swanctl --list-sas` shows them with the expected algorithms.
 *
 * strongSwan 5.9.8 has no RFC 9370: it cannot run ADDKE. The hybrid-with-fallback case shows
 * pqike offering x25519+mlkem768 first and a classic proposal second, and charon choosing the
 * classic one; nothing here pretends 5.9.8 does more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsExec, startInNs, withNetnsPair } from './netns.js';
import type { NetnsPair } from './netns.js';
import { Charon, charonSkipReason } from './strongswan.js';
import type { IkeSaInfo, SwanctlConnParams } from './strongswan.js';
import { charonPeer } from './pqike-charon.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const PSK = 'pqike-strongswan-interop-psk-0123456789';

interface Case {
  readonly label: string;
  /** What pqike offers (in order). */
  readonly pqikeIke: readonly string[];
  /** What charon accepts. */
  readonly charonIke: string;
  readonly esp: string;
  readonly ikeSa: Readonly<Record<string, string>>;
  readonly childSa: Readonly<Record<string, string>>;
}

const CASES: readonly Case[] = [
  {
    label: 'x25519, AES-GCM-256, PRF-HMAC-SHA384; ESP AES-GCM-256',
    pqikeIke: ['aes256gcm16-prfsha384-x25519'],
    charonIke: 'aes256gcm16-prfsha384-x25519',
    esp: 'aes256gcm16',
    ikeSa: { 'encr-alg': 'AES_GCM_16', 'encr-keysize': '256', 'prf-alg': 'PRF_HMAC_SHA2_384', 'dh-group': 'CURVE_25519' },
    childSa: { 'encr-alg': 'AES_GCM_16', 'encr-keysize': '256', protocol: 'ESP' },
  },
  {
    label: 'ecp256, AES-CBC-128 + HMAC-SHA256; ESP AES-CBC-128 + HMAC-SHA256',
    pqikeIke: ['aes128-sha256-ecp256'],
    charonIke: 'aes128-sha256-ecp256',
    esp: 'aes128-sha256',
    ikeSa: { 'encr-alg': 'AES_CBC', 'encr-keysize': '128', 'integ-alg': 'HMAC_SHA2_256_128', 'prf-alg': 'PRF_HMAC_SHA2_256', 'dh-group': 'ECP_256' },
    childSa: { 'encr-alg': 'AES_CBC', 'encr-keysize': '128', 'integ-alg': 'HMAC_SHA2_256_128' },
  },
  {
    label: 'hybrid offer with classic fallback (strongSwan 5.9.8 has no ADDKE and picks the second proposal)',
    pqikeIke: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'],
    charonIke: 'aes256gcm16-prfsha384-x25519',
    esp: 'aes256gcm16',
    ikeSa: { 'encr-alg': 'AES_GCM_16', 'dh-group': 'CURVE_25519' },
    childSa: { 'encr-alg': 'AES_GCM_16' },
  },
];


const skip = charonSkipReason();

function charonConn(pair: NetnsPair, c: Case, charonInitiates: boolean): SwanctlConnParams {
  // charon lives in namespace B: ID sun, inner network 10.99.2.0/24.
  return charonPeer(pair, PSK, {
    ikeProposals: [c.charonIke],
    espProposals: [c.esp],
    localTs: '10.99.2.0/24',
    remoteTs: '10.99.1.0/24',
    initiator: false,
    fragmentation: 'yes',
    ...(charonInitiates ? {} : {}),
  });
}

function pqikeArgs(pair: NetnsPair, c: Case, pskFile: string): string[] {
  return [
    '--local', pair.a.addr, '--local-id', 'moon.pqike.test', '--remote-id', 'sun.pqike.test',
    '--psk-file', pskFile, ...c.pqikeIke.flatMap((p) => ['--ike', p]), '--esp', c.esp,
    '--local-ts', '10.99.1.0/24', '--remote-ts', '10.99.2.0/24', '--json',
  ];
}

function checkCharonSa(sa: IkeSaInfo, c: Case, pqikeInitiated: boolean): void {
  for (const [k, v] of Object.entries(c.ikeSa)) assert.equal(sa.raw[k], v, `IKE SA ${k}`);
  assert.equal(sa.raw['initiator'] === 'yes', !pqikeInitiated, 'charon role');
  const child = sa.children.find((ch) => ch.name === 'net');
  assert.ok(child, 'Child SA net listed by swanctl');
  assert.equal(child.state, 'INSTALLED');
  for (const [k, v] of Object.entries(c.childSa)) assert.equal(child.raw[k], v, `Child SA ${k}`);
}

async function withCharon(fn: (pair: NetnsPair, charon: Charon, pskFile: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-ss-'));
  const pskFile = join(dir, 'psk');
  writeFileSync(pskFile, PSK, { mode: 0o600 });
  try {
    await withNetnsPair(async (pair) => {
      const charon = await Charon.start({ ns: pair.b.ns, name: 'sun', removeDirOnStop: true });
      try {
        await fn(pair, charon, pskFile);
      } finally {
        await charon.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const c of CASES) {
  test(`pqike initiates to strongSwan: ${c.label}`, { skip: skip ?? false }, async () => {
    await withCharon(async (pair, charon, pskFile) => {
      await charon.loadConfig([charonConn(pair, c, false)]);
      const r = await nsExec(pair.a.ns, process.execPath, [CLI, 'initiate', '--remote', pair.b.addr, '--timeout', '20s', ...pqikeArgs(pair, c, pskFile)], {
        allowFail: true,
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 0, `pqike initiate failed:\n${r.stdout}\n${r.stderr}\n${charon.logTail()}`);
      assert.match(r.stdout, /"type":"child-up"/);
      const sa = await charon.waitForSa('pq', 10_000, { child: 'net' });
      checkCharonSa(sa, c, true);
    });
  });

  test(`strongSwan initiates to pqike: ${c.label}`, { skip: skip ?? false }, async () => {
    await withCharon(async (pair, charon, pskFile) => {
      // For this direction charon offers what pqike's first proposal allows or the classic one.
      const responder = await startInNs(pair.a.ns, process.execPath, [CLI, 'respond', '--remote', pair.b.addr, '--count', '1', ...pqikeArgs(pair, c, pskFile)], {
        readyPattern: /"listening"/,
      });
      const conn = { ...charonConn(pair, c, true) };
      await charon.loadConfig([conn]);
      await charon.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
      const sa = await charon.waitForSa('pq', 10_000, { child: 'net' });
      checkCharonSa(sa, c, false);
      const exit = await Promise.race([responder.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
      assert.ok(exit && exit.code === 0, `pqike responder did not finish cleanly:\n${responder.output()}`);
      assert.match(responder.output(), /"type":"ike-up"/);
      assert.match(responder.output(), /"type":"child-up"/);
    });
  });
}
