// Authentication failures (RFC 7296 §2.15, §2.21.2): a wrong PSK or an unexpected identity
// ends the handshake with AUTHENTICATION_FAILED, never with an SA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair, connections } from '../helpers/engine-pair.js';
import { failures, logs, sentExchanges, ups } from '../helpers/engine-wire.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { NotifyType } from '../../src/wire/index.js';

for (const ike of ['aes256gcm16-prfsha384-x25519', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256-sha384-ecp256-ke1_mlkem768']) {
  test(`wrong PSK → responder refuses with AUTHENTICATION_FAILED, both SAs failed: ${ike}`, () => {
    const pair = new EnginePair({ ikeI: [ike], pskI: 'the-initiators-psk-0123456789', pskR: 'the-responders-psk-9876543210' });
    pair.initiate();
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const fi = failures(pair.eventsI);
    const fr = failures(pair.eventsR);
    assert.equal(fi.length, 1, logs(pair.eventsI));
    assert.equal(fi[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
    assert.equal(fr.length, 1, logs(pair.eventsR));
    assert.equal(fr[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
    assert.match(fr[0]?.reason ?? '', /does not verify/);
    assert.deepEqual(ups(pair.eventsI), []);
    assert.deepEqual(ups(pair.eventsR), []);
    assert.equal(pair.eventsI.some((e) => e.type === 'child-up') || pair.eventsR.some((e) => e.type === 'child-up'), false);
    assert.deepEqual(pair.i.list(), []);
    assert.deepEqual(pair.r.list(), []);
    assert.equal(pair.i.nextDeadline(), undefined);
    assert.equal(pair.r.nextDeadline(), undefined);
  });
}

test('responder expects another initiator identity → AUTHENTICATION_FAILED on both sides', () => {
  const pair = new EnginePair();
  pair.r.addConnection({ ...connections().responder, remoteId: parseIdentity('carol.example.org') });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.equal(failures(pair.eventsR)[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.match(failures(pair.eventsR)[0]?.reason ?? '', /no connection for peer identity moon\.example\.org/);
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.deepEqual(ups(pair.eventsI), []);
  assert.deepEqual(ups(pair.eventsR), []);
});

test('initiator expects another responder identity → initiator fails with AUTHENTICATION_FAILED', () => {
  const pair = new EnginePair();
  pair.i.addConnection({ ...connections().initiator, remoteId: parseIdentity('venus.example.org') });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const fi = failures(pair.eventsI);
  assert.equal(fi.length, 1);
  assert.equal(fi[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.match(fi[0]?.reason ?? '', /sun\.example\.org is not the configured one/);
  assert.deepEqual(ups(pair.eventsI), []);
  assert.equal(pair.eventsI.some((e) => e.type === 'child-up'), false, 'no Child SA installed on the initiator');
  assert.deepEqual(pair.i.list(), []);
  // The responder completed its side before the initiator checked IDr; RFC 7296 §2.21.2 lets
  // the initiator report this in a separate INFORMATIONAL exchange (MAY), which pqike does not
  // send — the responder's SA stays until liveness checks or the peer's next attempt.
  assert.equal(ups(pair.eventsR).length, 1);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q', 'IKE_INTERMEDIATE q', 'IKE_AUTH q']);
});

test('identity types must match too: an IPv4 ID is not the FQDN of the same text', () => {
  const pair = new EnginePair();
  pair.i.addConnection({ ...connections().initiator, remoteId: parseIdentity('192.0.2.2') });
  pair.initiate();
  pair.run();
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
});
