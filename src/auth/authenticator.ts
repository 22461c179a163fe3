/**
 * How one end proves its identity in IKE_AUTH (RFC 7296 §2.15): the AUTH payload's method
 * and data over that end's signed octets (InitiatorSignedOctets / ResponderSignedOctets, with
 * the IntAuth chunk of RFC 9242 §3.3.2 when IKE_INTERMEDIATE ran), and the check of the
 * peer's. A pre-shared key (psk.ts) is one; RFC 7427 signatures with certificates
 * (pubkey.ts) another. The engine computes the octets and never looks inside an authenticator.
 */
import type { Announcement } from './auth-methods-announcement.js';
import type { TrustQuery } from './trust-store.js';

export interface SignContext {
  /** The IKE SA's PRF. */
  readonly prfId: number;
  readonly octets: Uint8Array;
  /** The hashes of the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4); undefined: it sent none. */
  readonly peerHashes: readonly number[] | undefined;
  /** What the peer's SUPPORTED_AUTH_METHODS announced it verifies (RFC 9593 §3), if it sent one. */
  readonly peerMethods?: readonly Announcement[];
}

export interface PeerProof {
  readonly prfId: number;
  readonly method: number;
  readonly data: Uint8Array;
  readonly octets: Uint8Array;
  /** The peer's ID payload, decoded (src/engine/identity.ts). */
  readonly identity: { readonly kind: string; readonly value: string };
  /** The data of the peer's CERT payloads of encoding X.509 Signature, in the order received. */
  readonly certs: readonly Uint8Array[];
}

/**
 * The verdict on a peer's proof: undefined when it proves the identity, a reason when not, or
 * work to run first (a certificate path to validate, asynchronous): the engine waits for it,
 * then asks again.
 */
export type Verification = undefined | string | { readonly query: TrustQuery };

export interface Authenticator {
  /** What this authenticator is, for logs ("pre-shared key", "ECDSA P-256 certificate …"). */
  readonly describe: string;
  /** Our AUTH payload over our signed octets, or why we cannot make one the peer can check. */
  sign(ctx: SignContext): { readonly method: number; readonly data: Uint8Array } | string;
  /** Whether the peer's AUTH payload proves its identity over its signed octets. */
  verify(peer: PeerProof): Verification;
  /** Ours: the certificates to send in CERT payloads, end entity first (RFC 7296 §3.6). */
  readonly certificates?: readonly Uint8Array[];
  /** The peer's: CERTREQ data, our CA key hashes (RFC 7296 §3.7). */
  readonly certRequest?: Uint8Array;
  /** The peer's: the hashes we verify its signatures with, for SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4). */
  readonly signatureHashes?: readonly number[];
  /** The peer's: the methods we verify, best first, for SUPPORTED_AUTH_METHODS (RFC 9593 §3). */
  readonly announcements?: readonly Announcement[];
}
