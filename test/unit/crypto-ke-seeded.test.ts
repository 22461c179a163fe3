/**
 * The seeded key exchange methods (src/crypto/ke-seeded.ts): each one interoperates with the
 * default method of its ID (same shared secret either way round), and the same byte stream
 * gives the same public values and secrets, while another stream gives others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { keMethod, supportedKeMethods } from '../../src/crypto/ke.js';
import { seededKeMethods } from '../../src/crypto/ke-seeded.js';

/** A counter-mode SHA-256 byte stream: deterministic for a label. */
function stream(label: string): (n: number) => Uint8Array {
  let k = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) out.set(createHash('sha256').update(`${label}/${k++}`).digest().subarray(0, Math.min(32, n - off)), off);
    return out;
  };
}

for (const id of supportedKeMethods()) {
  test(`seeded key exchange method ${id} agrees with the default one in both roles`, () => {
    const seeded = seededKeMethods(stream('a'))(id);
    const plain = keMethod(id);
    const i = seeded.initiate();
    assert.equal(i.publicValue.length, plain.initiatorValueLength);
    const r = plain.respond(i.publicValue);
    // Compared as octets: a native backend hands out Buffers, noble Uint8Arrays.
    assert.deepEqual(Buffer.from(i.finish(r.publicValue)), Buffer.from(r.sharedSecret));
    const i2 = plain.initiate();
    const r2 = seeded.respond(i2.publicValue);
    assert.equal(r2.publicValue.length, plain.responderValueLength);
    assert.deepEqual(Buffer.from(i2.finish(r2.publicValue)), Buffer.from(r2.sharedSecret));
  });

  test(`seeded key exchange method ${id}: one stream, one run; another stream, another run`, () => {
    const run = (label: string): string => {
      const m = seededKeMethods(stream(label))(id);
      const i = m.initiate();
      const r = m.respond(i.publicValue);
      return Buffer.concat([i.publicValue, r.publicValue, r.sharedSecret, i.finish(r.publicValue)]).toString('hex');
    };
    assert.equal(run('x'), run('x'));
    assert.notEqual(run('x'), run('y'));
  });
}
