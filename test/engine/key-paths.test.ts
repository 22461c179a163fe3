/**
 * Key paths that two pqike engines agreeing cannot check (a mistake made the same way on both
 * sides keeps them in agreement), each recomputed here from the key schedule functions
 * (themselves checked against strongSwan's recordings in test/vectors). They close the gaps the
 * mutation survey (scripts/mutate-keys.mjs) found:
 * - an IKE SA rekey that changes the PRF keys SKEYSEED with the OLD SA's PRF (RFC 7296 §2.18);
 * - a non-AEAD Child SA splits KEYMAT as encrI | integI | encrR | integR (RFC 7296 §2.17);
 * - an IKE SA still setting up reports only the key exchanges done so far;
 * - an IKE_INTERMEDIATE without a key exchange (RFC 9242 allows it) still enters IntAuth on
 *   the responder, checked with a scripted initiator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, isMessage, onlySa, sasOf, sealAs, ups } from '../helpers/engine-wire.js';
import { childKeymat, deriveIkeSaKeys, intAuthStep, pskAuth, signedOctets, skeyseedRekey } from '../../src/crypto/keys.js';
import { keMethod } from '../../src/crypto/ke.js';
import type { KeMethod } from '../../src/crypto/ke.js';
import { espKeyLengths } from '../../src/crypto/esp-algs.js';
import { openMessage, decodeInner, intAuthOctets } from '../../src/engine/protection.js';
import { identityToPayloadData } from '../../src/engine/identity.js';
import { AuthMethod, EncrId, ExchangeType, HeaderFlags, IntegId, KeMethodId, PayloadType, PrfId } from '../../src/wire/index.js';
import type { Payload } from '../../src/wire/index.js';

const X25519 = 'aes256gcm16-prfsha256-x25519';

/** A keMethod source that records every shared secret it hands out, in order. */
function recording(): { keMethod: (id: number) => KeMethod; secrets: Uint8Array[] } {
  const secrets: Uint8Array[] = [];
  return {
    secrets,
    keMethod: (id) => {
      const m = keMethod(id);
      return {
        ...m,
        initiate: () => {
          const st = m.initiate();
          return { publicValue: st.publicValue, finish: (peer) => { const s = st.finish(peer); secrets.push(s); return s; } };
        },
        respond: (peer) => m.respond(peer),
      };
    },
  };
}

test('an IKE SA rekey from PRF_HMAC_SHA2_256 to PRF_HMAC_SHA2_384 keys SKEYSEED with the old SA\'s PRF, SK_* with the new one (RFC 7296 §2.18)', () => {
  const rec = recording();
  const pair = new EnginePair({
    ikeI: [X25519, 'aes256gcm16-prfsha384-x25519'],
    ikeR: [X25519],
    engineOptions: { keMethod: rec.keMethod },
    responderEngineOptions: {},
  });
  const { i } = pair.establish();
  const old = onlySa(pair.i);
  const oldSkD = old.requireKeys().skD;
  assert.equal(old.prfId, PrfId.HMAC_SHA2_256);
  // The responder now takes only the PRF_HMAC_SHA2_384 suite.
  const r = pair.r.connections()[0];
  assert.ok(r);
  // (An established SA keeps the connection it was set up with: give it the new one.)
  onlySa(pair.r).connection = { ...r, ikeProposals: pair.i.connections()[0]?.ikeProposals.slice(1) ?? [] };
  const before = rec.secrets.length;
  assert.ok(pair.i.rekeyIke(i, pair.now));
  pair.run();
  const rekeyed = pair.eventsI.find((e) => e.type === 'ike-rekeyed');
  assert.ok(rekeyed && rekeyed.type === 'ike-rekeyed');
  const sa = sasOf(pair.i).find((s) => s.id === rekeyed.sa);
  assert.ok(sa);
  assert.equal(sa.prfId, PrfId.HMAC_SHA2_384);
  const secrets = rec.secrets.slice(before);
  assert.equal(secrets.length, 1);
  const cipherKeys = { encr: 36, integ: 0 };
  const expect = deriveIkeSaKeys(PrfId.HMAC_SHA2_384, skeyseedRekey(PrfId.HMAC_SHA2_256, oldSkD, secrets, sa.ni, sa.nr), sa.ni, sa.nr, sa.spiI, sa.spiR, cipherKeys);
  const wrong = deriveIkeSaKeys(PrfId.HMAC_SHA2_384, skeyseedRekey(PrfId.HMAC_SHA2_384, oldSkD, secrets, sa.ni, sa.nr), sa.ni, sa.nr, sa.spiI, sa.spiR, cipherKeys);
  assert.deepEqual(sa.requireKeys(), expect);
  assert.notDeepEqual(expect, wrong, 'the two PRFs give different keys');
  assert.equal(pair.r.list().filter((s) => s.state === 'established').length, 1, 'the responder agrees');
});

test('a non-AEAD Child SA (AES-CBC + HMAC-SHA2-256) takes encrI | integI | encrR | integR from KEYMAT = prf+(SK_d, Ni | Nr) (RFC 7296 §2.17)', () => {
  const pair = new EnginePair({ ikeI: [X25519], espI: ['aes128-sha256'] });
  const { i } = pair.establish();
  const sa = onlySa(pair.i);
  const child = pair.i.children(i)[0];
  assert.ok(child);
  assert.equal(child.encr.id, EncrId.AES_CBC);
  assert.equal(child.integ, IntegId.HMAC_SHA2_256_128);
  const len = espKeyLengths(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128);
  assert.deepEqual([len.encr, len.integ], [16, 32]);
  const km = childKeymat(sa.prfId, sa.requireKeys().skD, [], sa.ni, sa.nr, 2 * (len.encr + len.integ));
  assert.deepEqual(Buffer.from(child.keys.encrI), Buffer.from(km.subarray(0, 16)));
  assert.deepEqual(Buffer.from(child.keys.integI), Buffer.from(km.subarray(16, 48)));
  assert.deepEqual(Buffer.from(child.keys.encrR), Buffer.from(km.subarray(48, 64)));
  assert.deepEqual(Buffer.from(child.keys.integR), Buffer.from(km.subarray(64, 96)));
});

test('an IKE SA still in IKE_INTERMEDIATE reports only the key exchange already mixed in', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'] });
  pair.filter = (d) => (d.from === 'r' && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, true) ? undefined : d.data);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.i.list().map((s) => [s.state, s.keMethods]), [['intermediate', [KeMethodId.CURVE25519]]]);
  assert.deepEqual(pair.r.list().map((s) => [s.state, s.keMethods]), [['authenticating', [KeMethodId.CURVE25519, KeMethodId.MLKEM768]]]);
});

test('an IKE_INTERMEDIATE with no key exchange still enters the responder\'s IntAuth: a scripted initiator\'s AUTH over it verifies, and so does the responder\'s (RFC 9242 §3.3.2)', () => {
  const pair = new EnginePair({ ikeI: [X25519] });
  // The real initiator runs IKE_SA_INIT; its IKE_AUTH request is held back and replaced by a script.
  pair.filter = (d) => (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false) ? undefined : d.data);
  pair.initiate();
  pair.run();
  const sa = onlySa(pair.i);
  const k = sa.requireKeys();
  const prf = sa.prfId;
  pair.filter = (d) => d.data;
  // Message 1: an empty IKE_INTERMEDIATE.
  const reqPlain = new Uint8Array(0);
  const req = sealAs(sa, ExchangeType.IKE_INTERMEDIATE, 1, []);
  const seen = pair.wire.length;
  for (const d of req) pair.inject('i', d);
  const resp = pair.wire.slice(seen).find((d) => d.from === 'r');
  assert.ok(resp);
  const m = decode(resp.data);
  assert.equal(m.header.exchangeType, ExchangeType.IKE_INTERMEDIATE);
  const opened = openMessage(resp.data, m, sa.requireCipher(), sa.inKeys());
  assert.ok(opened);
  assert.deepEqual(decodeInner(opened.innerFirst, opened.plain), []);
  // IntAuth over that exchange, with the keys that protected it (no key change: no KE).
  const frame = (flags: number) => ({ spiI: sa.spiI, spiR: sa.spiR, exchangeType: ExchangeType.IKE_INTERMEDIATE, flags, messageId: 1 });
  const apI = intAuthOctets(frame(HeaderFlags.INITIATOR), PayloadType.NONE, reqPlain);
  const apR = intAuthOctets(frame(HeaderFlags.RESPONSE), opened.innerFirst, opened.plain);
  const intAuthI = intAuthStep(prf, k.skPi, new Uint8Array(0), apI);
  const intAuthR = intAuthStep(prf, k.skPr, new Uint8Array(0), apR);
  // Message 2: a childless IKE_AUTH whose AUTH covers IntAuth.
  const conn = pair.i.connections()[0];
  assert.ok(conn);
  const id = identityToPayloadData(conn.localId);
  const idBody = (t: number, data: Uint8Array): Uint8Array => Uint8Array.from([t, 0, 0, 0, ...data]);
  // RealMsg1/2 (RFC 7296 §2.15): the initiator is still setting up, so it still holds them.
  const { initRequest, initResponse } = sa.setup ?? { initRequest: new Uint8Array(), initResponse: new Uint8Array() };
  const authI = pskAuth(prf, conn.psk ?? new Uint8Array(0), signedOctets(initRequest, sa.nr, prf, k.skPi, idBody(id.idType, id.data), { i: intAuthI, r: intAuthR, mid: 2 }));
  const auth: Payload[] = [
    { type: PayloadType.IDi, critical: false, idType: id.idType, data: id.data },
    { type: PayloadType.AUTH, critical: false, method: AuthMethod.SHARED_KEY_MIC, data: authI },
  ];
  const seen2 = pair.wire.length;
  for (const d of sealAs(sa, ExchangeType.IKE_AUTH, 2, auth)) pair.inject('i', d);
  assert.equal(ups(pair.eventsR).length, 1, 'the responder accepted an AUTH that covers the empty IKE_INTERMEDIATE');
  const answer = pair.wire.slice(seen2).find((d) => d.from === 'r');
  assert.ok(answer);
  const am = decode(answer.data);
  const ao = openMessage(answer.data, am, sa.requireCipher(), sa.inKeys());
  assert.ok(ao);
  const inner = decodeInner(ao.innerFirst, ao.plain);
  const idr = inner.find((p) => p.type === PayloadType.IDr);
  const authR = inner.find((p) => p.type === PayloadType.AUTH);
  assert.ok(idr && idr.type === PayloadType.IDr && authR && authR.type === PayloadType.AUTH);
  const expectR = pskAuth(prf, conn.psk ?? new Uint8Array(0), signedOctets(initResponse, sa.ni, prf, k.skPr, idBody(idr.idType, idr.data), { i: intAuthI, r: intAuthR, mid: 2 }));
  assert.deepEqual(Buffer.from(authR.data), Buffer.from(expectR), 'the responder signed the same IntAuth');
});
