/**
 * Child SAs: their state inside the IKE SA, the ESP proposal and traffic selectors offered
 * and answered (RFC 7296 §1.2, §1.3.1, §2.9), and the KEYMAT split (RFC 7296 §2.17, with the
 * additional key exchanges of RFC 9370 §2.2.4).
 */
import { childKeymat, skeyseedPpk } from '../crypto/keys.js';
import { espKeyLengths } from '../crypto/esp-algs.js';
import { EsnId, NotifyType, PayloadType, ProtocolId, TransformType } from '../wire/constants.js';
import type { Payload, Proposal, TrafficSelector } from '../wire/types.js';
import type { IkeSa, SharedSecret } from './ike-sa.js';
import type { PendingChild } from './tasks/child-in-auth.js';
import type { CcsPpk } from './ppk-ccs.js';
import { find, findNotify, notify } from './payloads.js';
import { acceptSelection, buildProposals, proposalForSelection, selectProposal, sharedSuite } from './proposal-select.js';
import type { SelectedSuite } from './proposal-select.js';
import { canonicalSelectors, formatSelector, isSubset, narrow } from './traffic-selectors.js';
import { describeConfigured, describeProposals } from './describe.js';
import type { ChildConfig, ChildSaInfo } from './types.js';
import { packed, readU32, u32 } from './util.js';

/** A Child SA as the IKE SA keeps it. `info` is what events report. */
export interface ChildSa {
  info: ChildSaInfo;
  readonly config: ChildConfig;
  /** Shared by this Child SA, the SAs that rekey it and its policies (data plane, RFC 4301 §4.4). */
  readonly reqid: number;
  /** Which directions the data plane was told to install (the outbound one waits on a rekey we answered). */
  readonly installed: { in: boolean; out: boolean };
  /** Bytes and packets the data plane reported, per direction. */
  usage?: { readonly bytes: number; readonly packets: number };
  /** The negotiated ESP suite, with KE/ADDKE transforms when PFS was used. */
  readonly suite: SelectedSuite;
  state: 'installed' | 'rekeying' | 'rekeyed' | 'deleting';
  readonly createdAt: number;
  rekeyAt?: number;
  expireAt?: number;
  /**
   * A rekey of this SA that the peer started and we answered, kept to resolve a collision with
   * our own rekey by the nonces (RFC 7296 §2.8.1, RFC 9370 §2.2.4).
   */
  peerRekey?: { readonly nonces: readonly Uint8Array[]; replacement?: ChildSa };
}

/** A fresh inbound ESP SPI, unused on this host; values below 256 are reserved (RFC 4303 §2.1). */
export function newEspSpi(sa: IkeSa): Uint8Array {
  const given = sa.host.allocateSpi?.({ src: sa.remote.address, dst: sa.local.address });
  if (given !== undefined && given >= 256 && given <= 0xffffffff && !sa.host.spis.inboundInUse(given)) return u32(given);
  for (;;) {
    const spi = sa.host.random(4, 'esp-spi');
    const v = readU32(spi);
    if (v >= 256 && !sa.host.spis.inboundInUse(v)) return spi;
  }
}

/**
 * Why the peer's ESP SPI cannot name a new Child SA, if it cannot: 0 is reserved for local use
 * and 1-255 by IANA (RFC 4303 §2.1), and one already used by another of our Child SAs with this
 * peer would make two SAs share it.
 */
export function peerSpiProblem(sa: IkeSa, spi: Uint8Array): string | undefined {
  if (spi.length !== 4) return `ESP SPI of ${spi.length} bytes`;
  const v = readU32(spi);
  if (v < 256) return `reserved ESP SPI ${v}`;
  if (sa.host.spis.outboundInUse(sa.remote.address, v)) return `ESP SPI ${v.toString(16).padStart(8, '0')} is already used by another Child SA`;
  return undefined;
}

/** Initiator: the SA/TS payloads offering the first Child SA in IKE_AUTH (no KE there); `tsi`: our selectors. */
export function offerChild(sa: IkeSa, config: ChildConfig, tsi: readonly TrafficSelector[] = config.localTs): { pending: PendingChild; payloads: Payload[] } {
  const spiIn = newEspSpi(sa);
  const offered = buildProposals(config.espProposals, { spi: spiIn, withoutKe: true });
  const pending: PendingChild = { config, spiIn, offered, tsi, tsr: config.remoteTs };
  return { pending, payloads: childPayloads(config.mode, offered, tsi, config.remoteTs) };
}

/** [N(USE_TRANSPORT_MODE)], SA, TSi, TSr — in the order strongSwan sends them. */
export function childPayloads(mode: 'tunnel' | 'transport', proposals: Proposal[], tsi: readonly TrafficSelector[], tsr: readonly TrafficSelector[]): Payload[] {
  const payloads: Payload[] = [];
  if (mode === 'transport') payloads.push(notify(NotifyType.USE_TRANSPORT_MODE));
  payloads.push(
    { type: PayloadType.SA, critical: false, proposals },
    { type: PayloadType.TSi, critical: false, selectors: [...tsi] },
    { type: PayloadType.TSr, critical: false, selectors: [...tsr] },
  );
  return payloads;
}

/** Parameters of the exchange that keyed a Child SA. */
export interface ChildKeying {
  /** Nonces of the exchange: the IKE SA's for IKE_AUTH, the CREATE_CHILD_SA's otherwise. */
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  /** SK(0) .. SK(n) with their methods, empty without a key exchange (RFC 9370 §2.2.4). */
  readonly secrets: readonly SharedSecret[];
  /** Did we initiate the exchange that created the SA? Decides which keys are outbound. */
  readonly weInitiated: boolean;
  readonly spiIn: Uint8Array;
  readonly spiOut: Uint8Array;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  readonly mode: 'tunnel' | 'transport';
  readonly rekeyOf?: number;
  /** The request ID to keep (a rekey keeps the replaced SA's); a new one otherwise. */
  readonly reqid?: number;
  /** A fresh PPK of the CREATE_CHILD_SA (RFC 9867 §3.2): SK_d' = prf+(PPK, SK_d) keys the SA. */
  readonly ppk?: CcsPpk;
}

/** Build a Child SA: KEYMAT = prf+(SK_d, [SK(0) |] Ni | Nr [| SK(1) .. SK(n)]), SK_d' for SK_d with a fresh PPK (RFC 9867 §3.2.1). */
export function makeChild(sa: IkeSa, config: ChildConfig, negotiated: SelectedSuite, k: ChildKeying, now: number): ChildSa {
  // Kept for the SA's lifetime: one object for all Child SAs with this choice.
  const suite = sharedSuite(negotiated);
  const encr = suite.chosen.get(TransformType.ENCR);
  if (!encr) throw new Error('ESP suite without ENCR');
  const integ = suite.chosen.get(TransformType.INTEG)?.id;
  const lengths = espKeyLengths(encr.id, encr.keyBits, integ ?? 0);
  const skD = k.ppk ? skeyseedPpk(sa.prfId, k.ppk.key, sa.requireKeys().skD) : sa.requireKeys().skD;
  const keymat = childKeymat(sa.prfId, skD, k.secrets.map((s) => s.secret), k.ni, k.nr, 2 * (lengths.encr + lengths.integ));
  // RFC 7296 §2.17: the keys of the exchange initiator's outbound direction come first,
  // encryption before integrity. Copied into one buffer of exactly their size (packed), which
  // the Child SA keeps for its lifetime instead of the whole prf+ output.
  const e = lengths.encr;
  const a = lengths.integ;
  const [encrI, integI, encrR, integR] = packed([keymat.subarray(0, e), keymat.subarray(e, e + a), keymat.subarray(e + a, 2 * e + a), keymat.subarray(2 * e + a, 2 * (e + a))]) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const keys = { encrI, integI, encrR, integR };
  // What went into the KEYMAT, not what the proposal named.
  const keMethods = k.secrets.map((s) => s.method);
  const base: ChildSaInfo = {
    name: config.name,
    spiIn: readU32(k.spiIn),
    spiOut: readU32(k.spiOut),
    encr,
    esn: suite.chosen.get(TransformType.ESN)?.id === EsnId.ESN,
    mode: k.mode,
    localTs: canonicalSelectors(k.localTs, config.localTs),
    remoteTs: canonicalSelectors(k.remoteTs, config.remoteTs),
    keys,
    initiator: k.weInitiated,
    encap: sa.behindNat,
    keMethods,
    ...(k.rekeyOf === undefined ? {} : { rekeyOf: k.rekeyOf }),
    ...(k.ppk === undefined ? {} : { ppk: k.ppk.id }),
  };
  const info: ChildSaInfo = integ === undefined ? base : { ...base, integ };
  const reqid = k.reqid ?? sa.host.reqidFor(sa.connection?.name ?? '', config.name);
  return { info, config, suite, reqid, installed: { in: false, out: false }, state: 'installed', createdAt: now };
}

/** Initiator: the responder's answer about the Child SA in the IKE_AUTH response. */
export function acceptChild(sa: IkeSa, pending: PendingChild, inner: readonly Payload[], now: number): ChildSa | string {
  const saPayload = find(inner, PayloadType.SA);
  const tsi = find(inner, PayloadType.TSi);
  const tsr = find(inner, PayloadType.TSr);
  if (!saPayload || !tsi || !tsr) return 'no SA/TSi/TSr for the Child SA';
  const suite = acceptSelection(pending.offered, saPayload.proposals, true);
  if (typeof suite === 'string') return `invalid ESP proposal answer: ${suite}`;
  const spiProblem = peerSpiProblem(sa, suite.spi);
  if (spiProblem) return spiProblem;
  if (!isSubset(tsi.selectors, pending.tsi) || !isSubset(tsr.selectors, pending.tsr)) return 'responder widened the traffic selectors';
  const transport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
  if (pending.config.mode === 'transport' && !transport) return 'responder refused transport mode';
  return makeChild(sa, pending.config, suite, {
    ni: sa.ni,
    nr: sa.nr,
    secrets: [],
    weInitiated: true,
    spiIn: pending.spiIn,
    spiOut: suite.spi,
    localTs: tsi.selectors,
    remoteTs: tsr.selectors,
    mode: transport ? 'transport' : 'tunnel',
  }, now);
}

/** The responder's choice for a Child SA request: config, suite and narrowed selectors. */
export interface ChildChoice {
  readonly config: ChildConfig;
  readonly suite: SelectedSuite;
  readonly tsi: TrafficSelector[];
  readonly tsr: TrafficSelector[];
  readonly mode: 'tunnel' | 'transport';
}

/**
 * Responder: pick the child config and ESP proposal for an offer and narrow its traffic
 * selectors (RFC 7296 §2.9). `withKe`: the proposals may carry KE/ADDKE (CREATE_CHILD_SA).
 * Returns the notify type to refuse with (NO_PROPOSAL_CHOSEN or TS_UNACCEPTABLE) otherwise.
 */
export function chooseChild(children: readonly ChildConfig[], inner: readonly Payload[], withKe: boolean, remoteTs?: readonly TrafficSelector[]): ChildChoice | number {
  const saPayload = find(inner, PayloadType.SA);
  const tsi = find(inner, PayloadType.TSi);
  const tsr = find(inner, PayloadType.TSr);
  if (!saPayload || !tsi || !tsr) return NotifyType.INVALID_SYNTAX;
  const wantTransport = findNotify(inner, NotifyType.USE_TRANSPORT_MODE) !== undefined;
  let tsMatched = false;
  for (const config of children) {
    // TSi are the initiator's (our remote) selectors, TSr ours (RFC 7296 §2.9).
    // `remoteTs`: the peer's side decided elsewhere (an address we assigned it, RFC 7296 §3.15).
    const narrowedI = narrow(tsi.selectors, remoteTs ?? config.remoteTs);
    const narrowedR = narrow(tsr.selectors, config.localTs);
    if (narrowedI.length === 0 || narrowedR.length === 0) continue;
    tsMatched = true;
    const suite = selectProposal(config.espProposals, saPayload.proposals, !withKe);
    if (!suite || suite.spi.length !== 4) continue;
    const mode = wantTransport && config.mode === 'transport' ? 'transport' : 'tunnel';
    return { config, suite, tsi: narrowedI, tsr: narrowedR, mode };
  }
  return tsMatched ? NotifyType.NO_PROPOSAL_CHOSEN : NotifyType.TS_UNACCEPTABLE;
}

/**
 * What a Child SA refusal was about, for the 'refused' event: the selectors or proposals the
 * peer sent and those of our children (RFC 7296 §2.9 TS_UNACCEPTABLE, §3.10.1 NO_PROPOSAL_CHOSEN).
 */
export function childRefusal(children: readonly ChildConfig[], inner: readonly Payload[], code: number): { received?: string; configured?: string } {
  const ts = (l: readonly TrafficSelector[]): string => l.map(formatSelector).join(',');
  if (code === NotifyType.TS_UNACCEPTABLE) {
    const tsi = find(inner, PayloadType.TSi);
    const tsr = find(inner, PayloadType.TSr);
    return { received: `TSi ${ts(tsi?.selectors ?? [])} TSr ${ts(tsr?.selectors ?? [])}`, configured: children.map((c) => `${c.name}: ${ts(c.remoteTs)} === ${ts(c.localTs)}`).join('; ') };
  }
  if (code === NotifyType.NO_PROPOSAL_CHOSEN) {
    const sa = find(inner, PayloadType.SA);
    return { received: describeProposals(sa?.proposals ?? []), configured: children.map((c) => `${c.name}: ${describeConfigured(c.espProposals)}`).join('; ') };
  }
  return {};
}

/** The response payloads for a chosen child: SA with our inbound SPI, TSi, TSr. */
export function answerPayloads(choice: ChildChoice, spiIn: Uint8Array): Payload[] {
  const proposal: Proposal = proposalForSelection(choice.suite, ProtocolId.ESP, spiIn);
  return childPayloads(choice.mode, [proposal], choice.tsi, choice.tsr);
}

/**
 * Responder: the first Child SA in IKE_AUTH. Returns the response payloads and the new Child
 * SA, or an error notify in its place (RFC 7296 §1.2: the IKE SA is still established).
 * No SA/TS payloads at all: a childless IKE_AUTH (RFC 6023).
 */
export function answerChild(
  sa: IkeSa,
  children: readonly ChildConfig[],
  inner: readonly Payload[],
  now: number,
  remoteTs?: readonly TrafficSelector[],
): { payloads: Payload[]; child?: ChildSa; refused?: { notify: number; reason: string; received?: string; configured?: string } } {
  if (!find(inner, PayloadType.SA) && !find(inner, PayloadType.TSi)) return { payloads: [] };
  const choice = chooseChild(children, inner, false, remoteTs);
  if (typeof choice === 'number') return { payloads: [notify(choice)], refused: { notify: choice, reason: 'Child SA refused', ...childRefusal(children, inner, choice) } };
  const spiProblem = peerSpiProblem(sa, choice.suite.spi);
  if (spiProblem) return { payloads: [notify(NotifyType.NO_PROPOSAL_CHOSEN)], refused: { notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: `Child SA refused: ${spiProblem}` } };
  const spiIn = newEspSpi(sa);
  const child = makeChild(sa, choice.config, choice.suite, {
    ni: sa.ni,
    nr: sa.nr,
    secrets: [],
    weInitiated: false,
    spiIn,
    spiOut: choice.suite.spi,
    localTs: choice.tsr,
    remoteTs: choice.tsi,
    mode: choice.mode,
  }, now);
  return { payloads: answerPayloads(choice, spiIn), child };
}
