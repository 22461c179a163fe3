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

const CASES = [
  { label: 'with ADDKE (x25519+mlkem768)', ike: 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', esp: 'aes256gcm16-x25519-ke1_mlkem768' },
  { label: 'without ADDKE (x25519 PFS)', ike: 'aes256gcm16-prfsha384-x25519', esp: 'aes256gcm16-x25519' },
];

for (const c of CASES) {
  for (let seed = 0; seed < 4; seed++) {
    test(`Child SA rekey collision ${c.label}, run ${seed}: one new pair survives, keys agree, old gone`, () => {
      const pair = new EnginePair({ ikeI: [c.ike], espI: [c.esp] });
      const ids = pair.establish();
      const [ci] = pair.i.children(ids.i);
      const [cr] = pair.r.children(ids.r);
      assert.ok(ci && cr);
      assert.ok(pair.i.rekeyChild(ids.i, ci.spiIn, pair.now));
      assert.ok(pair.r.rekeyChild(ids.r, cr.spiIn, pair.now));
      pair.run();
      for (let k = 0; k < 10 && pair.advance(); k++);
      assert.deepEqual(pair.errors(), []);
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
    });
  }

  test(`IKE SA rekey collision ${c.label}: one new IKE SA survives on both sides with the Child SA`, () => {
    const pair = new EnginePair({ ikeI: [c.ike], espI: [c.esp] });
    const ids = pair.establish();
    const [child] = pair.i.children(ids.i);
    assert.ok(child);
    assert.ok(pair.i.rekeyIke(ids.i, pair.now));
    assert.ok(pair.r.rekeyIke(ids.r, pair.now));
    pair.run();
    for (let k = 0; k < 10 && pair.advance(); k++);
    assert.deepEqual(pair.errors(), []);
    const li = pair.i.list();
    const lr = pair.r.list();
    assert.equal(li.length, 1, JSON.stringify(li));
    assert.equal(lr.length, 1, JSON.stringify(lr));
    const [ni] = li;
    const [nr] = lr;
    assert.ok(ni && nr);
    assert.equal(ni.spiI, nr.spiI);
    assert.equal(ni.spiR, nr.spiR);
    assert.deepEqual(pair.i.children(ni.id).map((x) => x.spiIn), [child.spiIn]);
    assert.equal(pair.r.children(nr.id).length, 1);
    // It works: a liveness check over it is answered.
    assert.ok(pair.i.checkLiveness(ni.id, pair.now));
    pair.run();
    assert.equal(pair.i.list().length, 1);
  });
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
