/**
 * RFC 9867, the PPK mixed in IKE_INTERMEDIATE, between two engines. Every key stage is
 * reproduced here from the formulas with node:crypto's HMAC-SHA-384 and the shared secrets the
 * initiator's key exchanges produced, independently of the engine's key schedule:
 *   SKEYSEED(0) = prf(Ni | Nr, SK(0)) (RFC 7296 §2.14),
 *   SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) (RFC 9370 §2.2.2),
 *   SKEYSEED'   = prf+(PPK, SK_d(last)), after the last additional key exchange (RFC 9867),
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr),
 * for x25519 alone (the PPK in an IKE_INTERMEDIATE of its own), x25519 + ML-KEM-768 and
 * x25519 + ML-KEM-768 + ML-KEM-1024 (the PPK with the last ML-KEM round). Then the refusals:
 * a required PPK the responder lacks, a wrong PPK under a known PPK_ID (its PPK Confirmation
 * does not match), malformed PPK_IDENTITY_KEY notifications, a PPK_IDENTITY naming a PPK that
 * was not offered; the optional fallbacks; RFC 8784 for a responder without RFC 9867; a rekey.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { fixedPpkId } from '../../src/engine/ppk.js';
import { parsePpkIdentityKey } from '../../src/engine/ppk-intermediate.js';
import { decodeInner, openMessage, sealMessage } from '../../src/engine/protection.js';
import type { ConnectionConfig, EngineEvent } from '../../src/engine/types.js';
import { ExchangeType, HeaderFlags, NotifyType, PayloadType } from '../../src/wire/constants.js';
import type { Payload } from '../../src/wire/types.js';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, isMessage, notifies, sasOf, sealAs } from '../helpers/engine-wire.js';
import { ID, OTHER, PPK, hmac, keysOf, ppk, prfPlus, recordingKe } from '../helpers/ppk-formulas.js';

function pairWith(ike: string, connI: Partial<ConnectionConfig>, connR: Partial<ConnectionConfig>, secrets: Uint8Array[] = []): EnginePair {
  return new EnginePair({
    ikeI: [ike],
    connI,
    connR,
    engineOptions: { keMethod: recordingKe(secrets), exportKeys: true },
    responderEngineOptions: { exportKeys: true },
  });
}

const sent = (events: readonly EngineEvent[], exchange: number): (readonly string[])[] =>
  events.flatMap((e) => (e.type === 'message' && e.direction === 'out' && e.exchange === exchange ? [e.payloads] : []));

for (const [label, ike, rounds] of [
  ['x25519 alone: the PPK in an IKE_INTERMEDIATE exchange of its own', 'aes256gcm16-prfsha384-x25519', 0],
  ['x25519 + ML-KEM-768: the PPK with the ML-KEM round', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', 1],
  ['x25519 + ML-KEM-768 + ML-KEM-1024: the PPK with the last round, after both', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024', 2],
] as const) {
  test(`${label}; every key stage reproduced from the formulas`, () => {
    const secrets: Uint8Array[] = [];
    const pair = pairWith(ike, { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) }, secrets);
    const ids = pair.establish();
    assert.deepEqual(pair.errors(), []);
    assert.equal(secrets.length, 1 + rounds, 'one shared secret per key exchange');
    const sa = sasOf(pair.i)[0];
    assert.ok(sa);
    const { ni, nr, spiI, spiR } = sa;
    const stages = [keysOf(hmac(Buffer.concat([ni, nr]), secrets[0] as Uint8Array), ni, nr, spiI, spiR)];
    for (let n = 1; n <= rounds; n++) {
      const prev = stages[n - 1];
      assert.ok(prev);
      stages.push(keysOf(hmac(prev.skD, secrets[n] as Uint8Array, ni, nr), ni, nr, spiI, spiR));
    }
    const last = stages[stages.length - 1];
    assert.ok(last);
    const withPpk = keysOf(prfPlus(PPK, last.skD, 48), ni, nr, spiI, spiR);
    const k = sa.requireKeys();
    for (const name of ['skD', 'skEi', 'skEr', 'skPi', 'skPr'] as const) assert.deepEqual(Buffer.from(k[name]), withPpk[name], `${name} from SKEYSEED' = prf+(PPK, SK_d)`);
    assert.deepEqual(Buffer.from(sasOf(pair.r)[0]?.requireKeys().skD ?? []), withPpk.skD, 'the responder has the same SK_d');
    // The exported stages, in order, with the PPK stage marked.
    const exported = pair.eventsI.flatMap((e) => (e.type === 'ike-keys' ? [e] : []));
    assert.deepEqual(exported.map((e) => e.stage), ['ike-sa-init', ...Array<string>(rounds).fill('ike-intermediate'), 'ppk']);
    [...stages, withPpk].forEach((s, i) => assert.deepEqual(Buffer.from(exported[i]?.skEi ?? []), s.skEi, `SK_ei of stage ${i}`));
    // On the wire: PPK_IDENTITY_KEY only in the last IKE_INTERMEDIATE request, PPK_IDENTITY in its response, no PPK notify in IKE_AUTH.
    const reqs = sent(pair.eventsI, ExchangeType.IKE_INTERMEDIATE);
    assert.equal(reqs.length, Math.max(rounds, 1));
    reqs.forEach((p, i) => assert.equal(p.includes('N(PPK_IDENTITY_KEY)'), i === reqs.length - 1, `request ${i + 1}`));
    const resps = sent(pair.eventsR, ExchangeType.IKE_INTERMEDIATE);
    resps.forEach((p, i) => assert.equal(p.includes('N(PPK_IDENTITY)'), i === resps.length - 1, `response ${i + 1}`));
    for (const p of [...sent(pair.eventsI, ExchangeType.IKE_AUTH), ...sent(pair.eventsR, ExchangeType.IKE_AUTH)]) assert.ok(!p.some((n) => n.includes('PPK')), `IKE_AUTH: ${p.join(' ')}`);
    assert.ok(sent(pair.eventsI, ExchangeType.IKE_SA_INIT)[0]?.includes('N(USE_PPK_INT)'));
    const initR = sent(pair.eventsR, ExchangeType.IKE_SA_INIT)[0] ?? [];
    assert.ok(initR.includes('N(USE_PPK_INT)') && !initR.includes('N(USE_PPK)'), 'the responder answers USE_PPK_INT and not USE_PPK');
    // The Child SA of IKE_AUTH: KEYMAT = prf+(SK_d, Ni | Nr) with the PPK SK_d (RFC 7296 §2.17).
    const child = pair.i.children(ids.i)[0];
    assert.deepEqual(Buffer.from(child?.keys.encrI ?? []), prfPlus(withPpk.skD, Buffer.concat([ni, nr]), 36));
    for (const [engine, id] of [[pair.i, ids.i], [pair.r, ids.r]] as const) {
      assert.equal(engine.info(id)?.ppk, ID);
      assert.equal(engine.info(id)?.ppkExchange, 'IKE_INTERMEDIATE');
    }
  });
}

test('the PPK Confirmation on the wire is the first 8 octets of prf(PPK, Ni | Nr | SPIi | SPIr)', () => {
  const pair = pairWith('aes256gcm16-prfsha384-x25519', { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  let data: Uint8Array | undefined;
  pair.filter = (d) => {
    const r = sasOf(pair.r)[0];
    if (d.from === 'i' && r && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, false)) {
      const m = decode(d.data);
      const opened = openMessage(d.data, m, r.requireCipher(), r.inKeys());
      assert.ok(opened);
      data = notifies(decodeInner(opened.innerFirst, opened.plain)).find((n) => n.notifyType === NotifyType.PPK_IDENTITY_KEY)?.data;
    }
    return d.data;
  };
  pair.establish();
  const sa = sasOf(pair.i)[0];
  assert.ok(sa && data);
  assert.deepEqual(Buffer.from(data), Buffer.concat([fixedPpkId(ID), hmac(PPK, sa.ni, sa.nr, sa.spiI, sa.spiR).subarray(0, 8)]));
});

/** Rewrite the PPK notifications of the initiator's IKE_INTERMEDIATE request (as a peer holding the keys could). */
function tamperOffers(pair: EnginePair, change: (p: Payload[]) => Payload[]): void {
  pair.filter = (d) => {
    const r = sasOf(pair.r)[0];
    if (d.from !== 'i' || !r || !isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, false)) return d.data;
    const m = decode(d.data);
    const opened = openMessage(d.data, m, r.requireCipher(), r.inKeys());
    const i = sasOf(pair.i)[0];
    if (!opened || !i) return d.data;
    // The request as the initiator sent it, with other inner payloads: same keys, same Message ID.
    return sealAs(i, ExchangeType.IKE_INTERMEDIATE, 1, change(decodeInner(opened.innerFirst, opened.plain)))[0];
  };
}

function outcome(pair: EnginePair): string {
  pair.initiate();
  pair.run();
  const refused = pair.eventsR.find((e) => e.type === 'refused');
  const failedI = pair.eventsI.find((e) => e.type === 'ike-failed');
  if (!failedI) return 'established';
  assert.ok(!pair.planeI.some((c) => c.op === 'add-sa') && !pair.planeR.some((c) => c.op === 'add-sa'), 'nothing installed');
  return refused?.type === 'refused' ? `responder: ${refused.reason} (${refused.notify})` : `initiator: ${failedI.type === 'ike-failed' ? failedI.reason : ''}`;
}

const x25519 = 'aes256gcm16-prfsha384-x25519';
const PPK_ID_KEY = (data: Uint8Array): Payload => ({ type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.PPK_IDENTITY_KEY, data });

test('refusals: each with AUTHENTICATION_FAILED or INVALID_SYNTAX in the IKE_INTERMEDIATE response, and its reason', () => {
  const reqI = { ppk: ppk({ id: ID, required: true, intermediate: true }) };
  const cases: [string, EnginePair, RegExp][] = [
    ['the responder lacks this PPK_ID, required there', pairWith(x25519, reqI, { ppk: ppk({ required: true, keys: [['another-id', OTHER]] }) }), new RegExp(`responder: none of the 1 PPK\\(s\\) offered is one of ours.*requires a PPK \\(RFC 9867\\) \\(${NotifyType.AUTHENTICATION_FAILED}\\)`)],
    ['a wrong PPK under the same PPK_ID (the confirmation differs)', pairWith(x25519, reqI, { ppk: ppk({ required: true, keys: [[ID, OTHER]] }) }), /responder: none of the 1 PPK\(s\) offered is one of ours \(unknown PPK_ID or wrong PPK Confirmation\)/],
    ['the responder lacks it, the initiator requires it', pairWith(x25519, reqI, { ppk: ppk({ required: false, keys: [['another-id', OTHER]] }) }), /initiator: the responder took none of our PPKs .*requires one \(RFC 9867\)/],
    ['a responder connection bound to another ppk_id', pairWith(x25519, reqI, { ppk: ppk({ id: 'another-id', required: true, keys: [[ID, PPK], ['another-id', OTHER]] }) }), /responder: none of the 1 PPK/],
  ];
  for (const [name, pair, why] of cases) assert.match(outcome(pair), why, name);
});

test('malformed PPK_IDENTITY_KEY notifications are INVALID_SYNTAX; a confirmation changed in one bit is not taken', () => {
  const mk = (): EnginePair => pairWith(x25519, { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  const swap = (f: (data: Uint8Array) => Uint8Array) => (p: Payload[]): Payload[] => p.map((x) => (x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.PPK_IDENTITY_KEY ? PPK_ID_KEY(f(x.data)) : x));
  for (const [name, f, why] of [
    ['too short for a PPK_ID and a confirmation', (d: Uint8Array) => d.subarray(0, 9), /responder: malformed PPK_IDENTITY_KEY \(9 octets.*\(7\)/],
    ['PPK_ID type 7', (d: Uint8Array) => Uint8Array.from([7, ...d.subarray(1)]), /responder: malformed PPK_IDENTITY_KEY \(PPK_ID type 7.*\(7\)/],
    ['the confirmation with one bit flipped', (d: Uint8Array) => Uint8Array.from(d.map((b, i) => (i === d.length - 1 ? b ^ 1 : b))), /wrong PPK Confirmation\).*\(24\)/],
  ] as const) {
    const pair = mk();
    tamperOffers(pair, swap(f));
    assert.match(outcome(pair), why, name);
  }
  assert.equal(typeof parsePpkIdentityKey(Uint8Array.of(2, 0x41, 1, 2, 3, 4, 5, 6, 7, 8)), 'object', 'the shortest well-formed one');
});

test('optional PPKs: a responder without this PPK, or without any PPK, goes on without', () => {
  const optI = { ppk: ppk({ id: ID, required: false, intermediate: true }) };
  const without = pairWith(x25519, optI, { ppk: ppk({ required: false, keys: [['another-id', OTHER]] }) });
  const ids = without.establish();
  assert.equal(without.i.info(ids.i)?.ppk, undefined);
  assert.equal(without.r.info(ids.r)?.ppk, undefined);
  assert.ok(sent(without.eventsI, ExchangeType.IKE_INTERMEDIATE).length === 1, 'the PPK round ran, and took none');
  const none = pairWith(x25519, optI, {});
  const ids2 = none.establish();
  assert.equal(none.i.info(ids2.i)?.ppk, undefined);
  assert.equal(sent(none.eventsI, ExchangeType.IKE_INTERMEDIATE).length, 0, 'no USE_PPK_INT answered: no IKE_INTERMEDIATE');
  // The fallback to RFC 8784 with a responder that lacks RFC 9867 is tested against strongSwan (test/interop/ppk-strongswan.test.ts):
  // in-process, stripping USE_PPK_INT from IKE_SA_INIT would break the AUTH that signs that message.
});

test('a PPK_IDENTITY naming a PPK we did not offer is INVALID_SYNTAX; IKE_AUTH before the PPK round is refused', () => {
  const pair = pairWith(x25519, { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  pair.filter = (d) => {
    const i = sasOf(pair.i)[0];
    if (d.from !== 'r' || !i || !isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, true)) return d.data;
    const m = decode(d.data);
    // The response's keys are the initiator's inbound ones (the responder already moved on to the PPK's).
    const opened = openMessage(d.data, m, i.requireCipher(), i.inKeys());
    if (!opened) return d.data;
    const inner = decodeInner(opened.innerFirst, opened.plain).map((x) => (x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.PPK_IDENTITY ? { ...x, data: fixedPpkId('not-offered') } : x));
    return sealMessage({ ...i.frame(ExchangeType.IKE_INTERMEDIATE, true, 1), flags: HeaderFlags.RESPONSE }, inner, i.requireCipher(), i.inKeys(), undefined, (n) => randomBytes(n)).datagrams[0];
  };
  assert.match(outcome(pair), /initiator: the responder named a PPK we did not offer \(PPK_IDENTITY not-offered\)/);
  // An initiator that skips the PPK round: the responder refuses its IKE_AUTH.
  const skip = pairWith(x25519, { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  skip.filter = (d) => {
    const i = sasOf(skip.i)[0];
    if (d.from === 'i' && i && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, false)) {
      return sealAs(i, ExchangeType.IKE_AUTH, 1, [{ type: PayloadType.IDi, critical: false, idType: 2, data: Buffer.from('moon.example.org') }])[0];
    }
    return d.data;
  };
  skip.initiate();
  skip.run();
  const refused = skip.eventsR.find((e) => e.type === 'refused');
  assert.ok(refused?.type === 'refused' && refused.notify === NotifyType.INVALID_SYNTAX, 'refused with INVALID_SYNTAX');
  assert.match(refused.reason, /IKE_AUTH before the IKE_INTERMEDIATE exchange with the PPK \(RFC 9867\)/);
  assert.ok(!skip.planeR.some((c) => c.op === 'add-sa'), 'nothing installed');
});

test('an IKE SA rekey and a Child SA rekey after an RFC 9867 SA: the new IKE SA keeps the PPK (through SK_d), listed as mixed in IKE_INTERMEDIATE', () => {
  const pair = pairWith('aes256gcm16-prfsha384-x25519-ke1_mlkem768', { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  const ids = pair.establish();
  const fresh = pair.rekeyChildThenIke(ids.i);
  assert.deepEqual(pair.errors(), []);
  assert.equal(fresh.length, 1);
  assert.notEqual(fresh[0]?.id, ids.i);
  assert.equal(fresh[0]?.ppk, ID);
  assert.equal(fresh[0]?.ppkExchange, 'IKE_INTERMEDIATE');
  assert.equal(pair.r.list().find((s) => s.state === 'established')?.ppk, ID);
});

test('PPK_IDENTITY_KEY parsing is total: any octets give a PPK_ID and the last 8 octets, or a reason (property, seeded)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
      const r = parsePpkIdentityKey(data);
      const wellFormed = data.length >= 10 && (data[0] === 1 || data[0] === 2);
      if (!wellFormed) return typeof r === 'string';
      return typeof r === 'object' && Buffer.concat([r.id, r.confirmation]).equals(Buffer.from(data)) && r.confirmation.length === 8;
    }),
    { seed: 9867, numRuns: 2000 },
  );
});

test('the PPK round\'s response lost once: the retransmitted request (under the keys before the PPK) gets the cached response, and the SA comes up with the PPK', () => {
  const pair = pairWith('aes256gcm16-prfsha384-x25519-ke1_mlkem768', { ppk: ppk({ id: ID, required: true, intermediate: true }) }, { ppk: ppk({ required: true }) });
  let dropped = 0;
  pair.filter = (d) => {
    if (d.from === 'r' && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, true) && dropped === 0) {
      dropped++;
      return undefined;
    }
    return d.data;
  };
  pair.initiate();
  pair.run();
  assert.equal(dropped, 1);
  assert.equal(sasOf(pair.r)[0]?.state, 'authenticating', 'the responder has mixed the PPK in and waits for IKE_AUTH');
  assert.ok(pair.advance(), 'the initiator retransmits');
  assert.ok(pair.eventsI.some((e) => e.type === 'retransmit' && e.exchange === ExchangeType.IKE_INTERMEDIATE));
  const upI = pair.i.list().find((s) => s.state === 'established');
  const upR = pair.r.list().find((s) => s.state === 'established');
  assert.equal(upI?.ppk, ID);
  assert.equal(upR?.ppk, ID);
  assert.deepEqual(pair.errors(), []);
});
