/**
 * A Child SA made by CREATE_CHILD_SA (RFC 7296 §1.3.1), and its rekey (§1.3.3), which is the
 * same creation plus N(REKEY_SA) naming the SA it replaces, the same request ID, and the
 * hand-over of §2.8: the initiator of the surviving rekey moves its traffic at once and deletes
 * the old SA; the responder sends on the old SA until that delete. A lost collision (RFC 7296
 * §2.8.1) leaves a redundant SA, which its creator deletes. The series itself is
 * ccs-series.ts; this file is what it is for.
 */
import { NotifyType, PayloadType, ProtocolId } from '../../wire/constants.js';
import type { Payload, TrafficSelector } from '../../wire/types.js';
import { answerPayloads, childRefusal, chooseChild, makeChild, newEspSpi, peerSpiProblem } from '../child-sa.js';
import type { ChildChoice, ChildSa } from '../child-sa.js';
import type { IkeSa } from '../ike-sa.js';
import { armChild } from '../lifecycle.js';
import { findNotify, notify } from '../payloads.js';
import { enqueue } from '../tasks.js';
import type { QueuedTask } from '../tasks.js';
import { isSubset } from '../traffic-selectors.js';
import type { ChildConfig } from '../types.js';
import { hex, hex32, readU32, u32 } from '../util.js';
import * as tasks from './run.js';
import { NONCE_LENGTH, firstKeMethod, isCcs, keOf, rekeyProposals, startSeries } from './ccs-series.js';
import type { CcsInitiator, InitiatorPurpose, Refusal, ResponderPurpose } from './ccs-series.js';

type ChildTask = Extract<QueuedTask, { kind: 'create-child' | 'rekey-child' }>;

/** Initiator: start creating (or rekeying) a Child SA. False if the task no longer applies. */
export function startChildCreate(sa: IkeSa, task: ChildTask, now: number): boolean {
  const ni = sa.host.random(NONCE_LENGTH, 'nonce');
  const old = task.kind === 'rekey-child' ? task.child : undefined;
  if (old && old.state !== 'installed') return false;
  const config = task.kind === 'rekey-child' ? task.child.config : task.config;
  const spi = newEspSpi(sa);
  // A rekey offers the old SA's suite first when it had a key exchange (PFS).
  const reuse = old && old.info.keMethods.length > 0 ? old.suite : undefined;
  const offered = rekeyProposals(reuse, ProtocolId.ESP, config.espProposals, spi);
  const method = reuse ? keOf(reuse) : firstKeMethod(offered);
  if (old) old.state = 'rekeying';
  startSeries(sa, ni, { purpose: initiatorPurpose(task, config, old, tasks.selectors(sa).local), offered, newSpi: spi, keMethodId: method ?? 0 }, now);
  return true;
}

/** `fixedLocal`: our side as a task fixed it for this IKE SA (a virtual IP), else the configured one. */
function initiatorPurpose(task: ChildTask, config: ChildConfig, old: ChildSa | undefined, fixedLocal?: readonly TrafficSelector[]): InitiatorPurpose {
  const tsi = old ? old.info.localTs : (fixedLocal ?? config.localTs);
  const tsr = old ? old.info.remoteTs : config.remoteTs;
  let answered: { tsi: TrafficSelector[]; tsr: TrafficSelector[]; mode: 'tunnel' | 'transport' } | undefined;
  return {
    kind: task.kind,
    task,
    ...(old ? { old } : {}),
    child: config.name,
    request() {
      const before: Payload[] = [];
      if (old) before.push(notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, u32(old.info.spiIn)));
      if (config.mode === 'transport') before.push(notify(NotifyType.USE_TRANSPORT_MODE));
      return { before, after: [{ type: PayloadType.TSi, critical: false, selectors: [...tsi] }, { type: PayloadType.TSr, critical: false, selectors: [...tsr] }] };
    },
    spiProblem: (sa, spi) => peerSpiProblem(sa, spi),
    accept(inner) {
      const got = { tsi: inner.find((p) => p.type === PayloadType.TSi), tsr: inner.find((p) => p.type === PayloadType.TSr) };
      if (got.tsi?.type !== PayloadType.TSi || got.tsr?.type !== PayloadType.TSr) return 'response lacks TSi/TSr';
      if (!isSubset(got.tsi.selectors, tsi) || !isSubset(got.tsr.selectors, tsr)) return 'responder widened the traffic selectors';
      const transport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
      answered = { tsi: got.tsi.selectors, tsr: got.tsr.selectors, mode: transport ? 'transport' : 'tunnel' };
      return undefined;
    },
    peerRekey: () => old?.peerRekey,
    finish(sa, s, suite, nr, now) {
      if (!answered) return;
      finishInitiator(sa, s, config, old, suite, nr, answered, now);
    },
    abandon() {
      if (old && old.state === 'rekeying') old.state = 'installed';
    },
    retryAt(sa, at) {
      if (old) {
        if (old.state === 'installed') old.rekeyAt = at;
      } else sa.retryCreateAt = { at, task };
    },
  };
}

function finishInitiator(
  sa: IkeSa,
  s: CcsInitiator,
  config: ChildConfig,
  old: ChildSa | undefined,
  suite: ChildSa['suite'],
  nr: Uint8Array,
  ts: { tsi: TrafficSelector[]; tsr: TrafficSelector[]; mode: 'tunnel' | 'transport' },
  now: number,
): void {
  const child = makeChild(sa, config, suite, {
    ni: s.ni,
    nr,
    secrets: s.secrets,
    weInitiated: true,
    spiIn: s.newSpi,
    spiOut: suite.spi,
    localTs: ts.tsi,
    remoteTs: ts.tsr,
    mode: ts.mode,
    ...(old ? { rekeyOf: old.info.spiIn, reqid: old.reqid } : {}),
    ...(s.ppk ? { ppk: s.ppk } : {}),
  }, now);
  // A redundant SA of a lost collision is deleted at once: it never carries our traffic.
  sa.addChild(child, s.lostCollision !== true && s.ppkUnwanted !== true);
  armChild(sa, child, now);
  if (s.ppkUnwanted) {
    // RFC 9867 §3.2 ¶4: made without the fresh PPK this connection requires, so deleted at
    // once; a rekeyed SA goes too, as after any rekey (the peer has moved on from it).
    sa.event({ type: 'child-failed', sa: sa.id, child: config.name, rekey: old !== undefined, reason: `the responder made Child SA ${hex32(child.info.spiIn)} without our fresh PPK, and this connection requires one (RFC 9867 §3.2): deleting it` });
    enqueue(sa, { kind: 'delete-child', child });
    if (old) {
      old.state = 'rekeyed';
      enqueue(sa, { kind: 'delete-child', child: old });
    }
    return;
  }
  if (s.lostCollision) {
    // Our SA is the redundant one: we created it, we delete it (RFC 7296 §2.8.1).
    sa.log('info', `Child SA rekey collision lost: deleting our redundant SA ${hex32(child.info.spiIn)}`);
    enqueue(sa, { kind: 'delete-child', child });
    if (old && old.state === 'rekeying') old.state = 'rekeyed';
    return;
  }
  if (old) {
    old.state = 'rekeyed';
    // The initiator of the surviving rekey deletes the old SA (RFC 7296 §2.8).
    enqueue(sa, { kind: 'delete-child', child: old });
  }
}

/**
 * Responder: the Child SA the peer asks for (with REKEY_SA: the one it rekeys), or why not.
 */
export function childResponder(sa: IkeSa, inner: readonly Payload[]): ResponderPurpose | Refusal {
  const conn = sa.connection;
  if (!conn) return { notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: 'no connection' };
  const rekeySa = findNotify(inner, NotifyType.REKEY_SA);
  let old: ChildSa | undefined;
  let choice: ChildChoice;
  if (rekeySa) {
    // RFC 7296 §1.3.3: REKEY_SA names the SA by its protocol and the SPI its sender
    // receives on. We run ESP only: an AH SPI names nothing, any other protocol is malformed.
    if (rekeySa.protocolId !== ProtocolId.ESP && rekeySa.protocolId !== ProtocolId.AH) return { notify: NotifyType.INVALID_SYNTAX, reason: `REKEY_SA for protocol ${rekeySa.protocolId}` };
    if (rekeySa.spi.length !== 4) return { notify: NotifyType.INVALID_SYNTAX, reason: `REKEY_SA with a ${rekeySa.spi.length}-octet SPI` };
    old = rekeySa.protocolId === ProtocolId.ESP ? sa.findChildByOutboundSpi(readU32(rekeySa.spi)) : undefined;
    if (!old) return { notify: NotifyType.CHILD_SA_NOT_FOUND, reason: `REKEY_SA names no Child SA of ours (SPI ${hex(rekeySa.spi)})` };
    // RFC 9370 §2.2.4: our own rekey of this SA is past CREATE_CHILD_SA (or done).
    const active = sa.active;
    if (old.state === 'rekeyed' || old.state === 'deleting' || (isCcs(active) && active.purpose.old === old && active.phase === 'followup')) {
      return { notify: NotifyType.TEMPORARY_FAILURE, reason: `Child SA ${hex32(old.info.spiIn)} is being rekeyed or deleted already (RFC 9370 §2.2.4)` };
    }
    // A rekey keeps to what a task fixed for the peer's side too (its virtual IP).
    const c = chooseChild([old.config], inner, true, tasks.selectors(sa).remote);
    if (typeof c === 'number') return { notify: c, reason: `rekey of Child SA '${old.config.name}' refused`, ...childRefusal([old.config], inner, c) };
    choice = c;
  } else {
    const creating = [...sa.followups.values()].filter((f) => f.kind === 'create-child').length;
    if (sa.children.length + creating >= sa.host.maxChildSas) return { notify: NotifyType.NO_ADDITIONAL_SAS, reason: `${sa.children.length} Child SAs already (max_child_sas)` };
    // The peer's side may be fixed for this IKE SA (the address it was given, RFC 7296 §3.15).
    const c = chooseChild(conn.children, inner, true, tasks.selectors(sa).remote);
    if (typeof c === 'number') return { notify: c, reason: 'new Child SA refused', ...childRefusal(conn.children, inner, c) };
    choice = c;
  }
  const kind = old ? 'rekey-child' : 'create-child';
  const spiProblem = peerSpiProblem(sa, choice.suite.spi);
  if (spiProblem) return { notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: `${kind} refused: ${spiProblem}` };
  return {
    kind,
    suite: choice.suite,
    ...(old ? { old } : {}),
    newSpi: (s) => newEspSpi(s),
    response(spiIn) {
      const answer = answerPayloads(choice, spiIn);
      return {
        before: answer.filter((p) => p.type === PayloadType.NOTIFY || p.type === PayloadType.SA),
        after: answer.filter((p) => p.type === PayloadType.TSi || p.type === PayloadType.TSr),
      };
    },
    noteRekey(_sa, nonces) {
      if (old) old.peerRekey = { nonces };
    },
    finish(s, series, now) {
      const child = makeChild(s, choice.config, series.purpose.suite, {
        ni: series.ni,
        nr: series.nr,
        secrets: series.secrets,
        weInitiated: false,
        spiIn: series.spiIn,
        spiOut: series.spiPeer,
        localTs: choice.tsr,
        remoteTs: choice.tsi,
        mode: choice.mode,
        ...(old ? { rekeyOf: old.info.spiIn, reqid: old.reqid } : {}),
        ...(series.ppk ? { ppk: series.ppk } : {}),
      }, now);
      // RFC 7296 §2.8: the responder of a rekey sends on the old SA until the peer deletes it.
      s.addChild(child, old === undefined);
      armChild(s, child, now);
      if (old) {
        if (old.peerRekey) old.peerRekey.replacement = child;
        // The peer deletes the old SA once its rekey is through; we keep it until then.
        if (old.state === 'installed') old.state = 'rekeyed';
      }
    },
    expired() {
      // The peer's rekey is over: it must not count as a collision for a later rekey of ours.
      if (old) old.peerRekey = undefined;
    },
  };
}
