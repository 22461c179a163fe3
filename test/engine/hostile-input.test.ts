// Hostile input (property-based, fast-check): random bytes, valid-but-random messages and
// mutated real messages of every exchange (bit flips, truncations, length-field edits,
// splices) are fed to a fresh responder, a fresh initiator and to engines mid-handshake.
// `IkeEngine.receive` must never throw and never report an internal error (a `log` event of
// level 'error' is how it reports an exception it caught), and a legitimate handshake on the
// same engines must still complete afterwards. Where the mutated message is a protected one
// (SK/SKF), the handshake in progress must complete as well: its ICV covers every byte.
//
// Fixed seed by default (printed); override with PQIKE_FC_SEED=<int>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ADDR_I, ADDR_R, EnginePair, connections } from '../helpers/engine-pair.js';
import type { Delivered, PairOptions } from '../helpers/engine-pair.js';
import { logs, ups } from '../helpers/engine-wire.js';
import { seed } from '../unit/wire-arbitraries.js';
import { headerInit, payloadChain } from '../unit/wire-arbitraries.js';
import { IkeEngine } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { ExchangeType, HeaderFlags, PayloadType, encodeMessage } from '../../src/wire/index.js';

console.log(`# hostile-input: fast-check seed ${seed} (set PQIKE_FC_SEED to override)`);

const params = (numRuns: number): fc.Parameters<unknown> => ({ seed, numRuns, endOnFailure: true });

const I = { address: ADDR_I, port: 500 };
const R = { address: ADDR_R, port: 500 };

/** Configurations whose reference runs provide the real messages: every exchange type. */
const CONFIGS: readonly PairOptions[] = [
  { ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'] },
  { ikeI: ['aes256-sha384-x25519-ke1_mlkem1024'], fragmentSize: 1280 },
  { ikeI: ['aes256gcm16-prfsha384-x25519'] },
  { ikeI: ['aes256gcm16-prfsha384-x25519-ecp256'], ikeR: ['aes256gcm16-prfsha384-ecp256'], responderEngineOptions: { cookieThreshold: 0 } },
];

/** A full life: IKE_SA_INIT (+ COOKIE / INVALID_KE), IKE_INTERMEDIATE, IKE_AUTH, INFORMATIONAL delete. */
function life(pair: EnginePair): void {
  const id = pair.initiate();
  pair.run();
  pair.i.terminate(id, pair.now);
  pair.run();
}

const reference: { config: number; wire: Delivered[] }[] = CONFIGS.map((opts, config) => {
  const pair = new EnginePair(opts);
  life(pair);
  assert.equal(ups(pair.eventsI).length, 1, `reference run ${config}: ${logs(pair.eventsI)}`);
  assert.ok(pair.eventsR.some((e) => e.type === 'ike-down'), `reference run ${config} deleted`);
  return { config, wire: [...pair.wire] };
});
const corpus: Uint8Array[] = reference.flatMap((r) => r.wire.map((d) => d.data));

// ---- mutations ------------------------------------------------------------------------------

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'u16'; readonly at: number; readonly value: number }
  | { readonly kind: 'payload-length'; readonly which: number; readonly value: number }
  | { readonly kind: 'message-length'; readonly value: number }
  | { readonly kind: 'splice'; readonly at: number; readonly remove: number; readonly insert: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('u16' as const), at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 1, 3, 4, 5, 8, 0xffff)) }),
  fc.record({ kind: fc.constant('payload-length' as const), which: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 3, 4, 5, 0xffff)) }),
  fc.record({ kind: fc.constant('message-length' as const), value: fc.oneof(fc.nat(), fc.constantFrom(0, 27, 28, 29, 0xffffffff)) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), remove: fc.integer({ min: 0, max: 16 }), insert: fc.uint8Array({ maxLength: 16 }) }),
);

/** Offsets of the generic payload headers of the outer chain (RFC 7296 §3.2). */
function payloadHeaders(b: Uint8Array): number[] {
  const out: number[] = [];
  let next = b[16] ?? 0;
  let off = 28;
  while (next !== PayloadType.NONE && off + 4 <= b.length && out.length < 64) {
    out.push(off);
    if (next === PayloadType.SK || next === PayloadType.SKF) break;
    next = b[off] ?? 0;
    const len = ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0);
    if (len < 4) break;
    off += len;
  }
  return out;
}

function mutate(data: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(data);
  for (const m of ms) {
    if (b.length === 0) return b;
    switch (m.kind) {
      case 'flip': {
        const at = m.at % b.length;
        b[at] = (b[at] ?? 0) ^ (1 << m.bit);
        break;
      }
      case 'truncate':
        b = b.slice(0, m.at % b.length);
        break;
      case 'u16': {
        if (b.length < 2) break;
        const at = m.at % (b.length - 1);
        b[at] = m.value >> 8;
        b[at + 1] = m.value & 0xff;
        break;
      }
      case 'payload-length': {
        const hs = payloadHeaders(b);
        const off = hs[m.which % Math.max(1, hs.length)];
        if (off === undefined || off + 4 > b.length) break;
        b[off + 2] = m.value >> 8;
        b[off + 3] = m.value & 0xff;
        break;
      }
      case 'message-length':
        if (b.length >= 28) new DataView(b.buffer, b.byteOffset).setUint32(24, m.value >>> 0);
        break;
      case 'splice': {
        const at = m.at % (b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...m.insert, ...b.subarray(Math.min(b.length, at + m.remove))]);
        break;
      }
    }
  }
  return b;
}

// ---- checks ---------------------------------------------------------------------------------

function errorsIn(events: readonly EngineEvent[]): EngineEvent[] {
  return events.filter((e) => e.type === 'log' && e.level === 'error');
}

/** Feed `data` and drain; the engine must not throw nor report an internal error. */
function feed(engine: IkeEngine, data: Uint8Array, from: typeof I, to: typeof I, now: number): EngineEvent[] {
  assert.doesNotThrow(() => engine.receive(data, from, to, now));
  const events: EngineEvent[] = [];
  for (const o of engine.drain()) if (o.kind === 'event') events.push(o.event);
  assert.deepEqual(errorsIn(events), [], 'no internal error');
  return events;
}

/** A legitimate handshake between these two engines still completes. */
function assertStillWorks(i: IkeEngine, r: IkeEngine, opts: PairOptions = {}): void {
  const pair = new EnginePair(opts);
  // Swap in the engines under test, keeping the pair's wiring and configuration.
  const c = connections(opts);
  i.addConnection(c.initiator);
  r.addConnection(c.responder);
  const p = pair as unknown as { i: IkeEngine; r: IkeEngine };
  p.i = i;
  p.r = r;
  i.drain();
  r.drain();
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.equal(ups(pair.eventsI).length, 1, `legitimate handshake after hostile input: ${logs(pair.eventsI)}`);
  assert.equal(ups(pair.eventsR).length, 1);
}

function freshResponder(): IkeEngine {
  const r = new IkeEngine({ cookieThreshold: 1 << 20 });
  r.addConnection(connections().responder);
  return r;
}

function freshInitiator(): IkeEngine {
  const i = new IkeEngine();
  i.addConnection(connections().initiator);
  i.initiate('moon', 0);
  i.drain();
  return i;
}

// ---- properties -----------------------------------------------------------------------------

test('random bytes to a fresh responder and a fresh initiator: no throw, no internal error', () => {
  const r = freshResponder();
  const i = freshInitiator();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      feed(r, bytes, I, R, 0);
      feed(i, bytes, R, I, 0);
    }),
    params(400),
  );
  assertStillWorks(i, r);
});

test('random bytes behind a plausible IKE header (real SPIs, all exchange types, right length): no throw, no internal error', () => {
  const pair = new EnginePair();
  pair.initiate();
  pair.run();
  const spiI = pair.wire[0]?.data.subarray(0, 8) ?? new Uint8Array(8);
  const spiR = pair.wire[1]?.data.subarray(8, 16) ?? new Uint8Array(8);
  fc.assert(
    fc.property(
      fc.constantFrom(34, 35, 36, 37, 43, 44, 0, 255),
      fc.constantFrom(0, HeaderFlags.INITIATOR, HeaderFlags.RESPONSE, HeaderFlags.INITIATOR | HeaderFlags.RESPONSE),
      fc.integer({ min: 0, max: 4 }),
      fc.constantFrom(0, 33, 34, 40, 41, 46, 53, 200),
      fc.boolean(),
      fc.uint8Array({ maxLength: 400 }),
      (exchange, flags, messageId, next, zeroSpiR, body) => {
        const b = new Uint8Array(28 + body.length);
        b.set(spiI, 0);
        if (!zeroSpiR) b.set(spiR, 8);
        b[16] = next;
        b[17] = 0x20;
        b[18] = exchange;
        b[19] = flags;
        new DataView(b.buffer).setUint32(20, messageId);
        new DataView(b.buffer).setUint32(24, b.length);
        b.set(body, 28);
        feed(pair.r, b, I, R, 0);
        feed(pair.i, b, R, I, 0);
      },
    ),
    params(400),
  );
  assertStillWorks(pair.i, pair.r);
});

test('structurally valid random messages with live SPIs: no throw, no internal error', () => {
  const pair = new EnginePair();
  pair.initiate();
  pair.run();
  const spiI = pair.wire[0]?.data.subarray(0, 8) ?? new Uint8Array(8);
  const spiR = pair.wire[1]?.data.subarray(8, 16) ?? new Uint8Array(8);
  fc.assert(
    fc.property(headerInit, payloadChain, fc.boolean(), fc.constantFrom(34, 35, 36, 37, 43), (h, payloads, zeroSpiR, exchange) => {
      let bytes: Uint8Array;
      try {
        bytes = encodeMessage({ ...h, majorVersion: 2, exchangeType: exchange, spiI, spiR: zeroSpiR ? new Uint8Array(8) : spiR }, payloads);
      } catch {
        return; // not encodable (e.g. too long): nothing to feed
      }
      feed(pair.r, bytes, I, R, 0);
      feed(pair.i, bytes, R, I, 0);
    }),
    params(300),
  );
  assertStillWorks(pair.i, pair.r);
});

test('mutated real messages of every exchange to a fresh responder: no throw, no internal error', () => {
  const r = freshResponder();
  const i = freshInitiator();
  fc.assert(
    fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (pick, ms) => {
      const original = corpus[pick % corpus.length];
      assert.ok(original);
      const data = mutate(original, ms);
      feed(r, data, I, R, 0);
      feed(i, data, R, I, 0);
    }),
    params(400),
  );
  assertStillWorks(i, r);
});

test('mutated copies injected mid-handshake before the real message: no internal error; protected messages cannot derail it', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: CONFIGS.length - 1 }),
      fc.nat(),
      fc.array(fc.array(mutation, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
      (config, pick, mutationSets) => {
        const opts = CONFIGS[config] ?? {};
        const ref = reference[config];
        assert.ok(ref);
        const target = pick % ref.wire.length;
        const pair = new EnginePair(opts);
        let protectedTarget = false;
        pair.filter = (d, index) => {
          if (index !== target) return d.data;
          protectedTarget = (d.data[18] ?? 0) !== ExchangeType.IKE_SA_INIT;
          for (const ms of mutationSets) {
            const bad = mutate(d.data, ms);
            if (d.from === 'i') feed(pair.r, bad, I, R, pair.now);
            else feed(pair.i, bad, R, I, pair.now);
          }
          return d.data;
        };
        life(pair);
        assert.deepEqual(pair.errors(), []);
        if (protectedTarget) {
          assert.equal(ups(pair.eventsI).length, 1, `target ${target}: ${logs(pair.eventsI)}`);
          assert.equal(ups(pair.eventsR).length, 1, `target ${target}: ${logs(pair.eventsR)}`);
          assert.ok(pair.eventsR.some((e) => e.type === 'ike-down'), 'and deleted normally');
        }
        // Whatever happened, the engines still serve a new, clean handshake.
        pair.filter = (d) => d.data;
        const before = ups(pair.eventsI).length;
        pair.initiate();
        pair.run();
        assert.deepEqual(pair.errors(), []);
        assert.equal(ups(pair.eventsI).length, before + 1, logs(pair.eventsI));
      },
    ),
    params(250),
  );
});
