// INVALID_KE_PAYLOAD (RFC 7296 §1.2, §3.10.1): the responder names the method it wants, the
// initiator retries IKE_SA_INIT with it and the SA comes up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, failures, logs, notifies, ups, wireSummary } from '../helpers/engine-wire.js';
import { KeMethodId, NotifyType, PayloadType, encodeMessage } from '../../src/wire/index.js';
import type { KePayload } from '../../src/wire/index.js';
import { notify } from '../../src/engine/payloads.js';

function keMethodId(data: Uint8Array): number | undefined {
  return decode(data).payloads.find((p): p is KePayload => p.type === PayloadType.KE)?.method;
}

test('INVALID_KE_PAYLOAD: x25519 guess, responder wants ecp256 (19), initiator retries and the SA comes up', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ecp256'], ikeR: ['aes256gcm16-prfsha384-ecp256'] });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(wireSummary(pair.wire), [
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
    'i>IKE_AUTH q',
    'r>IKE_AUTH r',
  ]);
  const [req1, resp1, req2, resp2] = pair.wire.map((d) => d.data);
  assert.ok(req1 && resp1 && req2 && resp2);
  assert.equal(keMethodId(req1), KeMethodId.CURVE25519, 'first guess: the first KE method offered');
  // The error response: only the notify, group 19 as two octets, no responder SPI (no state).
  const err = decode(resp1);
  assert.deepEqual(err.header.spiR, new Uint8Array(8));
  assert.equal(err.payloads.length, 1);
  const n = notifies(err.payloads)[0];
  assert.equal(n?.notifyType, NotifyType.INVALID_KE_PAYLOAD);
  assert.deepEqual(n?.data, Uint8Array.of(0, 19));
  // The retry: same SPIi, same SA offer, KE for group 19.
  const r1 = decode(req1);
  const r2 = decode(req2);
  assert.deepEqual(r2.header.spiI, r1.header.spiI);
  assert.equal(r2.header.messageId, 0);
  assert.deepEqual(r2.payloads.find((p) => p.type === PayloadType.SA), r1.payloads.find((p) => p.type === PayloadType.SA));
  assert.equal(keMethodId(req2), KeMethodId.ECP256);
  assert.equal(keMethodId(resp2), KeMethodId.ECP256);
  const upI = ups(pair.eventsI)[0];
  const upR = ups(pair.eventsR)[0];
  assert.ok(upI && upR, logs(pair.eventsI));
  assert.deepEqual(upI.ike.keMethods, [KeMethodId.ECP256]);
  assert.deepEqual(upR.ike.keMethods, [KeMethodId.ECP256]);
});

test('INVALID_KE_PAYLOAD for a hybrid proposal: the retry keeps the ADDKE rounds', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ecp384-ke1_mlkem768'], ikeR: ['aes256gcm16-prfsha384-ecp384-ke1_mlkem768'] });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(wireSummary(pair.wire), [
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
    'i>IKE_INTERMEDIATE q',
    'r>IKE_INTERMEDIATE r',
    'i>IKE_AUTH q',
    'r>IKE_AUTH r',
  ]);
  assert.deepEqual(ups(pair.eventsI)[0]?.ike.keMethods, [KeMethodId.ECP384, KeMethodId.MLKEM768]);
});

test('INVALID_KE_PAYLOAD naming a method the initiator did not offer: no retry with it; the SA fails with notify 17 when no better answer comes (RFC 7296 §2.21.1)', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], ikeR: ['aes256gcm16-prfsha384-x25519'] });
  // A forged INVALID_KE_PAYLOAD asking for MODP2048, which was never offered.
  pair.filter = (d) => {
    if (d.from !== 'r') return d.data;
    const { length: _l, nextPayload: _n, ...hdr } = decode(d.data).header;
    return encodeMessage({ ...hdr, spiR: new Uint8Array(8) }, [notify(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(0, KeMethodId.MODP2048))]);
  };
  pair.initiate();
  pair.run();
  assert.equal(failures(pair.eventsI).length, 0, 'an unauthenticated error alone does not end the attempt');
  pair.runFor(10_000);
  assert.deepEqual(pair.errors(), []);
  const f = failures(pair.eventsI);
  assert.equal(f.length, 1);
  assert.equal(f[0]?.notify, NotifyType.INVALID_KE_PAYLOAD);
  const requests = pair.wire.filter((d) => d.from === 'i').map((d) => decode(d.data));
  assert.equal(requests.length, 2, 'the request and one retransmission');
  assert.ok(requests.every((m) => m.payloads.some((p) => p.type === PayloadType.KE && p.method === KeMethodId.CURVE25519)), 'no retry with the method it names');
});
