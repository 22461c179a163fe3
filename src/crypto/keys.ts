/**
 * IKEv2 key schedule: RFC 7296 §2.14 (IKE SA), §2.17 (Child SA), §2.18 (IKE SA rekey),
 * §2.15 (AUTH), RFC 9370 §2.2.2 / §2.2.4 (multiple key exchanges), RFC 9242 §3.3.2 (IntAuth).
 */
import { prf, prfKeyLength, prfPlus } from './prf.js';
import { NO_OCTETS, u32be } from './util.js';

export interface IkeSaKeys {
  skD: Uint8Array;
  skAi: Uint8Array;
  skAr: Uint8Array;
  skEi: Uint8Array;
  skEr: Uint8Array;
  skPi: Uint8Array;
  skPr: Uint8Array;
}

/**
 * RFC 8784 §3: a post-quantum preshared key mixed into the keys of the initial IKE SA:
 * SK_d = prf+(PPK, SK_d'), SK_pi = prf+(PPK, SK_pi'), SK_pr = prf+(PPK, SK_pr'), each as long
 * as before; the encryption and integrity keys stay. Never for a rekey (§3): the rekeyed SA
 * inherits the PPK through SK_d.
 */
export function ppkKeys(prfId: number, ppk: Uint8Array, k: IkeSaKeys): IkeSaKeys {
  return {
    ...k,
    skD: prfPlus(prfId, ppk, k.skD, k.skD.length),
    skPi: prfPlus(prfId, ppk, k.skPi, k.skPi.length),
    skPr: prfPlus(prfId, ppk, k.skPr, k.skPr.length),
  };
}

/**
 * RFC 9867, the PPK mixed in IKE_INTERMEDIATE: once the PPK is agreed in the last
 * IKE_INTERMEDIATE exchange, after every other key update of that exchange (RFC 9370),
 * SKEYSEED' = prf+(PPK, SK_d), as long as the PRF's key, and the IKE SA's keys are derived from
 * it as from any SKEYSEED (deriveIkeSaKeys). Unlike RFC 8784, SK_ei/SK_er/SK_ai/SK_ar change
 * too: IKE_AUTH and the identities are already protected by the PPK.
 * The same prf+ makes RFC 9867 §3.2.1's SK_d' = prf+(PPK, SK_d), which stands for SK_d in the
 * keys of the SA a CREATE_CHILD_SA with a fresh PPK creates.
 */
export function skeyseedPpk(prfId: number, ppk: Uint8Array, skD: Uint8Array): Uint8Array {
  return prfPlus(prfId, ppk, skD, prfKeyLength(prfId));
}

/** RFC 9867: PPK Confirmation, the first 8 octets of prf(PPK, Ni | Nr | SPIi | SPIr). */
export const PPK_CONFIRMATION_LENGTH = 8;
export function ppkConfirmation(prfId: number, ppk: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array): Uint8Array {
  return prf(prfId, ppk, [ni, nr, spiI, spiR]).subarray(0, PPK_CONFIRMATION_LENGTH);
}

/**
 * RFC 9867 §3.2: the PPK Confirmation in CREATE_CHILD_SA, the first 8 octets of
 * prf(PPK, Ni | SPIi | SPIr) with the request's nonce and the SPIs of the IKE SA the exchange
 * runs on (no Nr: the initiator does not know it yet).
 */
export function ppkConfirmationCcs(prfId: number, ppk: Uint8Array, ni: Uint8Array, spiI: Uint8Array, spiR: Uint8Array): Uint8Array {
  return prf(prfId, ppk, [ni, spiI, spiR]).subarray(0, PPK_CONFIRMATION_LENGTH);
}

/** RFC 7296 §2.14: SKEYSEED = prf(Ni | Nr, g^ir). */
export function skeyseedInit(prfId: number, ni: Uint8Array, nr: Uint8Array, sharedSecret: Uint8Array): Uint8Array {
  return prf(prfId, Buffer.concat([ni, nr]), sharedSecret);
}

/**
 * RFC 9370 §2.2.2: after the n-th IKE_INTERMEDIATE key exchange,
 * SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr).
 */
export function skeyseedIntermediate(
  prfId: number, skDPrev: Uint8Array, sharedSecret: Uint8Array, ni: Uint8Array, nr: Uint8Array,
): Uint8Array {
  return prf(prfId, skDPrev, [sharedSecret, ni, nr]);
}

/**
 * IKE SA rekey: RFC 7296 §2.18 SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), extended by
 * RFC 9370 §2.2.4 to prf(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n)).
 * `secrets` = [SK(0), SK(1), ..., SK(n)] (at least SK(0)); Ni/Nr are the new nonces.
 */
export function skeyseedRekey(
  prfId: number, skDOld: Uint8Array, secrets: readonly Uint8Array[], ni: Uint8Array, nr: Uint8Array,
): Uint8Array {
  if (secrets.length === 0) throw new RangeError('skeyseedRekey: at least one shared secret required');
  return prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)]);
}

/**
 * RFC 7296 §2.14: {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
 * SK_d/SK_pi/SK_pr take the PRF's preferred key length; `sizes.encr` includes any AEAD salt;
 * `sizes.integ` is 0 for AEAD.
 */
export function deriveIkeSaKeys(
  prfId: number, skeyseed: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array,
  sizes: { encr: number; integ: number },
): IkeSaKeys {
  const p = prfKeyLength(prfId);
  const total = 3 * p + 2 * sizes.integ + 2 * sizes.encr;
  const km = prfPlus(prfId, skeyseed, [ni, nr, spiI, spiR], total);
  let off = 0;
  const take = (n: number): Uint8Array => {
    // SK_ai/SK_ar of an AEAD are empty.
    if (n === 0) return NO_OCTETS;
    const v = km.subarray(off, off + n);
    off += n;
    return v;
  };
  const skD = take(p);
  const skAi = take(sizes.integ);
  const skAr = take(sizes.integ);
  const skEi = take(sizes.encr);
  const skEr = take(sizes.encr);
  const skPi = take(p);
  const skPr = take(p);
  return { skD, skAi, skAr, skEi, skEr, skPi, skPr };
}

/**
 * Child SA key material. RFC 7296 §2.17: KEYMAT = prf+(SK_d, Ni | Nr) without a key exchange,
 * prf+(SK_d, g^ir (new) | Ni | Nr) with one; RFC 9370 §2.2.4 with additional key exchanges:
 * prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n)). `secrets` = [] when no KE took place.
 */
export function childKeymat(
  prfId: number, skD: Uint8Array, secrets: readonly Uint8Array[], ni: Uint8Array, nr: Uint8Array, length: number,
): Uint8Array {
  const seed = secrets.length === 0 ? [ni, nr] : [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)];
  return prfPlus(prfId, skD, seed, length);
}

/**
 * RFC 9242 §3.3.2: IntAuth_[i|r]1 = prf(SK_p[i|r]1, IntAuth_[i|r]1_A | IntAuth_[i|r]1_P),
 * IntAuth_[i|r]N = prf(SK_p[i|r]N, IntAuth_[i|r]N-1 | IntAuth_[i|r]N_A | IntAuth_[i|r]N_P).
 * `prev` is empty for the first exchange; `ap` = the A | P octets of the message.
 */
export function intAuthStep(prfId: number, skP: Uint8Array, prev: Uint8Array, ap: Uint8Array): Uint8Array {
  return prf(prfId, skP, [prev, ap]);
}

const KEY_PAD = Buffer.from('Key Pad for IKEv2', 'ascii');

/** prf(PSK, "Key Pad for IKEv2") per PSK buffer and PRF: constant, so computed once. */
const padded = new WeakMap<Uint8Array, Map<number, Uint8Array>>();

/** RFC 7296 §2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>). */
export function pskAuth(prfId: number, psk: Uint8Array, signedOctets: Uint8Array): Uint8Array {
  let byPrf = padded.get(psk);
  if (!byPrf) {
    byPrf = new Map();
    padded.set(psk, byPrf);
  }
  let key = byPrf.get(prfId);
  if (!key) {
    key = prf(prfId, psk, KEY_PAD);
    byPrf.set(prfId, key);
  }
  return prf(prfId, key, signedOctets);
}

/**
 * RFC 7296 §2.15: SignedOctets = RealMessage | NonceData(peer) | prf(SK_p, RestOfIDPayload),
 * extended by RFC 9242 §3.3.2 with IntAuth_i | IntAuth_r | IKE_AUTH Message ID (4 octets,
 * the Message ID of the IKE_AUTH exchange) when IKE_INTERMEDIATE exchanges took place.
 * `skP` is SK_pi for the initiator's octets and SK_pr for the responder's;
 * `idPayloadBody` is IDx' (ID type | 3 reserved octets | identification data).
 */
export function signedOctets(
  realMessage: Uint8Array, peerNonce: Uint8Array, prfId: number, skP: Uint8Array, idPayloadBody: Uint8Array,
  intAuth?: { i: Uint8Array; r: Uint8Array; mid: number },
): Uint8Array {
  const maced = prf(prfId, skP, idPayloadBody);
  const parts: Uint8Array[] = [realMessage, peerNonce, maced];
  if (intAuth !== undefined) parts.push(intAuth.i, intAuth.r, u32be(intAuth.mid));
  return Buffer.concat(parts);
}
