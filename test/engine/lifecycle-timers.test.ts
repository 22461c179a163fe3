/**
 * Lifetimes, liveness and the failure paths of CREATE_CHILD_SA / IKE_FOLLOWUP_KE:
 * soft/hard lifetimes with jitter, dead peer detection, STATE_NOT_FOUND after a stalled
 * series, TEMPORARY_FAILURE, INVALID_KE_PAYLOAD and NO_PROPOSAL_CHOSEN inside CREATE_CHILD_SA,
 * PFS per Child SA, deletes, and the childless post-quantum policy (RFC 9370 §2.2.5.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { ExchangeType, KeMethodId, NotifyType } from '../../src/wire/constants.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { decodeMessage } from '../../src/wire/index.js';
import { onlySa } from '../helpers/engine-wire.js';

const HYBRID_IKE = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
const HYBRID_ESP = 'aes256gcm16-x25519-ke1_mlkem768';

function count(events: readonly EngineEvent[], pred: (e: EngineEvent) => boolean): number {
  return events.filter(pred).length;
}

test('soft lifetime rekeys the Child SA (with jitter) and the IKE SA on time; keys keep agreeing', () => {
  const pair = new EnginePair({
    ikeI: [HYBRID_IKE],
    espI: [HYBRID_ESP],
    child: { rekeyTimeMs: 60_000, randTimeMs: 6_000, lifeTimeMs: 90_000 },
    connI: { ikeRekeyTimeMs: 200_000, randTimeMs: 10_000 },
  });
  pair.establish();
  while (pair.now < 400_000 && pair.advance());
  assert.deepEqual(pair.errors(), []);
  const rekeys = count(pair.eventsI, (e) => e.type === 'child-up' && e.child.rekeyOf !== undefined);
  assert.ok(rekeys >= 5, `child rekeyed ${rekeys} times in 400 s`);
  assert.ok(count(pair.eventsI, (e) => e.type === 'ike-rekeyed') >= 1);
  const [ni] = pair.i.list();
  const [nr] = pair.r.list();
  assert.ok(ni && nr);
  assert.equal(pair.i.list().length, 1);
  const [a] = pair.i.children(ni.id);
  const [b] = pair.r.children(nr.id);
  assert.ok(a && b);
  assert.deepEqual(a.keys, b.keys);
  // Rekeys happened before the soft lifetime ran out, never after the hard one.
  const ups = pair.eventsI.flatMap((e) => (e.type === 'child-up' ? [e.child.spiIn] : []));
  assert.equal(new Set(ups).size, ups.length, 'no SPI reused');
  assert.equal(count(pair.eventsI, (e) => e.type === 'log' && /hard lifetime/.test(e.message)), 0);
});

test('hard lifetime deletes a Child SA that could not be rekeyed', () => {
  const pair = new EnginePair({ espI: ['aes256gcm16'], child: { lifeTimeMs: 30_000 } });
  const ids = pair.establish();
  while (pair.now < 40_000 && pair.advance());
  assert.equal(pair.i.children(ids.i).length, 0);
  assert.equal(pair.r.children(ids.r).length, 0);
  assert.ok(pair.eventsI.some((e) => e.type === 'log' && /hard lifetime/.test(e.message)));
});

test('dead peer detection: no answer to the liveness check → IKE SA and its Child SAs go away', () => {
  const pair = new EnginePair({ conn: { dpdDelayMs: 30_000 } });
  const ids = pair.establish();
  // The peer vanishes.
  pair.filter = () => undefined;
  while (pair.now < 200_000 && pair.advance());
  const failed = pair.eventsI.find((e) => e.type === 'ike-failed');
  assert.ok(failed, 'initiator declared the peer dead');
  assert.ok(pair.eventsI.some((e) => e.type === 'child-down'));
  assert.equal(pair.i.list().length, 0);
  assert.equal(pair.i.children(ids.i).length, 0);
  // The first liveness check went out after the DPD delay, empty (RFC 7296 §2.4).
  const firstDpd = pair.eventsI.find((e) => e.type === 'message' && e.direction === 'out' && e.exchange === ExchangeType.INFORMATIONAL);
  assert.ok(firstDpd && firstDpd.type === 'message' && firstDpd.payloads.length === 0);
});

test('liveness checks answered while the peer lives; no false alarm', () => {
  const pair = new EnginePair({ conn: { dpdDelayMs: 10_000 } });
  pair.establish();
  while (pair.now < 100_000 && pair.advance());
  assert.equal(count(pair.eventsI, (e) => e.type === 'ike-failed'), 0);
  assert.ok(count(pair.eventsI, (e) => e.type === 'message' && e.direction === 'out' && e.exchange === ExchangeType.INFORMATIONAL) >= 5);
  assert.equal(pair.i.list().length, 1);
});

test('a stalled IKE_FOLLOWUP_KE series: responder drops it, answers STATE_NOT_FOUND, initiator retries the series and succeeds', () => {
  const pair = new EnginePair({ ikeI: [HYBRID_IKE], espI: [HYBRID_ESP], responderEngineOptions: { followupTimeoutMs: 5000 } });
  const ids = pair.establish();
  const [c] = pair.i.children(ids.i);
  assert.ok(c);
  // Hold back every copy of the IKE_FOLLOWUP_KE request (fragments included) for 6 s, longer
  // than the responder's 5 s series timeout; the retransmission at 7 s gets through.
  const start = pair.now;
  pair.filter = (d) => {
    if (d.from === 'i' && pair.now - start < 6000 && decodeMessage(d.data).header.exchangeType === ExchangeType.IKE_FOLLOWUP_KE) return undefined;
    return d.data;
  };
  pair.i.rekeyChild(ids.i, c.spiIn, pair.now);
  pair.run();
  while (pair.now < 60_000 && pair.advance());
  assert.deepEqual(pair.errors(), []);
  assert.ok(pair.eventsR.some((e) => e.type === 'log' && /stalled/.test(e.message)), 'responder dropped the series');
  assert.ok(pair.eventsI.some((e) => e.type === 'child-failed' && /STATE_NOT_FOUND/.test(e.reason)), 'initiator saw STATE_NOT_FOUND');
  const [a] = pair.i.children(ids.i);
  const [b] = pair.r.children(ids.r);
  assert.ok(a && b);
  assert.notEqual(a.spiIn, c.spiIn);
  assert.deepEqual(a.keys, b.keys);
  assert.equal(pair.i.children(ids.i).length, 1);
  assert.equal(pair.r.children(ids.r).length, 1);
});

test('an IKE_FOLLOWUP_KE with unknown link data gets STATE_NOT_FOUND', () => {
  // The link data cannot be altered on the wire (it is encrypted): instead the responder
  // forgets its series before the request arrives.
  const pairShort = new EnginePair({ ikeI: [HYBRID_IKE], espI: [HYBRID_ESP], responderEngineOptions: { followupTimeoutMs: 1 } });
  const ids2 = pairShort.establish();
  const [c2] = pairShort.i.children(ids2.i);
  assert.ok(c2);
  pairShort.filter = (d) => {
    // Let the responder's clock pass its 1 ms timeout before the IKE_FOLLOWUP_KE request arrives.
    if (d.from === 'i') {
      pairShort.now += 5;
      pairShort.r.tick(pairShort.now);
    }
    return d.data;
  };
  pairShort.i.rekeyChild(ids2.i, c2.spiIn, pairShort.now);
  pairShort.run();
  const notFound = pairShort.eventsR.some((e) => e.type === 'message' && e.direction === 'out' && e.response && e.exchange === ExchangeType.IKE_FOLLOWUP_KE && e.payloads.includes('N(STATE_NOT_FOUND)'));
  assert.ok(notFound);
});

test('a rekey request for an SA whose IKE_FOLLOWUP_KE series is under way gets TEMPORARY_FAILURE', () => {
  const pair = new EnginePair({ ikeI: [HYBRID_IKE], espI: [HYBRID_ESP] });
  const ids = pair.establish();
  const [ci] = pair.i.children(ids.i);
  const [cr] = pair.r.children(ids.r);
  assert.ok(ci && cr);
  // The responder's own rekey request is delayed until the initiator is in its IKE_FOLLOWUP_KE phase.
  let delayed: Uint8Array | undefined;
  pair.filter = (d) => {
    const h = decodeMessage(d.data).header;
    if (d.from === 'r' && !delayed && h.exchangeType === ExchangeType.CREATE_CHILD_SA && (h.flags & 0x20) === 0) {
      delayed = d.data;
      return undefined;
    }
    return d.data;
  };
  pair.r.rekeyChild(ids.r, cr.spiIn, pair.now);
  pair.run();
  pair.i.rekeyChild(ids.i, ci.spiIn, pair.now);
  // Deliver up to the initiator's IKE_FOLLOWUP_KE request, then release the delayed request.
  const outI = pair.i.drain();
  for (const o of outI) if (o.kind === 'send') pair.r.receive(o.data, { address: '192.0.2.1', port: 500 }, { address: '192.0.2.2', port: 500 }, pair.now);
  const outR = pair.r.drain();
  for (const o of outR) if (o.kind === 'send') pair.i.receive(o.data, { address: '192.0.2.2', port: 500 }, { address: '192.0.2.1', port: 500 }, pair.now);
  // Now the initiator has sent IKE_FOLLOWUP_KE (phase followup); the peer's rekey request arrives.
  assert.ok(delayed);
  pair.i.receive(delayed, { address: '192.0.2.2', port: 500 }, { address: '192.0.2.1', port: 500 }, pair.now);
  const answer = pair.i.drain();
  const events = answer.flatMap((o) => (o.kind === 'event' ? [o.event] : []));
  assert.ok(events.some((e) => e.type === 'message' && e.direction === 'out' && e.response && e.exchange === ExchangeType.CREATE_CHILD_SA && e.payloads.includes('N(TEMPORARY_FAILURE)')), JSON.stringify(events.filter((e) => e.type === 'message')));
});

test('INVALID_KE_PAYLOAD inside CREATE_CHILD_SA: the initiator retries with the method the responder wants', () => {
  const pair = new EnginePair({ espI: ['aes256gcm16-ecp256-x25519'], espR: ['aes256gcm16-x25519'] });
  const ids = pair.establish();
  assert.ok(pair.i.createChild(ids.i, 'net', pair.now));
  pair.run();
  const added = pair.eventsI.filter((e) => e.type === 'child-up')[1];
  assert.ok(added && added.type === 'child-up');
  assert.deepEqual(added.child.keMethods, [KeMethodId.CURVE25519]);
  assert.ok(pair.eventsR.some((e) => e.type === 'message' && e.direction === 'out' && e.payloads.includes('N(INVALID_KE_PAYLOAD)')));
});

test('NO_PROPOSAL_CHOSEN inside CREATE_CHILD_SA fails the Child SA, not the IKE SA', () => {
  const pair = new EnginePair({ espI: ['aes256gcm16-x25519'], espR: ['aes128-sha256-ecp256'] });
  pair.initiate();
  pair.run();
  // IKE_AUTH strips KE: the first child fails on ENCR (aes256gcm16 vs aes128), so the IKE SA has no child.
  const [i] = pair.i.list();
  assert.ok(i);
  assert.ok(pair.i.createChild(i.id, 'net', pair.now));
  pair.run();
  assert.equal(pair.i.list().length, 1);
  assert.ok(pair.eventsI.some((e) => e.type === 'child-failed' && /NO_PROPOSAL_CHOSEN/.test(e.reason)));
  void NotifyType;
});

test('PFS is optional per Child SA: without KE in the ESP proposal a rekey uses SK_d alone', () => {
  const pair = new EnginePair({ ikeI: [HYBRID_IKE], espI: ['aes256gcm16'] });
  const ids = pair.establish();
  const [c] = pair.i.children(ids.i);
  assert.ok(c);
  pair.i.rekeyChild(ids.i, c.spiIn, pair.now);
  pair.run();
  const [a] = pair.i.children(ids.i);
  const [b] = pair.r.children(ids.r);
  assert.ok(a && b);
  assert.deepEqual(a.keMethods, []);
  assert.deepEqual(a.keys, b.keys);
  assert.equal(count(pair.eventsI, (e) => e.type === 'message' && e.exchange === ExchangeType.IKE_FOLLOWUP_KE), 0);
});

test('delete of a Child SA and of the IKE SA, from either side', () => {
  const pair = new EnginePair();
  const ids = pair.establish();
  const [cr] = pair.r.children(ids.r);
  assert.ok(cr);
  assert.ok(pair.r.deleteChild(ids.r, cr.spiIn, pair.now));
  pair.run();
  assert.equal(pair.i.children(ids.i).length, 0);
  assert.equal(pair.r.children(ids.r).length, 0);
  assert.ok(pair.i.terminate(ids.i, pair.now));
  pair.run();
  assert.equal(pair.i.list().length, 0);
  assert.equal(pair.r.list().length, 0);
  assert.ok(pair.eventsR.some((e) => e.type === 'ike-down'));
});

test('childless post-quantum policy: no Child SA in IKE_AUTH, IKE SA rekeyed with ADDKE, then Child SAs with ADDKE', () => {
  const pair = new EnginePair({
    // RFC 9370 §2.2.5.1: the initiator offers proposals with and without ADDKE, the responder
    // takes the classic one for IKE_SA_INIT; the rekey then asks for ADDKE only.
    ikeI: ['aes256gcm16-prfsha384-x25519', HYBRID_IKE],
    ikeR: ['aes256gcm16-prfsha384-x25519', HYBRID_IKE],
    espI: [HYBRID_ESP],
    connI: { childless: 'pq' },
  });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const auth = pair.eventsI.find((e) => e.type === 'message' && e.direction === 'out' && e.exchange === ExchangeType.IKE_AUTH);
  assert.ok(auth && auth.type === 'message' && !auth.payloads.includes('SA'), 'IKE_AUTH without SA/TS');
  const up = pair.eventsI.find((e) => e.type === 'ike-up');
  assert.ok(up && up.type === 'ike-up');
  assert.deepEqual(up.ike.keMethods, [KeMethodId.CURVE25519], 'the first IKE SA is classic');
  const rekeyed = pair.eventsI.find((e) => e.type === 'ike-rekeyed');
  assert.ok(rekeyed && rekeyed.type === 'ike-rekeyed');
  assert.deepEqual(rekeyed.ike.keMethods, [KeMethodId.CURVE25519, KeMethodId.MLKEM768], 'its rekey ran ML-KEM-768');
  const children = pair.eventsI.filter((e) => e.type === 'child-up');
  assert.equal(children.length, 1);
  const [c] = children;
  assert.ok(c && c.type === 'child-up');
  assert.deepEqual(c.child.keMethods, [KeMethodId.CURVE25519, KeMethodId.MLKEM768]);
  assert.equal(c.sa, rekeyed.sa, 'created on the rekeyed IKE SA');
});

test('a peer rekey that stalled and was dropped does not count as a collision for a later rekey of ours', () => {
  const pair = new EnginePair({ ikeI: [HYBRID_IKE], espI: [HYBRID_ESP], engineOptions: { followupTimeoutMs: 2000 } });
  const ids = pair.establish();
  const [cr] = pair.r.children(ids.r);
  assert.ok(cr);
  // The responder side starts a rekey; its IKE_FOLLOWUP_KE request (sent at 0, 1 and 3 s) is
  // held back for 6 s, so the initiator (answering that rekey) drops the series at 2 s (RFC
  // 9370 §2.2.4). We look at 3 s, before the retransmission at 7 s gets through.
  const start = pair.now;
  pair.filter = (d) => (d.from === 'r' && pair.now - start < 6000 && decodeMessage(d.data).header.exchangeType === ExchangeType.IKE_FOLLOWUP_KE ? undefined : d.data);
  pair.r.rekeyChild(ids.r, cr.spiIn, pair.now);
  pair.run();
  while (pair.now - start < 2500 && pair.advance());
  assert.equal(pair.now - start, 3000);
  assert.ok(pair.eventsI.some((e) => e.type === 'log' && /stalled/.test(e.message)));
  // White-box: the dropped series no longer marks the Child SA as being rekeyed by the peer, so
  // a rekey of ours will not be taken for a collision it could lose (and stop) forever.
  const [child] = onlySa(pair.i).children;
  assert.ok(child);
  assert.equal(child.peerRekey, undefined);
  pair.filter = (d) => d.data;
  while (pair.now - start < 60_000 && pair.advance());
  // The peer retried after STATE_NOT_FOUND and completed; both sides agree.
  const [a] = pair.i.children(ids.i);
  const [b] = pair.r.children(ids.r);
  assert.ok(a && b);
  assert.deepEqual(a.keys, b.keys);
});
