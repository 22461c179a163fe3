// Engine replay of a strongSwan 6.0.6 RFC 9370 recording (see data/strongswan-6.0.6/README.md),
// in BOTH roles: the real IkeEngine plays moon (initiator) against sun's recorded messages, and
// sun (responder) against moon's. Unlike strongswan-suite.ts, which calls our key-schedule
// functions in its own order, here the engine decides what to derive and when; the recording
// only supplies what cannot be replayed otherwise (engine-replay-run.ts):
//   - EngineOptions.random: the SPIs, nonces, inbound ESP SPIs, SK/SKF IVs and link data the
//     played side put on the wire, per purpose, in order (fixed stream for jitter/cookie-secret);
//   - EngineOptions.keMethod: key exchanges that send the played side's recorded KE data and
//     return the LOGGED shared secret, after checking the engine handed them the peer's data.
// Commands: as initiator we call initiate, rekeyChild, rekeyIke and terminate where moon started
// those exchanges; the Deletes of the replaced Child SA and IKE SA the engine queues itself.
//
// What is checked, per recording and role:
//   - the engine sends each message with the recorded exchange, message ID, flags, SPIs and
//     number of fragments, and accepts (decrypts) every recorded message of the peer — after
//     every key change (each IKE_INTERMEDIATE, the IKE SA rekey);
//   - every 'ike-keys' event (exportKeys) equals the logged SK_e/SK_a of that stage;
//   - the peer's AUTH verifies (ike-up), which needs SKEYSEED(n), SK_p, both IntAuth chains
//     (our own IKE_INTERMEDIATE messages included) and the IKE_AUTH message ID right; our own
//     AUTH payload is recomputed with node:crypto from the logged SK_p and IntAuth values;
//   - the Child SA keys (first and rekeyed) equal the logged ones in the right direction, and the
//     captured ESP packets decrypt with them; the KE methods reported for the IKE SA, the rekeyed
//     IKE SA and the rekeyed Child SA are the recorded suite's;
//   - byte for byte: every IKE_INTERMEDIATE, IKE_FOLLOWUP_KE (SKF fragments included) and
//     INFORMATIONAL message the engine sends, and, as responder, the IKE SA rekey's
//     CREATE_CHILD_SA response. The others differ for reasons listed in differencesFor() and are
//     compared byte for byte after exactly those edits: IKE_SA_INIT (strongSwan sends notifies we
//     do not: REDIRECT_SUPPORTED, MULTIPLE_AUTH_SUPPORTED; lists one more signature hash; orders
//     two notifies differently), IKE_AUTH (three more notifies from strongSwan; and the AUTH
//     value, which covers the IKE_SA_INIT message as sent — so ours cannot equal moon's or sun's
//     while our IKE_SA_INIT message differs from theirs; the peer's AUTH verifying is the check
//     there, plus the recomputation of ours), the Child SA rekey's CREATE_CHILD_SA (strongSwan
//     puts the ESN transform after the ADDKE ones) and, as initiator, the IKE SA rekey's
//     CREATE_CHILD_SA request (we offer the current suite and then the configured proposal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';

import { concat, toHex } from './load.js';
import {
  MOON, SUN, IKE_PORT, all, hmacSha384, notifyOf, one, openDatagrams, u32of,
  loadRecording, type RecordedMessage, type Recording, type Side,
} from './engine-replay-recording.js';
import { FRAGMENT_SIZE, runReplay, sideOf, type Replay, type Role } from './engine-replay-run.js';

import { encodeMessage, encodePayloads, decodeMessage } from '../../src/wire/message.js';
import { AuthMethod, ExchangeType, NotifyType, PayloadType, ProtocolId } from '../../src/wire/constants.js';
import type { AuthPayload, Payload, TrafficSelector } from '../../src/wire/types.js';
import type { EngineEvent } from '../../src/engine/types.js';

export interface EngineReplaySpec {
  /** folder under data/strongswan-6.0.6/ */
  readonly folder: string;
  /** the recorded suite's KE methods: [Transform Type 4, ADDKE1, ...] */
  readonly keMethods: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// helpers

function once<T>(f: () => T): () => T {
  let state: { ok: true; v: T } | { ok: false; e: unknown } | undefined;
  return () => {
    if (state === undefined) {
      try { state = { ok: true, v: f() }; } catch (e) { state = { ok: false, e }; }
    }
    if (!state.ok) throw state.e;
    return state.v;
  };
}

function eqHex(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(toHex(actual), toHex(expected), what);
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

type Ev<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;

function eventsOf<T extends EngineEvent['type']>(r: Replay, type: T): { step: number; event: Ev<T> }[] {
  return r.events.filter((e): e is { step: number; event: Ev<T> } => e.event.type === type);
}

/** Fails with where and why the replay stopped, if it did not get as far as `what` needs. */
function reached(r: Replay, index: number, what: string): void {
  assert.ok(r.steps.length > index, `${what}: the replay did not get that far (stopped after ${r.steps.length} recorded messages): ${r.stopped ?? 'ended early'}`);
}

const KEY_PAD = new TextEncoder().encode('Key Pad for IKEv2');

/**
 * AUTH for a PSK (RFC 7296 §2.15) with the IntAuth chunk of RFC 9242 §3.3.2, computed here
 * with node:crypto (HMAC-SHA-384 is the recordings' PRF), independently of src/crypto:
 * octets = RealMessage | Nonce(peer) | prf(SK_p, IDx') | IntAuth_i | IntAuth_r | IKE_AUTH Message ID.
 */
function pskAuthIndependent(psk: Uint8Array, realMessage: Uint8Array, peerNonce: Uint8Array, skP: Uint8Array, idPrime: Uint8Array,
  intAuthI: Uint8Array, intAuthR: Uint8Array, mid: number): { octets: Uint8Array; auth: Uint8Array } {
  const octets = concat(realMessage, peerNonce, hmacSha384(skP, idPrime), intAuthI, intAuthR, u32(mid));
  return { octets, auth: hmacSha384(hmacSha384(psk, KEY_PAD), octets) };
}

function idPrimeOf(ps: readonly Payload[], type: typeof PayloadType.IDi | typeof PayloadType.IDr, what: string): Uint8Array {
  const id = one(ps, type, what);
  return concat(Uint8Array.of(id.idType, 0, 0, 0), id.data);
}

// ---------------------------------------------------------------------------------------------
// the documented differences between the engine's messages and strongSwan's

interface EditContext {
  /** our AUTH value as recomputed independently (pskAuthIndependent) */
  readonly ourAuth: () => Uint8Array;
}

interface Difference {
  /** why our message differs from strongSwan's here */
  readonly why: string;
  /** turns the recorded payload list into what our engine sends instead */
  readonly edit: (ps: Payload[], ctx: EditContext) => Payload[];
}

function dropNotify(type: number, why: string): Difference {
  return {
    why,
    edit: (ps) => {
      const i = ps.findIndex((p) => p.type === PayloadType.NOTIFY && p.notifyType === type);
      assert.ok(i >= 0, `difference '${why}' no longer applies: the recorded message has no notify ${type}`);
      return [...ps.slice(0, i), ...ps.slice(i + 1)];
    },
  };
}

const ourAuthValue: Difference = {
  why: 'AUTH data: it signs our IKE_SA_INIT message as sent (RealMessage, RFC 7296 §2.15), which differs from strongSwan\'s; '
    + 'the value is checked against an independent recomputation instead',
  edit: (ps, ctx) => ps.map((p) => (p.type === PayloadType.AUTH ? { ...p, data: ctx.ourAuth() } : p)),
};

const esnOrder: Difference = {
  why: 'SA payload: strongSwan orders the transforms ENCR, KE, ADDKE1.., ESN; we emit them in type order (ESN = 5 before ADDKE1 = 6); '
    + 'same transforms, and their order carries no meaning in RFC 7296 §3.3',
  edit: (ps) => ps.map((p) => (p.type === PayloadType.SA
    ? { ...p, proposals: p.proposals.map((q) => ({ ...q, transforms: [...q.transforms].sort((a, b) => a.type - b.type) })) }
    : p)),
};

const rekeyOffersTwice: Difference = {
  why: 'SA payload: for an IKE SA rekey we offer the suite in use as proposal 1 and then the configured proposals (tasks/ike-rekey.ts, ccs-series.ts '
    + 'rekeyProposals), here the same transforms again as proposal 2; strongSwan offers the configured proposal once',
  edit: (ps) => ps.map((p) => {
    if (p.type !== PayloadType.SA) return p;
    assert.equal(p.proposals.length, 1, 'strongSwan offered one proposal');
    return { ...p, proposals: [p.proposals[0]!, { ...p.proposals[0]!, num: 2 }] };
  }),
};

/** Empty for the messages our engine must send byte for byte as strongSwan did. */
function differencesFor(rec: Recording, m: RecordedMessage): Difference[] {
  if (m === rec.init.request) {
    return [
      dropNotify(NotifyType.REDIRECT_SUPPORTED, 'N(REDIRECT_SUPPORTED): strongSwan announces RFC 5685 redirection, which we do not implement'),
    ];
  }
  if (m === rec.init.response) {
    return [
      dropNotify(NotifyType.MULTIPLE_AUTH_SUPPORTED, 'N(MULTIPLE_AUTH_SUPPORTED): strongSwan announces RFC 4739 multiple authentication, which we do not implement'),
      {
        why: 'notify order: we send N(INTERMEDIATE_EXCHANGE_SUPPORTED) before N(CHILDLESS_IKEV2_SUPPORTED), strongSwan after it',
        edit: (ps) => {
          const c = ps.findIndex((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.CHILDLESS_IKEV2_SUPPORTED);
          const i = ps.findIndex((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED);
          assert.ok(c >= 0 && i === c + 1, 'recorded order CHILDLESS_IKEV2_SUPPORTED, INTERMEDIATE_EXCHANGE_SUPPORTED');
          const out = [...ps];
          [out[c], out[i]] = [out[i]!, out[c]!];
          return out;
        },
      },
    ];
  }
  if (m === rec.ikeAuth.request) {
    return [
      ourAuthValue,
      dropNotify(NotifyType.MULTIPLE_AUTH_SUPPORTED, 'N(MULTIPLE_AUTH_SUPPORTED): RFC 4739, not implemented'),
      dropNotify(NotifyType.EAP_ONLY_AUTHENTICATION, 'N(EAP_ONLY_AUTHENTICATION): RFC 5998, we do no EAP'),
      dropNotify(NotifyType.IKEV2_MESSAGE_ID_SYNC_SUPPORTED, 'N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED): RFC 6311, not implemented'),
    ];
  }
  if (m === rec.ikeAuth.response) return [ourAuthValue];
  if (m === rec.childRekey.request || m === rec.childRekey.response) return [esnOrder];
  if (m === rec.ikeRekey.request) return [rekeyOffersTwice];
  return [];
}

// ---------------------------------------------------------------------------------------------

export function engineReplaySuite(spec: EngineReplaySpec): void {
  const P = spec.folder;
  const rec = once(() => loadRecording(spec.folder));

  test(`${P}: the recording is what the replay assumes — suite KE methods [${spec.keMethods.join(', ')}] in IKE_SA_INIT, the Child SA rekey and the IKE SA rekey; UDP 500 both ways; fragment size ${FRAGMENT_SIZE}`, () => {
    const r = rec();
    assert.deepEqual(r.ikeKeMethods, spec.keMethods, 'IKE_SA_INIT response proposal');
    assert.deepEqual(r.childRekeyKeMethods, spec.keMethods, 'Child SA rekey response proposal');
    assert.deepEqual(r.ikeRekeyKeMethods, spec.keMethods, 'IKE SA rekey response proposal');
    // the largest datagram of the capture is one full SKF fragment: 1280 - IPv4 - UDP
    const largest = Math.max(...r.messages.flatMap((m) => m.datagrams.map((d) => d.bytes.length)));
    assert.equal(largest, FRAGMENT_SIZE - 28, 'largest IKE message');
    for (const m of r.messages) for (const d of m.datagrams) assert.equal(d.frameLength - 14 - 20 - 8, d.bytes.length, `${m.label}: IKE in UDP on Ethernet/IPv4, no non-ESP marker (port ${IKE_PORT})`);
    assert.equal(r.conf.moon.localAddr, MOON.address);
    assert.equal(r.conf.sun.localAddr, SUN.address);
  });

  test(`${P}: the test's own AUTH formula (node:crypto HMAC-SHA-384) reproduces both logged AUTH octets and values from the captured IKE_SA_INIT messages and the logged SK_p / IntAuth`, () => {
    const r = rec();
    for (const side of ['moon', 'sun'] as const) {
      const l = r.log(side).sa(1);
      const last = l.stages[l.stages.length - 1]!;
      const ia = (dir: 'i' | 'r'): Uint8Array => l.intAuth.filter((a) => a.dir === dir).at(-1)!.result;
      const ni = one(r.init.request.payloads, PayloadType.NONCE, 'Ni').data;
      const nr = one(r.init.response.payloads, PayloadType.NONCE, 'Nr').data;
      const mid = r.ikeAuth.request.messageId;
      const mine = pskAuthIndependent(r.vectors.psk, r.init.request.datagrams[0]!.bytes, nr, last.skPi, l.auth[0]!.idPrime, ia('i'), ia('r'), mid);
      const theirs = pskAuthIndependent(r.vectors.psk, r.init.response.datagrams[0]!.bytes, ni, last.skPr, l.auth[1]!.idPrime, ia('i'), ia('r'), mid);
      eqHex(mine.octets, l.auth[0]!.octets, `${side}'s log: initiator octets`);
      eqHex(mine.auth, l.auth[0]!.auth, `${side}'s log: initiator AUTH`);
      eqHex(theirs.octets, l.auth[1]!.octets, `${side}'s log: responder octets`);
      eqHex(theirs.auth, l.auth[1]!.auth, `${side}'s log: responder AUTH`);
      eqHex(one(r.ikeAuth.request.payloads, PayloadType.AUTH, 'IKE_AUTH request').data, mine.auth, 'moon\'s AUTH payload');
      eqHex(one(r.ikeAuth.response.payloads, PayloadType.AUTH, 'IKE_AUTH response').data, theirs.auth, 'sun\'s AUTH payload');
    }
  });

  for (const role of ['initiator', 'responder'] as const) roleTests(spec, rec, role);
}

function roleTests(spec: EngineReplaySpec, rec: () => Recording, role: Role): void {
  const us: Side = sideOf(role);
  const peer: Side = us === 'moon' ? 'sun' : 'moon';
  const P = `${spec.folder} [engine as ${role} = ${us}, against ${peer}'s recorded messages]`;
  const replay = once(() => runReplay(rec(), role));
  const log = (): ReturnType<Recording['log']> => rec().log(us);
  const nAdd = spec.keMethods.length - 1;

  const sa1Keys = (): { step: number; event: Ev<'ike-keys'> }[] => eventsOf(replay(), 'ike-keys').filter((e) => e.event.sa === replay().ids.sa1);

  // ---- the run as a whole

  test(`${P}: replays the whole recording — every message the engine sends has ${us}'s exchange type, message ID, flags, SPIs, addresses and fragment count, and every recorded message of ${peer} is accepted; nothing is left over`, () => {
    const r = replay();
    const summary = r.steps.map((s) => `${s.rec.label}: ${s.ours ? `sent${s.trigger ? ` after ${s.trigger}` : ' by itself'}` : s.accepted ? 'accepted' : 'NOT accepted'}`).join('\n');
    assert.equal(r.stopped, undefined, `replay stopped: ${r.stopped}\n${summary}`);
    assert.equal(r.steps.length, rec().messages.length, summary);
    assert.deepEqual(r.leftover.map((o) => toHex(o.data.subarray(16, 24))), [], 'datagrams the engine sent after the end of the recording');
    const triggers = r.steps.filter((s) => s.trigger !== undefined).map((s) => `${s.trigger} -> ${s.rec.label}`);
    const rekeySa = notifyOf(rec().childRekey.request.payloads, NotifyType.REKEY_SA);
    assert.ok(rekeySa, 'N(REKEY_SA) in the Child SA rekey request');
    const final = rec().find((m) => m.ikeSa === 2 && !m.response)[0]!;
    assert.deepEqual(triggers, role === 'initiator'
      ? [`initiate('ike') -> ${rec().init.request.label}`, `rekeyChild(sa1, 0x${u32of(rekeySa.spi).toString(16)}) -> ${rec().childRekey.request.label}`,
          `rekeyIke(sa1) -> ${rec().ikeRekey.request.label}`, `terminate(sa2) -> ${final.label}`]
      : [], 'commands issued (the Deletes of the replaced SAs come from the engine itself)');
    // the engine itself sent the Delete of the replaced Child SA and of the replaced IKE SA
    const selfSent = r.steps.filter((s) => s.ours !== undefined && s.trigger === undefined && !s.rec.response).map((s) => s.rec.label);
    const infos = rec().find((m) => m.from === us && !m.response && m.exchange === ExchangeType.INFORMATIONAL && m.ikeSa === 1).map((m) => m.label);
    const handshake = rec().find((m) => m.from === us && !m.response && m.ikeSa === 1 && (m.exchange === ExchangeType.IKE_INTERMEDIATE || m.exchange === ExchangeType.IKE_AUTH || m.exchange === ExchangeType.IKE_FOLLOWUP_KE)).map((m) => m.label);
    if (role === 'initiator') assert.deepEqual(new Set(selfSent), new Set([...handshake, ...infos]), 'requests the engine sent by itself');
    else assert.deepEqual(selfSent, [], 'as responder the engine sends no request');
  });

  test(`${P}: every recorded message of ${peer} was decrypted and accepted, in particular the first one protected by each new key stage (each IKE_INTERMEDIATE's keys, the rekeyed IKE SA's)`, () => {
    const r = replay();
    const theirs = rec().messages.filter((m) => m.from === peer);
    for (const m of theirs) {
      const s = r.steps[m.index];
      assert.ok(s?.accepted === true, `${m.label} (${m.keyStage}): ${s ? 'not accepted' : `not reached — ${r.stopped}`}`);
    }
    // one accepted message per key stage, at least
    const stages = new Set(theirs.filter((m) => m.key !== undefined).map((m) => m.keyStage));
    assert.equal(stages.size, nAdd + 2, `${peer}'s messages cover stages 0..${nAdd} of IKE SA 1 and the rekeyed IKE SA`);
  });

  test(`${P}: EngineOptions.random — each draw of 'ike-spi', 'nonce', 'esp-spi', 'iv', 'link' got the next value ${us} put on the wire, every recorded value was drawn, lengths as recorded (link data: strongSwan's is 1 octet, the engine asks for 8); anything else drawn only 'jitter'/'cookie-secret'`, () => {
    const r = replay();
    assert.deepEqual(r.random.problems, [], 'misused recorded randomness');
    assert.deepEqual(r.random.left(), {}, 'recorded values the engine never asked for');
    const d = rec().drawn(us);
    const served = (p: string): string[] => r.random.draws.filter((x) => x.purpose === p).map((x) => x.value);
    for (const p of ['ike-spi', 'nonce', 'esp-spi', 'iv', 'link'] as const) assert.deepEqual(served(p), d[p].map(toHex), `'${p}' draws`);
    assert.deepEqual(d.link.map(toHex), role === 'responder' ? Array(2 * nAdd).fill('42') : [], 'strongSwan\'s link data: one octet 0x42 in every round');
    for (const x of r.random.draws.filter((x) => x.purpose === 'link')) assert.deepEqual([x.requested, x.served], [8, 1], 'link draw: engine asks for 8 octets, gets the recorded 1');
    const others = new Set(r.random.draws.map((x) => x.purpose).filter((p) => !['ike-spi', 'nonce', 'esp-spi', 'iv', 'link'].includes(p)));
    for (const p of others) assert.ok(p === 'jitter' || p === 'cookie-secret', `unexpected purpose ${p}`);
  });

  test(`${P}: EngineOptions.keMethod — the engine ran the recorded key exchanges in the recorded order (${['IKE_SA_INIT', ...Array.from({ length: nAdd }, (_, k) => `IKE_INTERMEDIATE ${k + 1}`), 'Child SA rekey', 'IKE SA rekey'].join(', ')}), each of the right method, sending ${us}'s KE data and handing over exactly ${peer}'s`, () => {
    const r = replay();
    assert.deepEqual(r.ke.problems, [], 'misused recorded key exchanges');
    const steps = rec().keSteps(us);
    assert.deepEqual(r.ke.uses.map((u) => `${u.step.what}/${u.call}/${u.finished}`), steps.map((s) => `${s.what}/${role === 'initiator' ? 'initiate' : 'respond'}/true`));
    assert.equal(steps.length, 3 * (nAdd + 1));
  });

  // ---- IKE SA 1 key stages

  for (let k = 0; k <= nAdd; k++) {
    const title = k === 0 ? 'after IKE_SA_INIT' : `after IKE_INTERMEDIATE mid=${k} (SKEYSEED(${k}) = prf(SK_d(${k - 1}), SK(${k}) | Ni | Nr))`;
    test(`${P}: key stage ${k} ${title}: the engine's 'ike-keys' event carries the SPIs and the SK_ei, SK_er, SK_ai, SK_ar ${us} logged, emitted when that exchange completed`, () => {
      const r = replay();
      const ev = sa1Keys();
      reached(r, k === 0 ? 1 : (rec().find((m) => m.exchange === ExchangeType.IKE_INTERMEDIATE && m.messageId === k && m.response)[0]!).index, `stage ${k}`);
      assert.ok(ev.length >= k + 1, `only ${ev.length} 'ike-keys' event(s) for IKE SA 1`);
      const e = ev[k]!;
      const ls = log().sa(1).stages[k]!;
      const h = decodeMessage(rec().init.response.datagrams[0]!.bytes).header;
      assert.deepEqual([e.event.spiI, e.event.spiR], [toHex(h.spiI), toHex(h.spiR)], 'SPIs');
      eqHex(e.event.skEi, ls.skEi, 'SK_ei');
      eqHex(e.event.skEr, ls.skEr, 'SK_er');
      eqHex(e.event.skAi, ls.skAi, 'SK_ai (empty: AEAD)');
      eqHex(e.event.skAr, ls.skAr, 'SK_ar (empty: AEAD)');
      // initiator: derived on the response; responder: on the request, before answering
      const exchange = rec().find((m) => (k === 0 ? m.exchange === ExchangeType.IKE_SA_INIT : m.exchange === ExchangeType.IKE_INTERMEDIATE && m.messageId === k)
        && m.response === (role === 'initiator'))[0]!;
      assert.equal(e.step, exchange.index, `reported at ${exchange.label}`);
      if (k === nAdd) assert.equal(ev.length, nAdd + 1, 'no further key stage for IKE SA 1');
    });
  }

  // ---- authentication

  test(`${P}: the engine accepts ${peer}'s recorded AUTH (SKEYSEED(${nAdd}), SK_p${peer === 'moon' ? 'i' : 'r'}, IntAuth_i/IntAuth_r over both sides' IKE_INTERMEDIATE messages and the IKE_AUTH message ID all right): 'ike-up' at IKE_AUTH with IkeSaInfo.keMethods = [${spec.keMethods.join(', ')}]`, () => {
    const r = replay();
    reached(r, rec().ikeAuth.response.index, 'IKE_AUTH');
    assert.deepEqual(eventsOf(r, 'ike-failed').map((e) => e.event.reason), [], 'ike-failed');
    const up = eventsOf(r, 'ike-up');
    assert.equal(up.length, 1, "one 'ike-up'");
    const e = up[0]!;
    assert.equal(e.step, role === 'initiator' ? rec().ikeAuth.response.index : rec().ikeAuth.request.index, 'at IKE_AUTH');
    assert.deepEqual(e.event.ike.keMethods, spec.keMethods, 'IkeSaInfo.keMethods');
    assert.equal(e.event.ike.role, role);
    assert.equal(e.event.ike.remoteId, (peer === 'moon' ? MOON : SUN).id);
    assert.equal(e.event.ike.localId, (us === 'moon' ? MOON : SUN).id);
    // the peer's AUTH payload in the recorded IKE_AUTH message is the one the engine verified
    const peerMsg = role === 'initiator' ? rec().ikeAuth.response : rec().ikeAuth.request;
    assert.equal(one(peerMsg.payloads, PayloadType.AUTH, peerMsg.label).method, AuthMethod.SHARED_KEY_MIC, 'PSK (Shared Key Message Integrity Code)');
  });

  /** Our AUTH, recomputed from our IKE_SA_INIT message as sent and the logged SK_p / IntAuth. */
  const ourAuth = once(() => {
    const r = replay();
    const R = rec();
    const myInit = role === 'initiator' ? R.init.request : R.init.response;
    const myAuthMsg = role === 'initiator' ? R.ikeAuth.request : R.ikeAuth.response;
    const peerNonceMsg = role === 'initiator' ? R.init.response : R.init.request;
    reached(r, myAuthMsg.index, 'our IKE_AUTH message');
    const initSent = r.steps[myInit.index]!.ours!;
    const authSent = r.steps[myAuthMsg.index]!.ours!;
    const l = log().sa(1);
    const last = l.stages[l.stages.length - 1]!;
    const opened = openDatagrams(authSent.map((o) => o.data), myAuthMsg.key!);
    const idType = role === 'initiator' ? PayloadType.IDi : PayloadType.IDr;
    const idPrime = idPrimeOf(opened.inner, idType, 'our IKE_AUTH');
    const ia = (dir: 'i' | 'r'): Uint8Array => l.intAuth.filter((a) => a.dir === dir).at(-1)!.result;
    const expected = pskAuthIndependent(R.vectors.psk, initSent[0]!.data, one(peerNonceMsg.payloads, PayloadType.NONCE, 'peer nonce').data,
      role === 'initiator' ? last.skPi : last.skPr, idPrime, ia('i'), ia('r'), myAuthMsg.messageId);
    const authPayload = one(opened.inner, PayloadType.AUTH, 'our IKE_AUTH') as AuthPayload;
    return { expected, authPayload, idPrime, loggedIdPrime: l.auth[role === 'initiator' ? 0 : 1]!.idPrime, myInit, initSent };
  });

  test(`${P}: our own AUTH payload (decrypted with the logged SK_e${role === 'initiator' ? 'i' : 'r'}) = prf(prf(PSK, "Key Pad for IKEv2"), <our IKE_SA_INIT ${role === 'initiator' ? 'request' : 'response'} as sent> | N${role === 'initiator' ? 'r' : 'i'} | prf(SK_p${role === 'initiator' ? 'i' : 'r'} as logged, ID${role === 'initiator' ? 'i' : 'r'}') | IntAuth_i | IntAuth_r as logged | IKE_AUTH Message ID), recomputed with node:crypto — it cannot equal ${us}'s, because our IKE_SA_INIT ${role === 'initiator' ? 'request' : 'response'} is not ${us}'s`, () => {
    const o = ourAuth();
    eqHex(o.idPrime, o.loggedIdPrime, `our ID' equals ${us}'s logged one`);
    assert.equal(o.authPayload.method, AuthMethod.SHARED_KEY_MIC, 'PSK');
    eqHex(o.authPayload.data, o.expected.auth, 'AUTH');
    assert.notEqual(toHex(o.initSent[0]!.data), toHex(o.myInit.datagrams[0]!.bytes), `our IKE_SA_INIT message differs from ${us}'s (see the IKE_SA_INIT comparison test)`);
  });

  // ---- Child SAs

  const esp = once(() => rec().vectors.espSa);
  const espKey = (spi: number): Uint8Array => {
    const rows = esp().filter((x) => x.spi === spi);
    assert.equal(rows.length, 1, `esp_sa row for SPI ${spi.toString(16)}`);
    return rows[0]!.encrKey;
  };
  const childUps = (): { step: number; event: Ev<'child-up'> }[] => eventsOf(replay(), 'child-up');

  for (const which of [0, 1] as const) {
    const name = which === 0 ? 'first Child SA (IKE_AUTH, KEYMAT = prf+(SK_d, Ni | Nr), no KE)' : `rekeyed Child SA (CREATE_CHILD_SA + ${nAdd} IKE_FOLLOWUP_KE, KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1)..SK(${nAdd})))`;
    test(`${P}: ${name}: the 'child-up' keys equal ${us}'s logged KEYMAT with the initiator-to-responder keys first, ${role === 'initiator' ? 'outbound' : 'inbound'} for us (${role === 'initiator' ? 'we' : peer} initiated), SPIs as logged, and the outbound key is esp_sa's key of our outbound SPI`, () => {
      const r = replay();
      const R = rec();
      reached(r, which === 0 ? R.ikeAuth.response.index : R.find((m) => m.exchange === ExchangeType.IKE_FOLLOWUP_KE && m.response && m.messageId === R.childRekey.request.messageId + nAdd)[0]!.index, name);
      const ups = childUps();
      assert.equal(ups.length, 2, "two 'child-up' events");
      const c = ups[which]!.event.child;
      const lc = log().sa(1).children[which]!;
      assert.equal(ups[which]!.event.sa, r.ids.sa1, 'on IKE SA 1');
      eqHex(c.keys.encrI, lc.encrI, 'encryption key initiator-to-responder');
      eqHex(c.keys.encrR, lc.encrR, 'encryption key responder-to-initiator');
      eqHex(c.keys.integI, lc.integI, 'integrity key i (empty: AES-GCM)');
      eqHex(c.keys.integR, lc.integR, 'integrity key r (empty: AES-GCM)');
      assert.deepEqual([c.spiIn.toString(16), c.spiOut.toString(16)], [lc.spiIn.toString(16), lc.spiOut.toString(16)], `SPIs (${us}'s log: in/out)`);
      assert.equal(c.initiator, role === 'initiator', 'ChildSaInfo.initiator: who started the exchange that made it');
      const outbound = role === 'initiator' ? c.keys.encrI : c.keys.encrR;
      const inbound = role === 'initiator' ? c.keys.encrR : c.keys.encrI;
      eqHex(espKey(c.spiOut), outbound, 'esp_sa key of our outbound SPI');
      eqHex(espKey(c.spiIn), inbound, 'esp_sa key of our inbound SPI');
      assert.deepEqual([c.mode, c.encap, c.esn], ['tunnel', false, false]);
      // traffic selectors as narrowed in the exchange that made it (TSi = the initiator's side)
      const made = which === 0 ? R.ikeAuth.response : R.childRekey.response;
      const tsBytes = (sel: readonly TrafficSelector[]): string => toHex(encodePayloads([{ type: PayloadType.TSi, critical: false, selectors: [...sel] }]).bytes);
      const tsi = one(made.payloads, PayloadType.TSi, made.label).selectors;
      const tsr = one(made.payloads, PayloadType.TSr, made.label).selectors;
      assert.equal(tsBytes(c.localTs), tsBytes(role === 'initiator' ? tsi : tsr), `local traffic selectors = ${role === 'initiator' ? 'TSi' : 'TSr'} of ${made.label}`);
      assert.equal(tsBytes(c.remoteTs), tsBytes(role === 'initiator' ? tsr : tsi), `remote traffic selectors = ${role === 'initiator' ? 'TSr' : 'TSi'} of ${made.label}`);
      if (which === 0) {
        assert.deepEqual(c.keMethods, [], 'keyed from SK_d alone');
      } else {
        assert.deepEqual(c.keMethods, spec.keMethods, 'ChildSaInfo.keMethods of the rekeyed Child SA');
        assert.equal(c.rekeyOf, ups[0]!.event.child.spiIn, 'rekeyOf = inbound SPI of the first Child SA');
      }
    });
  }

  test(`${P}: every ESP packet of the capture decrypts (AES-GCM, RFC 4106) with the engine's Child SA keys as the engine would use them: ${us}'s packets under our outbound SPI with our outbound key, ${peer}'s under our inbound SPI with our inbound key`, () => {
    const ups = childUps();
    assert.equal(ups.length, 2, "two 'child-up' events");
    const byDirection = new Map<string, Uint8Array>();
    for (const { event: { child: c } } of ups) {
      byDirection.set(`${us}/${c.spiOut}`, role === 'initiator' ? c.keys.encrI : c.keys.encrR);
      byDirection.set(`${peer}/${c.spiIn}`, role === 'initiator' ? c.keys.encrR : c.keys.encrI);
    }
    const packets = rec().vectors.esp;
    assert.ok(packets.length >= 8, 'ESP packets in the capture');
    for (const p of packets) {
      const from: Side = p.src === MOON.address ? 'moon' : 'sun';
      const b = p.bytes;
      const spi = new DataView(b.buffer, b.byteOffset).getUint32(0);
      const key = byDirection.get(`${from}/${spi}`);
      assert.ok(key, `frame ${p.frame}: ${from} sent to SPI ${spi.toString(16)}, which is not our ${from === us ? 'outbound' : 'inbound'} SPI of either Child SA`);
      const d = createDecipheriv('aes-256-gcm', key.subarray(0, 32), concat(key.subarray(32, 36), b.subarray(8, 16)), { authTagLength: 16 });
      d.setAAD(b.subarray(0, 8));
      d.setAuthTag(b.subarray(b.length - 16));
      const pt = concat(d.update(b.subarray(16, b.length - 16)), d.final());
      assert.equal(pt[pt.length - 1], 4, `frame ${p.frame}: Next Header IPv4 (tunnel mode)`);
    }
  });

  // ---- IKE SA rekey

  test(`${P}: rekeyed IKE SA: 'ike-rekeyed' with IkeSaInfo.keMethods = [${spec.keMethods.join(', ')}] and the new SPIs, and its 'ike-keys' event (SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(1)..SK(${nAdd}))) carries the SK_ei, SK_er, SK_ai, SK_ar ${us} logged`, () => {
    const r = replay();
    const R = rec();
    const lastFollowup = R.find((m) => m.exchange === ExchangeType.IKE_FOLLOWUP_KE && m.response && m.messageId === R.ikeRekey.request.messageId + nAdd)[0]!;
    reached(r, lastFollowup.index, 'IKE SA rekey');
    const rk = eventsOf(r, 'ike-rekeyed');
    assert.equal(rk.length, 1, "one 'ike-rekeyed'");
    const e = rk[0]!;
    assert.equal(e.event.old, r.ids.sa1);
    assert.deepEqual(e.event.ike.keMethods, spec.keMethods, 'IkeSaInfo.keMethods of the rekeyed IKE SA');
    assert.equal(e.step, role === 'initiator' ? lastFollowup.index : lastFollowup.index - 1, 'when the last IKE_FOLLOWUP_KE completed');
    const spiI = one(R.ikeRekey.request.payloads, PayloadType.SA, 'rekey request').proposals[0]!.spi;
    const spiR = one(R.ikeRekey.response.payloads, PayloadType.SA, 'rekey response').proposals[0]!.spi;
    assert.deepEqual([e.event.ike.spiI, e.event.ike.spiR], [toHex(spiI), toHex(spiR)], 'new SPIs');
    assert.equal(e.event.ike.role, role, 'moon started the rekey, so it stays the original initiator');
    const keys = eventsOf(r, 'ike-keys').filter((x) => x.event.sa === e.event.sa);
    assert.equal(keys.length, 1, "one 'ike-keys' for the new IKE SA");
    const ls = log().sa(2).stages[0]!;
    const k = keys[0]!.event;
    assert.deepEqual([k.spiI, k.spiR], [toHex(spiI), toHex(spiR)], 'SPIs');
    eqHex(k.skEi, ls.skEi, 'SK_ei');
    eqHex(k.skEr, ls.skEr, 'SK_er');
    eqHex(k.skAi, ls.skAi, 'SK_ai');
    eqHex(k.skAr, ls.skAr, 'SK_ar');
    // and the message on the new IKE SA: the peer's (response or request) was accepted above
    const onNew = R.find((m) => m.ikeSa === 2 && m.from === peer)[0]!;
    assert.equal(r.steps[onNew.index]?.accepted, true, `${onNew.label} (under the rekeyed keys) accepted`);
  });

  test(`${P}: lifecycle — the replaced Child SA goes down on its Delete, IKE SA 1 on its Delete, the rekeyed IKE SA and its Child SA on the final Delete; no 'ike-failed', no warning or error logged`, () => {
    const r = replay();
    reached(r, rec().messages.length - 1, 'the end');
    const R = rec();
    const infos = R.find((m) => m.exchange === ExchangeType.INFORMATIONAL);
    const at = (m: RecordedMessage | undefined): number => m!.index;
    const childDelete = infos.find((m) => m.ikeSa === 1 && all(m.payloads, PayloadType.DELETE).some((d) => d.protocolId === ProtocolId.ESP) && m.response === (role === 'initiator'));
    const ikeDelete = infos.find((m) => m.ikeSa === 1 && all(m.payloads, PayloadType.DELETE).some((d) => d.protocolId === ProtocolId.IKE) && !m.response);
    const finalDelete = infos.find((m) => m.ikeSa === 2 && !m.response);
    const ups = childUps();
    const downs = eventsOf(r, 'child-down').map((e) => `${e.step}:${e.event.child.spiIn.toString(16)}`);
    assert.deepEqual(downs, [
      `${at(childDelete)}:${ups[0]!.event.child.spiIn.toString(16)}`,
      `${role === 'initiator' ? at(finalDelete) + 1 : at(finalDelete)}:${ups[1]!.event.child.spiIn.toString(16)}`,
    ], 'child-down: step:inbound SPI');
    const ikeDowns = eventsOf(r, 'ike-down').map((e) => `${e.step}:${e.event.sa}`);
    assert.deepEqual(ikeDowns, [
      `${role === 'initiator' ? at(ikeDelete) + 1 : at(ikeDelete)}:${r.ids.sa1}`,
      `${role === 'initiator' ? at(finalDelete) + 1 : at(finalDelete)}:${r.ids.sa2}`,
    ], 'ike-down: step:SA');
    assert.deepEqual(eventsOf(r, 'ike-failed').map((e) => e.event.reason), []);
    const bad = eventsOf(r, 'log').filter((e) => e.event.level === 'warn' || e.event.level === 'error').map((e) => e.event.message);
    assert.deepEqual(bad, []);
    assert.deepEqual(eventsOf(r, 'retransmit'), [], 'no retransmissions (no clock tick needed)');
  });

  // ---- the engine's messages against the recorded ones

  // test names need the list before the replay runs; the recording is cheap to load
  for (const m of (() => { try { return rec().messages.filter((x) => x.from === us); } catch { return []; } })()) {
    const diffs = differencesFor(rec(), m);
    const frag = m.datagrams.length > 1 ? ` and its ${m.datagrams.length} SKF fragments` : '';
    const name = diffs.length === 0
      ? `${P}: our ${m.exchangeName} ${m.response ? 'response' : 'request'} mid=${m.messageId}${frag} is byte for byte ${us}'s ${m.label.replace(/^.*\(/, '(')}, IVs fed`
      : `${P}: our ${m.exchangeName} ${m.response ? 'response' : 'request'} mid=${m.messageId} equals ${us}'s ${m.label.replace(/^.*\(/, '(')} byte for byte except: ${diffs.map((d) => d.why).join(' / ')}`;
    test(name, () => {
      const r = replay();
      reached(r, m.index, m.label);
      const ours = r.steps[m.index]!.ours!;
      assert.equal(ours.length, m.datagrams.length, 'datagrams (fragments)');
      const exact = ours.every((o, k) => toHex(o.data) === toHex(m.datagrams[k]!.bytes));
      if (diffs.length === 0) {
        ours.forEach((o, k) => eqHex(o.data, m.datagrams[k]!.bytes, `datagram ${k + 1} of ${ours.length}`));
        return;
      }
      assert.ok(!exact, `${m.label} is now byte for byte ${us}'s: drop its entry from differencesFor()`);
      const ctx: EditContext = { ourAuth: () => ourAuth().expected.auth };
      const expected = diffs.reduce<Payload[]>((ps, d) => d.edit(ps, ctx), [...m.payloads]);
      if (m.key === undefined) {
        // IKE_SA_INIT: the whole message after the edits (header included)
        const h = decodeMessage(m.datagrams[0]!.bytes).header;
        const { length: _l, nextPayload: _n, ...header } = h;
        eqHex(ours[0]!.data, encodeMessage(header, expected), 'whole IKE_SA_INIT message after the documented edits');
        return;
      }
      // protected: open ours with the logged key of that stage; the IVs are the recorded ones
      const opened = openDatagrams(ours.map((o) => o.data), m.key);
      assert.deepEqual(opened.parts.map((p) => toHex(p.iv)), m.ivs.map(toHex), 'IVs');
      assert.deepEqual(opened.parts.map((p) => p.padLength), opened.parts.map(() => 0), 'no padding (as strongSwan)');
      const enc = encodePayloads(expected);
      assert.equal(opened.innerFirst, enc.firstType, 'first inner payload');
      eqHex(opened.plain, enc.bytes, 'inner payload chain after the documented edits');
    });
  }
}
