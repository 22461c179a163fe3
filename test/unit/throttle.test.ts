/** Errors that repeat in a flood are logged once, then at most once per interval, with a count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throttled } from '../../src/daemon/throttle.js';

test('throttled(): the first message, then one per interval with the number left out', () => {
  let now = 0;
  const out: string[] = [];
  const log = throttled((m) => out.push(m), 60_000, () => now);
  for (let i = 0; i < 1000; i++) log(`accept EMFILE ${i}`);
  assert.deepEqual(out, ['accept EMFILE 0']);
  now = 59_999;
  log('accept EMFILE late');
  assert.equal(out.length, 1);
  now = 60_000;
  log('accept EMFILE again');
  assert.deepEqual(out, ['accept EMFILE 0', 'accept EMFILE again (1000 more since the last one not logged)']);
  now = 200_000;
  log('once more');
  assert.equal(out.at(-1), 'once more');
});
