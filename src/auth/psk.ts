/**
 * Pre-shared key authentication (RFC 7296 §2.15): AUTH = prf(prf(Shared Secret, "Key Pad for
 * IKEv2"), <SignedOctets>), AUTH method 2 (Shared Key Message Integrity Code), compared in
 * constant time.
 */
import { pskAuth } from '../crypto/keys.js';
import { constantTimeEqual } from '../crypto/util.js';
import { AuthMethod } from '../wire/constants.js';
import type { Authenticator } from './authenticator.js';

export function pskAuthenticator(psk: Uint8Array): Authenticator {
  return {
    describe: 'pre-shared key',
    announcements: [{ method: AuthMethod.SHARED_KEY_MIC, certLink: 0 }],
    sign: (ctx) => ({ method: AuthMethod.SHARED_KEY_MIC, data: pskAuth(ctx.prfId, psk, ctx.octets) }),
    verify(peer) {
      if (peer.method !== AuthMethod.SHARED_KEY_MIC) return `peer used auth method ${peer.method}, expected PSK`;
      return constantTimeEqual(pskAuth(peer.prfId, psk, peer.octets), peer.data) ? undefined : 'AUTH payload does not verify (wrong PSK?)';
    },
  };
}
