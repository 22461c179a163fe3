// What one strongSwan 6.0.6 recording (data/strongswan-6.0.6/<folder>/) holds, in the form the
// engine replay (engine-replay.ts) needs: every IKE message of the capture, decrypted with the
// keys the daemons LOGGED (not with keys we derive), and from it the values each side drew at
// random and put on the wire (IKE SPIs, nonces, inbound ESP SPIs, SK/SKF IVs, the link data of
// N(ADDITIONAL_KEY_EXCHANGE)), the public values / ciphertexts of every key exchange with the
// logged shared secret, and the two peers' configuration (swanctl-*.conf).
//
// The SK/SKF payloads are opened with node:crypto's AES-GCM directly (RFC 5282), so nothing of
// src/crypto is involved in preparing the replay's inputs; only src/wire decodes payloads.
import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadVectorSet, concat, toHex, type KeyLog, type VectorSet } from './load.js';
import { groupMessages, EXCHANGE_NAMES, type WireMessage } from './capture-model.js';
import type { IkeDatagram } from './pcap.js';

import { decodeMessage, decodePayloads } from '../../src/wire/message.js';
import { EncrId, ExchangeType, NotifyType, PayloadType, PrfId, ProtocolId, TransformType } from '../../src/wire/constants.js';
import type { NotifyPayload, Payload, PayloadKind, PayloadOf, Proposal } from '../../src/wire/types.js';

export type Side = 'moon' | 'sun';

export const MOON = { address: '192.0.2.1', id: 'moon.example.org' } as const;
export const SUN = { address: '192.0.2.2', id: 'sun.example.org' } as const;
/** Both captures use UDP 500 in both directions (no NAT, no port float; checked by the suite). */
export const IKE_PORT = 500;

// ---------------------------------------------------------------------------------------------
// small helpers

export function all<T extends PayloadKind>(ps: readonly Payload[], t: T): PayloadOf<T>[] {
  return ps.filter((p): p is PayloadOf<T> => p.type === t);
}

export function one<T extends PayloadKind>(ps: readonly Payload[], t: T, what: string): PayloadOf<T> {
  const found = all(ps, t);
  if (found.length !== 1) throw new Error(`${what}: expected exactly one payload of type ${String(t)}, found ${found.length}`);
  return found[0]!;
}

export function notifyOf(ps: readonly Payload[], type: number): NotifyPayload | undefined {
  return all(ps, PayloadType.NOTIFY).find((n) => n.notifyType === type);
}

export function u32of(b: Uint8Array): number {
  if (b.length !== 4) throw new Error(`expected a 4-octet SPI, got ${b.length}`);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
}

export function hmacSha384(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac('sha384', key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

/** AES-256-GCM with a 16-octet ICV and 8-octet explicit IV (RFC 5282 §3, §4): the only SK cipher of both recordings. */
const ENCR_KEY = 36; // 32-octet key + 4-octet salt
const IV_LEN = 8;
const ICV_LEN = 16;

export interface OpenedDatagram {
  readonly iv: Uint8Array;
  /** decrypted chunk of the inner payload chain, padding and Pad Length removed */
  readonly plain: Uint8Array;
  readonly padLength: number;
  /** Next Payload of the SK/SKF payload (first inner payload; 0 in SKF fragments 2..n) */
  readonly innerFirst: number;
  readonly fragment?: { readonly number: number; readonly total: number };
}

/** Opens the SK or SKF payload (the last payload) of one datagram with `key` (SK_ei or SK_er). */
export function openDatagram(bytes: Uint8Array, key: Uint8Array): OpenedDatagram {
  if (key.length !== ENCR_KEY) throw new Error(`SK_e of ${key.length} octets, expected ${ENCR_KEY} (AES-256-GCM + salt)`);
  const msg = decodeMessage(bytes);
  const last = msg.payloads[msg.payloads.length - 1];
  if (last === undefined || (last.type !== PayloadType.SK && last.type !== PayloadType.SKF)) throw new Error('datagram does not end with SK/SKF');
  const body = last.body;
  const aad = bytes.subarray(0, bytes.length - body.length); // everything before the IV (RFC 5282 §5.1, RFC 7383 §2.5)
  const iv = body.subarray(0, IV_LEN);
  const d = createDecipheriv('aes-256-gcm', key.subarray(0, 32), concat(key.subarray(32, 36), iv), { authTagLength: ICV_LEN });
  d.setAAD(aad);
  d.setAuthTag(body.subarray(body.length - ICV_LEN));
  const pt = concat(d.update(body.subarray(IV_LEN, body.length - ICV_LEN)), d.final());
  const padLength = pt[pt.length - 1]!;
  const plain = pt.subarray(0, pt.length - 1 - padLength);
  const fragment = last.type === PayloadType.SKF ? { number: last.fragmentNumber, total: last.totalFragments } : undefined;
  return { iv: Uint8Array.from(iv), plain, padLength, innerFirst: last.innerFirst, ...(fragment ? { fragment } : {}) };
}

/** Opens and reassembles (RFC 7383 §2.6) the datagrams of one message; returns the inner payloads. */
export function openDatagrams(datagrams: readonly Uint8Array[], key: Uint8Array): { parts: OpenedDatagram[]; innerFirst: number; plain: Uint8Array; inner: Payload[] } {
  const parts = datagrams.map((d) => openDatagram(d, key));
  parts.forEach((p, i) => {
    if (parts.length > 1 && (p.fragment?.number !== i + 1 || p.fragment.total !== parts.length)) throw new Error('fragments out of order or incomplete');
  });
  const innerFirst = parts[0]!.innerFirst;
  const plain = concat(...parts.map((p) => p.plain));
  return { parts, innerFirst, plain, inner: decodePayloads(innerFirst, plain, { inner: true }) };
}

// ---------------------------------------------------------------------------------------------
// the recording

export interface RecordedMessage {
  /** 0-based position among the logical messages of the capture */
  readonly index: number;
  readonly label: string;
  readonly wire: WireMessage;
  readonly from: Side;
  /** 1: the IKE SA of IKE_SA_INIT, 2: the IKE SA made by the rekey */
  readonly ikeSa: 1 | 2;
  readonly exchange: number;
  readonly exchangeName: string;
  readonly messageId: number;
  readonly response: boolean;
  readonly datagrams: readonly IkeDatagram[];
  /** the logged SK_e (SK_ei from moon, SK_er from sun) that protects it; undefined for IKE_SA_INIT */
  readonly key: Uint8Array | undefined;
  /** the stage of the key log the key belongs to, e.g. "IKE SA 1 stage 0" */
  readonly keyStage: string;
  /** IVs of the SK/SKF payloads, one per datagram (empty for IKE_SA_INIT) */
  readonly ivs: readonly Uint8Array[];
  /** the reassembled inner payload chain (undefined for IKE_SA_INIT) */
  readonly plain: Uint8Array | undefined;
  readonly innerFirst: number;
  /** IKE_SA_INIT: the payloads of the message; otherwise the decrypted inner payloads */
  readonly payloads: readonly Payload[];
}

/** One key exchange of the recording, with both public values and the logged shared secret. */
export interface RecordedKe {
  readonly what: string;
  readonly method: number;
  readonly request: RecordedMessage;
  readonly response: RecordedMessage;
  /** KE data of the request (DH public value / ML-KEM encapsulation key) */
  readonly initiatorValue: Uint8Array;
  /** KE data of the response (DH public value / ML-KEM ciphertext) */
  readonly responderValue: Uint8Array;
  /** the shared secret as the given side's daemon logged it */
  readonly secret: Uint8Array;
}

/** The swanctl settings that matter to us, read from swanctl-<side>.conf. */
export interface SwanctlConn {
  readonly localAddr: string;
  readonly remoteAddr: string;
  readonly proposals: string;
  readonly espProposals: string;
  readonly localId: string;
  readonly remoteId: string;
  readonly localTs: string;
  readonly remoteTs: string;
  readonly mode: string;
  readonly fragmentation: string;
  readonly psk: string;
}

export function parseSwanctl(text: string): SwanctlConn {
  const get = (re: RegExp, what: string): string => {
    const m = re.exec(text);
    if (!m?.[1]) throw new Error(`swanctl.conf: no ${what}`);
    return m[1].trim();
  };
  const block = (name: string): string => {
    const m = new RegExp(`\\b${name}\\s*\\{([^{}]*)\\}`).exec(text);
    if (!m?.[1]) throw new Error(`swanctl.conf: no ${name} { } block`);
    return m[1];
  };
  const idIn = (b: string, what: string): string => {
    const m = /\bid\s*=\s*(\S+)/.exec(b);
    if (!m?.[1]) throw new Error(`swanctl.conf: no id in ${what}`);
    return m[1];
  };
  return {
    localAddr: get(/\blocal_addrs\s*=\s*(\S+)/, 'local_addrs'),
    remoteAddr: get(/\bremote_addrs\s*=\s*(\S+)/, 'remote_addrs'),
    proposals: get(/\n\s*proposals\s*=\s*(\S+)/, 'proposals'),
    espProposals: get(/\besp_proposals\s*=\s*(\S+)/, 'esp_proposals'),
    localId: idIn(block('local'), 'local'),
    remoteId: idIn(block('remote'), 'remote'),
    localTs: get(/\blocal_ts\s*=\s*(\S+)/, 'local_ts'),
    remoteTs: get(/\bremote_ts\s*=\s*(\S+)/, 'remote_ts'),
    mode: get(/\bmode\s*=\s*(\S+)/, 'mode'),
    fragmentation: get(/\bfragmentation\s*=\s*(\S+)/, 'fragmentation'),
    psk: get(/\bsecret\s*=\s*"([^"]*)"/, 'secret'),
  };
}

export interface Recording {
  readonly folder: string;
  readonly vectors: VectorSet;
  readonly messages: readonly RecordedMessage[];
  /** number of additional key exchanges (IKE_INTERMEDIATE rounds, IKE_FOLLOWUP_KE per series) */
  readonly nAdd: number;
  /** the KE methods of the IKE SA as negotiated in IKE_SA_INIT: [type 4, ADDKE1, ...] */
  readonly ikeKeMethods: readonly number[];
  /** the KE methods of the rekeyed Child SA (its CREATE_CHILD_SA response) */
  readonly childRekeyKeMethods: readonly number[];
  /** the KE methods of the rekeyed IKE SA (its CREATE_CHILD_SA response) */
  readonly ikeRekeyKeMethods: readonly number[];
  readonly conf: Record<Side, SwanctlConn>;
  /** the key exchanges in the order they happened, secrets from `log`'s side */
  keSteps(side: Side): RecordedKe[];
  log(side: Side): KeyLog;
  /** what `side` drew at random and put on the wire, by RandomPurpose, in the order sent */
  drawn(side: Side): DrawnValues;
  /** the IKE messages of a kind, in capture order */
  find(pred: (m: RecordedMessage) => boolean): RecordedMessage[];
  /** CREATE_CHILD_SA requests/responses of the Child SA rekey and of the IKE SA rekey */
  readonly childRekey: { readonly request: RecordedMessage; readonly response: RecordedMessage };
  readonly ikeRekey: { readonly request: RecordedMessage; readonly response: RecordedMessage };
  readonly ikeAuth: { readonly request: RecordedMessage; readonly response: RecordedMessage };
  readonly init: { readonly request: RecordedMessage; readonly response: RecordedMessage };
}

export interface DrawnValues {
  readonly 'ike-spi': Uint8Array[];
  readonly nonce: Uint8Array[];
  readonly 'esp-spi': Uint8Array[];
  readonly iv: Uint8Array[];
  readonly link: Uint8Array[];
}

/** Methods of a selected proposal: Transform Type 4, then ADDKE1.. in type order (RFC 9370 §2.2.1). */
function proposalKeMethods(p: Proposal): number[] {
  const out: number[] = [];
  const ke = p.transforms.filter((t) => t.type === TransformType.KE && t.id !== 0);
  out.push(...ke.map((t) => t.id));
  for (let type = TransformType.ADDKE1; type <= TransformType.ADDKE7; type++) {
    out.push(...p.transforms.filter((t) => t.type === type && t.id !== 0).map((t) => t.id));
  }
  return out;
}

const MLKEM_SECRET = 32;

function split(b: Uint8Array | undefined, n: number, what: string): Uint8Array[] {
  if (b === undefined || b.length !== n * MLKEM_SECRET) throw new Error(`${what}: logged additional secret has ${b?.length ?? 'no'} octets, expected ${n} x ${MLKEM_SECRET}`);
  return Array.from({ length: n }, (_, k) => b.subarray(k * MLKEM_SECRET, (k + 1) * MLKEM_SECRET));
}

export function loadRecording(folder: string): Recording {
  const v = loadVectorSet(folder);
  const wire = groupMessages(v.ike);
  const moonLog = v.moon;
  const s1 = moonLog.sa(1).stages;
  const s2 = moonLog.sa(2).stages;
  const nAdd = s1.length - 1;
  const sa1Spis = `${wire[1]!.header.spiI}/${wire[1]!.header.spiR}`;

  const messages: RecordedMessage[] = wire.map((m) => {
    const from: Side = m.datagrams[0]!.src === MOON.address ? 'moon' : 'sun';
    if (m.datagrams.some((d) => d.src !== m.datagrams[0]!.src)) throw new Error(`${m.label}: fragments from two senders`);
    if ((from === 'moon') !== m.header.initiator) throw new Error(`${m.label}: moon initiated both IKE SAs, so the I flag marks its messages`);
    const ikeSa: 1 | 2 = m.index === 0 || `${m.header.spiI}/${m.header.spiR}` === sa1Spis ? 1 : 2;
    const base = {
      index: m.index, label: m.label, wire: m, from, ikeSa, exchange: m.header.exchange, exchangeName: EXCHANGE_NAMES[m.header.exchange] ?? String(m.header.exchange),
      messageId: m.header.messageId, response: m.header.response, datagrams: m.datagrams,
    };
    if (m.header.exchange === ExchangeType.IKE_SA_INIT) {
      return { ...base, key: undefined, keyStage: 'none (IKE_SA_INIT)', ivs: [], plain: undefined, innerFirst: decodeMessage(m.datagrams[0]!.bytes).header.nextPayload, payloads: decodeMessage(m.datagrams[0]!.bytes).payloads };
    }
    // which logged stage protects it: IKE_INTERMEDIATE mid k uses stage k-1, everything later the last stage
    const stageIndex = m.header.exchange === ExchangeType.IKE_INTERMEDIATE ? m.header.messageId - 1 : nAdd;
    const stage = ikeSa === 1 ? s1[stageIndex]! : s2[0]!;
    const keyStage = ikeSa === 1 ? `IKE SA 1 stage ${stageIndex}` : 'IKE SA 2 (rekeyed)';
    const key = from === 'moon' ? stage.skEi : stage.skEr;
    const o = openDatagrams(m.datagrams.map((d) => d.bytes), key);
    return { ...base, key, keyStage, ivs: o.parts.map((p) => p.iv), plain: o.plain, innerFirst: o.innerFirst, payloads: o.inner };
  });

  const find = (pred: (m: RecordedMessage) => boolean): RecordedMessage[] => messages.filter(pred);
  const pairOf = (req: RecordedMessage): { request: RecordedMessage; response: RecordedMessage } => {
    const res = messages.find((m) => m.ikeSa === req.ikeSa && m.response && m.messageId === req.messageId && m.exchange === req.exchange);
    if (!res) throw new Error(`no response to ${req.label}`);
    return { request: req, response: res };
  };
  const ccsaReqs = find((m) => m.exchange === ExchangeType.CREATE_CHILD_SA && !m.response);
  const ccsaOf = (proto: number): { request: RecordedMessage; response: RecordedMessage } => {
    const reqs = ccsaReqs.filter((m) => one(m.payloads, PayloadType.SA, m.label).proposals[0]?.protocolId === proto);
    if (reqs.length !== 1) throw new Error(`expected one CREATE_CHILD_SA for protocol ${proto}, found ${reqs.length}`);
    return pairOf(reqs[0]!);
  };
  const childRekey = ccsaOf(ProtocolId.ESP);
  const ikeRekey = ccsaOf(ProtocolId.IKE);
  const init = pairOf(messages[0]!);
  const ikeAuth = pairOf(find((m) => m.exchange === ExchangeType.IKE_AUTH && !m.response)[0]!);

  const selected = (m: RecordedMessage): Proposal => {
    const sa = one(m.payloads, PayloadType.SA, m.label);
    if (sa.proposals.length !== 1) throw new Error(`${m.label}: ${sa.proposals.length} proposals in a response`);
    return sa.proposals[0]!;
  };
  const initSel = selected(init.response);
  // the replay's fake SK cipher and independent AUTH assume this suite; anything else must fail here
  const encr = initSel.transforms.find((t) => t.type === TransformType.ENCR);
  const prf = initSel.transforms.find((t) => t.type === TransformType.PRF);
  if (encr?.id !== EncrId.AES_GCM_16 || encr.attributes[0]?.value !== 256 || prf?.id !== PrfId.HMAC_SHA2_384) {
    throw new Error(`${folder}: the replay handles AES-GCM-16/256 with PRF_HMAC_SHA2_384 only`);
  }

  const keValue = (m: RecordedMessage, method: number): Uint8Array => {
    const ke = one(m.payloads, PayloadType.KE, m.label);
    if (ke.method !== method) throw new Error(`${m.label}: KE method ${ke.method}, expected ${method}`);
    return ke.data;
  };

  const ikeKeMethods = proposalKeMethods(initSel);
  const childRekeyKeMethods = proposalKeMethods(selected(childRekey.response));
  const ikeRekeyKeMethods = proposalKeMethods(selected(ikeRekey.response));

  const keSteps = (side: Side): RecordedKe[] => {
    const log = side === 'moon' ? v.moon : v.sun;
    const l1 = log.sa(1);
    const l2 = log.sa(2);
    const out: RecordedKe[] = [];
    const push = (what: string, method: number, pair: { request: RecordedMessage; response: RecordedMessage }, secret: Uint8Array): void => {
      out.push({ what, method, ...pair, initiatorValue: keValue(pair.request, method), responderValue: keValue(pair.response, method), secret });
    };
    push('IKE_SA_INIT', ikeKeMethods[0]!, init, l1.stages[0]!.keSecret);
    for (let k = 1; k <= nAdd; k++) {
      const req = find((m) => m.ikeSa === 1 && m.exchange === ExchangeType.IKE_INTERMEDIATE && !m.response && m.messageId === k)[0];
      if (!req) throw new Error(`no IKE_INTERMEDIATE request mid=${k}`);
      push(`IKE_INTERMEDIATE mid=${k}`, ikeKeMethods[k]!, pairOf(req), l1.stages[k]!.keSecret);
    }
    const series = (name: string, ccsa: { request: RecordedMessage; response: RecordedMessage }, methods: readonly number[], sk0: Uint8Array | undefined, more: Uint8Array | undefined): void => {
      if (sk0 === undefined) throw new Error(`${name}: no logged SK(0)`);
      push(`${name} CREATE_CHILD_SA`, methods[0]!, ccsa, sk0);
      const extra = split(more, methods.length - 1, name);
      for (let k = 1; k < methods.length; k++) {
        const mid = ccsa.request.messageId + k;
        const req = find((m) => m.ikeSa === 1 && m.exchange === ExchangeType.IKE_FOLLOWUP_KE && !m.response && m.messageId === mid)[0];
        if (!req) throw new Error(`${name}: no IKE_FOLLOWUP_KE request mid=${mid}`);
        push(`${name} IKE_FOLLOWUP_KE mid=${mid}`, methods[k]!, pairOf(req), extra[k - 1]!);
      }
    };
    const c = l1.children[1];
    if (!c) throw new Error('no logged keys of the rekeyed Child SA');
    series('Child SA rekey', childRekey, childRekeyKeMethods, c.keSecret, c.additionalKeSecret);
    const r = l2.stages[0];
    if (!r) throw new Error('no logged stage of the rekeyed IKE SA');
    series('IKE SA rekey', ikeRekey, ikeRekeyKeMethods, r.keSecret, r.additionalKeSecret);
    return out;
  };

  const drawn = (side: Side): DrawnValues => {
    const d: DrawnValues = { 'ike-spi': [], nonce: [], 'esp-spi': [], iv: [], link: [] };
    for (const m of messages) {
      if (m.from !== side) continue;
      d.iv.push(...m.ivs);
      if (m.exchange === ExchangeType.IKE_SA_INIT) {
        const h = decodeMessage(m.datagrams[0]!.bytes).header;
        d['ike-spi'].push(side === 'moon' ? h.spiI : h.spiR);
        d.nonce.push(one(m.payloads, PayloadType.NONCE, m.label).data);
      }
      if (m.exchange === ExchangeType.IKE_AUTH || m.exchange === ExchangeType.CREATE_CHILD_SA) {
        for (const sa of all(m.payloads, PayloadType.SA)) {
          const spis = new Set(sa.proposals.map((p) => toHex(p.spi)));
          if (spis.size !== 1) throw new Error(`${m.label}: proposals with different SPIs`);
          const spi = sa.proposals[0]!.spi;
          if (spi.length === 8) d['ike-spi'].push(spi);
          else if (spi.length === 4) d['esp-spi'].push(spi);
          else throw new Error(`${m.label}: SPI of ${spi.length} octets`);
        }
      }
      if (m.exchange === ExchangeType.CREATE_CHILD_SA) d.nonce.push(one(m.payloads, PayloadType.NONCE, m.label).data);
      // the link data the responder hands out (RFC 9370 §2.2.4); the initiator only echoes it
      if (m.response && (m.exchange === ExchangeType.CREATE_CHILD_SA || m.exchange === ExchangeType.IKE_FOLLOWUP_KE)) {
        const n = notifyOf(m.payloads, NotifyType.ADDITIONAL_KEY_EXCHANGE);
        if (n) d.link.push(n.data);
      }
    }
    return d;
  };

  const conf = {
    moon: parseSwanctl(readFileSync(join(v.dir, 'swanctl-moon.conf'), 'utf8')),
    sun: parseSwanctl(readFileSync(join(v.dir, 'swanctl-sun.conf'), 'utf8')),
  };

  return {
    folder, vectors: v, messages, nAdd, ikeKeMethods, childRekeyKeMethods, ikeRekeyKeMethods, conf,
    keSteps, log: (side) => (side === 'moon' ? v.moon : v.sun), drawn, find, childRekey, ikeRekey, ikeAuth, init,
  };
}

/** A deterministic stream for the purposes a recording cannot supply ('jitter', 'cookie-secret'). */
export function deterministicBytes(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      const take = Math.min(block.length, n - o);
      out.set(block.subarray(0, take), o);
      o += take;
    }
    return out;
  };
}
