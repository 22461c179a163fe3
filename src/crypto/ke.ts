/**
 * Key exchange methods (RFC 7296 §3.4 KE payload; RFC 9370 §2.2.1 "Key Exchange Method"
 * transform types 4 and 6-12 share one ID registry).
 *
 * Both Diffie-Hellman groups and KEMs fit one shape (RFC 9370 §2.2.1, ML-KEM draft
 * "ML-KEM in IKEv2"): the initiator sends a public value (DH public / KEM encapsulation key),
 * the responder answers with its own value (DH public / KEM ciphertext) and obtains the
 * shared secret at once; the initiator finishes with the responder's value.
 */
import { KeMethodId } from '../wire/constants.js';
import { CryptoError } from './errors.js';
import { ecpMethod } from './ecp.js';
import { ecxMethod } from './ecx.js';
import { mlkemMethod } from './mlkem.js';
import { modpMethod } from './modp.js';

export interface KeInitiatorState {
  readonly publicValue: Uint8Array;
  /** Consume the responder's KE data; throws CryptoError('INVALID_KE_DATA') on bad input. */
  finish(peer: Uint8Array): Uint8Array;
}

export interface KeMethod {
  readonly id: number;
  /** Name as strongSwan spells it: 'x25519', 'ecp256', 'modp2048', 'mlkem768'. */
  readonly name: string;
  readonly initiatorValueLength: number;
  readonly responderValueLength: number;
  /** DH: generate our key pair; KEM: generate a key pair, publicValue = encapsulation key. */
  initiate(): KeInitiatorState;
  /** DH: our public value + shared secret; KEM: ciphertext + shared secret. */
  respond(peer: Uint8Array): { publicValue: Uint8Array; sharedSecret: Uint8Array };
  /**
   * DH only: as respond(), but with a key pair kept for up to `forMs` after it was made
   * (RFC 7296 §2.12 allows reusing exponentials; a responder under a flood uses this so that
   * a request costs one scalar multiplication, not a key generation as well). The private key
   * is dropped when the period is over, so forward secrecy is lost only for SAs shorter than it.
   */
  respondReusing?(peer: Uint8Array, now: number, forMs: number): { publicValue: Uint8Array; sharedSecret: Uint8Array };
}

/** The IANA "Transform Type 4 - Key Exchange Method Transform IDs" (src/wire) we implement. */
export const KeId = KeMethodId;

const SUPPORTED: readonly number[] = [
  KeId.MODP2048, KeId.MODP3072, KeId.MODP4096, KeId.ECP256, KeId.ECP384, KeId.ECP521,
  KeId.CURVE25519, KeId.CURVE448, KeId.MLKEM512, KeId.MLKEM768, KeId.MLKEM1024,
];

const cache = new Map<number, KeMethod>();

/** The KE method for a transform ID; throws CryptoError('UNSUPPORTED') for unknown IDs. */
export function keMethod(id: number): KeMethod {
  let m = cache.get(id);
  if (m !== undefined) return m;
  switch (id) {
    case KeId.MODP2048:
    case KeId.MODP3072:
    case KeId.MODP4096:
      m = modpMethod(id);
      break;
    case KeId.ECP256:
    case KeId.ECP384:
    case KeId.ECP521:
      m = ecpMethod(id);
      break;
    case KeId.CURVE25519:
    case KeId.CURVE448:
      m = ecxMethod(id);
      break;
    case KeId.MLKEM512:
    case KeId.MLKEM768:
    case KeId.MLKEM1024:
      m = mlkemMethod(id);
      break;
    default:
      throw new CryptoError('UNSUPPORTED', `key exchange method ${id} not supported`);
  }
  cache.set(id, m);
  return m;
}

/** Transform IDs accepted by keMethod(), ascending. */
export function supportedKeMethods(): number[] {
  return [...SUPPORTED];
}

/** True iff the method is a KEM (the initiator's and responder's values differ in kind). */
export function isKem(id: number): boolean {
  return id === KeId.MLKEM512 || id === KeId.MLKEM768 || id === KeId.MLKEM1024;
}
