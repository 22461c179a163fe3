/**
 * The SA lifecycle with additional key exchanges (RFC 9370 §2.2.4): Child SA rekey, new Child
 * SA and IKE SA rekey through IKE_FOLLOWUP_KE, both sides deriving the same keys and the old
 * SAs gone; deletes; liveness.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import type { ChildSaInfo, EngineEvent } from '../../src/engine/types.js';
import { ExchangeType, KeMethodId } from '../../src/wire/constants.js';

const SUITES = [
  { ike: 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', esp: 'aes256gcm16-x25519-ke1_mlkem768', methods: [KeMethodId.CURVE25519, KeMethodId.MLKEM768] },
  { ike: 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024', esp: 'aes256gcm16-x25519-ke1_mlkem768-ke2_mlkem1024', methods: [KeMethodId.CURVE25519, KeMethodId.MLKEM768, KeMethodId.MLKEM1024] },
];

function childUps(events: readonly EngineEvent[]): ChildSaInfo[] {
  return events.flatMap((e) => (e.type === 'child-up' ? [e.child] : []));
}

function sent(events: readonly EngineEvent[], exchange: number): number {
  return events.filter((e) => e.type === 'message' && e.direction === 'out' && !e.response && e.exchange === exchange).length;
}

function sameKeys(a: ChildSaInfo, b: ChildSaInfo): void {
  assert.deepEqual(a.keys, b.keys);
  assert.equal(a.spiIn, b.spiOut);
  assert.equal(a.spiOut, b.spiIn);
}

for (const s of SUITES) {
  const label = s.methods.join('+');
  test(`Child SA rekey through IKE_FOLLOWUP_KE (${label}): same keys both sides, old SA gone`, () => {
    const pair = new EnginePair({ ikeI: [s.ike], espI: [s.esp] });
    const ids = pair.establish();
    const [first] = pair.i.children(ids.i);
    assert.ok(first);
    assert.ok(pair.i.rekeyChild(ids.i, first.spiIn, pair.now));
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const ci = pair.i.children(ids.i);
    const cr = pair.r.children(ids.r);
    assert.equal(ci.length, 1);
    assert.equal(cr.length, 1);
    const [ni] = ci;
    const [nr] = cr;
    assert.ok(ni && nr);
    assert.notEqual(ni.spiIn, first.spiIn);
    assert.equal(ni.rekeyOf, first.spiIn);
    sameKeys(ni, nr);
    assert.notDeepEqual(ni.keys, first.keys);
    assert.deepEqual(ni.keMethods, s.methods);
    assert.equal(sent(pair.eventsI, ExchangeType.IKE_FOLLOWUP_KE), s.methods.length - 1);
    assert.ok(pair.eventsI.some((e) => e.type === 'child-down' && e.child.spiIn === first.spiIn));
    assert.ok(pair.eventsR.some((e) => e.type === 'child-down' && e.child.spiOut === first.spiIn));
  });

  test(`new Child SA through IKE_FOLLOWUP_KE (${label})`, () => {
    const pair = new EnginePair({ ikeI: [s.ike], espI: [s.esp] });
    const ids = pair.establish();
    assert.ok(pair.i.createChild(ids.i, 'net', pair.now));
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const ci = pair.i.children(ids.i);
    const cr = pair.r.children(ids.r);
    assert.equal(ci.length, 2);
    assert.equal(cr.length, 2);
    const added = childUps(pair.eventsI)[1];
    assert.ok(added);
    const peer = cr.find((c) => c.spiOut === added.spiIn);
    assert.ok(peer);
    sameKeys(added, peer);
    assert.deepEqual(added.keMethods, s.methods);
  });

  test(`IKE SA rekey through IKE_FOLLOWUP_KE (${label}): Child SAs move, old IKE SA deleted`, () => {
    const pair = new EnginePair({ ikeI: [s.ike], espI: [s.esp] });
    const ids = pair.establish();
    const before = pair.i.children(ids.i);
    assert.ok(pair.i.rekeyIke(ids.i, pair.now));
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const li = pair.i.list();
    const lr = pair.r.list();
    assert.equal(li.length, 1, JSON.stringify(li));
    assert.equal(lr.length, 1);
    const [ni] = li;
    const [nr] = lr;
    assert.ok(ni && nr);
    assert.notEqual(ni.id, ids.i);
    assert.equal(ni.spiI, nr.spiI);
    assert.equal(ni.spiR, nr.spiR);
    assert.deepEqual(ni.keMethods, s.methods);
    assert.deepEqual(pair.i.children(ni.id).map((c) => c.spiIn), before.map((c) => c.spiIn));
    assert.equal(sent(pair.eventsI, ExchangeType.IKE_FOLLOWUP_KE), s.methods.length - 1);
    // The new IKE SA works: a Child SA rekey over it yields equal keys.
    const [c] = pair.i.children(ni.id);
    assert.ok(c);
    assert.ok(pair.i.rekeyChild(ni.id, c.spiIn, pair.now));
    pair.run();
    const [a] = pair.i.children(ni.id);
    const [b] = pair.r.children(nr.id);
    assert.ok(a && b);
    sameKeys(a, b);
    assert.deepEqual(pair.errors(), []);
  });
}
