/**
 * The key formulas of RFC 7296 / RFC 9370 / RFC 9867 written out with node:crypto's HMAC-SHA-384,
 * independently of the engine's key schedule, and PPK settings, for the PPK tests.
 */
import { createHmac } from 'node:crypto';
import { keMethod } from '../../src/crypto/ke.js';
import type { KeMethod } from '../../src/crypto/ke.js';
import { fixedPpkId } from '../../src/engine/ppk.js';
import type { ConnectionConfig } from '../../src/engine/types.js';

export const PPK = Buffer.from('5e'.repeat(32), 'hex');
export const OTHER = Buffer.from('a7'.repeat(32), 'hex');
export const ID = 'pqike-ppk-int';

export function ppk(o: { id?: string; required: boolean; intermediate?: boolean; keys?: [string, Uint8Array][]; rekey?: 'yes' | 'require' }): NonNullable<ConnectionConfig['ppk']> {
  const keys = new Map((o.keys ?? [[ID, PPK]]).map(([id, k]) => [Buffer.from(fixedPpkId(id)).toString('hex'), k]));
  return { ...(o.id !== undefined ? { id: fixedPpkId(o.id) } : {}), required: o.required, keys, ...(o.intermediate ? { intermediate: true } : {}), ...(o.rekey ? { rekey: o.rekey } : {}) };
}

export const hmac = (key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const h = createHmac('sha384', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** prf+ (RFC 7296 §2.13) with HMAC-SHA-384, written out here. */
export function prfPlus(key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  let prev: Buffer = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    prev = hmac(key, prev, seed, Uint8Array.of(i));
    out.push(prev);
  }
  return Buffer.from(Buffer.concat(out).subarray(0, length));
}

/** AES-GCM-256 and HMAC-SHA-384: SK_d/SK_pi/SK_pr 48 octets, SK_e 36 (key and salt), no SK_a. */
export function keysOf(skeyseed: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array): { skD: Buffer; skEi: Buffer; skEr: Buffer; skPi: Buffer; skPr: Buffer } {
  const km = prfPlus(skeyseed, Buffer.concat([ni, nr, spiI, spiR]), 48 * 3 + 36 * 2);
  return { skD: km.subarray(0, 48), skEi: km.subarray(48, 84), skEr: km.subarray(84, 120), skPi: km.subarray(120, 168), skPr: km.subarray(168, 216) };
}

/** The initiator's key exchange methods, recording each shared secret in the order they complete. */
export function recordingKe(secrets: Uint8Array[]): (id: number) => KeMethod {
  return (id) => {
    const m = keMethod(id);
    return {
      ...m,
      initiate: () => {
        const s = m.initiate();
        return { publicValue: s.publicValue, finish: (peer: Uint8Array) => {
          const secret = s.finish(peer);
          secrets.push(secret);
          return secret;
        } };
      },
    };
  };
}
