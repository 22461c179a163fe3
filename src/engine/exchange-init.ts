/**
 * IKE_SA_INIT (RFC 7296 §1.2) with the RFC 9370 §2.2.1 negotiation of additional key
 * exchanges, INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 §3.1), NAT detection (§2.23),
 * IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3), SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4),
 * COOKIE (§2.6), INVALID_KE_PAYLOAD (§1.3) and NO_PROPOSAL_CHOSEN.
 */
import { CryptoError, attempt } from '../crypto/errors.js';
import { ExchangeType, HeaderFlags, KeMethodId, NotifyType, PayloadType, TransformType, nameOf } from '../wire/constants.js';
import type { IkeMessage, Payload, Proposal } from '../wire/types.js';
import { encodeMessage } from '../wire/index.js';
import type { Admission, InitRequestFacts } from './dos-guard.js';
import { newIkeSa } from './ike-sa.js';
import type { IkeSa, SettingUp } from './ike-sa.js';
import type { SaHost } from './ike-sa.js';
import { errorNotify, find, findNotify, notify } from './payloads.js';
import { acceptSelection, buildProposals, proposalForSelection, selectProposal } from './proposal-select.js';
import type { SelectedSuite } from './proposal-select.js';
import type { ConnectionConfig, Endpoint, EngineOutput } from './types.js';
import { readU16, u16 } from './util.js';
import { completeKe } from './tasks/ke-round.js';
import { describeConfigured, describeProposals, keMethodName } from './describe.js';
import { refusedEvent } from './refusal.js';
import type { RefusalDetail } from './refusal.js';
import * as tasks from './tasks/run.js';

const NONCE_LENGTH = 32;
/** How long a responder under load reuses a DH key pair for IKE_SA_INIT (RFC 7296 §2.12). */
const KEY_PAIR_REUSE_MS = 1000;
const MAX_COOKIE_RETRIES = 3;
const MAX_INVALID_KE_RETRIES = 3;

/** The KE methods our proposals allow for Transform Type 4, in preference order. */
function offeredKeMethods(conn: ConnectionConfig): number[] {
  const out: number[] = [];
  for (const p of conn.ikeProposals) for (const c of p.transforms.get(TransformType.KE) ?? []) if (!out.includes(c.id)) out.push(c.id);
  return out;
}

/** Initiator: build and send the IKE_SA_INIT request (again, after COOKIE or INVALID_KE_PAYLOAD). */
export function sendInitRequest(sa: SettingUp, now: number): void {
  const conn = sa.connection;
  if (!conn) throw new Error('initiator without connection');
  if (sa.setup.keMethodId === 0) sa.setup.keMethodId = offeredKeMethods(conn)[0] ?? 0;
  // A COOKIE retry keeps the KE value (RFC 7296 §2.6: all other payloads unchanged).
  const ke = sa.setup.keState ?? sa.startKe(sa.setup.keMethodId);
  if (sa.ni.length === 0) sa.ni = sa.host.random(NONCE_LENGTH, 'nonce');
  sa.spiR = new Uint8Array(8);
  const payloads: Payload[] = [];
  if (sa.setup.cookie) payloads.push(notify(NotifyType.COOKIE, sa.setup.cookie));
  payloads.push(
    // RFC 7296 §3.3.1: SPI Size 0 in IKE_SA_INIT proposals.
    { type: PayloadType.SA, critical: false, proposals: buildProposals(conn.ikeProposals, { spi: new Uint8Array(0) }) },
    { type: PayloadType.KE, critical: false, method: sa.setup.keMethodId, data: ke.publicValue },
    { type: PayloadType.NONCE, critical: false, data: sa.ni },
  );
  tasks.buildRequest({ sa, exchange: ExchangeType.IKE_SA_INIT, now }, payloads);
  sa.nextRequestId = 0;
  sa.setup.initRequest = sa.sendPlain(ExchangeType.IKE_SA_INIT, false, 0, payloads, now);
  sa.nextRequestId = 1;
}

/** Initiator: the IKE_SA_INIT response. */
export function handleInitResponse(sa: SettingUp, msg: IkeMessage, raw: Uint8Array, now: number): void {
  const conn = sa.connection;
  if (!conn || !sa.setup.keState) return;
  const p = msg.payloads;
  sa.noteReceived(ExchangeType.IKE_SA_INIT, true, 0, [raw.length], p);
  const cookie = findNotify(p, NotifyType.COOKIE);
  if (cookie) {
    if (++sa.setup.cookieRetries > MAX_COOKIE_RETRIES) return sa.fail('responder keeps asking for a COOKIE');
    sa.setup.cookie = cookie.data;
    sa.log('info', 'responder requested a COOKIE, retrying');
    return sendInitRequest(sa, now);
  }
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    const method = readU16(invalidKe.data);
    if (method === undefined || !offeredKeMethods(conn).includes(method) || method === sa.setup.keMethodId) {
      return ignoreAnswer(sa, `INVALID_KE_PAYLOAD asks for key exchange method ${method === undefined ? '?' : keMethodName(method)}, which we do not offer`, now, NotifyType.INVALID_KE_PAYLOAD);
    }
    if (++sa.setup.invalidKeRetries > MAX_INVALID_KE_RETRIES) return sa.fail('too many INVALID_KE_PAYLOAD answers');
    sa.log('info', `responder wants key exchange method ${keMethodName(method)}, retrying`);
    sa.setup.keMethodId = method;
    sa.setup.keState = undefined;
    return sendInitRequest(sa, now);
  }
  const err = errorNotify(p);
  if (err) return ignoreAnswer(sa, `IKE_SA_INIT failed: ${nameOf(NotifyType, err.notifyType)}`, now, err.notifyType);
  const saPayload = find(p, PayloadType.SA);
  const ke = find(p, PayloadType.KE);
  const nonce = find(p, PayloadType.NONCE);
  if (!saPayload || !ke || !nonce) return ignoreAnswer(sa, 'IKE_SA_INIT response lacks SA, KE or Nonce', now, NotifyType.INVALID_SYNTAX);
  const offered = buildProposals(conn.ikeProposals, { spi: new Uint8Array(0) });
  const suite = acceptSelection(offered, saPayload.proposals);
  if (typeof suite === 'string') return ignoreAnswer(sa, `invalid SA in IKE_SA_INIT response: ${suite}`, now, NotifyType.NO_PROPOSAL_CHOSEN);
  if (suite.chosen.get(TransformType.KE)?.id !== sa.setup.keMethodId) {
    return ignoreAnswer(sa, 'responder answered with another key exchange method', now, NotifyType.INVALID_SYNTAX);
  }
  if (nonce.data.length < 16 || nonce.data.length > 256) return ignoreAnswer(sa, 'bad nonce length', now, NotifyType.INVALID_SYNTAX);
  if (msg.header.spiR.every((b) => b === 0)) return ignoreAnswer(sa, 'responder SPI is zero', now, NotifyType.INVALID_SYNTAX);
  const shared = completeKe(sa.setup.keState, sa.setup.keMethodId, p);
  if (typeof shared === 'string') return ignoreAnswer(sa, `IKE_SA_INIT response: ${shared}`, now, NotifyType.INVALID_SYNTAX);
  sa.spiR = msg.header.spiR;
  sa.nr = nonce.data;
  sa.setup.initResponse = raw;
  tasks.processResponse({ sa, exchange: ExchangeType.IKE_SA_INIT, now }, p);
  sa.setSuite(suite);
  sa.setup.keState = undefined;
  if (sa.setup.pendingAddke.length > 0 && !sa.setup.peerIntermediate) {
    // RFC 9370 §2.2.1 needs IKE_INTERMEDIATE; a responder that did not announce it cannot run ADDKE.
    return sa.fail('responder chose additional key exchanges without INTERMEDIATE_EXCHANGE_SUPPORTED', NotifyType.NO_PROPOSAL_CHOSEN);
  }
  sa.keyFromInit(shared);
  sa.outstanding = undefined;
  sa.setup.initError = undefined;
  sa.transition(sa.intermediateLeft() ? 'intermediate' : 'authenticating');
}

/**
 * RFC 7296 §2.21.1: an IKE_SA_INIT response is not authenticated, so an error (or an answer we
 * cannot use) may be forged by anyone on the path. Note it and keep waiting — the request is
 * still retransmitted — for a usable answer; fail with the first error only if none comes
 * within two retransmission intervals.
 */
function ignoreAnswer(sa: SettingUp, reason: string, now: number, notifyType: number): void {
  // The failure, if no usable answer follows, is what the log shows (the reason once); this is detail.
  sa.log('debug', `${reason}; unauthenticated, so waiting for another answer (RFC 7296 §2.21.1)`);
  sa.setup.initError ??= { reason, notify: notifyType, at: now + 2 * sa.host.retransmitTimeoutMs };
}

/** What the responder side of IKE_SA_INIT needs from the engine. */
export interface InitResponderContext {
  readonly host: SaHost;
  /** May this request create a half-open SA, or does it need a COOKIE, or is it dropped (RFC 7296 §2.6)? */
  admit(facts: InitRequestFacts): Admission;
  emit(out: EngineOutput): void;
}

/**
 * An unprotected error response (or COOKIE) to an IKE_SA_INIT request, keeping no state (RFC
 * 7296 §2.6, §2.21.1), and the 'refused' event that says why: every stateless refusal.
 */
export const COOKIE_REASON = 'under load: a COOKIE first (RFC 7296 §2.6)';

export function refuseStatelessly(
  emit: (out: EngineOutput) => void,
  spiI: Uint8Array,
  local: Endpoint,
  remote: Endpoint,
  type: number,
  reason: string,
  o: RefusalDetail & { data?: Uint8Array } = {},
): void {
  emit({ kind: 'send', from: local, to: remote, data: statelessAnswer(spiI, notify(type, o.data)) });
  emit({ kind: 'event', event: refusedEvent(remote, ExchangeType.IKE_SA_INIT, type, reason, o) });
}

function plainError(ctx: InitResponderContext, req: IkeMessage, local: Endpoint, remote: Endpoint, type: number, reason: string, o: RefusalDetail & { data?: Uint8Array } = {}): void {
  refuseStatelessly((out) => ctx.emit(out), req.header.spiI, local, remote, type, reason, o);
}

/** An IKE_SA_INIT response without an SA of ours (zero SPIr): an error or a COOKIE (RFC 7296 §2.6, §2.21.1). */
export function statelessAnswer(spiI: Uint8Array, payload: Payload): Uint8Array {
  return encodeMessage(
    { spiI, spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlags.RESPONSE, messageId: 0 },
    [payload],
  );
}

/**
 * The IKE proposals of the connections that could have answered, as strongSwan logs its
 * "configured proposals" (describe.ts names, the same form as the received ones):
 * `sun: IKE:AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519; other: …`.
 */
function configuredProposals(conns: readonly ConnectionConfig[]): string {
  return conns.map((c) => `${c.name}: ${describeConfigured(c.ikeProposals)}`).join('; ');
}

function addressMatches(configured: string, actual: string): boolean {
  return configured === '%any' || configured === actual;
}

/** Proposals the connection accepts; ADDKE ones only if the peer can run IKE_INTERMEDIATE. */
function select(conns: readonly ConnectionConfig[], offered: readonly Proposal[], peerInt: boolean): { conn: ConnectionConfig; suite: SelectedSuite } | undefined {
  // RFC 9370 §2.2.1: without IKE_INTERMEDIATE, proposals with ADDKE types are skipped
  // (an ADDKE type offering only NONE asks for no exchange: that proposal stays usable).
  const addke = (t: Proposal['transforms'][number]): boolean => t.type >= TransformType.ADDKE1 && t.type <= TransformType.ADDKE7 && t.id !== KeMethodId.NONE;
  const usable = peerInt ? offered : offered.filter((p) => !p.transforms.some(addke));
  for (const conn of conns) {
    const suite = selectProposal(conn.ikeProposals, usable);
    if (suite) return { conn, suite };
  }
  return undefined;
}

/**
 * What the admission checks need from an IKE_SA_INIT request (RFC 7296 §2.6), or undefined
 * when it lacks its SA, KE or a Nonce of 16 to 256 octets (§2.10, §3.9): INVALID_SYNTAX.
 */
export function initRequestFacts(msg: IkeMessage, remote: Endpoint): InitRequestFacts | undefined {
  const p = msg.payloads;
  const nonce = find(p, PayloadType.NONCE);
  if (!find(p, PayloadType.SA) || !find(p, PayloadType.KE) || !nonce || nonce.data.length < 16 || nonce.data.length > 256) return undefined;
  const cookie = findNotify(p, NotifyType.COOKIE)?.data;
  return { peer: remote, spiI: msg.header.spiI, ni: nonce.data, ...(cookie ? { cookie } : {}) };
}

/**
 * Responder: an IKE_SA_INIT request for a new SA. Returns the new half-open SA (and the cookie
 * that admitted it, now spent), or undefined when the request was answered statelessly
 * (COOKIE, INVALID_KE_PAYLOAD, errors) or dropped.
 */
export function handleInitRequest(
  ctx: InitResponderContext,
  msg: IkeMessage,
  raw: Uint8Array,
  local: Endpoint,
  remote: Endpoint,
  now: number,
): { sa: IkeSa; spentCookie?: Uint8Array } | undefined {
  const p = msg.payloads;
  const saPayload = find(p, PayloadType.SA);
  const ke = find(p, PayloadType.KE);
  const facts = initRequestFacts(msg, remote);
  if (!saPayload || !ke || !facts) {
    plainError(ctx, msg, local, remote, NotifyType.INVALID_SYNTAX, 'IKE_SA_INIT request without SA, KE or a Nonce of 16 to 256 octets');
    return undefined;
  }
  // RFC 7296 §2.6: under load, demand a cookie before keeping any state; drop what the limits refuse.
  const admission = ctx.admit(facts);
  if (admission.kind === 'cookie') {
    plainError(ctx, msg, local, remote, NotifyType.COOKIE, COOKIE_REASON, { data: admission.cookie });
    return undefined;
  }
  if (admission.kind === 'drop') return undefined;
  const candidates = ctx.host
    .connections()
    .filter((c) => addressMatches(c.localAddress, local.address) && addressMatches(c.remoteAddress, remote.address));
  const peerInt = findNotify(p, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED) !== undefined;
  const chosen = select(candidates, saPayload.proposals, peerInt);
  if (!chosen) {
    const why = candidates.length === 0 ? `no connection for ${remote.address} -> ${local.address}` : 'no acceptable proposal';
    const configured = configuredProposals(candidates);
    plainError(ctx, msg, local, remote, NotifyType.NO_PROPOSAL_CHOSEN, why, { received: describeProposals(saPayload.proposals), ...(configured ? { configured } : {}) });
    return undefined;
  }
  const { conn, suite } = chosen;
  const hasAddke = [...suite.chosen.keys()].some((t) => t >= TransformType.ADDKE1 && t <= TransformType.ADDKE7);
  if (hasAddke && !peerInt) {
    // RFC 9370 §2.2.1 runs ADDKE in IKE_INTERMEDIATE, which the initiator did not announce.
    plainError(ctx, msg, local, remote, NotifyType.NO_PROPOSAL_CHOSEN, 'the acceptable proposal has additional key exchanges, but the initiator does not support IKE_INTERMEDIATE (RFC 9370 §2.2.1)', {
      received: describeProposals(saPayload.proposals),
      configured: configuredProposals([conn]),
    });
    return undefined;
  }
  const method = suite.chosen.get(TransformType.KE)?.id ?? 0;
  if (ke.method !== method) {
    // RFC 7296 §1.3 / §3.10.1: tell the initiator which method we want.
    plainError(ctx, msg, local, remote, NotifyType.INVALID_KE_PAYLOAD, 'the chosen proposal needs another key exchange method', { data: u16(method), received: `KE ${keMethodName(ke.method)}`, configured: keMethodName(method) });
    return undefined;
  }
  // Under load (a cookie was needed), a DH key pair serves requests for up to a second (RFC 7296 §2.12).
  const m = ctx.host.keMethod(method);
  const reply = attempt(() => (admission.spend && m.respondReusing ? m.respondReusing(ke.data, now, KEY_PAIR_REUSE_MS) : m.respond(ke.data)));
  if (reply instanceof CryptoError) {
    // RFC 6989 §2.5, ML-KEM draft "Recipient Tests": invalid public value → INVALID_SYNTAX.
    plainError(ctx, msg, local, remote, NotifyType.INVALID_SYNTAX, `bad KE data: ${reply.message}`);
    return undefined;
  }
  const spiR = ctx.host.freshIkeSpi();
  const sa = newIkeSa(ctx.host, 'responder', msg.header.spiI, local, remote, now);
  sa.spiR = spiR;
  sa.connection = conn;
  sa.ni = facts.ni;
  sa.nr = ctx.host.random(NONCE_LENGTH, 'nonce');
  // A copy: `raw` may be a view of a larger buffer the caller reuses or that holds other data,
  // which a half-open SA must not keep alive.
  sa.setup.initRequest = Uint8Array.prototype.slice.call(raw);
  sa.noteReceived(ExchangeType.IKE_SA_INIT, false, 0, [raw.length], p);
  sa.setSuite(suite);
  sa.setup.keMethodId = method;
  const x = { sa, exchange: ExchangeType.IKE_SA_INIT, now };
  tasks.processRequest(x, p);
  const out: Payload[] = [
    { type: PayloadType.SA, critical: false, proposals: [proposalForSelection(suite, saPayload.proposals[0]?.protocolId ?? 1, new Uint8Array(0))] },
    { type: PayloadType.KE, critical: false, method, data: reply.publicValue },
    { type: PayloadType.NONCE, critical: false, data: sa.nr },
  ];
  tasks.buildResponse(x, p, out);
  sa.setup.initResponse = sa.sendPlain(ExchangeType.IKE_SA_INIT, true, 0, out, now);
  sa.keyFromInit({ method, secret: reply.sharedSecret });
  sa.expectedRequestId = 1;
  sa.transition(sa.intermediateLeft() ? 'intermediate' : 'authenticating');
  return admission.spend ? { sa, spentCookie: admission.spend } : { sa };
}
