/**
 * One key exchange round, the same wherever it runs: the Transform Type 4 exchange of
 * CREATE_CHILD_SA (RFC 7296 §1.3), each additional key exchange in IKE_INTERMEDIATE (RFC 9370
 * §2.2.2) and in IKE_FOLLOWUP_KE (§2.2.4), in both roles. The initiator offers KEi(n), the
 * responder answers KEr(n) and has the shared secret at once, the initiator completes it.
 * Which exchange carries the round, and what follows, is the caller's business.
 */
import { CryptoError, attempt } from '../../crypto/errors.js';
import type { KeInitiatorState, KeMethod } from '../../crypto/ke.js';
import { PayloadType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import type { SharedSecret } from '../ike-sa.js';
import { find } from '../payloads.js';

type KePayload = Extract<Payload, { type: typeof PayloadType.KE }>;

function kePayload(method: number, data: Uint8Array): KePayload {
  return { type: PayloadType.KE, critical: false, method: method, data };
}

/** Initiator: our KE value for `method`, and the state that completes the round. */
export function offerKe(keMethod: (id: number) => KeMethod, method: number): { state: KeInitiatorState; payload: KePayload } {
  const state = keMethod(method).initiate();
  return { state, payload: kePayload(method, state.publicValue) };
}

/**
 * Responder: the peer's KE for `method` answered. 'missing': no KE payload for this method
 * (CREATE_CHILD_SA answers INVALID_KE_PAYLOAD, RFC 7296 §1.3; the other rounds INVALID_SYNTAX);
 * 'invalid': a value the method rejects (RFC 6989 §2.5, FIPS 203 §7.2 input checks).
 */
export function answerKe(
  keMethod: (id: number) => KeMethod,
  method: number,
  inner: readonly Payload[],
): { payload: KePayload; shared: SharedSecret } | { problem: 'missing' | 'invalid'; why: string } {
  const ke = find(inner, PayloadType.KE);
  if (!ke || ke.method !== method) return { problem: 'missing', why: `no KE payload for key exchange method ${method}` };
  const reply = attempt(() => keMethod(method).respond(ke.data));
  if (reply instanceof CryptoError) return { problem: 'invalid', why: `bad KE data: ${reply.message}` };
  return { payload: kePayload(method, reply.publicValue), shared: { method, secret: reply.sharedSecret } };
}

/** Initiator: the responder's KE completes the round; a string says why it cannot. */
export function completeKe(state: KeInitiatorState, method: number, inner: readonly Payload[]): SharedSecret | string {
  const ke = find(inner, PayloadType.KE);
  if (!ke || ke.method !== method) return `no KE payload for key exchange method ${method}`;
  const secret = attempt(() => state.finish(ke.data));
  if (secret instanceof CryptoError) return `bad KE data: ${secret.message}`;
  return { method, secret };
}
