/**
 * strongSwan proposal strings ("aes256gcm16-prfsha384-x25519-ke1_mlkem768") parsed into
 * per-transform-type algorithm lists.
 *
 * The keywords follow strongSwan's proposal syntax so that users can paste the strings they
 * already write in swanctl.conf. Transform types are those of RFC 7296 §3.3.2 plus the
 * Additional Key Exchange types 6..12 of RFC 9370 §2.2.1 (`ke1_` .. `ke7_` prefixes).
 */
import { EncrId, EsnId, IntegId, KeMethodId, PrfId, TransformType } from '../wire/constants.js';

export type ProposalProtocol = 'ike' | 'esp';

/** One algorithm choice: transform ID plus key length in bits where the transform takes one. */
export interface AlgChoice {
  readonly id: number;
  readonly keyBits?: number;
}

/**
 * A proposal as configured: for each transform type, the algorithms in preference order.
 * ADDKE types may contain KeMethodId.NONE (written `ke1_none`), which makes that additional
 * exchange optional (RFC 9370 §2.2.1).
 */
export interface ProposalSpec {
  readonly protocol: ProposalProtocol;
  readonly text: string;
  readonly transforms: ReadonlyMap<number, readonly AlgChoice[]>;
}

export class ProposalSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProposalSyntaxError';
  }
}

interface EncrKeyword {
  readonly id: number;
  readonly keyBits?: number;
  readonly aead: boolean;
}

const ENCR: Readonly<Record<string, EncrKeyword>> = {
  aes128: { id: EncrId.AES_CBC, keyBits: 128, aead: false },
  aes192: { id: EncrId.AES_CBC, keyBits: 192, aead: false },
  aes256: { id: EncrId.AES_CBC, keyBits: 256, aead: false },
  aes128gcm16: { id: EncrId.AES_GCM_16, keyBits: 128, aead: true },
  aes192gcm16: { id: EncrId.AES_GCM_16, keyBits: 192, aead: true },
  aes256gcm16: { id: EncrId.AES_GCM_16, keyBits: 256, aead: true },
  aes128gcm128: { id: EncrId.AES_GCM_16, keyBits: 128, aead: true },
  aes256gcm128: { id: EncrId.AES_GCM_16, keyBits: 256, aead: true },
  aes128gcm: { id: EncrId.AES_GCM_16, keyBits: 128, aead: true },
  aes256gcm: { id: EncrId.AES_GCM_16, keyBits: 256, aead: true },
  chacha20poly1305: { id: EncrId.CHACHA20_POLY1305, aead: true },
};

/** `sha256` names an integrity algorithm and, in IKE proposals without `prf…`, the PRF too. */
const INTEG: Readonly<Record<string, { integ: number; prf: number }>> = {
  sha256: { integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256 },
  sha2_256: { integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256 },
  sha384: { integ: IntegId.HMAC_SHA2_384_192, prf: PrfId.HMAC_SHA2_384 },
  sha2_384: { integ: IntegId.HMAC_SHA2_384_192, prf: PrfId.HMAC_SHA2_384 },
  sha512: { integ: IntegId.HMAC_SHA2_512_256, prf: PrfId.HMAC_SHA2_512 },
  sha2_512: { integ: IntegId.HMAC_SHA2_512_256, prf: PrfId.HMAC_SHA2_512 },
};

const PRF: Readonly<Record<string, number>> = {
  prfsha256: PrfId.HMAC_SHA2_256,
  prfsha384: PrfId.HMAC_SHA2_384,
  prfsha512: PrfId.HMAC_SHA2_512,
};

/** Key exchange method keywords (RFC 7296 §3.3.2 Transform Type 4 IDs; ML-KEM draft IDs 35-37). */
export const KE_KEYWORDS: Readonly<Record<string, number>> = {
  modp2048: KeMethodId.MODP2048,
  modp3072: KeMethodId.MODP3072,
  modp4096: KeMethodId.MODP4096,
  ecp256: KeMethodId.ECP256,
  ecp384: KeMethodId.ECP384,
  ecp521: KeMethodId.ECP521,
  x25519: KeMethodId.CURVE25519,
  curve25519: KeMethodId.CURVE25519,
  x448: KeMethodId.CURVE448,
  curve448: KeMethodId.CURVE448,
  mlkem512: KeMethodId.MLKEM512,
  mlkem768: KeMethodId.MLKEM768,
  mlkem1024: KeMethodId.MLKEM1024,
  none: KeMethodId.NONE,
};

/** The keyword for a KE method ID, as used in strongSwan proposals. */
export function keMethodKeyword(id: number): string {
  for (const [k, v] of Object.entries(KE_KEYWORDS)) {
    if (v === id && k !== 'curve25519' && k !== 'curve448') return k;
  }
  return `ke${id}`;
}

/** Parse one proposal string for IKE or ESP. Throws ProposalSyntaxError with the bad token. */
export function parseProposal(text: string, protocol: ProposalProtocol): ProposalSpec {
  const map = new Map<number, AlgChoice[]>();
  const add = (type: number, choice: AlgChoice): void => {
    const list = map.get(type) ?? [];
    if (!list.some((c) => c.id === choice.id && c.keyBits === choice.keyBits)) list.push(choice);
    map.set(type, list);
  };
  const impliedPrf: AlgChoice[] = [];
  let aead = false;
  let nonAead = false;
  const tokens = text.trim().toLowerCase().split('-');
  if (tokens.length === 0 || tokens[0] === '') throw new ProposalSyntaxError('empty proposal');
  for (const token of tokens) {
    const enc = ENCR[token];
    if (enc) {
      if (enc.aead) aead = true;
      else nonAead = true;
      add(TransformType.ENCR, enc.keyBits === undefined ? { id: enc.id } : { id: enc.id, keyBits: enc.keyBits });
      continue;
    }
    const integ = INTEG[token];
    if (integ) {
      add(TransformType.INTEG, { id: integ.integ });
      impliedPrf.push({ id: integ.prf });
      continue;
    }
    const prf = PRF[token];
    if (prf !== undefined) {
      if (protocol === 'esp') throw new ProposalSyntaxError(`'${token}' is an IKE PRF, not valid in an ESP proposal`);
      add(TransformType.PRF, { id: prf });
      continue;
    }
    if (token === 'esn' || token === 'noesn') {
      if (protocol === 'ike') throw new ProposalSyntaxError(`'${token}' is only valid in ESP proposals`);
      add(TransformType.ESN, { id: token === 'esn' ? EsnId.ESN : EsnId.NO_ESN });
      continue;
    }
    const addke = /^ke([1-7])_(.+)$/.exec(token);
    if (addke) {
      const method = KE_KEYWORDS[addke[2] ?? ''];
      if (method === undefined) throw new ProposalSyntaxError(`unknown key exchange method '${addke[2] ?? ''}' in '${token}'`);
      add(TransformType.ADDKE1 + Number(addke[1]) - 1, { id: method });
      continue;
    }
    const ke = KE_KEYWORDS[token];
    if (ke !== undefined) {
      add(TransformType.KE, { id: ke });
      continue;
    }
    throw new ProposalSyntaxError(`unknown algorithm '${token}' in proposal '${text}'`);
  }
  if (!map.has(TransformType.ENCR)) throw new ProposalSyntaxError(`proposal '${text}' names no encryption algorithm`);
  if (aead && nonAead) throw new ProposalSyntaxError(`proposal '${text}' mixes AEAD and non-AEAD ciphers`);
  if (aead && map.has(TransformType.INTEG)) {
    // RFC 5282 §8: an AEAD proposal carries no integrity transform (or only NONE).
    map.delete(TransformType.INTEG);
  }
  if (!aead && !map.has(TransformType.INTEG)) throw new ProposalSyntaxError(`proposal '${text}' needs an integrity algorithm (e.g. sha256)`);
  if (protocol === 'ike') {
    if (!map.has(TransformType.PRF)) {
      if (impliedPrf.length === 0) throw new ProposalSyntaxError(`IKE proposal '${text}' needs a PRF (e.g. prfsha384)`);
      for (const p of impliedPrf) add(TransformType.PRF, p);
    }
    if (!map.has(TransformType.KE)) throw new ProposalSyntaxError(`IKE proposal '${text}' needs a key exchange method (e.g. x25519)`);
    if (map.get(TransformType.KE)?.some((c) => c.id === KeMethodId.NONE)) {
      throw new ProposalSyntaxError(`IKE proposal '${text}': the IKE_SA_INIT key exchange cannot be 'none'`);
    }
  } else if (!map.has(TransformType.ESN)) {
    add(TransformType.ESN, { id: EsnId.NO_ESN });
  }
  for (let t = TransformType.ADDKE1; t <= TransformType.ADDKE7; t++) {
    if (map.has(t) && protocol === 'ike' && !map.has(TransformType.KE)) {
      throw new ProposalSyntaxError(`'ke${t - TransformType.ADDKE1 + 1}_' needs a main key exchange method`);
    }
  }
  return { protocol, text, transforms: map };
}

/** Parse a list of proposal strings (a connection may offer several, e.g. hybrid + classic). */
export function parseProposals(texts: readonly string[], protocol: ProposalProtocol): ProposalSpec[] {
  return texts.map((t) => parseProposal(t, protocol));
}

/** True if the proposal negotiates any additional key exchange other than NONE. */
export function usesAddke(spec: ProposalSpec): boolean {
  for (let t = TransformType.ADDKE1; t <= TransformType.ADDKE7; t++) {
    if (spec.transforms.get(t)?.some((c) => c.id !== KeMethodId.NONE)) return true;
  }
  return false;
}
