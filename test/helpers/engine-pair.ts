/**
 * Two engines joined in-process: datagrams are delivered directly (no sockets), time is a
 * virtual clock. The lossy simulated network with seeds builds on this.
 */
import { IkeEngine } from '../../src/engine/engine.js';
import type { ChildConfig, ConnectionConfig, EngineEvent, EngineOptions, IkeSaInfo } from '../../src/engine/types.js';
import type { DataPlaneCommand } from '../../src/engine/dataplane.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';

export interface PairOptions {
  readonly ikeI?: string[];
  readonly ikeR?: string[];
  readonly espI?: string[];
  readonly espR?: string[];
  readonly pskI?: string;
  readonly pskR?: string;
  readonly fragmentSize?: number;
  readonly engineOptions?: EngineOptions;
  readonly responderEngineOptions?: EngineOptions;
  /** Extra connection settings (lifetimes, DPD, childless...) for both sides or each. */
  readonly conn?: Partial<ConnectionConfig>;
  readonly connI?: Partial<ConnectionConfig>;
  readonly connR?: Partial<ConnectionConfig>;
  /** Extra Child SA settings (lifetimes) for both sides. */
  readonly child?: Partial<ChildConfig>;
}

export const ADDR_I = '192.0.2.1';
export const ADDR_R = '192.0.2.2';

/**
 * No lifetimes unless a test sets them (the engine's defaults would rekey every SA after hours
 * of virtual time, so a run would never be quiet); the defaults have their own tests.
 */
const NO_LIFETIMES = { ikeRekeyTimeMs: 0, ikeLifeTimeMs: 0 } as const;
const NO_CHILD_LIFETIMES = { rekeyTimeMs: 0, lifeTimeMs: 0 } as const;

export function connections(o: PairOptions = {}): { initiator: ConnectionConfig; responder: ConnectionConfig } {
  const frag = o.fragmentSize === undefined ? {} : { fragmentSize: o.fragmentSize };
  const initiator: ConnectionConfig = {
    name: 'moon',
    localAddress: ADDR_I,
    remoteAddress: ADDR_R,
    localId: parseIdentity('moon.example.org'),
    remoteId: parseIdentity('sun.example.org'),
    psk: new TextEncoder().encode(o.pskI ?? 'pqike-test-psk-0123456789abcdef'),
    ikeProposals: parseProposals(o.ikeI ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'),
    children: [
      {
        name: 'net',
        espProposals: parseProposals(o.espI ?? ['aes256gcm16'], 'esp'),
        localTs: [parseTrafficSelector('198.51.100.0/25')],
        remoteTs: [parseTrafficSelector('198.51.100.128/25')],
        mode: 'tunnel',
        ...NO_CHILD_LIFETIMES,
        ...o.child,
      },
    ],
    ...NO_LIFETIMES,
    ...frag,
    ...o.conn,
    ...o.connI,
  };
  const responder: ConnectionConfig = {
    name: 'sun',
    localAddress: ADDR_R,
    remoteAddress: '%any',
    localId: parseIdentity('sun.example.org'),
    psk: new TextEncoder().encode(o.pskR ?? o.pskI ?? 'pqike-test-psk-0123456789abcdef'),
    ikeProposals: parseProposals(o.ikeR ?? o.ikeI ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'),
    children: [
      {
        name: 'net',
        espProposals: parseProposals(o.espR ?? o.espI ?? ['aes256gcm16'], 'esp'),
        localTs: [parseTrafficSelector('198.51.100.128/25')],
        remoteTs: [parseTrafficSelector('198.51.100.0/24')],
        mode: 'tunnel',
        ...NO_CHILD_LIFETIMES,
        ...o.child,
      },
    ],
    ...NO_LIFETIMES,
    ...frag,
    ...o.conn,
    ...o.connR,
  };
  return { initiator, responder };
}

export interface Delivered {
  readonly from: 'i' | 'r';
  readonly data: Uint8Array;
}

/** Run both engines until nothing is left to deliver; returns all events and datagrams. */
export class EnginePair {
  readonly i: IkeEngine;
  readonly r: IkeEngine;
  readonly eventsI: EngineEvent[] = [];
  readonly eventsR: EngineEvent[] = [];
  readonly wire: Delivered[] = [];
  /** Data plane commands each side issued, in order. */
  readonly planeI: DataPlaneCommand[] = [];
  readonly planeR: DataPlaneCommand[] = [];
  now = 0;
  /** Return false to drop a datagram (tests of loss and tampering). */
  filter: (d: Delivered, index: number) => Uint8Array | undefined = (d) => d.data;
  /** Where the responder sees the initiator's datagrams come from (a test may move it: a NAT mapping change). */
  sourceI: { address: string; port: number } = { address: ADDR_I, port: 500 };

  constructor(readonly opts: PairOptions = {}) {
    this.i = new IkeEngine(opts.engineOptions);
    this.r = new IkeEngine(opts.responderEngineOptions ?? opts.engineOptions);
    const c = connections(opts);
    this.i.addConnection(c.initiator);
    this.r.addConnection(c.responder);
  }

  initiate(): number {
    return this.i.initiate('moon', this.now);
  }

  /** Initiate and run until quiet; the IDs of the established IKE SA on each side (throws if none). */
  establish(): { i: number; r: number } {
    this.initiate();
    this.run();
    const i = this.i.list().find((s) => s.state === 'established');
    const r = this.r.list().find((s) => s.state === 'established');
    if (!i || !r) throw new Error(`IKE SA not established: ${JSON.stringify([...this.eventsI, ...this.eventsR].filter((e) => e.type === 'ike-failed'))}`);
    return { i: i.id, r: r.id };
  }

  /**
   * Deliver until quiet, running the certificate validations either engine waits for (they
   * are asynchronous, IkeEngine.drainTrust) as the UDP driver does, until none is left.
   */
  async settle(maxRounds = 50): Promise<void> {
    for (let round = 0; round < maxRounds; round++) {
      this.run();
      const queries = [...this.i.drainTrust().map((q) => ({ e: this.i, q })), ...this.r.drainTrust().map((q) => ({ e: this.r, q }))];
      if (queries.length === 0) return;
      for (const { e, q } of queries) {
        await q.run();
        e.trustSettled(q, this.now);
      }
    }
    throw new Error('certificate validations did not settle');
  }

  /** establish() for connections that authenticate with certificates. */
  async establishAsync(): Promise<{ i: number; r: number }> {
    this.initiate();
    await this.settle();
    const i = this.i.list().find((s) => s.state === 'established');
    const r = this.r.list().find((s) => s.state === 'established');
    if (!i || !r) throw new Error(`IKE SA not established: ${JSON.stringify([...this.eventsI, ...this.eventsR].filter((e) => e.type === 'ike-failed' || e.type === 'refused'))}`);
    return { i: i.id, r: r.id };
  }

  /** Deliver until quiet; `maxSteps` guards against ping-pong loops. */
  run(maxSteps = 1000): void {
    for (let step = 0; step < maxSteps; step++) {
      this.planeI.push(...this.i.drainDataPlane());
      this.planeR.push(...this.r.drainDataPlane());
      const outI = this.i.drain();
      const outR = this.r.drain();
      if (outI.length === 0 && outR.length === 0) return;
      for (const o of outI) {
        if (o.kind === 'event') this.eventsI.push(o.event);
        else this.deliver({ from: 'i', data: o.data });
      }
      for (const o of outR) {
        if (o.kind === 'event') this.eventsR.push(o.event);
        else this.deliver({ from: 'r', data: o.data });
      }
    }
    throw new Error('engines did not settle');
  }

  /** Hand `data` to the other engine as if `from` had sent it (a forged or crafted datagram), then run. */
  inject(from: 'i' | 'r', data: Uint8Array): void {
    this.deliver({ from, data });
    this.run();
  }

  private deliver(d: Delivered): void {
    const index = this.wire.length;
    this.wire.push(d);
    const data = this.filter(d, index);
    if (data === undefined) return;
    const to = d.from === 'i' ? this.r : this.i;
    if (d.from === 'i') this.r.receive(data, this.sourceI, { address: ADDR_R, port: 500 }, this.now);
    else this.i.receive(data, { address: ADDR_R, port: 500 }, { address: ADDR_I, port: 500 }, this.now);
    // An engine with an admission queue lets its queued requests in at once, as the UDP driver does when idle.
    to.admitPending(this.now, Number.MAX_SAFE_INTEGER);
  }

  /** Advance the virtual clock to the next deadline of either engine and run. */
  advance(): boolean {
    const t = [this.i.nextDeadline(), this.r.nextDeadline()].filter((x): x is number => x !== undefined);
    if (t.length === 0) return false;
    this.now = Math.max(this.now, Math.min(...t));
    this.i.tick(this.now);
    this.r.tick(this.now);
    this.run();
    return true;
  }

  /** Deliver, then follow the deadlines of both engines for `ms` of virtual time. */
  runFor(ms: number): void {
    this.run();
    const end = this.now + ms;
    for (;;) {
      const t = [this.i.nextDeadline(), this.r.nextDeadline()].filter((x): x is number => x !== undefined);
      const next = t.length === 0 ? undefined : Math.min(...t);
      if (next === undefined || next > end) break;
      this.advance();
    }
    this.now = Math.max(this.now, end);
  }

  /**
   * The initiator rekeys the IKE SA's first Child SA, then the IKE SA itself, each run until
   * quiet (throws if either cannot start); the initiator's established IKE SAs afterwards.
   */
  rekeyChildThenIke(ikeI: number): IkeSaInfo[] {
    const child = this.i.children(ikeI)[0];
    if (!child || !this.i.rekeyChild(ikeI, child.spiIn, this.now)) throw new Error(`IKE SA ${ikeI}: no Child SA rekey started`);
    this.run();
    if (!this.i.rekeyIke(ikeI, this.now)) throw new Error(`IKE SA ${ikeI}: no IKE SA rekey started`);
    this.run();
    return this.i.list().filter((s) => s.state === 'established');
  }

  errors(): EngineEvent[] {
    return [...this.eventsI, ...this.eventsR].filter((e) => e.type === 'log' && e.level === 'error');
  }
}
