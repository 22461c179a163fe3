// Loss and duplication (RFC 7296 §2.1 retransmission, §2.2 Message IDs; RFC 9242 §3.2 and
// RFC 9370 §2.2.2: after an IKE_INTERMEDIATE round the responder's keys have moved on, yet a
// retransmitted request — still under the previous keys — must get the cached response).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_I, ADDR_R, EnginePair } from '../helpers/engine-pair.js';
import type { Delivered } from '../helpers/engine-pair.js';
import { decode, failures, isMessage, logs, onlySa, ups } from '../helpers/engine-wire.js';
import type { ChildSaInfo, EngineEvent } from '../../src/engine/types.js';
import { ExchangeType } from '../../src/wire/index.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function children(events: readonly EngineEvent[]): ChildSaInfo[] {
  const out: ChildSaInfo[] = [];
  for (const e of events) if (e.type === 'child-up') out.push(e.child);
  return out;
}

/** Both sides up once, Child SA keys and the final IKE SA keys equal. */
function assertUpWithEqualKeys(pair: EnginePair): void {
  assert.deepEqual(pair.errors(), []);
  assert.equal(ups(pair.eventsI).length, 1, logs(pair.eventsI));
  assert.equal(ups(pair.eventsR).length, 1, logs(pair.eventsR));
  const [ci] = children(pair.eventsI);
  const [cr] = children(pair.eventsR);
  assert.ok(ci && cr);
  assert.deepEqual(ci.keys, cr.keys);
  assert.deepEqual(onlySa(pair.i).keys, onlySa(pair.r).keys);
  assert.deepEqual(failures([...pair.eventsI, ...pair.eventsR]), []);
}

function isIntermediate(d: Delivered, response: boolean): boolean {
  return isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, response);
}

for (const [what, ike, fragmentSize] of [
  ['one round', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', undefined],
  ['fragmented round', 'aes256gcm16-prfsha384-x25519-ke1_mlkem1024', 1280],
  ['AES-CBC + HMAC', 'aes256-sha384-x25519-ke1_mlkem768', undefined],
] as const) {
  test(`lost IKE_INTERMEDIATE response (${what}): retransmitted request is answered from the cache although the responder's keys moved on`, () => {
    const pair = new EnginePair(fragmentSize === undefined ? { ikeI: [ike] } : { ikeI: [ike], fragmentSize });
    const dropped: Uint8Array[] = [];
    pair.filter = (d) => {
      if (d.from === 'r' && isIntermediate(d, true) && dropped.length < (fragmentSize === undefined ? 1 : 2)) {
        dropped.push(d.data);
        return undefined;
      }
      return d.data;
    };
    pair.initiate();
    pair.run();
    assert.equal(ups(pair.eventsI).length, 0);
    const r = onlySa(pair.r);
    const i = onlySa(pair.i);
    assert.equal(r.state, 'authenticating', 'responder finished the round');
    assert.equal(i.state, 'intermediate', 'initiator still waits');
    assert.notDeepEqual(r.keys, i.keys, "the responder's keys have moved on");
    const requests = pair.wire.filter((d) => d.from === 'i' && isIntermediate(d, false)).map((d) => hex(d.data));
    const responsesBefore = pair.wire.filter((d) => d.from === 'r' && isIntermediate(d, true)).map((d) => hex(d.data));
    assert.equal(pair.now, 0);
    assert.ok(pair.advance());
    assert.equal(pair.now, 1000, 'first retransmission after retransmitTimeoutMs');
    const requestsAfter = pair.wire.filter((d) => d.from === 'i' && isIntermediate(d, false)).map((d) => hex(d.data));
    assert.deepEqual(requestsAfter, [...requests, ...requests], 'the very same request datagrams again');
    const responsesAfter = pair.wire.filter((d) => d.from === 'r' && isIntermediate(d, true)).map((d) => hex(d.data));
    assert.deepEqual(responsesAfter, [...responsesBefore, ...responsesBefore], 'the cached response, byte for byte');
    assertUpWithEqualKeys(pair);
    assert.deepEqual(ups(pair.eventsI)[0]?.ike.keMethods.length, 2);
  });
}

test('lost second-round IKE_INTERMEDIATE response: the cached response is found under round-1 keys', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024'] });
  let seen = 0;
  pair.filter = (d) => (d.from === 'r' && isIntermediate(d, true) && ++seen === 2 ? undefined : d.data);
  pair.initiate();
  pair.run();
  assert.equal(ups(pair.eventsR).length, 0);
  assert.ok(pair.advance());
  assertUpWithEqualKeys(pair);
});

test('lost IKE_INTERMEDIATE request: the retransmission is processed normally', () => {
  const pair = new EnginePair();
  let drops = 0;
  pair.filter = (d) => (d.from === 'i' && isIntermediate(d, false) && drops++ === 0 ? undefined : d.data);
  pair.initiate();
  pair.run();
  assert.equal(onlySa(pair.r).state, 'intermediate');
  assert.ok(pair.advance());
  assertUpWithEqualKeys(pair);
});

test('lost IKE_SA_INIT response and lost IKE_AUTH response: both recovered by retransmission', () => {
  const pair = new EnginePair();
  const dropOnce = new Set<number>([ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH]);
  pair.filter = (d) => {
    if (d.from !== 'r') return d.data;
    const t = decode(d.data).header.exchangeType;
    if (!dropOnce.has(t)) return d.data;
    dropOnce.delete(t);
    return undefined;
  };
  pair.initiate();
  for (let k = 0; k < 10 && ups(pair.eventsI).length === 0; k++) {
    pair.run();
    if (ups(pair.eventsI).length === 0) assert.ok(pair.advance());
  }
  assert.equal(dropOnce.size, 0);
  assertUpWithEqualKeys(pair);
  // The responder answered the retransmitted IKE_SA_INIT from its half-open SA: one SA only.
  assert.equal(pair.r.list().length, 1);
});

test('every datagram delivered twice: SA up once on each side, no errors, no failures', () => {
  for (const ike of ['aes256gcm16-prfsha384-x25519', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024']) {
    const pair = new EnginePair({ ikeI: [ike] });
    pair.filter = (d) => {
      if (d.from === 'i') pair.r.receive(d.data, { address: ADDR_I, port: 500 }, { address: ADDR_R, port: 500 }, pair.now);
      else pair.i.receive(d.data, { address: ADDR_R, port: 500 }, { address: ADDR_I, port: 500 }, pair.now);
      return d.data;
    };
    pair.initiate();
    pair.run();
    assertUpWithEqualKeys(pair);
    assert.equal(children(pair.eventsI).length, 1);
    assert.equal(children(pair.eventsR).length, 1);
    assert.equal(pair.r.list().length, 1);
    assert.equal(pair.i.list().length, 1);
    // Nothing is left to retransmit: duplicates did not leave a request outstanding.
    assert.equal(pair.i.nextDeadline(), undefined);
    assert.equal(pair.r.nextDeadline(), undefined);
  }
});

test('everything dropped: the initiator retransmits with back-off, then gives up cleanly', () => {
  const pair = new EnginePair();
  pair.filter = () => undefined;
  pair.initiate();
  pair.run();
  const times: number[] = [];
  let guard = 0;
  while (pair.advance()) {
    times.push(pair.now);
    assert.ok(++guard < 50);
  }
  // 5 retransmissions (1, 2, 4, 8, 16 s after each other), then failure after another 32 s.
  assert.deepEqual(times, [1000, 3000, 7000, 15000, 31000, 63000]);
  const sent = pair.wire.filter((d) => d.from === 'i');
  assert.equal(sent.length, 6);
  assert.ok(sent.every((d) => hex(d.data) === hex(sent[0]?.data ?? new Uint8Array())), 'the same IKE_SA_INIT request each time');
  const f = failures(pair.eventsI);
  assert.equal(f.length, 1);
  assert.match(f[0]?.reason ?? '', /no response to IKE_SA_INIT request 0 after 5 retransmissions/);
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(pair.i.list(), []);
  assert.equal(pair.i.nextDeadline(), undefined);
});

test('responder answers are all lost: its half-open SA times out, the initiator gives up', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'] });
  pair.filter = (d) => (d.from === 'r' ? undefined : d.data);
  pair.initiate();
  pair.run();
  assert.equal(pair.r.list().length, 1, 'half-open SA on the responder');
  let guard = 0;
  while (pair.advance()) assert.ok(++guard < 50);
  const fr = failures(pair.eventsR);
  assert.ok(fr.length >= 1);
  assert.ok(fr.every((f) => /half-open SA timed out/.test(f.reason)), logs(pair.eventsR));
  // Retransmissions of the same IKE_SA_INIT were answered from the half-open SA (no new SA)
  // until it timed out at 30 s.
  const answersBeforeTimeout = pair.wire.filter((d) => d.from === 'r').length;
  assert.ok(answersBeforeTimeout >= 5);
  assert.equal(failures(pair.eventsI).length, 1);
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(pair.r.list(), []);
  assert.deepEqual(pair.i.list(), []);
  assert.equal(pair.r.nextDeadline(), undefined);
  assert.equal(pair.i.nextDeadline(), undefined);
});

test('half-open timeout: a responder SA stuck before IKE_AUTH is dropped after halfOpenTimeoutMs', () => {
  const pair = new EnginePair({ responderEngineOptions: { halfOpenTimeoutMs: 5000 } });
  pair.filter = (d) => (isMessage(d.data, ExchangeType.IKE_SA_INIT, false) || isMessage(d.data, ExchangeType.IKE_SA_INIT, true) ? d.data : undefined);
  pair.initiate();
  pair.run();
  assert.equal(onlySa(pair.r).state, 'intermediate');
  while (pair.r.list().length > 0 && pair.advance());
  assert.equal(pair.now, 5000);
  assert.match(failures(pair.eventsR)[0]?.reason ?? '', /half-open SA timed out/);
});
