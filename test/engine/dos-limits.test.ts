/**
 * The responder's limits on state an unauthenticated peer can create (RFC 7296 §2.6, RFC 8019
 * §4; strongSwan's cookie_threshold, cookie_threshold_ip, block_threshold,
 * init_limit_half_open): cookies cover the port, admit one half-open SA each and expire with a
 * rotating secret; per-address and total limits hold; failed authentications back off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_R, EnginePair, connections } from '../helpers/engine-pair.js';
import { decode, failures, notifies, rewrite, sasOf } from '../helpers/engine-wire.js';
import { IkeEngine } from '../../src/engine/engine.js';
import type { Endpoint, EngineOptions } from '../../src/engine/types.js';
import { ExchangeType, HeaderFlags, NotifyType, PayloadType } from '../../src/wire/index.js';

const R: Endpoint = { address: ADDR_R, port: 500 };
const source = new IkeEngine();
source.addConnection(connections({ ikeI: ['aes256gcm16-prfsha384-x25519'] }).initiator);

/** A fresh, valid IKE_SA_INIT request (new SPIi, nonce and KE each time). */
function request(): Uint8Array {
  source.initiate('moon', 0);
  const out = source.drain().find((o) => o.kind === 'send');
  assert.ok(out && out.kind === 'send');
  return out.data;
}

function withCookie(req: Uint8Array, cookie: Uint8Array): Uint8Array {
  return rewrite(req, (ps) => [{ type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: cookie }, ...ps.filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.COOKIE))]);
}

/** A responder engine and a way to send it a request and read what it answers. */
function responder(opts: EngineOptions): { engine: IkeEngine; send: (data: Uint8Array, from: Endpoint, now?: number) => 'sa' | 'cookie' | 'drop' | string; cookie: () => Uint8Array } {
  const engine = new IkeEngine(opts);
  engine.addConnection(connections({ ikeI: ['aes256gcm16-prfsha384-x25519'] }).responder);
  let last: Uint8Array = new Uint8Array(0);
  const send = (data: Uint8Array, from: Endpoint, now = 0): 'sa' | 'cookie' | 'drop' | string => {
    engine.receive(data, from, R, now);
    const sent = engine.drain().filter((o) => o.kind === 'send');
    const o = sent[0];
    if (!o || o.kind !== 'send') return 'drop';
    const m = decode(o.data);
    assert.ok((m.header.flags & HeaderFlags.RESPONSE) !== 0 && m.header.exchangeType === ExchangeType.IKE_SA_INIT);
    if (m.payloads.some((p) => p.type === PayloadType.SA)) return 'sa';
    const c = notifies(m.payloads).find((n) => n.notifyType === NotifyType.COOKIE);
    if (c) {
      last = c.data;
      return 'cookie';
    }
    return notifies(m.payloads).map((n) => String(n.notifyType)).join(',');
  };
  return { engine, send, cookie: () => last };
}

const peer = (address: string, port = 500): Endpoint => ({ address, port });

test('a cookie is bound to the source port: the same request and cookie from another port get a fresh COOKIE', () => {
  const r = responder({ cookieThreshold: 0 });
  const req = request();
  assert.equal(r.send(req, peer('192.0.2.1')), 'cookie');
  const c = r.cookie();
  assert.equal(r.send(withCookie(req, c), peer('192.0.2.1', 4501)), 'cookie');
  assert.equal(r.engine.resources().halfOpen, 0);
  assert.equal(r.send(withCookie(req, c), peer('192.0.2.1')), 'sa');
  assert.equal(r.engine.resources().halfOpen, 1);
});

test('a cookie admits one half-open SA: replayed after that SA is gone, it gets a fresh COOKIE', () => {
  const r = responder({ cookieThreshold: 0, halfOpenTimeoutMs: 1000 });
  const req = request();
  r.send(req, peer('192.0.2.1'));
  const c = r.cookie();
  assert.equal(r.send(withCookie(req, c), peer('192.0.2.1'), 10), 'sa');
  r.engine.tick(1500);
  r.engine.drain();
  assert.equal(r.engine.resources().halfOpen, 0, 'the half-open SA timed out');
  assert.equal(r.send(withCookie(req, c), peer('192.0.2.1'), 1600), 'cookie');
  assert.equal(r.engine.resources().halfOpen, 0);
});

test('cookies expire with their secret: valid for one more secret lifetime after it is replaced, then refused', () => {
  const life = 60_000;
  const r = responder({ cookieThreshold: 0, cookieSecretLifetimeMs: life });
  const a = request();
  const b = request();
  r.send(a, peer('192.0.2.1'), 1);
  const ca = r.cookie();
  r.send(b, peer('192.0.2.1'), 1);
  const cb = r.cookie();
  // After one rotation the previous secret still verifies...
  assert.equal(r.send(withCookie(a, ca), peer('192.0.2.1'), life + 10), 'sa');
  // ...after two it does not (a cookie recorded now and replayed a day later: refused).
  assert.equal(r.send(withCookie(b, cb), peer('192.0.2.1'), 2 * life + 10), 'cookie');
  assert.equal(r.send(withCookie(b, cb), peer('192.0.2.1'), 24 * 3_600_000), 'cookie');
});

test('cookie_threshold_ip: an address with that many half-open SAs must send a cookie; other addresses need none', () => {
  const r = responder({ cookieThreshold: 1000, cookieThresholdIp: 2, blockThreshold: 100 });
  assert.equal(r.send(request(), peer('192.0.2.1')), 'sa');
  assert.equal(r.send(request(), peer('192.0.2.1')), 'sa');
  const req = request();
  assert.equal(r.send(req, peer('192.0.2.1')), 'cookie');
  assert.equal(r.send(withCookie(req, r.cookie()), peer('192.0.2.1')), 'sa');
  assert.equal(r.send(request(), peer('192.0.2.9')), 'cookie', 'cookies stay on for a while once demanded (no flapping)');
  assert.equal(r.engine.resources().halfOpen, 3);
});

test('block_threshold: requests from an address that holds that many half-open SAs are dropped', () => {
  const r = responder({ cookieThreshold: 1000, cookieThresholdIp: 1000, blockThreshold: 3 });
  for (let k = 0; k < 3; k++) assert.equal(r.send(request(), peer('192.0.2.1', 1000 + k)), 'sa');
  assert.equal(r.send(request(), peer('192.0.2.1', 2000)), 'drop');
  assert.equal(r.send(request(), peer('192.0.2.7')), 'sa');
  assert.equal(r.engine.resources().halfOpen, 4);
});

test('init_limit_half_open: at the limit, a request with a valid cookie replaces the oldest half-open SA; the table never grows past it', () => {
  const r = responder({ cookieThreshold: 3, cookieThresholdIp: 1000, blockThreshold: 1000, halfOpenLimit: 5 });
  const failed: number[] = [];
  let n = 0;
  for (let k = 0; k < 40; k++) {
    const req = request();
    const from = peer(`198.18.${k >> 8}.${k & 0xff}`);
    let v = r.send(req, from, k);
    if (v === 'cookie') v = r.send(withCookie(req, r.cookie()), from, k);
    assert.equal(v, 'sa', `request ${k}`);
    n++;
    for (const o of r.engine.drain()) if (o.kind === 'event' && o.event.type === 'ike-failed') failed.push(o.event.sa);
    assert.ok(r.engine.resources().halfOpen <= 5);
  }
  assert.equal(n, 40);
  assert.equal(r.engine.resources().halfOpen, 5);
  assert.equal(r.engine.resources().ikeSas, 5);
  // Without a cookie nothing is displaced: the full table demands one.
  assert.equal(r.send(request(), peer('198.19.0.1'), 100), 'cookie');
  assert.ok(r.engine.resources().spentCookies <= 10);
});

test('failed authentications from an address back off: after three, its IKE_SA_INIT requests are dropped for 1 s, then 2 s', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], pskI: 'a-wrong-pre-shared-key-0123456789', pskR: 'the-right-pre-shared-key-0123456789' });
  const attempt = (at: number): 'answered' | 'dropped' => {
    pair.now = at;
    const before = pair.wire.filter((d) => d.from === 'r').length;
    pair.initiate();
    pair.run();
    return pair.wire.filter((d) => d.from === 'r').length > before ? 'answered' : 'dropped';
  };
  for (let k = 0; k < 3; k++) assert.equal(attempt(0), 'answered', `attempt ${k + 1}`);
  assert.equal(failures(pair.eventsR).filter((f) => f.notify === NotifyType.AUTHENTICATION_FAILED).length, 3);
  assert.equal(attempt(500), 'dropped', 'within 1 s of the third failure');
  assert.equal(attempt(1001), 'answered', 'after the back-off (and fails again: the fourth failure)');
  assert.equal(attempt(2500), 'dropped', 'within 2 s of the fourth');
  assert.equal(attempt(3002), 'answered');
  assert.equal(pair.r.resources().authFailureRecords, 1);
  // Another address is not affected.
  const r = responder({});
  assert.equal(r.send(request(), peer('192.0.2.77'), 0), 'sa');
});

test('under load a new request is answered COOKIE from its payload headers alone, before any decoding: even a malformed SA body gets one', () => {
  const req = request();
  const m = Uint8Array.from(req);
  // The SA payload is the first one after the header: spoil its first proposal's length field.
  assert.equal(m[16], PayloadType.SA);
  m[28 + 4 + 2] = 0xff;
  m[28 + 4 + 3] = 0xff;
  const loaded = responder({ cookieThreshold: 0 });
  assert.equal(loaded.send(m, peer('192.0.2.1')), 'cookie');
  const idle = responder({});
  assert.equal(idle.send(m, peer('192.0.2.1')), 'drop', 'decoded, it is malformed (RFC 7296 §2.21.1: dropped)');
  // The cookie covers the SPI and nonce, which the spoiled request shares with the intact one.
  assert.equal(loaded.send(withCookie(req, loaded.cookie()), peer('192.0.2.1')), 'sa');
});

test('census() counts IKE SAs by state and Child SAs without building listings, and agrees with list()', () => {
  const r = responder({ cookieThreshold: 1000, cookieThresholdIp: 1000, blockThreshold: 1000 });
  for (let k = 0; k < 20; k++) r.send(request(), peer(`198.18.1.${k}`));
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  pair.establish();
  for (const e of [r.engine, pair.r]) {
    const byState: Record<string, number> = {};
    for (const s of e.list()) byState[s.state] = (byState[s.state] ?? 0) + 1;
    assert.deepEqual(e.census(), { states: byState, childSas: e.resources().childSas });
  }
  assert.deepEqual(r.engine.census().states, { authenticating: 20 });
});

test('under load (cookies demanded) a responder reuses its X25519 key pair for up to 1 s (RFC 7296 §2.12); otherwise every SA gets its own', () => {
  const keOf = (r: ReturnType<typeof responder>, from: Endpoint, now: number): string => {
    const req = request();
    let v = r.send(req, from, now);
    if (v === 'cookie') v = r.send(withCookie(req, r.cookie()), from, now);
    assert.equal(v, 'sa');
    const out = r.engine.list().at(-1);
    assert.ok(out);
    // The SA response went out in send(); read its KE from the SA's IKE_SA_INIT response.
    const sa = sasOf(r.engine).find((s) => s.id === out.id);
    const ke = decode(sa?.setup?.initResponse ?? new Uint8Array()).payloads.find((p) => p.type === PayloadType.KE);
    return ke && ke.type === PayloadType.KE ? Buffer.from(ke.data).toString('hex') : '';
  };
  const loaded = responder({ cookieThreshold: 0, cookieThresholdIp: 1000, blockThreshold: 1000 });
  const a = keOf(loaded, peer('198.18.2.1'), 0);
  assert.equal(keOf(loaded, peer('198.18.2.2'), 500), a, 'same key pair within the second');
  assert.notEqual(keOf(loaded, peer('198.18.2.3'), 1001), a, 'a new one after it');
  const idle = responder({});
  const b = keOf(idle, peer('198.18.3.1'), 0);
  assert.notEqual(keOf(idle, peer('198.18.3.2'), 1), b);
});

/** Let one queued request in; the address its SA response went to (undefined: nothing sent). */
function admitOne(engine: IkeEngine, now = 0): string | undefined {
  assert.equal(engine.admitPending(now, 1), 1, 'a request was waiting');
  const o = engine.drain().find((x) => x.kind === 'send');
  if (!o || o.kind !== 'send') return undefined;
  assert.ok(decode(o.data).payloads.some((p) => p.type === PayloadType.SA), 'an SA response');
  return o.to.address;
}

test('with an admission queue an accepted IKE_SA_INIT waits for admitPending(): the address holding the fewest half-open SAs goes first, the oldest first among equals', () => {
  const r = responder({ cookieThreshold: 1000, cookieThresholdIp: 1000, blockThreshold: 1000, admissionQueue: 8 });
  const flood = peer('198.18.0.1');
  for (let k = 0; k < 2; k++) {
    assert.equal(r.send(request(), flood), 'drop', 'queued: nothing sent on arrival');
    assert.equal(admitOne(r.engine), flood.address);
  }
  assert.equal(r.engine.resources().halfOpen, 2);
  // The flooding address (2 half-open SAs) queues first, two new addresses after it.
  r.send(request(), peer(flood.address, 501));
  r.send(request(), peer('192.0.2.10'));
  r.send(request(), peer(flood.address, 502));
  r.send(request(), peer('192.0.2.20'));
  assert.equal(r.engine.resources().pendingAdmissions, 4);
  assert.equal(r.engine.resources().halfOpen, 2, 'no SA before admitPending()');
  assert.deepEqual([admitOne(r.engine), admitOne(r.engine), admitOne(r.engine), admitOne(r.engine)], ['192.0.2.10', '192.0.2.20', flood.address, flood.address]);
  assert.equal(r.engine.admitPending(0, 10), 0);
  // A retransmission of a queued request takes its place instead of queueing twice.
  const req = request();
  r.send(req, peer('192.0.2.30'));
  r.send(request(), peer('192.0.2.40'));
  r.send(req, peer('192.0.2.30'));
  assert.equal(r.engine.resources().pendingAdmissions, 2);
  assert.deepEqual([admitOne(r.engine), admitOne(r.engine)], ['192.0.2.30', '192.0.2.40']);
});

test('with an admission queue, only a request that would be accepted waits: a malformed one is answered INVALID_SYNTAX and a forged cookie a fresh COOKIE at once, so spoofed requests cannot fill it', () => {
  const r = responder({ cookieThreshold: 0, admissionQueue: 4 });
  const noNonce = (q: Uint8Array): Uint8Array => rewrite(q, (ps) => ps.filter((p) => p.type !== PayloadType.NONCE));
  for (let k = 0; k < 4; k++) assert.equal(r.send(noNonce(request()), peer(`203.0.113.${k}`)), String(NotifyType.INVALID_SYNTAX));
  for (let k = 0; k < 4; k++) assert.equal(r.send(withCookie(request(), new Uint8Array(32).fill(k)), peer(`203.0.113.${10 + k}`)), 'cookie');
  assert.equal(r.engine.resources().pendingAdmissions, 0);
  const req = request();
  assert.equal(r.send(req, peer('192.0.2.77')), 'cookie');
  assert.equal(r.send(withCookie(req, r.cookie()), peer('192.0.2.77')), 'drop', 'queued');
  assert.equal(r.engine.resources().pendingAdmissions, 1);
});

test('queued requests count with the half-open SAs of their address: block_threshold holds through the queue, and one address cannot take the queue at the best rank', () => {
  const r = responder({ cookieThreshold: 1000, cookieThresholdIp: 1000, blockThreshold: 3, admissionQueue: 8 });
  for (let k = 0; k < 6; k++) r.send(request(), peer('198.18.0.1', 1000 + k));
  assert.equal(r.engine.resources().pendingAdmissions, 3, 'block_threshold 3 counts the queued ones');
  r.send(request(), peer('192.0.2.10'));
  assert.deepEqual([admitOne(r.engine), admitOne(r.engine), admitOne(r.engine), admitOne(r.engine)], ['198.18.0.1', '192.0.2.10', '198.18.0.1', '198.18.0.1']);
  assert.equal(r.engine.resources().halfOpen, 4);
});

test('a full admission queue takes a newcomer only if it ranks above the worst waiting; one it would not take gets no COOKIE either (it would only come back)', () => {
  const r = responder({ cookieThreshold: 0, cookieThresholdIp: 1000, blockThreshold: 1000, admissionQueue: 2 });
  const flood = '198.18.0.1';
  const queue = (from: Endpoint): void => {
    const req = request();
    assert.equal(r.send(req, from), 'cookie');
    assert.equal(r.send(withCookie(req, r.cookie()), from), 'drop', 'queued');
  };
  queue(peer(flood));
  assert.equal(admitOne(r.engine), flood);
  queue(peer(flood, 501));
  queue(peer(flood, 502));
  assert.equal(r.engine.resources().pendingAdmissions, 2);
  // The queue is full of requests from an address holding one half-open SA: another from
  // there is dropped without a COOKIE; a new address still gets one and takes a place.
  assert.equal(r.send(request(), peer(flood, 503)), 'drop');
  queue(peer('192.0.2.10'));
  assert.equal(r.engine.resources().pendingAdmissions, 2);
  assert.deepEqual([admitOne(r.engine), admitOne(r.engine)], ['192.0.2.10', flood]);
  assert.equal(r.engine.resources().halfOpen, 3);
});

test('at init_limit_half_open the SA replaced is the oldest of the address holding the most, not a newcomer\'s handshake in progress', () => {
  const r = responder({ cookieThreshold: 0, cookieThresholdIp: 1000, blockThreshold: 1000, halfOpenLimit: 4 });
  const open = (from: Endpoint): void => {
    const req = request();
    assert.equal(r.send(req, from), 'cookie');
    assert.equal(r.send(withCookie(req, r.cookie()), from), 'sa');
  };
  open(peer('192.0.2.1'));
  for (let k = 0; k < 3; k++) open(peer('198.18.0.1', 1000 + k));
  open(peer('192.0.2.2'));
  // The flooding address lost its oldest (port 1000); the first newcomer kept its SA.
  assert.deepEqual(r.engine.list().map((s) => `${s.remote.address}:${s.remote.port}`).sort(), ['192.0.2.1:500', '192.0.2.2:500', '198.18.0.1:1001', '198.18.0.1:1002']);
});

test('replaced half-open SAs are let go at once: after 40 x init_limit_half_open of them the deadline heap holds about twice the live SAs, not one entry per SA ever made', () => {
  const r = responder({ cookieThreshold: 0, cookieThresholdIp: 1000, blockThreshold: 1000, halfOpenLimit: 5 });
  for (let k = 0; k < 200; k++) {
    const req = request();
    const from = peer(`198.18.${k >> 8}.${k & 0xff}`);
    r.send(req, from, k);
    assert.equal(r.send(withCookie(req, r.cookie()), from, k), 'sa');
    r.engine.drain();
  }
  const res = r.engine.resources();
  assert.equal(res.ikeSas, 5);
  assert.ok(res.timerEntries <= 2 * res.ikeSas + 64, `timer entries ${res.timerEntries}`);
});
