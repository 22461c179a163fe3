/**
 * Key exchange methods whose private values come from a given byte source instead of the
 * operating system: the crypto boundary through which a simulated network's seeded randomness
 * reaches key generation, so that a seed replays a run byte for byte (SPIs, nonces and IVs
 * already come from EngineOptions.random). Never for production: a predictable source gives
 * predictable keys. The public values, shared secrets and checks are those of src/crypto/ke.ts
 * (RFC 7748/8031, RFC 5903, RFC 3526, FIPS 203).
 */
import { KeMethodId } from '../wire/constants.js';
import { ecpFromPrivate } from './ecp.js';
import { ecxFromPrivate } from './ecx.js';
import { CryptoError } from './errors.js';
import { keMethod } from './ke.js';
import type { KeInitiatorState, KeMethod } from './ke.js';
import { mlkemLevelOf, mlkemSeeded } from './mlkem.js';
import { modpFromPrivate } from './modp.js';

type Bytes = (n: number) => Uint8Array;

/** A private value for a DH family, drawn from `random` until the family's key check takes it. */
function privateState(id: number, random: Bytes): KeInitiatorState {
  switch (id) {
    case KeMethodId.CURVE25519:
      return ecxFromPrivate(id, random(32)); // RFC 7748 §5: any 32 octets (clamped by X25519)
    case KeMethodId.CURVE448:
      return ecxFromPrivate(id, random(56));
    case KeMethodId.ECP256:
    case KeMethodId.ECP384:
    case KeMethodId.ECP521: {
      const len = id === KeMethodId.ECP256 ? 32 : id === KeMethodId.ECP384 ? 48 : 66;
      // A scalar must lie in [1, n-1]; rejection sampling (P-521: the top 7 bits cleared).
      for (;;) {
        const d = random(len);
        if (id === KeMethodId.ECP521) d[0] = (d[0] ?? 0) & 0x01;
        try {
          return ecpFromPrivate(id, d);
        } catch (e) {
          if (!(e instanceof CryptoError)) throw e;
        }
      }
    }
    case KeMethodId.MODP2048:
    case KeMethodId.MODP3072:
    case KeMethodId.MODP4096: {
      // A 256-bit exponent, the top bit set so that it is never 0 or 1 (RFC 3526 §8 sizes).
      const x = random(32);
      x[0] = (x[0] ?? 0) | 0x80;
      return modpFromPrivate(id, x);
    }
    default:
      throw new CryptoError('UNSUPPORTED', `key exchange method ${id} not supported`);
  }
}

function seededMethod(id: number, random: Bytes): KeMethod {
  if (id === KeMethodId.MLKEM512 || id === KeMethodId.MLKEM768 || id === KeMethodId.MLKEM1024) return mlkemSeeded(mlkemLevelOf(id), random);
  const base = keMethod(id); // throws UNSUPPORTED for an unknown ID, as the default does
  return {
    id,
    name: base.name,
    initiatorValueLength: base.initiatorValueLength,
    responderValueLength: base.responderValueLength,
    initiate: () => privateState(id, random),
    respond(peer) {
      if (peer.length !== base.initiatorValueLength) {
        throw new CryptoError('INVALID_KE_DATA', `${base.name}: public value length ${peer.length}, expected ${base.initiatorValueLength}`);
      }
      const st = privateState(id, random);
      return { publicValue: st.publicValue, sharedSecret: st.finish(peer) };
    },
  };
}

/** EngineOptions.keMethod for methods keyed from `random`, one object per method ID. */
export function seededKeMethods(random: Bytes): (id: number) => KeMethod {
  const made = new Map<number, KeMethod>();
  return (id) => {
    let m = made.get(id);
    if (m === undefined) made.set(id, (m = seededMethod(id, random)));
    return m;
  };
}
