/**
 * Deterministic, cached key exchange methods for the fuzzers (EngineOptions.keMethod).
 *
 * - initiate(): one fixed key pair per method (X25519/X448 from a fixed scalar, ML-KEM from a
 *   fixed FIPS 203 seed d|z), built once: the same public value every time;
 *   its finish() cached by peer value;
 * - respond(peer): the src checks on the peer value (lengths, the FIPS 203 §7.2 modulus check)
 *   run as in src/crypto, then a fixed responder key (DH) or a fixed encapsulation randomness
 *   (ML-KEM, noble's deterministic encapsulate) answers; results are cached by peer value.
 *
 * So a snapshot and the valid messages captured from it are the same bytes in every run and
 * every process (reproducers stay valid), and a variant carrying the original KE value costs
 * a map lookup instead of a key exchange. Other methods fall back to src's keMethod.
 */
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { keMethod as realKeMethod } from '../../src/crypto/ke.js';
import type { KeInitiatorState, KeMethod } from '../../src/crypto/ke.js';
import { ecxFromPrivate } from '../../src/crypto/ecx.js';
import { mlkemBackend, mlkemCheckEncapsulationKey, mlkemFromSeed } from '../../src/crypto/mlkem.js';
import type { MlKemLevel } from '../../src/crypto/mlkem.js';
import { Rng } from './prng.js';

const MLKEM: Record<number, { level: MlKemLevel; noble: typeof ml_kem768; name: string }> = {
  35: { level: 512, noble: ml_kem512, name: 'mlkem512' },
  36: { level: 768, noble: ml_kem768, name: 'mlkem768' },
  37: { level: 1024, noble: ml_kem1024, name: 'mlkem1024' },
};

const ECX: Record<number, { len: number; name: string }> = {
  31: { len: 32, name: 'x25519' },
  32: { len: 56, name: 'x448' },
};

const CACHE_LIMIT = 512;

function keyOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function cachedRespond(respond: (peer: Uint8Array) => { publicValue: Uint8Array; sharedSecret: Uint8Array }): KeMethod['respond'] {
  const cache = new Map<string, { publicValue: Uint8Array; sharedSecret: Uint8Array }>();
  return (peer) => {
    const k = keyOf(peer);
    const hit = cache.get(k);
    if (hit) return hit;
    const r = respond(peer); // throws CryptoError like src
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(k, r);
    return r;
  };
}

function ecx(id: number): KeMethod {
  const p = ECX[id];
  if (!p) throw new Error(`not an ECX method: ${id}`);
  const rng = new Rng(0xec, id);
  const ini = cachedState(ecxFromPrivate(id, rng.bytes(p.len)));
  const res = ecxFromPrivate(id, rng.bytes(p.len));
  return {
    id,
    name: p.name,
    initiatorValueLength: p.len,
    responderValueLength: p.len,
    initiate: () => ini,
    respond: cachedRespond((peer) => {
      if (peer.length !== p.len) throw new CryptoError('INVALID_KE_DATA', `${p.name}: public value length ${peer.length}, expected ${p.len}`);
      return { publicValue: res.publicValue, sharedSecret: res.finish(peer) };
    }),
  };
}

function mlkem(id: number): KeMethod {
  const p = MLKEM[id];
  if (!p) throw new Error(`not an ML-KEM method: ${id}`);
  const rng = new Rng(0x3c, id);
  const ini: KeInitiatorState = cachedState(mlkemFromSeed(mlkemBackend(), p.level, rng.bytes(64)));
  const m = rng.bytes(32);
  return {
    id,
    name: p.name,
    initiatorValueLength: ini.publicValue.length,
    responderValueLength: p.noble.lengths.cipherText ?? 0,
    initiate: () => ini,
    respond: cachedRespond((ek) => {
      mlkemCheckEncapsulationKey(p.level, ek);
      let r: { cipherText: Uint8Array; sharedSecret: Uint8Array };
      try {
        r = p.noble.encapsulate(ek, m);
      } catch (e) {
        throw new CryptoError('INVALID_KE_DATA', `${p.name}: encapsulation key rejected`, { cause: e });
      }
      return { publicValue: r.cipherText, sharedSecret: r.sharedSecret };
    }),
  };
}

/** The same initiator state, with finish() cached by peer value (it is a pure function of it). */
function cachedState(st: KeInitiatorState): KeInitiatorState {
  const cache = new Map<string, Uint8Array>();
  return {
    publicValue: st.publicValue,
    finish(peer) {
      const k = keyOf(peer);
      const hit = cache.get(k);
      if (hit) return hit;
      const r = st.finish(peer);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(k, r);
      return r;
    },
  };
}

const methods = new Map<number, KeMethod>();

/** EngineOptions.keMethod for fuzzing: deterministic and cached (see above). */
export function fuzzKeMethod(id: number): KeMethod {
  let m = methods.get(id);
  if (m) return m;
  if (id in ECX) m = ecx(id);
  else if (id in MLKEM) m = mlkem(id);
  else return realKeMethod(id);
  methods.set(id, m);
  return m;
}
