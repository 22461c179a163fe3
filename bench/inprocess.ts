/**
 * Two IkeEngines joined in-process (no sockets): datagrams are handed from one engine's
 * drain() to the other's receive(), like test/helpers/engine-pair.ts.
 */
import { IkeEngine } from '../src/engine/engine.js';
import type { ConnectionConfig, EngineEvent, EngineOptions } from '../src/engine/types.js';
import { benchConnections } from './common.js';

const ADDR_I = '192.0.2.1';
const ADDR_R = '192.0.2.2';
const EP_I = { address: ADDR_I, port: 500 };
const EP_R = { address: ADDR_R, port: 500 };

export interface WireStats {
  /** UDP payload octets, both directions. */
  bytes: number;
  datagrams: number;
  bytesIR: number;
  datagramsIR: number;
  bytesRI: number;
  datagramsRI: number;
}

export function emptyWire(): WireStats {
  return { bytes: 0, datagrams: 0, bytesIR: 0, datagramsIR: 0, bytesRI: 0, datagramsRI: 0 };
}

export class BenchPair {
  readonly i: IkeEngine;
  readonly r: IkeEngine;
  now = 0;

  /** `auth`: other authenticators than the PSK (bench/auth.ts: certificates), per side. */
  constructor(proposal: string, psk: Uint8Array, opts: EngineOptions = {}, espProposal?: string, auth?: { readonly i: ConnectionConfig['auth']; readonly r: ConnectionConfig['auth'] }) {
    const c = benchConnections(proposal, psk, ADDR_I, ADDR_R, espProposal);
    this.i = new IkeEngine(opts);
    this.r = new IkeEngine({ ...opts, cookieThreshold: Number.MAX_SAFE_INTEGER });
    this.i.addConnection(auth?.i ? { ...c.initiator, auth: auth.i } : c.initiator);
    this.r.addConnection(auth?.r ? { ...c.responder, auth: auth.r } : c.responder);
  }

  /** One complete handshake (IKE SA + first Child SA); throws if it does not come up. */
  handshake(wire?: WireStats): void {
    this.i.initiate('bench', this.now, { local: EP_I, remote: EP_R });
    let up = false;
    let failure: string | undefined;
    for (let step = 0; step < 100; step++) {
      const outI = this.i.drain();
      const outR = this.r.drain();
      if (outI.length === 0 && outR.length === 0) break;
      for (const o of outI) {
        if (o.kind === 'send') {
          if (wire) {
            wire.bytes += o.data.length;
            wire.datagrams++;
            wire.bytesIR += o.data.length;
            wire.datagramsIR++;
          }
          this.r.receive(o.data, EP_I, EP_R, this.now);
        } else if (o.event.type === 'child-up') up = true;
        else if (o.event.type === 'ike-failed') failure = o.event.reason;
      }
      for (const o of outR) {
        if (o.kind === 'send') {
          if (wire) {
            wire.bytes += o.data.length;
            wire.datagrams++;
            wire.bytesRI += o.data.length;
            wire.datagramsRI++;
          }
          this.i.receive(o.data, EP_R, EP_I, this.now);
        } else if (o.event.type === 'ike-failed') failure ??= `responder: ${o.event.reason}`;
      }
    }
    if (!up) throw new Error(`handshake did not complete${failure === undefined ? '' : `: ${failure}`}`);
  }
}

/** Everything both engines reported while exchanging datagrams until both were quiet. */
export interface PumpResult {
  readonly i: EngineEvent[];
  readonly r: EngineEvent[];
}

/** Hand datagrams back and forth until neither engine has anything to send; collect events. */
export function pump(pair: BenchPair, wire?: WireStats): PumpResult {
  const res: PumpResult = { i: [], r: [] };
  for (let step = 0; step < 100; step++) {
    const outI = pair.i.drain();
    const outR = pair.r.drain();
    if (outI.length === 0 && outR.length === 0) return res;
    for (const o of outI) {
      if (o.kind === 'event') {
        res.i.push(o.event);
        continue;
      }
      if (wire) {
        wire.bytes += o.data.length;
        wire.datagrams++;
        wire.bytesIR += o.data.length;
        wire.datagramsIR++;
      }
      pair.r.receive(o.data, EP_I, EP_R, pair.now);
    }
    for (const o of outR) {
      if (o.kind === 'event') {
        res.r.push(o.event);
        continue;
      }
      if (wire) {
        wire.bytes += o.data.length;
        wire.datagrams++;
        wire.bytesRI += o.data.length;
        wire.datagramsRI++;
      }
      pair.i.receive(o.data, EP_R, EP_I, pair.now);
    }
  }
  throw new Error('exchange did not settle within 100 rounds');
}

/**
 * Sequential handshakes for `ms` milliseconds; returns IKE SAs per second. A fresh engine
 * pair every `perPair` handshakes keeps the SA tables (and the heap) from growing.
 */
export function inProcessRate(proposal: string, psk: Uint8Array, ms: number, perPair = 256): number {
  let pair = new BenchPair(proposal, psk);
  let n = 0;
  let inPair = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    pair.handshake();
    n++;
    if (++inPair >= perPair) {
      pair = new BenchPair(proposal, psk);
      inPair = 0;
    }
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}
