/**
 * A peer that holds the keys and misbehaves, or a forger on the path: the cases an outside
 * attack found (issue 7). Each test fails on the code before its fix.
 * - No request whose Message ID we consumed goes unanswered (RFC 7296 §2.2), even when its
 *   handler throws or its answer cannot be encoded (traffic selectors narrowed past 255).
 * - INFORMATIONAL only after the initial exchanges (RFC 7296 §1.4).
 * - REKEY_SA names an ESP SA; peer SPIs 0, 1-255 (RFC 4303 §2.1) or one already in use are refused.
 * - A forged IKE_SA_INIT error does not end the attempt (RFC 7296 §2.21.1).
 * - A fragment series past the reassembly bound does not leave its Message ID stuck (RFC 7383 §2.6).
 * - Child SAs and pending IKE_FOLLOWUP_KE series per IKE SA are bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, failures, isMessage, logs, onlySa, sealAs, ups } from '../helpers/engine-wire.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import type { ChildConfig } from '../../src/engine/types.js';
import { notify } from '../../src/engine/payloads.js';
import { keMethod } from '../../src/crypto/ke.js';
import type { KeMethod } from '../../src/crypto/ke.js';
import { ExchangeType, HeaderFlags, NotifyType, PayloadType, ProtocolId, encodeMessage } from '../../src/wire/index.js';
import type { Payload, TrafficSelector } from '../../src/wire/index.js';
import { u32 } from '../../src/engine/util.js';

const CLASSIC = 'aes256gcm16-prfsha384-x25519';
const HYBRID = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';

/** Responses `engine` sent for one exchange, decrypted by the receiving side's events. */
function sentResponses(events: readonly import('../../src/engine/types.js').EngineEvent[], exchange: number): string[][] {
  return events.filter((e) => e.type === 'message' && e.direction === 'out' && e.response && e.exchange === exchange).map((e) => (e.type === 'message' ? [...e.payloads] : []));
}

function hosts(n: number): TrafficSelector[] {
  return Array.from({ length: n }, (_, k) => parseTrafficSelector(`10.0.${k >> 8}.${k & 0xff}/32`));
}

// ---- every consumed Message ID is answered -------------------------------------------------

test('IKE_AUTH whose narrowed traffic selectors would pass 255: answered, the IKE SA and a Child SA with at most 255 selectors come up', () => {
  // 200 proposed hosts × 2 configured protocol selectors = 400 intersections.
  const esp = parseProposals(['aes256gcm16'], 'esp');
  const child = (localTs: TrafficSelector[], remoteTs: TrafficSelector[]): ChildConfig => ({ name: 'net', espProposals: esp, localTs, remoteTs, mode: 'tunnel', rekeyTimeMs: 0, lifeTimeMs: 0 });
  const pair = new EnginePair({
    ikeI: [CLASSIC],
    connI: { children: [child(hosts(200), [parseTrafficSelector('198.51.100.128/25')])] },
    connR: { children: [child([parseTrafficSelector('198.51.100.128/25')], [parseTrafficSelector('10.0.0.0/16[tcp]'), parseTrafficSelector('10.0.0.0/16[udp]')])] },
  });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), [], logs(pair.eventsR));
  assert.equal(ups(pair.eventsI).length, 1, logs(pair.eventsI));
  const up = pair.i.children(pair.i.list()[0]?.id ?? -1)[0];
  assert.ok(up, logs(pair.eventsI));
  assert.equal(up.localTs.length, 255, 'narrowed to the first 255 intersections');
  assert.deepEqual(sentResponses(pair.eventsR, ExchangeType.IKE_AUTH)[0]?.slice(0, 2), ['IDr', 'AUTH']);
  // The same selectors in CREATE_CHILD_SA.
  const id = pair.i.list()[0]?.id ?? -1;
  assert.ok(pair.i.createChild(id, 'net', pair.now));
  pair.run();
  assert.deepEqual(pair.errors(), [], logs(pair.eventsR));
  assert.deepEqual(pair.i.children(id).map((c) => c.localTs.length), [255, 255]);
});

test('a request whose handler throws is still answered (INVALID_SYNTAX), and the failure is reported as an internal error', () => {
  // A key exchange method that fails with a bug (not a CryptoError) while answering IKE_INTERMEDIATE.
  const broken = (id: number): KeMethod => {
    const m = keMethod(id);
    if (id !== 36) return m;
    return { ...m, respond: () => { throw new TypeError('simulated bug'); } };
  };
  const pair = new EnginePair({ ikeI: [HYBRID], responderEngineOptions: { keMethod: broken } });
  pair.initiate();
  pair.runFor(10_000);
  const answers = sentResponses(pair.eventsR, ExchangeType.IKE_INTERMEDIATE);
  assert.deepEqual(answers, [['N(INVALID_SYNTAX)']]);
  assert.equal(pair.errors().length, 1, 'reported once');
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.INVALID_SYNTAX);
  assert.deepEqual(pair.i.list(), []);
  assert.deepEqual(pair.r.list(), []);
  // Without the answer the initiator would still be retransmitting.
  assert.equal(pair.wire.filter((d) => d.from === 'i' && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, false)).length, 1);
});

// ---- INFORMATIONAL only after the initial exchanges ---------------------------------------

test('an INFORMATIONAL Delete before IKE_AUTH is answered INVALID_SYNTAX and changes nothing: the half-open SA stays counted', () => {
  const pair = new EnginePair({ ikeI: [CLASSIC] });
  pair.filter = (d) => (isMessage(d.data, ExchangeType.IKE_AUTH, false) ? undefined : d.data);
  pair.initiate();
  pair.run();
  assert.equal(pair.r.resources().halfOpen, 1);
  const sa = onlySa(pair.i);
  pair.filter = (d) => d.data;
  // Message ID 1: the dropped IKE_AUTH request never reached the responder.
  for (const d of sealAs(sa, ExchangeType.INFORMATIONAL, 1, [{ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }])) pair.inject('i', d);
  assert.deepEqual(sentResponses(pair.eventsR, ExchangeType.INFORMATIONAL), [['N(INVALID_SYNTAX)']]);
  assert.equal(pair.eventsR.filter((e) => e.type === 'ike-down').length, 0, 'not deleted by an unauthenticated peer');
  assert.equal(pair.r.resources().halfOpen, 1, 'still counted as half-open');
  assert.equal(pair.r.list().length, 1);
});

// ---- REKEY_SA and SPIs ---------------------------------------------------------------------

/** An established pair and the initiator's SA, Child SA and a CREATE_CHILD_SA body builder. */
function established(): { pair: EnginePair; rekey: (protocolId: number, spi: Uint8Array, proposalSpi?: Uint8Array) => string[] } {
  const pair = new EnginePair({ ikeI: [CLASSIC] });
  pair.establish();
  const sa = onlySa(pair.i);
  const child = sa.children[0];
  assert.ok(child);
  let mid = sa.nextRequestId;
  const rekey = (protocolId: number, spi: Uint8Array, proposalSpi: Uint8Array = Uint8Array.of(0x11, 0x22, 0x33, 0x44)): string[] => {
    const before = sentResponses(pair.eventsR, ExchangeType.CREATE_CHILD_SA).length;
    const payloads: Payload[] = [
      notify(NotifyType.REKEY_SA, new Uint8Array(0), protocolId, spi),
      { type: PayloadType.SA, critical: false, proposals: [{ num: 1, protocolId: ProtocolId.ESP, spi: proposalSpi, transforms: [{ type: 1, id: 20, attributes: [{ type: 14, value: 256 }] }, { type: 5, id: 0, attributes: [] }] }] },
      { type: PayloadType.NONCE, critical: false, data: new Uint8Array(32).fill(7) },
      { type: PayloadType.TSi, critical: false, selectors: [...child.info.localTs] },
      { type: PayloadType.TSr, critical: false, selectors: [...child.info.remoteTs] },
    ];
    for (const d of sealAs(sa, ExchangeType.CREATE_CHILD_SA, mid++, payloads)) pair.inject('i', d);
    return sentResponses(pair.eventsR, ExchangeType.CREATE_CHILD_SA)[before] ?? [];
  };
  return { pair, rekey };
}

test('REKEY_SA with a protocol other than ESP never rekeys the ESP Child SA it names (the bug class of CVE-2023-38710)', () => {
  const { pair, rekey } = established();
  const spiIn = onlySa(pair.i).children[0]?.info.spiIn ?? 0;
  assert.deepEqual(rekey(ProtocolId.AH, u32(spiIn)), ['N(CHILD_SA_NOT_FOUND)']);
  assert.deepEqual(rekey(4, u32(spiIn)), ['N(INVALID_SYNTAX)']);
  assert.deepEqual(rekey(200, u32(spiIn)), ['N(INVALID_SYNTAX)']);
  assert.deepEqual(rekey(ProtocolId.ESP, Uint8Array.of(1, 2)), ['N(INVALID_SYNTAX)'], 'a REKEY_SA SPI of 2 bytes');
  const r = onlySa(pair.r);
  assert.equal(r.children.length, 1);
  assert.equal(r.children[0]?.state, 'installed');
  // Control: the same request with ESP does rekey it.
  const ok = rekey(ProtocolId.ESP, u32(spiIn));
  assert.ok(ok.includes('SA') && ok.includes('TSi'), JSON.stringify(ok));
  assert.equal(r.children.length, 2, 'rekeyed with ESP');
});

test('a peer ESP SPI of 0, 1-255, or one another Child SA uses, is refused with NO_PROPOSAL_CHOSEN', () => {
  const { pair, rekey } = established();
  const sa = onlySa(pair.i);
  const child = sa.children[0];
  assert.ok(child);
  for (const spi of [0, 1, 255]) assert.deepEqual(rekey(ProtocolId.ESP, u32(child.info.spiIn), u32(spi)), ['N(NO_PROPOSAL_CHOSEN)'], `SPI ${spi}`);
  // The initiator's own inbound SPI of the existing Child SA is the responder's outbound one.
  assert.deepEqual(rekey(ProtocolId.ESP, u32(child.info.spiIn), u32(child.info.spiIn)), ['N(NO_PROPOSAL_CHOSEN)'], 'an SPI in use');
  assert.equal(onlySa(pair.r).children.length, 1);
  assert.deepEqual(pair.errors(), []);
});

// ---- forged IKE_SA_INIT errors -----------------------------------------------------------

test('a forged IKE_SA_INIT error response does not end the attempt: the real answer after it is used (RFC 7296 §2.21.1)', () => {
  const pair = new EnginePair({ ikeI: [HYBRID] });
  let forged = 0;
  pair.filter = (d) => {
    if (d.from === 'r' && isMessage(d.data, ExchangeType.IKE_SA_INIT, true) && forged === 0) {
      forged++;
      const h = decode(d.data).header;
      // The forger answers first; the real response follows it.
      const fake = encodeMessage({ spiI: h.spiI, spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlags.RESPONSE, messageId: 0 }, [notify(NotifyType.NO_PROPOSAL_CHOSEN)]);
      pair.i.receive(fake, { address: '192.0.2.2', port: 500 }, { address: '192.0.2.1', port: 500 }, pair.now);
    }
    return d.data;
  };
  pair.initiate();
  pair.run();
  assert.equal(forged, 1);
  assert.equal(failures(pair.eventsI).length, 0, logs(pair.eventsI));
  assert.equal(ups(pair.eventsI).length, 1);
  assert.equal(ups(pair.eventsR).length, 1);
});

test('with only forged errors, the initiator gives up with the error after two retransmission intervals', () => {
  const pair = new EnginePair({ ikeI: [CLASSIC] });
  pair.filter = (d) => {
    if (d.from !== 'i') return d.data;
    const h = decode(d.data).header;
    const fake = encodeMessage({ spiI: h.spiI, spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlags.RESPONSE, messageId: 0 }, [notify(NotifyType.AUTHENTICATION_FAILED)]);
    pair.i.receive(fake, { address: '192.0.2.2', port: 500 }, { address: '192.0.2.1', port: 500 }, pair.now);
    return undefined;
  };
  pair.initiate();
  pair.run();
  assert.equal(failures(pair.eventsI).length, 0);
  pair.runFor(10_000);
  const f = failures(pair.eventsI);
  assert.equal(f.length, 1);
  assert.equal(f[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.equal(pair.now >= 2000, true);
});

// ---- fragments past the bound ----------------------------------------------------------------

test('a request in fragments past 64 KiB is answered INVALID_SYNTAX instead of leaving its Message ID stuck (RFC 7383 §2.6)', () => {
  const pair = new EnginePair({ ikeI: [CLASSIC], fragmentSize: 1280 });
  pair.establish();
  const sa = onlySa(pair.i);
  const mid = sa.nextRequestId;
  // 70 KiB of Notify data in ~1200-byte fragments: more than the reassembly bound.
  const big = sealAs(sa, ExchangeType.INFORMATIONAL, mid, [notify(40000, new Uint8Array(35 * 1024)), notify(40001, new Uint8Array(35 * 1024))]);
  assert.ok(big.length > 1 && big.length <= 64, `${big.length} fragments`);
  for (const d of big) pair.inject('i', d);
  assert.deepEqual(sentResponses(pair.eventsR, ExchangeType.INFORMATIONAL), [['N(INVALID_SYNTAX)']]);
  assert.equal(pair.r.resources().fragmentCollectors, 0, 'the series was discarded');
  assert.equal(pair.r.list()[0]?.state, 'established');
  // The next Message ID is answered as usual.
  for (const d of sealAs(sa, ExchangeType.INFORMATIONAL, mid + 1, [])) pair.inject('i', d);
  assert.deepEqual(sentResponses(pair.eventsR, ExchangeType.INFORMATIONAL), [['N(INVALID_SYNTAX)'], []]);
  assert.deepEqual(pair.errors(), []);
});

// ---- bounded per-IKE SA state -----------------------------------------------------------------

test('a peer cannot create more Child SAs than maxChildSas: NO_ADDITIONAL_SAS', () => {
  const pair = new EnginePair({ ikeI: [CLASSIC], responderEngineOptions: { maxChildSas: 3 } });
  const { i } = pair.establish();
  for (let k = 0; k < 4; k++) {
    pair.i.createChild(i, 'net', pair.now);
    pair.run();
  }
  assert.equal(onlySa(pair.r).children.length, 3);
  assert.deepEqual(sentResponses(pair.eventsR, ExchangeType.CREATE_CHILD_SA).at(-1), ['N(NO_ADDITIONAL_SAS)']);
  assert.deepEqual(pair.errors(), []);
});

test('a peer cannot leave more than two CREATE_CHILD_SA series waiting for IKE_FOLLOWUP_KE: TEMPORARY_FAILURE', () => {
  const pair = new EnginePair({ ikeI: [CLASSIC], espI: ['aes256gcm16-x25519-ke1_mlkem768'] });
  pair.establish();
  const sa = onlySa(pair.i);
  const child = sa.children[0];
  assert.ok(child);
  let mid = sa.nextRequestId;
  const answers: string[][] = [];
  for (let k = 0; k < 4; k++) {
    const before = sentResponses(pair.eventsR, ExchangeType.CREATE_CHILD_SA).length;
    const ke = keMethod(31).initiate();
    const payloads: Payload[] = [
      { type: PayloadType.SA, critical: false, proposals: [{ num: 1, protocolId: ProtocolId.ESP, spi: u32(0x1000 + k), transforms: [{ type: 1, id: 20, attributes: [{ type: 14, value: 256 }] }, { type: 4, id: 31, attributes: [] }, { type: 5, id: 0, attributes: [] }, { type: 6, id: 36, attributes: [] }] }] },
      { type: PayloadType.NONCE, critical: false, data: new Uint8Array(32).fill(k + 1) },
      { type: PayloadType.KE, critical: false, method: 31, data: ke.publicValue },
      { type: PayloadType.TSi, critical: false, selectors: [...child.info.localTs] },
      { type: PayloadType.TSr, critical: false, selectors: [...child.info.remoteTs] },
    ];
    for (const d of sealAs(sa, ExchangeType.CREATE_CHILD_SA, mid++, payloads)) pair.inject('i', d);
    answers.push(sentResponses(pair.eventsR, ExchangeType.CREATE_CHILD_SA)[before] ?? []);
  }
  assert.ok(answers[0]?.includes('N(ADDITIONAL_KEY_EXCHANGE)') && answers[1]?.includes('N(ADDITIONAL_KEY_EXCHANGE)'), JSON.stringify(answers));
  assert.deepEqual(answers.slice(2), [['N(TEMPORARY_FAILURE)'], ['N(TEMPORARY_FAILURE)']]);
  assert.equal(pair.r.resources().followupSeries, 2);
  assert.deepEqual(pair.errors(), []);
});
