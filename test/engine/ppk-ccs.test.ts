/**
 * RFC 9867 §3.2, a fresh PPK in CREATE_CHILD_SA, between two engines, the keys reproduced from
 * the formulas with node:crypto's HMAC-SHA-384 and the shared secrets the initiator's key
 * exchanges produced (test/helpers/ppk-formulas.ts), independently of the engine's key schedule:
 *   PPK Confirmation = first 8 octets of prf(PPK, Ni | SPIi | SPIr) (this request's Ni, the IKE SA's SPIs),
 *   SK_d' = prf+(PPK, SK_d)                                                      (§3.2.1),
 *   Child SA: KEYMAT = prf+(SK_d', SK(0) | Ni | Nr | SK(1) .. SK(n))            (RFC 7296 §2.17, RFC 9370 §2.2.4),
 *   IKE SA:   SKEYSEED = prf(SK_d', SK(0) | Ni | Nr | SK(1) .. SK(n)),
 *             {SK_d | .. | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)       (RFC 7296 §2.18, RFC 9370 §2.2.4),
 * over an IKE SA that got its first PPK in IKE_INTERMEDIATE (RFC 9867 §3.1), with x25519 +
 * ML-KEM-768 and x25519 + ML-KEM-768 + ML-KEM-1024 (the additional exchanges in IKE_FOLLOWUP_KE).
 * Then the policies and bad input: a responder without the PPK, one that requires a fresh PPK,
 * an initiator that requires one, a wrong PPK, malformed offers, a PPK_IDENTITY naming a PPK
 * that was not offered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixedPpkId } from '../../src/engine/ppk.js';
import { decodeInner, openMessage } from '../../src/engine/protection.js';
import type { IkeSa } from '../../src/engine/ike-sa.js';
import type { ConnectionConfig } from '../../src/engine/types.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/wire/constants.js';
import type { NotifyPayload, Payload } from '../../src/wire/types.js';
import { EnginePair } from '../helpers/engine-pair.js';
import type { Delivered } from '../helpers/engine-pair.js';
import { decode, isResponse, notifies, sasOf, sealAs } from '../helpers/engine-wire.js';
import { ID, OTHER, PPK, hmac, keysOf, ppk, prfPlus, recordingKe } from '../helpers/ppk-formulas.js';

const FRESH = Buffer.from('3c'.repeat(32), 'hex');
const FRESH_ID = 'pqike-ppk-fresh';
const BOTH: [string, Uint8Array][] = [[ID, PPK], [FRESH_ID, FRESH]];

interface Seen {
  readonly request: Payload[];
  readonly response: Payload[];
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The IKE SA of `engine` a message belongs to (by the IKE SPIs in its header). */
function saFor(engine: EnginePair['i'], data: Uint8Array): IkeSa | undefined {
  const h = decode(data).header;
  return sasOf(engine).find((s) => hexOf(s.spiI) === hexOf(h.spiI) && hexOf(s.spiR) === hexOf(h.spiR));
}

/** Every CREATE_CHILD_SA exchange on the wire, opened with the receiver's keys. */
function recordCcs(pair: EnginePair, change?: (d: Delivered, inner: Payload[], sa: IkeSa) => Payload[] | undefined): Seen[] {
  const seen: { request: Payload[]; response: Payload[] }[] = [];
  pair.filter = (d) => {
    const m = decode(d.data);
    if (m.header.exchangeType !== ExchangeType.CREATE_CHILD_SA) return d.data;
    const to = d.from === 'i' ? pair.r : pair.i;
    const from = d.from === 'i' ? pair.i : pair.r;
    const rx = saFor(to, d.data);
    const tx = saFor(from, d.data);
    const opened = rx ? openMessage(d.data, m, rx.requireCipher(), rx.inKeys()) : undefined;
    if (!opened || !tx) return d.data;
    let inner = decodeInner(opened.innerFirst, opened.plain);
    const changed = change?.(d, inner, tx);
    if (changed) inner = changed;
    if (isResponse(m)) {
      const last = seen[seen.length - 1];
      if (last && last.response.length === 0) last.response = inner;
    } else seen.push({ request: inner, response: [] });
    return changed ? sealAs(tx, ExchangeType.CREATE_CHILD_SA, m.header.messageId, inner, isResponse(m))[0] : d.data;
  };
  return seen;
}

const nonceOf = (payloads: readonly Payload[]): Uint8Array => {
  const n = payloads.find((p) => p.type === PayloadType.NONCE);
  assert.ok(n?.type === PayloadType.NONCE);
  return n.data;
};
const ppkNotifies = (payloads: readonly Payload[], type: number): NotifyPayload[] => notifies(payloads).filter((n) => n.notifyType === type);

/** The PPKs a connection had when its IKE SA was set up: the one of ppk_id (ID) alone. */
const atSetup = (c: Partial<ConnectionConfig>): Partial<ConnectionConfig> => (c.ppk ? { ...c, ppk: { ...c.ppk, keys: new Map([...c.ppk.keys].filter(([h]) => h === hexOf(fixedPpkId(ID)))) } } : c);
const later = new WeakMap<EnginePair, { i: Partial<ConnectionConfig>; r: Partial<ConnectionConfig> }>();

/** Two engines whose connections have only the setup PPK until up() hands them the rest, as a reload of the secrets does. */
function pairWith(ike: string, esp: string, connI: Partial<ConnectionConfig>, connR: Partial<ConnectionConfig>, secrets: Uint8Array[] = []): EnginePair {
  const pair = new EnginePair({ ikeI: [ike], espI: [esp], connI: atSetup(connI), connR: atSetup(connR), engineOptions: { keMethod: recordingKe(secrets), exportKeys: true }, responderEngineOptions: { exportKeys: true } });
  later.set(pair, { i: connI, r: connR });
  return pair;
}

/** Establish, then the reload: the connections' full PPK sets go to the running SAs (IkeEngine.replaceConnection). */
function up(pair: EnginePair): { i: number; r: number } {
  const ids = pair.establish();
  const full = later.get(pair);
  for (const [engine, c] of [[pair.i, full?.i], [pair.r, full?.r]] as const) {
    const conn = engine.connections()[0];
    if (conn && c) engine.replaceConnection({ ...conn, ...c });
  }
  return ids;
}

for (const [label, ike, esp, methods] of [
  ['x25519 + ML-KEM-768', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-x25519-ke1_mlkem768', 2],
  ['x25519 + ML-KEM-768 + ML-KEM-1024', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024', 'aes256gcm16-x25519-ke1_mlkem768-ke2_mlkem1024', 3],
] as const) {
  test(`${label}: a fresh PPK through CREATE_CHILD_SA, a Child SA rekey and an IKE SA rekey, every key from the formulas`, () => {
    const secrets: Uint8Array[] = [];
    const pair = pairWith(ike, esp, { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' }) }, { ppk: ppk({ required: true, keys: BOTH }) }, secrets);
    const seen = recordCcs(pair);
    const ids = up(pair);
    assert.deepEqual(pair.errors(), []);
    assert.equal(pair.i.info(ids.i)?.ppk, ID, 'the IKE SA got its first PPK in IKE_INTERMEDIATE');
    assert.equal(secrets.length, methods);
    const sa = sasOf(pair.i)[0];
    assert.ok(sa);
    const skD = Buffer.from(sa.requireKeys().skD);

    // The Child SA rekey, with IKE_FOLLOWUP_KE for the additional key exchanges.
    const first = pair.i.children(ids.i)[0];
    assert.ok(first && pair.i.rekeyChild(ids.i, first.spiIn, pair.now));
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const child = seen[0];
    assert.ok(child);
    // Only the PPK not yet in the IKE SA's keys is offered, with prf(PPK, Ni | SPIi | SPIr).
    const offers = ppkNotifies(child.request, NotifyType.PPK_IDENTITY_KEY);
    const ni = nonceOf(child.request);
    const nr = nonceOf(child.response);
    assert.equal(offers.length, 1);
    assert.deepEqual(Buffer.from(offers[0]?.data ?? []), Buffer.concat([fixedPpkId(FRESH_ID), hmac(FRESH, ni, sa.spiI, sa.spiR).subarray(0, 8)]));
    assert.deepEqual(ppkNotifies(child.response, NotifyType.PPK_IDENTITY).map((n) => Buffer.from(n.data)), [Buffer.from(fixedPpkId(FRESH_ID))]);
    const childSecrets = secrets.slice(methods, 2 * methods);
    const skDp = prfPlus(FRESH, skD, 48);
    const keymat = prfPlus(skDp, Buffer.concat([childSecrets[0] as Uint8Array, ni, nr, ...childSecrets.slice(1)]), 4 * 36);
    const rekeyed = pair.i.children(ids.i).find((c) => c.rekeyOf === first.spiIn);
    const peer = pair.r.children(ids.r).find((c) => c.rekeyOf !== undefined);
    assert.ok(rekeyed && peer);
    assert.deepEqual(Buffer.from(rekeyed.keys.encrI), keymat.subarray(0, 36), 'KEYMAT = prf+(SK_d\', SK(0) | Ni | Nr | SK(1)..)');
    assert.deepEqual(Buffer.from(rekeyed.keys.encrR), keymat.subarray(36, 72));
    assert.deepEqual(peer.keys, rekeyed.keys, 'the responder has the same keys');
    assert.equal(rekeyed.ppk, FRESH_ID);
    assert.equal(peer.ppk, FRESH_ID);
    assert.equal(pair.i.info(ids.i)?.ppk, ID, 'a Child SA with a fresh PPK leaves the IKE SA as it was');

    // The IKE SA rekey: SKEYSEED from SK_d' = prf+(PPK, SK_d (old)).
    assert.ok(pair.i.rekeyIke(ids.i, pair.now));
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const rk = seen[1];
    assert.ok(rk);
    assert.equal(ppkNotifies(rk.request, NotifyType.PPK_IDENTITY_KEY).length, 1);
    const newI = sasOf(pair.i).find((s) => s !== sa && s.state === 'established');
    const newR = sasOf(pair.r).find((s) => s.state === 'established');
    assert.ok(newI && newR);
    const ikeSecrets = secrets.slice(2 * methods, 3 * methods);
    const rni = nonceOf(rk.request);
    const rnr = nonceOf(rk.response);
    assert.deepEqual([Buffer.from(newI.ni), Buffer.from(newI.nr)], [Buffer.from(rni), Buffer.from(rnr)]);
    const skeyseed = hmac(skDp, ikeSecrets[0] as Uint8Array, rni, rnr, ...ikeSecrets.slice(1));
    const want = keysOf(skeyseed, rni, rnr, newI.spiI, newI.spiR);
    for (const name of ['skD', 'skEi', 'skEr', 'skPi', 'skPr'] as const) {
      assert.deepEqual(Buffer.from(newI.requireKeys()[name]), want[name], `${name} of the new IKE SA`);
      assert.deepEqual(Buffer.from(newR.requireKeys()[name]), want[name], `${name} of the responder's new IKE SA`);
    }
    for (const [engine, s] of [[pair.i, newI], [pair.r, newR]] as const) {
      assert.equal(engine.info(s.id)?.ppk, FRESH_ID);
      assert.equal(engine.info(s.id)?.ppkExchange, 'CREATE_CHILD_SA');
    }
    // The moved Child SA still carries traffic keys; liveness works on the new IKE SA.
    assert.equal(pair.i.children(newI.id).length, 1);
  });
}

const x25519 = 'aes256gcm16-prfsha384-x25519';
const gcm = 'aes256gcm16-x25519';

/** Establish, rekey the Child SA once; what the responder refused, the initiator's failure, the CCS exchange. */
function childRekey(connI: Partial<ConnectionConfig>, connR: Partial<ConnectionConfig>, change?: Parameters<typeof recordCcs>[1], secrets: Uint8Array[] = []): { pair: EnginePair; seen: Seen[]; ids: { i: number; r: number }; old: number } {
  const pair = pairWith(x25519, gcm, connI, connR, secrets);
  const seen = recordCcs(pair, change);
  const ids = up(pair);
  const old = pair.i.children(ids.i)[0]?.spiIn;
  assert.ok(old !== undefined && pair.i.rekeyChild(ids.i, old, pair.now));
  pair.run();
  return { pair, seen, ids, old };
}

const refusedBy = (pair: EnginePair): { notify: number; reason: string } | undefined => {
  const r = pair.eventsR.find((e) => e.type === 'refused');
  return r?.type === 'refused' ? { notify: r.notify, reason: r.reason } : undefined;
};
const childFailed = (pair: EnginePair): string[] => pair.eventsI.flatMap((e) => (e.type === 'child-failed' ? [e.reason] : []));

test('without a fresh PPK at the responder the Child SA is made from SK_d alone; a responder without rekey: set still takes one', () => {
  const secrets: Uint8Array[] = [];
  const lacks = childRekey({ ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' }) }, { ppk: ppk({ required: true }) }, undefined, secrets);
  assert.deepEqual(lacks.pair.errors(), []);
  const made = lacks.pair.i.children(lacks.ids.i).find((c) => c.rekeyOf === lacks.old);
  assert.ok(made && made.ppk === undefined, 'made without the PPK');
  const ccs = lacks.seen[0];
  assert.ok(ccs);
  assert.equal(ppkNotifies(ccs.request, NotifyType.PPK_IDENTITY_KEY).length, 1, 'offered');
  assert.equal(ppkNotifies(ccs.response, NotifyType.PPK_IDENTITY).length, 0, 'not taken');
  const sa = sasOf(lacks.pair.i)[0];
  assert.ok(sa && secrets.length === 2);
  // KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), the plain RFC 7296 §2.17 formula.
  const want = prfPlus(sa.requireKeys().skD, Buffer.concat([secrets[1] as Uint8Array, nonceOf(ccs.request), nonceOf(ccs.response)]), 36);
  assert.deepEqual(Buffer.from(made.keys.encrI), want);

  const takes = childRekey({ ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' }) }, { ppk: ppk({ required: true, keys: BOTH }) });
  assert.equal(takes.pair.i.children(takes.ids.i).find((c) => c.rekeyOf === takes.old)?.ppk, FRESH_ID);
  // An initiator without rekey: offers nothing.
  const quiet = childRekey({ ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH }) }, { ppk: ppk({ required: true, keys: BOTH }) });
  assert.equal(ppkNotifies(quiet.seen[0]?.request ?? [], NotifyType.PPK_IDENTITY_KEY).length, 0);
  assert.equal(quiet.pair.i.children(quiet.ids.i).find((c) => c.rekeyOf === quiet.old)?.ppk, undefined);
});

test('a responder that requires a fresh PPK answers NO_PROPOSAL_CHOSEN without one, and with a wrong one; the old Child SA stays', () => {
  for (const [name, keysR, rekeyI, why] of [
    ['no PPK offered', BOTH, undefined, /no PPK offered \(no PPK_IDENTITY_KEY\), and this connection requires a fresh PPK \(RFC 9867 §3\.2\)/],
    ['a wrong PPK under the fresh PPK_ID', [[ID, PPK], [FRESH_ID, OTHER]], 'yes', /none of the 1 PPK\(s\) offered is one of ours \(unknown PPK_ID or wrong PPK Confirmation\)/],
    ['an unknown PPK_ID', [[ID, PPK]], 'yes', /none of the 1 PPK\(s\) offered is one of ours/],
  ] as const) {
    const r = childRekey({ ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, ...(rekeyI ? { rekey: rekeyI } : {}) }) }, { ppk: ppk({ required: true, keys: keysR.map(([id, k]) => [id, k]), rekey: 'require' }) });
    const refused = refusedBy(r.pair);
    assert.equal(refused?.notify, NotifyType.NO_PROPOSAL_CHOSEN, name);
    assert.match(refused?.reason ?? '', why, name);
    assert.deepEqual(r.pair.i.children(r.ids.i).map((c) => [c.spiIn, r.pair.i.info(r.ids.i)?.state]), [[r.old, 'established']], `${name}: the old Child SA and the IKE SA stay`);
  }
});

test('an initiator that requires a fresh PPK deletes the Child SA the responder made without it, and the one it replaced, on both sides', () => {
  const r = childRekey({ ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'require' }) }, { ppk: ppk({ required: true }) });
  assert.match(childFailed(r.pair).join('\n'), /made Child SA [0-9a-f]{8} without our fresh PPK, and this connection requires one \(RFC 9867 §3\.2\): deleting it/);
  assert.deepEqual(r.pair.i.children(r.ids.i), [], 'no Child SA without the fresh PPK');
  assert.deepEqual(r.pair.r.children(r.ids.r), [], 'none left at the peer either');
  assert.equal(r.pair.i.info(r.ids.i)?.state, 'established', 'the IKE SA stays');
});

test('malformed PPK_IDENTITY_KEY offers are INVALID_SYNTAX; a PPK_IDENTITY naming a PPK we did not offer fails the exchange', () => {
  const connI = { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' as const }) };
  const connR = { ppk: ppk({ required: true, keys: BOTH }) };
  const offer = (data: Uint8Array): Payload => ({ type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.PPK_IDENTITY_KEY, data });
  for (const [name, data, why] of [
    ['too short for a PPK_ID and a confirmation', new Uint8Array(9), /malformed PPK_IDENTITY_KEY \(9 octets/],
    ['a PPK_ID of type 7', Buffer.concat([Uint8Array.of(7, 0x41), new Uint8Array(8)]), /PPK_ID type 7; RFC 8784 §5\.1/],
  ] as const) {
    const r = childRekey(connI, connR, (d, inner) => (d.from === 'i' && !isResponse(decode(d.data)) ? [...inner.filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.PPK_IDENTITY_KEY)), offer(data)] : undefined));
    assert.equal(refusedBy(r.pair)?.notify, NotifyType.INVALID_SYNTAX, name);
    assert.match(refusedBy(r.pair)?.reason ?? '', why, name);
    assert.deepEqual(r.pair.i.children(r.ids.i).map((c) => c.spiIn), [r.old]);
  }
  const named = childRekey(connI, connR, (d, inner) =>
    d.from === 'r' ? inner.map((p) => (p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.PPK_IDENTITY ? { ...p, data: fixedPpkId('never-offered') } : p)) : undefined);
  assert.match(childFailed(named.pair).join('\n'), /the responder named a PPK we did not offer \(PPK_IDENTITY never-offered\)/);
  // RFC 9867 §3.1 item 1: fatal; the IKE SA goes, on both sides, with its Child SAs.
  assert.deepEqual(named.pair.i.list(), []);
  assert.deepEqual(named.pair.r.list(), []);
  // A responder without any PPK ignores the offers, malformed or not, and makes the SA (§3.2 ¶4).
  const none = childRekey({ ppk: ppk({ required: false, keys: BOTH, rekey: 'yes' }) }, {}, (d, inner) => (d.from === 'i' && !isResponse(decode(d.data)) ? [...inner, offer(new Uint8Array(3))] : undefined));
  assert.equal(refusedBy(none.pair), undefined);
  assert.equal(none.pair.i.children(none.ids.i).find((c) => c.rekeyOf === none.old)?.ppk, undefined);
});

test('an IKE SA rekey whose responder lacks the fresh PPK the initiator requires: the new IKE SA is deleted with its Child SAs, on both sides', () => {
  const pair = pairWith(x25519, gcm, { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'require' }) }, { ppk: ppk({ required: true }) });
  const ids = up(pair);
  assert.ok(pair.i.rekeyIke(ids.i, pair.now));
  pair.run();
  pair.runFor(60_000);
  assert.deepEqual(pair.i.list(), [], 'no IKE SA without the fresh PPK');
  assert.deepEqual(pair.r.list(), [], 'at the peer neither: nothing is left half-there');
  assert.ok(pair.eventsI.some((e) => e.type === 'log' && /made this IKE SA without our fresh PPK/.test(e.message)));
});

test('fresh means new since the IKE SA last took a PPK: after an IKE SA rekey with PPK B nothing is offered; an SA set up without a PPK offers its PPKs, the newest first, at most 8', () => {
  const secrets: Uint8Array[] = [];
  const pair = pairWith(x25519, gcm, { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' }) }, { ppk: ppk({ required: true, keys: BOTH }) }, secrets);
  const seen = recordCcs(pair);
  const ids = up(pair);
  assert.ok(pair.i.rekeyIke(ids.i, pair.now));
  pair.run();
  const next = pair.i.list().find((s) => s.state === 'established');
  assert.ok(next && next.ppk === FRESH_ID);
  const child = pair.i.children(next.id)[0];
  assert.ok(child && pair.i.rekeyChild(next.id, child.spiIn, pair.now));
  pair.run();
  assert.deepEqual(seen.map((x) => ppkNotifies(x.request, NotifyType.PPK_IDENTITY_KEY).length), [1, 0], 'PPK A is not fresh again after B');

  const many: [string, Uint8Array][] = Array.from({ length: 10 }, (_, i) => [`ppk-${i}`, Buffer.alloc(32, i + 1)]);
  // Set up with no PPK at all; the PPKs come later (a reload).
  const plain = new EnginePair({ ikeI: [x25519], espI: [gcm] });
  later.set(plain, { i: { ppk: ppk({ required: false, keys: many, rekey: 'yes' }) }, r: { ppk: ppk({ required: false, keys: many }) } });
  const seenPlain = recordCcs(plain);
  const p = up(plain);
  assert.equal(plain.i.info(p.i)?.ppk, undefined, 'set up without a PPK');
  const c = plain.i.children(p.i)[0];
  assert.ok(c && plain.i.rekeyChild(p.i, c.spiIn, plain.now));
  plain.run();
  const ids8 = ppkNotifies(seenPlain[0]?.request ?? [], NotifyType.PPK_IDENTITY_KEY).map((n) => Buffer.from(n.data.subarray(1, n.data.length - 8)).toString());
  assert.deepEqual(ids8, ['ppk-9', 'ppk-8', 'ppk-7', 'ppk-6', 'ppk-5', 'ppk-4', 'ppk-3', 'ppk-2']);
  assert.equal(plain.i.children(p.i).find((x) => x.rekeyOf === c.spiIn)?.ppk, 'ppk-9');
});

test('the original responder starts the CREATE_CHILD_SA: its confirmation too uses the IKE SA\'s SPIs (SPIi of the IKE SA\'s initiator), and its Child SA gets the PPK', () => {
  const pair = pairWith(x25519, gcm, { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH }) }, { ppk: ppk({ required: true, keys: BOTH, rekey: 'yes' }) });
  const seen = recordCcs(pair);
  const ids = up(pair);
  const child = pair.r.children(ids.r)[0];
  assert.ok(child && pair.r.rekeyChild(ids.r, child.spiIn, pair.now));
  pair.run();
  const sa = sasOf(pair.r)[0];
  const ccs = seen[0];
  assert.ok(sa && ccs && !sa.isInitiator);
  const offer = ppkNotifies(ccs.request, NotifyType.PPK_IDENTITY_KEY)[0];
  assert.deepEqual(Buffer.from(offer?.data ?? []), Buffer.concat([fixedPpkId(FRESH_ID), hmac(FRESH, nonceOf(ccs.request), sa.spiI, sa.spiR).subarray(0, 8)]));
  const made = pair.r.children(ids.r).find((c) => c.rekeyOf === child.spiIn);
  assert.equal(made?.ppk, FRESH_ID);
  assert.deepEqual(pair.i.children(ids.i).find((c) => c.spiIn === made?.spiOut)?.keys, made?.keys);
});

test('a Child SA rekey collision with fresh PPKs on both sides (RFC 7296 §2.8.1): one SA survives, with the same keys and the PPK on both sides', () => {
  const pair = pairWith(x25519, gcm, { ppk: ppk({ id: ID, required: true, intermediate: true, keys: BOTH, rekey: 'yes' }) }, { ppk: ppk({ required: true, keys: BOTH, rekey: 'yes' }) });
  const ids = up(pair);
  const ci = pair.i.children(ids.i)[0];
  const cr = pair.r.children(ids.r)[0];
  assert.ok(ci && cr);
  assert.ok(pair.i.rekeyChild(ids.i, ci.spiIn, pair.now));
  assert.ok(pair.r.rekeyChild(ids.r, cr.spiIn, pair.now));
  pair.runFor(30_000);
  assert.deepEqual(pair.errors(), []);
  const left = pair.i.children(ids.i);
  const right = pair.r.children(ids.r);
  assert.equal(left.length, 1, JSON.stringify(left.map((c) => c.spiIn)));
  assert.equal(right.length, 1);
  assert.equal(left[0]?.spiIn, right[0]?.spiOut);
  assert.deepEqual(left[0]?.keys, right[0]?.keys);
  assert.deepEqual([left[0]?.ppk, right[0]?.ppk], [FRESH_ID, FRESH_ID]);
});
