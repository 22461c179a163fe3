/**
 * Post-quantum preshared keys (RFC 8784) between two engines, hybrid x25519+ML-KEM-768: the
 * keys with the PPK reproduced from the RFC's formula with node:crypto's HMAC, independently
 * of the engine (SK_d = prf+(PPK, SK_d'), the first Child SA's KEYMAT = prf+(SK_d, Ni | Nr));
 * every row of Table 1 (§3) that decides something: both with the PPK, an optional PPK the
 * responder lacks (no USE_PPK, or NO_PPK_AUTH), a required one refused either way, a wrong
 * PPK, a malformed PPK_IDENTITY; and an IKE SA rekey that keeps the PPK's protection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { fixedPpkId } from '../../src/engine/ppk.js';
import type { ConnectionConfig } from '../../src/engine/types.js';
import type { IkeSaKeys } from '../../src/crypto/keys.js';
import { ExchangeType, NotifyType } from '../../src/wire/constants.js';
import { EnginePair } from '../helpers/engine-pair.js';
import { sasOf } from '../helpers/engine-wire.js';

const PPK = Buffer.from('3b'.repeat(32), 'hex'); // 256 bits (RFC 8784 §3)
const OTHER = Buffer.from('c4'.repeat(32), 'hex');
const ID = 'pqike-ppk-1';

function ppk(o: { id?: string; required: boolean; keys?: [string, Uint8Array][] }): NonNullable<ConnectionConfig['ppk']> {
  const keys = new Map((o.keys ?? [[ID, PPK]]).map(([id, k]) => [Buffer.from(fixedPpkId(id)).toString('hex'), k]));
  return { ...(o.id !== undefined ? { id: fixedPpkId(o.id) } : {}), required: o.required, keys };
}

/** prf+ with HMAC-SHA-384 (the PRF of the test proposal), RFC 7296 §2.13, written out here. */
function prfPlus384(key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    prev = createHmac('sha384', key).update(prev).update(seed).update(Uint8Array.of(i)).digest();
    out.push(prev);
  }
  return Buffer.concat(out).subarray(0, length);
}

/** Holds the initiator's IKE_AUTH request back once, to read the keys before the PPK is mixed in. */
function keysBeforeAuth(pair: EnginePair): { get: () => IkeSaKeys | undefined } {
  let snapshot: IkeSaKeys | undefined;
  let held = false;
  const base = pair.filter;
  pair.filter = (d, i) => {
    const sa = sasOf(pair.i)[0];
    if (!held && d.from === 'i' && sa?.state === 'authenticating' && sa.outstanding?.exchange === ExchangeType.IKE_AUTH) {
      held = true;
      snapshot = { ...sa.requireKeys() };
    }
    return base(d, i);
  };
  return { get: () => snapshot };
}

test('both ends with the PPK: SK_d, SK_pi, SK_pr are prf+(PPK, ...) of the usual ones, the Child SA keys come from that SK_d, both list the PPK', () => {
  const pair = new EnginePair({ connI: { ppk: ppk({ id: ID, required: true }) }, connR: { ppk: ppk({ required: true }) } });
  const before = keysBeforeAuth(pair);
  const ids = pair.establish();
  assert.deepEqual(pair.errors(), []);
  const k0 = before.get();
  assert.ok(k0, 'the keys before IKE_AUTH were read');
  const saI = sasOf(pair.i)[0];
  const saR = sasOf(pair.r)[0];
  assert.ok(saI && saR);
  for (const [name, mixed] of [['skD', saI.requireKeys().skD], ['skPi', saI.requireKeys().skPi], ['skPr', saI.requireKeys().skPr]] as const) {
    assert.deepEqual(Buffer.from(mixed), prfPlus384(PPK, k0[name], k0[name].length), `${name} = prf+(PPK, ${name}') (RFC 8784 §3)`);
  }
  assert.deepEqual(Buffer.from(saR.requireKeys().skD), Buffer.from(saI.requireKeys().skD), 'the responder mixed the same');
  assert.deepEqual(Buffer.from(saI.requireKeys().skEi), Buffer.from(k0.skEi), 'SK_e untouched');
  // RFC 7296 §2.17: KEYMAT = prf+(SK_d, Ni | Nr) for the first Child SA (no KE in IKE_AUTH); AES-GCM-256: 36 octets each way.
  const child = pair.i.children(ids.i)[0];
  assert.ok(child);
  const keymat = prfPlus384(saI.requireKeys().skD, Buffer.concat([saI.ni, saI.nr]), 72);
  assert.deepEqual(Buffer.from(child.keys.encrI), keymat.subarray(0, 36), 'Child SA keys from the PPK SK_d');
  assert.equal(pair.i.info(ids.i)?.ppk, ID);
  assert.equal(pair.r.info(ids.r)?.ppk, ID);
  const authR = pair.eventsI.find((e) => e.type === 'message' && e.direction === 'in' && e.exchange === ExchangeType.IKE_AUTH);
  assert.ok(authR?.type === 'message' && authR.payloads.includes('N(PPK_IDENTITY)'), 'the responder confirmed with PPK_IDENTITY');
  const authI = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'in' && e.exchange === ExchangeType.IKE_AUTH);
  assert.ok(authI?.type === 'message' && !authI.payloads.includes('N(NO_PPK_AUTH)'), 'no NO_PPK_AUTH when the PPK is required');
});

test('an IKE SA rekey after a PPK SA: the new SA is listed with the PPK (its SKEYSEED comes from the PPK SK_d), and a Child SA rekey works', () => {
  const pair = new EnginePair({ connI: { ppk: ppk({ id: ID, required: true }) }, connR: { ppk: ppk({ required: true }) } });
  const ids = pair.establish();
  const fresh = pair.rekeyChildThenIke(ids.i);
  assert.equal(fresh.length, 1);
  assert.notEqual(fresh[0]?.id, ids.i);
  assert.equal(fresh[0]?.ppk, ID);
  assert.equal(pair.r.list().find((s) => s.state === 'established')?.ppk, ID);
  assert.deepEqual(pair.errors(), []);
});

test('an optional PPK and a responder with no PPKs at all: no USE_PPK answered, standard IKEv2, no PPK listed', () => {
  const pair = new EnginePair({ connI: { ppk: ppk({ id: ID, required: false }) } });
  const ids = pair.establish();
  assert.equal(pair.i.info(ids.i)?.ppk, undefined);
  const init = pair.eventsI.find((e) => e.type === 'message' && e.direction === 'in' && e.exchange === ExchangeType.IKE_SA_INIT);
  assert.ok(init?.type === 'message' && !init.payloads.includes('N(USE_PPK)'));
});

test('an optional PPK the responder does not have (another PPK_ID): NO_PPK_AUTH authenticates the initiator without it', () => {
  const pair = new EnginePair({ connI: { ppk: ppk({ id: ID, required: false }) }, connR: { ppk: ppk({ required: false, keys: [['another-id', OTHER]] }) } });
  const ids = pair.establish();
  assert.equal(pair.i.info(ids.i)?.ppk, undefined);
  assert.equal(pair.r.info(ids.r)?.ppk, undefined);
  const authI = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'in' && e.exchange === ExchangeType.IKE_AUTH);
  assert.ok(authI?.type === 'message' && authI.payloads.includes('N(NO_PPK_AUTH)') && authI.payloads.includes('N(PPK_IDENTITY)'));
});

function refusedReason(pair: EnginePair): string {
  pair.initiate();
  pair.run();
  const refused = pair.eventsR.find((e) => e.type === 'refused');
  const failedI = pair.eventsI.find((e) => e.type === 'ike-failed');
  assert.ok(failedI, 'the initiator failed');
  assert.ok(!pair.planeI.some((c) => c.op === 'add-sa') && !pair.planeR.some((c) => c.op === 'add-sa'), 'nothing installed');
  return refused?.type === 'refused' ? `responder: ${refused.reason} (${refused.notify})` : `initiator: ${failedI.type === 'ike-failed' ? failedI.reason : ''}`;
}

test('a required PPK refused every way it can be missing, each with its reason', () => {
  const cases: [string, ConstructorParameters<typeof EnginePair>[0], RegExp][] = [
    ['the responder has no PPKs', { connI: { ppk: ppk({ id: ID, required: true }) } }, /initiator: .*did not answer USE_PPK, and this connection requires a PPK/],
    ['the initiator sends no USE_PPK', { connR: { ppk: ppk({ required: true }) } }, new RegExp(`responder: the initiator sent no USE_PPK, and this connection requires a PPK .*\\(${NotifyType.AUTHENTICATION_FAILED}\\)`)],
    ['the responder lacks this PPK_ID, required there', { connI: { ppk: ppk({ id: ID, required: false }) }, connR: { ppk: ppk({ required: true, keys: [['another-id', OTHER]] }) } }, /responder: no PPK pqike-ppk-1 for this connection, and it requires one/],
    ['the responder lacks it, the initiator requires it (no NO_PPK_AUTH)', { connI: { ppk: ppk({ id: ID, required: true }) }, connR: { ppk: ppk({ required: false, keys: [['another-id', OTHER]] }) } }, /responder: no PPK pqike-ppk-1 for this connection, and no NO_PPK_AUTH/],
    ['a wrong PPK under the same PPK_ID', { connI: { ppk: ppk({ id: ID, required: true }) }, connR: { ppk: ppk({ required: true, keys: [[ID, OTHER]] }) } }, /responder: AUTH payload does not verify/],
    ['a responder connection bound to another ppk_id', { connI: { ppk: ppk({ id: ID, required: true }) }, connR: { ppk: ppk({ id: 'another-id', required: true, keys: [[ID, PPK], ['another-id', OTHER]] }) } }, /responder: no PPK pqike-ppk-1 for this connection, and it requires one/],
  ];
  for (const [name, opts, why] of cases) assert.match(refusedReason(new EnginePair(opts)), why, name);
});

test('a malformed PPK_IDENTITY (a type octet alone) is refused with AUTHENTICATION_FAILED', () => {
  const keys = new Map([[Buffer.from(Uint8Array.of(2)).toString('hex'), PPK]]);
  const pair = new EnginePair({ connI: { ppk: { id: Uint8Array.of(2), required: true, keys } }, connR: { ppk: ppk({ required: true }) } });
  assert.match(refusedReason(pair), /malformed PPK_IDENTITY \(1 octets, type 2/);
});
