/**
 * RFC 9867 §3.2, a fresh post-quantum preshared key in CREATE_CHILD_SA: nothing is negotiated
 * beforehand, and it does not matter whether (or how) the IKE SA got a PPK. The initiator of a
 * CREATE_CHILD_SA (a new Child SA, a Child SA rekey, an IKE SA rekey) offers PPKs as
 * PPK_IDENTITY_KEY = PPK_ID | PPK Confirmation, the confirmation being the first 8 octets of
 * prf(PPK, Ni | SPIi | SPIr) with this request's nonce and the current IKE SA's SPIs; the
 * responder names the one it takes in PPK_IDENTITY, or goes on without one, or, where a fresh
 * PPK is mandatory for it, answers NO_PROPOSAL_CHOSEN. With a PPK, SK_d' = prf+(PPK, SK_d)
 * stands for SK_d in the new SA's keys (§3.2.1): KEYMAT of a Child SA (RFC 7296 §2.17),
 * SKEYSEED of a new IKE SA (§2.18), with IKE_FOLLOWUP_KE as well (RFC 9370 §2.2.4); the key
 * exchanges' secrets stay where they are. Offered are the fresh PPKs only (§3.2.1 ¶3: re-using
 * the one in the keys adds nothing): those the connection got (a reload of the secrets) since
 * the IKE SA, or the ancestor whose keys it has, was set up or last took a PPK (IkeSa.ppkSeen).
 * Decisions only: the series is tasks/ccs-series.ts.
 */
import { ppkConfirmationCcs } from '../crypto/keys.js';
import { constantTimeEqual } from '../crypto/util.js';
import { NotifyType, PayloadType } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { IkeSa } from './ike-sa.js';
import { notify } from './payloads.js';
import { MAX_PPK_OFFERS, parsePpkIdentityKey } from './ppk-intermediate.js';
import type { PpkChoice } from './ppk-intermediate.js';
import { ppkIdText } from './ppk.js';
import { hex } from './util.js';

/** A PPK taken for a new SA: its PPK_ID as text (for listings) and the key. */
export interface CcsPpk {
  readonly id: string;
  readonly key: Uint8Array;
}

function confirmation(sa: IkeSa, key: Uint8Array, ni: Uint8Array): Uint8Array {
  return ppkConfirmationCcs(sa.prfId, key, ni, sa.spiI, sa.spiR);
}

/** Initiator: the PPKs to offer in a CREATE_CHILD_SA request with nonce `ni` (none unless the connection says rekey: yes/require). */
export function ccsPpkOffers(sa: IkeSa, ni: Uint8Array): { offers: PpkChoice[]; payloads: Payload[] } {
  const p = sa.connection?.ppk;
  if (!p?.rekey) return { offers: [], payloads: [] };
  const offers: PpkChoice[] = [];
  // The newest first (the secrets file's last entries): at most MAX_PPK_OFFERS of them.
  for (const [h, key] of [...p.keys].reverse()) {
    const seen = sa.ppkSeen?.get(h);
    if (seen !== undefined && constantTimeEqual(seen, key)) continue;
    if (offers.length < MAX_PPK_OFFERS) offers.push({ id: Uint8Array.from(Buffer.from(h, 'hex')), key });
  }
  return { offers, payloads: offers.map((o) => notify(NotifyType.PPK_IDENTITY_KEY, Buffer.concat([o.id, confirmation(sa, o.key, ni)]))) };
}

export type CcsResponderPpk =
  | { readonly chosen: CcsPpk; readonly payload: Payload; readonly refuse?: undefined }
  | { readonly chosen?: undefined; readonly refuse?: { readonly notify: number; readonly reason: string } };

/**
 * Responder: the first offered PPK of this connection whose confirmation matches (constant
 * time), named in PPK_IDENTITY; none: on without a PPK, or NO_PROPOSAL_CHOSEN where the
 * connection requires a fresh one (§3.2); a malformed offer: INVALID_SYNTAX.
 */
export function ccsChoosePpk(sa: IkeSa, ni: Uint8Array, request: readonly Payload[]): CcsResponderPpk {
  const p = sa.connection?.ppk;
  // Without PPKs we do not take part: the offers are ignored like any unknown status notify (§3.2 ¶4).
  if (!p) return {};
  const offered = request.filter((x) => x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.PPK_IDENTITY_KEY).slice(0, MAX_PPK_OFFERS);
  let unknown = 0;
  for (const n of offered) {
    if (n.type !== PayloadType.NOTIFY) continue;
    const o = parsePpkIdentityKey(n.data);
    if (typeof o === 'string') return { refuse: { notify: NotifyType.INVALID_SYNTAX, reason: `CREATE_CHILD_SA: ${o}` } };
    const key = p.keys.get(hex(o.id));
    if (!key || !constantTimeEqual(confirmation(sa, key, ni), o.confirmation)) {
      unknown++;
      continue;
    }
    return { chosen: { id: ppkIdText(o.id), key }, payload: notify(NotifyType.PPK_IDENTITY, o.id) };
  }
  if (p.rekey !== 'require') return {};
  const why = offered.length === 0 ? 'no PPK offered (no PPK_IDENTITY_KEY)' : `none of the ${unknown} PPK(s) offered is one of ours (unknown PPK_ID or wrong PPK Confirmation)`;
  return { refuse: { notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: `CREATE_CHILD_SA: ${why}, and this connection requires a fresh PPK (RFC 9867 §3.2)` } };
}

/**
 * Initiator, the response: the offer named in PPK_IDENTITY; none named: `{ without }` (the SA
 * is made without a PPK; `unwanted` if the connection requires one, §3.2: then we delete it); a
 * PPK_ID we did not offer: why the exchange fails.
 */
export function ccsAcceptedPpk(sa: IkeSa, offers: readonly PpkChoice[], response: readonly Payload[]): { readonly ppk?: CcsPpk; readonly unwanted?: boolean } | string {
  const named = response.find((x) => x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.PPK_IDENTITY);
  if (!named || named.type !== PayloadType.NOTIFY) return offers.length > 0 && sa.connection?.ppk?.rekey === 'require' ? { unwanted: true } : {};
  const chosen = offers.find((o) => hex(o.id) === hex(named.data));
  if (!chosen) return `the responder named a PPK we did not offer (PPK_IDENTITY ${named.data.length > 1 ? ppkIdText(named.data) : `of ${named.data.length} octets`})`;
  return { ppk: { id: ppkIdText(chosen.id), key: chosen.key } };
}
