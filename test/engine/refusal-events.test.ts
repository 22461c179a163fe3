/**
 * Every refusal a responder sends is a typed 'refused' event with what it refused and why
 * (and, where configuration is the question, what the peer sent and what we have); a Child SA
 * the initiator asked for and did not get is a 'child-failed' event. The daemon logs and
 * counts these; here the engine's side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair, connections } from '../helpers/engine-pair.js';
import { ExchangeType, NotifyType } from '../../src/wire/constants.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { eventToJson, formatEvent } from '../../src/daemon/event-format.js';

type Refused = Extract<EngineEvent, { type: 'refused' }>;
const refusals = (ev: readonly EngineEvent[]): Refused[] => ev.filter((e): e is Refused => e.type === 'refused');

test('NO_PROPOSAL_CHOSEN in IKE_SA_INIT: the event names the proposals received and those configured, as strongSwan writes them', () => {
  const pair = new EnginePair({ ikeI: ['aes128-sha256-ecp256'], ikeR: ['aes256gcm16-prfsha384-x25519'] });
  pair.initiate();
  pair.run();
  const [r] = refusals(pair.eventsR);
  assert.ok(r, 'a refused event');
  assert.equal(r.exchange, ExchangeType.IKE_SA_INIT);
  assert.equal(r.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  assert.equal(r.sa, undefined, 'no state kept');
  assert.equal(r.received, 'IKE:AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256');
  assert.equal(r.configured, 'sun: IKE:AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519');
  assert.deepEqual(r.peer, { address: '192.0.2.1', port: 500 });
  assert.equal(
    formatEvent(r),
    'IKE_SA_INIT from 192.0.2.1:500 refused with NO_PROPOSAL_CHOSEN: no acceptable proposal; received proposals: IKE:AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256; configured proposals: sun: IKE:AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519',
  );
  assert.deepEqual([eventToJson(r)['exchange'], eventToJson(r)['notify']], ['IKE_SA_INIT', 'NO_PROPOSAL_CHOSEN']);
});

test('INVALID_KE_PAYLOAD: the event says which method came and which one we want', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-ecp256-x25519'], ikeR: ['aes256gcm16-prfsha384-x25519'] });
  pair.establish();
  const [r] = refusals(pair.eventsR);
  assert.ok(r);
  assert.deepEqual([r.notify, r.received, r.configured], [NotifyType.INVALID_KE_PAYLOAD, 'KE ECP_256', 'CURVE_25519']);
});

test('TS_UNACCEPTABLE for the Child SA of IKE_AUTH: refused on the gateway with both sides\' selectors, child-failed on the initiator, the IKE SA up', () => {
  const pair = new EnginePair({ connR: { children: [] } });
  const cR = pair.r.connections()[0];
  assert.ok(cR);
  pair.r.addConnection({ ...cR, children: [{ ...(pair.i.connections()[0]?.children[0] ?? cR.children[0]!), name: 'other', localTs: [parseTrafficSelector('10.9.0.0/16')], remoteTs: [parseTrafficSelector('10.8.0.0/16')] }] });
  const ids = pair.establish();
  assert.deepEqual(pair.i.children(ids.i), []);
  const [r] = refusals(pair.eventsR);
  assert.ok(r);
  assert.deepEqual([r.exchange, r.notify, r.sa], [ExchangeType.IKE_AUTH, NotifyType.TS_UNACCEPTABLE, ids.r]);
  assert.equal(r.received, 'TSi 198.51.100.0/25 TSr 198.51.100.128/25');
  assert.equal(r.configured, 'other: 10.8.0.0/16 === 10.9.0.0/16');
  const failed = pair.eventsI.filter((e) => e.type === 'child-failed');
  assert.deepEqual(failed, [{ type: 'child-failed', sa: ids.i, child: 'net', rekey: false, reason: 'refused: TS_UNACCEPTABLE', notify: NotifyType.TS_UNACCEPTABLE }]);
});

test('AUTHENTICATION_FAILED: a refused event on the responder', () => {
  const pair = new EnginePair({ pskI: 'pqike-test-psk-0123456789abcdef', pskR: 'another-psk-of-enough-length-0123' });
  pair.initiate();
  pair.run();
  const r = refusals(pair.eventsR).find((x) => x.exchange === ExchangeType.IKE_AUTH);
  assert.ok(r);
  assert.equal(r.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.match(r.reason, /does not verify/);
});

test('a CREATE_CHILD_SA for a Child SA the responder cannot give: refused there, child-failed here', () => {
  const [net] = connections().initiator.children;
  assert.ok(net);
  const far = { ...net, name: 'far', localTs: [parseTrafficSelector('10.7.0.0/16')], remoteTs: [parseTrafficSelector('10.6.0.0/16')] };
  const pair = new EnginePair({ connI: { children: [net, far] } });
  // The second child is created by CREATE_CHILD_SA once the IKE SA is up.
  const ids = pair.establish();
  assert.deepEqual(pair.i.children(ids.i).map((c) => c.name), ['net']);
  const r = refusals(pair.eventsR).find((x) => x.exchange === ExchangeType.CREATE_CHILD_SA);
  assert.ok(r);
  assert.equal(r.notify, NotifyType.TS_UNACCEPTABLE);
  const failed = pair.eventsI.filter((e) => e.type === 'child-failed');
  assert.equal(failed.length, 1);
  assert.ok(failed[0]?.type === 'child-failed' && failed[0].child === 'far' && failed[0].notify === NotifyType.TS_UNACCEPTABLE);
});
