/**
 * The first Child SA, negotiated inside IKE_AUTH (RFC 7296 §1.2, §2.9, §2.17): the ESP
 * proposal (key exchange transforms left out, as no KE rides in IKE_AUTH), traffic selector
 * narrowing, and KEYMAT = prf+(SK_d, Ni | Nr) split into the four keys.
 */
import { childKeymat } from '../crypto/keys.js';
import { espKeyLengths } from '../crypto/esp-algs.js';
import { EsnId, NotifyType, PayloadType, ProtocolId, TransformType } from '../wire/constants.js';
import type { Payload, Proposal, TrafficSelector } from '../wire/types.js';
import type { IkeSa, PendingChild } from './ike-sa.js';
import { find, findNotify, notify } from './payloads.js';
import { acceptSelection, buildProposals, proposalForSelection, selectProposal } from './proposal-select.js';
import type { SelectedSuite } from './proposal-select.js';
import { isSubset, narrow } from './traffic-selectors.js';
import type { ChildConfig, ChildSaInfo } from './types.js';
import { readU32 } from './util.js';

/** A fresh inbound ESP SPI; values below 256 are reserved (RFC 4303 §2.1). */
export function newEspSpi(random: (n: number) => Uint8Array): Uint8Array {
  for (;;) {
    const spi = random(4);
    if (readU32(spi) >= 256) return spi;
  }
}

/** Initiator: the SA/TS payloads offering a Child SA. */
export function offerChild(sa: IkeSa, config: ChildConfig): { pending: PendingChild; payloads: Payload[] } {
  const spiIn = newEspSpi((n) => sa.host.random(n));
  const offered = buildProposals(config.espProposals, { spi: spiIn, withoutKe: true });
  const pending: PendingChild = { config, spiIn, offered, tsi: config.localTs, tsr: config.remoteTs };
  const payloads: Payload[] = [];
  if (config.mode === 'transport') payloads.push(notify(NotifyType.USE_TRANSPORT_MODE));
  payloads.push(
    { type: PayloadType.SA, critical: false, proposals: offered },
    { type: PayloadType.TSi, critical: false, selectors: [...config.localTs] },
    { type: PayloadType.TSr, critical: false, selectors: [...config.remoteTs] },
  );
  return { pending, payloads };
}

function childInfo(
  sa: IkeSa,
  config: ChildConfig,
  suite: SelectedSuite,
  spiIn: Uint8Array,
  spiOut: Uint8Array,
  localTs: readonly TrafficSelector[],
  remoteTs: readonly TrafficSelector[],
  mode: 'tunnel' | 'transport',
): ChildSaInfo {
  const encr = suite.chosen.get(TransformType.ENCR);
  if (!encr) throw new Error('ESP suite without ENCR');
  const integ = suite.chosen.get(TransformType.INTEG)?.id;
  const lengths = espKeyLengths(encr.id, encr.keyBits, integ ?? 0);
  const k = sa.requireKeys();
  // RFC 7296 §2.17: initiator-to-responder keys first, encryption before integrity.
  const keymat = childKeymat(sa.prfId, k.skD, [], sa.ni, sa.nr, 2 * (lengths.encr + lengths.integ));
  let o = 0;
  const take = (n: number): Uint8Array => keymat.slice(o, (o += n));
  const keys = { encrI: take(lengths.encr), integI: take(lengths.integ), encrR: take(lengths.encr), integR: take(lengths.integ) };
  const base = {
    name: config.name,
    spiIn: readU32(spiIn),
    spiOut: readU32(spiOut),
    encr: encr.keyBits === undefined ? { id: encr.id } : { id: encr.id, keyBits: encr.keyBits },
    esn: suite.chosen.get(TransformType.ESN)?.id === EsnId.ESN,
    mode,
    localTs,
    remoteTs,
    keys,
    initiator: sa.isInitiator,
    encap: sa.behindNat,
  };
  return integ === undefined ? base : { ...base, integ };
}

/** Initiator: the responder's answer about the Child SA in the IKE_AUTH response. */
export function acceptChild(sa: IkeSa, pending: PendingChild, inner: readonly Payload[]): ChildSaInfo | string {
  const saPayload = find(inner, PayloadType.SA);
  const tsi = find(inner, PayloadType.TSi);
  const tsr = find(inner, PayloadType.TSr);
  if (!saPayload || !tsi || !tsr) return 'no SA/TSi/TSr for the Child SA';
  const suite = acceptSelection(pending.offered, saPayload.proposals, true);
  if (typeof suite === 'string') return `invalid ESP proposal answer: ${suite}`;
  if (suite.spi.length !== 4) return 'ESP SPI must be 4 bytes';
  if (!isSubset(tsi.selectors, pending.tsi) || !isSubset(tsr.selectors, pending.tsr)) return 'responder widened the traffic selectors';
  const transport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
  if (pending.config.mode === 'transport' && !transport) return 'responder refused transport mode';
  return childInfo(sa, pending.config, suite, pending.spiIn, suite.spi, tsi.selectors, tsr.selectors, transport ? 'transport' : 'tunnel');
}

/**
 * Responder: pick the child config and ESP proposal for the initiator's offer and narrow the
 * traffic selectors. Returns the response payloads and the new Child SA, or an error notify
 * (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) to put in the response instead (RFC 7296 §1.2: the IKE
 * SA is still established).
 */
export function answerChild(sa: IkeSa, children: readonly ChildConfig[], inner: readonly Payload[]): { payloads: Payload[]; child?: ChildSaInfo } {
  const saPayload = find(inner, PayloadType.SA);
  const tsi = find(inner, PayloadType.TSi);
  const tsr = find(inner, PayloadType.TSr);
  if (!saPayload || !tsi || !tsr) return { payloads: [] }; // childless IKE_AUTH (RFC 6023)
  const wantTransport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
  let noProposal = false;
  for (const config of children) {
    const suite = selectProposal(config.espProposals, saPayload.proposals, true);
    if (!suite) {
      noProposal = true;
      continue;
    }
    // TSi are the initiator's (our remote) selectors, TSr ours (RFC 7296 §2.9).
    const narrowedI = narrow(tsi.selectors, config.remoteTs);
    const narrowedR = narrow(tsr.selectors, config.localTs);
    if (narrowedI.length === 0 || narrowedR.length === 0) continue;
    if (suite.spi.length !== 4) continue;
    const spiIn = newEspSpi((n) => sa.host.random(n));
    const mode = wantTransport && config.mode === 'transport' ? 'transport' : 'tunnel';
    const proposal: Proposal = proposalForSelection(suite, ProtocolId.ESP, spiIn);
    const payloads: Payload[] = [];
    if (mode === 'transport') payloads.push(notify(NotifyType.USE_TRANSPORT_MODE));
    payloads.push(
      { type: PayloadType.SA, critical: false, proposals: [proposal] },
      { type: PayloadType.TSi, critical: false, selectors: narrowedI },
      { type: PayloadType.TSr, critical: false, selectors: narrowedR },
    );
    return { payloads, child: childInfo(sa, config, suite, spiIn, suite.spi, narrowedR, narrowedI, mode) };
  }
  return { payloads: [notify(noProposal && children.length > 0 ? NotifyType.NO_PROPOSAL_CHOSEN : NotifyType.TS_UNACCEPTABLE)] };
}
