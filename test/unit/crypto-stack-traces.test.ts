// src/crypto/util.ts withoutStackTraces / rawPublicKey: node:crypto key imports run with V8's
// stack traces off (Node 24 type-checks key inputs by catching exceptions); the process's own
// limit must come back whatever the import does, and the imported key must be the peer's
// (both sides' agreement for every method: crypto-ke.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffieHellman, generateKeyPairSync } from 'node:crypto';
import { rawPublicKey, withoutStackTraces } from '../../src/crypto/util.js';

test('withoutStackTraces: stack traces are off inside, and the limit comes back after a return and after a throw', () => {
  const before = Error.stackTraceLimit;
  assert.equal(withoutStackTraces(() => Error.stackTraceLimit), 0);
  assert.equal(Error.stackTraceLimit, before);
  assert.throws(() => withoutStackTraces(() => {
    throw new RangeError('inside');
  }), (e: unknown) => e instanceof RangeError && e.message === 'inside');
  assert.equal(Error.stackTraceLimit, before);
});

test('rawPublicKey: the KeyObject of a raw X25519 value agrees with the key it came from (where this Node has raw keys)', (t) => {
  const a = generateKeyPairSync('x25519');
  const b = generateKeyPairSync('x25519');
  const spki = b.publicKey.export({ format: 'der', type: 'spki' });
  let imported;
  try {
    imported = rawPublicKey(spki.subarray(spki.length - 32), 'x25519');
  } catch {
    t.skip(`Node ${process.versions.node} has no 'raw-public' key format`);
    return;
  }
  assert.deepEqual(diffieHellman({ privateKey: a.privateKey, publicKey: imported }), diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey }));
});

test('withoutStackTraces: where Error.stackTraceLimit cannot be written, f still runs and its result comes back', () => {
  const own = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit');
  assert.ok(own);
  Object.defineProperty(Error, 'stackTraceLimit', { ...own, writable: false });
  try {
    assert.equal(withoutStackTraces(() => 42), 42);
    assert.equal(Error.stackTraceLimit, own.value);
  } finally {
    Object.defineProperty(Error, 'stackTraceLimit', own);
  }
});
