// Property-based tests of src/wire with fast-check: decoders are total (only ParseError, for
// any input) and valid messages round-trip. Fixed seed by default (printed); override with
// PQIKE_FC_SEED=<int>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ParseError,
  PayloadType,
  decodeMessage,
  decodePayloads,
  encodeMessage,
  encodePayloads,
  type IkeMessage,
} from '../../src/wire/index.js';
import { message, payloadChain, seed } from './wire-arbitraries.js';
import { ikeMessages } from '../helpers/pcap.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function capturePath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const rel = 'strongswan-6.0.6/psk-x25519-mlkem768-mlkem1024/capture.pcap';
  const candidates = [
    resolve(here, '../vectors/data', rel),
    resolve(here, '../../../test/vectors/data', rel),
    resolve('/work/shared/vectors', rel),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`capture not found in ${candidates.join(', ')}`);
  return found;
}

console.log(`# wire-fuzz: fast-check seed ${seed} (set PQIKE_FC_SEED to override)`);

const params = (numRuns: number): fc.Parameters<unknown> => ({ seed, numRuns, endOnFailure: true });

/** Runs `fn`; returns its result, or undefined if it threw a ParseError; rethrows anything else. */
function onlyParseError<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ParseError) return undefined;
    throw e;
  }
}

/** A decoded message must re-encode and decode to the same value (idempotence). */
function checkStable(m: IkeMessage): void {
  const again = encodeMessage(m.header, m.payloads);
  assert.deepEqual(decodeMessage(again), m);
}

test('random bytes: decodeMessage / decodePayloads throw only ParseError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 }), (bytes, first) => {
      const m = onlyParseError(() => decodeMessage(bytes));
      if (m) checkStable(m);
      onlyParseError(() => decodePayloads(first, bytes));
      onlyParseError(() => decodePayloads(first, bytes, { inner: true }));
    }),
    params(20000),
  );
});

test('random bytes behind a valid header (length fixed up): only ParseError', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 28, maxLength: 28 }),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 300 }),
      (hdr, next, body) => {
        const b = new Uint8Array(28 + body.length);
        b.set(hdr);
        b.set(body, 28);
        b[16] = next;
        b[17] = 0x20;
        const len = b.length;
        b[24] = len >>> 24;
        b[25] = (len >>> 16) & 0xff;
        b[26] = (len >>> 8) & 0xff;
        b[27] = len & 0xff;
        const m = onlyParseError(() => decodeMessage(b));
        if (m) checkStable(m);
      },
    ),
    params(20000),
  );
});

test('valid generated messages round-trip (encode → decode → encode)', () => {
  fc.assert(
    fc.property(message, ({ header, payloads }) => {
      const bytes = encodeMessage(header, payloads);
      const m = decodeMessage(bytes);
      // structuredClone: fast-check may build null-prototype records; compare plain objects
      assert.deepEqual(m.payloads, structuredClone(payloads));
      assert.deepEqual(m.header, { ...structuredClone(header), nextPayload: m.header.nextPayload, length: bytes.length });
      assert.deepEqual(encodeMessage(m.header, m.payloads), bytes);
    }),
    params(3000),
  );
});

test('valid generated inner chains round-trip through decodePayloads', () => {
  const inner = payloadChain.map((ps) => ps.filter((p) => p.type !== PayloadType.SK && p.type !== PayloadType.SKF));
  fc.assert(
    fc.property(inner, (payloads) => {
      const { firstType, bytes } = encodePayloads(payloads);
      assert.deepEqual(decodePayloads(firstType, bytes, { inner: true }), structuredClone(payloads));
    }),
    params(1000),
  );
});

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'truncate'; len: number }
  | { kind: 'extend'; extra: Uint8Array; fixLength: boolean }
  | { kind: 'u16'; pos: number; value: number }
  | { kind: 'byte'; pos: number; value: number }
  | { kind: 'splice'; pos: number; del: number; ins: Uint8Array; fixLength: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }), fixLength: fc.boolean() }),
  // overwrite a 16-bit field: payload/proposal/transform/selector/attribute lengths are 16-bit
  fc.record({
    kind: fc.constant('u16' as const),
    pos: fc.nat(),
    value: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 12 })),
  }),
  fc.record({ kind: fc.constant('byte' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    pos: fc.nat(),
    del: fc.integer({ min: 0, max: 8 }),
    ins: fc.uint8Array({ maxLength: 8 }),
    fixLength: fc.boolean(),
  }),
);

function setLength(b: Uint8Array): void {
  if (b.length < 28) return;
  const n = b.length;
  b[24] = n >>> 24;
  b[25] = (n >>> 16) & 0xff;
  b[26] = (n >>> 8) & 0xff;
  b[27] = n & 0xff;
}

function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Uint8Array.from(src);
  for (const m of muts) {
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[m.pos % b.length] = (b[m.pos % b.length] as number) ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.slice(0, m.len % (b.length + 1));
        break;
      case 'extend': {
        const n = new Uint8Array(b.length + m.extra.length);
        n.set(b);
        n.set(m.extra, b.length);
        b = n;
        if (m.fixLength) setLength(b);
        break;
      }
      case 'u16':
        if (b.length >= 2) {
          const p = m.pos % (b.length - 1);
          b[p] = m.value >>> 8;
          b[p + 1] = m.value & 0xff;
        }
        break;
      case 'byte':
        if (b.length > 0) b[m.pos % b.length] = m.value;
        break;
      case 'splice': {
        const p = m.pos % (b.length + 1);
        const n = Uint8Array.from([...b.subarray(0, p), ...m.ins, ...b.subarray(Math.min(b.length, p + m.del))]);
        b = n;
        if (m.fixLength) setLength(b);
        break;
      }
    }
  }
  return b;
}

test('mutated valid messages (bit flips, truncation, length corruption, extension): only ParseError', () => {
  let decoded = 0;
  let rejected = 0;
  fc.assert(
    fc.property(message, fc.array(mutation, { minLength: 1, maxLength: 3 }), ({ header, payloads }, muts) => {
      const bytes = mutate(encodeMessage(header, payloads), muts);
      const m = onlyParseError(() => decodeMessage(bytes));
      if (m) {
        decoded++;
        checkStable(m);
      } else {
        rejected++;
      }
      // the same bytes as an inner chain
      if (bytes.length > 28) {
        onlyParseError(() => decodePayloads(bytes[16] as number, bytes.subarray(28), { inner: true }));
      }
    }),
    params(10000),
  );
  console.log(`# mutated messages: ${decoded} still decoded, ${rejected} rejected with ParseError`);
  assert.ok(rejected > 0 && decoded > 0);
});

/** Payload types worth aiming at: every known type, plus some unknown ones. */
const fuzzType = fc.oneof(
  fc.integer({ min: 33, max: 48 }),
  fc.constant(53),
  fc.integer({ min: 0, max: 255 }),
);

test('well-framed chains of random payload bodies (every body decoder): only ParseError', () => {
  const item = fc.record({
    type: fuzzType,
    flags: fc.oneof(fc.constant(0), fc.constant(0x80), fc.integer({ min: 0, max: 255 })),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.uint8Array({ maxLength: 80 }),
      // bodies that begin with plausible substructure headers
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 60 }), fc.uint8Array({ maxLength: 60 })).map(
        ([a, l, rest]) => Uint8Array.from([a, 0, l >> 8, l & 0xff, ...rest]),
      ),
    ),
  });
  let decoded = 0;
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 5 }), fc.uint8Array({ minLength: 28, maxLength: 28 }), (items, hdr) => {
      const parts: number[] = [];
      items.forEach((it, i) => {
        const next = items[i + 1]?.type ?? 0;
        const len = it.body.length + 4;
        parts.push(next, it.flags, len >> 8, len & 0xff, ...it.body);
      });
      const first = items[0]?.type ?? 0;
      const chain = Uint8Array.from(parts);
      const ps = onlyParseError(() => decodePayloads(first, chain));
      if (ps) {
        decoded++;
        const again = encodePayloads(ps);
        assert.deepEqual(decodePayloads(again.firstType, again.bytes), ps);
      }
      onlyParseError(() => decodePayloads(first, chain, { inner: true }));
      const msg = new Uint8Array(28 + chain.length);
      msg.set(hdr);
      msg.set(chain, 28);
      msg[16] = first;
      msg[17] = 0x20;
      setLength(msg);
      const m = onlyParseError(() => decodeMessage(msg));
      if (m) checkStable(m);
    }),
    params(20000),
  );
  console.log(`# random-body chains: ${decoded} of 20000 decoded`);
  assert.ok(decoded > 0);
});

test('mutated real strongSwan messages: only ParseError', () => {
  const real = ikeMessages(capturePath()).map((p) => p.ike);
  assert.ok(real.length > 0);
  fc.assert(
    fc.property(fc.nat({ max: real.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, muts) => {
      const bytes = mutate(real[i] as Uint8Array, muts);
      const m = onlyParseError(() => decodeMessage(bytes));
      if (m) checkStable(m);
    }),
    params(5000),
  );
});

test('non-Uint8Array input is a ParseError too', () => {
  const bad: unknown[] = [undefined, null, 'abc', 42, {}, [1, 2, 3]];
  for (const b of bad) {
    assert.throws(() => decodeMessage(b as Uint8Array), ParseError);
    assert.throws(() => decodePayloads(33, b as Uint8Array), ParseError);
  }
  assert.throws(() => decodePayloads(-1, new Uint8Array(0)), ParseError);
  assert.throws(() => decodePayloads(1.5, new Uint8Array(0)), ParseError);
});
