/**
 * Cost of the cryptographic primitives one handshake uses (median µs per operation), and
 * the sum of them for one complete handshake (both sides) per proposal.
 */
import { randomBytes } from 'node:crypto';
import { keMethod, KeId } from '../src/crypto/ke.js';
import { childKeymat, deriveIkeSaKeys, pskAuth, signedOctets, skeyseedInit } from '../src/crypto/keys.js';
import { prf, PrfIds } from '../src/crypto/prf.js';
import { EncrIds, skCipher } from '../src/crypto/sk-cipher.js';
import { median } from './common.js';

export interface PrimitiveResult {
  readonly key: string;
  readonly label: string;
  /** Median over batches, µs per operation. */
  readonly us: number;
}

/** Median µs/op of `fn` over `batches` batches of at least `batchMs` each (after a warm-up). */
function time(fn: () => void, batchMs: number, batches: number): number {
  const warmEnd = performance.now() + batchMs;
  let per = 0;
  while (performance.now() < warmEnd) {
    fn();
    per++;
  }
  const out: number[] = [];
  for (let b = 0; b < batches; b++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < batchMs) {
      for (let k = 0; k < Math.max(1, per >> 3); k++) fn();
      n += Math.max(1, per >> 3);
      t = performance.now();
    }
    out.push(((t - t0) * 1000) / n);
  }
  return median(out);
}

export function measurePrimitives(batchMs: number, batches: number): PrimitiveResult[] {
  const res: PrimitiveResult[] = [];
  const add = (key: string, label: string, fn: () => void): void => {
    res.push({ key, label, us: time(fn, batchMs, batches) });
  };

  for (const [key, id, label] of [
    ['x25519', KeId.CURVE25519, 'X25519 keygen + derive (one side)'],
    ['ecp256', KeId.ECP256, 'ECP-256 keygen + derive (one side)'],
    ['modp2048', KeId.MODP2048, 'MODP-2048 keygen + derive (one side)'],
  ] as const) {
    const m = keMethod(id);
    const peer = m.initiate().publicValue;
    add(key, label, () => {
      m.initiate().finish(peer);
    });
  }
  for (const [level, id] of [
    [768, KeId.MLKEM768],
    [1024, KeId.MLKEM1024],
  ] as const) {
    const m = keMethod(id);
    const st = m.initiate();
    const ct = m.respond(st.publicValue).publicValue;
    add(`mlkem${level}-keygen`, `ML-KEM-${level} keygen`, () => {
      m.initiate();
    });
    add(`mlkem${level}-encaps`, `ML-KEM-${level} encaps (incl. §7.2 ek check)`, () => {
      m.respond(st.publicValue);
    });
    add(`mlkem${level}-decaps`, `ML-KEM-${level} decaps`, () => {
      st.finish(ct);
    });
  }

  const P = PrfIds.HMAC_SHA2_384;
  const ni = randomBytes(32);
  const nr = randomBytes(32);
  const ss = randomBytes(32);
  const spiI = randomBytes(8);
  const spiR = randomBytes(8);
  add('keysched', 'SKEYSEED + prf+ IKE SA keys (SHA-384, 216 B)', () => {
    deriveIkeSaKeys(P, skeyseedInit(P, ni, nr, ss), ni, nr, spiI, spiR, { encr: 36, integ: 0 });
  });
  const skD = randomBytes(48);
  add('childkeymat', 'prf+ Child SA KEYMAT (72 B)', () => {
    childKeymat(P, skD, [], ni, nr, 72);
  });
  const ap = randomBytes(1200);
  add('prf1200', 'prf HMAC-SHA-384 over 1200 B (IntAuth step)', () => {
    prf(P, skD, [skD, ap]);
  });
  const initMsg = randomBytes(300);
  const psk = randomBytes(32);
  const idBody = randomBytes(24);
  add('pskauth', 'PSK AUTH value (signed octets + 2 prf)', () => {
    pskAuth(P, psk, signedOctets(initMsg, nr, P, skD, idBody, { i: skD, r: skD, mid: 3 }));
  });

  const cipher = skCipher(EncrIds.AES_GCM_16, 256, 0);
  const keys = { encr: randomBytes(36), integ: new Uint8Array(0) };
  const aad = randomBytes(32);
  const plain = randomBytes(1200);
  const sealed = cipher.seal(keys, aad, plain);
  add('seal1200', 'SK seal 1200 B AES-GCM-256', () => {
    cipher.seal(keys, aad, plain);
  });
  add('open1200', 'SK open 1200 B AES-GCM-256', () => {
    cipher.open(keys, aad, sealed);
  });
  return res;
}

export interface HandshakeCost {
  readonly proposal: string;
  /** Sum of primitive costs for one handshake, both sides, µs. */
  readonly us: number;
  readonly parts: Record<string, number>;
}

/**
 * Primitive cost of one PSK handshake (both sides) for a proposal written as
 * `...-x25519[-ke1_mlkemNNN[-ke2_mlkemNNN]]`: 2 DH, keygen+encaps+decaps per ML-KEM, one key
 * schedule per side per key exchange, 4 IntAuth prf per IKE_INTERMEDIATE, 2 AUTH values
 * per side, 1 Child KEYMAT per side, and every protected message (IKE_INTERMEDIATE and
 * IKE_AUTH, request and response) sealed once and opened once, priced at 1200 B.
 */
export function handshakeCost(proposal: string, prims: readonly PrimitiveResult[]): HandshakeCost {
  const us = (k: string): number => prims.find((p) => p.key === k)?.us ?? NaN;
  const kems = [...proposal.matchAll(/mlkem(768|1024)/g)].map((m) => m[1] as string);
  const parts: Record<string, number> = {};
  parts['2 × X25519'] = 2 * us('x25519');
  for (const l of kems) parts[`ML-KEM-${l} keygen+encaps+decaps`] = us(`mlkem${l}-keygen`) + us(`mlkem${l}-encaps`) + us(`mlkem${l}-decaps`);
  const kes = 1 + kems.length;
  parts[`${2 * kes} × key schedule`] = 2 * kes * us('keysched');
  if (kems.length > 0) parts[`${4 * kems.length} × IntAuth prf`] = 4 * kems.length * us('prf1200');
  parts['4 × PSK AUTH'] = 4 * us('pskauth');
  parts['2 × Child KEYMAT'] = 2 * us('childkeymat');
  const msgs = 2 * kems.length + 2;
  parts[`${msgs} × (SK seal + open)`] = msgs * (us('seal1200') + us('open1200'));
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { proposal, us: total, parts };
}
