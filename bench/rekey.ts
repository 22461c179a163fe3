/**
 * Rekey benchmark, in-process (two engines, no sockets, see bench/inprocess.ts): one IKE SA
 * is set up once, then rekeyed over and over.
 *
 *  - Child SA rekey: CREATE_CHILD_SA (+ one IKE_FOLLOWUP_KE exchange per additional key
 *    exchange of the ESP proposal, RFC 9370 §2.2.4) + the INFORMATIONAL delete of the old
 *    Child SA (RFC 7296 §2.8).
 *  - IKE SA rekey: CREATE_CHILD_SA (+ IKE_FOLLOWUP_KE) + the INFORMATIONAL delete of the old
 *    IKE SA (RFC 7296 §2.18); the next rekey works on the new IKE SA.
 *
 * Every rekey is checked: both sides report the new SA (child-up with rekeyOf / ike-rekeyed),
 * its keys are equal on both sides, and the old SA is gone on both sides. A failed check
 * throws, so a figure is never the rate of failures.
 */
import type { ChildSaInfo, EngineEvent } from '../src/engine/types.js';
import { BenchPair, emptyWire, pump } from './inprocess.js';
import type { WireStats } from './inprocess.js';

/** ESP proposals for Child SA rekeys: no PFS, PFS hybrid, PFS hybrid with a second ADDKE. */
export const REKEY_CHILD_PROPOSALS: readonly string[] = [
  'aes256gcm16',
  'aes256gcm16-x25519-ke1_mlkem768',
  'aes256gcm16-x25519-ke1_mlkem768-ke2_mlkem1024',
];
/** IKE proposal of the IKE SA whose Child SA is rekeyed. */
export const REKEY_CHILD_IKE_PROPOSAL = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
/** IKE proposals for IKE SA rekeys (the Child SA: aes256gcm16). */
export const REKEY_IKE_PROPOSALS: readonly string[] = [
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768',
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024',
];

export type RekeyKind = 'child' | 'ike';

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function sameChildKeys(a: ChildSaInfo, b: ChildSaInfo): boolean {
  return same(a.keys.encrI, b.keys.encrI) && same(a.keys.encrR, b.keys.encrR) && same(a.keys.integI, b.keys.integI) && same(a.keys.integR, b.keys.integR);
}

function failure(events: readonly EngineEvent[]): string {
  for (const e of events) {
    if (e.type === 'ike-failed' || e.type === 'ike-down') return `: ${e.type} ${e.reason}`;
    if (e.type === 'log' && (e.level === 'warn' || e.level === 'error')) return `: ${e.message}`;
  }
  return '';
}

/** One established IKE SA (with one Child SA) between two in-process engines, to rekey. */
export class RekeyPair {
  private readonly pair: BenchPair;
  private ikeI: number;
  private ikeR: number;

  constructor(
    readonly kind: RekeyKind,
    readonly proposal: string,
    psk: Uint8Array,
  ) {
    // IKE SA keys are only visible through 'ike-keys' events (EngineOptions.exportKeys); the
    // Child SA rekey does not need them.
    this.pair = kind === 'ike'
      ? new BenchPair(proposal, psk, { exportKeys: true })
      : new BenchPair(REKEY_CHILD_IKE_PROPOSAL, psk, {}, proposal);
    this.pair.handshake();
    const i = this.pair.i.list();
    const r = this.pair.r.list();
    if (i.length !== 1 || r.length !== 1) throw new Error(`rekey bench: expected one IKE SA per side, got ${i.length}/${r.length}`);
    this.ikeI = (i[0] as { id: number }).id;
    this.ikeR = (r[0] as { id: number }).id;
  }

  /** One checked rekey; adds its datagrams to `wire` if given. */
  rekey(wire?: WireStats): void {
    if (this.kind === 'child') this.rekeyChild(wire);
    else this.rekeyIke(wire);
  }

  private rekeyChild(wire?: WireStats): void {
    const { i, r } = this.pair;
    const [old, ...more] = i.children(this.ikeI);
    if (!old || more.length > 0) throw new Error(`child rekey: expected one Child SA, got ${i.children(this.ikeI).length}`);
    if (!i.rekeyChild(this.ikeI, old.spiIn, this.pair.now)) throw new Error('child rekey: rekeyChild() refused');
    const ev = pump(this.pair, wire);
    let upI: ChildSaInfo | undefined;
    let upR: ChildSaInfo | undefined;
    let downI = false;
    let downR = false;
    for (const e of ev.i) {
      if (e.type === 'child-up' && e.child.rekeyOf === old.spiIn) upI = e.child;
      else if (e.type === 'child-down' && e.child.spiIn === old.spiIn) downI = true;
    }
    for (const e of ev.r) {
      if (e.type === 'child-up' && e.child.rekeyOf === old.spiOut) upR = e.child;
      else if (e.type === 'child-down' && e.child.spiIn === old.spiOut) downR = true;
    }
    if (!upI || !upR) throw new Error(`child rekey: new Child SA not up on ${upI ? 'responder' : 'initiator'}${failure([...ev.i, ...ev.r])}`);
    if (upI.spiIn !== upR.spiOut || upI.spiOut !== upR.spiIn || !sameChildKeys(upI, upR)) {
      throw new Error('child rekey: the two sides disagree on the new Child SA (SPIs or keys)');
    }
    if (!downI || !downR) throw new Error('child rekey: old Child SA not deleted on both sides');
    if (i.children(this.ikeI).length !== 1 || r.children(this.ikeR).length !== 1) throw new Error('child rekey: Child SAs left over');
  }

  private rekeyIke(wire?: WireStats): void {
    const { i, r } = this.pair;
    if (!i.rekeyIke(this.ikeI, this.pair.now)) throw new Error('IKE rekey: rekeyIke() refused');
    const ev = pump(this.pair, wire);
    const side = (events: readonly EngineEvent[], oldId: number, who: string): { id: number; skEi: Uint8Array; skEr: Uint8Array } => {
      let id: number | undefined;
      let spi: string | undefined;
      let down = false;
      const keys = new Map<string, { skEi: Uint8Array; skEr: Uint8Array }>();
      for (const e of events) {
        if (e.type === 'ike-rekeyed' && e.old === oldId) {
          id = e.sa;
          spi = `${e.ike.spiI}/${e.ike.spiR}`;
        } else if (e.type === 'ike-keys') keys.set(`${e.spiI}/${e.spiR}`, { skEi: e.skEi, skEr: e.skEr });
        else if (e.type === 'ike-down' && e.sa === oldId) down = true;
      }
      const k = spi === undefined ? undefined : keys.get(spi);
      if (id === undefined || k === undefined) throw new Error(`IKE rekey: no new IKE SA on the ${who}${failure(events)}`);
      if (!down) throw new Error(`IKE rekey: old IKE SA not deleted on the ${who}`);
      return { id, ...k };
    };
    const a = side(ev.i, this.ikeI, 'initiator');
    const b = side(ev.r, this.ikeR, 'responder');
    if (!same(a.skEi, b.skEi) || !same(a.skEr, b.skEr)) throw new Error('IKE rekey: the two sides disagree on the new IKE SA keys');
    if (i.list().length !== 1 || r.list().length !== 1) throw new Error('IKE rekey: IKE SAs left over');
    this.ikeI = a.id;
    this.ikeR = b.id;
    if (i.children(this.ikeI).length !== 1 || r.children(this.ikeR).length !== 1) throw new Error('IKE rekey: the Child SA did not move to the new IKE SA');
  }
}

/** Checked rekeys of one SA for `ms` milliseconds; returns rekeys per second. */
export function rekeyRate(kind: RekeyKind, proposal: string, psk: Uint8Array, ms: number): number {
  const p = new RekeyPair(kind, proposal, psk);
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    p.rekey();
    n++;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

/** Bytes and datagrams of one rekey (the second one, so nothing of the handshake is left). */
export function rekeyWire(kind: RekeyKind, proposal: string, psk: Uint8Array): WireStats {
  const p = new RekeyPair(kind, proposal, psk);
  p.rekey();
  const w = emptyWire();
  p.rekey(w);
  return w;
}
