/**
 * The key-export formats reproduce, line for line, the Wireshark key tables that came with the
 * strongSwan 6.0.6 recordings (test/vectors/data); the key files are only ever ours (0600, no
 * symlink followed), and a failed write is reported once without throwing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyExportError, KeyExporter, espSaLines, ikeDecryptionLine } from '../../src/daemon/key-export.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import type { ChildSaInfo } from '../../src/engine/types.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/vectors/data/strongswan-6.0.6/psk-x25519-mlkem768');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

test('ikev2_decryption_table lines equal the recorded ones for every key stage', () => {
  const lines = readFileSync(join(DATA, 'ikev2_decryption_table'), 'utf8').trim().split('\n');
  assert.ok(lines.length >= 3);
  for (const line of lines) {
    const [spiI, spiR, ei, er] = line.split(',');
    const ours = ikeDecryptionLine({
      type: 'ike-keys',
      sa: 1,
      stage: 'ike-intermediate',
      local: { address: '192.0.2.1', port: 500 },
      remote: { address: '192.0.2.2', port: 500 },
      spiI: spiI ?? '',
      spiR: spiR ?? '',
      encr: { id: EncrId.AES_GCM_16, keyBits: 256 },
      integ: IntegId.NONE,
      skEi: bytes(ei ?? ''),
      skEr: bytes(er ?? ''),
      skAi: new Uint8Array(0),
      skAr: new Uint8Array(0),
    });
    assert.equal(ours, line);
  }
});

test('esp_sa lines equal the recorded ones (both directions of both Child SAs)', () => {
  const lines = readFileSync(join(DATA, 'esp_sa'), 'utf8').trim().split('\n');
  const field = (l: string, i: number): string => (l.split(',')[i] ?? '').replace(/"/g, '');
  for (let k = 0; k + 1 < lines.length; k += 2) {
    const out = lines[k] ?? '';
    const back = lines[k + 1] ?? '';
    // The recording is moon's view: moon initiated, moon -> sun first.
    const child: ChildSaInfo = {
      name: 'net',
      spiOut: parseInt(field(out, 3), 16),
      spiIn: parseInt(field(back, 3), 16),
      encr: { id: EncrId.AES_GCM_16, keyBits: 256 },
      esn: false,
      mode: 'tunnel',
      localTs: [],
      remoteTs: [],
      keys: { encrI: bytes(field(out, 5).slice(2)), integI: new Uint8Array(0), encrR: bytes(field(back, 5).slice(2)), integR: new Uint8Array(0) },
      initiator: true,
      encap: false,
      keMethods: [],
    };
    assert.deepEqual(espSaLines(child, field(out, 1), field(out, 2)), [out, back]);
  }
});

/** A temp dir, removed after the test. */
function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const KEYS: Extract<EngineEvent, { type: 'ike-keys' }> = {
  type: 'ike-keys',
  sa: 1,
  stage: 'ike-sa-init',
  local: { address: '192.0.2.1', port: 500 },
  remote: { address: '192.0.2.2', port: 500 },
  spiI: '0011223344556677',
  spiR: '8899aabbccddeeff',
  encr: { id: EncrId.AES_GCM_16, keyBits: 256 },
  integ: IntegId.NONE,
  skEi: new Uint8Array(36).fill(1),
  skEr: new Uint8Array(36).fill(2),
  skAi: new Uint8Array(0),
  skAr: new Uint8Array(0),
};

test('key export refuses a symbolic link at the path (and at .esp_sa) and leaves its target alone', (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'target');
  writeFileSync(target, 'precious\n', { mode: 0o600 });
  const path = join(dir, 'keys');
  symlinkSync(target, path);
  assert.throws(() => new KeyExporter(path), (e: unknown) => e instanceof KeyExportError && /is a symbolic link, which is never followed; remove it \(rm /.test(e.message));
  // A dangling link too: nothing may be created through it.
  const dangling = join(dir, 'dangling');
  symlinkSync(join(dir, 'nowhere'), dangling);
  assert.throws(() => new KeyExporter(dangling), KeyExportError);
  assert.equal(existsSync(join(dir, 'nowhere')), false);
  // The .esp_sa file is checked the same way.
  const other = join(dir, 'other');
  symlinkSync(target, `${other}.esp_sa`);
  assert.throws(() => new KeyExporter(other), (e: unknown) => e instanceof KeyExportError && e.message.includes(`${other}.esp_sa is a symbolic link`));
  assert.equal(readFileSync(target, 'utf8'), 'precious\n');
  assert.ok(lstatSync(path).isSymbolicLink());
});

test('key export refuses an existing file others may read (0644), saying to chmod 600 it; accepts it at 0600', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  writeFileSync(path, '', { mode: 0o644 });
  chmodSync(path, 0o644);
  assert.throws(() => new KeyExporter(path), (e: unknown) => e instanceof KeyExportError && e.message === `key file ${path} has mode 0644, so others may read the keys; run chmod 600 ${path} (or remove it) first`);
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.equal(readFileSync(path, 'utf8'), '');
  chmodSync(path, 0o600);
  const k = new KeyExporter(path);
  k.onEvent(KEYS, '192.0.2.1', '192.0.2.2');
  k.close();
  assert.equal(readFileSync(path, 'utf8'), `${ikeDecryptionLine(KEYS) ?? ''}\n`);
});

const ROOT_USER = process.geteuid?.() === 0;

test('key export refuses an existing 0600 file of another user', { skip: ROOT_USER ? false : 'needs root to chown' }, (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  writeFileSync(path, '', { mode: 0o600 });
  chownSync(path, 65534, 65534);
  assert.throws(() => new KeyExporter(path), (e: unknown) => e instanceof KeyExportError && e.message === `key file ${path} belongs to uid 65534, not to this process (uid 0); remove it (rm ${path}) or export to another path`);
});

test('key export refuses an existing 0600 file with a second hard link (the keys would land in the other name too)', (t) => {
  const dir = tempDir(t);
  const other = join(dir, 'somewhere-else');
  writeFileSync(other, '', { mode: 0o600 });
  const path = join(dir, 'keys');
  linkSync(other, path);
  assert.throws(() => new KeyExporter(path), (e: unknown) => e instanceof KeyExportError && e.message === `key file ${path} has 2 hard links, so the keys would also land in another file; remove it (rm ${path}) or export to another path`);
  assert.equal(readFileSync(other, 'utf8'), '');
});

test('key export refuses what is not a regular file (a directory)', (t) => {
  const dir = tempDir(t);
  assert.throws(() => new KeyExporter(dir), (e: unknown) => e instanceof KeyExportError && e.message.includes('is not a regular file'));
});

test('key export creates both files with mode 0600 even with umask 0', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  const old = process.umask(0);
  try {
    new KeyExporter(path).close();
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(`${path}.esp_sa`).mode & 0o777, 0o600);
  // And with a umask that would take the owner's write bit away: still exactly 0600.
  const other = join(dir, 'other');
  const old2 = process.umask(0o277);
  try {
    new KeyExporter(other).close();
  } finally {
    process.umask(old2);
  }
  assert.equal(statSync(other).mode & 0o777, 0o600);
});

test('a failed write is reported once, exporting stops, and nothing throws', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  const failures: string[] = [];
  let writes = 0;
  const k = new KeyExporter(path, {
    onFailure: (m) => failures.push(m),
    write: () => {
      writes++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
  });
  assert.equal(k.active, true);
  for (let i = 0; i < 5; i++) assert.doesNotThrow(() => k.onEvent(KEYS, '192.0.2.1', '192.0.2.2'));
  assert.equal(writes, 1, 'no write after the first failure');
  assert.equal(failures.length, 1);
  assert.equal(failures[0], `key export stopped: cannot write to ${path} (ENOSPC: no space left on device, write); no more keys are exported until a restart`);
  assert.equal(k.active, false);
  // A short write is continued, not dropped.
  const other = join(dir, 'other');
  const short = new KeyExporter(other, { write: (fd, data) => writeSync(fd, data, 0, Math.min(7, data.length)) });
  short.onEvent(KEYS, '192.0.2.1', '192.0.2.2');
  short.close();
  assert.equal(readFileSync(other, 'utf8'), `${ikeDecryptionLine(KEYS) ?? ''}\n`);
});

test('the key stage with the PPK (RFC 9867) gets a comment line before it, which Wireshark skips; the other stages none', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  const ex = new KeyExporter(path);
  ex.onEvent(KEYS, '192.0.2.1', '192.0.2.2');
  ex.onEvent({ ...KEYS, stage: 'ppk', skEi: new Uint8Array(36).fill(3) }, '192.0.2.1', '192.0.2.2');
  ex.close();
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[1], '# IKE SA #1: keys with the post-quantum preshared key mixed in (RFC 9867)');
  assert.ok(lines[0]?.startsWith('0011223344556677,8899aabbccddeeff,0101') && lines[2]?.startsWith('0011223344556677,8899aabbccddeeff,0303'));
});

test('a rekey with a fresh PPK (RFC 9867 §3.2) is marked too: the IKE SA stage, and the esp_sa lines of a Child SA with one', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  const ex = new KeyExporter(path);
  ex.onEvent({ ...KEYS, stage: 'ppk-rekey' }, '192.0.2.1', '192.0.2.2');
  const child: ChildSaInfo = {
    name: 'net', spiOut: 0xc0000001, spiIn: 0xc0000002, encr: { id: EncrId.AES_GCM_16, keyBits: 256 }, esn: false, mode: 'tunnel', localTs: [], remoteTs: [],
    keys: { encrI: new Uint8Array(36).fill(1), integI: new Uint8Array(0), encrR: new Uint8Array(36).fill(2), integR: new Uint8Array(0) }, initiator: true, encap: false, keMethods: [],
  };
  const ends = { local: { address: '192.0.2.1', port: 500 }, remote: { address: '192.0.2.2', port: 500 } };
  ex.onEvent({ type: 'child-up', sa: 1, child, ...ends }, '192.0.2.1', '192.0.2.2');
  ex.onEvent({ type: 'child-up', sa: 1, child: { ...child, spiOut: 0xc0000003, spiIn: 0xc0000004, ppk: 'fresh-ppk' }, ...ends }, '192.0.2.1', '192.0.2.2');
  ex.close();
  const ike = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(ike[0], '# IKE SA #1: keys of a rekey with a fresh post-quantum preshared key (RFC 9867 §3.2)');
  assert.equal(ike.length, 2);
  const esp = readFileSync(`${path}.esp_sa`, 'utf8').trim().split('\n');
  assert.equal(esp.length, 5, esp.join('\n'));
  assert.ok(!esp.slice(0, 2).some((l) => l.startsWith('#')), 'no mark without a PPK');
  assert.equal(esp[2], '# Child SA net: keys with the fresh post-quantum preshared key fresh-ppk (RFC 9867 §3.2)');
});
