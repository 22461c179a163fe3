/**
 * Listings by filter (SaFilter): one IKE SA by its number, the IKE SAs of a connection, all of
 * them — the same entries the full listing has, so that the daemon's rekey and up commands need
 * not list 100k SAs to find one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';

test('describe/list by SA number and by connection: the same entries as the full listing', () => {
  const pair = new EnginePair();
  const first = pair.establish();
  pair.initiate();
  pair.run();
  const all = pair.i.describe(pair.now);
  assert.equal(all.length, 2);
  const second = all.find((l) => l.ike.id !== first.i);
  assert.ok(second);

  assert.deepEqual(pair.i.describe(pair.now, { sa: first.i }), all.filter((l) => l.ike.id === first.i));
  assert.deepEqual(pair.i.describe(pair.now, { sa: second.ike.id }), [second]);
  assert.deepEqual(pair.i.list({ sa: first.i }), pair.i.list().filter((s) => s.id === first.i));
  assert.deepEqual(pair.i.describe(pair.now, { connection: 'moon' }), all);
  assert.deepEqual(pair.i.describe(pair.now, { connection: 'sun' }), []);
  assert.deepEqual(pair.i.describe(pair.now, { sa: first.i, connection: 'sun' }), []);
  assert.deepEqual(pair.i.describe(pair.now, { sa: 9999 }), []);
  assert.deepEqual(pair.r.describe(pair.now, { sa: first.r }).map((l) => l.ike.id), [first.r]);

  // A rekeyed IKE SA is gone under its old number and found under its new one, Child SA and all.
  const spis = all.find((l) => l.ike.id === first.i)?.children.map((c) => c.child.spiIn);
  assert.ok(pair.i.rekeyIke(first.i, pair.now));
  pair.run();
  assert.deepEqual(pair.i.describe(pair.now, { sa: first.i }), []);
  assert.deepEqual(pair.i.list({ sa: first.i }), []);
  const now = pair.i.describe(pair.now, { connection: 'moon' });
  assert.equal(now.length, 2);
  const moved = now.find((l) => l.ike.id !== second.ike.id);
  assert.ok(moved && moved.ike.id > first.i);
  assert.deepEqual(moved.children.map((c) => c.child.spiIn), spis);
  assert.deepEqual(pair.i.describe(pair.now, { sa: moved.ike.id }), [moved]);
});

test('a limit stops the walk: the oldest first, of the connection asked for', () => {
  const pair = new EnginePair();
  const first = pair.establish();
  for (let k = 0; k < 3; k++) pair.initiate();
  pair.run();
  const all = pair.i.list();
  assert.equal(all.length, 4);
  assert.deepEqual(pair.i.list({ connection: 'moon', limit: 1 }), [all[0]]);
  assert.equal(all[0]?.id, first.i);
  assert.deepEqual(pair.i.list({ limit: 2 }), all.slice(0, 2));
  assert.deepEqual(pair.i.list({ connection: 'moon', limit: 10 }), all);
  assert.deepEqual(pair.i.list({ connection: 'sun', limit: 1 }), []);
  assert.deepEqual(pair.i.describe(pair.now, { connection: 'moon', limit: 1 }).map((l) => l.ike.id), [first.i]);
});
