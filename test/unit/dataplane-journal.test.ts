/**
 * The recording data plane's journal (for tests) runs inside engine event handlers: a journal
 * that cannot be written (/dev/full: ENOSPC) or opened is reported once and never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingDataPlane } from '../../src/dataplane/fake-plane.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import type { DataPlaneCommand, PolicySpec } from '../../src/engine/dataplane.js';
import { EncrId } from '../../src/wire/constants.js';

const ep = (address: string) => ({ address, port: 500 });
const ts = { localTs: [parseTrafficSelector('10.1.0.0/16')], remoteTs: [parseTrafficSelector('10.2.0.0/16')] };
const addSa = (spi: number): DataPlaneCommand => ({
  op: 'add-sa',
  sa: { connection: 'c', child: 'net', reqid: 7, direction: 'in', spi, src: ep('192.0.2.2'), dst: ep('192.0.2.1'), encap: false, mode: 'tunnel', encr: { id: EncrId.AES_GCM_16, keyBits: 256, key: new Uint8Array(36) }, esn: false, replayWindow: 128, ...ts, limits: {} },
});
const policy: PolicySpec = { connection: 'c', child: 'net', reqid: 7, mode: 'tunnel', local: '192.0.2.1', remote: '192.0.2.2', ...ts };

test('a journal write that fails (ENOSPC on /dev/full) is reported once; the data plane goes on without it', { skip: existsSync('/dev/full') ? false : 'no /dev/full' }, () => {
  const failures: string[] = [];
  const dp = new RecordingDataPlane('/dev/full', (m) => failures.push(m));
  assert.doesNotThrow(() => {
    for (let i = 1; i <= 5; i++) dp.apply(addSa(i * 16));
    dp.apply({ op: 'del-sa', direction: 'in', spi: 16, src: '192.0.2.2', dst: '192.0.2.1', reqid: 7 });
    dp.apply({ op: 'add-trap', policy });
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
    assert.doesNotThrow(() => dp.apply(addSa(16)));
    assert.equal(failures.length, 1);
    assert.match(failures[0] ?? '', /ENOENT/);
    const file = join(dir, 'journal');
    const ok = new RecordingDataPlane(file);
    ok.apply(addSa(32));
    ok.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { op: string }).op), ['add-sa', 'del-sa']);
    assert.ok(!lines.join('').includes('key'), 'no key material in the journal');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
