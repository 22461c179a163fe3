/**
 * ECP groups 19, 20, 21 (RFC 5903): NIST P-256, P-384, P-521 via node:crypto ECDH.
 *
 * RFC 5903 §7: KE payload data is x | y, each coordinate the field size in octets (no point
 * format octet); the shared secret is the x coordinate of the shared point (§7, §9).
 * RFC 6989 §2.3: the recipient checks the peer point lies on the curve and is not the point
 * at infinity; OpenSSL's point decoding (used by ECDH.computeSecret) rejects coordinates >= p
 * and off-curve points, and x|y cannot encode infinity. Any rejection → INVALID_KE_DATA.
 */
import { createECDH, type ECDH } from 'node:crypto';
import { CryptoError } from './errors.js';
import type { KeInitiatorState, KeMethod } from './ke.js';

interface EcpParams { name: string; curve: string; coord: number }

const PARAMS: Record<number, EcpParams> = {
  19: { name: 'ecp256', curve: 'prime256v1', coord: 32 },
  20: { name: 'ecp384', curve: 'secp384r1', coord: 48 },
  21: { name: 'ecp521', curve: 'secp521r1', coord: 66 },
};

function params(id: number): EcpParams {
  const p = PARAMS[id];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `ECP group ${id} not supported`);
  return p;
}

/** Our uncompressed SEC1 point 0x04|x|y → KE data x|y (RFC 5903 §7). */
function keData(ecdh: ECDH): Buffer {
  return ecdh.getPublicKey().subarray(1);
}

function compute(ecdh: ECDH, p: EcpParams, peer: Uint8Array): Buffer {
  if (peer.length !== 2 * p.coord) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${2 * p.coord}`);
  }
  const point = Buffer.allocUnsafe(1 + peer.length);
  point[0] = 0x04;
  point.set(peer, 1);
  let s: Buffer;
  try {
    s = ecdh.computeSecret(point);
  } catch (e) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: peer point rejected (RFC 6989 §2.3)`, { cause: e });
  }
  if (s.length !== p.coord) {
    // Should not happen (OpenSSL pads to the field size); keep the §7 fixed-length encoding.
    const out = Buffer.alloc(p.coord);
    out.set(s, p.coord - s.length);
    return out;
  }
  return s;
}

function stateFor(ecdh: ECDH, p: EcpParams): KeInitiatorState {
  return { publicValue: keData(ecdh), finish: (peer) => compute(ecdh, p, peer) };
}

export function ecpMethod(id: number): KeMethod {
  const p = params(id);
  return {
    id,
    name: p.name,
    initiatorValueLength: 2 * p.coord,
    responderValueLength: 2 * p.coord,
    initiate(): KeInitiatorState {
      const ecdh = createECDH(p.curve);
      ecdh.generateKeys();
      return stateFor(ecdh, p);
    },
    respond(peer) {
      if (peer.length !== 2 * p.coord) {
        throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${2 * p.coord}`);
      }
      const ecdh = createECDH(p.curve);
      ecdh.generateKeys();
      const sharedSecret = compute(ecdh, p, peer);
      return { publicValue: keData(ecdh), sharedSecret };
    },
  };
}

/**
 * Test hook: an initiator state from a fixed private scalar (big-endian, field size), so the
 * RFC 5903 §8 vectors can be reproduced. Not for production use.
 */
export function ecpFromPrivate(id: number, priv: Uint8Array): KeInitiatorState {
  const p = params(id);
  const ecdh = createECDH(p.curve);
  try {
    ecdh.setPrivateKey(priv);
  } catch (e) {
    throw new CryptoError('BAD_KEY', `${p.name}: invalid private key`, { cause: e });
  }
  return stateFor(ecdh, p);
}
