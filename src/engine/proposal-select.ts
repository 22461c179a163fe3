/**
 * SA payload proposals: building them from configured specs, the responder's choice of
 * exactly one transform per type (RFC 7296 §2.7, §3.3.6) including the ADDKE types and NONE
 * (RFC 9370 §2.2.1), and the initiator's check of the responder's choice.
 */
import { KeMethodId, ProtocolId, TransformType, TransformAttr, isKeTransformType } from '../wire/constants.js';
import type { Proposal, Transform } from '../wire/types.js';
import type { AlgChoice, ProposalSpec } from './proposal-string.js';

/** The negotiated suite: one algorithm per transform type. NONE ADDKE types are absent. */
export interface SelectedSuite {
  readonly proposalNum: number;
  readonly spi: Uint8Array;
  readonly chosen: ReadonlyMap<number, AlgChoice>;
}

/**
 * Every transform type we know, ascending (RFC 7296 §3.3.2 ENCR 1 .. ESN 5, RFC 9370 §3.2
 * ADDKE1..7 = 6..12): proposals are built and matched in this order, without sorting a type list
 * per proposal.
 */
const TRANSFORM_TYPES: readonly number[] = Array.from({ length: TransformType.ADDKE7 }, (_, i) => i + TransformType.ENCR);


function transformOf(type: number, choice: AlgChoice): Transform {
  return {
    type,
    id: choice.id,
    attributes: choice.keyBits === undefined ? [] : [{ type: TransformAttr.KEY_LENGTH, value: choice.keyBits }],
  };
}

function choiceOf(t: Transform): AlgChoice {
  const kl = t.attributes.find((a) => a.type === TransformAttr.KEY_LENGTH);
  return kl !== undefined && typeof kl.value === 'number' ? { id: t.id, keyBits: kl.value } : { id: t.id };
}

function sameChoice(a: AlgChoice, b: AlgChoice): boolean {
  return a.id === b.id && a.keyBits === b.keyBits;
}

export interface BuildOptions {
  /** Leave out KE and ADDKE transforms (ESP proposals inside IKE_AUTH, RFC 7296 §1.2). */
  readonly withoutKe?: boolean;
  /** Only the first KE method and no ADDKE types: for a Child SA without PFS. */
  readonly spi: Uint8Array;
}

/** Build the SA payload proposals for our specs, numbered from 1 (RFC 7296 §3.3.1). */
export function buildProposals(specs: readonly ProposalSpec[], opts: BuildOptions): Proposal[] {
  return specs.map((spec, i) => {
    const transforms: Transform[] = [];
    for (const type of TRANSFORM_TYPES) {
      if (!spec.transforms.has(type)) continue;
      if (opts.withoutKe === true && isKeTransformType(type)) continue;
      for (const c of spec.transforms.get(type) ?? []) transforms.push(transformOf(type, c));
    }
    return {
      num: i + 1,
      protocolId: spec.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP,
      spi: opts.spi,
      transforms,
    };
  });
}

/** Group a received proposal's transforms by type, keeping order. */
function offeredByType(p: Proposal): Map<number, AlgChoice[]> {
  const m = new Map<number, AlgChoice[]>();
  for (const t of p.transforms) {
    const list = m.get(t.type) ?? [];
    list.push(choiceOf(t));
    m.set(t.type, list);
  }
  return m;
}

/** Types where an absent transform equals the NONE (0) choice. */
function noneAllowedWhenAbsent(type: number): boolean {
  return type === TransformType.INTEG || type === TransformType.ESN || (isKeTransformType(type) && type !== TransformType.KE);
}

function matchOne(local: ProposalSpec, offered: Proposal, ignoreKe: boolean): Map<number, AlgChoice> | undefined {
  const protocolId = local.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP;
  if (offered.protocolId !== protocolId) return undefined;
  const theirs = offeredByType(offered);
  const chosen = new Map<number, AlgChoice>();
  const usedKe: AlgChoice[] = [];
  // A transform type we do not know (or the reserved 0): cannot accept.
  for (const type of theirs.keys()) if (type < TransformType.ENCR || type > TransformType.ADDKE7) return undefined;
  for (const type of TRANSFORM_TYPES) {
    if (!local.transforms.has(type) && !theirs.has(type)) continue;
    if (ignoreKe && isKeTransformType(type)) continue;
    const mine = local.transforms.get(type);
    const other = theirs.get(type);
    if (mine === undefined || other === undefined) {
      // RFC 9370 §2.2.1: an omitted ADDKE type counts as proposed with NONE.
      const present = mine ?? other ?? [];
      if (noneAllowedWhenAbsent(type) && present.some((c) => c.id === 0)) continue;
      if (type === TransformType.ESN && mine === undefined) continue;
      return undefined;
    }
    let pick: AlgChoice | undefined;
    for (const c of mine) {
      if (!other.some((o) => sameChoice(o, c))) continue;
      // RFC 9370 §2.2.1: no method twice across the KE and ADDKE types (NONE excepted).
      if (isKeTransformType(type) && c.id !== KeMethodId.NONE && usedKe.some((u) => sameChoice(u, c))) continue;
      pick = c;
      break;
    }
    if (pick === undefined) return undefined;
    if (isKeTransformType(type) && pick.id !== KeMethodId.NONE) usedKe.push(pick);
    if (isKeTransformType(type) && type !== TransformType.KE && pick.id === KeMethodId.NONE) continue;
    if (type === TransformType.INTEG && pick.id === 0) continue;
    chosen.set(type, pick);
  }
  return chosen;
}

/**
 * Responder: choose one proposal and one transform per type. Our configured order wins
 * (like strongSwan's default), then the peer's order. `ignoreKe` for IKE_AUTH's Child SA.
 */
export function selectProposal(
  local: readonly ProposalSpec[],
  offered: readonly Proposal[],
  ignoreKe = false,
): SelectedSuite | undefined {
  for (const spec of local) {
    for (const p of offered) {
      const chosen = matchOne(spec, p, ignoreKe);
      if (chosen) return { proposalNum: p.num, spi: p.spi, chosen };
    }
  }
  return undefined;
}

/** The response SA payload's single proposal for a selected suite (RFC 7296 §3.3). */
export function proposalForSelection(sel: SelectedSuite, protocolId: number, spi: Uint8Array): Proposal {
  const transforms: Transform[] = [];
  for (const type of TRANSFORM_TYPES) {
    const c = sel.chosen.get(type);
    if (c) transforms.push(transformOf(type, c));
  }
  return { num: sel.proposalNum, protocolId, spi, transforms };
}

/**
 * Initiator: check the responder's answer — exactly one proposal, one transform per type,
 * each one of those we offered in that proposal number (RFC 7296 §3.3.6), no duplicate
 * key exchange method (RFC 9370 §2.2.1). Returns the suite or a reason.
 */
export function acceptSelection(
  offered: readonly Proposal[],
  answer: readonly Proposal[],
  ignoreKe = false,
): SelectedSuite | string {
  if (answer.length !== 1) return `responder returned ${answer.length} proposals, expected 1`;
  const a = answer[0];
  if (a === undefined) return 'no proposal';
  const mine = offered.find((p) => p.num === a.num);
  if (!mine) return `responder chose proposal #${a.num}, which we did not offer`;
  if (mine.protocolId !== a.protocolId) return 'responder changed the protocol ID';
  const chosen = new Map<number, AlgChoice>();
  const usedKe: AlgChoice[] = [];
  for (const t of a.transforms) {
    if (ignoreKe && isKeTransformType(t.type)) continue;
    if (chosen.has(t.type)) return `responder chose two transforms of type ${t.type}`;
    const c = choiceOf(t);
    if (!mine.transforms.some((m) => m.type === t.type && sameChoice(choiceOf(m), c))) {
      return `responder chose transform ${t.type}/${t.id}, which we did not offer`;
    }
    if (isKeTransformType(t.type) && c.id !== KeMethodId.NONE) {
      if (usedKe.some((u) => sameChoice(u, c))) return `responder chose key exchange method ${c.id} twice`;
      usedKe.push(c);
    }
    if (isKeTransformType(t.type) && t.type !== TransformType.KE && c.id === KeMethodId.NONE) continue;
    if (t.type === TransformType.INTEG && c.id === 0) continue;
    chosen.set(t.type, c);
  }
  // Every type we offered must be answered, unless NONE was among our choices for it.
  const ourTypes = new Set(mine.transforms.map((t) => t.type));
  for (const type of ourTypes) {
    if (ignoreKe && isKeTransformType(type)) continue;
    if (chosen.has(type)) continue;
    if (a.transforms.some((t) => t.type === type)) continue;
    const ours = mine.transforms.filter((t) => t.type === type);
    if (ours.some((t) => t.id === 0) && noneAllowedWhenAbsent(type)) continue;
    if (type === TransformType.ESN) continue;
    return `responder omitted transform type ${type}`;
  }
  return { proposalNum: a.num, spi: a.spi, chosen };
}

/** The additional key exchange methods of a suite, in transform-type order (RFC 9370 §2.2.1). */
export function additionalMethods(sel: SelectedSuite): { type: number; method: number }[] {
  const out: { type: number; method: number }[] = [];
  for (let t = TransformType.ADDKE1; t <= TransformType.ADDKE7; t++) {
    const c = sel.chosen.get(t);
    if (c !== undefined && c.id !== KeMethodId.NONE) out.push({ type: t, method: c.id });
  }
  return out;
}

const NO_SPI = new Uint8Array(0);
/** Suites kept by SAs, by what was chosen; bounded (distinct suites come from the configuration's proposals). */
const SHARED_SUITES = new Map<string, SelectedSuite>();
const SHARED_SUITES_MAX = 1024;

/**
 * The suite an SA keeps for its lifetime, one object for every SA with the same choice: the
 * transforms and proposal number of `suite`, without its SPI (which the SA holds elsewhere and
 * which nothing reads from the kept suite). Each SA would otherwise hold a Map and an SPI
 * buffer of its own (about 450 bytes).
 */
export function sharedSuite(suite: SelectedSuite): SelectedSuite {
  let key = `${suite.proposalNum}`;
  for (const [type, c] of suite.chosen) key += `|${type}:${c.id}:${c.keyBits ?? ''}`;
  const known = SHARED_SUITES.get(key);
  if (known) return known;
  if (SHARED_SUITES.size >= SHARED_SUITES_MAX) SHARED_SUITES.clear();
  const chosen = new Map<number, AlgChoice>();
  for (const [type, c] of suite.chosen) chosen.set(type, c.keyBits === undefined ? { id: c.id } : { id: c.id, keyBits: c.keyBits });
  const s: SelectedSuite = { proposalNum: suite.proposalNum, spi: NO_SPI, chosen };
  SHARED_SUITES.set(key, s);
  return s;
}
