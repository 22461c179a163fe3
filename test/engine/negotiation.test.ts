// Proposal negotiation: strongSwan proposal strings, the responder's choice of exactly one
// transform per type including ADDKE and NONE (RFC 7296 §2.7, §3.3.6; RFC 9370 §2.2.1),
// fallback to a classic proposal, the "no method twice" rule, NO_PROPOSAL_CHOSEN and the
// INTERMEDIATE_EXCHANGE_SUPPORTED rules of RFC 9242 §3.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { decode, failures, hasNotify, isMessage, logs, rewrite, sentExchanges, ups } from '../helpers/engine-wire.js';
import { ProposalSyntaxError, parseProposal, parseProposals, usesAddke } from '../../src/engine/proposal-string.js';
import { acceptSelection, additionalMethods, buildProposals, proposalForSelection, selectProposal } from '../../src/engine/proposal-select.js';
import { EncrId, ExchangeType, IntegId, KeMethodId, NotifyType, PayloadType, PrfId, ProtocolId, TransformType } from '../../src/wire/index.js';
import type { Proposal, SaPayload } from '../../src/wire/index.js';

const { ENCR, PRF, INTEG, KE, ADDKE1, ADDKE2 } = TransformType;

function ids(spec: ReturnType<typeof parseProposal>, type: number): number[] {
  return (spec.transforms.get(type) ?? []).map((c) => c.id);
}

/** The responder's SA payload in the IKE_SA_INIT response carrying SA. */
function responderSa(pair: EnginePair): SaPayload {
  for (const d of pair.wire) {
    if (d.from !== 'r' || !isMessage(d.data, ExchangeType.IKE_SA_INIT, true)) continue;
    const sa = decode(d.data).payloads.find((p): p is SaPayload => p.type === PayloadType.SA);
    if (sa) return sa;
  }
  throw new Error('no IKE_SA_INIT response with SA');
}

function typesOf(p: Proposal): number[] {
  return p.transforms.map((t) => t.type);
}

/**
 * Initiate and run until quiet; an initiator that got an error waits (RFC 7296 §2.21.1) up to
 * two retransmission intervals for a better answer, so follow the clock for 10 s.
 */
function run(ikeI: string[], ikeR: string[]): EnginePair {
  const pair = new EnginePair({ ikeI, ikeR });
  pair.initiate();
  pair.runFor(10_000);
  assert.deepEqual(pair.errors(), []);
  return pair;
}

// ---- proposal strings ---------------------------------------------------------------------

test('proposal string: hybrid strongSwan string parses to ENCR/PRF/KE/ADDKE1', () => {
  const p = parseProposal('aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'ike');
  assert.deepEqual(p.transforms.get(ENCR), [{ id: EncrId.AES_GCM_16, keyBits: 256 }]);
  assert.deepEqual(ids(p, PRF), [PrfId.HMAC_SHA2_384]);
  assert.equal(p.transforms.has(INTEG), false, 'AEAD proposal has no INTEG');
  assert.deepEqual(ids(p, KE), [KeMethodId.CURVE25519]);
  assert.deepEqual(ids(p, ADDKE1), [KeMethodId.MLKEM768]);
  assert.equal(usesAddke(p), true);
});

test('proposal string: ke1_none makes ADDKE1 optional and is not "uses ADDKE" on its own', () => {
  const opt = parseProposal('aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none', 'ike');
  assert.deepEqual(ids(opt, ADDKE1), [KeMethodId.MLKEM768, KeMethodId.NONE]);
  assert.equal(usesAddke(opt), true);
  const onlyNone = parseProposal('aes256gcm16-prfsha384-x25519-ke1_none', 'ike');
  assert.deepEqual(ids(onlyNone, ADDKE1), [KeMethodId.NONE]);
  assert.equal(usesAddke(onlyNone), false);
});

test('proposal string: several algorithms per type keep their order; integ implies PRF', () => {
  const p = parseProposal('aes128-aes256-sha256-sha384-ecp256-x25519-modp2048-ke1_mlkem512-ke1_mlkem768-ke2_mlkem1024-ke2_none', 'ike');
  assert.deepEqual(p.transforms.get(ENCR), [
    { id: EncrId.AES_CBC, keyBits: 128 },
    { id: EncrId.AES_CBC, keyBits: 256 },
  ]);
  assert.deepEqual(ids(p, INTEG), [IntegId.HMAC_SHA2_256_128, IntegId.HMAC_SHA2_384_192]);
  assert.deepEqual(ids(p, PRF), [PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384]);
  assert.deepEqual(ids(p, KE), [KeMethodId.ECP256, KeMethodId.CURVE25519, KeMethodId.MODP2048]);
  assert.deepEqual(ids(p, ADDKE1), [KeMethodId.MLKEM512, KeMethodId.MLKEM768]);
  assert.deepEqual(ids(p, ADDKE2), [KeMethodId.MLKEM1024, KeMethodId.NONE]);
  // Upper case and surrounding blanks are accepted, like strongSwan.
  assert.deepEqual(parseProposal(' AES256GCM16-PRFSHA384-X25519 ', 'ike').transforms, parseProposal('aes256gcm16-prfsha384-x25519', 'ike').transforms);
  // ESP: noesn added by default; explicit esn kept.
  const esp = parseProposal('aes256gcm16-esn', 'esp');
  assert.deepEqual(ids(esp, TransformType.ESN), [1]);
  assert.deepEqual(ids(parseProposal('aes256gcm16', 'esp'), TransformType.ESN), [0]);
  assert.equal(parseProposals(['aes256gcm16-prfsha384-x25519', 'aes128-sha256-ecp256'], 'ike').length, 2);
});

test('proposal string: bad tokens are rejected with a message naming them', () => {
  const cases: [string, 'ike' | 'esp', RegExp][] = [
    ['aes256gcm16-prfsha384-x25519-bogus', 'ike', /unknown algorithm 'bogus'/],
    ['aes256gcm16-prfsha384-x25519-ke1_mlkem999', 'ike', /unknown key exchange method 'mlkem999' in 'ke1_mlkem999'/],
    ['aes256gcm16-prfsha384-x25519-ke8_mlkem768', 'ike', /unknown algorithm 'ke8_mlkem768'/],
    ['prfsha384-x25519', 'ike', /names no encryption algorithm/],
    ['aes256gcm16-aes256-sha256-prfsha384-x25519', 'ike', /mixes AEAD and non-AEAD/],
    ['aes256-prfsha384-x25519', 'ike', /needs an integrity algorithm/],
    ['aes256gcm16-x25519', 'ike', /needs a PRF/],
    ['aes256gcm16-prfsha384', 'ike', /needs a key exchange method/],
    ['aes256gcm16-prfsha384-ke1_mlkem768', 'ike', /needs a key exchange method/],
    ['aes256gcm16-prfsha384-none', 'ike', /cannot be 'none'/],
    ['aes256gcm16-prfsha384-x25519-esn', 'ike', /'esn' is only valid in ESP/],
    ['aes256gcm16-prfsha384', 'esp', /'prfsha384' is an IKE PRF/],
    ['', 'ike', /empty proposal/],
    ['aes256gcm16--x25519', 'ike', /unknown algorithm ''/],
  ];
  for (const [text, proto, re] of cases) {
    assert.throws(() => parseProposal(text, proto), (e: unknown) => e instanceof ProposalSyntaxError && re.test(e.message), `${text} (${proto})`);
  }
});

// ---- the responder's selection (unit level) ------------------------------------------------

test('selection: responder picks exactly one transform per type, its own preference first, ADDKE included', () => {
  const local = parseProposals(['aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp256-x25519-ke1_mlkem1024-ke1_mlkem768-ke2_mlkem512-ke2_none'], 'ike');
  const offered = buildProposals(
    parseProposals(['aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ecp256-ke1_mlkem768-ke1_mlkem1024-ke2_none-ke2_mlkem512'], 'ike'),
    { spi: new Uint8Array(0) },
  );
  const sel = selectProposal(local, offered);
  assert.ok(sel);
  assert.deepEqual([...sel.chosen.entries()].sort((a, b) => a[0] - b[0]), [
    [ENCR, { id: EncrId.AES_GCM_16, keyBits: 256 }],
    [PRF, { id: PrfId.HMAC_SHA2_384 }],
    [KE, { id: KeMethodId.ECP256 }],
    [ADDKE1, { id: KeMethodId.MLKEM1024 }],
    [ADDKE2, { id: KeMethodId.MLKEM512 }],
  ]);
  const answer = proposalForSelection(sel, ProtocolId.IKE, new Uint8Array(0));
  assert.deepEqual(typesOf(answer), [ENCR, PRF, KE, ADDKE1, ADDKE2], 'one transform per type');
  assert.deepEqual(additionalMethods(sel), [
    { type: ADDKE1, method: KeMethodId.MLKEM1024 },
    { type: ADDKE2, method: KeMethodId.MLKEM512 },
  ]);
  // The initiator accepts the answer as a valid selection from its offer.
  const back = acceptSelection(offered, [answer]);
  assert.ok(typeof back !== 'string', String(back));
});

test('selection: a proposal with a transform type we do not know (13, 255) or the reserved type 0 is not chosen; the next one is', () => {
  const local = parseProposals(['aes256gcm16-prfsha384-x25519'], 'ike');
  const [good] = buildProposals(local, { spi: new Uint8Array(0) });
  assert.ok(good);
  for (const type of [0, 13, 255]) {
    const odd: Proposal = { ...good, num: 1, transforms: [...good.transforms, { type, id: 1, attributes: [] }] };
    assert.equal(selectProposal(local, [odd]), undefined, `type ${type}`);
    const sel = selectProposal(local, [odd, { ...good, num: 2 }]);
    assert.equal(sel?.proposalNum, 2, `type ${type}: the proposal after it`);
  }
  // Built proposals list their transforms in type order (RFC 7296 §3.3 does not require it; strongSwan sends them so).
  const [built] = buildProposals(parseProposals(['x25519-ke1_mlkem768-aes256gcm16-prfsha384'], 'ike'), { spi: new Uint8Array(0) });
  assert.deepEqual(built?.transforms.map((t) => t.type), [ENCR, PRF, KE, ADDKE1]);
});

test('selection: NONE preferred by the responder omits the ADDKE type from the answer', () => {
  const local = parseProposals(['aes256gcm16-prfsha384-x25519-ke1_none-ke1_mlkem768'], 'ike');
  const offered = buildProposals(parseProposals(['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none'], 'ike'), { spi: new Uint8Array(0) });
  const sel = selectProposal(local, offered);
  assert.ok(sel);
  assert.equal(sel.chosen.has(ADDKE1), false);
  assert.deepEqual(additionalMethods(sel), []);
  const answer = proposalForSelection(sel, ProtocolId.IKE, new Uint8Array(0));
  assert.deepEqual(typesOf(answer), [ENCR, PRF, KE]);
  assert.ok(typeof acceptSelection(offered, [answer]) !== 'string', 'initiator that offered NONE accepts the omission');
  // An initiator that did not offer NONE must not accept it.
  const strict = buildProposals(parseProposals(['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'), { spi: new Uint8Array(0) });
  assert.match(String(acceptSelection(strict, [answer])), /omitted transform type 6/);
});

test('selection: a method is never chosen twice across Transform Type 4 and ADDKE', () => {
  const spec = parseProposals(['aes256gcm16-prfsha384-x25519-ke1_x25519-ke1_mlkem768'], 'ike');
  const offered = buildProposals(spec, { spi: new Uint8Array(0) });
  const sel = selectProposal(spec, offered);
  assert.ok(sel);
  assert.equal(sel.chosen.get(KE)?.id, KeMethodId.CURVE25519);
  assert.equal(sel.chosen.get(ADDKE1)?.id, KeMethodId.MLKEM768, 'x25519 is taken by KE: ADDKE1 must be ML-KEM');
  // With no alternative there is no valid selection at all.
  const only = parseProposals(['aes256gcm16-prfsha384-x25519-ke1_x25519'], 'ike');
  assert.equal(selectProposal(only, buildProposals(only, { spi: new Uint8Array(0) })), undefined);
  // ...and an initiator refuses a responder that picks the same method twice.
  const dup: Proposal = {
    num: 1,
    protocolId: ProtocolId.IKE,
    spi: new Uint8Array(0),
    transforms: [
      { type: ENCR, id: EncrId.AES_GCM_16, attributes: [{ type: 14, value: 256 }] },
      { type: PRF, id: PrfId.HMAC_SHA2_384, attributes: [] },
      { type: KE, id: KeMethodId.CURVE25519, attributes: [] },
      { type: ADDKE1, id: KeMethodId.CURVE25519, attributes: [] },
    ],
  };
  assert.match(String(acceptSelection(offered, [dup])), /key exchange method 31 twice/);
});

test('selection: initiator refuses answers with several proposals, two transforms of a type, or transforms not offered', () => {
  const offered = buildProposals(parseProposals(['aes256gcm16-prfsha384-x25519-ecp256'], 'ike'), { spi: new Uint8Array(0) });
  const base = offered[0];
  assert.ok(base);
  assert.match(String(acceptSelection(offered, [base, base])), /2 proposals/);
  assert.match(String(acceptSelection(offered, [base])), /two transforms of type 4/);
  const alien: Proposal = { ...base, transforms: base.transforms.map((t) => (t.type === KE ? { ...t, id: KeMethodId.MODP2048 } : t)).filter((t, i, a) => a.findIndex((u) => u.type === t.type) === i) };
  assert.match(String(acceptSelection(offered, [alien])), /transform 4\/14, which we did not offer/);
  assert.match(String(acceptSelection(offered, [{ ...base, num: 7 }])), /proposal #7/);
});

// ---- end to end ----------------------------------------------------------------------------

test('engines: responder answers one transform per type from the offered lists, ADDKE included', () => {
  const pair = run(
    ['aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ke1_mlkem512-ke1_mlkem768-ke2_none-ke2_mlkem1024'],
    ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024'],
  );
  const sa = responderSa(pair);
  assert.equal(sa.proposals.length, 1);
  const p = sa.proposals[0];
  assert.ok(p);
  assert.deepEqual(
    p.transforms.map((t) => [t.type, t.id]),
    [
      [ENCR, EncrId.AES_GCM_16],
      [PRF, PrfId.HMAC_SHA2_384],
      [KE, KeMethodId.CURVE25519],
      [ADDKE1, KeMethodId.MLKEM768],
      [ADDKE2, KeMethodId.MLKEM1024],
    ],
  );
  const up = ups(pair.eventsI)[0];
  assert.ok(up, logs(pair.eventsI));
  assert.deepEqual(up.ike.keMethods, [KeMethodId.CURVE25519, KeMethodId.MLKEM768, KeMethodId.MLKEM1024]);
  assert.equal(sentExchanges(pair.eventsI).filter((x) => x === 'IKE_INTERMEDIATE q').length, 2);
});

test('engines: ke1_none initiator and a responder without ADDKE give a classic SA without IKE_INTERMEDIATE', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none'], ['aes256gcm16-prfsha384-x25519']);
  const p = responderSa(pair).proposals[0];
  assert.ok(p);
  assert.deepEqual(typesOf(p), [ENCR, PRF, KE], 'ADDKE1 (NONE) omitted from the answer');
  const upI = ups(pair.eventsI)[0];
  const upR = ups(pair.eventsR)[0];
  assert.ok(upI && upR, logs(pair.eventsI));
  assert.deepEqual(upI.ike.keMethods, [KeMethodId.CURVE25519]);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q', 'IKE_AUTH q']);
  assert.deepEqual(sentExchanges(pair.eventsR), ['IKE_SA_INIT r', 'IKE_AUTH r']);
});

test('engines: a responder without ADDKE support (libreswan 4.10 model) skips the hybrid proposal; classic #2 is chosen', () => {
  // libreswan 4.10 does not know transform types 6..12 and passes over proposals containing
  // them; a responder configured with a classic proposal only behaves the same way here.
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'], ['aes256gcm16-prfsha384-x25519']);
  const p = responderSa(pair).proposals[0];
  assert.ok(p);
  assert.equal(p.num, 2, 'the classic proposal is chosen');
  assert.deepEqual(typesOf(p), [ENCR, PRF, KE]);
  const upI = ups(pair.eventsI)[0];
  assert.ok(upI && ups(pair.eventsR)[0], logs(pair.eventsI));
  assert.deepEqual(upI.ike.keMethods, [KeMethodId.CURVE25519]);
  assert.ok(!sentExchanges(pair.eventsI).includes('IKE_INTERMEDIATE q'));
});

test('engines: hybrid responder takes the hybrid proposal first when both are offered', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'], ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519']);
  assert.equal(responderSa(pair).proposals[0]?.num, 1);
  assert.deepEqual(ups(pair.eventsR)[0]?.ike.keMethods, [KeMethodId.CURVE25519, KeMethodId.MLKEM768]);
});

test('engines: x25519 offered for KE and ADDKE1 is not picked twice; ML-KEM runs in IKE_INTERMEDIATE', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_x25519-ke1_mlkem768'], ['aes256gcm16-prfsha384-x25519-ke1_x25519-ke1_mlkem768']);
  const p = responderSa(pair).proposals[0];
  assert.ok(p);
  assert.deepEqual(
    p.transforms.filter((t) => t.type === KE || t.type === ADDKE1).map((t) => [t.type, t.id]),
    [
      [KE, KeMethodId.CURVE25519],
      [ADDKE1, KeMethodId.MLKEM768],
    ],
  );
  assert.deepEqual(ups(pair.eventsI)[0]?.ike.keMethods, [KeMethodId.CURVE25519, KeMethodId.MLKEM768]);
});

test('engines: x25519-ke1_x25519 on both sides has no valid selection → NO_PROPOSAL_CHOSEN', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_x25519'], ['aes256gcm16-prfsha384-x25519-ke1_x25519']);
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  assert.deepEqual(pair.r.list(), []);
});

test('engines: nothing in common → responder answers NO_PROPOSAL_CHOSEN statelessly, initiator fails with notify 14', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519'], ['aes128-sha256-ecp256']);
  const resp = pair.wire.filter((d) => d.from === 'r');
  // The request and its one retransmission while the initiator waits for a better answer.
  assert.equal(resp.length, 2);
  for (const r of resp) {
    const m = decode(r.data);
    assert.deepEqual(m.payloads.map((p) => (p.type === PayloadType.NOTIFY ? p.notifyType : p.type)), [NotifyType.NO_PROPOSAL_CHOSEN]);
    assert.deepEqual(m.header.spiR, new Uint8Array(8), 'no responder SPI: no state kept');
  }
  const f = failures(pair.eventsI);
  assert.equal(f.length, 1);
  assert.equal(f[0]?.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  assert.deepEqual(pair.r.list(), []);
  assert.deepEqual(pair.i.list(), []);
  assert.equal(pair.i.nextDeadline(), undefined, 'no retransmission left behind');
});

test('engines: responder needing ADDKE refuses an initiator without INTERMEDIATE_EXCHANGE_SUPPORTED (notify stripped on the wire)', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'] });
  let stripped = 0;
  pair.filter = (d) => {
    if (d.from !== 'i' || !isMessage(d.data, ExchangeType.IKE_SA_INIT, false)) return d.data;
    stripped++;
    return rewrite(d.data, (ps) => ps.filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)));
  };
  pair.initiate();
  pair.runFor(10_000);
  assert.deepEqual(pair.errors(), []);
  assert.equal(stripped, 2, 'the request and its retransmission');
  const resp = pair.wire.filter((d) => d.from === 'r').map((d) => decode(d.data));
  assert.equal(resp.length, 2);
  for (const r of resp) assert.ok(hasNotify(r.payloads, NotifyType.NO_PROPOSAL_CHOSEN));
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  assert.deepEqual(pair.r.list(), []);
});

test('engines: without INTERMEDIATE_EXCHANGE_SUPPORTED the responder skips ADDKE proposals and picks the classic one (RFC 9370 §2.2.1)', () => {
  // "If the IKE_INTERMEDIATE exchange is not negotiated, then the peers MUST treat any ADDKE
  // Transform Types ... as unknown transform types and skip the proposals they appear in."
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'] });
  pair.filter = (d) =>
    d.from === 'i' && isMessage(d.data, ExchangeType.IKE_SA_INIT, false)
      ? rewrite(d.data, (ps) => ps.filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)))
      : d.data;
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const p = responderSa(pair).proposals[0];
  assert.equal(p?.num, 2, 'the hybrid proposal is skipped, the classic one chosen');
  assert.deepEqual(p && typesOf(p), [ENCR, PRF, KE]);
  // The stripped request is RealMsg1 for the responder only; the initiator signed what it sent,
  // so the downgrade is caught by the AUTH payload.
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.equal(failures(pair.eventsR)[0]?.notify, NotifyType.AUTHENTICATION_FAILED);
  assert.deepEqual(ups(pair.eventsI), []);
});

test('wire: INTERMEDIATE_EXCHANGE_SUPPORTED is sent only when ADDKE is proposed', () => {
  // [initiator proposals, notify expected, SA comes up with the classic responder]
  const cases: [string[], boolean, boolean][] = [
    [['aes256gcm16-prfsha384-x25519'], false, true],
    [['aes256gcm16-prfsha384-x25519-ke1_none'], false, true],
    [['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], true, false],
    [['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none'], true, true],
    [['aes256gcm16-prfsha384-x25519', 'aes256gcm16-prfsha384-x25519-ke3_mlkem1024'], true, true],
  ];
  for (const [ikeI, expect, up] of cases) {
    const pair = new EnginePair({ ikeI, ikeR: ['aes256gcm16-prfsha384-x25519'] });
    pair.initiate();
    pair.runFor(10_000);
    const req = pair.wire.find((d) => d.from === 'i' && isMessage(d.data, ExchangeType.IKE_SA_INIT, false));
    assert.ok(req);
    assert.equal(hasNotify(decode(req.data).payloads, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED), expect, ikeI.join(','));
    // The classic responder never announces it back (it selected no ADDKE).
    const resp = pair.wire.find((d) => d.from === 'r' && isMessage(d.data, ExchangeType.IKE_SA_INIT, true));
    assert.equal(hasNotify(decode(resp?.data ?? new Uint8Array()).payloads, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED), false);
    if (up) assert.ok(ups(pair.eventsI)[0], `${ikeI.join(',')}: ${logs(pair.eventsI)}`);
    else assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  }
});

test('wire: hybrid responder answers INTERMEDIATE_EXCHANGE_SUPPORTED when it selects ADDKE', () => {
  const pair = run(['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], ['aes256gcm16-prfsha384-x25519-ke1_mlkem768']);
  const resp = pair.wire.find((d) => d.from === 'r' && isMessage(d.data, ExchangeType.IKE_SA_INIT, true));
  assert.ok(resp && hasNotify(decode(resp.data).payloads, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED));
});

test('initiator refuses a responder that selects ADDKE without returning INTERMEDIATE_EXCHANGE_SUPPORTED', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'] });
  pair.filter = (d) =>
    d.from === 'r' && isMessage(d.data, ExchangeType.IKE_SA_INIT, true)
      ? rewrite(d.data, (ps) => ps.filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)))
      : d.data;
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  const f = failures(pair.eventsI);
  assert.equal(f[0]?.notify, NotifyType.NO_PROPOSAL_CHOSEN);
  assert.match(f[0]?.reason ?? '', /without INTERMEDIATE_EXCHANGE_SUPPORTED/);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q'], 'no IKE_INTERMEDIATE, no IKE_AUTH');
});
