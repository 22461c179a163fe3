/**
 * MODP Diffie-Hellman groups 14, 15, 16 (RFC 3526 §3-§5, generator 2), via node:crypto's
 * built-in well-known groups (whose primes equal RFC 3526; checked by the unit tests).
 */
import { getDiffieHellman, type DiffieHellmanGroup } from 'node:crypto';
import { CryptoError } from './errors.js';
import type { KeInitiatorState, KeMethod } from './ke.js';
import { leftPad } from './util.js';
import { bigFromBytes, bytesFromBig } from '../wire/bytes.js';

interface ModpParams { name: string; nodeName: 'modp14' | 'modp15' | 'modp16'; bytes: number }

const PARAMS: Record<number, ModpParams> = {
  14: { name: 'modp2048', nodeName: 'modp14', bytes: 256 },
  15: { name: 'modp3072', nodeName: 'modp15', bytes: 384 },
  16: { name: 'modp4096', nodeName: 'modp16', bytes: 512 },
};

const pMinus1Cache = new Map<number, Buffer>();

/** p - 1 as a big-endian octet string of the prime's length. */
function pMinus1(id: number, p: ModpParams): Buffer {
  let v = pMinus1Cache.get(id);
  if (v === undefined) {
    const prime = getDiffieHellman(p.nodeName).getPrime();
    const big = BigInt('0x' + prime.toString('hex')) - 1n;
    v = leftPad(Buffer.from(big.toString(16).padStart(p.bytes * 2, '0'), 'hex'), p.bytes);
    pMinus1Cache.set(id, v);
  }
  return v;
}

/**
 * RFC 7296 §3.4: the public value has exactly the prime's length.
 * RFC 6989 §2.1: reject y <= 1 and y >= p-1 (also rejects y >= p).
 */
function checkPeer(id: number, p: ModpParams, peer: Uint8Array): void {
  if (peer.length !== p.bytes) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${p.bytes}`);
  }
  let high = 0;
  for (let i = 0; i < peer.length - 1; i++) high |= peer[i] as number;
  if (high === 0 && (peer[peer.length - 1] as number) <= 1) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value <= 1 (RFC 6989 §2.1)`);
  }
  if (Buffer.compare(peer, pMinus1(id, p)) >= 0) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value >= p-1 (RFC 6989 §2.1)`);
  }
}

function compute(dh: DiffieHellmanGroup, id: number, p: ModpParams, peer: Uint8Array): Buffer {
  checkPeer(id, p, peer);
  let s: Buffer;
  try {
    s = dh.computeSecret(peer);
  } catch (e) {
    throw new CryptoError('INVALID_KE_DATA', `${p.name}: peer public value rejected`, { cause: e });
  }
  // RFC 7296 §2.14: g^ir is represented in big-endian with zero-padding to the prime's length.
  return leftPad(s, p.bytes);
}

function fresh(p: ModpParams): { dh: DiffieHellmanGroup; pub: Buffer } {
  const dh = getDiffieHellman(p.nodeName);
  const pub = leftPad(dh.generateKeys(), p.bytes);
  return { dh, pub };
}

export function modpMethod(id: number): KeMethod {
  const p = PARAMS[id];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `MODP group ${id} not supported`);
  return {
    id,
    name: p.name,
    initiatorValueLength: p.bytes,
    responderValueLength: p.bytes,
    initiate(): KeInitiatorState {
      const { dh, pub } = fresh(p);
      return { publicValue: pub, finish: (peer) => compute(dh, id, p, peer) };
    },
    respond(peer) {
      checkPeer(id, p, peer);
      const { dh, pub } = fresh(p);
      return { publicValue: pub, sharedSecret: compute(dh, id, p, peer) };
    },
  };
}

/** base^exp mod m by square-and-multiply. */
function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

const toBytes = (v: bigint, len: number): Buffer => Buffer.from(bytesFromBig(v, len));

/**
 * Initiator state from a fixed private exponent (big-endian), for reproducible runs
 * (src/crypto/ke-seeded.ts): y = g^x mod p, g^xy = y_peer^x mod p (RFC 3526, generator 2), in
 * BigInt, since node:crypto's DiffieHellman with an explicit prime checks that prime first (on
 * Node 24 seconds for 4096 bits). The exponent must be in [2, p-2]; the caller draws it.
 */
export function modpFromPrivate(id: number, priv: Uint8Array): KeInitiatorState {
  const p = PARAMS[id];
  if (p === undefined) throw new CryptoError('UNSUPPORTED', `MODP group ${id} not supported`);
  const prime = bigFromBytes(getDiffieHellman(p.nodeName).getPrime());
  const x = bigFromBytes(priv);
  const pub = toBytes(modPow(2n, x, prime), p.bytes);
  return {
    publicValue: pub,
    finish(peer) {
      checkPeer(id, p, peer);
      return toBytes(modPow(bigFromBytes(peer), x, prime), p.bytes);
    },
  };
}
