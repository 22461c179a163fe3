/**
 * The engine's deadline heap (src/engine/timer-heap.ts): due items come out in deadline order,
 * each once, at its latest deadline; what was removed or rescheduled never comes out for its
 * old deadline; and the heap stays within about twice the items scheduled, whatever the churn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TimerHeap } from '../../src/engine/timer-heap.js';

type Op = { readonly kind: 'schedule'; readonly item: number; readonly at: number } | { readonly kind: 'remove'; readonly item: number } | { readonly kind: 'pop'; readonly now: number };

const op = fc.oneof(
  fc.record({ kind: fc.constant('schedule' as const), item: fc.integer({ min: 0, max: 40 }), at: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ kind: fc.constant('remove' as const), item: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 1000 }) }),
);

test('popDue agrees with a plain map of deadlines under any mix of schedule, reschedule, remove and pop; the heap stays within 2 x scheduled + 64', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const heap = new TimerHeap<number>();
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === 'schedule') {
          heap.schedule(o.item, o.at);
          model.set(o.item, o.at);
        } else if (o.kind === 'remove') {
          heap.remove(o.item);
          model.delete(o.item);
        } else {
          const due = [...model].filter(([, at]) => at <= o.now).sort((a, b) => a[1] - b[1]);
          const got = heap.popDue(o.now);
          assert.deepEqual(got.map((i) => model.get(i)), due.map(([, at]) => at), 'in deadline order');
          assert.deepEqual([...got].sort((a, b) => a - b), due.map(([i]) => i).sort((a, b) => a - b), 'exactly the due items');
          for (const i of got) model.delete(i);
        }
        assert.equal(heap.size, model.size);
        assert.ok(heap.entries <= 2 * heap.size + 64, `${heap.entries} entries for ${heap.size} items`);
        const next = model.size === 0 ? undefined : Math.min(...model.values());
        assert.equal(heap.peek(), next);
      }
    }),
    { seed: 9370, numRuns: 300 },
  );
});

test('an item rescheduled 100,000 times, or scheduled and removed as often, leaves the heap small', () => {
  const heap = new TimerHeap<object>();
  const kept = {};
  for (let k = 0; k < 100_000; k++) {
    heap.schedule(kept, 100_000 - k);
    const gone = {};
    heap.schedule(gone, k);
    heap.remove(gone);
  }
  assert.equal(heap.size, 1);
  assert.ok(heap.entries <= 2 + 64, `${heap.entries} entries`);
  assert.deepEqual(heap.popDue(0), []);
  assert.deepEqual(heap.popDue(1), [kept]);
  assert.equal(heap.entries, 0);
});
