/**
 * IKE_AUTH does not hard-code the PSK: a connection's authenticators (src/auth/) sign and
 * verify the signed octets (RFC 7296 §2.15), PSK by default. Here a stand-in method (AUTH
 * method 14 with a keyed hash, not a real signature) shows that another method is a new
 * Authenticator, not an edit of the engine; and the PSK one refuses a foreign method.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EnginePair } from '../helpers/engine-pair.js';
import type { Authenticator } from '../../src/auth/authenticator.js';
import { pskAuthenticator } from '../../src/auth/psk.js';
import { AuthMethod, ExchangeType, NotifyType, PrfId } from '../../src/wire/constants.js';

/** A stand-in for a signature method: "signs" with HMAC under a per-side key. */
function standIn(ownKey: string, peerKey: string): { local: Authenticator; remote: Authenticator } {
  const mac = (key: string, octets: Uint8Array): Uint8Array => createHmac('sha256', key).update(octets).digest();
  return {
    local: { describe: 'stand-in', sign: (ctx) => ({ method: AuthMethod.DIGITAL_SIGNATURE, data: mac(ownKey, ctx.octets) }), verify: () => 'not used for the peer' },
    remote: {
      describe: 'stand-in',
      sign: () => {
        throw new Error('not used for us');
      },
      verify: (p) => (p.method !== AuthMethod.DIGITAL_SIGNATURE ? `method ${p.method}` : Buffer.compare(mac(peerKey, p.octets), p.data) === 0 ? undefined : 'bad stand-in signature'),
    },
  };
}

test('another authentication method is an Authenticator in the connection: the engine signs and verifies with it', () => {
  const pair = new EnginePair({ connI: { auth: standIn('moon-key', 'sun-key') }, connR: { auth: standIn('sun-key', 'moon-key') } });
  const ids = pair.establish();
  assert.deepEqual(pair.errors(), []);
  assert.equal(pair.i.children(ids.i).length, 1);
  const authIn = pair.eventsR.find((e) => e.type === 'message' && e.exchange === ExchangeType.IKE_AUTH && e.direction === 'in');
  assert.ok(authIn?.type === 'message' && authIn.payloads.includes('AUTH'));
});

test('a wrong stand-in key fails authentication on the responder (AUTHENTICATION_FAILED)', () => {
  const pair = new EnginePair({ connI: { auth: standIn('moon-key', 'sun-key') }, connR: { auth: standIn('sun-key', 'not-moon') } });
  pair.initiate();
  pair.run();
  const refused = pair.eventsR.find((e) => e.type === 'refused');
  assert.ok(refused?.type === 'refused' && refused.notify === NotifyType.AUTHENTICATION_FAILED && refused.reason === 'bad stand-in signature', JSON.stringify(refused));
});

test('the PSK authenticator: AUTH of method 2 over the octets, other methods and other data refused', () => {
  const a = pskAuthenticator(new TextEncoder().encode('pqike-test-psk-0123456789abcdef'));
  const octets = new TextEncoder().encode('signed octets');
  const s = a.sign({ prfId: PrfId.HMAC_SHA2_256, octets, peerHashes: undefined });
  assert.ok(typeof s !== 'string');
  assert.equal(s.method, AuthMethod.SHARED_KEY_MIC);
  const proof = { prfId: PrfId.HMAC_SHA2_256, method: s.method, data: s.data, octets, identity: { kind: 'fqdn', value: 'moon' }, certs: [] };
  assert.equal(a.verify(proof), undefined);
  assert.match(String(a.verify({ ...proof, method: AuthMethod.DIGITAL_SIGNATURE })), /expected PSK/);
  const flipped = Uint8Array.from(s.data, (b, i) => (i === 0 ? b ^ 1 : b));
  assert.match(String(a.verify({ ...proof, data: flipped })), /does not verify/);
  assert.match(String(a.verify({ ...proof, prfId: PrfId.HMAC_SHA2_384 })), /does not verify/, 'the PRF is part of it');
});
