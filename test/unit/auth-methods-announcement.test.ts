/**
 * SUPPORTED_AUTH_METHODS announcements (RFC 9593 §3.2): the three formats round-trip, and
 * any octet string decodes to a list (unknown or malformed announcements skipped or ending
 * the list), never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeAnnouncements, encodeAnnouncements } from '../../src/auth/auth-methods-announcement.js';
import { VERIFIED_ANNOUNCEMENTS } from '../../src/auth/pubkey.js';
import { AuthMethod } from '../../src/wire/constants.js';

test('RFC 9593 §3.2.1-3.2.3: 2-octet PSK, 3-octet ECDSA with a Cert Link, multi-octet method 14 with its AlgorithmIdentifier', () => {
  const ed = Buffer.from('300506032b6570', 'hex');
  const list = [
    { method: AuthMethod.SHARED_KEY_MIC, certLink: 0 },
    { method: AuthMethod.ECDSA_SHA256_P256, certLink: 2 },
    { method: AuthMethod.DIGITAL_SIGNATURE, certLink: 1, algorithmId: Uint8Array.from(ed) },
  ];
  const data = encodeAnnouncements(list);
  assert.equal(Buffer.from(data).toString('hex'), '0202' + '030902' + '0a0e01' + ed.toString('hex'));
  assert.deepEqual(decodeAnnouncements(data), list);
  assert.deepEqual(decodeAnnouncements(encodeAnnouncements(VERIFIED_ANNOUNCEMENTS)), VERIFIED_ANNOUNCEMENTS);
  assert.ok(encodeAnnouncements(VERIFIED_ANNOUNCEMENTS).length < 400, 'small enough for an IKE_SA_INIT response');
});

test('announcements we do not understand are skipped (§3.2: MUST ignore); a length past the end ends the list', () => {
  // method 200 in 2 octets (unknown), then PSK; then a length of 9 with 3 octets left.
  assert.deepEqual(decodeAnnouncements(Uint8Array.of(2, 200, 2, 2, 9, 14, 0)), [{ method: AuthMethod.SHARED_KEY_MIC, certLink: 0 }]);
  assert.deepEqual(decodeAnnouncements(Uint8Array.of(0, 2, 2)), [], 'a zero length ends it');
});

test('property: any octet string decodes to a list, never an exception', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => Array.isArray(decodeAnnouncements(b))), { seed: 9593, numRuns: 3000 });
});
