/**
 * The admission queue's order and bounds (src/engine/admission-queue.ts): lowest rank first,
 * oldest first among equals; never more than its capacity; when full, a newcomer of a better
 * rank takes the place of the newest of the worst rank and anything else is dropped; a
 * refreshed entry (a retransmission) keeps its place; the count per address follows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdmissionQueue } from '../../src/engine/admission-queue.js';

test('shift() gives the lowest rank first and the oldest first among equals; a refreshed entry keeps its place; queuedFrom() counts per address', () => {
  const q = new AdmissionQueue<string>(10);
  for (const [key, rank] of [['a', 2], ['b', 0], ['c', 2], ['d', 1], ['e', 0]] as const) q.push({ key, address: key === 'c' ? 'a' : key, rank, item: key });
  assert.equal(q.refresh('a', 'a again'), true);
  assert.equal(q.refresh('zz', 'none'), false);
  assert.equal(q.size, 5);
  assert.equal(q.queuedFrom('a'), 2);
  assert.deepEqual(Array.from({ length: 6 }, () => q.shift()?.item), ['b', 'e', 'd', 'a again', 'c', undefined]);
  assert.equal(q.queuedFrom('a'), 0);
});

test('at capacity: a better-ranked newcomer replaces the newest of the worst rank; an equal or worse one is dropped; wouldTake() says which beforehand', () => {
  const q = new AdmissionQueue<string>(3);
  for (const [key, rank] of [['x1', 3], ['x2', 3], ['y', 1]] as const) assert.equal(q.push({ key, address: key[0] ?? '', rank, item: key }), true);
  assert.equal(q.wouldTake(3), false);
  assert.equal(q.push({ key: 'x3', address: 'x', rank: 3, item: 'x3' }), false);
  assert.equal(q.wouldTake(2), true);
  assert.equal(q.push({ key: 'z', address: 'z', rank: 0, item: 'z' }), true);
  assert.equal(q.queuedFrom('x'), 1, 'x2 made room');
  assert.equal(q.size, 3);
  assert.equal(q.dropped, 2);
  assert.deepEqual([q.shift()?.key, q.shift()?.key, q.shift()?.key], ['z', 'y', 'x1']);
});

test('against a model: size never exceeds capacity, and every shift() returns the best-ranked oldest entry', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.oneof(fc.record({ key: fc.integer({ min: 0, max: 20 }), rank: fc.integer({ min: 0, max: 20 }) }), fc.constant('shift' as const)), { maxLength: 200 }),
      (capacity, ops) => {
        const q = new AdmissionQueue<number>(capacity);
        let model: { key: string; address: string; rank: number; seq: number }[] = [];
        let seq = 0;
        const clamp = (r: number): number => Math.min(15, r);
        for (const o of ops) {
          if (o === 'shift') {
            const best = [...model].sort((a, b) => a.rank - b.rank || a.seq - b.seq)[0];
            assert.equal(q.shift()?.key, best?.key);
            model = model.filter((m) => m !== best);
          } else {
            const key = String(o.key);
            const address = String(o.key % 3);
            model = model.filter((m) => m.key !== key);
            const rank = clamp(o.rank);
            const taken = q.push({ key, address, rank: o.rank, item: o.key });
            if (model.length < capacity) {
              assert.equal(taken, true);
              model.push({ key, address, rank, seq: seq++ });
            } else {
              const worst = [...model].sort((a, b) => b.rank - a.rank || b.seq - a.seq)[0];
              assert.equal(taken, worst !== undefined && rank < worst.rank);
              if (taken) model = [...model.filter((m) => m !== worst), { key, address, rank, seq: seq++ }];
            }
          }
          assert.equal(q.size, model.length);
          for (const a of ['0', '1', '2']) assert.equal(q.queuedFrom(a), model.filter((m) => m.address === a).length);
          assert.ok(q.size <= capacity);
        }
      },
    ),
    { seed: 8019, numRuns: 500 },
  );
});
