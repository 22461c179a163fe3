/**
 * `pqike demo --netns`: two daemons in throwaway namespaces, a hybrid tunnel on this host's data
 * plane, ping and TCP through it, ESP counted on the wire — and nothing left afterwards (no
 * namespace, no TUN device, no temporary directory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { interopSkipReason, run } from './netns.js';
import { CLI } from './daemons.js';

const skip = interopSkipReason(['ip', 'busybox']) ?? false;

test('pqike demo --netns: a tunnel between two daemons carries ping and TCP through ESP, then everything is gone', { skip, timeout: 120_000 }, async () => {
  const tmpBefore = readdirSync(tmpdir()).filter((f) => f.startsWith('pqike-demo-'));
  const r = await run(process.execPath, [CLI, 'demo', '--netns'], { allowFail: true, timeoutMs: 100_000 });
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /key exchanges CURVE_25519 \+ ML_KEM_768/);
  assert.match(r.stdout, /ping .*: 5\/5 answered/);
  assert.match(r.stdout, /SHA-256 matches/);
  const m = /ESP packets seen arriving at [\d.]+: (\d+); responder's Child SA counted (\d+) packets/.exec(r.stdout);
  assert.ok(m && Number(m[1]) > 1000 && Number(m[1]) === Number(m[2]), `ESP on the wire = what the responder's SA counted: ${r.stdout}`);
  assert.match(r.stdout, /demo passed/);
  const left = await run('ip', ['netns', 'list']);
  assert.doesNotMatch(left.stdout, /pqike-demo-/, 'namespaces removed');
  assert.deepEqual(readdirSync(tmpdir()).filter((f) => f.startsWith('pqike-demo-')), tmpBefore, 'temporary directory removed');
});

const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

test('pqike demo --netns refuses without root, pointing at npm start (run as nobody through setpriv)', { skip }, async (t) => {
  // A checkout in a private directory (mktemp -d) is not readable by nobody: nothing to run then.
  const readable = await run(AS_NOBODY[0] as string, [...AS_NOBODY.slice(1), 'test', '-r', CLI], { allowFail: true });
  if (readable.code !== 0) {
    t.skip('the checkout is not readable by nobody');
    return;
  }
  const r = await run(AS_NOBODY[0] as string, [...AS_NOBODY.slice(1), process.execPath, CLI, 'demo', '--netns'], { allowFail: true });
  assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /needs root .*npm start/);
});
