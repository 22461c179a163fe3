/**
 * IKE_INTERMEDIATE rounds carrying the additional key exchanges (RFC 9370 §2.2.2, RFC 9242)
 * and the PPK of RFC 9867 (ppk-intermediate.ts), which goes into the last of them, or into one
 * of its own when there is no additional key exchange.
 * Each round: HDR, SK {KEi(n), [N(PPK_IDENTITY_KEY)+]} --> <-- HDR, SK {KEr(n), [N(PPK_IDENTITY)]},
 * protected with the current keys; the keys derived afterwards (the additional key exchange's,
 * then the PPK's) protect the next exchange, not this round's response. The key exchange itself
 * is tasks/ke-round.ts, shared with IKE_FOLLOWUP_KE.
 */
import { ExchangeType, NotifyType, PayloadType, nameOf } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { SettingUp } from './ike-sa.js';
import { errorNotify, find } from './payloads.js';
import { acceptedPpk, choosePpk, isPpkRound, ppkOffers } from './ppk-intermediate.js';
import type { PpkChoice } from './ppk-intermediate.js';
import { ppkIdText } from './ppk.js';
import { answerKe, completeKe, offerKe } from './tasks/ke-round.js';

/** Initiator: start the next additional key exchange, with the PPK offers in the last one (RFC 9867). */
export function sendIntermediateRequest(sa: SettingUp, now: number): void {
  if (!sa.intermediateLeft()) return;
  const method = sa.nextAddkeMethod();
  const payloads: Payload[] = [];
  if (method !== undefined) {
    const { state, payload } = offerKe(sa.host.keMethod, method);
    sa.setup.keState = state;
    sa.setup.keMethodId = method;
    payloads.push(payload);
  }
  const ppkInt = sa.setup.ppkInt;
  if (ppkInt && isPpkRound(sa)) {
    const offer = ppkOffers(sa);
    if (typeof offer === 'string') return sa.fail(`cannot go on: ${offer}`, NotifyType.AUTHENTICATION_FAILED);
    ppkInt.offers = offer.offers;
    payloads.push(...offer.payloads);
  }
  sa.sendRequest(ExchangeType.IKE_INTERMEDIATE, payloads, now);
}

/** Initiator: the response arrived (KEr(n), PPK_IDENTITY); `ap` is its A|P octets. */
export function handleIntermediateResponse(sa: SettingUp, inner: readonly Payload[], ap: Uint8Array): void {
  const req = sa.outstanding;
  if (!req || !sa.intermediateLeft()) return;
  const method = sa.nextAddkeMethod();
  const keState = sa.setup.keState;
  if (method !== undefined && !keState) return;
  sa.outstanding = undefined;
  const err = errorNotify(inner);
  if (err) return sa.fail(`IKE_INTERMEDIATE failed: ${nameOf(NotifyType, err.notifyType)}`, err.notifyType);
  const ppkRound = isPpkRound(sa);
  let ppk: PpkChoice | undefined;
  if (ppkRound) {
    const accepted = acceptedPpk(sa, inner);
    if (accepted && 'fail' in accepted) return sa.fail(accepted.fail, accepted.notify);
    ppk = accepted;
  }
  if (method !== undefined && keState) {
    const shared = completeKe(keState, method, inner);
    if (typeof shared === 'string') return sa.fail(`IKE_INTERMEDIATE response: ${shared}`, NotifyType.INVALID_SYNTAX);
    sa.setup.keState = undefined;
    sa.completeIntermediate(req.ap, ap, shared);
  } else {
    sa.foldIntermediate(req.ap, ap);
  }
  if (ppkRound) finishPpkRound(sa, ppk);
  if (!sa.intermediateLeft()) sa.transition('authenticating');
}

/** Both roles, after the PPK round's other key update: mix the PPK in, or note that none was taken (RFC 9867). */
function finishPpkRound(sa: SettingUp, ppk: PpkChoice | undefined, why?: string): void {
  if (sa.setup.ppkInt) sa.setup.ppkInt.pending = false;
  if (!ppk) {
    sa.log('info', `no post-quantum preshared key in IKE_INTERMEDIATE${why ? ` (${why})` : ''}; going on without one, as the PPK is optional`);
    return;
  }
  const id = ppkIdText(ppk.id);
  if (sa.setup.ppkInt) sa.setup.ppkInt.used = ppk.id;
  sa.mixIntermediatePpk(ppk.key, id);
  sa.log('info', `post-quantum preshared key ${id} mixed into the keys in IKE_INTERMEDIATE (RFC 9867): IKE_AUTH is protected by it`);
}

/** Responder: KEi(n) arrived in request `messageId`; `ap` is its A|P octets. */
export function handleIntermediateRequest(sa: SettingUp, messageId: number, inner: readonly Payload[], ap: Uint8Array): void {
  const method = sa.nextAddkeMethod();
  const requestKeys = sa.inKeys();
  const reject = (why: string): void => {
    sa.refuse(ExchangeType.IKE_INTERMEDIATE, messageId, NotifyType.INVALID_SYNTAX, why, { keys: requestKeys });
    sa.fail(why, NotifyType.INVALID_SYNTAX);
  };
  // RFC 9242 allows IKE_INTERMEDIATE for other purposes: with nothing to exchange (no key
  // exchange, no PPK) the answer is empty, and the exchange still enters IntAuth.
  if (method === undefined && find(inner, PayloadType.KE)) return reject('IKE_INTERMEDIATE with KE but no additional key exchange pending');
  const ppkRound = isPpkRound(sa);
  const out: Payload[] = [];
  const answer = method === undefined ? undefined : answerKe(sa.host.keMethod, method, inner);
  if (answer && 'problem' in answer) return reject(`IKE_INTERMEDIATE request: ${answer.why}`);
  if (answer) out.push(answer.payload);
  const choice = ppkRound ? choosePpk(sa, inner) : undefined;
  if (choice?.refuse) {
    sa.refuse(ExchangeType.IKE_INTERMEDIATE, messageId, choice.refuse.notify, choice.refuse.why, { keys: requestKeys });
    return sa.fail(choice.refuse.why, choice.refuse.notify);
  }
  if (choice?.chosen) out.push(choice.payload);
  const apResp = sa.sendResponse(ExchangeType.IKE_INTERMEDIATE, messageId, out, requestKeys);
  if (answer) sa.completeIntermediate(ap, apResp, answer.shared);
  else sa.foldIntermediate(ap, apResp);
  if (ppkRound) finishPpkRound(sa, choice?.chosen, choice?.why);
  if (!sa.intermediateLeft()) sa.transition('authenticating');
}
