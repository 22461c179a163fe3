// The snapshot clone of test/fuzz/clone.ts: what it copies, what it shares, and that a clone
// of an engine is independent of the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { deepClone, reachable } from './clone.js';
import { EnginePair } from '../helpers/engine-pair.js';
import { sasOf } from '../helpers/engine-wire.js';

class Point {
  constructor(
    public x: number,
    public tags: string[],
  ) {}
  get sum(): number {
    return this.x + this.tags.length;
  }
}

test('prototypes, Maps, Sets, arrays and cycles are copied; bytes, key objects and functions shared', () => {
  const bytes = Uint8Array.of(1, 2, 3);
  const { publicKey } = generateKeyPairSync('x25519');
  const fn = (): number => 1;
  const p = new Point(1, ['a']);
  const o: Record<string, unknown> = { p, m: new Map<object, unknown>([[p, bytes]]), s: new Set([p]), fn, bytes, key: publicKey, frozen: Object.freeze({ a: 1 }) };
  o['self'] = o;
  const c = deepClone(o);
  assert.notEqual(c, o);
  assert.equal(c['self'], c, 'cycle kept');
  const cp = c['p'] as Point;
  assert.ok(cp instanceof Point && cp !== p && cp.sum === 2, 'class instance copied with its prototype');
  assert.notEqual(cp.tags, p.tags);
  const m = c['m'] as Map<object, unknown>;
  assert.ok(m !== o['m'] && m.get(cp) === bytes, 'Map copied, keys mapped to their copies, values shared bytes');
  assert.ok((c['s'] as Set<object>).has(cp));
  assert.equal(c['fn'], fn);
  assert.equal(c['bytes'], bytes);
  assert.equal(c['key'], publicKey);
  assert.equal(c['frozen'], o['frozen']);
  cp.tags.push('b');
  assert.deepEqual(p.tags, ['a'], 'the original is untouched');
});

test('WeakMap entries whose keys are reachable come along; `shared` objects are not copied', () => {
  const a = { name: 'a' };
  const b = { name: 'b' };
  const wm = new WeakMap<object, { v: number }>([[a, { v: 1 }]]);
  const config = { text: 'read only' };
  const o = { a, wm, config, later: [b] };
  wm.set(b, { v: 2 });
  const memo = new Map<object, unknown>();
  const c = deepClone(o, { shared: reachable(config), memo });
  const ca = memo.get(a) as object;
  const cb = memo.get(b) as object;
  assert.deepEqual(c.wm.get(ca), { v: 1 });
  assert.deepEqual(c.wm.get(cb), { v: 2 });
  assert.notEqual(c.wm.get(ca), wm.get(a));
  assert.equal(c.wm.get(a), undefined, 'the copy is keyed by the copies');
  assert.equal(c.config, config);
});

test('a clone of an engine runs on its own: the original does not see what the clone did', () => {
  const pair = new EnginePair();
  pair.initiate();
  pair.run();
  const r = pair.r;
  const before = r.resources();
  const copy = deepClone(r, { shared: reachable(r.connections()) });
  const sa = sasOf(copy)[0];
  assert.ok(sa);
  sa.fail('test');
  assert.equal(sasOf(copy).length, 0);
  assert.equal(sasOf(r).length, 1, 'the original still has its SA');
  assert.deepEqual(r.resources(), before);
  assert.equal(sasOf(r)[0]?.state, 'established');
});
