/**
 * `pqike initiate|respond` options are checked like the configuration file's settings: the
 * --psk-file key needs 16 octets (RFC 7296 §2.15), --fragment-size the range of fragment_size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, connectionFromArgs } from '../../src/cli/connection-args.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const ADVICE = 'use at least 16 octets, better 32 random ones, e.g. openssl rand -base64 33';

/** A PSK file with `content`, removed after the test. */
function pskFile(t: { after: (fn: () => void) => void }, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-args-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'psk');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

test('--psk-file: a key shorter than 16 octets is refused (the trailing newline does not count); 16 are enough', (t) => {
  for (const [content, octets] of [['x', 1], ['x\n', 1], ['', 0], ['fifteen-octets!\n', 15]] as const) {
    const file = pskFile(t, content);
    assert.throws(
      () => connectionFromArgs('cli', { local: '127.0.0.1', remote: '127.0.0.1', 'psk-file': file }, 'initiator'),
      (e: unknown) => e instanceof UsageError && e.message.startsWith(`--psk-file ${file}: the key is ${octets} octet`) && e.message.includes('RFC 7296 §2.15') && e.message.endsWith(ADVICE),
    );
  }
  const ok = connectionFromArgs('cli', { local: '127.0.0.1', remote: '127.0.0.1', 'psk-file': pskFile(t, 'sixteen-octets!!\n') }, 'initiator');
  assert.equal(Buffer.from(ok.psk ?? '').toString(), 'sixteen-octets!!');
});

test('--fragment-size takes 576..65535 only, as fragment_size does', (t) => {
  const file = pskFile(t, 'a-long-random-test-key-0123456789');
  const args = (size: string) => ({ local: '127.0.0.1', remote: '127.0.0.1', 'psk-file': file, 'fragment-size': size });
  for (const bad of ['100', '0', '60', '-5', '575', '65536', '1280x', '', '1e3', '12.5']) {
    assert.throws(
      () => connectionFromArgs('cli', args(bad), 'initiator'),
      (e: unknown) => e instanceof UsageError && e.message === `--fragment-size ${bad}: write a datagram size between 576 and 65535 (1280 fits IPv6 and IPv4 paths)`,
      `--fragment-size ${bad}`,
    );
  }
  for (const good of ['576', '1280', '65535']) assert.equal(connectionFromArgs('cli', args(good), 'responder').fragmentSize, Number(good));
});

test('pqike initiate/respond/demo with a bad --fragment-size or a short PSK exit 2 with the reason, before sending anything', (t) => {
  const good = pskFile(t, 'a-long-random-test-key-0123456789');
  const short = pskFile(t, 'x');
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  const base = ['--local', '127.0.0.1', '--remote', '127.0.0.1', '--port', '0', '--timeout', '1s'];
  for (const [cmd, size] of [['initiate', '100'], ['respond', '0'], ['initiate', '-5']] as const) {
    const r = run([cmd, ...base, '--psk-file', good, `--fragment-size=${size}`]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `pqike: --fragment-size ${size}: write a datagram size between 576 and 65535 (1280 fits IPv6 and IPv4 paths)\n`);
  }
  const demo = run(['demo', '--fragment-size', '60']);
  assert.equal(demo.status, 2, demo.stderr);
  assert.match(demo.stderr, /--fragment-size 60: write a datagram size between 576 and 65535/);
  const r = run(['respond', ...base, '--psk-file', short]);
  assert.equal(r.status, 2, r.stderr);
  assert.ok(r.stderr.startsWith(`pqike: --psk-file ${short}: the key is 1 octet long`), r.stderr);
});

test('pqike demo --certs ml-dsa-65: certificates of a throwaway ML-DSA CA instead of the PSK, fragmented IKE_AUTH, exit 0; an unknown type is a usage error', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  const ok = run(['demo', '--certs', 'ml-dsa-65', '--no-rekey']);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  assert.match(ok.stdout, /authentication: ML-DSA-65 certificate "C=CH, O=pqike, CN=moon\.pqike\.test" <-> ML-DSA-65 certificate "C=CH, O=pqike, CN=sun\.pqike\.test"/);
  assert.match(ok.stdout, /IKE_AUTH +request +#2 +\d+ B in \d+ fragments .*CERT/);
  assert.match(ok.stdout, /Child SA keys agree on both sides: yes/);
  const bad = run(['demo', '--certs', 'dsa']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--certs: write one of ecdsa-p256/);
});

test('pqike demo --ppk: a post-quantum preshared key mixed into the keys on both sides in IKE_INTERMEDIATE (RFC 9867), a fresh one in the rekeys, exit 0', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  const ok = run(['demo', '--ppk']);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  assert.match(ok.stdout, /IKE_SA_INIT +response #0 .*N\(USE_PPK_INT\) \]/);
  assert.match(ok.stdout, /IKE_INTERMEDIATE request +#1 .*KE\(ML_KEM_768\) N\(PPK_IDENTITY_KEY\)/);
  assert.match(ok.stdout, /IKE_INTERMEDIATE response #1 .*KE\(ML_KEM_768\) N\(PPK_IDENTITY\)/);
  assert.doesNotMatch(ok.stdout, /IKE_AUTH .*PPK/);
  assert.match(ok.stdout, /and the post-quantum preshared key 'pqike-demo-ppk' \(RFC 9867, in IKE_INTERMEDIATE: IKE_AUTH was protected by it; responder: the same\)/);
  // The rekeys take the second, fresh PPK (RFC 9867 §3.2).
  assert.match(ok.stdout, /CREATE_CHILD_SA +request +#\d+ .*N\(PPK_IDENTITY_KEY\)/);
  assert.match(ok.stdout, /CREATE_CHILD_SA +response +#\d+ .*N\(PPK_IDENTITY\)/);
  assert.match(ok.stdout, /and the fresh PPK 'pqike-demo-fresh-ppk' \(RFC 9867 §3\.2: SK_d' = prf\+\(PPK, SK_d\)\); both sides agree: yes/);
  assert.match(ok.stdout, /key exchanges of the new IKE SA: .* and the fresh PPK 'pqike-demo-fresh-ppk' \(RFC 9867 §3\.2\); same SPIs on both sides: yes/);
});

test('pqike demo --json: one JSON object with every message (names, not numbers) and each step, exit 0; --json with --netns is a usage error', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  const ok = run(['demo', '--json', '--no-rekey']);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  const r = JSON.parse(ok.stdout) as { ok: boolean; messages: { exchange: string; payloads: string[] }[]; steps: { step: string; keyExchanges: string[]; childKeysAgree: boolean }[] };
  assert.equal(r.ok, true);
  assert.deepEqual(r.messages.map((m) => m.exchange), ['IKE_SA_INIT', 'IKE_SA_INIT', 'IKE_INTERMEDIATE', 'IKE_INTERMEDIATE', 'IKE_AUTH', 'IKE_AUTH']);
  assert.ok(r.messages[2]?.payloads.includes('KE(ML_KEM_768)'));
  assert.deepEqual(r.steps.map((s) => s.step), ['ike-sa-and-child-sa']);
  assert.deepEqual(r.steps[0]?.keyExchanges, ['CURVE_25519', 'ML_KEM_768']);
  assert.equal(r.steps[0]?.childKeysAgree, true);
  const both = run(['demo', '--json', '--netns']);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--json: not with --netns/);
});
