/**
 * The engine's public vocabulary: connection configuration, endpoints, the outputs it hands
 * back (datagrams to send, events) and the events themselves. Sans-I/O: nothing here touches
 * a socket or a clock (see ARCHITECTURE.md).
 */
import type { TrafficSelector } from '../wire/types.js';
import type { Identity } from './identity.js';
import type { ProposalSpec } from './proposal-string.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface ChildConfig {
  readonly name: string;
  readonly espProposals: readonly ProposalSpec[];
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  readonly mode: 'tunnel' | 'transport';
}

export interface ConnectionConfig {
  readonly name: string;
  /** Our address; '%any' lets a responder connection accept on any local address. */
  readonly localAddress: string;
  /** The peer's address; '%any' for a responder that accepts any peer. */
  readonly remoteAddress: string;
  readonly localId: Identity;
  /** undefined: accept any peer identity. */
  readonly remoteId?: Identity;
  readonly psk: Uint8Array;
  readonly ikeProposals: readonly ProposalSpec[];
  readonly children: readonly ChildConfig[];
  /** Send and accept IKE fragments (RFC 7383). Default true. */
  readonly fragmentation?: boolean;
  /** Largest IP datagram we send as one fragment, in bytes (RFC 7383 §2.5.1). Default 1280. */
  readonly fragmentSize?: number;
}

export interface EngineOptions {
  /** Cryptographic randomness; tests pass a seeded source to make runs reproducible. */
  readonly random?: (length: number) => Uint8Array;
  /** Demand a COOKIE (RFC 7296 §2.6) once this many IKE SAs are half-open. Default 50. */
  readonly cookieThreshold?: number;
  /** First retransmission after this many ms, doubling each time (RFC 7296 §2.1). Default 1000. */
  readonly retransmitTimeoutMs?: number;
  /** Retransmissions before giving up. Default 5. */
  readonly retransmitTries?: number;
  /** A half-open responder SA is dropped after this many ms. Default 30000. */
  readonly halfOpenTimeoutMs?: number;
  /** The port IKE moves to when a NAT is detected (RFC 3948). Default 4500. */
  readonly natTraversalPort?: number;
}

export interface ChildSaKeys {
  readonly encrI: Uint8Array;
  readonly integI: Uint8Array;
  readonly encrR: Uint8Array;
  readonly integR: Uint8Array;
}

export interface ChildSaInfo {
  readonly name: string;
  /** SPI the peer uses to send to us (our inbound SA). */
  readonly spiIn: number;
  /** SPI we use to send to the peer. */
  readonly spiOut: number;
  readonly encr: { readonly id: number; readonly keyBits?: number };
  readonly integ?: number;
  readonly esn: boolean;
  readonly mode: 'tunnel' | 'transport';
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  /** Keys as RFC 7296 §2.17 orders them: initiator-to-responder first. */
  readonly keys: ChildSaKeys;
  /** Whether we were the initiator of the exchange that created it. */
  readonly initiator: boolean;
  /** ESP in UDP (RFC 3948) because a NAT was detected. */
  readonly encap: boolean;
}

export interface IkeSaInfo {
  readonly id: number;
  readonly connection: string;
  readonly role: 'initiator' | 'responder';
  readonly spiI: string;
  readonly spiR: string;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly localId: string;
  readonly remoteId: string;
  readonly state: IkeSaStateName;
  /** e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE25519/ADDKE1=MLKEM768" */
  readonly suite?: string;
  /** Key exchange methods performed, in order (Transform Type 4 first). */
  readonly keMethods: readonly number[];
}

export type IkeSaStateName = 'connecting' | 'intermediate' | 'authenticating' | 'established' | 'failed' | 'deleted';

export type EngineEvent =
  | {
      readonly type: 'message';
      readonly sa: number;
      readonly direction: 'in' | 'out';
      readonly exchange: number;
      readonly response: boolean;
      readonly messageId: number;
      /** Bytes of each datagram (several when fragmented). */
      readonly sizes: readonly number[];
      /** Payload types inside (after decryption), for logs. */
      readonly payloads: readonly string[];
    }
  | { readonly type: 'ike-up'; readonly sa: IkeSaInfo }
  | { readonly type: 'child-up'; readonly sa: number; readonly child: ChildSaInfo }
  | { readonly type: 'child-down'; readonly sa: number; readonly child: ChildSaInfo; readonly reason: string }
  | { readonly type: 'ike-failed'; readonly sa: number; readonly reason: string; readonly notify?: number }
  | { readonly type: 'ike-down'; readonly sa: number; readonly reason: string }
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly sa?: number; readonly message: string };

export type EngineOutput =
  | { readonly kind: 'send'; readonly from: Endpoint; readonly to: Endpoint; readonly data: Uint8Array }
  | { readonly kind: 'event'; readonly event: EngineEvent };
