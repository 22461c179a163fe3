// Drives the real engine (src/engine/engine.ts, IkeEngine) through one strongSwan recording in
// one role, against the recorded peer:
//   - initiator: our engine plays moon; each message it sends must have the recorded exchange,
//     message ID, flags, SPIs and fragment count, then it gets sun's recorded answer;
//   - responder: our engine plays sun; it gets moon's recorded requests in capture order and
//     must answer each with the recorded exchange, message ID, flags, SPIs and fragment count.
// Randomness (EngineOptions.random) is served from the values the played side put on the wire;
// key exchanges (EngineOptions.keMethod) answer with the played side's recorded public values
// and return the logged shared secrets, after checking that the engine hands them the peer's
// recorded value. Nothing is patched inside the engine: it only sees datagrams, commands, the
// clock, and these two options.
import { toHex } from './load.js';
import { rawHeader, type RawHeader } from './capture-model.js';
import {
  IKE_PORT, deterministicBytes, notifyOf, u32of,
  type DrawnValues, type RecordedKe, type RecordedMessage, type Recording, type Side, type SwanctlConn,
} from './engine-replay-recording.js';

import { IkeEngine } from '../../src/engine/engine.js';
import type { ConnectionConfig, Endpoint, EngineEvent, RandomPurpose } from '../../src/engine/types.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { keMethod as realKeMethod, type KeInitiatorState, type KeMethod } from '../../src/crypto/ke.js';
import { ExchangeType, NotifyType } from '../../src/wire/constants.js';

export type Role = 'initiator' | 'responder';

export const sideOf = (role: Role): Side => (role === 'initiator' ? 'moon' : 'sun');
export const otherSide = (s: Side): Side => (s === 'moon' ? 'sun' : 'moon');

/** README: IKE fragmentation on, fragment size 1280 (strongSwan's charon.fragment_size default). */
export const FRAGMENT_SIZE = 1280;

/** A connection equivalent to the recording's swanctl.conf of one side. */
export function connectionFor(c: SwanctlConn): ConnectionConfig {
  if (c.mode !== 'tunnel') throw new Error(`mode ${c.mode}`);
  return {
    name: 'ike',
    localAddress: c.localAddr,
    remoteAddress: c.remoteAddr,
    localId: parseIdentity(c.localId),
    ...(c.remoteId === '%any' ? {} : { remoteId: parseIdentity(c.remoteId) }),
    psk: new TextEncoder().encode(c.psk),
    ikeProposals: parseProposals([c.proposals], 'ike'),
    children: [{
      name: 'net',
      espProposals: parseProposals([c.espProposals], 'esp'),
      localTs: [parseTrafficSelector(c.localTs)],
      remoteTs: [parseTrafficSelector(c.remoteTs)],
      mode: 'tunnel',
    }],
    fragmentation: c.fragmentation === 'yes',
    fragmentSize: FRAGMENT_SIZE,
  };
}

// ---------------------------------------------------------------------------------------------
// EngineOptions.random from the recording

export interface Draw {
  readonly purpose: RandomPurpose;
  readonly requested: number;
  readonly served: number;
  /** hex of the value served */
  readonly value: string;
}

const QUEUED: readonly RandomPurpose[] = ['ike-spi', 'nonce', 'esp-spi', 'iv', 'link'];

export class RecordedRandom {
  private readonly queues = new Map<RandomPurpose, Uint8Array[]>();
  private readonly prng: (n: number) => Uint8Array;
  readonly problems: string[] = [];
  readonly draws: Draw[] = [];

  constructor(values: DrawnValues, seed: string) {
    for (const p of QUEUED) this.queues.set(p, values[p as keyof DrawnValues].map((b) => Uint8Array.from(b)));
    this.prng = deterministicBytes(seed);
  }

  private fail(msg: string): never {
    this.problems.push(msg);
    throw new Error(`recorded random: ${msg}`);
  }

  readonly fn = (length: number, purpose: RandomPurpose): Uint8Array => {
    if (purpose === 'jitter' || purpose === 'cookie-secret') {
      // not on the wire: nothing recorded to serve; a fixed stream keeps runs reproducible
      const b = this.prng(length);
      this.draws.push({ purpose, requested: length, served: length, value: toHex(b) });
      return b;
    }
    const q = this.queues.get(purpose);
    if (q === undefined) this.fail(`unknown purpose '${purpose}'`);
    const v = q.shift();
    if (v === undefined) this.fail(`the engine asks for '${purpose}' (${length} octets), but every recorded '${purpose}' value is used up (draw ${this.draws.length + 1})`);
    // RFC 9370 §2.2.4 link data is opaque to the initiator and of any length: strongSwan's is
    // one octet, so a 'link' draw is served at the recorded length whatever the engine asked for.
    if (purpose !== 'link' && v.length !== length) this.fail(`the engine asks for ${length} octets of '${purpose}', the recorded value has ${v.length}`);
    this.draws.push({ purpose, requested: length, served: v.length, value: toHex(v) });
    return v;
  };

  /** Recorded values the engine did not ask for, by purpose. */
  left(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [p, q] of this.queues) if (q.length > 0) out[p] = q.length;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// EngineOptions.keMethod from the recording

export interface KeUse {
  readonly step: RecordedKe;
  readonly call: 'initiate' | 'respond';
  /** initiate(): set once finish() was called (with the right peer value) */
  finished: boolean;
}

/**
 * Fake key exchange methods that replay the recorded exchanges in their recorded order: each
 * initiate()/respond() call must be the next recorded key exchange, of the same method; the
 * engine must hand finish()/respond() exactly the peer's recorded value. They answer with the
 * played side's recorded value and return its logged secret.
 */
export class RecordedKeMethods {
  private next = 0;
  readonly uses: KeUse[] = [];
  readonly problems: string[] = [];

  constructor(private readonly steps: readonly RecordedKe[], private readonly role: Role) {}

  private fail(msg: string): never {
    this.problems.push(msg);
    throw new Error(`recorded KE: ${msg}`);
  }

  private take(id: number, call: 'initiate' | 'respond'): KeUse {
    const step = this.steps[this.next];
    if (step === undefined) this.fail(`${call}() of method ${id}, but all ${this.steps.length} recorded key exchanges are used`);
    this.next++;
    if (step.method !== id) this.fail(`${call}() of method ${id}, the next recorded key exchange (${step.what}) is of method ${step.method}`);
    const want = this.role === 'initiator' ? 'initiate' : 'respond';
    if (call !== want) this.fail(`${call}() for ${step.what}, but as ${this.role} we ${want}() every key exchange`);
    const use: KeUse = { step, call, finished: false };
    this.uses.push(use);
    return use;
  }

  method(id: number): KeMethod {
    const real = realKeMethod(id);
    return {
      id,
      name: real.name,
      initiatorValueLength: real.initiatorValueLength,
      responderValueLength: real.responderValueLength,
      initiate: (): KeInitiatorState => {
        const use = this.take(id, 'initiate');
        return {
          publicValue: Uint8Array.from(use.step.initiatorValue),
          finish: (peer: Uint8Array): Uint8Array => {
            if (use.finished) this.fail(`finish() called twice for ${use.step.what}`);
            if (toHex(peer) !== toHex(use.step.responderValue)) {
              this.fail(`${use.step.what}: finish() got ${peer.length} octets ${toHex(peer).slice(0, 32)}..., not the responder's recorded KE data`);
            }
            use.finished = true;
            return Uint8Array.from(use.step.secret);
          },
        };
      },
      respond: (peer: Uint8Array): { publicValue: Uint8Array; sharedSecret: Uint8Array } => {
        const use = this.take(id, 'respond');
        if (toHex(peer) !== toHex(use.step.initiatorValue)) {
          this.fail(`${use.step.what}: respond() got ${peer.length} octets ${toHex(peer).slice(0, 32)}..., not the initiator's recorded KE data`);
        }
        use.finished = true;
        return { publicValue: Uint8Array.from(use.step.responderValue), sharedSecret: Uint8Array.from(use.step.secret) };
      },
    };
  }

  get used(): number {
    return this.next;
  }
}

// ---------------------------------------------------------------------------------------------
// the replay

export interface Sent {
  readonly data: Uint8Array;
  readonly from: Endpoint;
  readonly to: Endpoint;
}

export interface ReplayStep {
  readonly rec: RecordedMessage;
  /** our side's message: what the engine sent in its place */
  readonly ours?: readonly Sent[];
  /** the command that made the engine send it (undefined: the engine sent it by itself) */
  readonly trigger?: string;
  /** the peer's message: the engine reported it received (decrypted and decoded) */
  readonly accepted?: boolean;
}

export interface Replay {
  readonly role: Role;
  readonly us: Side;
  readonly peer: Side;
  readonly steps: ReplayStep[];
  /** every event, with the index of the recorded message it followed */
  readonly events: { readonly step: number; readonly event: EngineEvent }[];
  /** why the replay stopped before the end of the recording */
  stopped?: string;
  /** datagrams the engine sent after the last recorded message */
  readonly leftover: Sent[];
  readonly random: RecordedRandom;
  readonly ke: RecordedKeMethods;
  /** local IDs of IKE SA 1 and of the IKE SA made by the rekey */
  readonly ids: { sa1?: number; sa2?: number };
  ms: number;
}

function headerText(h: RawHeader): string {
  const f = h.fragment ? ` frag ${h.fragment.number}/${h.fragment.total}` : '';
  return `exchange ${h.exchange} flags 0x${h.flags.toString(16)} mid ${h.messageId} spi ${h.spiI}/${h.spiR}${f}`;
}

/** Runs the whole recording; never throws for a mismatch (it is reported in `stopped`). */
export function runReplay(rec: Recording, role: Role): Replay {
  const started = performance.now();
  const us = sideOf(role);
  const peer = otherSide(us);
  const random = new RecordedRandom(rec.drawn(us), `${rec.folder}/${role}`);
  const ke = new RecordedKeMethods(rec.keSteps(us), role);
  const engine = new IkeEngine({ random: random.fn, keMethod: (id) => ke.method(id), exportKeys: true });
  const conf = rec.conf[us];
  engine.addConnection(connectionFor(conf));
  const ourEp: Endpoint = { address: conf.localAddr, port: IKE_PORT };
  const peerEp: Endpoint = { address: conf.remoteAddr, port: IKE_PORT };
  const t0 = rec.messages[0]!.datagrams[0]!.time;

  const r: Replay = { role, us, peer, steps: [], events: [], leftover: [], random, ke, ids: {}, ms: 0 };
  let queue: Sent[] = [];
  const collect = (step: number): void => {
    for (const o of engine.drain()) {
      if (o.kind === 'event') {
        r.events.push({ step, event: o.event });
        if (o.event.type === 'ike-rekeyed' && r.ids.sa2 === undefined) r.ids.sa2 = o.event.sa;
        // IKE SA 1 is the SA of the first message (as responder: before it is up, if ever)
        if (o.event.type === 'message' && r.ids.sa1 === undefined) r.ids.sa1 = o.event.sa;
      } else queue.push({ data: o.data, from: o.from, to: o.to });
    }
  };

  // Commands for the exchanges our side started in the recording (as initiator); the deletes
  // of the replaced Child SA and IKE SA the engine must queue by itself.
  const triggerFor = (m: RecordedMessage, now: number): { name: string; run: () => boolean } | undefined => {
    if (role !== 'initiator' || m.response) return undefined;
    if (m.index === 0) return { name: "initiate('ike')", run: () => { r.ids.sa1 = engine.initiate('ike', now); return true; } };
    if (m === rec.childRekey.request) {
      const n = notifyOf(m.payloads, NotifyType.REKEY_SA);
      if (!n) throw new Error(`${m.label}: no N(REKEY_SA)`);
      const spi = u32of(n.spi);
      return { name: `rekeyChild(sa1, 0x${spi.toString(16)})`, run: () => r.ids.sa1 !== undefined && engine.rekeyChild(r.ids.sa1, spi, now) };
    }
    if (m === rec.ikeRekey.request) return { name: 'rekeyIke(sa1)', run: () => r.ids.sa1 !== undefined && engine.rekeyIke(r.ids.sa1, now) };
    if (m.ikeSa === 2 && m.exchange === ExchangeType.INFORMATIONAL) {
      return { name: 'terminate(sa2)', run: () => r.ids.sa2 !== undefined && engine.terminate(r.ids.sa2, now) };
    }
    return undefined;
  };

  try {
    for (const m of rec.messages) {
      const now = Math.round((m.datagrams[0]!.time - t0) * 1000);
      collect(m.index);
      if (m.from === us) {
        const trigger = triggerFor(m, now);
        if (trigger) {
          if (queue.length > 0) {
            r.stopped = `before ${m.label}: the engine sent ${headerText(rawHeader(queue[0]!.data))} without being asked`;
            break;
          }
          if (!trigger.run()) {
            r.stopped = `${m.label}: the engine refused ${trigger.name}`;
            break;
          }
          collect(m.index);
        }
        if (queue.length < m.datagrams.length) {
          r.stopped = `${m.label}: the engine sent ${queue.length} datagram(s) where ${us} sent ${m.datagrams.length}${trigger ? ` (after ${trigger.name})` : ' (by itself)'}`;
          break;
        }
        const ours = queue.slice(0, m.datagrams.length);
        queue = queue.slice(m.datagrams.length);
        r.steps.push({ rec: m, ours, ...(trigger ? { trigger: trigger.name } : {}) });
        const bad = ours.findIndex((o, k) => {
          const a = rawHeader(o.data);
          const b = rawHeader(m.datagrams[k]!.bytes);
          return headerText(a) !== headerText(b) || a.nextPayload !== b.nextPayload
            || o.from.address !== ourEp.address || o.from.port !== ourEp.port || o.to.address !== peerEp.address || o.to.port !== peerEp.port;
        });
        if (bad >= 0) {
          const o = ours[bad]!;
          r.stopped = `${m.label}, datagram ${bad + 1}: the engine sent ${headerText(rawHeader(o.data))} ${o.from.address}:${o.from.port}->${o.to.address}:${o.to.port}, ${us} sent ${headerText(rawHeader(m.datagrams[bad]!.bytes))}`;
          break;
        }
      } else {
        if (queue.length > 0) {
          r.stopped = `before ${m.label}: the engine sent ${headerText(rawHeader(queue[0]!.data))}, ${us} sent nothing here`;
          break;
        }
        const before = r.events.length;
        for (const d of m.datagrams) engine.receive(d.bytes, peerEp, ourEp, now);
        collect(m.index);
        const accepted = r.events.slice(before).some(({ event: e }) => e.type === 'message' && e.direction === 'in'
          && e.exchange === m.exchange && e.messageId === m.messageId && e.response === m.response);
        r.steps.push({ rec: m, accepted });
        if (!accepted) {
          const why = r.events.slice(before).filter(({ event: e }) => e.type === 'log' || e.type === 'ike-failed')
            .map(({ event: e }) => (e.type === 'log' ? `${e.level}: ${e.message}` : e.type === 'ike-failed' ? `ike-failed: ${e.reason}` : '')).join('; ');
          r.stopped = `${m.label}: the engine did not accept ${peer}'s recorded message (dropped: wrong keys / not expected)${why ? ` — ${why}` : ''}`;
          break;
        }
      }
    }
  } catch (e) {
    r.stopped = `exception: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
  }
  collect(rec.messages.length);
  r.leftover.push(...queue);
  const problems = [...random.problems, ...ke.problems];
  if (problems.length > 0 && r.stopped === undefined) r.stopped = `recorded inputs misused: ${problems.join('; ')}`;
  r.ms = performance.now() - started;
  return r;
}
