/**
 * How one end proves its identity in IKE_AUTH (RFC 7296 §2.15): the AUTH payload's method
 * and data over that end's signed octets (InitiatorSignedOctets / ResponderSignedOctets, with
 * the IntAuth chunk of RFC 9242 §3.3.2 when IKE_INTERMEDIATE ran), and the check of the
 * peer's. A pre-shared key (psk.ts) is one; RFC 7427 signatures with certificates are
 * another. The engine computes the octets and never looks inside an authenticator.
 */
export interface Authenticator {
  /** What this authenticator is, for logs ("pre-shared key", "ECDSA P-256 certificate …"). */
  readonly describe: string;
  /** Our AUTH payload over our signed octets; `prfId`: the IKE SA's PRF. */
  sign(prfId: number, octets: Uint8Array): { readonly method: number; readonly data: Uint8Array };
  /** Why the peer's AUTH payload does not prove its identity over its signed octets, or undefined when it does. */
  verify(prfId: number, method: number, data: Uint8Array, octets: Uint8Array): string | undefined;
}
