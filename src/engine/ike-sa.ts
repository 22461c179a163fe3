/**
 * One IKE SA: its negotiated suite, key schedule state, Message ID bookkeeping (RFC 7296 §2.2),
 * the outstanding request with its retransmission (§2.1), the cached last response, and the
 * sending/receiving of protected messages. The exchanges themselves live in exchange-*.ts.
 */
import type { TrustQuery } from '../auth/trust-store.js';
import type { KeInitiatorState, KeMethod } from '../crypto/ke.js';
import { deriveIkeSaKeys, intAuthStep, skeyseedInit, skeyseedIntermediate, skeyseedPpk, skeyseedRekey } from '../crypto/keys.js';
import type { IkeSaKeys } from '../crypto/keys.js';
import { skCipher } from '../crypto/sk-cipher.js';
import type { SkCipher, SkKeys } from '../crypto/sk-cipher.js';
import { ExchangeType, HeaderFlags, NotifyType, PayloadType, TransformType, nameOf } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import { encodeMessage } from '../wire/index.js';
import { sealMessage, intAuthOctets } from './protection.js';
import type { MessageFrame } from './protection.js';
import type { SelectedSuite } from './proposal-select.js';
import { additionalMethods, sharedSuite } from './proposal-select.js';
import type { ConnectionConfig, Endpoint, EngineEvent, EngineOutput, FailureCause, IkeSaInfo, IkeSaStateName, KeyStage, PpkExchange, RandomPurpose } from './types.js';
import type { ChildSa } from './child-sa.js';
import type { ChildRegistry } from './child-registry.js';
import type { DataPlaneCommand } from './dataplane.js';
import { installPolicies, installSa, uninstallChild } from './child-install.js';
import type { EndCause, RestartPlan } from './restart.js';
import type { ActiveTask, QueuedTask } from './tasks.js';
import type { ResponderSeries } from './tasks/ccs-series.js';
import type { Identity } from './identity.js';
import { formatIdentity } from './identity.js';
import { hex } from './util.js';
import { offerKe } from './tasks/ke-round.js';
import { newSetup } from './setup-state.js';
import type { SetupState } from './setup-state.js';
import { notify } from './payloads.js';
import { refusedEvent } from './refusal.js';
import { describeSuite, keMethodName } from './describe.js';

/** What an IKE SA needs from the engine that hosts it. */
export interface SaHost {
  emit(out: EngineOutput): void;
  random(length: number, purpose: RandomPurpose): Uint8Array;
  /** The key exchange method for a transform ID (RFC 9370 §2.2.1: types 4 and 6-12 share them). */
  keMethod(id: number): KeMethod;
  readonly retransmitTimeoutMs: number;
  readonly retransmitTries: number;
  /** Our UDP port for IKE and ESP after NAT detection (RFC 3948), normally 4500. */
  readonly natTraversalPort: number;
  /** The time of the call being handled (receive, tick, command). */
  readonly now: number;
  /** The number of a new IKE SA: 1, 2, … per engine, so that a run numbers its SAs alike each time. */
  nextSaId(): number;
  /** Called when the SA's state makes it leave the engine's tables. */
  forget(sa: IkeSa): void;
  /** Register an IKE SA created by a rekey of this one (RFC 7296 §2.18). */
  adopt(sa: IkeSa): void;
  readonly followupTimeoutMs: number;
  readonly stateNotFoundRetries: number;
  /** Emit 'ike-keys' events (the --export-keys option). */
  readonly exportKeys: boolean;
  /** Responder: connections that may serve this SA, for the IKE_AUTH identity lookup. */
  connections(): readonly ConnectionConfig[];
  /** Child SAs of every IKE SA, by SPI: ours must be unique, the peer's per peer address. */
  readonly spis: ChildRegistry;
  /** A fresh IKE SPI that no SA of ours uses (RFC 7296 §2.6: non-zero). */
  freshIkeSpi(): Uint8Array;
  /** A peer failed to authenticate (for the back-off, RFC 7296 §2.21.2). */
  authFailed(sa: IkeSa, now: number): void;
  /** IKE_AUTH of this SA waits for a query (a certificate path) the host runs: IkeEngine.drainTrust(). */
  awaitTrust(sa: IkeSa, query: TrustQuery): void;
  /** Child SAs one IKE SA may hold. */
  readonly maxChildSas: number;
  /** An inbound SPI from the data plane (EngineOptions.allocateSpi), if it hands them out. */
  allocateSpi?(sa: { readonly src: string; readonly dst: string }): number | undefined;
  /** Queue a command for the data plane (src/engine/dataplane.ts). */
  dataPlane(cmd: DataPlaneCommand): void;
  /** The request ID for a new Child SA of this connection and child: a trap's, or a fresh one. */
  reqidFor(connection: string, child: string): number;
  /** Is this request ID a trap's (its policies stay when its Child SAs go)? */
  isTrapReqid(reqid: number): boolean;
  /** A trap policy for one child of a connection (close_action trap). */
  trapChild(connection: string, child: string): void;
  /**
   * The SA is ending (its Child SAs still listed): schedule what keyingtries, dpd_action and
   * close_action ask for, and say what was scheduled.
   */
  ended(sa: IkeSa, cause: EndCause): RestartPlan | undefined;
}

interface OutstandingRequest {
  readonly messageId: number;
  readonly exchange: number;
  readonly datagrams: Uint8Array[];
  readonly ap: Uint8Array;
  tries: number;
  nextAt: number;
}

interface CachedResponse {
  readonly messageId: number;
  readonly datagrams: Uint8Array[];
  /** Keys that protected the request, to verify a retransmitted copy (RFC 9242 §3.2, keys may have moved on). */
  readonly requestKeys?: SkKeys;
}

/** A completed key exchange: its method and the shared secret it produced. */
export interface SharedSecret {
  readonly method: number;
  readonly secret: Uint8Array;
}

/**
 * Which state may follow which (RFC 7296 §1.2, §2.18; RFC 9370 §2.2.2): IKE_SA_INIT leads to
 * the IKE_INTERMEDIATE rounds or straight to IKE_AUTH, IKE_AUTH to established; an IKE SA
 * made by a rekey is established at once; a rekeyed one only waits for its delete.
 */
const NEXT: Readonly<Record<IkeSaStateName, readonly IkeSaStateName[]>> = {
  connecting: ['intermediate', 'authenticating', 'established', 'failed', 'deleted'],
  intermediate: ['authenticating', 'failed', 'deleted'],
  authenticating: ['established', 'failed', 'deleted'],
  established: ['rekeyed', 'failed', 'deleted'],
  rekeyed: ['failed', 'deleted'],
  failed: [],
  deleted: [],
};

/** The empty value of every octet-string field until it is set (never written to). */
const EMPTY = new Uint8Array(0);
const NO_SLOTS: ReadonlyMap<object, unknown> = new Map();
const NO_FOLLOWUPS: ReadonlyMap<string, ResponderSeries> = new Map();

export class IkeSa {
  /** The SA's number, unique within its engine (SaHost.nextSaId). */
  readonly id: number;
  private current: IkeSaStateName = 'connecting';
  spiR: Uint8Array = new Uint8Array(8);
  ni: Uint8Array = EMPTY;
  nr: Uint8Array = EMPTY;
  suite?: SelectedSuite;
  prfId = 0;
  cipher?: SkCipher;
  keys?: IkeSaKeys;
  /** The PPK_ID (text) of the PPK mixed into this SA's keys, or of its ancestor before a rekey (RFC 8784, RFC 9867), and in which exchange. */
  ppkId?: string;
  ppkExchange?: PpkExchange;
  /**
   * The connection's PPKs as they were when this SA (or the ancestor whose keys it inherits)
   * last took a PPK, or was set up with one: a PPK not among them, or with another value, is
   * fresh (RFC 9867 §3.2); unset, every PPK is. A reference to the configuration's map.
   */
  ppkSeen?: ReadonlyMap<string, Uint8Array>;
  /**
   * Key exchange methods whose shared secrets went into the current keys, in order: recorded
   * where each secret is mixed in (keyFromInit, completeIntermediate, the rekey), never
   * taken from the proposal.
   */
  keMethodsDone: number[] = [];
  peerFragmentation = false;
  natLocal = false;
  natRemote = false;
  nextRequestId = 0;
  expectedRequestId = 0;
  outstanding?: OutstandingRequest;
  lastResponse?: CachedResponse;
  connection?: ConnectionConfig;
  remoteIdentity?: Identity;
  /** What only the initial exchanges need (setup-state.ts); dropped once established or failed. */
  setup: SetupState | undefined = newSetup();
  /**
   * Each task's state on this SA (tasks/task.ts TaskSlot); moves to the SA that replaces it by a
   * rekey. Made on the first write (most SAs never need one): read `slots`, write through
   * slotsForWrite().
   */
  private slotMap?: Map<object, unknown>;
  children: ChildSa[] = [];
  /** Exchanges we will initiate, in order, one at a time (window size 1). */
  tasks: QueuedTask[] = [];
  /** The task whose exchange(s) are in flight. */
  active?: ActiveTask;
  /**
   * Responder: CREATE_CHILD_SA series waiting for IKE_FOLLOWUP_KE, by link data (RFC 9370
   * §2.2.4). Made on the first write, as the slots: read `followups`, write through followupsForWrite().
   */
  private followupMap?: Map<string, ResponderSeries>;
  createdAt: number;
  establishedAt?: number;
  /** Last authenticated message from the peer, for liveness checks (RFC 7296 §2.4). */
  lastReceivedAt: number;
  /** Last datagram we sent the peer (NAT keepalives, RFC 3948 §4). */
  lastSentAt: number;
  ikeRekeyAt?: number;
  ikeExpireAt?: number;
  /** Responder: the engine's key for the IKE_SA_INIT request that created this SA. */
  initKey?: string;
  /** Initiator: which attempt of its connection's keyingtries this is (1 = the first). */
  attempt = 1;
  /** Set once this SA was replaced by a rekey (RFC 7296 §2.18); it only waits for its delete. */
  rekeyedInto?: IkeSa;
  /** An IKE SA rekey the peer started and we answered, for collision checks (RFC 7296 §2.8.2). */
  peerIkeRekey?: { readonly nonces: readonly Uint8Array[]; replacement?: IkeSa };
  /** A CREATE_CHILD_SA that got TEMPORARY_FAILURE, to try again later (RFC 7296 §2.25). */
  retryCreateAt?: { readonly at: number; readonly task: QueuedTask };

  constructor(
    readonly host: SaHost,
    readonly role: 'initiator' | 'responder',
    readonly spiI: Uint8Array,
    public local: Endpoint,
    public remote: Endpoint,
    now: number,
  ) {
    this.id = host.nextSaId();
    this.createdAt = now;
    this.lastReceivedAt = now;
    this.lastSentAt = now;
  }

  get state(): IkeSaStateName {
    return this.current;
  }

  get slots(): ReadonlyMap<object, unknown> {
    return this.slotMap ?? NO_SLOTS;
  }

  slotsForWrite(): Map<object, unknown> {
    return (this.slotMap ??= new Map());
  }

  /** Remove one task's state; the map goes with its last entry (the first Child SA's slots are set and gone within IKE_AUTH). */
  deleteSlot(slot: object): void {
    const m = this.slotMap;
    if (m?.delete(slot) && m.size === 0) this.slotMap = undefined;
  }

  get followups(): ReadonlyMap<string, ResponderSeries> {
    return this.followupMap ?? NO_FOLLOWUPS;
  }

  followupsForWrite(): Map<string, ResponderSeries> {
    return (this.followupMap ??= new Map());
  }

  /** The state as of now, where the compiler would keep a check made before a call that changed it. */
  stateIs(s: IkeSaStateName): boolean {
    return this.current === s;
  }

  /**
   * The one place an IKE SA changes state; each change is an 'ike-state' event. A change the
   * state machine (NEXT) does not allow is a bug, thrown (the engine answers the request and
   * reports it).
   */
  transition(to: IkeSaStateName): void {
    const from = this.current;
    if (from === to) return;
    if (!NEXT[from].includes(to)) throw new Error(`IKE SA #${this.id}: no transition from ${from} to ${to}`);
    this.current = to;
    if (to === 'established' || to === 'failed' || to === 'deleted') this.setup = undefined;
    this.event({ type: 'ike-state', sa: this.id, from, to });
  }

  /** A NAT sits between the peers (RFC 7296 §2.23): ESP must be UDP-encapsulated. */
  get behindNat(): boolean {
    return this.natLocal || this.natRemote;
  }

  /**
   * RFC 7296 §2.23 / RFC 3948: once a NAT is detected, the initiator moves IKE to port 4500
   * (with the non-ESP marker) from IKE_AUTH on.
   */
  floatToNatT(port: number): void {
    if (this.remote.port !== 500) return;
    this.local = { address: this.local.address, port: this.local.port === 500 ? port : this.local.port };
    this.remote = { address: this.remote.address, port };
  }

  get isInitiator(): boolean {
    return this.role === 'initiator';
  }

  /** The SPI that identifies this SA on our side. */
  get localSpi(): Uint8Array {
    return this.isInitiator ? this.spiI : this.spiR;
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.host.emit({ kind: 'event', event: { type: 'log', level, sa: this.id, message } });
  }

  event(e: EngineEvent): void {
    this.host.emit({ kind: 'event', event: e });
  }

  /** Send datagrams to the peer. */
  sendRaw(datagrams: readonly Uint8Array[]): void {
    for (const data of datagrams) this.host.emit({ kind: 'send', from: this.local, to: this.remote, data });
    this.lastSentAt = this.host.now;
  }

  /** The keys for messages we send and those we receive, from the current key stage. */
  outKeys(): SkKeys {
    const k = this.requireKeys();
    return this.isInitiator ? { encr: k.skEi, integ: k.skAi } : { encr: k.skEr, integ: k.skAr };
  }

  inKeys(): SkKeys {
    const k = this.requireKeys();
    return this.isInitiator ? { encr: k.skEr, integ: k.skAr } : { encr: k.skEi, integ: k.skAi };
  }

  requireKeys(): IkeSaKeys {
    if (!this.keys) throw new Error('IKE SA has no keys yet');
    return this.keys;
  }

  requireCipher(): SkCipher {
    if (!this.cipher) throw new Error('IKE SA has no cipher yet');
    return this.cipher;
  }

  frame(exchange: number, response: boolean, messageId: number): MessageFrame {
    return {
      spiI: this.spiI,
      spiR: this.spiR,
      exchangeType: exchange,
      flags: (this.isInitiator ? HeaderFlags.INITIATOR : 0) | (response ? HeaderFlags.RESPONSE : 0),
      messageId,
    };
  }

  /** Largest IKE message we send unfragmented, if fragmentation was negotiated (RFC 7383 §2.5.1). */
  maxMessage(): number | undefined {
    const conn = this.connection;
    if (!this.peerFragmentation || conn?.fragmentation === false) return undefined;
    const datagram = conn?.fragmentSize ?? 1280;
    const ipUdp = this.remote.address.includes(':') ? 48 : 28;
    // RFC 3948 §2.2: on the NAT-T port the non-ESP marker takes 4 more bytes.
    const marker = this.local.port === this.host.natTraversalPort ? 4 : 0;
    return datagram - ipUdp - marker;
  }

  private emitMessageEvent(direction: 'in' | 'out', exchange: number, response: boolean, messageId: number, sizes: number[], payloads: readonly Payload[]): void {
    this.event({
      type: 'message',
      sa: this.id,
      direction,
      exchange,
      response,
      messageId,
      sizes,
      payloads: payloads.map(payloadName),
    });
  }

  noteReceived(exchange: number, response: boolean, messageId: number, sizes: number[], payloads: readonly Payload[]): void {
    this.emitMessageEvent('in', exchange, response, messageId, sizes, payloads);
  }

  /** Send an unprotected IKE_SA_INIT message (RFC 7296 §1.2). */
  sendPlain(exchange: number, response: boolean, messageId: number, payloads: Payload[], now: number): Uint8Array {
    const f = this.frame(exchange, response, messageId);
    const bytes = encodeMessage(
      { spiI: f.spiI, spiR: f.spiR, majorVersion: 2, minorVersion: 0, exchangeType: exchange, flags: f.flags, messageId },
      payloads,
    );
    this.emitMessageEvent('out', exchange, response, messageId, [bytes.length], payloads);
    if (response) this.lastResponse = { messageId, datagrams: [bytes] };
    else this.track(messageId, exchange, [bytes], EMPTY, now);
    this.sendRaw([bytes]);
    return bytes;
  }

  /** Send a protected request; returns the A|P octets for IntAuth. */
  sendRequest(exchange: number, inner: Payload[], now: number): { messageId: number; ap: Uint8Array } {
    const messageId = this.nextRequestId++;
    const sealed = sealMessage(this.frame(exchange, false, messageId), inner, this.requireCipher(), this.outKeys(), this.maxMessage(), (n) => this.host.random(n, 'iv'));
    this.emitMessageEvent('out', exchange, false, messageId, sealed.datagrams.map((d) => d.length), inner);
    this.track(messageId, exchange, sealed.datagrams, sealed.ap, now);
    this.sendRaw(sealed.datagrams);
    return { messageId, ap: sealed.ap };
  }

  /** Send a protected response to request `messageId`; caches it for retransmitted requests. */
  sendResponse(exchange: number, messageId: number, inner: Payload[], requestKeys?: SkKeys): Uint8Array {
    const sealed = sealMessage(this.frame(exchange, true, messageId), inner, this.requireCipher(), this.outKeys(), this.maxMessage(), (n) => this.host.random(n, 'iv'));
    this.emitMessageEvent('out', exchange, true, messageId, sealed.datagrams.map((d) => d.length), inner);
    this.lastResponse = requestKeys ? { messageId, datagrams: sealed.datagrams, requestKeys } : { messageId, datagrams: sealed.datagrams };
    this.sendRaw(sealed.datagrams);
    return sealed.ap;
  }

  /**
   * Answer request `messageId` with an error notify and say so (a 'refused' event): every
   * refusal a responder sends goes through here. `keys`: those that protected the request.
   */
  refuse(exchange: number, messageId: number, type: number, reason: string, o: { data?: Uint8Array; keys?: SkKeys; received?: string; configured?: string } = {}): Uint8Array {
    const ap = this.sendResponse(exchange, messageId, [notify(type, o.data)], o.keys ?? this.inKeys());
    this.event(refusedEvent(this.remote, exchange, type, reason, o, this.id));
    return ap;
  }

  private track(messageId: number, exchange: number, datagrams: Uint8Array[], ap: Uint8Array, now: number): void {
    this.outstanding = { messageId, exchange, datagrams, ap, tries: 0, nextAt: now + this.host.retransmitTimeoutMs };
  }

  /** The A|P octets of a received protected message, as if unfragmented (RFC 9242 §3.3.2). */
  receivedAp(exchange: number, response: boolean, messageId: number, innerFirst: number, plain: Uint8Array): Uint8Array {
    const f = this.frame(exchange, response, messageId);
    // The peer set the flags: its Initiator bit is the opposite of ours.
    const flags = (this.isInitiator ? 0 : HeaderFlags.INITIATOR) | (response ? HeaderFlags.RESPONSE : 0);
    return intAuthOctets({ ...f, flags }, innerFirst, plain);
  }

  /** Retransmit the outstanding request if due; false once we have given up. */
  onTimer(now: number): boolean {
    const e = this.setup?.initError;
    if (e && now >= e.at && this.state === 'connecting') {
      this.fail(e.reason, e.notify);
      return false;
    }
    const o = this.outstanding;
    if (!o || now < o.nextAt) return true;
    if (o.tries >= this.host.retransmitTries) {
      if (e) this.fail(e.reason, e.notify);
      // RFC 7296 §2.4: no answer after all retransmissions on an established SA = a dead peer.
      else this.fail(`no response to ${nameOf(ExchangeType, o.exchange)} request ${o.messageId} after ${o.tries} retransmissions`, undefined, this.state === 'established' && this.active?.kind !== 'delete-ike' ? 'dead-peer' : undefined, 'timeout');
      return false;
    }
    o.tries++;
    o.nextAt = now + this.host.retransmitTimeoutMs * 2 ** o.tries;
    // The event is the one record of it (the daemon logs it: debug for the first, info after).
    this.event({ type: 'retransmit', sa: this.id, exchange: o.exchange, messageId: o.messageId, attempt: o.tries });
    this.sendRaw(o.datagrams);
    return true;
  }

  /** When the outstanding request is retransmitted next. */
  retransmitDeadline(): number | undefined {
    const next = this.outstanding?.nextAt;
    const e = this.setup?.initError?.at;
    return e === undefined || (next !== undefined && next < e) ? next : e;
  }

  /** Install the negotiated suite and derive the first key stage (RFC 7296 §2.14). */
  setSuite(negotiated: SelectedSuite): void {
    // Kept for the SA's lifetime: one object for all IKE SAs with this choice.
    const suite = sharedSuite(negotiated);
    this.suite = suite;
    const encr = suite.chosen.get(TransformType.ENCR);
    const prf = suite.chosen.get(TransformType.PRF);
    const integ = suite.chosen.get(TransformType.INTEG);
    if (!encr || !prf) throw new Error('suite without ENCR or PRF');
    this.prfId = prf.id;
    this.cipher = skCipher(encr.id, encr.keyBits, integ?.id ?? 0);
    if (this.setup) this.setup.pendingAddke = additionalMethods(suite);
  }

  private deriveKeys(skeyseed: Uint8Array, stage: KeyStage): void {
    const c = this.requireCipher();
    const keys = deriveIkeSaKeys(this.prfId, skeyseed, this.ni, this.nr, this.spiI, this.spiR, {
      encr: c.encrKeyLength,
      integ: c.integKeyLength,
    });
    this.keys = keys;
    // Only with the explicit key-export option (for Wireshark); never in logs.
    if (this.host.exportKeys) {
      const encr = this.suite?.chosen.get(TransformType.ENCR);
      this.event({
        type: 'ike-keys',
        sa: this.id,
        stage,
        local: this.local,
        remote: this.remote,
        spiI: hex(this.spiI),
        spiR: hex(this.spiR),
        encr: { id: encr?.id ?? 0, ...(encr?.keyBits === undefined ? {} : { keyBits: encr.keyBits }) },
        integ: this.suite?.chosen.get(TransformType.INTEG)?.id ?? 0,
        skEi: keys.skEi,
        skEr: keys.skEr,
        skAi: keys.skAi,
        skAr: keys.skAr,
      });
    }
  }

  /** The first key stage from the IKE_SA_INIT key exchange: SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). */
  keyFromInit(ss: SharedSecret): void {
    this.deriveKeys(skeyseedInit(this.prfId, this.ni, this.nr, ss.secret), 'ike-sa-init');
    this.keMethodsDone = [ss.method];
  }

  /**
   * After an IKE_INTERMEDIATE exchange: fold both messages into IntAuth with the keys that
   * protected them (RFC 9242 §3.3.2), then SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
   * and new SK_* (RFC 9370 §2.2.2), used from the next exchange on.
   */
  completeIntermediate(this: SettingUp, apRequest: Uint8Array, apResponse: Uint8Array, ss: SharedSecret): void {
    const k = this.requireKeys();
    this.foldIntermediate(apRequest, apResponse);
    this.deriveKeys(skeyseedIntermediate(this.prfId, k.skD, ss.secret, this.ni, this.nr), 'ike-intermediate');
    this.keMethodsDone.push(ss.method);
    this.setup.pendingAddke.shift();
  }

  /**
   * A new IKE SA's keys from the one it rekeys: SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr |
   * SK(1) | ... | SK(n)) with the old SA's PRF (RFC 7296 §2.18, RFC 9370 §2.2.4); with a fresh
   * PPK, SK_d' = prf+(PPK, SK_d (old)) for SK_d (RFC 9867 §3.2.1).
   */
  keyFromRekey(old: IkeSa, secrets: readonly SharedSecret[], ppk?: Uint8Array): void {
    const skD = ppk ? skeyseedPpk(old.prfId, ppk, old.requireKeys().skD) : old.requireKeys().skD;
    this.deriveKeys(skeyseedRekey(old.prfId, skD, secrets.map((s) => s.secret), this.ni, this.nr), ppk ? 'ppk-rekey' : 'rekey');
    this.keMethodsDone = secrets.map((s) => s.method);
  }

  /** Fold one IKE_INTERMEDIATE exchange into IntAuth_i / IntAuth_r (RFC 9242 §3.3.2). */
  foldIntermediate(this: SettingUp, apRequest: Uint8Array, apResponse: Uint8Array): void {
    const k = this.requireKeys();
    const s = this.setup;
    s.intAuthI = intAuthStep(this.prfId, k.skPi, s.intAuthI, apRequest);
    s.intAuthR = intAuthStep(this.prfId, k.skPr, s.intAuthR, apResponse);
    s.intermediateRan = true;
  }

  /**
   * RFC 9867: the PPK agreed in the last IKE_INTERMEDIATE exchange, after that exchange's other
   * key update: SKEYSEED' = prf+(PPK, SK_d) and new SK_*, used from IKE_AUTH on.
   */
  mixIntermediatePpk(this: SettingUp, ppk: Uint8Array, id: string): void {
    this.deriveKeys(skeyseedPpk(this.prfId, ppk, this.requireKeys().skD), 'ppk');
    this.ppkId = id;
    this.ppkExchange = 'IKE_INTERMEDIATE';
  }

  /** IKE_INTERMEDIATE exchanges are still to run: additional key exchanges, or the PPK round (RFC 9867). */
  intermediateLeft(this: SettingUp): boolean {
    return this.setup.pendingAddke.length > 0 || this.setup.ppkInt?.pending === true;
  }

  /** The method of the next additional key exchange, if one is left. */
  nextAddkeMethod(this: SettingUp): number | undefined {
    return this.setup.pendingAddke[0]?.method;
  }

  /** Initiator: our KE value for the IKE_SA_INIT request (tasks/ke-round.ts). */
  startKe(this: SettingUp, method: number): KeInitiatorState {
    const state = offerKe(this.host.keMethod, method).state;
    this.setup.keState = state;
    this.setup.keMethodId = method;
    return state;
  }

  /**
   * A new Child SA: its inbound SA is installed, its outbound one unless `outbound` is false
   * (a rekey we answered: RFC 7296 §2.8, the outbound moves when the peer deletes the replaced
   * SA), and the policies of a new request ID.
   */
  addChild(child: ChildSa, outbound = true): void {
    // A literal for the first: push() onto an empty array reserves room for 17.
    if (this.children.length === 0) this.children = [child];
    else this.children.push(child);
    this.host.spis.add(child, this.remote.address);
    installSa(this, child, 'in');
    if (outbound) installSa(this, child, 'out');
    installPolicies(this, child);
    this.event({ type: 'child-up', sa: this.id, child: child.info, local: this.local, remote: this.remote });
  }

  /** Send on a Child SA from now on (the responder of a rekey, once the replaced SA goes). */
  startSending(child: ChildSa): void {
    if (this.children.includes(child)) installSa(this, child, 'out');
  }

  /** Remove a Child SA (deleted, expired or replaced) and report it. */
  removeChild(child: ChildSa, reason: string): void {
    const i = this.children.indexOf(child);
    if (i < 0) return;
    // The SA that replaces it by a rekey we answered takes over the outbound traffic first
    // (unless a rekey of ours already did, after a collision: RFC 7296 §2.8.1).
    const next = child.peerRekey?.replacement;
    const sending = this.children.some((c) => c !== child && c !== next && c.reqid === child.reqid && c.installed.out);
    if (next && !next.installed.out && !sending) this.startSending(next);
    this.children.splice(i, 1);
    this.host.spis.remove(child);
    uninstallChild(this, child, this.children);
    this.event({ type: 'child-down', sa: this.id, child: child.info, reason });
  }

  findChildByOutboundSpi(spiOut: number): ChildSa | undefined {
    return this.children.find((c) => c.info.spiOut === spiOut);
  }

  findChildByInboundSpi(spiIn: number): ChildSa | undefined {
    return this.children.find((c) => c.info.spiIn === spiIn);
  }

  private dropChildren(reason: string): void {
    const all = this.children;
    this.children = [];
    for (const [k, child] of all.entries()) {
      this.host.spis.remove(child);
      uninstallChild(this, child, all.slice(k + 1));
      this.event({ type: 'child-down', sa: this.id, child: child.info, reason });
    }
  }

  /** The SA ends normally (deleted by us or the peer: cause 'peer-deleted'). */
  close(reason: string, cause: EndCause = 'other'): void {
    if (this.state === 'failed' || this.state === 'deleted') return;
    const restart = this.host.ended(this, cause);
    this.transition('deleted');
    this.outstanding = undefined;
    this.active = undefined;
    this.tasks = [];
    this.dropChildren(reason);
    this.event({ type: 'ike-down', sa: this.id, reason, ...(restart ? { restart } : {}) });
    this.host.forget(this);
  }

  /**
   * The SA ends in failure; before it was established, that is a failed setup (keyingtries).
   * `failure`: why, where no notify says it (the event's `cause`, for the metrics).
   */
  fail(reason: string, notify?: number, cause?: EndCause, failure?: FailureCause): void {
    if (this.state === 'failed' || this.state === 'deleted') return;
    const restart = this.host.ended(this, cause ?? (this.state === 'established' || this.state === 'rekeyed' ? 'other' : 'setup-failed'));
    this.transition('failed');
    this.outstanding = undefined;
    this.active = undefined;
    this.tasks = [];
    this.dropChildren(reason);
    // A responder's half-open SA failing is routine under load: the daemon logs it at debug.
    // The event is the one record of the failure (no 'log' event beside it: logged once).
    const halfOpen = !this.isInitiator && this.establishedAt === undefined;
    this.event({
      type: 'ike-failed',
      sa: this.id,
      reason,
      ...(notify === undefined ? {} : { notify }),
      ...(restart ? { restart } : {}),
      ...(halfOpen ? { halfOpen: true as const } : {}),
      ...(failure === undefined ? {} : { cause: failure }),
    });
    this.host.forget(this);
  }

  info(): IkeSaInfo {
    const conn = this.connection;
    const base = {
      id: this.id,
      connection: conn?.name ?? '',
      role: this.role,
      spiI: hex(this.spiI),
      spiR: hex(this.spiR),
      local: this.local,
      remote: this.remote,
      localId: conn ? formatIdentity(conn.localId) : '',
      remoteId: this.remoteIdentity ? formatIdentity(this.remoteIdentity) : '',
      state: this.state,
      keMethods: [...this.keMethodsDone],
      ...(this.ppkId !== undefined ? { ppk: this.ppkId } : {}),
      ...(this.ppkExchange !== undefined ? { ppkExchange: this.ppkExchange } : {}),
    };
    return this.suite ? { ...base, suite: describeSuite(this.suite) } : base;
  }
}


/** An IKE SA in its initial exchanges: its setup state is there (setup-state.ts). */
export type SettingUp = IkeSa & { setup: SetupState };

export function isSettingUp(sa: IkeSa): sa is SettingUp {
  return sa.setup !== undefined;
}

/** A new IKE SA, in its initial exchanges by construction. */
export function newIkeSa(...args: ConstructorParameters<typeof IkeSa>): SettingUp {
  return new IkeSa(...args) as SettingUp;
}

export function payloadName(p: Payload): string {
  if (p.type === 'unknown') return `UNKNOWN(${p.rawType})`;
  if (p.type === PayloadType.NOTIFY) return `N(${nameOf(NotifyType, p.notifyType)})`;
  if (p.type === PayloadType.KE) return `KE(${keMethodName(p.method)})`;
  return nameOf(PayloadType, p.type);
}

