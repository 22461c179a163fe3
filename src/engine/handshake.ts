/**
 * What the initiator sends next while setting up an IKE SA: one IKE_INTERMEDIATE per pending
 * additional key exchange in transform-type order (RFC 9370 §2.2.2), the PPK with the last of
 * them or alone (RFC 9867), then IKE_AUTH (§2.2.3).
 */
import { sendAuthRequest } from './exchange-auth.js';
import { sendIntermediateRequest } from './exchange-intermediate.js';
import { isSettingUp } from './ike-sa.js';
import type { IkeSa } from './ike-sa.js';

export function continueHandshake(sa: IkeSa, now: number): void {
  if (!sa.isInitiator || sa.outstanding || !sa.keys || !isSettingUp(sa) || sa.setup.trustWait) return;
  if (sa.state === 'intermediate' && sa.intermediateLeft()) sendIntermediateRequest(sa, now);
  else if (sa.state === 'authenticating') sendAuthRequest(sa, now);
}
