/**
 * The IKE SA rekey (RFC 7296 §1.3.2, §2.18): a CREATE_CHILD_SA with an IKE proposal carrying
 * the new SA's SPI, a Nonce and a KE (needed here), and with RFC 9370 §2.2.4 the additional key
 * exchanges in IKE_FOLLOWUP_KE; the new SA is keyed from the old one's SK_d (lifecycle.ts
 * finishIkeRekey) and takes over its Child SAs. The childless post-quantum policy (RFC 9370
 * §2.2.5.1) rekeys with the ADDKE proposals only. The series itself is ccs-series.ts.
 */
import { NotifyType, PayloadType, ProtocolId } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import { describeConfigured, describeProposals } from '../describe.js';
import type { IkeSa } from '../ike-sa.js';
import { finishIkeRekey } from '../lifecycle.js';
import { buildProposals, proposalForSelection, selectProposal } from '../proposal-select.js';
import { usesAddke } from '../proposal-string.js';
import type { QueuedTask } from '../tasks.js';
import { NONCE_LENGTH, firstKeMethod, keOf, offersKe, rekeyProposals, startSeries } from './ccs-series.js';
import type { InitiatorPurpose, Refusal, ResponderPurpose } from './ccs-series.js';

type IkeRekeyTask = Extract<QueuedTask, { kind: 'rekey-ike' }>;

/** Initiator: start rekeying the IKE SA. False if it cannot (no key exchange to offer). */
export function startIkeRekey(sa: IkeSa, task: IkeRekeyTask, now: number): boolean {
  const conn = sa.connection;
  if (!conn) return false;
  const ni = sa.host.random(NONCE_LENGTH, 'nonce');
  const spi = sa.host.freshIkeSpi();
  // RFC 9370 §2.2.5.1: the childless post-quantum rekey asks for additional key exchanges only.
  const pq = conn.ikeProposals.filter(usesAddke);
  const offered = task.postQuantum === true && pq.length > 0 ? buildProposals(pq, { spi }) : rekeyProposals(sa.suite, ProtocolId.IKE, conn.ikeProposals, spi);
  // Reuse the Transform Type 4 method of the SA being replaced (RFC 7296 §2.18 needs a KE).
  const current = sa.suite ? keOf(sa.suite) : undefined;
  const method = current !== undefined && offersKe(offered, current) ? current : firstKeMethod(offered);
  if (method === undefined) return false;
  const purpose: InitiatorPurpose = {
    kind: 'rekey-ike',
    task,
    request: () => ({ before: [], after: [] }),
    spiProblem: (_sa, s) => (s.length !== 8 || s.every((b) => b === 0) ? 'responder sent an invalid IKE SPI' : undefined),
    accept: () => undefined,
    peerRekey: (s) => s.peerIkeRekey,
    finish(s, series, suite, nr, t) {
      // RFC 9867 §3.2 ¶4: one made without the fresh PPK this connection requires is deleted at
      // once, with the Child SAs the rekey moved to it on both sides: no tunnel without it.
      const unwanted = series.ppkUnwanted === true && series.lostCollision !== true;
      finishIkeRekey(s, { weInitiated: true, suite, ni: series.ni, nr, spiI: series.newSpi, spiR: suite.spi, secrets: series.secrets, redundant: series.lostCollision === true, ...(series.ppk ? { ppk: series.ppk } : {}), ...(unwanted ? { unwanted } : {}) }, t);
    },
    abandon: () => undefined,
    retryAt(s, at) {
      s.ikeRekeyAt = at;
    },
  };
  startSeries(sa, ni, { purpose, offered, newSpi: spi, keMethodId: method }, now);
  return true;
}

/** Responder: the peer rekeys the IKE SA (a collision with our own rekey is settled by the nonces). */
export function ikeRekeyResponder(sa: IkeSa, inner: readonly Payload[]): ResponderPurpose | Refusal {
  const conn = sa.connection;
  const saPayload = inner.find((p) => p.type === PayloadType.SA);
  if (!conn || saPayload?.type !== PayloadType.SA) return { notify: NotifyType.INVALID_SYNTAX, reason: 'IKE SA rekey without SA' };
  const suite = selectProposal(conn.ikeProposals, saPayload.proposals);
  if (!suite) return { notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: 'no acceptable proposal for the IKE SA rekey', received: describeProposals(saPayload.proposals), configured: describeConfigured(conn.ikeProposals) };
  if (suite.spi.length !== 8 || suite.spi.every((b) => b === 0)) return { notify: NotifyType.INVALID_SYNTAX, reason: 'the new IKE SPI is not 8 non-zero octets' };
  return {
    kind: 'rekey-ike',
    suite,
    newSpi: (s) => s.host.freshIkeSpi(),
    response: (spiIn) => ({ before: [{ type: PayloadType.SA, critical: false, proposals: [proposalForSelection(suite, ProtocolId.IKE, spiIn)] }], after: [] }),
    noteRekey(s, nonces) {
      s.peerIkeRekey = { nonces };
    },
    finish(s, series, now) {
      const created = finishIkeRekey(s, { weInitiated: false, suite, ni: series.ni, nr: series.nr, spiI: series.spiPeer, spiR: series.spiIn, secrets: series.secrets, redundant: false, ...(series.ppk ? { ppk: series.ppk } : {}) }, now);
      if (s.peerIkeRekey) s.peerIkeRekey.replacement = created;
    },
    expired(s) {
      s.peerIkeRekey = undefined;
    },
  };
}
