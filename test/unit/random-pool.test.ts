/**
 * The pooled CSPRNG draws (src/crypto/random-pool.ts): each draw its own memory, never the same
 * bytes twice, refills across the pool's end, large draws direct.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytesPooled } from '../../src/crypto/random-pool.js';

test('pooled random draws: own memory, the sizes asked, no repeats across several pool refills, large draws too', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const n = [4, 8, 16, 32, 255][i % 5] ?? 8;
    const d = randomBytesPooled(n);
    assert.equal(d.length, n);
    assert.equal(d.byteOffset, 0);
    assert.equal(d.buffer.byteLength, n, 'a buffer of its own, not a view into the pool');
    if (n >= 8) {
      const h = Buffer.from(d).toString('hex');
      assert.ok(!seen.has(h), 'a draw repeated');
      seen.add(h);
    }
  }
  const big = randomBytesPooled(5000);
  assert.equal(big.length, 5000);
  assert.ok(big.some((b) => b !== 0));
  // Roughly uniform: a 32-octet draw of all zeros or one repeated octet does not happen.
  const d = randomBytesPooled(32);
  assert.ok(new Set(d).size > 8);
});
