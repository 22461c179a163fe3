// The AUTH payloads (RFC 7296 §2.15) recomputed independently from the wire: in a classic
// exchange the signed octets are RealMsg | Nonce | prf(SK_p, IDx') with no IntAuth; after
// IKE_INTERMEDIATE rounds they also carry IntAuth_i | IntAuth_r | IKE_AUTH Message ID
// (RFC 9242 §3.3.2), where IntAuth chains the A|P octets of every IKE_INTERMEDIATE message
// "as if unfragmented and unencrypted", each under the SK_p of the keys that protected it.
//
// Approach: the test snapshots the initiator's current SK_* (the only engine internals
// used) whenever a protected datagram passes the filter — for an IKE_INTERMEDIATE request and
// its response those are the keys that protect both. Everything else comes from the wire:
// decrypt with src/crypto's SK cipher, rebuild A|P by hand from the received bytes, chain
// with the crypto layer's prf, and compare with the AUTH values the engines sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair, connections } from '../helpers/engine-pair.js';
import type { Delivered } from '../helpers/engine-pair.js';
import { decode, isMessage, logs, onlySa, ups } from '../helpers/engine-wire.js';
import { intAuthStep, pskAuth, signedOctets } from '../../src/crypto/keys.js';
import type { IkeSaKeys } from '../../src/crypto/keys.js';
import { skCipher } from '../../src/crypto/sk-cipher.js';
import type { SkCipher } from '../../src/crypto/sk-cipher.js';
import { EncrId, ExchangeType, IntegId, PayloadType, PrfId, decodePayloads } from '../../src/wire/index.js';
import type { AuthPayload, IdPayload, NoncePayload, Payload } from '../../src/wire/index.js';

interface Seen {
  readonly d: Delivered;
  /** The initiator's keys when the datagram was on the wire. */
  readonly keys: IkeSaKeys | undefined;
}

function record(pair: EnginePair): Seen[] {
  const seen: Seen[] = [];
  pair.filter = (d) => {
    const sa = pair.i.list().length === 1 ? onlySa(pair.i) : undefined;
    seen.push({ d, keys: sa?.keys });
    return d.data;
  };
  return seen;
}

interface Whole {
  readonly exchange: number;
  readonly messageId: number;
  readonly inner: Payload[];
  /** A | P of RFC 9242 §3.3.2, built here from the received bytes. */
  readonly ap: Uint8Array;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/**
 * Decrypt one protected message (all its SKF fragments, or one SK datagram) and rebuild the
 * IntAuth octets: the IKE header with Next Payload = SK and Length = 28 + 4 + |P|, the
 * Encrypted payload header with the first inner payload type and Length = 4 + |P|, then P.
 */
function open(datagrams: readonly Uint8Array[], keys: IkeSaKeys, fromInitiator: boolean, cipher: SkCipher): Whole {
  const sk = fromInitiator ? { encr: keys.skEi, integ: keys.skAi } : { encr: keys.skEr, integ: keys.skAr };
  const parts: { n: number; plain: Uint8Array; first: number }[] = [];
  let first: Uint8Array | undefined;
  for (const raw of datagrams) {
    const m = decode(raw);
    const last = m.payloads[m.payloads.length - 1];
    assert.ok(last && (last.type === PayloadType.SK || last.type === PayloadType.SKF));
    const plain = cipher.open(sk, raw.subarray(0, raw.length - last.body.length), last.body).plain;
    const n = last.type === PayloadType.SKF ? last.fragmentNumber : 1;
    parts.push({ n, plain, first: last.innerFirst });
    if (n === 1) first = raw;
  }
  parts.sort((a, b) => a.n - b.n);
  assert.ok(first);
  const p1 = parts[0];
  assert.ok(p1);
  const plain = Buffer.concat(parts.map((p) => p.plain));
  const a = new Uint8Array(32);
  a.set(first.subarray(0, 28));
  a[16] = PayloadType.SK;
  a.set(u32(28 + 4 + plain.length), 24);
  a[28] = p1.first;
  a[29] = first[29] ?? 0; // C bit + RESERVED of the SK header, or of fragment 1's SKF header (RFC 9242 §3.3.2)
  new DataView(a.buffer).setUint16(30, 4 + plain.length);
  const h = decode(first).header;
  return {
    exchange: h.exchangeType,
    messageId: h.messageId,
    inner: decodePayloads(p1.first, plain, { inner: true }),
    ap: Buffer.concat([a, plain]),
  };
}

/** Group the protected datagrams by (sender, exchange, message ID), first transmission only. */
function messages(seen: readonly Seen[], cipher: SkCipher): { from: 'i' | 'r'; whole: Whole; keys: IkeSaKeys }[] {
  const groups = new Map<string, Seen[]>();
  for (const s of seen) {
    const h = decode(s.d.data).header;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) continue;
    const key = `${s.d.from}/${h.exchangeType}/${h.messageId}`;
    const g = groups.get(key) ?? [];
    g.push(s);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const s0 = g[0];
    assert.ok(s0?.keys);
    const firstCopy = dedupeFragments(g.map((s) => s.d.data));
    return { from: s0.d.from, whole: open(firstCopy, s0.keys, s0.d.from === 'i', cipher), keys: s0.keys };
  });
}

function dedupeFragments(datagrams: readonly Uint8Array[]): Uint8Array[] {
  const byNumber = new Map<number, Uint8Array>();
  for (const raw of datagrams) {
    const last = decode(raw).payloads.at(-1);
    const n = last?.type === PayloadType.SKF ? last.fragmentNumber : 1;
    if (!byNumber.has(n)) byNumber.set(n, raw);
  }
  return [...byNumber.values()];
}

function find<T extends Payload['type']>(ps: readonly Payload[], t: T): Extract<Payload, { type: T }> {
  const p = ps.find((x): x is Extract<Payload, { type: T }> => x.type === t);
  assert.ok(p, `payload ${String(t)} present`);
  return p;
}

function idBody(id: IdPayload): Uint8Array {
  return Buffer.concat([Uint8Array.of(id.idType, 0, 0, 0), id.data]);
}

interface Check {
  readonly intermediateRounds: number;
  readonly authI: AuthPayload;
  readonly expectI: Uint8Array;
  readonly expectIWithout: Uint8Array;
  readonly authR: AuthPayload;
  readonly expectR: Uint8Array;
}

function recompute(seen: readonly Seen[], cipher: SkCipher, prfId: number): Check {
  const psk = connections().initiator.psk ?? new Uint8Array(0);
  const initReq = [...seen].reverse().find((s) => s.d.from === 'i' && isMessage(s.d.data, ExchangeType.IKE_SA_INIT, false));
  const initResp = [...seen].reverse().find((s) => s.d.from === 'r' && isMessage(s.d.data, ExchangeType.IKE_SA_INIT, true));
  assert.ok(initReq && initResp);
  const ni = find(decode(initReq.d.data).payloads, PayloadType.NONCE) as NoncePayload;
  const nr = find(decode(initResp.d.data).payloads, PayloadType.NONCE) as NoncePayload;
  const all = messages(seen, cipher);
  let iAuth: Uint8Array = new Uint8Array(0);
  let rAuth: Uint8Array = new Uint8Array(0);
  let rounds = 0;
  const inter = all.filter((m) => m.whole.exchange === ExchangeType.IKE_INTERMEDIATE);
  for (const q of inter.filter((m) => m.from === 'i')) {
    const r = inter.find((m) => m.from === 'r' && m.whole.messageId === q.whole.messageId);
    assert.ok(r);
    // The keys that protected this exchange are the initiator's at request time (= at response time).
    assert.deepEqual(r.keys, q.keys);
    iAuth = intAuthStep(prfId, q.keys.skPi, iAuth, q.whole.ap);
    rAuth = intAuthStep(prfId, q.keys.skPr, rAuth, r.whole.ap);
    rounds++;
  }
  const authQ = all.find((m) => m.from === 'i' && m.whole.exchange === ExchangeType.IKE_AUTH);
  const authS = all.find((m) => m.from === 'r' && m.whole.exchange === ExchangeType.IKE_AUTH);
  assert.ok(authQ && authS);
  const k = authQ.keys;
  const mid = authQ.whole.messageId;
  const intAuth = rounds > 0 ? { i: iAuth, r: rAuth, mid } : undefined;
  const idi = find(authQ.whole.inner, PayloadType.IDi) as IdPayload;
  const idr = find(authS.whole.inner, PayloadType.IDr) as IdPayload;
  return {
    intermediateRounds: rounds,
    authI: find(authQ.whole.inner, PayloadType.AUTH) as AuthPayload,
    expectI: pskAuth(prfId, psk, signedOctets(initReq.d.data, nr.data, prfId, k.skPi, idBody(idi), intAuth)),
    expectIWithout: pskAuth(prfId, psk, signedOctets(initReq.d.data, nr.data, prfId, k.skPi, idBody(idi), rounds > 0 ? undefined : { i: iAuth, r: rAuth, mid })),
    authR: find(authS.whole.inner, PayloadType.AUTH) as AuthPayload,
    expectR: pskAuth(prfId, psk, signedOctets(initResp.d.data, ni.data, prfId, k.skPr, idBody(idr), intAuth)),
  };
}

const GCM256 = skCipher(EncrId.AES_GCM_16, 256, 0);

test('classic exchange: AUTH is the RFC 7296 §2.15 value over RealMsg | Nonce | MACedID, without IntAuth', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  const seen = record(pair);
  pair.initiate();
  pair.run();
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsI));
  const c = recompute(seen, GCM256, PrfId.HMAC_SHA2_384);
  assert.equal(c.intermediateRounds, 0);
  assert.equal(hex(c.authI.data), hex(c.expectI), 'initiator AUTH = RFC 7296 octets');
  assert.equal(hex(c.authR.data), hex(c.expectR), 'responder AUTH = RFC 7296 octets');
  assert.notEqual(hex(c.authI.data), hex(c.expectIWithout), 'adding an (empty) IntAuth would change it');
});

for (const [name, ike, cipher, prfId, fragmentSize] of [
  ['one round (x25519 + ML-KEM-768)', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', GCM256, PrfId.HMAC_SHA2_384, undefined],
  ['two rounds (ML-KEM-768, ML-KEM-1024)', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024', GCM256, PrfId.HMAC_SHA2_384, undefined],
  ['fragmented round, AES-GCM (IntAuth as if unfragmented)', 'aes256gcm16-prfsha384-x25519-ke1_mlkem1024', GCM256, PrfId.HMAC_SHA2_384, 1280],
  ['fragmented round, AES-CBC + HMAC', 'aes256-sha384-x25519-ke1_mlkem1024', skCipher(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_384_192), PrfId.HMAC_SHA2_384, 1280],
] as const) {
  test(`hybrid exchange, ${name}: AUTH includes IntAuth_i | IntAuth_r | IKE_AUTH Message ID`, () => {
    const pair = new EnginePair(fragmentSize === undefined ? { ikeI: [ike] } : { ikeI: [ike], fragmentSize });
    const seen = record(pair);
    pair.initiate();
    pair.run();
    assert.deepEqual(pair.errors(), []);
    assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsI));
    if (fragmentSize !== undefined) assert.ok(seen.some((s) => decode(s.d.data).payloads.at(-1)?.type === PayloadType.SKF), 'fragments were sent');
    const c = recompute(seen, cipher, prfId);
    assert.equal(c.intermediateRounds, (ike.match(/ke\d_/g) ?? []).length);
    assert.equal(hex(c.authI.data), hex(c.expectI), 'initiator AUTH covers IntAuth');
    assert.equal(hex(c.authR.data), hex(c.expectR), 'responder AUTH covers IntAuth');
    assert.notEqual(hex(c.authI.data), hex(c.expectIWithout), 'and differs from the value without IntAuth');
  });
}
