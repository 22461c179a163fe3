/**
 * CREATE_CHILD_SA (RFC 7296 §1.3) and its IKE_FOLLOWUP_KE rounds (RFC 9370 §2.2.4) in both
 * roles, whatever the exchange creates. The series is here: proposals and nonces, the
 * Transform Type 4 key exchange, one round of tasks/ke-round.ts per additional key exchange
 * with the link data echoed, keys derived once after the last, simultaneous rekeys resolved by
 * the nonces (RFC 7296 §2.8.1/§2.8.2: the loser of a series with ADDKE stops before any
 * IKE_FOLLOWUP_KE). What the series is for is its purpose: a new Child SA or a Child SA rekey
 * (child-create.ts, the rekey wrapping the creation) or an IKE SA rekey (ike-rekey.ts).
 */
import type { KeInitiatorState } from '../../crypto/ke.js';
import { ExchangeType, KeMethodId, NotifyType, PayloadType, ProtocolId, TransformType, nameOf } from '../../wire/constants.js';
import type { Payload, Proposal } from '../../wire/types.js';
import type { ChildSa } from '../child-sa.js';
import { describeProposals, keMethodName } from '../describe.js';
import type { IkeSa, SharedSecret } from '../ike-sa.js';
import { errorNotify, find, findNotify, notify } from '../payloads.js';
import { acceptSelection, additionalMethods, buildProposals, proposalForSelection } from '../proposal-select.js';
import type { SelectedSuite } from '../proposal-select.js';
import type { ProposalSpec } from '../proposal-string.js';
import { enqueue } from '../tasks.js';
import type { QueuedTask } from '../tasks.js';
import { hex, readU16, u16 } from '../util.js';
import { answerKe, completeKe, offerKe } from './ke-round.js';
import { ccsAcceptedPpk, ccsChoosePpk, ccsPpkOffers } from '../ppk-ccs.js';
import type { CcsPpk } from '../ppk-ccs.js';
import type { PpkChoice } from '../ppk-intermediate.js';

export const NONCE_LENGTH = 32;
const MAX_INVALID_KE_RETRIES = 2;
/**
 * CREATE_CHILD_SA series a peer may leave waiting for IKE_FOLLOWUP_KE at once. With window
 * size 1 a peer runs one series at a time; a second covers a rekey collision.
 */
const MAX_PENDING_SERIES = 2;

export type CcsKind = 'create-child' | 'rekey-child' | 'rekey-ike';

/** What our (initiator) series is for: child-create.ts or ike-rekey.ts. */
export interface InitiatorPurpose {
  readonly kind: CcsKind;
  /** The queued task, queued again after STATE_NOT_FOUND (RFC 9370 §2.2.4). */
  readonly task: Extract<QueuedTask, { kind: CcsKind }>;
  /** The Child SA a rekey replaces. */
  readonly old?: ChildSa;
  /** The Child SA's name, for a Child SA series ('child-failed' events). */
  readonly child?: string;
  /** Request payloads before SA (notifies) and after KE (selectors). */
  request(): { before: Payload[]; after: Payload[] };
  /** The responder's SPI: why it cannot name the new SA, if it cannot. */
  spiProblem(sa: IkeSa, spi: Uint8Array): string | undefined;
  /** The rest of the answer (selectors, mode); why it cannot be used, if it cannot. */
  accept(inner: readonly Payload[]): string | undefined;
  /** The peer's rekey of the same SA that we answered (RFC 7296 §2.8). */
  peerRekey(sa: IkeSa): { readonly nonces: readonly Uint8Array[] } | undefined;
  /** Every key exchange done: make the new SA. */
  finish(sa: IkeSa, s: CcsInitiator, suite: SelectedSuite, nr: Uint8Array, now: number): void;
  /** The series ended without a result: undo what starting it changed. */
  abandon(): void;
  /** After TEMPORARY_FAILURE: when to try again (RFC 7296 §2.25). */
  retryAt(sa: IkeSa, at: number): void;
}

/** Initiator state of a CREATE_CHILD_SA exchange and its IKE_FOLLOWUP_KE rounds. */
export interface CcsInitiator {
  readonly kind: CcsKind;
  readonly purpose: InitiatorPurpose;
  readonly offered: Proposal[];
  /** Our new SPI: the Child SA's inbound ESP SPI (4 bytes) or the new IKE SA's SPI (8 bytes). */
  readonly newSpi: Uint8Array;
  readonly ni: Uint8Array;
  keMethodId: number;
  keState?: KeInitiatorState;
  phase: 'ccs' | 'followup';
  nr?: Uint8Array;
  suite?: SelectedSuite;
  secrets: SharedSecret[];
  pending: { type: number; method: number }[];
  link?: Uint8Array;
  invalidKeRetries: number;
  /** The peer rekeyed the same SA and our exchange holds the lowest nonce (RFC 7296 §2.8.1). */
  lostCollision?: boolean;
  /** RFC 9867 §3.2: the PPKs offered (their notifies sent with every try of the request) and the one the responder took. */
  readonly ppkOffers: readonly PpkChoice[];
  readonly ppkPayloads: readonly Payload[];
  ppk?: CcsPpk;
  /** The responder made the SA without the fresh PPK this connection requires: we delete it (§3.2). */
  ppkUnwanted?: boolean;
}

/** What the peer's series is for, as we answer it. */
export interface ResponderPurpose {
  readonly kind: CcsKind;
  readonly suite: SelectedSuite;
  /** The Child SA a rekey replaces. */
  readonly old?: ChildSa;
  /** Our new SPI: an inbound ESP SPI or a new IKE SPI. */
  newSpi(sa: IkeSa): Uint8Array;
  /** Response payloads before the Nonce (SA, mode) and after KE (selectors). */
  response(spiIn: Uint8Array): { before: Payload[]; after: Payload[] };
  /** Remember the peer's rekey for collision checks against our own (RFC 7296 §2.8). */
  noteRekey(sa: IkeSa, nonces: readonly Uint8Array[]): void;
  finish(sa: IkeSa, s: ResponderSeries, now: number): void;
  /** The series stalled waiting for IKE_FOLLOWUP_KE and is dropped. */
  expired(sa: IkeSa): void;
}

/** Responder state of a CREATE_CHILD_SA series awaiting IKE_FOLLOWUP_KE requests. */
export interface ResponderSeries {
  readonly kind: CcsKind;
  readonly purpose: ResponderPurpose;
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  readonly spiIn: Uint8Array;
  readonly spiPeer: Uint8Array;
  readonly secrets: SharedSecret[];
  pending: { type: number; method: number }[];
  expiresAt: number;
  /** The fresh PPK taken for the new SA (RFC 9867 §3.2). */
  readonly ppk?: CcsPpk;
}

/** A refusal of the peer's request: the notify and why (a 'refused' event). */
export interface Refusal {
  readonly notify: number;
  readonly reason: string;
  readonly data?: Uint8Array;
  readonly received?: string;
  readonly configured?: string;
}

// ---- shared helpers ----------------------------------------------------------------------------

/** Proposals for a (re)key: the SA's current suite first when it had a key exchange, then the configured ones. */
export function rekeyProposals(current: SelectedSuite | undefined, protocolId: number, specs: readonly ProposalSpec[], spi: Uint8Array): Proposal[] {
  const configured = buildProposals(specs, { spi });
  if (!current) return configured;
  const first = { ...proposalForSelection(current, protocolId, spi), num: 1 };
  return [first, ...configured.map((p, i) => ({ ...p, num: i + 2 }))];
}

/** The first Transform Type 4 method of the proposals (the one our KE payload uses). */
export function firstKeMethod(proposals: readonly Proposal[]): number | undefined {
  for (const p of proposals) for (const t of p.transforms) if (t.type === TransformType.KE && t.id !== KeMethodId.NONE) return t.id;
  return undefined;
}

export function offersKe(proposals: readonly Proposal[], method: number): boolean {
  return proposals.some((p) => p.transforms.some((t) => t.type === TransformType.KE && t.id === method));
}

export function keOf(suite: SelectedSuite): number | undefined {
  const c = suite.chosen.get(TransformType.KE);
  return c === undefined || c.id === KeMethodId.NONE ? undefined : c.id;
}

/** RFC 7296 §2.8.1: the exchange holding the lowest of the four nonces lost the collision. */
function lowest(nonces: readonly Uint8Array[]): Uint8Array | undefined {
  let min: Uint8Array | undefined;
  for (const n of nonces) if (min === undefined || Buffer.compare(n, min) < 0) min = n;
  return min;
}

export function isCcs(a: unknown): a is CcsInitiator {
  return typeof a === 'object' && a !== null && 'phase' in a;
}

// ---- initiator ---------------------------------------------------------------------------------

/** Start a series for `purpose` (its proposals, our new SPI, the Transform Type 4 method). */
export function startSeries(sa: IkeSa, ni: Uint8Array, p: { purpose: InitiatorPurpose; offered: Proposal[]; newSpi: Uint8Array; keMethodId: number }, now: number): void {
  const ppk = ccsPpkOffers(sa, ni);
  const st: CcsInitiator = { kind: p.purpose.kind, purpose: p.purpose, offered: p.offered, newSpi: p.newSpi, ni, keMethodId: p.keMethodId, phase: 'ccs', secrets: [], pending: [], invalidKeRetries: 0, ppkOffers: ppk.offers, ppkPayloads: ppk.payloads };
  sa.active = st;
  sendCcsRequest(sa, st, now);
}

function sendCcsRequest(sa: IkeSa, st: CcsInitiator, now: number): void {
  const ke: Payload[] = [];
  if (st.keMethodId !== KeMethodId.NONE) {
    const offer = offerKe(sa.host.keMethod, st.keMethodId);
    st.keState = offer.state;
    ke.push(offer.payload);
  }
  // Order as strongSwan: N(REKEY_SA) [N(USE_TRANSPORT_MODE)] SA Ni [KE] [TSi TSr], then the
  // PPK_IDENTITY_KEYs as RFC 9867 §3.2's figures show them.
  const { before, after } = st.purpose.request();
  sa.sendRequest(ExchangeType.CREATE_CHILD_SA, [...before, { type: PayloadType.SA, critical: false, proposals: st.offered }, { type: PayloadType.NONCE, critical: false, data: st.ni }, ...ke, ...after, ...st.ppkPayloads], now);
}

/** Our series ends; with a reason it failed (a Child SA's failure is a 'child-failed' event too). */
function endTask(sa: IkeSa, st: CcsInitiator, reason?: string, notifyType?: number): void {
  sa.active = undefined;
  st.purpose.abandon();
  if (!reason) return;
  // Logged once: a Child SA's failure is its event (formatted by the host), the others a log line.
  if (st.purpose.child === undefined) sa.log('warn', `${st.kind} failed: ${reason}`);
  else sa.event({ type: 'child-failed', sa: sa.id, child: st.purpose.child, rekey: st.kind === 'rekey-child', reason, ...(notifyType === undefined ? {} : { notify: notifyType }) });
}

/** A CREATE_CHILD_SA or IKE_FOLLOWUP_KE response for our active series. */
export function handleCcsResponse(sa: IkeSa, exchange: number, inner: readonly Payload[], now: number): void {
  const st = sa.active;
  sa.outstanding = undefined;
  if (!isCcs(st)) return;
  if (exchange === ExchangeType.CREATE_CHILD_SA) onCcsAnswer(sa, st, inner, now);
  else onFollowupAnswer(sa, st, inner, now);
}

function onCcsAnswer(sa: IkeSa, st: CcsInitiator, inner: readonly Payload[], now: number): void {
  const invalidKe = findNotify(inner, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    const method = readU16(invalidKe.data);
    if (method !== undefined && method !== st.keMethodId && offersKe(st.offered, method) && st.invalidKeRetries < MAX_INVALID_KE_RETRIES) {
      st.invalidKeRetries++;
      st.keMethodId = method;
      sa.log('info', `${st.kind}: responder wants key exchange method ${keMethodName(method)}, retrying`);
      sendCcsRequest(sa, st, now);
      return;
    }
    return endTask(sa, st, 'INVALID_KE_PAYLOAD for a method we did not offer', NotifyType.INVALID_KE_PAYLOAD);
  }
  const err = errorNotify(inner);
  if (err) {
    endTask(sa, st, nameOf(NotifyType, err.notifyType), err.notifyType);
    // RFC 7296 §2.25: retry after a short random delay.
    if (err.notifyType === NotifyType.TEMPORARY_FAILURE) st.purpose.retryAt(sa, now + 1000 + ((sa.host.random(1, 'jitter')[0] ?? 0) / 255) * 4000);
    return;
  }
  const saPayload = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  if (!saPayload || !nonce) return endTask(sa, st, 'response lacks SA or Nonce');
  const suite = acceptSelection(st.offered, saPayload.proposals);
  if (typeof suite === 'string') return endTask(sa, st, suite);
  const spiProblem = st.purpose.spiProblem(sa, suite.spi);
  if (spiProblem) return endTask(sa, st, spiProblem);
  const method = keOf(suite);
  if (method !== st.keMethodId && !(method === undefined && st.keMethodId === KeMethodId.NONE)) {
    return endTask(sa, st, `responder chose key exchange method ${method === undefined ? 'none' : keMethodName(method)}, we sent ${keMethodName(st.keMethodId)}`);
  }
  st.suite = suite;
  st.nr = nonce.data;
  if (st.keState) {
    const shared = completeKe(st.keState, st.keMethodId, inner);
    if (typeof shared === 'string') return endTask(sa, st, shared);
    st.secrets.push(shared);
    st.keState = undefined;
  }
  const bad = st.purpose.accept(inner);
  if (bad) return endTask(sa, st, bad);
  const ppk = ccsAcceptedPpk(sa, st.ppkOffers, inner);
  if (typeof ppk === 'string') {
    // RFC 9867 §3.1 item 1 makes this fatal: the peer keyed an SA with a PPK we cannot know.
    endTask(sa, st, ppk, NotifyType.INVALID_SYNTAX);
    sa.log('warn', `${ppk}: deleting the IKE SA (RFC 9867)`);
    enqueue(sa, { kind: 'delete-ike' });
    return;
  }
  if (ppk.ppk) st.ppk = ppk.ppk;
  if (ppk.unwanted) st.ppkUnwanted = true;
  st.pending = additionalMethods(suite);
  // Collision with a rekey of the same SA that the peer started (RFC 7296 §2.8, RFC 9370 §2.2.4).
  const peer = st.purpose.peerRekey(sa);
  if (peer) {
    const min = lowest([st.ni, st.nr, ...peer.nonces]);
    st.lostCollision = min === st.ni || min === st.nr;
  }
  if (st.lostCollision && st.pending.length > 0) {
    // Nothing was created yet: the loser just stops before any IKE_FOLLOWUP_KE.
    sa.log('info', `${st.kind} collision lost (lowest nonce is ours): stopping before IKE_FOLLOWUP_KE`);
    sa.active = undefined;
    return;
  }
  if (st.pending.length > 0) {
    const link = findNotify(inner, NotifyType.ADDITIONAL_KEY_EXCHANGE);
    if (!link) return endTask(sa, st, 'additional key exchanges negotiated but no ADDITIONAL_KEY_EXCHANGE notify');
    st.link = link.data;
    st.phase = 'followup';
    sendFollowup(sa, st, now);
    return;
  }
  finishInitiator(sa, st, now);
}

function sendFollowup(sa: IkeSa, st: CcsInitiator, now: number): void {
  const next = st.pending[0];
  if (!next || !st.link) return;
  const offer = offerKe(sa.host.keMethod, next.method);
  st.keState = offer.state;
  // RFC 9370 §2.2.4: KEi(n) and the link data echoed intact.
  sa.sendRequest(ExchangeType.IKE_FOLLOWUP_KE, [offer.payload, notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, st.link)], now);
}

function onFollowupAnswer(sa: IkeSa, st: CcsInitiator, inner: readonly Payload[], now: number): void {
  const next = st.pending[0];
  if (!next || !st.keState) return endTask(sa, st, 'unexpected IKE_FOLLOWUP_KE response');
  const err = errorNotify(inner);
  if (err) {
    endTask(sa, st, `IKE_FOLLOWUP_KE: ${nameOf(NotifyType, err.notifyType)}`, err.notifyType);
    if (err.notifyType === NotifyType.STATE_NOT_FOUND) {
      // RFC 9370 §2.2.4: the series failed; retry it, and after several failures delete the IKE SA.
      const task = st.purpose.task;
      const attempt = (task.attempt ?? 0) + 1;
      if (attempt > sa.host.stateNotFoundRetries) {
        sa.log('warn', 'STATE_NOT_FOUND after retries: deleting the IKE SA');
        enqueue(sa, { kind: 'delete-ike' });
      } else enqueue(sa, { ...task, attempt });
    }
    return;
  }
  const shared = completeKe(st.keState, next.method, inner);
  if (typeof shared === 'string') return endTask(sa, st, `IKE_FOLLOWUP_KE response: ${shared}`);
  st.secrets.push(shared);
  st.keState = undefined;
  st.pending.shift();
  if (st.pending.length > 0) {
    const link = findNotify(inner, NotifyType.ADDITIONAL_KEY_EXCHANGE);
    if (!link) return endTask(sa, st, 'no ADDITIONAL_KEY_EXCHANGE for the next round');
    st.link = link.data;
    sendFollowup(sa, st, now);
    return;
  }
  finishInitiator(sa, st, now);
}

function finishInitiator(sa: IkeSa, st: CcsInitiator, now: number): void {
  sa.active = undefined;
  if (st.suite && st.nr) st.purpose.finish(sa, st, st.suite, st.nr, now);
}

// ---- responder ---------------------------------------------------------------------------------

/**
 * A CREATE_CHILD_SA request on an established IKE SA: `choose` picks its purpose (child-create
 * or ike-rekey) or refuses; the rest of the series is the same for all.
 */
export function handleCcsRequest(
  sa: IkeSa,
  messageId: number,
  inner: readonly Payload[],
  now: number,
  choose: (isIke: boolean) => ResponderPurpose | Refusal,
): void {
  const ex = ExchangeType.CREATE_CHILD_SA;
  const refuse = (r: Refusal): void => void sa.refuse(ex, messageId, r.notify, r.reason, r);
  const saPayload = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  if (!saPayload || !nonce) return refuse({ notify: NotifyType.INVALID_SYNTAX, reason: 'CREATE_CHILD_SA request without SA or Nonce' });
  const active = sa.active;
  // RFC 7296 §2.25: nothing new on an IKE SA that is being rekeyed past the point of return.
  if (sa.rekeyedInto || (isCcs(active) && active.kind === 'rekey-ike' && active.phase === 'followup')) {
    return refuse({ notify: NotifyType.TEMPORARY_FAILURE, reason: 'the IKE SA is being rekeyed (RFC 7296 §2.25)' });
  }
  const rekeySa = findNotify(inner, NotifyType.REKEY_SA);
  const isIke = saPayload.proposals.some((p) => p.protocolId === ProtocolId.IKE);
  // RFC 7296 §1.3: the proposals of one exchange are all for the IKE SA or all for a Child SA;
  // an IKE SA rekey carries no REKEY_SA (§1.3.2).
  if (isIke && (rekeySa || saPayload.proposals.some((p) => p.protocolId !== ProtocolId.IKE))) {
    return refuse({ notify: NotifyType.INVALID_SYNTAX, reason: 'proposals for the IKE SA mixed with others, or with REKEY_SA (RFC 7296 §1.3)' });
  }
  const purpose = choose(isIke);
  if ('notify' in purpose) return refuse(purpose);
  const { suite, kind } = purpose;
  const ppk = ccsChoosePpk(sa, nonce.data, inner);
  if (ppk.refuse) return refuse(ppk.refuse);
  if (additionalMethods(suite).length > 0 && sa.followups.size >= MAX_PENDING_SERIES) {
    return refuse({ notify: NotifyType.TEMPORARY_FAILURE, reason: `${sa.followups.size} series already wait for IKE_FOLLOWUP_KE` });
  }
  // Key exchange for Transform Type 4 (RFC 7296 §1.3, §1.3.2; INVALID_KE_PAYLOAD §1.2).
  const method = keOf(suite);
  const secrets: SharedSecret[] = [];
  let kePayload: Payload[] = [];
  if (method !== undefined) {
    const answer = answerKe(sa.host.keMethod, method, inner);
    if ('problem' in answer) {
      const sent = find(inner, PayloadType.KE);
      return refuse(
        answer.problem === 'missing'
          ? { notify: NotifyType.INVALID_KE_PAYLOAD, reason: `${kind}: the chosen proposal needs another key exchange method`, data: u16(method), received: sent ? `KE ${keMethodName(sent.method)}` : 'no KE', configured: keMethodName(method) }
          : { notify: NotifyType.INVALID_SYNTAX, reason: `${kind}: ${answer.why}` },
      );
    }
    secrets.push(answer.shared);
    kePayload = [answer.payload];
  } else if (kind === 'rekey-ike') {
    return refuse({ notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: 'an IKE SA rekey needs a key exchange (RFC 7296 §2.18)', received: describeProposals(saPayload.proposals) });
  }
  const nr = sa.host.random(NONCE_LENGTH, 'nonce');
  const spiIn = purpose.newSpi(sa);
  const series: ResponderSeries = { kind, purpose, ni: nonce.data, nr, spiIn, spiPeer: suite.spi, secrets, pending: additionalMethods(suite), expiresAt: now + sa.host.followupTimeoutMs, ...(ppk.chosen ? { ppk: ppk.chosen } : {}) };
  purpose.noteRekey(sa, [nonce.data, nr]);
  const { before, after } = purpose.response(spiIn);
  const out: Payload[] = [...before, { type: PayloadType.NONCE, critical: false, data: nr }, ...kePayload, ...after, ...(ppk.chosen ? [ppk.payload] : [])];
  if (series.pending.length > 0) {
    const link = newLink(sa);
    sa.followupsForWrite().set(hex(link), series);
    out.push(notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, link));
    sa.sendResponse(ex, messageId, out, sa.inKeys());
    return;
  }
  sa.sendResponse(ex, messageId, out, sa.inKeys());
  purpose.finish(sa, series, now);
}

/** Link data: opaque to the initiator, a random handle for us (RFC 9370 §2.2.4). */
function newLink(sa: IkeSa): Uint8Array {
  return sa.host.random(8, 'link');
}

/** An IKE_FOLLOWUP_KE request: the next additional key exchange of a series. */
export function handleFollowupRequest(sa: IkeSa, messageId: number, inner: readonly Payload[], now: number): void {
  const ex = ExchangeType.IKE_FOLLOWUP_KE;
  const link = findNotify(inner, NotifyType.ADDITIONAL_KEY_EXCHANGE);
  const series = link ? sa.followups.get(hex(link.data)) : undefined;
  if (!link || !series) {
    sa.refuse(ex, messageId, NotifyType.STATE_NOT_FOUND, link ? 'IKE_FOLLOWUP_KE for a series we do not know (or no longer keep)' : 'IKE_FOLLOWUP_KE without ADDITIONAL_KEY_EXCHANGE');
    return;
  }
  sa.followupsForWrite().delete(hex(link.data));
  const next = series.pending[0];
  const answer = next ? answerKe(sa.host.keMethod, next.method, inner) : undefined;
  if (!answer || 'problem' in answer) {
    sa.refuse(ex, messageId, NotifyType.INVALID_SYNTAX, `IKE_FOLLOWUP_KE: ${answer?.why ?? 'no key exchange left in the series'}`);
    return;
  }
  series.secrets.push(answer.shared);
  series.pending.shift();
  const out: Payload[] = [answer.payload];
  if (series.pending.length > 0) {
    const nextLink = newLink(sa);
    series.expiresAt = now + sa.host.followupTimeoutMs;
    sa.followupsForWrite().set(hex(nextLink), series);
    out.push(notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, nextLink));
    sa.sendResponse(ex, messageId, out, sa.inKeys());
    return;
  }
  sa.sendResponse(ex, messageId, out, sa.inKeys());
  series.purpose.finish(sa, series, now);
}
