/**
 * `pqike probe`: ask an IKEv2 responder, with IKE_SA_INIT requests only (no credentials, no
 * IKE SA completed), which key exchange methods it accepts in Transform Type 4, which it runs
 * as RFC 9370 additional key exchanges, whether it announces IKE_INTERMEDIATE (RFC 9242),
 * fragmentation (RFC 7383), childless IKE SAs (RFC 6023) and which signature hashes (RFC
 * 7427). The probe logic is transport-free: `runProbe` takes a function that sends one
 * request and returns the answer, so it is tested against in-process engines as well.
 */
import { randomBytes } from 'node:crypto';
import { natDetectionHash } from '../engine/nat.js';
import { keMethod } from '../crypto/ke.js';
import { EncrId, ExchangeType, HashAlgorithm, IntegId, KeMethodId, NotifyType, PayloadType, PrfId, ProtocolId, TransformAttr, TransformType, nameOf } from '../wire/constants.js';
import { keMethodName } from '../engine/describe.js';
import { decodeMessage, encodeMessage } from '../wire/index.js';
import type { IkeMessage, NotifyPayload, Payload, Proposal, Transform } from '../wire/types.js';

/** Sends one IKE_SA_INIT request (bytes) and resolves with the response, or undefined on timeout. */
export type ProbeTransport = (request: Uint8Array) => Promise<Uint8Array | undefined>;

export interface ProbeEndpoints {
  readonly local: { readonly address: string; readonly port: number };
  readonly remote: { readonly address: string; readonly port: number };
}

/** Transform Type 4 methods probed one by one. */
export const PROBED_KE = [
  KeMethodId.CURVE25519, KeMethodId.CURVE448, KeMethodId.ECP256, KeMethodId.ECP384, KeMethodId.ECP521,
  KeMethodId.MODP2048, KeMethodId.MODP3072, KeMethodId.MODP4096, KeMethodId.MLKEM512, KeMethodId.MLKEM768, KeMethodId.MLKEM1024,
] as const;

/** SPIr is still zero when the request's NAT detection hashes are made (RFC 7296 §2.23). */
const ZERO_SPI = new Uint8Array(8);

const MLKEM = [KeMethodId.MLKEM512, KeMethodId.MLKEM768, KeMethodId.MLKEM1024] as const;

export type Verdict = 'accepted' | 'refused' | 'no-answer' | 'error';

export interface ProbeReport {
  readonly target: string;
  readonly answered: boolean;
  /** The suite the responder chose for a broad classic offer. */
  readonly preferred?: { readonly encr: string; readonly prf: string; readonly integ?: string; readonly ke: string };
  readonly keMethods: readonly { readonly method: string; readonly id: number; readonly verdict: Verdict; readonly detail?: string }[];
  readonly additional: readonly { readonly method: string; readonly id: number; readonly verdict: Verdict; readonly detail?: string }[];
  /** An ADDKE1 offered as [ML-KEM-768, NONE]: what the responder picked. */
  readonly optionalAddke?: string;
  readonly intermediate: boolean;
  readonly fragmentation: boolean;
  readonly childless: boolean;
  readonly signatureHashes: readonly string[];
  readonly readiness: 'hybrid' | 'pq-only' | 'classic' | 'unreachable';
  readonly summary: string;
  readonly requests: number;
}

const ENCRS: { id: number; keyBits?: number }[] = [
  { id: EncrId.AES_GCM_16, keyBits: 256 },
  { id: EncrId.AES_GCM_16, keyBits: 128 },
  { id: EncrId.CHACHA20_POLY1305 },
  { id: EncrId.AES_CBC, keyBits: 256 },
  { id: EncrId.AES_CBC, keyBits: 128 },
];

function transform(type: number, id: number, keyBits?: number): Transform {
  return { type, id, attributes: keyBits === undefined ? [] : [{ type: TransformAttr.KEY_LENGTH, value: keyBits }] };
}

/**
 * One broad IKE proposal set: an AEAD proposal and a CBC+HMAC one (AEAD and integrity may not
 * share a proposal, RFC 5282 §8), each with the given KE and ADDKE transforms.
 */
function proposals(ke: readonly number[], addke: readonly number[] = []): Proposal[] {
  const tail = (): Transform[] => [
    transform(TransformType.PRF, PrfId.HMAC_SHA2_256),
    transform(TransformType.PRF, PrfId.HMAC_SHA2_384),
    transform(TransformType.PRF, PrfId.HMAC_SHA2_512),
    ...ke.map((k) => transform(TransformType.KE, k)),
    ...addke.map((k) => transform(TransformType.ADDKE1, k)),
  ];
  const aead: Transform[] = [...ENCRS.filter((e) => e.id !== EncrId.AES_CBC).map((e) => transform(TransformType.ENCR, e.id, e.keyBits)), ...tail()];
  const cbc: Transform[] = [
    ...ENCRS.filter((e) => e.id === EncrId.AES_CBC).map((e) => transform(TransformType.ENCR, e.id, e.keyBits)),
    transform(TransformType.INTEG, IntegId.HMAC_SHA2_256_128),
    transform(TransformType.INTEG, IntegId.HMAC_SHA2_384_192),
    transform(TransformType.INTEG, IntegId.HMAC_SHA2_512_256),
    ...tail(),
  ];
  return [
    { num: 1, protocolId: ProtocolId.IKE, spi: new Uint8Array(0), transforms: aead },
    { num: 2, protocolId: ProtocolId.IKE, spi: new Uint8Array(0), transforms: cbc },
  ];
}

function notify(type: number, data: Uint8Array = new Uint8Array(0)): NotifyPayload {
  return { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: type, data };
}

/** What stays the same when a request is repeated with a COOKIE (RFC 7296 §2.6). */
interface Fixed {
  readonly spiI: Uint8Array;
  readonly ke: Uint8Array;
  readonly nonce: Uint8Array;
}

/** An IKE_SA_INIT request as a real initiator sends it (RFC 7296 §1.2). */
function initRequest(eps: ProbeEndpoints, offer: Proposal[], keMethodId: number, withIntermediate: boolean, fixed: Fixed, cookie?: Uint8Array): Uint8Array {
  const { spiI } = fixed;
  const payloads: Payload[] = [];
  if (cookie) payloads.push(notify(NotifyType.COOKIE, cookie));
  payloads.push(
    { type: PayloadType.SA, critical: false, proposals: offer },
    { type: PayloadType.KE, critical: false, method: keMethodId, data: fixed.ke },
    { type: PayloadType.NONCE, critical: false, data: fixed.nonce },
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(spiI, ZERO_SPI, eps.local)),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(spiI, ZERO_SPI, eps.remote)),
    notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
    notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, Uint8Array.of(0, 2, 0, 3, 0, 4, 0, 5)),
  );
  if (withIntermediate) payloads.push(notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED));
  return encodeMessage({ spiI, spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0 }, payloads);
}

interface Answer {
  readonly msg?: IkeMessage;
  readonly verdict: Verdict;
  readonly detail?: string;
}

function notifies(m: IkeMessage): NotifyPayload[] {
  return m.payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}

/** Send one probe; follows COOKIEs (RFC 7296 §2.6), and INVALID_KE_PAYLOAD never (we offer one method). */
async function ask(send: ProbeTransport, eps: ProbeEndpoints, offer: Proposal[], keMethodId: number, withIntermediate: boolean, count: { n: number }): Promise<Answer> {
  let cookie: Uint8Array | undefined;
  const fixed: Fixed = { spiI: randomBytes(8), ke: keMethod(keMethodId).initiate().publicValue, nonce: randomBytes(32) };
  // A responder may replace its cookie secret between our two requests: follow up to two COOKIEs.
  for (let attempt = 0; attempt < 3; attempt++) {
    count.n++;
    const raw = await send(initRequest(eps, offer, keMethodId, withIntermediate, fixed, cookie));
    if (!raw) return { verdict: 'no-answer' };
    let msg: IkeMessage;
    try {
      msg = decodeMessage(raw);
    } catch (e) {
      return { verdict: 'error', detail: `malformed answer: ${e instanceof Error ? e.message : String(e)}` };
    }
    const ns = notifies(msg);
    const c = ns.find((n) => n.notifyType === NotifyType.COOKIE);
    if (c) {
      cookie = c.data;
      continue;
    }
    const err = ns.find((n) => n.notifyType < 16384);
    if (err) {
      const detail = nameOf(NotifyType, err.notifyType) + (err.notifyType === NotifyType.INVALID_KE_PAYLOAD && err.data.length >= 2 ? ` (wants ${keMethodName(((err.data[0] ?? 0) << 8) | (err.data[1] ?? 0))})` : '');
      return { msg, verdict: 'refused', detail };
    }
    if (msg.payloads.some((p) => p.type === PayloadType.SA)) return { msg, verdict: 'accepted' };
    return { msg, verdict: 'error', detail: 'answer without SA or error notify' };
  }
  return { verdict: 'error', detail: 'responder keeps asking for a COOKIE' };
}

function chosen(msg: IkeMessage | undefined, type: number): Transform | undefined {
  const sa = msg?.payloads.find((p) => p.type === PayloadType.SA);
  return sa && sa.type === PayloadType.SA ? sa.proposals[0]?.transforms.find((t) => t.type === type) : undefined;
}

function transformName(t: Transform | undefined, table: Readonly<Record<string, number>>): string {
  if (!t) return '-';
  const kl = t.attributes.find((a) => a.type === TransformAttr.KEY_LENGTH);
  return `${nameOf(table, t.id)}${kl && typeof kl.value === 'number' ? `_${kl.value}` : ''}`;
}

/**
 * Run every probe, at most `ratePerSecond` requests per second (polite by default: 3/s).
 * `sleep` is injectable so in-process tests do not wait.
 */
export async function runProbe(
  target: string,
  send: ProbeTransport,
  eps: ProbeEndpoints,
  opts: { ratePerSecond?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<ProbeReport> {
  const gap = 1000 / (opts.ratePerSecond ?? 3);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const count = { n: 0 };
  let first = true;
  const paced = async (offer: Proposal[], ke: number, inter: boolean): Promise<Answer> => {
    if (!first) await sleep(gap);
    first = false;
    return ask(send, eps, offer, ke, inter, count);
  };
  // 1. A broad classic offer: does it answer, and what does it prefer?
  const classic = [KeMethodId.CURVE25519, KeMethodId.ECP256, KeMethodId.MODP2048, KeMethodId.ECP384];
  let base = await paced(proposals(classic), KeMethodId.CURVE25519, false);
  if (base.verdict === 'refused' && base.msg) {
    // INVALID_KE_PAYLOAD names the method it wants: ask again with that one.
    const n = notifies(base.msg).find((x) => x.notifyType === NotifyType.INVALID_KE_PAYLOAD);
    const want = n && n.data.length >= 2 ? ((n.data[0] ?? 0) << 8) | (n.data[1] ?? 0) : undefined;
    if (want !== undefined && (PROBED_KE as readonly number[]).includes(want)) base = await paced(proposals(classic), want, false);
  }
  if (base.verdict === 'no-answer') {
    return {
      target,
      answered: false,
      keMethods: [],
      additional: [],
      intermediate: false,
      fragmentation: false,
      childless: false,
      signatureHashes: [],
      readiness: 'unreachable',
      summary: `no IKEv2 answer from ${target}`,
      requests: count.n,
    };
  }
  const integ = chosen(base.msg, TransformType.INTEG);
  const preferred = base.verdict === 'accepted'
    ? {
        encr: transformName(chosen(base.msg, TransformType.ENCR), EncrId),
        prf: transformName(chosen(base.msg, TransformType.PRF), PrfId),
        ...(integ ? { integ: transformName(integ, IntegId) } : {}),
        ke: ((t) => (t ? keMethodName(t.id) : '-'))(chosen(base.msg, TransformType.KE)),
      }
    : undefined;
  // Status notifies of every accepted answer (a responder only sends them with an SA).
  const ns: NotifyPayload[] = base.verdict === 'accepted' && base.msg ? notifies(base.msg) : [];
  const collect = (a: Answer): Answer => {
    if (a.verdict === 'accepted' && a.msg) ns.push(...notifies(a.msg));
    return a;
  };

  // 2. Each Transform Type 4 method alone.
  const keMethods: ProbeReport['keMethods'][number][] = [];
  for (const id of PROBED_KE) {
    const a = collect(await paced(proposals([id]), id, false));
    keMethods.push({ method: keMethodName(id), id, verdict: a.verdict, ...(a.detail ? { detail: a.detail } : {}) });
  }
  // 3. ML-KEM as ADDKE1 after X25519, with INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9370 §2.2.1).
  const additional: ProbeReport['additional'][number][] = [];
  let intermediate = false;
  for (const id of MLKEM) {
    const a = collect(await paced(proposals([KeMethodId.CURVE25519], [id]), KeMethodId.CURVE25519, true));
    const add = chosen(a.msg, TransformType.ADDKE1);
    const verdict: Verdict = a.verdict === 'accepted' ? (add?.id === id ? 'accepted' : 'refused') : a.verdict;
    const detail = a.verdict === 'accepted' && add?.id !== id ? 'chose the proposal without running ADDKE1' : a.detail;
    if (a.msg && notifies(a.msg).some((n) => n.notifyType === NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)) intermediate = true;
    additional.push({ method: keMethodName(id), id, verdict, ...(detail ? { detail } : {}) });
  }
  // 4. ADDKE1 = [ML-KEM-768, NONE]: does it run it when optional?
  const opt = collect(await paced(proposals([KeMethodId.CURVE25519], [KeMethodId.MLKEM768, KeMethodId.NONE]), KeMethodId.CURVE25519, true));
  const has = (t: number): boolean => ns.some((n) => n.notifyType === t);
  const hashes = ns.find((n) => n.notifyType === NotifyType.SIGNATURE_HASH_ALGORITHMS);
  const signatureHashes: string[] = [];
  if (hashes) for (let i = 0; i + 1 < hashes.data.length; i += 2) signatureHashes.push(nameOf(HashAlgorithm, ((hashes.data[i] ?? 0) << 8) | (hashes.data[i + 1] ?? 0)));
  const optAdd = chosen(opt.msg, TransformType.ADDKE1);
  const optionalAddke = opt.verdict === 'accepted' ? (optAdd ? keMethodName(optAdd.id) : 'NONE (omitted)') : opt.detail ?? opt.verdict;

  const hybrid = additional.some((a) => a.verdict === 'accepted');
  const pqOnly = keMethods.some((k) => (MLKEM as readonly number[]).includes(k.id) && k.verdict === 'accepted');
  const readiness = hybrid ? 'hybrid' : pqOnly ? 'pq-only' : 'classic';
  const summary =
    readiness === 'hybrid'
      ? `post-quantum ready: runs ${additional.filter((a) => a.verdict === 'accepted').map((a) => a.method).join(', ')} as RFC 9370 additional key exchanges (hybrid)`
      : readiness === 'pq-only'
        ? 'partly post-quantum: accepts ML-KEM as the only key exchange, but no RFC 9370 hybrid'
        : 'not post-quantum ready: classic key exchanges only';
  return {
    target,
    answered: true,
    ...(preferred ? { preferred } : {}),
    keMethods,
    additional,
    optionalAddke,
    intermediate,
    fragmentation: has(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
    childless: has(NotifyType.CHILDLESS_IKEV2_SUPPORTED),
    signatureHashes,
    readiness,
    summary,
    requests: count.n,
  };
}

/** The readable report. */
export function formatReport(r: ProbeReport): string {
  if (!r.answered) return `pqike probe ${r.target}: ${r.summary}\n`;
  const mark = (v: Verdict): string => (v === 'accepted' ? 'yes' : v === 'refused' ? 'no' : v);
  const lines = [
    `pqike probe ${r.target} (${r.requests} IKE_SA_INIT requests, none completed)`,
    r.preferred ? `  preferred suite:        ${r.preferred.encr}/${r.preferred.prf}${r.preferred.integ ? `/${r.preferred.integ}` : ''}/${r.preferred.ke}` : '  preferred suite:        (refused the broad offer)',
    '  key exchange (Transform Type 4):',
    ...r.keMethods.map((k) => `    ${k.method.padEnd(12)} ${mark(k.verdict)}${k.detail && k.verdict !== 'accepted' ? `  (${k.detail})` : ''}`),
    '  additional key exchanges (RFC 9370, ADDKE1 after CURVE25519):',
    ...r.additional.map((k) => `    ${k.method.padEnd(12)} ${mark(k.verdict)}${k.detail && k.verdict !== 'accepted' ? `  (${k.detail})` : ''}`),
    `    optional ML-KEM-768 (ke1_mlkem768-ke1_none): ${r.optionalAddke ?? '-'}`,
    `  IKE_INTERMEDIATE (RFC 9242): ${r.intermediate ? 'announced' : 'not announced'}`,
    `  IKE fragmentation (RFC 7383): ${r.fragmentation ? 'supported' : 'not announced'}`,
    `  childless IKE SA (RFC 6023): ${r.childless ? 'supported' : 'not announced'}`,
    `  signature hashes (RFC 7427): ${r.signatureHashes.length > 0 ? r.signatureHashes.join(', ') : 'not announced'}`,
    `  => ${r.summary}`,
  ];
  return `${lines.join('\n')}\n`;
}
