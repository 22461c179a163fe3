/**
 * The engine's public vocabulary: connection configuration, endpoints, the outputs it hands
 * back (datagrams to send, events) and the events themselves. Sans-I/O: nothing here touches
 * a socket or a clock (see ARCHITECTURE.md).
 */
import type { Authenticator } from '../auth/authenticator.js';
import type { KeMethod } from '../crypto/ke.js';
import type { RestartPlan } from './restart.js';
import type { TrafficSelector } from '../wire/types.js';
import type { Identity } from './identity.js';
import type { ProposalSpec } from './proposal-string.js';
import type { Shard } from './shard.js';

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
  /** Soft lifetime: rekey this long after creation, minus up to randTimeMs (RFC 7296 §2.8). Default 1 h; 0: never. */
  readonly rekeyTimeMs?: number;
  /** Hard lifetime: delete if still not rekeyed this long after creation. Default rekeyTimeMs + 10 %; 0: never. */
  readonly lifeTimeMs?: number;
  /** Jitter subtracted from the rekey time, so that both peers rarely rekey at once. Default 10 % of rekeyTimeMs. */
  readonly randTimeMs?: number;
  /** Rekey (soft) / delete (hard) after this many bytes or packets, once the data plane reports them. */
  readonly rekeyBytes?: number;
  readonly rekeyPackets?: number;
  readonly lifeBytes?: number;
  readonly lifePackets?: number;
  /** Anti-replay window of the inbound SA in packets (RFC 4303 §3.4.3). Default 128. */
  readonly replayWindow?: number;
  /** When the peer is found dead (RFC 7296 §2.4): nothing, a trap policy, or initiate again. Default 'clear'. */
  readonly dpdAction?: 'clear' | 'trap' | 'restart';
  /** When the peer deletes this Child SA or its IKE SA: nothing, a trap policy, or bring it up again. Default 'none'. */
  readonly closeAction?: 'none' | 'trap' | 'start';
}

export interface ConnectionConfig {
  readonly name: string;
  /** Our address; '%any' lets a responder connection accept on any local address. */
  readonly localAddress: string;
  /** The peer's address; '%any' for a responder that accepts any peer. */
  readonly remoteAddress: string;
  /** The peer's IKE port when the engine initiates by itself (a restart). Default 500. */
  readonly remotePort?: number;
  readonly localId: Identity;
  /** undefined: accept any peer identity. */
  readonly remoteId?: Identity;
  /** The pre-shared key (RFC 7296 §2.15) of both ends, unless `auth` says otherwise. */
  readonly psk?: Uint8Array;
  /**
   * How we prove our identity and how the peer must prove its (src/auth/): default, the PSK
   * both ways. Another method (RFC 7427 signatures) is another Authenticator.
   */
  readonly auth?: { readonly local: Authenticator; readonly remote: Authenticator };
  readonly ikeProposals: readonly ProposalSpec[];
  readonly children: readonly ChildConfig[];
  /** Send and accept IKE fragments (RFC 7383). Default true. */
  readonly fragmentation?: boolean;
  /** Largest IP datagram we send as one fragment, in bytes (RFC 7383 §2.5.1). Default 1280. */
  readonly fragmentSize?: number;
  /** Rekey the IKE SA this long after creation, minus up to randTimeMs. Default 4 h; 0: never. */
  readonly ikeRekeyTimeMs?: number;
  /** Hard lifetime of the IKE SA. Default ikeRekeyTimeMs + 10 %; 0: never. */
  readonly ikeLifeTimeMs?: number;
  readonly randTimeMs?: number;
  /** Liveness check (RFC 7296 §2.4) after this long without a message from the peer. */
  readonly dpdDelayMs?: number;
  /**
   * RFC 6023 / RFC 9370 §2.2.5.1: 'pq' creates no Child SA in IKE_AUTH; the IKE SA is rekeyed
   * at once with the additional key exchanges, then the Child SAs are created with them.
   */
  readonly childless?: 'no' | 'pq';
  /**
   * Post-quantum preshared keys (RFC 8784): `id` is the PPK_ID we send as initiator (type
   * octet first, §5.1) and, as responder, the only one accepted if set; `keys` the PPKs by the
   * hex of their PPK_ID; `required`: no tunnel without a PPK (strongSwan's ppk_required).
   * `intermediate`: as initiator, propose RFC 9867 too (USE_PPK_INT: the PPK mixed in
   * IKE_INTERMEDIATE, so that IKE_AUTH is protected by it), with RFC 8784 as the fallback; a
   * responder with PPKs accepts either without it.
   * `rekey` (RFC 9867 §3.2, ppk-ccs.ts): 'yes' offers, in every CREATE_CHILD_SA we start (new
   * Child SA, Child or IKE SA rekey), the fresh PPKs: those added (or changed) since the IKE SA
   * last took a PPK, e.g. by a reload of the secrets; all of them if it has none. 'require' also
   * refuses (NO_PROPOSAL_CHOSEN) a peer's CREATE_CHILD_SA without a fresh PPK of ours, and
   * deletes an SA the peer made without the one we offered (with the Child SA it replaced, or
   * the Child SAs of the IKE SA). Unset, a responder with PPKs still takes one that is offered.
   */
  readonly ppk?: { readonly id?: Uint8Array; readonly required: boolean; readonly keys: ReadonlyMap<string, Uint8Array>; readonly intermediate?: boolean; readonly rekey?: 'yes' | 'require' };
  /** Attempts to establish the IKE SA before giving up (strongSwan's keyingtries); 0: for ever. Default 1. */
  readonly keyingTries?: number;
  /** Delay before the second attempt, doubling with each further one. Default 2000. */
  readonly retryDelayMs?: number;
  /** Longest delay between attempts. Default 120000. */
  readonly retryDelayMaxMs?: number;
}

/**
 * What a random draw is for. A seeded or recorded source may serve each purpose from its own
 * stream (the strongSwan replays feed recorded SPIs, nonces and IVs this way).
 */
export type RandomPurpose = 'ike-spi' | 'nonce' | 'esp-spi' | 'iv' | 'link' | 'jitter' | 'cookie-secret';

export interface EngineOptions {
  /** Cryptographic randomness; tests pass a seeded source to make runs reproducible. */
  readonly random?: (length: number, purpose: RandomPurpose) => Uint8Array;
  /**
   * The key exchange method for a transform ID (default: src/crypto's). Tests replaying a
   * recorded exchange pass methods that answer with the recorded values and secrets.
   */
  readonly keMethod?: (id: number) => KeMethod;
  /** Demand a COOKIE (RFC 7296 §2.6) once this many IKE SAs are half-open, from all peers. Default 30. */
  readonly cookieThreshold?: number;
  /** Demand a COOKIE from an address that holds this many half-open IKE SAs. Default 3. */
  readonly cookieThresholdIp?: number;
  /** Drop IKE_SA_INIT requests from an address that holds this many half-open IKE SAs. Default 5. */
  readonly blockThreshold?: number;
  /**
   * Half-open IKE SAs in all. When reached, a request that proved its address with a COOKIE
   * replaces a half-open SA, the oldest of the address holding the most (so a flood cannot lock legitimate peers out). Default 5000.
   */
  readonly halfOpenLimit?: number;
  /**
   * Queue IKE_SA_INIT requests that would create a half-open SA (after the cookie and limit
   * checks) for admitPending() instead of creating the SA on arrival: at most this many wait,
   * the address holding the fewest half-open SAs first (admission-queue.ts). A driver that
   * reads its socket faster than it can run key exchanges sets it; off (0) by default, when
   * receive() creates the SA at once.
   */
  readonly admissionQueue?: number;
  /** A new cookie secret this often; cookies of the previous secret stay valid as long again. Default 60000. */
  readonly cookieSecretLifetimeMs?: number;
  /** Child SAs one IKE SA may hold; a peer asking for more gets NO_ADDITIONAL_SAS. Default 64. */
  readonly maxChildSas?: number;
  /**
   * After this many failed authentications from one address, new IKE_SA_INIT requests from it
   * are dropped for a back-off that doubles with every further failure (1 s up to 64 s). Default 3.
   */
  readonly authFailuresBeforeBackoff?: number;
  /** First retransmission after this many ms, doubling each time (RFC 7296 §2.1). Default 1000. */
  readonly retransmitTimeoutMs?: number;
  /** Retransmissions before giving up. Default 5. */
  readonly retransmitTries?: number;
  /** A half-open responder SA is dropped after this many ms. Default 30000. */
  readonly halfOpenTimeoutMs?: number;
  /** The port IKE moves to when a NAT is detected (RFC 3948). Default 4500. */
  readonly natTraversalPort?: number;
  /** A responder drops an IKE_FOLLOWUP_KE series that stalls this long (RFC 9370 §2.2.4: 5-20 s). Default 10000. */
  readonly followupTimeoutMs?: number;
  /** Retries of a CREATE_CHILD_SA series after STATE_NOT_FOUND before the IKE SA is deleted. Default 2. */
  readonly stateNotFoundRetries?: number;
  /** Emit 'ike-keys' events with the SK_e/SK_a keys of every key stage, for a key log. Default false. */
  readonly exportKeys?: boolean;
  /** Our IKE port when the engine initiates by itself (a restart) with no earlier initiation to copy. Default 500. */
  readonly localPort?: number;
  /**
   * Where our inbound ESP SPIs come from: the kernel plane asks the kernel (XFRM_MSG_ALLOCSPI,
   * as strongSwan does, so that no two daemons on a host collide); undefined from it, or
   * without it, the engine draws one at random. A synchronous call, like `random`.
   */
  readonly allocateSpi?: (sa: { readonly src: string; readonly dst: string }) => number | undefined;
  /** This engine as one of several of a daemon (shard.ts): what it hands out is marked as its own. */
  readonly shard?: Shard;
}

/** IKE SAs by state and Child SAs in all, counted without building listings (metrics). */
export interface SaCensus {
  readonly states: Readonly<Record<string, number>>;
  readonly childSas: number;
}

/** Counts of the engine's tables (IkeEngine.resources()). */
export interface EngineResources {
  readonly ikeSas: number;
  /** Responder IKE SAs not yet authenticated (RFC 7296 §2.6 counts these for cookies). */
  readonly halfOpen: number;
  /** Cookies that opened a half-open SA, remembered until their secret expires. */
  readonly spentCookies: number;
  /** Addresses with recent failed authentications (for the back-off). */
  readonly authFailureRecords: number;
  /** Responder IKE SAs by initiator SPI and peer, for retransmitted IKE_SA_INIT requests. */
  readonly initiatorIndex: number;
  readonly fragmentCollectors: number;
  readonly childSas: number;
  /** CREATE_CHILD_SA series waiting for IKE_FOLLOWUP_KE (RFC 9370 §2.2.4), as responder. */
  readonly followupSeries: number;
  /** IKE_SA_INIT requests waiting for admitPending() (EngineOptions.admissionQueue). */
  readonly pendingAdmissions: number;
  /** Entries in the deadline heap, stale ones included (about twice the IKE SAs at most). */
  readonly timerEntries: number;
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
  /** Key exchange methods mixed into this SA's keys (empty: keyed from SK_d alone, no PFS). */
  readonly keMethods: readonly number[];
  /** The inbound SPI of the SA this one replaced by a rekey. */
  readonly rekeyOf?: number;
  /** The PPK_ID (text) of a fresh PPK mixed into this SA's keys by its CREATE_CHILD_SA (RFC 9867 §3.2). */
  readonly ppk?: string;
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
  /** As strongSwan prints it (describe.ts), e.g. "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768" */
  readonly suite?: string;
  /** Key exchange methods performed, in order (Transform Type 4 first). */
  readonly keMethods: readonly number[];
  /** The PPK_ID (text, without its type octet) of the PPK mixed into the keys (RFC 8784, RFC 9867), if one was. */
  readonly ppk?: string;
  /**
   * Where that PPK was mixed in: 'IKE_AUTH' (RFC 8784), 'IKE_INTERMEDIATE' (RFC 9867 §3.1) or
   * 'CREATE_CHILD_SA' (a rekey with a fresh PPK, RFC 9867 §3.2); a rekey without one keeps it.
   */
  readonly ppkExchange?: PpkExchange;
}

export type PpkExchange = 'IKE_AUTH' | 'IKE_INTERMEDIATE' | 'CREATE_CHILD_SA';

/**
 * Which derivation made an IKE SA's keys: IKE_SA_INIT (RFC 7296 §2.14), an additional key
 * exchange in IKE_INTERMEDIATE (RFC 9370 §2.2.2), the PPK in IKE_INTERMEDIATE (RFC 9867), or
 * the rekey that created the SA (RFC 7296 §2.18), that rekey with a fresh PPK (RFC 9867 §3.2).
 */
export type KeyStage = 'ike-sa-init' | 'ike-intermediate' | 'ppk' | 'rekey' | 'ppk-rekey';

/** Which IKE SAs a listing holds: one by its number, those of a connection, or (empty) all. */
export interface SaFilter {
  readonly sa?: number;
  readonly connection?: string;
  /** At most this many (the oldest first), without looking at the rest: a rekey by connection name needs one, not 100k (with workers: per worker). */
  readonly limit?: number;
}

/** An IKE SA with its Child SAs and timers, for listings (no key material). */
export interface SaListing {
  readonly ike: IkeSaInfo;
  /** ms until the IKE SA is rekeyed / deleted by its lifetime, if scheduled. */
  readonly rekeyInMs?: number;
  readonly expireInMs?: number;
  readonly establishedForMs?: number;
  readonly children: readonly {
    readonly child: Omit<ChildSaInfo, 'keys'>;
    readonly state: string;
    readonly rekeyInMs?: number;
    readonly expireInMs?: number;
    readonly ageMs: number;
  }[];
}

export type IkeSaStateName = 'connecting' | 'intermediate' | 'authenticating' | 'established' | 'rekeyed' | 'failed' | 'deleted';

/**
 * Events an extension adds, by type name: a task file declares its own with
 * `declare module '../types.js' { interface TaskEvents { 'name': { readonly type: 'name'; … } } }`,
 * so that a new task needs no edit here. Empty: the core events alone.
 */
export interface TaskEvents {}

export type EngineEvent = CoreEvent | TaskEvents[keyof TaskEvents];

type CoreEvent =
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
  /** `sa` is the IKE SA's number in every event; `ike` what it is now. */
  | { readonly type: 'ike-up'; readonly sa: number; readonly ike: IkeSaInfo }
  /** An IKE SA changed state (ike-sa.ts transition(), the one place it does). */
  | { readonly type: 'ike-state'; readonly sa: number; readonly from: IkeSaStateName; readonly to: IkeSaStateName }
  | { readonly type: 'retransmit'; readonly sa: number; readonly exchange: number; readonly messageId: number; readonly attempt: number }
  /** `old` was replaced by the new IKE SA `sa` (RFC 7296 §2.18). */
  | { readonly type: 'ike-rekeyed'; readonly old: number; readonly sa: number; readonly ike: IkeSaInfo }
  | {
      /** Only with EngineOptions.exportKeys: the keys of one key stage (RFC 7296 §2.14, RFC 9370 §2.2.2, RFC 9867). */
      readonly type: 'ike-keys';
      readonly sa: number;
      readonly stage: KeyStage;
      readonly local: Endpoint;
      readonly remote: Endpoint;
      readonly spiI: string;
      readonly spiR: string;
      readonly encr: { readonly id: number; readonly keyBits?: number };
      readonly integ: number;
      readonly skEi: Uint8Array;
      readonly skEr: Uint8Array;
      readonly skAi: Uint8Array;
      readonly skAr: Uint8Array;
    }
  /** `local`/`remote`: the IKE SA's endpoints now (the Child SA's outer addresses, RFC 3948 ports). */
  | { readonly type: 'child-up'; readonly sa: number; readonly child: ChildSaInfo; readonly local: Endpoint; readonly remote: Endpoint }
  /**
   * A Child SA we asked for (in IKE_AUTH or CREATE_CHILD_SA, new or a rekey) was not made:
   * the peer refused it (`notify`) or its answer could not be used.
   */
  | { readonly type: 'child-failed'; readonly sa: number; readonly child: string; readonly rekey: boolean; readonly reason: string; readonly notify?: number }
  /**
   * We answered a request with an error notify or a COOKIE (RFC 7296 §2.6, §2.21, §3.10.1):
   * what was refused, why, and where it is a question of configuration, what the peer sent and
   * what we have (proposals, key exchange methods, traffic selectors). `sa`: the IKE SA, if
   * one exists (IKE_SA_INIT refusals keep no state).
   */
  | {
      readonly type: 'refused';
      readonly sa?: number;
      readonly peer: Endpoint;
      readonly exchange: number;
      readonly notify: number;
      readonly reason: string;
      readonly received?: string;
      readonly configured?: string;
    }
  | { readonly type: 'child-down'; readonly sa: number; readonly child: ChildSaInfo; readonly reason: string }
  | {
      readonly type: 'ike-failed';
      readonly sa: number;
      readonly reason: string;
      readonly notify?: number;
      readonly restart?: RestartPlan;
      /** A responder's SA that never authenticated (timed out, evicted, refused): routine under load. */
      readonly halfOpen?: true;
      /** Why, where no notify says it: no answer to our request, a half-open SA timed out or was replaced (FailureCause). */
      readonly cause?: FailureCause;
    }
  | { readonly type: 'ike-down'; readonly sa: number; readonly reason: string; readonly restart?: RestartPlan }
  /** A child's dpd_action or close_action (or start action) asks for a trap policy: traffic matching it starts the connection. */
  | { readonly type: 'trap'; readonly connection: string; readonly child: string; readonly reason: string }
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly sa?: number; readonly message: string };

/**
 * Why an IKE SA failed where no notify says it (the 'ike-failed' event's `cause`): our request
 * went unanswered through every retransmission (RFC 7296 §2.4), a responder's half-open SA
 * timed out, or it was replaced by a newer one at init_limit_half_open (dos-guard.ts).
 */
export type FailureCause = 'timeout' | 'half-open-timeout' | 'evicted';

export type EngineOutput =
  /** A datagram; `keepalive`: a NAT keepalive (RFC 3948 §2.3), sent on the NAT-T port without the non-ESP marker. */
  | { readonly kind: 'send'; readonly from: Endpoint; readonly to: Endpoint; readonly data: Uint8Array; readonly keepalive?: boolean }
  | { readonly kind: 'event'; readonly event: EngineEvent };
