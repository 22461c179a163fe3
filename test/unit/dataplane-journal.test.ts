/**
 * The recording data plane's journal (for tests) runs inside engine event handlers: a journal
 * that cannot be written (/dev/full: ENOSPC) or opened is reported once and never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingDataPlane } from '../../src/daemon/dataplane.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import type { ChildSaInfo } from '../../src/engine/types.js';
import { EncrId } from '../../src/wire/constants.js';

const child = (spiIn: number): ChildSaInfo => ({
  name: 'net',
  spiIn,
  spiOut: spiIn + 1,
  encr: { id: EncrId.AES_GCM_16, keyBits: 256 },
  esn: false,
  mode: 'tunnel',
  localTs: [parseTrafficSelector('10.1.0.0/16')],
  remoteTs: [parseTrafficSelector('10.2.0.0/16')],
  keys: { encrI: new Uint8Array(36), integI: new Uint8Array(0), encrR: new Uint8Array(36), integR: new Uint8Array(0) },
  initiator: true,
  encap: false,
  keMethods: [],
});
const ep = (address: string) => ({ address, port: 500 });

test('a journal write that fails (ENOSPC on /dev/full) is reported once; the data plane goes on without it', { skip: existsSync('/dev/full') ? false : 'no /dev/full' }, () => {
  const failures: string[] = [];
  const dp = new RecordingDataPlane('/dev/full', (m) => failures.push(m));
  assert.doesNotThrow(() => {
    for (let i = 1; i <= 5; i++) dp.install('c', child(i * 16), ep('192.0.2.1'), ep('192.0.2.2'));
    dp.remove(child(16));
    dp.trap('c', 'net', ['10.1.0.0/16'], ['10.2.0.0/16']);
    dp.close();
  });
  assert.equal(failures.length, 1, failures.join('\n'));
  assert.match(failures[0] ?? '', /^data plane journal \/dev\/full stopped: ENOSPC: no space left on device/);
  assert.equal(dp.installed().length, 0);
});

test('a journal that cannot be opened is reported once; one that can gets every operation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-journal-'));
  try {
    const failures: string[] = [];
    const dp = new RecordingDataPlane(join(dir, 'no/such/dir/journal'), (m) => failures.push(m));
    assert.doesNotThrow(() => dp.install('c', child(16), ep('192.0.2.1'), ep('192.0.2.2')));
    assert.equal(failures.length, 1);
    assert.match(failures[0] ?? '', /ENOENT/);
    const file = join(dir, 'journal');
    const ok = new RecordingDataPlane(file);
    ok.install('c', child(32), ep('192.0.2.1'), ep('192.0.2.2'));
    ok.close();
    assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { op: string }).op), ['install', 'remove']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
