/**
 * RFC 9867, the post-quantum preshared key mixed in IKE_INTERMEDIATE, so that IKE_AUTH and the
 * identities are already protected by it (RFC 8784 protects only what follows IKE_AUTH).
 * USE_PPK_INT is agreed in IKE_SA_INIT (tasks/use-ppk.ts). In the last IKE_INTERMEDIATE
 * exchange (with the last additional key exchange of RFC 9370, or one of its own if there is
 * none) the initiator offers its PPKs, each as PPK_IDENTITY_KEY = PPK_ID | PPK Confirmation;
 * the responder names the one it takes in PPK_IDENTITY; both then recompute the keys with it
 * after that exchange's other key update (crypto/keys.ts skeyseedPpk). No PPK notify goes into
 * IKE_AUTH.
 *
 * The RFC's text was not at hand when this was written; the wire format and the order of key
 * updates follow its draft-10 text on computing IKE SA keys as quoted by libreswan (issue
 * #2374) and libreswan 5.4's implementation, the one other implementation there is.
 * Decisions only: the exchange itself is exchange-intermediate.ts.
 */
import { PPK_CONFIRMATION_LENGTH, ppkConfirmation } from '../crypto/keys.js';
import { constantTimeEqual } from '../crypto/util.js';
import { NotifyType, PayloadType } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { SettingUp } from './ike-sa.js';
import { notify } from './payloads.js';
import { PpkIdType, ppkIdText } from './ppk.js';
import { hex } from './util.js';

/** At most this many PPK_IDENTITY_KEY notifications are sent, and looked at when received. */
export const MAX_PPK_OFFERS = 8;

export interface PpkChoice {
  readonly id: Uint8Array;
  readonly key: Uint8Array;
}

/** This exchange is the PPK round: RFC 9867 agreed, and no additional key exchange after it. */
export function isPpkRound(sa: SettingUp): boolean {
  return sa.setup.ppkInt?.pending === true && sa.setup.pendingAddke.length <= 1;
}

function confirmation(sa: SettingUp, key: Uint8Array): Uint8Array {
  return ppkConfirmation(sa.prfId, key, sa.ni, sa.nr, sa.spiI, sa.spiR);
}

/**
 * Initiator: the PPKs to offer (the configured ppk_id's, else every PPK of the connection) as
 * PPK_IDENTITY_KEY notifications; a string if none is there and the connection requires one.
 */
export function ppkOffers(sa: SettingUp): { offers: PpkChoice[]; payloads: Payload[] } | string {
  const p = sa.connection?.ppk;
  if (!p) return { offers: [], payloads: [] };
  const ids = p.id ? [hex(p.id)] : [...p.keys.keys()];
  const offers = ids.flatMap((h) => {
    const key = p.keys.get(h);
    return key ? [{ id: Uint8Array.from(Buffer.from(h, 'hex')), key }] : [];
  }).slice(0, MAX_PPK_OFFERS);
  if (offers.length === 0 && p.required) return `no PPK for ppk_id ${p.id ? ppkIdText(p.id) : '(none configured)'}, and this connection requires one`;
  const payloads = offers.map((o) => notify(NotifyType.PPK_IDENTITY_KEY, Buffer.concat([o.id, confirmation(sa, o.key)])));
  return { offers, payloads };
}

/** PPK_IDENTITY_KEY data: a PPK_ID (type octet and at least one octet, RFC 8784 §5.1), then the 8-octet PPK Confirmation. */
export function parsePpkIdentityKey(data: Uint8Array): { id: Uint8Array; confirmation: Uint8Array } | string {
  if (data.length < 2 + PPK_CONFIRMATION_LENGTH) return `malformed PPK_IDENTITY_KEY (${data.length} octets: a PPK_ID and an ${PPK_CONFIRMATION_LENGTH}-octet PPK Confirmation are needed)`;
  const type = data[0];
  if (type !== PpkIdType.OPAQUE && type !== PpkIdType.FIXED) return `malformed PPK_IDENTITY_KEY (PPK_ID type ${type}; RFC 8784 §5.1)`;
  const cut = data.length - PPK_CONFIRMATION_LENGTH;
  return { id: data.subarray(0, cut), confirmation: data.subarray(cut) };
}

/** The PPKs a responder may take for this IKE SA: its connection's first, then those of the others; a connection with a ppk_id takes only that one. */
function responderKeys(sa: SettingUp): Map<string, Uint8Array> {
  const conns = [sa.connection, ...sa.host.connections().filter((c) => c !== sa.connection)];
  const keys = new Map<string, Uint8Array>();
  for (const c of conns) {
    const p = c?.ppk;
    if (!p) continue;
    for (const [h, key] of p.keys) if ((p.id === undefined || hex(p.id) === h) && !keys.has(h)) keys.set(h, key);
  }
  return keys;
}

export type ResponderPpkChoice =
  | { readonly chosen: PpkChoice; readonly payload: Payload; readonly refuse?: undefined; readonly why?: undefined }
  | { readonly chosen?: undefined; readonly refuse?: { readonly notify: number; readonly why: string }; readonly why: string };

/**
 * Responder, the PPK round: the first offered PPK we have whose confirmation matches (compared
 * in constant time), answered with PPK_IDENTITY naming it; none: go on without a PPK, or
 * AUTHENTICATION_FAILED if the connection requires one; a malformed offer: INVALID_SYNTAX.
 */
export function choosePpk(sa: SettingUp, request: readonly Payload[]): ResponderPpkChoice {
  const offered = request.filter((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.PPK_IDENTITY_KEY).slice(0, MAX_PPK_OFFERS);
  const keys = responderKeys(sa);
  let unknown = 0;
  for (const n of offered) {
    if (n.type !== PayloadType.NOTIFY) continue;
    const o = parsePpkIdentityKey(n.data);
    if (typeof o === 'string') return { refuse: { notify: NotifyType.INVALID_SYNTAX, why: o }, why: o };
    const key = keys.get(hex(o.id));
    if (!key || !constantTimeEqual(confirmation(sa, key), o.confirmation)) {
      unknown++;
      continue;
    }
    return { chosen: { id: o.id, key }, payload: notify(NotifyType.PPK_IDENTITY, o.id) };
  }
  const why = offered.length === 0 ? 'the initiator offered no PPK (no PPK_IDENTITY_KEY)' : `none of the ${unknown} PPK(s) offered is one of ours (unknown PPK_ID or wrong PPK Confirmation)`;
  if (sa.connection?.ppk?.required) return { refuse: { notify: NotifyType.AUTHENTICATION_FAILED, why: `${why}, and this connection requires a PPK (RFC 9867)` }, why };
  return { why };
}

/**
 * Initiator, the PPK round's response: the offer the responder named in PPK_IDENTITY; none
 * named: go on without (a string if the connection requires a PPK); a PPK_ID we did not offer
 * is a protocol error.
 */
export function acceptedPpk(sa: SettingUp, response: readonly Payload[]): PpkChoice | undefined | { readonly fail: string; readonly notify: number } {
  const offers = sa.setup.ppkInt?.offers ?? [];
  const named = response.find((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.PPK_IDENTITY);
  if (!named || named.type !== PayloadType.NOTIFY) {
    if (!sa.connection?.ppk?.required) return undefined;
    return { fail: 'the responder took none of our PPKs (no PPK_IDENTITY in the IKE_INTERMEDIATE response), and this connection requires one (RFC 9867)', notify: NotifyType.AUTHENTICATION_FAILED };
  }
  const chosen = offers.find((o) => hex(o.id) === hex(named.data));
  return chosen ?? { fail: `the responder named a PPK we did not offer (PPK_IDENTITY ${named.data.length > 1 ? ppkIdText(named.data) : `of ${named.data.length} octets`})`, notify: NotifyType.INVALID_SYNTAX };
}
