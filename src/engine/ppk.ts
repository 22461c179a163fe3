/**
 * Post-quantum preshared keys in IKE_AUTH (RFC 8784 §3): which PPK signs and checks the AUTH
 * payloads, after USE_PPK was exchanged in IKE_SA_INIT (tasks/use-ppk.ts). The initiator mixes
 * its configured PPK into SK_d, SK_pi and SK_pr, sends its PPK_ID and, when the PPK is
 * optional, NO_PPK_AUTH (its AUTH data without the PPK). The responder follows Table 1: the PPK
 * of that PPK_ID if it has it, else the NO_PPK_AUTH fallback where allowed, else
 * AUTHENTICATION_FAILED; it confirms with an empty PPK_IDENTITY. Decisions only: the AUTH
 * computation stays in exchange-auth.ts.
 */
import { ppkKeys } from '../crypto/keys.js';
import type { IkeSaKeys } from '../crypto/keys.js';
import { NotifyType } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { SettingUp } from './ike-sa.js';
import { findNotify, notify } from './payloads.js';
import type { ConnectionConfig } from './types.js';

/** PPK_ID types (RFC 8784 §5.1). */
export const PpkIdType = { OPAQUE: 1, FIXED: 2 } as const;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A PPK_ID for logs and listings: its octets after the type octet, as text if printable. */
export function ppkIdText(id: Uint8Array): string {
  const body = id.subarray(1);
  const text = Buffer.from(body).toString('latin1');
  return /^[\x21-\x7e]+$/.test(text) ? text : `0x${hex(body)}`;
}

/** The PPK_ID (type PPK_ID_FIXED) of a configured ppk_id, as strongSwan sends it. */
export function fixedPpkId(id: string): Uint8Array {
  return Uint8Array.from([PpkIdType.FIXED, ...Buffer.from(id, 'utf8')]);
}

export interface PpkOffer {
  readonly keys: IkeSaKeys;
  readonly id: Uint8Array;
  readonly required: boolean;
}

/** Initiator, before IKE_AUTH: the PPK to sign with, none, or why we must not go on. */
export function initiatorPpk(sa: SettingUp, conn: ConnectionConfig): PpkOffer | undefined | string {
  const p = conn.ppk;
  // RFC 9867: the PPK (if any) is already in the keys since IKE_INTERMEDIATE.
  if (!p || sa.setup.ppkInt) return undefined;
  if (!sa.setup.peerUsePpk) return p.required ? 'the responder did not answer USE_PPK, and this connection requires a PPK (RFC 8784 §3)' : undefined;
  const key = p.id ? p.keys.get(hex(p.id)) : undefined;
  if (!p.id || !key) return p.required ? `no PPK for ppk_id ${p.id ? ppkIdText(p.id) : '(none configured)'}` : undefined;
  return { keys: ppkKeys(sa.prfId, key, sa.requireKeys()), id: p.id, required: p.required };
}

/** Initiator: PPK_IDENTITY and, for an optional PPK, NO_PPK_AUTH (after the other payloads, §3). */
export function ppkRequestPayloads(offer: PpkOffer, noPpkAuthData: Uint8Array): Payload[] {
  return [notify(NotifyType.PPK_IDENTITY, offer.id), ...(offer.required ? [] : [notify(NotifyType.NO_PPK_AUTH, noPpkAuthData)])];
}

/**
 * Initiator, the response: the PPK keys if the responder confirmed them with PPK_IDENTITY
 * (its content ignored, §3), the original ones if it did not and the PPK was optional.
 */
export function initiatorPpkResult(offer: { readonly keys: IkeSaKeys; readonly required: boolean } | undefined, response: readonly Payload[]): { readonly keys?: IkeSaKeys } | string {
  if (!offer) return {};
  if (findNotify(response, NotifyType.PPK_IDENTITY)) return { keys: offer.keys };
  if (offer.required) return 'the responder did not use the PPK, and this connection requires one (RFC 8784 §3)';
  return {};
}

export interface ResponderPpk {
  /** The PPK keys to check the initiator's AUTH with and to use from now on. */
  readonly keys?: IkeSaKeys;
  /** Its PPK_ID, for listings. */
  readonly used?: string;
  /** The initiator's AUTH data without the PPK (NO_PPK_AUTH), checked instead of the AUTH payload's. */
  readonly authData?: Uint8Array;
}

/**
 * Responder, RFC 9867: the PPK was taken in IKE_INTERMEDIATE, before the identities were known;
 * the connection now chosen by them must accept it (its ppk_id, if it names one) or, if it
 * requires a PPK, have had one.
 */
function intermediatePpkFits(sa: SettingUp, conn: ConnectionConfig): ResponderPpk | string {
  const p = conn.ppk;
  const used = sa.setup.ppkInt?.used;
  if (used === undefined) return p?.required ? 'no PPK was mixed in IKE_INTERMEDIATE, and this connection requires one (RFC 9867)' : {};
  if (p?.id && hex(p.id) !== hex(used)) return `PPK ${ppkIdText(used)} was mixed in IKE_INTERMEDIATE, but this connection's ppk_id is ${ppkIdText(p.id)}`;
  return {};
}

/** Responder, RFC 8784 §3 Table 1; a string is the reason for AUTHENTICATION_FAILED. */
export function responderPpk(sa: SettingUp, conn: ConnectionConfig, request: readonly Payload[]): ResponderPpk | string {
  const p = conn.ppk;
  if (sa.setup.ppkInt) return intermediatePpkFits(sa, conn);
  if (!sa.setup.peerUsePpk) return p?.required ? 'the initiator sent no USE_PPK, and this connection requires a PPK (RFC 8784 §3)' : {};
  // We had no PPK at all and did not answer USE_PPK: standard IKEv2.
  if (!sa.setup.usePpkSent) return {};
  const idN = findNotify(request, NotifyType.PPK_IDENTITY);
  if (!idN) return 'USE_PPK was exchanged, but the IKE_AUTH request carries no PPK_IDENTITY (RFC 8784 §3)';
  const type = idN.data[0];
  if (idN.data.length < 2 || (type !== PpkIdType.OPAQUE && type !== PpkIdType.FIXED)) return `malformed PPK_IDENTITY (${idN.data.length} octets, type ${type ?? 'none'}; RFC 8784 §5.1)`;
  const text = ppkIdText(idN.data);
  const allowed = p !== undefined && (p.id === undefined || hex(p.id) === hex(idN.data));
  const key = allowed ? p.keys.get(hex(idN.data)) : undefined;
  if (key) return { keys: ppkKeys(sa.prfId, key, sa.requireKeys()), used: text };
  const noPpk = findNotify(request, NotifyType.NO_PPK_AUTH);
  if (p?.required) return `no PPK ${text} for this connection, and it requires one`;
  if (!noPpk) return `no PPK ${text} for this connection, and no NO_PPK_AUTH to authenticate without one`;
  return { authData: noPpk.data };
}
