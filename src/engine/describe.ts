/**
 * Algorithm names as strongSwan prints them (swanctl --list-sas, charon's logs), so that one
 * grep serves the logs of both: `AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768`
 * for an IKE SA, `AES_CBC-256/HMAC_SHA2_256_128/CURVE_25519` for a Child SA. The order is
 * strongSwan's: encryption, integrity, PRF, key exchange, additional key exchanges, ESN.
 */
import { EncrId, IntegId, KeMethodId, PrfId, ProtocolId, TransformAttrType, TransformType, nameOf } from '../wire/constants.js';
import type { Proposal, Transform } from '../wire/types.js';
import type { SelectedSuite } from './proposal-select.js';
import { buildProposals } from './proposal-select.js';
import type { ProposalSpec } from './proposal-string.js';

/** strongSwan's names where they differ from the IANA constant's (key_exchange_method_names). */
const KE_NAMES: Readonly<Record<number, string>> = {
  [KeMethodId.MODP1024_S160]: 'MODP_1024_160',
  [KeMethodId.MODP2048_S224]: 'MODP_2048_224',
  [KeMethodId.MODP2048_S256]: 'MODP_2048_256',
  [KeMethodId.BRAINPOOL_P224R1]: 'ECP_224_BP',
  [KeMethodId.BRAINPOOL_P256R1]: 'ECP_256_BP',
  [KeMethodId.BRAINPOOL_P384R1]: 'ECP_384_BP',
  [KeMethodId.BRAINPOOL_P512R1]: 'ECP_512_BP',
};

/** A key exchange method as strongSwan names it: MODP_2048, ECP_256, CURVE_25519, ML_KEM_768. */
const keNameCache = new Map<number, string>();

export function keMethodName(id: number): string {
  const special = KE_NAMES[id];
  if (special !== undefined) return special;
  const cached = keNameCache.get(id);
  if (cached !== undefined) return cached;
  const name = keMethodNameOf(id);
  // Bounded: one entry per 16-bit method ID at most.
  keNameCache.set(id, name);
  return name;
}

function keMethodNameOf(id: number): string {
  const n = nameOf(KeMethodId, id);
  const m = /^(MODP|ECP|CURVE)(\d+)$/.exec(n);
  if (m) return `${m[1]}_${m[2]}`;
  const k = /^MLKEM(\d+)$/.exec(n);
  return k ? `ML_KEM_${k[1]}` : n;
}

export function describeTransform(type: number, id: number, keyBits?: number): string {
  switch (type) {
    case TransformType.ENCR:
      return `${nameOf(EncrId, id)}${keyBits === undefined ? '' : `-${keyBits}`}`;
    case TransformType.PRF:
      return `PRF_${nameOf(PrfId, id)}`;
    case TransformType.INTEG:
      return nameOf(IntegId, id);
    case TransformType.ESN:
      return id === 1 ? 'ESN' : 'NO_EXT_SEQ';
    default:
      if (type === TransformType.KE) return keMethodName(id);
      return `KE${type - TransformType.ADDKE1 + 1}_${keMethodName(id)}`;
  }
}

/** The order strongSwan prints a proposal's transforms in. */
function rank(type: number): number {
  if (type === TransformType.ENCR) return 0;
  if (type === TransformType.INTEG) return 1;
  if (type === TransformType.PRF) return 2;
  if (type === TransformType.ESN) return 100;
  return type; // KE (4), then ADDKE1..7 (6..12)
}

/** Suites are immutable and shared between SAs where they equal the configured ones: each described once. */
const suiteNames = new WeakMap<SelectedSuite, string>();

/** e.g. "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768"; ESN only when used. */
export function describeSuite(s: SelectedSuite): string {
  let name = suiteNames.get(s);
  if (name === undefined) {
    name = describeSuiteOf(s);
    suiteNames.set(s, name);
  }
  return name;
}

function describeSuiteOf(s: SelectedSuite): string {
  const parts: string[] = [];
  const types = [...s.chosen.keys()].sort((a, b) => rank(a) - rank(b));
  for (const t of types) {
    const c = s.chosen.get(t);
    if (!c) continue;
    const keType = t === TransformType.KE || (t >= TransformType.ADDKE1 && t <= TransformType.ADDKE7);
    if ((keType && c.id === KeMethodId.NONE) || (t === TransformType.ESN && c.id !== 1)) continue;
    parts.push(describeTransform(t, c.id, c.keyBits));
  }
  return parts.join('/');
}

/** A received proposal's key length attribute (RFC 7296 §3.3.5), if it has one. */
function keyLength(t: Transform): number | undefined {
  const v = t.attributes.find((a) => a.type === TransformAttrType.KEY_LENGTH)?.value;
  return typeof v === 'number' ? v : undefined;
}

/**
 * Proposals as strongSwan logs them ("received proposals: IKE:AES_GCM_16-256/PRF_…/CURVE_25519,
 * IKE:…"), for the refusals that are a question of configuration (NO_PROPOSAL_CHOSEN).
 */
export function describeProposals(proposals: readonly Proposal[]): string {
  return proposals
    .map((p) => {
      const ts = [...p.transforms].sort((a, b) => rank(a.type) - rank(b.type));
      const parts = ts.filter((t) => !(t.type === TransformType.ESN && t.id !== 1)).map((t) => describeTransform(t.type, t.id, keyLength(t)));
      return `${nameOf(ProtocolId, p.protocolId)}:${parts.join('/')}`;
    })
    .join(', ');
}

/**
 * Configured proposals (the connection's strings, `aes256gcm16-prfsha384-x25519`) the way
 * describeProposals() prints received ones, so that a refusal's two sides read alike, as
 * strongSwan's "configured proposals: IKE:AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519".
 */
export function describeConfigured(specs: readonly ProposalSpec[]): string {
  // Once per connection's proposal list (they do not change; a reload makes new ones): a
  // refused IKE_SA_INIT, which anyone can send, must not rebuild it every time (5 µs each).
  let text = CONFIGURED.get(specs);
  if (text === undefined) {
    text = describeProposals(buildProposals(specs, { spi: new Uint8Array(0) }));
    CONFIGURED.set(specs, text);
  }
  return text;
}

const CONFIGURED = new WeakMap<readonly ProposalSpec[], string>();
