// Stateless COOKIE exchange (RFC 7296 §2.6): a responder under load answers IKE_SA_INIT with a
// COOKIE and keeps no state; the initiator retries with the COOKIE as its first payload; a
// wrong cookie gets a fresh COOKIE, never an SA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_I, ADDR_R, EnginePair, connections } from '../helpers/engine-pair.js';
import { decode, isMessage, logs, notifies, rewrite, sasOf, ups, wireSummary } from '../helpers/engine-wire.js';
import { IkeEngine } from '../../src/engine/engine.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/wire/index.js';
import type { NotifyPayload, Payload } from '../../src/wire/index.js';

const I = { address: ADDR_I, port: 500 };
const R = { address: ADDR_R, port: 500 };

function cookieOf(payloads: readonly Payload[]): NotifyPayload | undefined {
  return notifies(payloads).find((n) => n.notifyType === NotifyType.COOKIE);
}

test('COOKIE: responder with threshold 0 demands a cookie; initiator retries with it first; SA up', () => {
  const pair = new EnginePair({ responderEngineOptions: { cookieThreshold: 0 } });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(wireSummary(pair.wire).slice(0, 4), ['i>IKE_SA_INIT q', 'r>IKE_SA_INIT r', 'i>IKE_SA_INIT q', 'r>IKE_SA_INIT r']);
  const [req1, resp1, req2] = pair.wire.map((d) => decode(d.data));
  assert.ok(req1 && resp1 && req2);
  assert.equal(cookieOf(req1.payloads), undefined);
  // The COOKIE response: only the notify, zero SPIr.
  assert.equal(resp1.payloads.length, 1);
  const cookie = cookieOf(resp1.payloads);
  assert.ok(cookie && cookie.data.length >= 1 && cookie.data.length <= 64);
  assert.deepEqual(resp1.header.spiR, new Uint8Array(8));
  // The retry: COOKIE first (§2.6), identical otherwise (same SPIi, nonce, KE).
  const first = req2.payloads[0];
  assert.ok(first?.type === PayloadType.NOTIFY && first.notifyType === NotifyType.COOKIE);
  assert.deepEqual(first.data, cookie.data);
  assert.deepEqual(req2.header.spiI, req1.header.spiI);
  assert.deepEqual(req2.payloads.slice(1), req1.payloads);
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsI));
});

test('COOKIE: a forged cookie is answered with a new COOKIE and leaves no state; the honest retry succeeds', () => {
  const pair = new EnginePair({ responderEngineOptions: { cookieThreshold: 0 } });
  let forged = 0;
  pair.filter = (d) => {
    if (d.from !== 'i' || !isMessage(d.data, ExchangeType.IKE_SA_INIT, false)) return d.data;
    const c = cookieOf(decode(d.data).payloads);
    if (!c || forged > 0) return d.data;
    forged++;
    return rewrite(d.data, (ps) => ps.map((p) => (p === ps[0] && p.type === PayloadType.NOTIFY ? { ...p, data: p.data.map((b, i) => (i === 5 ? b ^ 1 : b)) } : p)));
  };
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.equal(forged, 1);
  assert.deepEqual(wireSummary(pair.wire).slice(0, 6), [
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
    'i>IKE_SA_INIT q', // forged cookie on the way
    'r>IKE_SA_INIT r', // a new COOKIE, not an SA
    'i>IKE_SA_INIT q',
    'r>IKE_SA_INIT r',
  ]);
  const second = decode(pair.wire[3]?.data ?? new Uint8Array());
  assert.equal(second.payloads.length, 1);
  assert.ok(cookieOf(second.payloads));
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsI));
});

test('COOKIE: responder engine keeps nothing for requests without or with a wrong cookie', () => {
  const initiator = new IkeEngine();
  initiator.addConnection(connections().initiator);
  initiator.initiate('moon', 0);
  const sent = initiator.drain().find((o) => o.kind === 'send');
  assert.ok(sent && sent.kind === 'send');
  const responder = new IkeEngine({ cookieThreshold: 0 });
  responder.addConnection(connections().responder);
  const feed = (data: Uint8Array): Payload[] => {
    responder.receive(data, I, R, 0);
    const out = responder.drain();
    // Exactly one datagram, and no event but the one saying a COOKIE was sent.
    assert.deepEqual(out.map((x) => (x.kind === 'send' ? 'send' : x.event.type === 'refused' ? `refused ${x.event.notify}` : x.event.type)), ['send', `refused ${NotifyType.COOKIE}`]);
    const o = out[0];
    assert.ok(o && o.kind === 'send');
    assert.deepEqual(sasOf(responder), []);
    assert.equal(responder.nextDeadline(), undefined);
    return decode(o.data).payloads;
  };
  const c1 = cookieOf(feed(sent.data));
  assert.ok(c1);
  const withCookie = (data: Uint8Array): Uint8Array => rewrite(sent.data, (ps) => [{ type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data }, ...ps]);
  // Wrong value, wrong version octet, empty, and a cookie made for another nonce.
  for (const bad of [c1.data.map((b, i) => (i === c1.data.length - 1 ? b ^ 0x80 : b)), Uint8Array.of((c1.data[0] ?? 0) + 1, ...c1.data.subarray(1)), new Uint8Array(0)]) {
    const c = cookieOf(feed(withCookie(bad)));
    assert.deepEqual(c?.data, c1.data, 'the same (valid) cookie is offered again');
  }
  // The right cookie creates the half-open SA.
  responder.receive(withCookie(c1.data), I, R, 0);
  assert.equal(sasOf(responder).length, 1);
  assert.ok(isMessage(responder.drain().find((o) => o.kind === 'send')?.data ?? new Uint8Array(), ExchangeType.IKE_SA_INIT, true));
});

test('COOKIE then INVALID_KE_PAYLOAD: the cookie stays first in every retry and the SA comes up', () => {
  const pair = new EnginePair({
    ikeI: ['aes256gcm16-prfsha384-x25519-ecp256'],
    ikeR: ['aes256gcm16-prfsha384-ecp256'],
    responderEngineOptions: { cookieThreshold: 0 },
  });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const init = pair.wire.filter((d) => isMessage(d.data, ExchangeType.IKE_SA_INIT, d.from === 'r')).map((d) => decode(d.data));
  const answers = init.filter((_, k) => k % 2 === 1).map((m) => notifies(m.payloads).map((n) => n.notifyType)[0]);
  assert.deepEqual(answers.slice(0, 2), [NotifyType.COOKIE, NotifyType.INVALID_KE_PAYLOAD]);
  const requests = init.filter((_, k) => k % 2 === 0);
  assert.equal(requests.length, 3);
  const cookie = cookieOf(init[1]?.payloads ?? []);
  for (const req of requests.slice(1)) {
    const first = req.payloads[0];
    assert.ok(first?.type === PayloadType.NOTIFY && first.notifyType === NotifyType.COOKIE);
    assert.deepEqual(first.data, cookie?.data);
  }
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0], logs(pair.eventsI));
});
