/**
 * What the engine tells an operator, once each (issue 12): a failure is one 'ike-failed' event
 * with no 'log' event repeating it, a retransmission one 'retransmit' event; datagrams dropped
 * without an answer are counted by reason (engine.drops()); JSON events carry names (IANA's
 * for exchanges and notifies, strongSwan's for algorithms), never the numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { ExchangeType, NotifyType } from '../../src/wire/constants.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { eventToJson, formatEvent } from '../../src/daemon/event-format.js';

const logs = (ev: readonly EngineEvent[]): Extract<EngineEvent, { type: 'log' }>[] => ev.filter((e): e is Extract<EngineEvent, { type: 'log' }> => e.type === 'log');

test('a failed authentication is one ike-failed event on the initiator, with no log event saying it again', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], pskI: 'pqike-test-psk-0123456789abcdef', pskR: 'another-psk-of-enough-length-0123' });
  pair.initiate();
  pair.run();
  const failed = pair.eventsI.filter((e) => e.type === 'ike-failed');
  assert.equal(failed.length, 1);
  const f = failed[0];
  assert.ok(f?.type === 'ike-failed');
  assert.equal(f.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.deepEqual(logs(pair.eventsI).filter((l) => l.message.includes(f.reason) || /failed/i.test(l.message)), [], 'no log event repeats the failure');
  // The responder: the refusal once, its half-open SA's failure marked as such (logged at debug).
  const refused = pair.eventsR.filter((e) => e.type === 'refused');
  assert.equal(refused.length, 1);
  assert.ok(pair.eventsR.some((e) => e.type === 'ike-failed' && e.halfOpen === true));
  assert.deepEqual(logs(pair.eventsR).filter((l) => /failed/i.test(l.message)), []);
});

test('retransmissions are retransmit events only, and the timeout that ends them says so (cause timeout)', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], engineOptions: { retransmitTries: 3, retransmitTimeoutMs: 100 } });
  pair.filter = (d) => (d.from === 'i' ? undefined : d.data); // the responder never hears us
  pair.initiate();
  pair.runFor(10_000);
  const rt = pair.eventsI.filter((e) => e.type === 'retransmit');
  assert.deepEqual(rt.map((e) => (e.type === 'retransmit' ? e.attempt : 0)), [1, 2, 3]);
  assert.deepEqual(logs(pair.eventsI).filter((l) => /retransmit/.test(l.message)), []);
  const failed = pair.eventsI.filter((e) => e.type === 'ike-failed');
  assert.equal(failed.length, 1);
  assert.ok(failed[0]?.type === 'ike-failed' && failed[0].cause === 'timeout' && failed[0].notify === undefined, JSON.stringify(failed));
});

test('a half-open SA that times out on the responder fails with cause half-open-timeout', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], engineOptions: { halfOpenTimeoutMs: 1000 } });
  // Only the IKE_SA_INIT request reaches the responder.
  let sent = 0;
  pair.filter = (d) => (d.from === 'i' && sent++ === 0 ? d.data : undefined);
  pair.initiate();
  pair.runFor(5000);
  const f = pair.eventsR.find((e) => e.type === 'ike-failed');
  assert.ok(f?.type === 'ike-failed' && f.cause === 'half-open-timeout' && f.halfOpen === true, JSON.stringify(f));
});

test('datagrams dropped without an answer are counted by reason: parse, unknown-sa, icv, unexpected', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  const zero = pair.r.drops();
  assert.deepEqual(Object.values(zero).filter((v) => v !== 0), [], 'all zero at the start');
  assert.deepEqual(Object.keys(zero).sort(), ['fragment', 'icv', 'limits', 'parse', 'unexpected', 'unknown-sa']);
  pair.establish();
  // Garbage.
  pair.inject('i', new Uint8Array(40).fill(7));
  // A protected message of ours with one octet of its ICV changed.
  const last = [...pair.wire].reverse().find((d) => d.from === 'i' && d.data[18] === ExchangeType.IKE_AUTH);
  assert.ok(last);
  const tampered = Uint8Array.from(last.data);
  // An INFORMATIONAL request with the next Message ID, so that it is opened (not a retransmission).
  tampered[18] = ExchangeType.INFORMATIONAL;
  tampered[20 + 3] = 2;
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
  pair.inject('i', tampered);
  // Unknown SPIs.
  const stranger = Uint8Array.from(last.data);
  stranger[0] = (stranger[0] ?? 0) ^ 0xff;
  pair.inject('i', stranger);
  // A response nobody waits for.
  const unasked = Uint8Array.from(last.data);
  unasked[19] = (unasked[19] ?? 0) | 0x20;
  pair.inject('i', unasked);
  const d = pair.r.drops();
  assert.equal(d.parse, 1, JSON.stringify(d));
  assert.equal(d['unknown-sa'], 1, JSON.stringify(d));
  assert.equal(d.icv, 1, JSON.stringify(d));
  assert.equal(d.unexpected, 1, JSON.stringify(d));
  // None of it was logged: a flood of garbage costs no lines.
  assert.deepEqual(logs(pair.eventsR).filter((l) => l.level !== 'debug'), []);
});

test('JSON events name exchanges, notifies and key exchange methods; text uses strongSwan\'s names', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-ecp256-x25519-ke1_mlkem768'], ikeR: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], espI: ['aes256gcm16-x25519'] });
  const ids = pair.establish();
  pair.i.rekeyIke(ids.i, pair.now);
  pair.run();
  const all = [...pair.eventsI, ...pair.eventsR];
  assert.ok(all.some((e) => e.type === 'ike-rekeyed'));
  assert.ok(all.some((e) => e.type === 'refused' && e.notify === NotifyType.INVALID_KE_PAYLOAD));
  const numeric: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'number' && /(^|\.)(exchange|notify|method|keMethods(\.\d+)?|encr|integ)$/.test(path)) numeric.push(`${path}=${v}`);
    if (typeof v === 'string' && /^(payloads\.\d+)$/.test(path) && /\(\d+\)/.test(v)) numeric.push(`${path}=${v}`);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}.${i}`));
    else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
  };
  for (const e of all) walk(eventToJson(e), '');
  assert.deepEqual(numeric, []);
  const texts = all.map(formatEvent).join('\n');
  assert.match(texts, /KE\(CURVE_25519\)/);
  assert.match(texts, /KE1_ML_KEM_768/);
  assert.doesNotMatch(texts, /CURVE25519|MLKEM768|KE\(\d+\)/);
  assert.ok(logs(pair.eventsI).some((l) => l.message === 'responder wants key exchange method CURVE_25519, retrying'), JSON.stringify(logs(pair.eventsI)));
});
