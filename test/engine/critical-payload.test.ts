// Unknown payloads (RFC 7296 §2.5, §3.2): an unknown payload with the Critical bit makes the
// message be rejected with UNSUPPORTED_CRITICAL_PAYLOAD naming the type; without it the
// payload is skipped and the exchange goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, failures, isMessage, logs, notifies, onlySa, rewrite, ups } from '../helpers/engine-wire.js';
import { sealMessage } from '../../src/engine/protection.js';
import { skCipher } from '../../src/crypto/sk-cipher.js';
import { EncrId, ExchangeType, HeaderFlags, NotifyType, PayloadType, decodePayloads } from '../../src/wire/index.js';
import type { Payload } from '../../src/wire/index.js';

const UNKNOWN_TYPE = 200;

function unknownPayload(critical: boolean): Payload {
  return { type: 'unknown', rawType: UNKNOWN_TYPE, critical, data: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) };
}

/** Insert `extra` after the Nonce payload of the initiator's IKE_SA_INIT request. */
function withExtra(data: Uint8Array, extra: Payload): Uint8Array {
  return rewrite(data, (ps) => {
    const k = ps.findIndex((p) => p.type === PayloadType.NONCE);
    return [...ps.slice(0, k + 1), extra, ...ps.slice(k + 1)];
  });
}

test('unknown critical payload in IKE_SA_INIT request → UNSUPPORTED_CRITICAL_PAYLOAD carrying its type, no state', () => {
  const pair = new EnginePair();
  pair.filter = (d) => (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_SA_INIT, false) ? withExtra(d.data, unknownPayload(true)) : d.data);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const answers = pair.wire.filter((d) => d.from === 'r');
  assert.equal(answers.length, 1);
  pair.runFor(10_000); // the initiator waits for a better answer (RFC 7296 §2.21.1), then fails
  const m = decode(answers[0]?.data ?? new Uint8Array());
  assert.equal(m.header.exchangeType, ExchangeType.IKE_SA_INIT);
  assert.equal(m.header.flags, HeaderFlags.RESPONSE);
  assert.equal(m.header.messageId, 0);
  assert.deepEqual(m.header.spiR, new Uint8Array(8));
  assert.equal(m.payloads.length, 1);
  const n = notifies(m.payloads)[0];
  assert.equal(n?.notifyType, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
  assert.deepEqual(n?.data, Uint8Array.of(UNKNOWN_TYPE));
  assert.deepEqual(pair.r.list(), []);
  assert.equal(pair.r.nextDeadline(), undefined);
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
});

test('unknown non-critical payload in IKE_SA_INIT request → skipped, SA up', () => {
  // The added payload is part of RealMsg1, which both sides sign and verify; so that the
  // test models a peer that really sent it, the initiator's record of its own request is
  // replaced by the edited bytes (its only use is the AUTH computation).
  const pair = new EnginePair();
  let edited = 0;
  pair.filter = (d) => {
    if (d.from !== 'i' || !isMessage(d.data, ExchangeType.IKE_SA_INIT, false)) return d.data;
    edited++;
    const data = withExtra(d.data, unknownPayload(false));
    const setup = onlySa(pair.i).setup;
    if (setup) setup.initRequest = data;
    return data;
  };
  pair.initiate();
  pair.run();
  assert.equal(edited, 1);
  assert.deepEqual(pair.errors(), []);
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsR));
  const inbound = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'in' && e.exchange === ExchangeType.IKE_SA_INIT);
  assert.ok(inbound && inbound.type === 'message' && inbound.payloads.includes(`UNKNOWN(${UNKNOWN_TYPE})`));
});

/** Re-seal the initiator's IKE_AUTH request with `extra` appended to its inner payloads. */
function editAuthRequest(pair: EnginePair, data: Uint8Array, extra: Payload): Uint8Array {
  const sa = onlySa(pair.i);
  const keys = sa.keys;
  assert.ok(keys);
  const cipher = skCipher(EncrId.AES_GCM_16, 256, 0);
  const sk = { encr: keys.skEi, integ: keys.skAi };
  const m = decode(data);
  const last = m.payloads.at(-1);
  assert.ok(last?.type === PayloadType.SK);
  const plain = cipher.open(sk, data.subarray(0, data.length - last.body.length), last.body).plain;
  const inner = decodePayloads(last.innerFirst, plain, { inner: true });
  const h = m.header;
  return sealMessage({ spiI: h.spiI, spiR: h.spiR, exchangeType: h.exchangeType, flags: h.flags, messageId: h.messageId }, [...inner, extra], cipher, sk, undefined, (n) => randomBytes(n)).datagrams[0] ?? new Uint8Array();
}

test('unknown critical payload inside the encrypted IKE_AUTH request → protected UNSUPPORTED_CRITICAL_PAYLOAD, SA not set up', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  pair.filter = (d) => (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false) ? editAuthRequest(pair, d.data, unknownPayload(true)) : d.data);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const out = pair.eventsR.find((e) => e.type === 'message' && e.direction === 'out' && e.exchange === ExchangeType.IKE_AUTH);
  assert.ok(out && out.type === 'message');
  assert.deepEqual(out.payloads, ['N(UNSUPPORTED_CRITICAL_PAYLOAD)']);
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, logs(pair.eventsI));
  assert.equal(failures(pair.eventsR).length, 1);
  assert.deepEqual(ups(pair.eventsR), []);
  assert.deepEqual(pair.r.list(), []);
});

test('unknown non-critical payload inside the encrypted IKE_AUTH request → skipped, SA up', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  pair.filter = (d) => (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false) ? editAuthRequest(pair, d.data, unknownPayload(false)) : d.data);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsR));
});
