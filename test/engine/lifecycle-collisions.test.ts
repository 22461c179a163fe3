/**
 * Simultaneous rekeys (RFC 7296 §2.8.1/§2.8.2, RFC 9370 §2.2.4): both peers rekey the same SA
 * at once; the exchange holding the lowest nonce loses. With ADDKE the loser stops before any
 * IKE_FOLLOWUP_KE; without, it deletes the SA it created. Either way exactly one new SA
 * survives, both sides agree on its keys, and the old SA is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { ExchangeType } from '../../src/wire/constants.js';
import { randomBytes } from 'node:crypto';
import type { EngineEvent } from '../../src/engine/types.js';

const CASES = [
  { label: 'with ADDKE (x25519+mlkem768)', ike: 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', esp: 'aes256gcm16-x25519-ke1_mlkem768', addke: true },
  { label: 'without ADDKE (x25519 PFS)', ike: 'aes256gcm16-prfsha384-x25519', esp: 'aes256gcm16-x25519', addke: false },
];

/**
 * Nonces whose first octet a test chooses, in the order the engine draws them (RFC 7296
 * §2.8.1: the exchange holding the lowest of the four nonces loses). In a collision each side
 * draws its own exchange's Ni first, then the Nr of the peer's exchange.
 */
function scripted(): { random: (n: number, purpose: string) => Uint8Array; script: number[] } {
  const script: number[] = [];
  return {
    script,
    random: (n, purpose) => {
      const out = randomBytes(n);
      const first = purpose === 'nonce' ? script.shift() : undefined;
      if (first !== undefined) out[0] = first;
      return out;
    },
  };
}

/** First octets of moon's and sun's next two nonces so that `winner`'s own exchange survives. */
function force(winner: 'moon' | 'sun'): { moon: number[]; sun: number[] } {
  // The lowest nonce (0x01) goes into the loser's exchange, as the winner's Nr to it.
  return winner === 'moon' ? { moon: [0x80, 0x01], sun: [0x90, 0xa0] } : { moon: [0x90, 0xa0], sun: [0x80, 0x01] };
}

function forcedPair(c: (typeof CASES)[number]): { pair: EnginePair; nonces: { i: number[]; r: number[] } } {
  const i = scripted();
  const r = scripted();
  const pair = new EnginePair({ ikeI: [c.ike], espI: [c.esp], engineOptions: { random: i.random }, responderEngineOptions: { random: r.random } });
  return { pair, nonces: { i: i.script, r: r.script } };
}

const sentBy = (events: readonly EngineEvent[], exchange: number): number =>
  events.filter((e) => e.type === 'message' && e.direction === 'out' && !e.response && e.exchange === exchange).length;

for (const c of CASES) {
  for (const winner of ['moon', 'sun'] as const) {
    test(`Child SA rekey collision ${c.label}, ${winner === 'moon' ? 'we win' : 'the peer wins'} (forced by the nonces): one new pair survives, keys agree, old gone`, () => {
      const { pair, nonces } = forcedPair(c);
      const ids = pair.establish();
      const [ci] = pair.i.children(ids.i);
      const [cr] = pair.r.children(ids.r);
      assert.ok(ci && cr);
      const f = force(winner);
      nonces.i.push(...f.moon);
      nonces.r.push(...f.sun);
      const before = { i: pair.eventsI.length, r: pair.eventsR.length };
      assert.ok(pair.i.rekeyChild(ids.i, ci.spiIn, pair.now));
      assert.ok(pair.r.rekeyChild(ids.r, cr.spiIn, pair.now));
      pair.run();
      for (let k = 0; k < 10 && pair.advance(); k++);
      assert.deepEqual(pair.errors(), []);
      assert.deepEqual([nonces.i, nonces.r], [[], []], 'every scripted nonce was drawn');
      const ai = pair.i.children(ids.i);
      const ar = pair.r.children(ids.r);
      assert.equal(ai.length, 1, `initiator children: ${JSON.stringify(ai.map((x) => x.spiIn))}`);
      assert.equal(ar.length, 1, `responder children: ${JSON.stringify(ar.map((x) => x.spiIn))}`);
      const [a] = ai;
      const [b] = ar;
      assert.ok(a && b);
      assert.notEqual(a.spiIn, ci.spiIn);
      assert.equal(a.spiIn, b.spiOut);
      assert.equal(a.spiOut, b.spiIn);
      assert.deepEqual(a.keys, b.keys);
      // The survivor is the winner's exchange: its initiator on moon's side iff moon won.
      assert.equal(a.initiator, winner === 'moon');
      assert.equal(b.initiator, winner === 'sun');
      const [evI, evR] = [pair.eventsI.slice(before.i), pair.eventsR.slice(before.r)];
      if (c.addke) {
        // RFC 9370 §2.2.4: the loser stops before any IKE_FOLLOWUP_KE.
        assert.deepEqual([sentBy(evI, ExchangeType.IKE_FOLLOWUP_KE) > 0, sentBy(evR, ExchangeType.IKE_FOLLOWUP_KE) > 0], [winner === 'moon', winner === 'sun']);
      } else {
        // RFC 7296 §2.8.1: the loser deletes the SA it made, the winner the old one: one Delete each.
        assert.deepEqual([sentBy(evI, ExchangeType.INFORMATIONAL), sentBy(evR, ExchangeType.INFORMATIONAL)], [1, 1]);
      }
    });

    test(`IKE SA rekey collision ${c.label}, ${winner === 'moon' ? 'we win' : 'the peer wins'} (forced by the nonces): the winner's new IKE SA survives on both sides with the Child SA`, () => {
      const { pair, nonces } = forcedPair(c);
      const ids = pair.establish();
      const [child] = pair.i.children(ids.i);
      assert.ok(child);
      const f = force(winner);
      nonces.i.push(...f.moon);
      nonces.r.push(...f.sun);
      const before = { i: pair.eventsI.length, r: pair.eventsR.length };
      assert.ok(pair.i.rekeyIke(ids.i, pair.now));
      assert.ok(pair.r.rekeyIke(ids.r, pair.now));
      pair.run();
      for (let k = 0; k < 10 && pair.advance(); k++);
      assert.deepEqual(pair.errors(), []);
      assert.deepEqual([nonces.i, nonces.r], [[], []], 'every scripted nonce was drawn');
      const li = pair.i.list();
      const lr = pair.r.list();
      assert.equal(li.length, 1, JSON.stringify(li));
      assert.equal(lr.length, 1, JSON.stringify(lr));
      const [ni] = li;
      const [nr] = lr;
      assert.ok(ni && nr);
      assert.equal(ni.spiI, nr.spiI);
      assert.equal(ni.spiR, nr.spiR);
      assert.equal(ni.role, winner === 'moon' ? 'initiator' : 'responder');
      assert.equal(nr.role, winner === 'sun' ? 'initiator' : 'responder');
      assert.deepEqual(pair.i.children(ni.id).map((x) => x.spiIn), [child.spiIn]);
      assert.equal(pair.r.children(nr.id).length, 1);
      if (c.addke) {
        const [evI, evR] = [pair.eventsI.slice(before.i), pair.eventsR.slice(before.r)];
        assert.deepEqual([sentBy(evI, ExchangeType.IKE_FOLLOWUP_KE) > 0, sentBy(evR, ExchangeType.IKE_FOLLOWUP_KE) > 0], [winner === 'moon', winner === 'sun']);
      }
      assert.ok(pair.i.checkLiveness(ni.id, pair.now));
      pair.run();
      assert.equal(pair.i.list().length, 1);
    });
  }
}

test('the loser of a collision with ADDKE sends no IKE_FOLLOWUP_KE for its series', () => {
  const pair = new EnginePair({ ikeI: [CASES[0]?.ike ?? ''], espI: [CASES[0]?.esp ?? ''] });
  const ids = pair.establish();
  const [ci] = pair.i.children(ids.i);
  const [cr] = pair.r.children(ids.r);
  assert.ok(ci && cr);
  const before = { i: pair.eventsI.length, r: pair.eventsR.length };
  pair.i.rekeyChild(ids.i, ci.spiIn, pair.now);
  pair.r.rekeyChild(ids.r, cr.spiIn, pair.now);
  pair.run();
  const followups = (ev: typeof pair.eventsI): number => ev.filter((e) => e.type === 'message' && e.direction === 'out' && !e.response && e.exchange === ExchangeType.IKE_FOLLOWUP_KE).length;
  const fi = followups(pair.eventsI.slice(before.i));
  const fr = followups(pair.eventsR.slice(before.r));
  assert.equal(fi + fr, 1, `exactly one side continues with IKE_FOLLOWUP_KE (i: ${fi}, r: ${fr})`);
});
