/**
 * IKE_AUTH (RFC 7296 §1.2, §2.15): the identities, the signed octets (after IKE_INTERMEDIATE
 * rounds with the IntAuth chunk, RFC 9242 §3.3.2) and AUTH by the connection's authenticators
 * (src/auth/: a pre-shared key unless it names another), then the tasks registered for
 * IKE_AUTH (tasks/index.ts: a virtual IP, the first Child SA, …).
 */
import type { Authenticator, Verification } from '../auth/authenticator.js';
import { pskAuthenticator } from '../auth/psk.js';
import { signedOctets } from '../crypto/keys.js';
import { CertEncoding, ExchangeType, NotifyType, PayloadType, ProtocolId, nameOf } from '../wire/constants.js';
import type { SkKeys } from '../crypto/sk-cipher.js';
import { certRequestPayload } from './tasks/cert-request.js';
import { proposalForSelection, selectProposal } from './proposal-select.js';
import type { Payload } from '../wire/types.js';
import * as tasks from './tasks/run.js';
import type { IkeSa, SettingUp } from './ike-sa.js';
import { identityFromPayload, identityToPayloadData, sameIdentity } from './identity.js';
import type { Identity } from './identity.js';
import { errorNotify, find, notify } from './payloads.js';
import { initiatorPpk, initiatorPpkResult, ppkIdText, ppkRequestPayloads, responderPpk } from './ppk.js';
import type { IkeSaKeys } from '../crypto/keys.js';
import type { ConnectionConfig } from './types.js';
import { armIke } from './lifecycle.js';
import { enqueue } from './tasks.js';
import { awaitTrust } from './trust-wait.js';

/** IDx' of RFC 7296 §2.15: the ID payload body (ID Type | RESERVED | data). */
function idBody(idType: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  out[0] = idType;
  out.set(data, 4);
  return out;
}

/** InitiatorSignedOctets / ResponderSignedOctets (RFC 7296 §2.15) of one side. */
function octetsOf(sa: SettingUp, ofInitiator: boolean, idType: number, idData: Uint8Array, authMid: number, k: IkeSaKeys = sa.requireKeys()): Uint8Array {
  return signedOctets(
    ofInitiator ? sa.setup.initRequest : sa.setup.initResponse,
    ofInitiator ? sa.nr : sa.ni,
    sa.prfId,
    ofInitiator ? k.skPi : k.skPr,
    idBody(idType, idData),
    // RFC 9242 §3.3.2: IntAuth only if an IKE_INTERMEDIATE exchange took place.
    sa.setup.intermediateRan ? { i: sa.setup.intAuthI, r: sa.setup.intAuthR, mid: authMid } : undefined,
  );
}

/** A connection with neither a PSK nor authenticators authenticates nobody. */
const NO_AUTH: Authenticator = {
  describe: 'no authentication configured',
  sign: () => 'the connection configures no authentication (no psk, no auth)',
  verify: () => 'the connection configures no authentication (no psk, no auth)',
};

/** The PSK authenticators of connections that name no others, made once per connection. */
const pskAuth = new WeakMap<ConnectionConfig, { local: Authenticator; remote: Authenticator }>();

/** The connection's authenticators (src/auth/): the PSK both ways unless it names others. */
function authOf(conn: ConnectionConfig): { local: Authenticator; remote: Authenticator } {
  if (conn.auth) return conn.auth;
  let a = pskAuth.get(conn);
  if (a === undefined) {
    const psk = conn.psk ? pskAuthenticator(conn.psk) : NO_AUTH;
    pskAuth.set(conn, (a = { local: psk, remote: psk }));
  }
  return a;
}

/** Our CERT payloads (RFC 7296 §3.6: end entity first), sent whether or not the peer asked. */
function ourCertificates(conn: ConnectionConfig): Payload[] {
  return (authOf(conn).local.certificates ?? []).map((data) => ({ type: PayloadType.CERT, critical: false, encoding: CertEncoding.X509_SIGNATURE, data }));
}

/** The data of the peer's X.509 CERT payloads, in order; other encodings are not looked at. */
function peerCertificates(inner: readonly Payload[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of inner) if (p.type === PayloadType.CERT && p.encoding === CertEncoding.X509_SIGNATURE) out.push(p.data);
  return out;
}

/** Our AUTH payload over our signed octets, or why we cannot make one. */
function ourAuth(sa: SettingUp, conn: ConnectionConfig, idType: number, idData: Uint8Array, authMid: number, keys?: IkeSaKeys): (Payload & { type: typeof PayloadType.AUTH }) | string {
  const a = authOf(conn).local.sign({ prfId: sa.prfId, octets: octetsOf(sa, sa.isInitiator, idType, idData, authMid, keys), peerHashes: sa.setup.peerHashes, ...(sa.setup.peerMethods ? { peerMethods: sa.setup.peerMethods } : {}) });
  if (typeof a === 'string') return a;
  return { type: PayloadType.AUTH, critical: false, method: a.method, data: a.data };
}

/** Initiator: IDi, [CERT,] [CERTREQ,] AUTH, SAi2, TSi, TSr (RFC 7296 §1.2). */
export function sendAuthRequest(sa: SettingUp, now: number): void {
  const conn = sa.connection;
  if (!conn) return;
  sa.transition('authenticating');
  const id = identityToPayloadData(conn.localId);
  const mid = sa.nextRequestId;
  const ppk = initiatorPpk(sa, conn);
  if (typeof ppk === 'string') return sa.fail(`cannot authenticate: ${ppk}`, NotifyType.AUTHENTICATION_FAILED);
  const auth = ourAuth(sa, conn, id.idType, id.data, mid, ppk?.keys);
  if (typeof auth === 'string') return sa.fail(`cannot authenticate: ${auth}`, NotifyType.AUTHENTICATION_FAILED);
  // RFC 8784 §3: with an optional PPK, our AUTH data without it too (NO_PPK_AUTH).
  const noPpk = ppk && !ppk.required ? ourAuth(sa, conn, id.idType, id.data, mid) : undefined;
  if (typeof noPpk === 'string') return sa.fail(`cannot authenticate: ${noPpk}`, NotifyType.AUTHENTICATION_FAILED);
  const certReq = certRequestPayload([conn]);
  const payloads: Payload[] = [
    { type: PayloadType.IDi, critical: false, idType: id.idType, data: id.data },
    ...ourCertificates(conn),
    ...(certReq ? [certReq] : []),
    auth,
  ];
  tasks.buildRequest({ sa, exchange: ExchangeType.IKE_AUTH, now }, payloads);
  if (ppk) {
    payloads.push(...ppkRequestPayloads(ppk, noPpk?.data ?? new Uint8Array(0)));
    sa.setup.ppkOffer = { keys: ppk.keys, id: ppkIdText(ppk.id), required: ppk.required };
  }
  sa.sendRequest(ExchangeType.IKE_AUTH, payloads, now);
}

/** `keys`: the PPK keys (RFC 8784) if they sign; `data`: AUTH data to check in place of the AUTH payload's (NO_PPK_AUTH). */
function verifyPeerAuth(sa: SettingUp, conn: ConnectionConfig, inner: readonly Payload[], peer: Identity, authMid: number, o: { keys?: IkeSaKeys; data?: Uint8Array } = {}): Verification {
  const peerIsInitiator = !sa.isInitiator;
  const id = find(inner, peerIsInitiator ? PayloadType.IDi : PayloadType.IDr);
  const auth = find(inner, PayloadType.AUTH);
  if (!id || !auth) return 'missing ID or AUTH payload';
  return authOf(conn).remote.verify({
    prfId: sa.prfId,
    method: auth.method,
    data: o.data ?? auth.data,
    octets: octetsOf(sa, peerIsInitiator, id.idType, id.data, authMid, o.keys),
    identity: peer,
    certs: peerCertificates(inner),
  });
}

function peerIdentity(inner: readonly Payload[], type: typeof PayloadType.IDi | typeof PayloadType.IDr): Identity | undefined {
  const id = find(inner, type);
  return id ? identityFromPayload(id.idType, id.data) : undefined;
}

/** Initiator: IDr, [CERT,] AUTH, SAr2, TSi, TSr. */
export function handleAuthResponse(sa: SettingUp, messageId: number, inner: readonly Payload[], now: number): void {
  const conn = sa.connection;
  if (!conn || !sa.outstanding) return;
  sa.outstanding = undefined;
  const auth = find(inner, PayloadType.AUTH);
  const err = errorNotify(inner);
  if (!auth) {
    const code = err?.notifyType ?? NotifyType.AUTHENTICATION_FAILED;
    return sa.fail(`IKE_AUTH rejected: ${nameOf(NotifyType, code)}`, code);
  }
  const peer = peerIdentity(inner, PayloadType.IDr);
  if (!peer) return sa.fail('responder sent an unusable IDr', NotifyType.AUTHENTICATION_FAILED);
  if (conn.remoteId && !sameIdentity(conn.remoteId, peer)) return sa.fail(`responder identity ${peer.value} is not the configured one`, NotifyType.AUTHENTICATION_FAILED);
  authenticateResponder(sa, conn, peer, messageId, inner, now);
}

function authenticateResponder(sa: SettingUp, conn: ConnectionConfig, peer: Identity, messageId: number, inner: readonly Payload[], now: number): void {
  const offer = sa.setup.ppkOffer;
  const ppk = initiatorPpkResult(offer, inner);
  if (typeof ppk === 'string') return sa.fail(ppk, NotifyType.AUTHENTICATION_FAILED);
  const bad = verifyPeerAuth(sa, conn, inner, peer, messageId, ppk.keys ? { keys: ppk.keys } : {});
  if (typeof bad === 'object') return awaitTrust(sa, messageId, bad.query, (later) => authenticateResponder(sa, conn, peer, messageId, inner, later));
  if (bad) return sa.fail(bad, NotifyType.AUTHENTICATION_FAILED);
  if (ppk.keys && offer) usePpkKeys(sa, ppk.keys, offer.id);
  sa.remoteIdentity = peer;
  established(sa, now);
  const x = { sa, exchange: ExchangeType.IKE_AUTH, now };
  tasks.processResponse(x, inner);
  tasks.completed(x);
  // The first Child SA is keyed (from the nonces): what only the setup needed goes.
}

/** RFC 8784 §3: SK_d, SK_pi and SK_pr with the PPK mixed in replace the others for good. */
function usePpkKeys(sa: SettingUp, keys: IkeSaKeys, id: string): void {
  sa.keys = keys;
  sa.ppkId = id;
  sa.ppkExchange = 'IKE_AUTH';
  sa.log('info', `post-quantum preshared key ${id} mixed into the keys (RFC 8784)`);
}

function established(sa: IkeSa, now: number): void {
  sa.transition('established');
  sa.establishedAt = now;
  // With a PPK in the keys, the PPKs known now are not fresh; without one, every PPK is (RFC 9867 §3.2 ¶1).
  if (sa.connection?.ppk && sa.ppkId !== undefined) sa.ppkSeen = sa.connection.ppk.keys;
  armIke(sa, now);
  sa.event({ type: 'ike-up', sa: sa.id, ike: sa.info() });
  const conn = sa.connection;
  if (!sa.isInitiator || !conn) return;
  if (conn.childless === 'pq') {
    // Rekey the IKE SA with the additional key exchanges first, then create every Child SA
    // with them (RFC 9370 §2.2.5.1).
    enqueue(sa, { kind: 'rekey-ike', postQuantum: true });
    for (const c of conn.children) enqueue(sa, { kind: 'create-child', config: c });
  } else {
    for (const c of conn.children.slice(1)) enqueue(sa, { kind: 'create-child', config: c });
  }
}

/** Responder: authenticate the initiator, pick the connection by its identity, answer. */
export function handleAuthRequest(sa: SettingUp, messageId: number, inner: readonly Payload[], now: number): void {
  if (sa.intermediateLeft()) {
    // RFC 9370 §2.2.3: IKE_AUTH only after every IKE_INTERMEDIATE round (RFC 9867: the PPK's too).
    const left = sa.setup.pendingAddke.length > 0 ? `${sa.setup.pendingAddke.length} additional key exchange(s)` : 'the IKE_INTERMEDIATE exchange with the PPK (RFC 9867)';
    return refuseAuth(sa, messageId, sa.inKeys(), NotifyType.INVALID_SYNTAX, `IKE_AUTH before ${left}`, now);
  }
  answerAuth(sa, messageId, inner, sa.inKeys(), now);
}

function refuseAuth(sa: SettingUp, messageId: number, requestKeys: SkKeys, code: number, why: string, now: number): void {
  sa.refuse(ExchangeType.IKE_AUTH, messageId, code, why, { keys: requestKeys });
  if (code === NotifyType.AUTHENTICATION_FAILED) sa.host.authFailed(sa, now);
  sa.fail(why, code);
}

function answerAuth(sa: SettingUp, messageId: number, inner: readonly Payload[], requestKeys: SkKeys, now: number): void {
  const refuse = (code: number, why: string): void => refuseAuth(sa, messageId, requestKeys, code, why, now);
  const peer = peerIdentity(inner, PayloadType.IDi);
  if (!peer) return refuse(NotifyType.AUTHENTICATION_FAILED, 'initiator sent an unusable IDi');
  const conn = chooseConnection(sa, peer);
  if (!conn) return refuse(NotifyType.AUTHENTICATION_FAILED, `no connection for peer identity ${peer.value}`);
  const ppk = responderPpk(sa, conn, inner);
  if (typeof ppk === 'string') return refuse(NotifyType.AUTHENTICATION_FAILED, ppk);
  const bad = verifyPeerAuth(sa, conn, inner, peer, messageId, { ...(ppk.keys ? { keys: ppk.keys } : {}), ...(ppk.authData ? { data: ppk.authData } : {}) });
  if (typeof bad === 'object') return awaitTrust(sa, messageId, bad.query, (later) => answerAuth(sa, messageId, inner, requestKeys, later));
  if (bad) return refuse(NotifyType.AUTHENTICATION_FAILED, ppk.authData ? `${bad} (NO_PPK_AUTH, without a PPK)` : ppk.used !== undefined ? `${bad}, with PPK ${ppk.used} mixed in (a wrong PPK fails the same way)` : bad);
  // From here on the PPK keys: our AUTH, the Child SAs and later rekeys (SK_d) use them.
  if (ppk.keys && ppk.used !== undefined) usePpkKeys(sa, ppk.keys, ppk.used);
  sa.connection = conn;
  sa.remoteIdentity = peer;
  const id = identityToPayloadData(conn.localId);
  const x = { sa, exchange: ExchangeType.IKE_AUTH, now };
  // (The tasks read the request first: what the peer announced it verifies, RFC 9593, decides our AUTH.)
  tasks.processRequest(x, inner);
  const auth = ourAuth(sa, conn, id.idType, id.data, messageId);
  if (typeof auth === 'string') return refuse(NotifyType.AUTHENTICATION_FAILED, `cannot authenticate ourselves: ${auth}`);
  const payloads: Payload[] = [
    { type: PayloadType.IDr, critical: false, idType: id.idType, data: id.data },
    ...ourCertificates(conn),
    auth,
  ];
  tasks.buildResponse(x, inner, payloads);
  // RFC 8784 §3: an empty PPK_IDENTITY says the PPK is used.
  if (ppk.keys) payloads.push(notify(NotifyType.PPK_IDENTITY));
  sa.sendResponse(ExchangeType.IKE_AUTH, messageId, payloads, requestKeys);
  established(sa, now);
  tasks.completed(x);
}

/**
 * The connection for this initiator: the one chosen at IKE_SA_INIT if its remote identity
 * fits, else another with the same addresses whose remote identity does and whose IKE
 * proposals contain the negotiated suite.
 */
function chooseConnection(sa: IkeSa, peer: Identity): ConnectionConfig | undefined {
  const fits = (c: ConnectionConfig): boolean => c.remoteId === undefined || sameIdentity(c.remoteId, peer);
  if (sa.connection && fits(sa.connection)) return sa.connection;
  const suite = sa.suite;
  if (!suite) return undefined;
  const negotiated = [proposalForSelection(suite, ProtocolId.IKE, new Uint8Array(0))];
  return sa.host.connections().find((c) => fits(c) && selectProposal(c.ikeProposals, negotiated) !== undefined);
}
