/**
 * CREATE_CHILD_SA (RFC 7296 §1.3) for a new Child SA, a Child SA rekey and an IKE SA rekey,
 * each followed by one IKE_FOLLOWUP_KE per negotiated additional key exchange (RFC 9370
 * §2.2.4), with keys derived once after the last one; simultaneous rekeys resolved by the
 * nonces (RFC 7296 §2.8.1/§2.8.2) — the loser of a series with ADDKE stops before any
 * IKE_FOLLOWUP_KE, and a request for an SA whose series is under way gets TEMPORARY_FAILURE.
 */
import { ExchangeType, KeMethodId, NotifyType, PayloadType, ProtocolId, TransformType, nameOf } from '../wire/constants.js';
import type { Payload, Proposal } from '../wire/types.js';
import { answerPayloads, childRefusal, chooseChild, makeChild, newEspSpi, peerSpiProblem } from './child-sa.js';
import { describeProposals, keMethodName } from './describe.js';
import type { ChildChoice, ChildSa } from './child-sa.js';
import type { IkeSa, SharedSecret } from './ike-sa.js';
import { armChild, finishIkeRekey } from './lifecycle.js';
import { errorNotify, find, findNotify, notify } from './payloads.js';
import { acceptSelection, additionalMethods, buildProposals, proposalForSelection, selectProposal } from './proposal-select.js';
import type { SelectedSuite } from './proposal-select.js';
import type { ProposalSpec } from './proposal-string.js';
import { usesAddke } from './proposal-string.js';
import { enqueue, isCcs } from './tasks.js';
import type { CcsInitiator, CcsKind, ResponderSeries, Task } from './tasks.js';
import { isSubset } from './traffic-selectors.js';
import { hex, hex32, readU16, readU32, u16, u32 } from './util.js';
import { answerKe, completeKe, offerKe } from './tasks/ke-round.js';

const NONCE_LENGTH = 32;
const MAX_INVALID_KE_RETRIES = 2;
/**
 * CREATE_CHILD_SA series a peer may leave waiting for IKE_FOLLOWUP_KE at once. With window
 * size 1 a peer runs one series at a time; a second covers a rekey collision.
 */
const MAX_PENDING_SERIES = 2;

// ---- helpers ---------------------------------------------------------------------------------

/** Proposals for a (re)key: the SA's current suite first when it had a key exchange, then the configured ones. */
function rekeyProposals(current: SelectedSuite | undefined, protocolId: number, specs: readonly ProposalSpec[], spi: Uint8Array): Proposal[] {
  const configured = buildProposals(specs, { spi });
  if (!current) return configured;
  const first = { ...proposalForSelection(current, protocolId, spi), num: 1 };
  return [first, ...configured.map((p, i) => ({ ...p, num: i + 2 }))];
}

/** The first Transform Type 4 method of the proposals (the one our KE payload uses). */
function firstKeMethod(proposals: readonly Proposal[]): number | undefined {
  for (const p of proposals) for (const t of p.transforms) if (t.type === TransformType.KE && t.id !== KeMethodId.NONE) return t.id;
  return undefined;
}

function offersKe(proposals: readonly Proposal[], group: number): boolean {
  return proposals.some((p) => p.transforms.some((t) => t.type === TransformType.KE && t.id === group));
}

/** RFC 7296 §2.8.1: the exchange holding the lowest of the four nonces lost the collision. */
function lowest(nonces: readonly Uint8Array[]): Uint8Array | undefined {
  let min: Uint8Array | undefined;
  for (const n of nonces) if (min === undefined || Buffer.compare(n, min) < 0) min = n;
  return min;
}

function keOf(suite: SelectedSuite): number | undefined {
  const c = suite.chosen.get(TransformType.KE);
  return c === undefined || c.id === KeMethodId.NONE ? undefined : c.id;
}

// ---- initiator -------------------------------------------------------------------------------

/** Start a CREATE_CHILD_SA task. Returns false if the task no longer applies. */
export function startCcs(sa: IkeSa, task: Extract<Task, { kind: CcsKind }>, now: number): boolean {
  const conn = sa.connection;
  if (!conn) return false;
  let st: CcsInitiator;
  const ni = sa.host.random(NONCE_LENGTH, 'nonce');
  if (task.kind === 'rekey-ike') {
    const spi = sa.host.freshIkeSpi();
    // RFC 9370 §2.2.5.1: the childless post-quantum rekey asks for additional key exchanges only.
    const pq = conn.ikeProposals.filter(usesAddke);
    const offered = task.postQuantum === true && pq.length > 0 ? buildProposals(pq, { spi }) : rekeyProposals(sa.suite, ProtocolId.IKE, conn.ikeProposals, spi);
    // Reuse the Transform Type 4 method of the SA being replaced (RFC 7296 §2.18 needs a KE).
    const current = sa.suite ? keOf(sa.suite) : undefined;
    const group = current !== undefined && offersKe(offered, current) ? current : firstKeMethod(offered);
    if (group === undefined) return false;
    st = { kind: 'rekey-ike', task, offered, newSpi: spi, ni, keGroup: group, phase: 'ccs', secrets: [], pending: [], invalidKeRetries: 0 };
  } else {
    const old = task.kind === 'rekey-child' ? task.child : undefined;
    if (old && old.state !== 'installed') return false;
    const config = task.kind === 'rekey-child' ? task.child.config : task.config;
    const spi = newEspSpi(sa);
    const reuse = old && old.info.keMethods.length > 0 ? old.suite : undefined;
    const offered = rekeyProposals(reuse, ProtocolId.ESP, config.espProposals, spi);
    const group = reuse ? keOf(reuse) : firstKeMethod(offered);
    st = {
      kind: task.kind,
      task,
      config,
      ...(old ? { old } : {}),
      offered,
      newSpi: spi,
      ni,
      keGroup: group ?? KeMethodId.NONE,
      phase: 'ccs',
      secrets: [],
      pending: [],
      invalidKeRetries: 0,
    };
    if (old) old.state = 'rekeying';
  }
  sa.active = st;
  sendCcsRequest(sa, st, now);
  return true;
}

function sendCcsRequest(sa: IkeSa, st: CcsInitiator, now: number): void {
  const payloads: Payload[] = [];
  if (st.old) payloads.push(notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, u32(st.old.info.spiIn)));
  const ke: Payload[] = [];
  if (st.keGroup !== KeMethodId.NONE) {
    const offer = offerKe(sa.host.keMethod, st.keGroup);
    st.keState = offer.state;
    ke.push(offer.payload);
  }
  if (st.kind === 'rekey-ike') {
    payloads.push({ type: PayloadType.SA, critical: false, proposals: st.offered }, { type: PayloadType.NONCE, critical: false, data: st.ni }, ...ke);
  } else {
    const config = st.config;
    if (!config) return;
    const tsi = st.old ? st.old.info.localTs : config.localTs;
    const tsr = st.old ? st.old.info.remoteTs : config.remoteTs;
    // Order as strongSwan: N(REKEY_SA) [N(USE_TRANSPORT_MODE)] SA Ni [KE] TSi TSr.
    if (config.mode === 'transport') payloads.push(notify(NotifyType.USE_TRANSPORT_MODE));
    payloads.push(
      { type: PayloadType.SA, critical: false, proposals: st.offered },
      { type: PayloadType.NONCE, critical: false, data: st.ni },
      ...ke,
      { type: PayloadType.TSi, critical: false, selectors: [...tsi] },
      { type: PayloadType.TSr, critical: false, selectors: [...tsr] },
    );
  }
  sa.sendRequest(ExchangeType.CREATE_CHILD_SA, payloads, now);
}

/** Our series ends; with a reason it failed (a Child SA's failure is a 'child-failed' event too). */
function endTask(sa: IkeSa, st: CcsInitiator, reason?: string, notifyType?: number): void {
  sa.active = undefined;
  if (st.old && st.old.state === 'rekeying') st.old.state = 'installed';
  if (!reason) return;
  sa.log('warn', `${st.kind} failed: ${reason}`);
  if (st.config) sa.event({ type: 'child-failed', sa: sa.id, child: st.config.name, rekey: st.kind === 'rekey-child', reason, ...(notifyType === undefined ? {} : { notify: notifyType }) });
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
    const group = readU16(invalidKe.data);
    if (group !== undefined && group !== st.keGroup && offersKe(st.offered, group) && st.invalidKeRetries < MAX_INVALID_KE_RETRIES) {
      st.invalidKeRetries++;
      st.keGroup = group;
      sa.log('info', `${st.kind}: responder wants key exchange method ${group}, retrying`);
      sendCcsRequest(sa, st, now);
      return;
    }
    return endTask(sa, st, 'INVALID_KE_PAYLOAD for a method we did not offer', NotifyType.INVALID_KE_PAYLOAD);
  }
  const err = errorNotify(inner);
  if (err) {
    endTask(sa, st, nameOf(NotifyType, err.notifyType), err.notifyType);
    if (err.notifyType === NotifyType.TEMPORARY_FAILURE) retryLater(sa, st, now);
    return;
  }
  const saPayload = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  if (!saPayload || !nonce) return endTask(sa, st, 'response lacks SA or Nonce');
  const suite = acceptSelection(st.offered, saPayload.proposals);
  if (typeof suite === 'string') return endTask(sa, st, suite);
  if (st.kind === 'rekey-ike') {
    if (suite.spi.length !== 8 || suite.spi.every((b) => b === 0)) return endTask(sa, st, 'responder sent an invalid IKE SPI');
  } else {
    const spiProblem = peerSpiProblem(sa, suite.spi);
    if (spiProblem) return endTask(sa, st, spiProblem);
  }
  const group = keOf(suite);
  if (group !== st.keGroup && !(group === undefined && st.keGroup === KeMethodId.NONE)) {
    return endTask(sa, st, `responder chose key exchange method ${group ?? 'none'}, we sent ${st.keGroup}`);
  }
  st.suite = suite;
  st.nr = nonce.data;
  st.peerSpi = suite.spi;
  if (st.keState) {
    const shared = completeKe(st.keState, st.keGroup, inner);
    if (typeof shared === 'string') return endTask(sa, st, shared);
    st.secrets.push(shared);
    st.keState = undefined;
  }
  if (st.kind !== 'rekey-ike') {
    const tsi = find(inner, PayloadType.TSi);
    const tsr = find(inner, PayloadType.TSr);
    const config = st.config;
    if (!tsi || !tsr || !config) return endTask(sa, st, 'response lacks TSi/TSr');
    const wantTsi = st.old ? st.old.info.localTs : config.localTs;
    const wantTsr = st.old ? st.old.info.remoteTs : config.remoteTs;
    if (!isSubset(tsi.selectors, wantTsi) || !isSubset(tsr.selectors, wantTsr)) return endTask(sa, st, 'responder widened the traffic selectors');
    const transport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
    st.choiceTs = { tsi: tsi.selectors, tsr: tsr.selectors, mode: transport ? 'transport' : 'tunnel' };
  }
  st.pending = additionalMethods(suite);
  // Collision with a rekey of the same SA that the peer started (RFC 7296 §2.8, RFC 9370 §2.2.4).
  const peer = st.kind === 'rekey-ike' ? sa.peerIkeRekey : st.old?.peerRekey;
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
      const attempt = (st.task.kind === 'delete-child' || st.task.kind === 'delete-ike' || st.task.kind === 'dpd' ? 0 : st.task.attempt ?? 0) + 1;
      if (attempt > sa.host.stateNotFoundRetries) {
        sa.log('warn', 'STATE_NOT_FOUND after retries: deleting the IKE SA');
        enqueue(sa, { kind: 'delete-ike' });
      } else enqueue(sa, { ...st.task, attempt } as Task);
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

function retryLater(sa: IkeSa, st: CcsInitiator, now: number): void {
  // RFC 7296 §2.25: retry after a short random delay.
  const delay = 1000 + ((sa.host.random(1, 'jitter')[0] ?? 0) / 255) * 4000;
  if (st.kind === 'rekey-child' && st.old && st.old.state === 'installed') st.old.rekeyAt = now + delay;
  else if (st.kind === 'rekey-ike') sa.ikeRekeyAt = now + delay;
  else if (st.kind === 'create-child') sa.retryCreateAt = { at: now + delay, task: st.task };
}

/** All key exchanges done (initiator): derive keys and create the Child SA or the new IKE SA. */
function finishInitiator(sa: IkeSa, st: CcsInitiator, now: number): void {
  sa.active = undefined;
  const suite = st.suite;
  const nr = st.nr;
  const peerSpi = st.peerSpi;
  if (!suite || !nr || !peerSpi) return;
  if (st.kind === 'rekey-ike') {
    finishIkeRekey(sa, { weInitiated: true, suite, ni: st.ni, nr, spiI: st.newSpi, spiR: peerSpi, secrets: st.secrets, redundant: st.lostCollision === true }, now);
    return;
  }
  const config = st.config;
  const ts = st.choiceTs;
  if (!config || !ts) return;
  const child = makeChild(sa, config, suite, {
    ni: st.ni,
    nr,
    secrets: st.secrets,
    weInitiated: true,
    spiIn: st.newSpi,
    spiOut: peerSpi,
    localTs: ts.tsi,
    remoteTs: ts.tsr,
    mode: ts.mode,
    ...(st.old ? { rekeyOf: st.old.info.spiIn, reqid: st.old.reqid } : {}),
  }, now);
  // A redundant SA of a lost collision is deleted at once: it never carries our traffic.
  sa.addChild(child, st.lostCollision !== true);
  armChild(sa, child, now);
  if (st.lostCollision) {
    // Our SA is the redundant one: we created it, we delete it (RFC 7296 §2.8.1).
    sa.log('info', `Child SA rekey collision lost: deleting our redundant SA ${hex32(child.info.spiIn)}`);
    enqueue(sa, { kind: 'delete-child', child });
    if (st.old && st.old.state === 'rekeying') st.old.state = 'rekeyed';
    return;
  }
  if (st.old) {
    st.old.state = 'rekeyed';
    // The initiator of the surviving rekey deletes the old SA (RFC 7296 §2.8).
    enqueue(sa, { kind: 'delete-child', child: st.old });
  }
}

// ---- responder -------------------------------------------------------------------------------

function respondError(sa: IkeSa, messageId: number, exchange: number, type: number, reason: string, o: { data?: Uint8Array; received?: string; configured?: string } = {}): void {
  sa.refuse(exchange, messageId, type, reason, o);
}

/** A CREATE_CHILD_SA request on an established IKE SA. */
export function handleCcsRequest(sa: IkeSa, messageId: number, inner: readonly Payload[], now: number): void {
  const conn = sa.connection;
  const ex = ExchangeType.CREATE_CHILD_SA;
  if (!conn) return;
  const saPayload = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  if (!saPayload || !nonce) return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, 'CREATE_CHILD_SA request without SA or Nonce');
  const active = sa.active;
  // RFC 7296 §2.25: nothing new on an IKE SA that is being rekeyed past the point of return.
  if (sa.rekeyedInto || (isCcs(active) && active.kind === 'rekey-ike' && active.phase === 'followup')) {
    return respondError(sa, messageId, ex, NotifyType.TEMPORARY_FAILURE, 'the IKE SA is being rekeyed (RFC 7296 §2.25)');
  }
  const rekeySa = findNotify(inner, NotifyType.REKEY_SA);
  const isIke = saPayload.proposals.some((p) => p.protocolId === ProtocolId.IKE);
  // RFC 7296 §1.3: the proposals of one exchange are all for the IKE SA or all for a Child SA;
  // an IKE SA rekey carries no REKEY_SA (§1.3.2).
  if (isIke && (rekeySa || saPayload.proposals.some((p) => p.protocolId !== ProtocolId.IKE))) {
    return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, 'proposals for the IKE SA mixed with others, or with REKEY_SA (RFC 7296 §1.3)');
  }
  let kind: CcsKind;
  let old: ChildSa | undefined;
  let choice: ChildChoice | undefined;
  let suite: SelectedSuite | undefined;
  if (isIke) {
    kind = 'rekey-ike';
    // A collision with our own IKE rekey still in CREATE_CHILD_SA is answered normally; the
    // nonces decide when our response arrives.
    suite = selectProposal(conn.ikeProposals, saPayload.proposals);
    if (!suite) return respondError(sa, messageId, ex, NotifyType.NO_PROPOSAL_CHOSEN, 'no acceptable proposal for the IKE SA rekey', { received: describeProposals(saPayload.proposals), configured: conn.ikeProposals.map((x) => x.text).join(', ') });
    if (suite.spi.length !== 8 || suite.spi.every((b) => b === 0)) return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, 'the new IKE SPI is not 8 non-zero octets');
  } else {
    if (rekeySa) {
      kind = 'rekey-child';
      // RFC 7296 §1.3.3: REKEY_SA names the SA by its protocol and the SPI its sender
      // receives on. We run ESP only: an AH SPI names nothing, any other protocol is malformed.
      if (rekeySa.protocolId !== ProtocolId.ESP && rekeySa.protocolId !== ProtocolId.AH) return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, `REKEY_SA for protocol ${rekeySa.protocolId}`);
      if (rekeySa.spi.length !== 4) return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, `REKEY_SA with a ${rekeySa.spi.length}-octet SPI`);
      old = rekeySa.protocolId === ProtocolId.ESP ? sa.findChildByOutboundSpi(readU32(rekeySa.spi)) : undefined;
      if (!old) return respondError(sa, messageId, ex, NotifyType.CHILD_SA_NOT_FOUND, `REKEY_SA names no Child SA of ours (SPI ${hex(rekeySa.spi)})`);
      // RFC 9370 §2.2.4: our own rekey of this SA is past CREATE_CHILD_SA (or done).
      if (old.state === 'rekeyed' || old.state === 'deleting' || (isCcs(active) && active.old === old && active.phase === 'followup')) {
        return respondError(sa, messageId, ex, NotifyType.TEMPORARY_FAILURE, `Child SA ${hex32(old.info.spiIn)} is being rekeyed or deleted already (RFC 9370 §2.2.4)`);
      }
      const c = chooseChild([old.config], inner, true);
      if (typeof c === 'number') return respondError(sa, messageId, ex, c, `rekey of Child SA '${old.config.name}' refused`, childRefusal([old.config], inner, c));
      choice = c;
    } else {
      kind = 'create-child';
      const creating = [...sa.followups.values()].filter((f) => f.kind === 'create-child').length;
      if (sa.children.length + creating >= sa.host.maxChildSas) {
        sa.log('warn', `refusing a new Child SA: ${sa.children.length} already (max_child_sas)`);
        return respondError(sa, messageId, ex, NotifyType.NO_ADDITIONAL_SAS, `${sa.children.length} Child SAs already (max_child_sas)`);
      }
      const c = chooseChild(conn.children, inner, true);
      if (typeof c === 'number') return respondError(sa, messageId, ex, c, 'new Child SA refused', childRefusal(conn.children, inner, c));
      choice = c;
    }
    suite = choice.suite;
    const spiProblem = peerSpiProblem(sa, suite.spi);
    if (spiProblem) {
      sa.log('warn', `${kind} refused: ${spiProblem}`);
      return respondError(sa, messageId, ex, NotifyType.NO_PROPOSAL_CHOSEN, `${kind} refused: ${spiProblem}`);
    }
  }
  if (additionalMethods(suite).length > 0 && sa.followups.size >= MAX_PENDING_SERIES) {
    return respondError(sa, messageId, ex, NotifyType.TEMPORARY_FAILURE, `${sa.followups.size} series already wait for IKE_FOLLOWUP_KE`);
  }
  // Key exchange for Transform Type 4 (RFC 7296 §1.3, §1.3.2; INVALID_KE_PAYLOAD §1.2).
  const group = keOf(suite);
  const secrets: SharedSecret[] = [];
  let kePayload: Payload[] = [];
  if (group !== undefined) {
    const answer = answerKe(sa.host.keMethod, group, inner);
    if ('problem' in answer) {
      const sent = find(inner, PayloadType.KE);
      return answer.problem === 'missing'
        ? respondError(sa, messageId, ex, NotifyType.INVALID_KE_PAYLOAD, `${kind}: the chosen proposal needs another key exchange method`, { data: u16(group), received: sent ? `KE ${keMethodName(sent.group)}` : 'no KE', configured: keMethodName(group) })
        : respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, `${kind}: ${answer.why}`);
    }
    secrets.push(answer.shared);
    kePayload = [answer.payload];
  } else if (kind === 'rekey-ike') {
    return respondError(sa, messageId, ex, NotifyType.NO_PROPOSAL_CHOSEN, 'an IKE SA rekey needs a key exchange (RFC 7296 §2.18)');
  }
  const nr = sa.host.random(NONCE_LENGTH, 'nonce');
  const spiIn = kind === 'rekey-ike' ? sa.host.freshIkeSpi() : newEspSpi(sa);
  const series: ResponderSeries = {
    kind,
    ...(choice ? { choice } : {}),
    ...(old ? { old } : {}),
    suite,
    ni: nonce.data,
    nr,
    spiIn,
    spiPeer: suite.spi,
    secrets,
    pending: additionalMethods(suite),
    expiresAt: now + sa.host.followupTimeoutMs,
  };
  // Remember the peer's rekey for collision checks against our own (RFC 7296 §2.8).
  if (old) old.peerRekey = { nonces: [nonce.data, nr] };
  if (kind === 'rekey-ike') sa.peerIkeRekey = { nonces: [nonce.data, nr] };
  const out: Payload[] = [];
  if (kind === 'rekey-ike') out.push({ type: PayloadType.SA, critical: false, proposals: [proposalForSelection(suite, ProtocolId.IKE, spiIn)] });
  const childAnswer = choice ? answerPayloads(choice, spiIn) : [];
  const modeNotify = childAnswer.filter((p) => p.type === PayloadType.NOTIFY);
  const saAnswer = childAnswer.filter((p) => p.type === PayloadType.SA);
  const tsAnswer = childAnswer.filter((p) => p.type === PayloadType.TSi || p.type === PayloadType.TSr);
  out.push(...modeNotify, ...saAnswer, { type: PayloadType.NONCE, critical: false, data: nr }, ...kePayload, ...tsAnswer);
  if (series.pending.length > 0) {
    const link = newLink(sa);
    sa.followups.set(hex(link), series);
    out.push(notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, link));
    sa.sendResponse(ex, messageId, out, sa.inKeys());
    return;
  }
  sa.sendResponse(ex, messageId, out, sa.inKeys());
  finishResponder(sa, series, now);
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
  if (!link || !series) return respondError(sa, messageId, ex, NotifyType.STATE_NOT_FOUND, link ? 'IKE_FOLLOWUP_KE for a series we do not know (or no longer keep)' : 'IKE_FOLLOWUP_KE without ADDITIONAL_KEY_EXCHANGE');
  sa.followups.delete(hex(link.data));
  const next = series.pending[0];
  const answer = next ? answerKe(sa.host.keMethod, next.method, inner) : undefined;
  if (!answer || 'problem' in answer) return respondError(sa, messageId, ex, NotifyType.INVALID_SYNTAX, `IKE_FOLLOWUP_KE: ${answer?.why ?? 'no key exchange left in the series'}`);
  series.secrets.push(answer.shared);
  series.pending.shift();
  const out: Payload[] = [answer.payload];
  if (series.pending.length > 0) {
    const nextLink = newLink(sa);
    series.expiresAt = now + sa.host.followupTimeoutMs;
    sa.followups.set(hex(nextLink), series);
    out.push(notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, nextLink));
    sa.sendResponse(ex, messageId, out, sa.inKeys());
    return;
  }
  sa.sendResponse(ex, messageId, out, sa.inKeys());
  finishResponder(sa, series, now);
}

/** All key exchanges done (responder): derive keys and create the Child SA or the new IKE SA. */
function finishResponder(sa: IkeSa, s: ResponderSeries, now: number): void {
  if (s.kind === 'rekey-ike') {
    const created = finishIkeRekey(sa, { weInitiated: false, suite: s.suite, ni: s.ni, nr: s.nr, spiI: s.spiPeer, spiR: s.spiIn, secrets: s.secrets, redundant: false }, now);
    if (sa.peerIkeRekey) sa.peerIkeRekey.replacement = created;
    return;
  }
  const choice = s.choice;
  if (!choice) return;
  const child = makeChild(sa, choice.config, s.suite, {
    ni: s.ni,
    nr: s.nr,
    secrets: s.secrets,
    weInitiated: false,
    spiIn: s.spiIn,
    spiOut: s.spiPeer,
    localTs: choice.tsr,
    remoteTs: choice.tsi,
    mode: choice.mode,
    ...(s.old ? { rekeyOf: s.old.info.spiIn, reqid: s.old.reqid } : {}),
  }, now);
  // RFC 7296 §2.8: the responder of a rekey sends on the old SA until the peer deletes it.
  sa.addChild(child, s.old === undefined);
  armChild(sa, child, now);
  if (s.old) {
    if (s.old.peerRekey) s.old.peerRekey.replacement = child;
    // The peer deletes the old SA once its rekey is through; we keep it until then.
    if (s.old.state === 'installed') s.old.state = 'rekeyed';
  }
}
