/**
 * IKE_INTERMEDIATE rounds carrying the additional key exchanges (RFC 9370 §2.2.2, RFC 9242).
 * Each round: HDR, SK {KEi(n)} --> <-- HDR, SK {KEr(n)}, protected with the current keys;
 * the keys derived afterwards protect the next exchange, not this round's response. The round
 * itself is tasks/ke-round.ts, shared with IKE_FOLLOWUP_KE.
 */
import { ExchangeType, NotifyType, PayloadType, nameOf } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { SettingUp } from './ike-sa.js';
import { errorNotify, find } from './payloads.js';
import { answerKe, completeKe, offerKe } from './tasks/ke-round.js';

/** Initiator: start the next additional key exchange. */
export function sendIntermediateRequest(sa: SettingUp, now: number): void {
  const method = sa.nextAddkeMethod();
  if (method === undefined) return;
  const { state, payload } = offerKe(sa.host.keMethod, method);
  sa.setup.keState = state;
  sa.setup.keMethodId = method;
  sa.sendRequest(ExchangeType.IKE_INTERMEDIATE, [payload], now);
}

/** Initiator: KEr(n) arrived; `ap` is the response's A|P octets. */
export function handleIntermediateResponse(sa: SettingUp, inner: readonly Payload[], ap: Uint8Array): void {
  const req = sa.outstanding;
  const method = sa.nextAddkeMethod();
  if (!req || method === undefined || !sa.setup.keState) return;
  sa.outstanding = undefined;
  const err = errorNotify(inner);
  if (err) return sa.fail(`IKE_INTERMEDIATE failed: ${nameOf(NotifyType, err.notifyType)}`, err.notifyType);
  const shared = completeKe(sa.setup.keState, method, inner);
  if (typeof shared === 'string') return sa.fail(`IKE_INTERMEDIATE response: ${shared}`, NotifyType.INVALID_SYNTAX);
  sa.setup.keState = undefined;
  sa.completeIntermediate(req.ap, ap, shared);
  if (sa.setup.pendingAddke.length === 0) sa.transition('authenticating');
}

/** Responder: KEi(n) arrived in request `messageId`; `ap` is its A|P octets. */
export function handleIntermediateRequest(sa: SettingUp, messageId: number, inner: readonly Payload[], ap: Uint8Array): void {
  const method = sa.nextAddkeMethod();
  const requestKeys = sa.inKeys();
  const reject = (why: string): void => {
    sa.refuse(ExchangeType.IKE_INTERMEDIATE, messageId, NotifyType.INVALID_SYNTAX, why, { keys: requestKeys });
    sa.fail(why, NotifyType.INVALID_SYNTAX);
  };
  if (method === undefined) {
    // RFC 9242 allows IKE_INTERMEDIATE for other purposes; with nothing to exchange, answer
    // empty, and the exchange still enters IntAuth.
    if (find(inner, PayloadType.KE)) return reject('IKE_INTERMEDIATE with KE but no additional key exchange pending');
    const apResp = sa.sendResponse(ExchangeType.IKE_INTERMEDIATE, messageId, [], requestKeys);
    sa.foldIntermediate(ap, apResp);
    return;
  }
  const answer = answerKe(sa.host.keMethod, method, inner);
  if ('problem' in answer) return reject(`IKE_INTERMEDIATE request: ${answer.why}`);
  const apResp = sa.sendResponse(ExchangeType.IKE_INTERMEDIATE, messageId, [answer.payload], requestKeys);
  sa.completeIntermediate(ap, apResp, answer.shared);
  if (sa.setup.pendingAddke.length === 0) sa.transition('authenticating');
}
