/**
 * What an IKE SA needs only while it is being set up — IKE_SA_INIT (RFC 7296 §1.2), the
 * IKE_INTERMEDIATE rounds (RFC 9242, RFC 9370 §2.2.2) and IKE_AUTH — and never again: the
 * IKE_SA_INIT messages that AUTH signs (§2.15), the key exchange in flight, COOKIE and
 * INVALID_KE_PAYLOAD retries, the additional key exchanges still to run, IntAuth. An IKE SA
 * holds it until it is established (or fails), then drops it (ike-sa.ts transition()); code of
 * the initial exchanges takes a `SettingUp` SA, whose `setup` the compiler knows is there.
 */
import type { Announcement } from '../auth/auth-methods-announcement.js';
import type { TrustQuery } from '../auth/trust-store.js';
import type { KeInitiatorState } from '../crypto/ke.js';
import type { IkeSaKeys } from '../crypto/keys.js';

export interface SetupState {
  /** RealMsg1 / RealMsg2 of RFC 7296 §2.15: the IKE_SA_INIT messages as sent. */
  initRequest: Uint8Array;
  initResponse: Uint8Array;
  /** The Transform Type 4 method of IKE_SA_INIT, and (initiator) the key exchange in flight. */
  keMethodId: number;
  keState?: KeInitiatorState;
  cookie?: Uint8Array;
  cookieRetries: number;
  invalidKeRetries: number;
  /** Initiator: an unusable IKE_SA_INIT answer, and when we give up if no usable one follows (RFC 7296 §2.21.1). */
  initError?: { readonly reason: string; readonly notify: number; readonly at: number };
  /** The peer announced INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 §3.1). */
  peerIntermediate: boolean;
  /** ADDKE methods still to run, in transform-type order (RFC 9370 §2.2.1). */
  pendingAddke: { type: number; method: number }[];
  /** IntAuth_i / IntAuth_r so far (RFC 9242 §3.3.2), and whether any IKE_INTERMEDIATE ran. */
  intAuthI: Uint8Array;
  intAuthR: Uint8Array;
  intermediateRan: boolean;
  /** The hashes of the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4); undefined: it sent none. */
  peerHashes?: number[];
  /** USE_PPK (RFC 8784 §3): the peer sent it in IKE_SA_INIT; `usePpkSent`: we did. */
  peerUsePpk?: boolean;
  usePpkSent?: boolean;
  /**
   * RFC 9867: USE_PPK_INT was agreed in IKE_SA_INIT; `pending` until the PPK round (the last
   * IKE_INTERMEDIATE exchange) has run; initiator: the PPKs offered in it; `used`: the PPK_ID
   * of the PPK mixed in.
   */
  ppkInt?: { pending: boolean; offers?: readonly { readonly id: Uint8Array; readonly key: Uint8Array }[]; used?: Uint8Array };
  /** Initiator: the PPK keys our IKE_AUTH request was signed with, until the response says whether the responder used them. */
  ppkOffer?: { readonly keys: IkeSaKeys; readonly id: string; readonly required: boolean };
  /** The peer's SUPPORTED_AUTH_METHODS (RFC 9593 §3), if it sent any. */
  peerMethods?: Announcement[];
  /**
   * IKE_AUTH waits for work outside the engine (a certificate path to validate): the query,
   * the request's Message ID (responder) and what runs when the host says it is done.
   */
  trustWait?: { readonly query: TrustQuery; readonly messageId: number; readonly resume: (now: number) => void; readonly until: number };
}

const EMPTY = new Uint8Array(0);

export function newSetup(): SetupState {
  return {
    initRequest: EMPTY,
    initResponse: EMPTY,
    keMethodId: 0,
    cookieRetries: 0,
    invalidKeRetries: 0,
    peerIntermediate: false,
    pendingAddke: [],
    intAuthI: EMPTY,
    intAuthR: EMPTY,
    intermediateRan: false,
  };
}
