// Reference-vector suite: one strongSwan 6.0.6 RFC 9370 exchange (see data/strongswan-6.0.6/README.md)
// replayed through OUR wire codec (src/wire) and key schedule / SK cipher (src/crypto).
//
// Inputs taken from the vectors: the captured packets, the logged key-exchange shared secrets
// (private keys are not logged) and the PSK. Everything else (SKEYSEED, SK_*, IntAuth, AUTH,
// KEYMAT, the decrypted and re-encrypted messages) is computed by our code and compared with
// what strongSwan logged and what is on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';

import { loadVectorSet, concat, toHex, LOG_DUMP_LIMIT, type KeyStage } from './load.js';
import { groupMessages, type WireMessage } from './capture-model.js';

import { decodeMessage, decodePayloads, encodePayloads, encodeMessage, encryptedPrefix, type EncryptedPayloadSpec } from '../../src/wire/message.js';
import { encodeHeader, genericPayloadHeader } from '../../src/wire/header.js';
import {
  AuthMethod, EncrId, ExchangeType, HeaderFlags, IntegId, KeMethodId, NotifyType, PayloadType, PrfId, ProtocolId, TransformType,
  TransformAttrType,
} from '../../src/wire/constants.js';
import type { IkeHeader, IkeMessage, Payload, PayloadKind, PayloadOf, SkPayload, SkfPayload } from '../../src/wire/types.js';

import {
  childKeymat, deriveIkeSaKeys, intAuthStep, pskAuth, signedOctets, skeyseedInit, skeyseedIntermediate, skeyseedRekey,
  type IkeSaKeys,
} from '../../src/crypto/keys.js';
import { skCipher, type SkKeys } from '../../src/crypto/sk-cipher.js';
import { espKeyLengths } from '../../src/crypto/esp-algs.js';
import { keMethod } from '../../src/crypto/ke.js';
import { CryptoError } from '../../src/crypto/errors.js';

export interface SuiteSpec {
  /** folder under data/strongswan-6.0.6/ */
  readonly folder: string;
  /** KE methods of the IKE and ESP proposals: [KE, ADDKE1, ADDKE2, ...] */
  readonly keMethods: readonly number[];
}

// The proposals of both vector sets (README): aes256gcm16-prfsha384-x25519-ke1_mlkem768[-ke2_mlkem1024]
const PRF = PrfId.HMAC_SHA2_384;
const ENCR = EncrId.AES_GCM_16;
const ENCR_BITS = 256;
const INTEG = IntegId.NONE;
/** ML-KEM shared secrets are 32 octets (FIPS 203 §7.2/§7.3) */
const MLKEM_SS_LENGTH = 32;

// -------------------------------------------------------------------------------------------
// small helpers

function once<T>(f: () => T): () => T {
  let done = false;
  let v: T | undefined;
  let err: unknown;
  let failed = false;
  return () => {
    if (failed) throw err;
    if (!done) {
      try { v = f(); } catch (e) { failed = true; err = e; throw e; }
      done = true;
    }
    return v as T;
  };
}

function all<T extends PayloadKind>(ps: readonly Payload[], t: T): PayloadOf<T>[] {
  return ps.filter((p): p is PayloadOf<T> => p.type === t);
}

function one<T extends PayloadKind>(ps: readonly Payload[], t: T, what: string): PayloadOf<T> {
  const found = all(ps, t);
  assert.equal(found.length, 1, `${what}: expected exactly one payload of type ${String(t)}, found ${found.length}`);
  return found[0]!;
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function eqHex(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(toHex(actual), toHex(expected), what);
}

/** Splits the logged "additional key exchange secret" SK(1)|..|SK(n) into the n ML-KEM secrets. */
function splitAdditional(b: Uint8Array | undefined, n: number, what: string): Uint8Array[] {
  assert.ok(b !== undefined, `${what}: no additional key exchange secret logged`);
  assert.equal(b.length, n * MLKEM_SS_LENGTH, `${what}: additional secret length`);
  return Array.from({ length: n }, (_, k) => b.subarray(k * MLKEM_SS_LENGTH, (k + 1) * MLKEM_SS_LENGTH));
}

/** Walks a generic payload chain (RFC 7296 §3.2) without interpreting bodies. */
function rawChain(firstType: number, bytes: Uint8Array): { type: number; body: Uint8Array }[] {
  const out: { type: number; body: Uint8Array }[] = [];
  let type = firstType;
  let off = 0;
  while (type !== PayloadType.NONE) {
    assert.ok(off + 4 <= bytes.length, 'payload chain truncated');
    const len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
    assert.ok(len >= 4 && off + len <= bytes.length, 'bad payload length in chain');
    out.push({ type, body: bytes.subarray(off + 4, off + len) });
    type = bytes[off]!;
    off += len;
  }
  assert.equal(off, bytes.length, 'octets after the last payload of the chain');
  return out;
}

function headerWithoutLength(h: IkeHeader): Omit<IkeHeader, 'length' | 'nextPayload'> {
  const { length: _l, nextPayload: _n, ...rest } = h;
  return rest;
}

// -------------------------------------------------------------------------------------------
// decrypted view of a captured message

interface OpenedPart {
  readonly bytes: Uint8Array;
  readonly msg: IkeMessage;
  readonly sk: SkPayload | SkfPayload;
  readonly aad: Uint8Array;
  readonly plain: Uint8Array;
  readonly iv: Uint8Array;
  readonly padding: Uint8Array;
}

interface OpenedMessage {
  readonly wire: WireMessage;
  readonly header: IkeHeader;
  readonly parts: OpenedPart[];       // in fragment order
  readonly innerFirst: number;
  /** the inner payload chain, reassembled (RFC 7383 §2.6) */
  readonly plain: Uint8Array;
  readonly inner: Payload[];
  readonly stageName: string;
}

function openPart(bytes: Uint8Array, keys: SkKeys): OpenedPart {
  const msg = decodeMessage(bytes);
  const last = msg.payloads[msg.payloads.length - 1];
  assert.ok(last !== undefined && (last.type === PayloadType.SK || last.type === PayloadType.SKF), 'message does not end with SK/SKF');
  // the AAD is everything up to the end of the SK/SKF header (RFC 5282 §5.1, RFC 7383 §2.5),
  // i.e. everything before the IV; the SK/SKF payload is last, so its body ends the datagram
  const aad = bytes.subarray(0, bytes.length - last.body.length);
  const { plain, iv, padding } = skCipher(ENCR, ENCR_BITS, INTEG).open(keys, aad, last.body);
  return { bytes, msg, sk: last, aad, plain, iv, padding };
}

function openMessage(m: WireMessage, keys: SkKeys, stageName: string): OpenedMessage {
  const parts = m.datagrams.map((d) => openPart(d.bytes, keys));
  const first = parts[0]!;
  if (first.sk.type === PayloadType.SKF) {
    const total = first.sk.totalFragments;
    parts.sort((a, b) => (a.sk as SkfPayload).fragmentNumber - (b.sk as SkfPayload).fragmentNumber);
    parts.forEach((p, i) => {
      assert.equal(p.sk.type, PayloadType.SKF, 'mixed SK and SKF');
      const f = p.sk as SkfPayload;
      assert.equal(f.fragmentNumber, i + 1, 'fragment numbers 1..total');
      assert.equal(f.totalFragments, total, 'Total Fragments equal in all fragments');
      if (i > 0) assert.equal(f.innerFirst, 0, 'Next Payload of non-first fragments is 0 (RFC 7383 §2.5)');
      if (i > 0) assert.equal(p.msg.payloads.length, 1, 'only the first fragment may carry unencrypted payloads');
    });
  } else {
    assert.equal(parts.length, 1);
  }
  const innerFirst = parts[0]!.sk.innerFirst;
  const plain = concat(...parts.map((p) => p.plain));
  return { wire: m, header: parts[0]!.msg.header, parts, innerFirst, plain, inner: decodePayloads(innerFirst, plain), stageName };
}

// -------------------------------------------------------------------------------------------

export function strongswanSuite(spec: SuiteSpec): void {
  const v = loadVectorSet(spec.folder);
  const P = spec.folder;
  const msgs = groupMessages(v.ike);
  const nAdd = spec.keMethods.length - 1;
  const log1 = v.moon.sa(1);
  const log2 = v.moon.sa(2);
  const sizes = { encr: 36, integ: 0 }; // AES-GCM-16 256: 32-octet key + 4-octet salt (RFC 5282 §7.1)

  // IKE SA 1 = the SPIs of the IKE_SA_INIT response (the request has SPIr = 0)
  const sa1Spis = `${msgs[1]!.header.spiI}/${msgs[1]!.header.spiR}`;
  const isSa1 = (m: WireMessage): boolean =>
    `${m.header.spiI}/${m.header.spiR}` === sa1Spis || (m.index === 0 && m.header.exchange === ExchangeType.IKE_SA_INIT);
  const byKind = (ex: number, resp: boolean, sa1 = true): WireMessage[] =>
    msgs.filter((m) => m.header.exchange === ex && m.header.response === resp && isSa1(m) === sa1);
  const intermediates = (resp: boolean): WireMessage[] => byKind(ExchangeType.IKE_INTERMEDIATE, resp);

  // ---- IKE_SA_INIT, nonces, SPIs
  const init = once(() => {
    const req = decodeMessage(msgs[0]!.datagrams[0]!.bytes);
    const res = decodeMessage(msgs[1]!.datagrams[0]!.bytes);
    assert.equal(req.header.exchangeType, ExchangeType.IKE_SA_INIT);
    assert.equal(res.header.exchangeType, ExchangeType.IKE_SA_INIT);
    return {
      req, res, reqBytes: msgs[0]!.datagrams[0]!.bytes, resBytes: msgs[1]!.datagrams[0]!.bytes,
      ni: one(req.payloads, PayloadType.NONCE, 'IKE_SA_INIT request').data,
      nr: one(res.payloads, PayloadType.NONCE, 'IKE_SA_INIT response').data,
      spiI: res.header.spiI, spiR: res.header.spiR,
    };
  });

  // ---- our key schedule for IKE SA 1: stage 0 (IKE_SA_INIT) .. stage nAdd (last IKE_INTERMEDIATE)
  interface OurStage { readonly skeyseed: Uint8Array; readonly keys: IkeSaKeys }
  const stages = once((): OurStage[] => {
    const { ni, nr, spiI, spiR } = init();
    const out: OurStage[] = [];
    log1.stages.forEach((ls, k) => {
      const skeyseed = k === 0
        ? skeyseedInit(PRF, ni, nr, ls.keSecret)                              // RFC 7296 §2.14
        : skeyseedIntermediate(PRF, out[k - 1]!.keys.skD, ls.keSecret, ni, nr); // RFC 9370 §2.2.2
      out.push({ skeyseed, keys: deriveIkeSaKeys(PRF, skeyseed, ni, nr, spiI, spiR, sizes) });
    });
    return out;
  });
  const lastStage = (): OurStage => stages()[stages().length - 1]!;
  const dirKeys = (k: IkeSaKeys, initiatorSent: boolean): SkKeys =>
    initiatorSent ? { encr: k.skEi, integ: k.skAi } : { encr: k.skEr, integ: k.skAr };

  /** Stage whose keys protect message m of IKE SA 1: IKE_INTERMEDIATE k uses stage k-1, all else the last stage. */
  const stageIndexFor = (m: WireMessage): number =>
    m.header.exchange === ExchangeType.IKE_INTERMEDIATE ? m.header.messageId - 1 : stages().length - 1;

  const openedSa1 = new Map<number, () => OpenedMessage>();
  for (const m of msgs) {
    if (!isSa1(m) || m.header.exchange === ExchangeType.IKE_SA_INIT) continue;
    openedSa1.set(m.index, once(() => {
      const k = stageIndexFor(m);
      return openMessage(m, dirKeys(stages()[k]!.keys, m.header.initiator), `stage ${k}`);
    }));
  }
  const opened = (m: WireMessage): OpenedMessage => {
    const f = openedSa1.get(m.index) ?? openedSa2.get(m.index);
    assert.ok(f, `no decryption for ${m.label}`);
    return f();
  };

  // ---- exchanges of IKE SA 1 after IKE_AUTH
  const findSaProto = (om: OpenedMessage): number | undefined => all(om.inner, PayloadType.SA)[0]?.proposals[0]?.protocolId;
  const ccsa = once(() => {
    const reqs = byKind(ExchangeType.CREATE_CHILD_SA, false).map(opened);
    const ress = byKind(ExchangeType.CREATE_CHILD_SA, true).map(opened);
    const pick = (proto: number): { req: OpenedMessage; res: OpenedMessage } => {
      const i = reqs.findIndex((r) => findSaProto(r) === proto);
      assert.ok(i >= 0, `no CREATE_CHILD_SA with a protocol ${proto} proposal`);
      const req = reqs[i]!;
      const res = ress.find((r) => r.header.messageId === req.header.messageId);
      assert.ok(res, 'CREATE_CHILD_SA response missing');
      return { req, res };
    };
    return { child: pick(ProtocolId.ESP), ike: pick(ProtocolId.IKE) };
  });

  // ---- IKE SA rekey (RFC 9370 §2.2.4)
  const rekey = once(() => {
    const { req, res } = ccsa().ike;
    const ni = one(req.inner, PayloadType.NONCE, 'IKE rekey request').data;
    const nr = one(res.inner, PayloadType.NONCE, 'IKE rekey response').data;
    const spiI = one(req.inner, PayloadType.SA, 'IKE rekey request').proposals[0]!.spi;
    const spiR = one(res.inner, PayloadType.SA, 'IKE rekey response').proposals[0]!.spi;
    const ls = log2.stages[0]!;
    const secrets = [ls.keSecret, ...splitAdditional(ls.additionalKeSecret, nAdd, 'IKE SA rekey')];
    const skeyseed = skeyseedRekey(PRF, lastStage().keys.skD, secrets, ni, nr);
    return { ni, nr, spiI, spiR, secrets, skeyseed, keys: deriveIkeSaKeys(PRF, skeyseed, ni, nr, spiI, spiR, sizes) };
  });

  const openedSa2 = new Map<number, () => OpenedMessage>();
  for (const m of msgs) {
    if (isSa1(m)) continue;
    openedSa2.set(m.index, once(() => openMessage(m, dirKeys(rekey().keys, m.header.initiator), 'rekeyed IKE SA')));
  }

  // ---- IntAuth (RFC 9242 §3.3.2), from the decrypted capture
  /** A|P of an IKE_INTERMEDIATE message: header and SK header with adjusted lengths, as if
   *  unfragmented (Next Payload = SK), followed by the plaintext inner payloads. */
  const rebuildAp = (om: OpenedMessage): Uint8Array => {
    const first = om.parts[0]!;
    assert.equal(first.msg.payloads.length, 1, 'no unencrypted payloads before SK/SKF in these messages');
    const p = om.plain;
    const a = concat(
      encodeHeader({ ...om.header, nextPayload: PayloadType.SK, length: 28 + 4 + p.length }),
      genericPayloadHeader(om.innerFirst, first.sk.critical, 4 + p.length),
    );
    return concat(a, p);
  };
  interface OurIntAuth { readonly mid: number; readonly dir: 'i' | 'r'; readonly ap: Uint8Array; readonly skP: Uint8Array; readonly prev: Uint8Array; readonly result: Uint8Array }
  const intAuth = once((): OurIntAuth[] => {
    const out: OurIntAuth[] = [];
    const prev: Record<'i' | 'r', Uint8Array> = { i: new Uint8Array(0), r: new Uint8Array(0) };
    for (let k = 1; k <= nAdd; k++) {
      for (const dir of ['i', 'r'] as const) {
        const m = intermediates(dir === 'r').find((x) => x.header.messageId === k);
        assert.ok(m, `IKE_INTERMEDIATE mid=${k} ${dir}`);
        const keys = stages()[k - 1]!.keys;
        const skP = dir === 'i' ? keys.skPi : keys.skPr;
        const ap = rebuildAp(opened(m));
        const result = intAuthStep(PRF, skP, prev[dir], ap);
        out.push({ mid: k, dir, ap, skP, prev: prev[dir], result });
        prev[dir] = result;
      }
    }
    return out;
  });
  const lastIntAuth = (dir: 'i' | 'r'): Uint8Array => {
    const steps = intAuth().filter((s) => s.dir === dir);
    return steps[steps.length - 1]!.result;
  };

  const ikeAuth = once(() => ({
    req: opened(byKind(ExchangeType.IKE_AUTH, false)[0]!),
    res: opened(byKind(ExchangeType.IKE_AUTH, true)[0]!),
  }));

  const stageTitle = (ls: KeyStage): string =>
    ls.index === 0 ? 'stage 0 (after IKE_SA_INIT)' : `stage ${ls.index} (after IKE_INTERMEDIATE mid=${ls.index})`;

  // =========================================================================================
  // IKE_SA_INIT

  test(`${P}: IKE_SA_INIT request and response decode and re-encode byte for byte with src/wire`, () => {
    const { req, res, reqBytes, resBytes } = init();
    eqHex(encodeMessage(headerWithoutLength(req.header), req.payloads), reqBytes, 'IKE_SA_INIT request');
    eqHex(encodeMessage(headerWithoutLength(res.header), res.payloads), resBytes, 'IKE_SA_INIT response');
  });

  test(`${P}: IKE_SA_INIT response selects AES-GCM-16/256, PRF_HMAC_SHA2_384, no INTEG, and KE ${spec.keMethods.join('+')} (ADDKE transform types 6..)`, () => {
    const sa = one(init().res.payloads, PayloadType.SA, 'IKE_SA_INIT response');
    assert.equal(sa.proposals.length, 1);
    const p = sa.proposals[0]!;
    assert.equal(p.protocolId, ProtocolId.IKE);
    const t = p.transforms.map((x) => ({ type: x.type, id: x.id, attributes: x.attributes }));
    const expected = [
      { type: TransformType.ENCR, id: ENCR, attributes: [{ type: TransformAttrType.KEY_LENGTH, value: ENCR_BITS }] },
      { type: TransformType.PRF, id: PRF, attributes: [] },
      { type: TransformType.KE, id: spec.keMethods[0]!, attributes: [] },
      ...spec.keMethods.slice(1).map((id, k) => ({ type: TransformType.ADDKE1 + k, id, attributes: [] })),
    ];
    assert.deepEqual(t, expected);
    // and the KE payloads of IKE_SA_INIT carry the first method
    assert.equal(one(init().req.payloads, PayloadType.KE, 'IKE_SA_INIT request').method, spec.keMethods[0]);
    assert.equal(one(init().res.payloads, PayloadType.KE, 'IKE_SA_INIT response').method, spec.keMethods[0]);
  });

  test(`${P}: Ni | Nr taken from the captured IKE_SA_INIT Nonce payloads equal the nonces strongSwan logged`, () => {
    const { ni, nr } = init();
    for (const s of log1.stages) eqHex(concat(ni, nr), s.nonces, `${stageTitle(s)} nonces`);
  });

  // =========================================================================================
  // key schedule of IKE SA 1, stage by stage

  for (const ls of log1.stages) {
    const k = ls.index;
    const formula = k === 0
      ? 'SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14)'
      : `SKEYSEED = prf(SK_d(stage ${k - 1}), SK(${k}) | Ni | Nr) with SK(${k}) the ML-KEM secret of IKE_INTERMEDIATE mid=${k} (RFC 9370 §2.2.2)`;
    test(`${P}: ${stageTitle(ls)}: ${formula} equals strongSwan's SKEYSEED`, () => {
      eqHex(stages()[k]!.skeyseed, ls.skeyseed, 'SKEYSEED');
    });
    test(`${P}: ${stageTitle(ls)}: SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) equal strongSwan's`, () => {
      const o = stages()[k]!.keys;
      eqHex(o.skD, ls.skD, 'SK_d');
      eqHex(o.skAi, ls.skAi, 'SK_ai (empty: AEAD)');
      eqHex(o.skAr, ls.skAr, 'SK_ar (empty: AEAD)');
      eqHex(o.skEi, ls.skEi, 'SK_ei');
      eqHex(o.skEr, ls.skEr, 'SK_er');
      eqHex(o.skPi, ls.skPi, 'SK_pi');
      eqHex(o.skPr, ls.skPr, 'SK_pr');
    });
  }

  test(`${P}: ikev2_decryption_table has one row per key set (stages 0..${nAdd} of IKE SA 1, then the rekeyed IKE SA) and each row's SPIs, SK_ei, SK_er equal ours`, () => {
    const rows = v.decryptionTable;
    assert.equal(rows.length, stages().length + 1, 'rows');
    const { spiI, spiR } = init();
    stages().forEach((s, k) => {
      const r = rows[k]!;
      eqHex(r.spiI, spiI, `row ${k} SPIi`);
      eqHex(r.spiR, spiR, `row ${k} SPIr`);
      eqHex(r.skEi, s.keys.skEi, `row ${k} SK_ei`);
      eqHex(r.skEr, s.keys.skEr, `row ${k} SK_er`);
      assert.equal(r.skAi.length + r.skAr.length, 0, `row ${k}: no integrity keys (AEAD)`);
    });
    const r = rows[stages().length]!;
    const rk = rekey();
    eqHex(r.spiI, rk.spiI, 'rekeyed SPIi');
    eqHex(r.spiR, rk.spiR, 'rekeyed SPIr');
    eqHex(r.skEi, rk.keys.skEi, 'rekeyed SK_ei');
    eqHex(r.skEr, rk.keys.skEr, 'rekeyed SK_er');
  });

  // =========================================================================================
  // which keys protect which message

  for (let k = 1; k <= nAdd; k++) {
    test(`${P}: IKE_INTERMEDIATE mid=${k} request AND response are protected with the stage ${k - 1} keys; the stage ${k} keys (derived from this exchange's own key exchange) fail the ICV`, () => {
      for (const resp of [false, true]) {
        const m = intermediates(resp).find((x) => x.header.messageId === k);
        assert.ok(m);
        const right = dirKeys(stages()[k - 1]!.keys, m.header.initiator);
        const wrong = dirKeys(stages()[k]!.keys, m.header.initiator);
        for (const d of m.datagrams) {
          assert.doesNotThrow(() => openPart(d.bytes, right), `${m.label} with stage ${k - 1}`);
          assert.throws(() => openPart(d.bytes, wrong), (e: unknown) => e instanceof CryptoError && e.code === 'INTEGRITY', `${m.label} with stage ${k}`);
        }
      }
    });
  }

  test(`${P}: IKE_AUTH and every later exchange of IKE SA 1 are protected with the last stage's (stage ${nAdd}) keys; stage ${nAdd - 1} keys fail the ICV`, () => {
    const later = msgs.filter((m) => isSa1(m) && m.header.messageId > nAdd);
    assert.ok(later.length > 0);
    for (const m of later) {
      for (const d of m.datagrams) {
        assert.doesNotThrow(() => openPart(d.bytes, dirKeys(lastStage().keys, m.header.initiator)), m.label);
        assert.throws(() => openPart(d.bytes, dirKeys(stages()[nAdd - 1]!.keys, m.header.initiator)),
          (e: unknown) => e instanceof CryptoError && e.code === 'INTEGRITY', m.label);
      }
    }
  });

  // =========================================================================================
  // every protected message: decrypt, reassemble, decode, re-encode, re-seal

  for (const m of msgs) {
    if (m.header.exchange === ExchangeType.IKE_SA_INIT) continue;
    const keyDesc = isSa1(m) ? `stage ${stageIndexFor0(m, nAdd)} keys` : 'the rekeyed IKE SA keys';
    const frag = m.datagrams.length > 1 ? ', reassembled from SKF fragments (RFC 7383 §2.6),' : ',';
    test(`${P}: ${m.label} opens with SK_e${m.header.initiator ? 'i' : 'r'} of ${keyDesc}${frag} decodes, re-encodes byte for byte, and re-seals (same IV and padding; AAD = encryptedPrefix) to the captured bytes`, () => {
      const om = opened(m);
      // inner payloads: decode + re-encode
      const enc = encodePayloads(om.inner);
      assert.equal(enc.firstType, om.innerFirst, 'first inner payload type');
      eqHex(enc.bytes, om.plain, 'inner payload chain');
      // re-seal each datagram with the IV and padding strongSwan used, re-encode the message
      const keys = isSa1(m) ? dirKeys(stages()[stageIndexFor(m)]!.keys, m.header.initiator) : dirKeys(rekey().keys, m.header.initiator);
      const cipher = skCipher(ENCR, ENCR_BITS, INTEG);
      for (const part of om.parts) {
        // the AAD as the engine will build it before encrypting (RFC 5282 §5.1, RFC 7383 §2.5)
        const encSpec: EncryptedPayloadSpec = part.sk.type === PayloadType.SKF
          ? { type: PayloadType.SKF, critical: part.sk.critical, innerFirst: part.sk.innerFirst, bodyLength: part.sk.body.length,
              fragmentNumber: part.sk.fragmentNumber, totalFragments: part.sk.totalFragments }
          : { type: PayloadType.SK, critical: part.sk.critical, innerFirst: part.sk.innerFirst, bodyLength: part.sk.body.length };
        eqHex(encryptedPrefix(headerWithoutLength(part.msg.header), part.msg.payloads.slice(0, -1), encSpec), part.aad, 'encryptedPrefix = AAD');
        // strongSwan pads AES-GCM minimally (no padding octets), so our default length agrees too
        assert.equal(part.padding.length, 0, 'padding length');
        assert.equal(cipher.sealedLength(part.plain.length), part.sk.body.length, 'sealedLength');
        const body = cipher.seal(keys, part.aad, part.plain, { iv: part.iv, padding: part.padding });
        eqHex(body, part.sk.body, 'sealed SK/SKF body');
        const payloads: Payload[] = [...part.msg.payloads.slice(0, -1), { ...part.sk, body }];
        eqHex(encodeMessage(headerWithoutLength(part.msg.header), payloads), part.bytes, 'whole datagram');
      }
    });
  }

  test(`${P}: the payloads (and Notify types) we decode in every message, IKE_SA_INIT and decrypted ones, are those strongSwan logged for it`, () => {
    // strongSwan's abbreviations in "generating/parsed <exchange> <dir> <mid> [ ... ]" lines
    const notifyAbbrev: Record<string, number> = {
      NATD_S_IP: NotifyType.NAT_DETECTION_SOURCE_IP, NATD_D_IP: NotifyType.NAT_DETECTION_DESTINATION_IP,
      FRAG_SUP: NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, HASH_ALG: NotifyType.SIGNATURE_HASH_ALGORITHMS,
      REDIR_SUP: NotifyType.REDIRECT_SUPPORTED, IKE_INT_SUP: NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED,
      CHDLESS_SUP: NotifyType.CHILDLESS_IKEV2_SUPPORTED, MULT_AUTH: NotifyType.MULTIPLE_AUTH_SUPPORTED,
      EAP_ONLY: NotifyType.EAP_ONLY_AUTHENTICATION, MSG_ID_SYN_SUP: NotifyType.IKEV2_MESSAGE_ID_SYNC_SUPPORTED,
      REKEY_SA: NotifyType.REKEY_SA, ADD_KE: NotifyType.ADDITIONAL_KEY_EXCHANGE,
    };
    const logged = new Map<string, string>();
    for (const e of v.moon.entries) {
      const mm = /^(?:generating|parsed) (\S+) (request|response) (\d+) \[(.*)\]$/.exec(e.text);
      const list = mm?.[4]!.trim();
      if (!mm || list === undefined || list.startsWith('EF(')) continue;
      const norm = list.replace(/N\(([A-Z_]+)\)/g, (_all, name: string) => {
        const t = notifyAbbrev[name];
        assert.ok(t !== undefined, `unknown strongSwan notify abbreviation ${name}`);
        return `N(${t})`;
      });
      logged.set(`${e.ikeSa}/${mm[1]}/${mm[2]}/${mm[3]}`, norm);
    }
    const abbrev: Record<number, string> = {
      [PayloadType.SA]: 'SA', [PayloadType.KE]: 'KE', [PayloadType.NONCE]: 'No', [PayloadType.IDi]: 'IDi',
      [PayloadType.IDr]: 'IDr', [PayloadType.AUTH]: 'AUTH', [PayloadType.TSi]: 'TSi', [PayloadType.TSr]: 'TSr', [PayloadType.DELETE]: 'D',
    };
    let checked = 0;
    for (const m of msgs) {
      const payloads = m.header.exchange === ExchangeType.IKE_SA_INIT ? decodeMessage(m.datagrams[0]!.bytes).payloads : opened(m).inner;
      const ours = payloads.map((p) => p.type === PayloadType.NOTIFY ? `N(${p.notifyType})`
        : typeof p.type === 'number' ? abbrev[p.type] ?? `?${p.type}` : `unknown(${p.rawType})`).join(' ');
      const key = `${isSa1(m) ? 1 : 2}/${m.exchangeName}/${m.header.response ? 'response' : 'request'}/${m.header.messageId}`;
      assert.equal(ours, logged.get(key), `${m.label}`);
      checked++;
    }
    assert.equal(checked, logged.size, 'every logged message was checked');
  });

  test(`${P}: the additional key exchanges carry ADDKE1..${nAdd} in order with FIPS 203 lengths, and each IKE_FOLLOWUP_KE request echoes the ADDITIONAL_KEY_EXCHANGE data of the previous response (RFC 9370 §2.2.3)`, () => {
    // IKE_INTERMEDIATE k: KE of method ADDKEk (RFC 9370 §2.2.2)
    for (let k = 1; k <= nAdd; k++) {
      const method = keMethod(spec.keMethods[k]!);
      const q = one(opened(intermediates(false).find((x) => x.header.messageId === k)!).inner, PayloadType.KE, `IKE_INTERMEDIATE ${k} request`);
      const r = one(opened(intermediates(true).find((x) => x.header.messageId === k)!).inner, PayloadType.KE, `IKE_INTERMEDIATE ${k} response`);
      assert.deepEqual([q.method, q.data.length, r.method, r.data.length],
        [spec.keMethods[k], method.initiatorValueLength, spec.keMethods[k], method.responderValueLength], `IKE_INTERMEDIATE ${k}`);
    }
    // CREATE_CHILD_SA (Child and IKE rekey), then nAdd IKE_FOLLOWUP_KE exchanges each
    for (const which of ['child', 'ike'] as const) {
      const { req, res } = ccsa()[which];
      assert.equal(one(req.inner, PayloadType.KE, `${which} rekey request`).method, spec.keMethods[0]);
      assert.equal(one(res.inner, PayloadType.KE, `${which} rekey response`).method, spec.keMethods[0]);
      let link = all(res.inner, PayloadType.NOTIFY).find((n) => n.notifyType === NotifyType.ADDITIONAL_KEY_EXCHANGE);
      assert.ok(link, `${which}: CREATE_CHILD_SA response has N(ADDITIONAL_KEY_EXCHANGE)`);
      for (let k = 1; k <= nAdd; k++) {
        const mid = req.header.messageId + k;
        const q = opened(byKind(ExchangeType.IKE_FOLLOWUP_KE, false).find((x) => x.header.messageId === mid)!);
        const r = opened(byKind(ExchangeType.IKE_FOLLOWUP_KE, true).find((x) => x.header.messageId === mid)!);
        const qn = all(q.inner, PayloadType.NOTIFY).find((n) => n.notifyType === NotifyType.ADDITIONAL_KEY_EXCHANGE);
        assert.ok(qn, `${which} FOLLOWUP_KE ${k} request has N(ADDITIONAL_KEY_EXCHANGE)`);
        eqHex(qn.data, link.data, `${which} FOLLOWUP_KE ${k}: echoed link data`);
        const method = keMethod(spec.keMethods[k]!);
        const qk = one(q.inner, PayloadType.KE, 'FOLLOWUP_KE request');
        const rk = one(r.inner, PayloadType.KE, 'FOLLOWUP_KE response');
        assert.deepEqual([qk.method, qk.data.length, rk.method, rk.data.length],
          [spec.keMethods[k], method.initiatorValueLength, spec.keMethods[k], method.responderValueLength], `${which} FOLLOWUP_KE ${k}`);
        link = all(r.inner, PayloadType.NOTIFY).find((n) => n.notifyType === NotifyType.ADDITIONAL_KEY_EXCHANGE);
        assert.equal(link !== undefined, k < nAdd, `${which} FOLLOWUP_KE ${k} response carries N(ADDITIONAL_KEY_EXCHANGE) iff more follow`);
        if (!link) break;
      }
    }
  });

  // =========================================================================================
  // IntAuth (RFC 9242 §3.3.2)

  log1.intAuth.forEach((la, i) => {
    const name = `IntAuth_${la.dir}${la.messageId}`;
    const msgName = `IKE_INTERMEDIATE ${la.dir === 'i' ? 'request' : 'response'} mid=${la.messageId}`;
    test(`${P}: ${name}: A|P rebuilt from the decrypted ${msgName} (IKE header + SK header with adjusted lengths, Next Payload SK even when sent as SKF, then the plaintext inner payloads) equals strongSwan's ${la.apLength}-octet A|P`, () => {
      const ours = intAuth()[i]!;
      assert.deepEqual([ours.mid, ours.dir], [la.messageId, la.dir]);
      assert.equal(ours.ap.length, la.apLength, 'A|P length');
      // A = what encryptedPrefix gives for an SK payload whose body is just P (RFC 9242 §3.3.2 adjusted lengths)
      const om = opened(msgs.find((m) => m.header.exchange === ExchangeType.IKE_INTERMEDIATE && m.header.messageId === la.messageId
        && m.header.response === (la.dir === 'r'))!);
      const a = encryptedPrefix(headerWithoutLength(om.header), [],
        { type: PayloadType.SK, critical: om.parts[0]!.sk.critical, innerFirst: om.innerFirst, bodyLength: om.plain.length });
      eqHex(concat(a, om.plain), ours.ap, 'encryptedPrefix(SK with bodyLength = |P|) | P');
      // the key log prints at most LOG_DUMP_LIMIT octets; the prf check below covers the rest
      eqHex(ours.ap.subarray(0, la.ap.length), la.ap, `A|P (first ${Math.min(la.ap.length, LOG_DUMP_LIMIT)} octets as logged)`);
    });
    test(`${P}: ${name} = prf(SK_p${la.dir} of stage ${la.messageId - 1}, ${la.messageId > 1 ? `IntAuth_${la.dir}${la.messageId - 1} | ` : ''}A | P) equals strongSwan's`, () => {
      const ours = intAuth()[i]!;
      eqHex(ours.skP, la.skP, 'SK_p used');
      eqHex(ours.prev, la.prev, 'IntAuth_N-1');
      eqHex(ours.result, la.result, name);
    });
  });

  // =========================================================================================
  // AUTH (RFC 7296 §2.15 + RFC 9242 §3.3.2)

  for (const side of ['initiator', 'responder'] as const) {
    const la = log1.auth[side === 'initiator' ? 0 : 1]!;
    const computeOctets = (): { octets: Uint8Array; om: OpenedMessage } => {
      const { reqBytes, resBytes, ni, nr } = init();
      const om = side === 'initiator' ? ikeAuth().req : ikeAuth().res;
      const idType = side === 'initiator' ? PayloadType.IDi : PayloadType.IDr;
      const idBody = rawChain(om.innerFirst, om.plain).find((p) => p.type === idType);
      assert.ok(idBody, 'ID payload in IKE_AUTH');
      const keys = lastStage().keys;
      const octets = signedOctets(
        side === 'initiator' ? reqBytes : resBytes, side === 'initiator' ? nr : ni, PRF,
        side === 'initiator' ? keys.skPi : keys.skPr, idBody.body,
        { i: lastIntAuth('i'), r: lastIntAuth('r'), mid: om.header.messageId },
      );
      return { octets, om };
    };
    const real = side === 'initiator' ? 'IKE_SA_INIT request' : 'IKE_SA_INIT response';
    const x = side === 'initiator' ? 'i' : 'r';
    test(`${P}: ${side} AUTH signed octets = ${real} | N${side === 'initiator' ? 'r' : 'i'} | prf(SK_p${x}, ID${x}') | IntAuth_i${nAdd} | IntAuth_r${nAdd} | IKE_AUTH Message ID (4 octets) equal strongSwan's`, () => {
      const { octets, om } = computeOctets();
      assert.equal(om.header.messageId, nAdd + 1, 'IKE_AUTH message ID');
      eqHex(la.skP, side === 'initiator' ? lastStage().keys.skPi : lastStage().keys.skPr, 'SK_p logged');
      eqHex(octets, la.octets, 'signed octets');
      eqHex(octets.subarray(octets.length - 4), u32(om.header.messageId), 'ends with the IKE_AUTH message ID');
    });
    test(`${P}: ${side} AUTH = prf(prf(PSK, "Key Pad for IKEv2"), octets) equals strongSwan's value and the AUTH payload (method PSK) in the decrypted IKE_AUTH ${side === 'initiator' ? 'request' : 'response'}`, () => {
      const { octets, om } = computeOctets();
      eqHex(la.psk, v.psk, 'logged PSK');
      const auth = pskAuth(PRF, v.psk, octets);
      eqHex(auth, la.auth, 'AUTH vs log');
      const ap = one(om.inner, PayloadType.AUTH, 'IKE_AUTH');
      assert.equal(ap.method, AuthMethod.PSK, 'auth method');
      eqHex(auth, ap.data, 'AUTH vs AUTH payload on the wire');
    });
  }

  // =========================================================================================
  // Child SAs (RFC 7296 §2.17, RFC 9370 §2.2.4)

  const esp = espKeyLengths(ENCR, ENCR_BITS, INTEG);
  const espSaKey = (spi: number): Uint8Array => {
    const rows = v.espSa.filter((r) => r.spi === spi);
    assert.equal(rows.length, 1, `esp_sa row for SPI ${spi.toString(16)}`);
    return rows[0]!.encrKey;
  };
  const spiOf = (om: OpenedMessage): number => {
    const spi = one(om.inner, PayloadType.SA, om.wire.label).proposals[0]!.spi;
    assert.equal(spi.length, 4);
    return new DataView(spi.buffer, spi.byteOffset).getUint32(0);
  };
  interface OurChild { readonly keymat: Uint8Array; readonly encrI: Uint8Array; readonly encrR: Uint8Array; readonly spiToResponder: number; readonly spiToInitiator: number }
  const splitKeymat = (km: Uint8Array): { encrI: Uint8Array; encrR: Uint8Array } => {
    // RFC 7296 §2.17: initiator-to-responder keys first (encryption, then integrity), then the other direction
    assert.equal(esp.integ, 0);
    return { encrI: km.subarray(0, esp.encr), encrR: km.subarray(esp.encr + esp.integ, 2 * esp.encr + esp.integ) };
  };
  const child1 = once((): OurChild => {
    const { ni, nr } = init();
    const keymat = childKeymat(PRF, lastStage().keys.skD, [], ni, nr, 2 * (esp.encr + esp.integ));
    return { keymat, ...splitKeymat(keymat), spiToResponder: spiOf(ikeAuth().res), spiToInitiator: spiOf(ikeAuth().req) };
  });
  const child2 = once(() => {
    const { req, res } = ccsa().child;
    const ni = one(req.inner, PayloadType.NONCE, 'Child rekey request').data;
    const nr = one(res.inner, PayloadType.NONCE, 'Child rekey response').data;
    const lc = log1.children[1]!;
    assert.ok(lc.keSecret, 'Child rekey: logged SK(0)');
    const secrets = [lc.keSecret, ...splitAdditional(lc.additionalKeSecret, nAdd, 'Child rekey')];
    const keymat = childKeymat(PRF, lastStage().keys.skD, secrets, ni, nr, 2 * (esp.encr + esp.integ));
    const c: OurChild = { keymat, ...splitKeymat(keymat), spiToResponder: spiOf(res), spiToInitiator: spiOf(req) };
    return { ...c, ni, nr, secrets };
  });

  test(`${P}: first Child SA (IKE_AUTH, no KE): the logged prf+ seed is Ni | Nr and KEYMAT = prf+(SK_d of stage ${nAdd}, Ni | Nr) gives strongSwan's keys and the esp_sa keys of the SPIs negotiated in IKE_AUTH`, () => {
    const lc = log1.children[0]!;
    const { ni, nr } = init();
    eqHex(lc.seed, concat(ni, nr), 'seed');
    const c = child1();
    eqHex(c.encrI, lc.encrI, 'initiator-to-responder key');
    eqHex(c.encrR, lc.encrR, 'responder-to-initiator key');
    assert.deepEqual([lc.spiOut, lc.spiIn], [c.spiToResponder, c.spiToInitiator], "moon's logged SPIs");
    eqHex(espSaKey(c.spiToResponder), c.encrI, 'esp_sa i->r');
    eqHex(espSaKey(c.spiToInitiator), c.encrR, 'esp_sa r->i');
  });

  test(`${P}: Child SA rekey: strongSwan's logged prf+ seed is SK(0) | Ni | Nr | SK(1)..SK(${nAdd}) with the Nonces of the captured CREATE_CHILD_SA exchange`, () => {
    const c = child2();
    eqHex(log1.children[1]!.seed, concat(c.secrets[0]!, c.ni, c.nr, ...c.secrets.slice(1)), 'seed');
  });

  test(`${P}: Child SA rekey: KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1)..SK(${nAdd})) (RFC 9370 §2.2.4) gives strongSwan's keys and the esp_sa keys of the SPIs negotiated in CREATE_CHILD_SA`, () => {
    const lc = log1.children[1]!;
    const c = child2();
    eqHex(c.encrI, lc.encrI, 'initiator-to-responder key');
    eqHex(c.encrR, lc.encrR, 'responder-to-initiator key');
    assert.deepEqual([lc.spiOut, lc.spiIn], [c.spiToResponder, c.spiToInitiator], "moon's logged SPIs");
    eqHex(espSaKey(c.spiToResponder), c.encrI, 'esp_sa i->r');
    eqHex(espSaKey(c.spiToInitiator), c.encrR, 'esp_sa r->i');
    // the CREATE_CHILD_SA request rekeys the first Child SA (N(REKEY_SA) with its SPI)
    const rk = all(ccsa().child.req.inner, PayloadType.NOTIFY).find((n) => n.notifyType === NotifyType.REKEY_SA);
    assert.ok(rk, 'N(REKEY_SA)');
    assert.equal(new DataView(rk.spi.buffer, rk.spi.byteOffset).getUint32(0), child1().spiToInitiator, 'REKEY_SA names the old inbound SPI of the initiator');
  });

  test(`${P}: every ESP packet of the capture decrypts (AES-GCM-16, RFC 4106) with the KEYMAT we derived for its SPI, to a tunnelled IPv4 packet between the traffic selectors`, () => {
    const keyBySpi = new Map<number, Uint8Array>();
    for (const c of [child1(), child2()]) {
      keyBySpi.set(c.spiToResponder, c.encrI);
      keyBySpi.set(c.spiToInitiator, c.encrR);
    }
    assert.ok(v.esp.length > 0);
    for (const p of v.esp) {
      const b = p.bytes;
      const spi = new DataView(b.buffer, b.byteOffset).getUint32(0);
      const key = keyBySpi.get(spi);
      assert.ok(key, `frame ${p.frame}: SPI ${spi.toString(16)} not negotiated`);
      const d = createDecipheriv('aes-256-gcm', key.subarray(0, 32), concat(key.subarray(32, 36), b.subarray(8, 16)), { authTagLength: 16 });
      d.setAAD(b.subarray(0, 8));
      d.setAuthTag(b.subarray(b.length - 16));
      const pt = concat(d.update(b.subarray(16, b.length - 16)), d.final());
      assert.equal(pt[pt.length - 1], 4, `frame ${p.frame}: Next Header = IPv4 (tunnel mode)`);
      const inner = pt.subarray(0, pt.length - 2 - pt[pt.length - 2]!);
      assert.equal(inner[0]! >> 4, 4, `frame ${p.frame}: inner IPv4`);
      assert.deepEqual([inner[12], inner[13], inner[14]], [198, 51, 100], `frame ${p.frame}: inner source in 198.51.100.0/24`);
      assert.deepEqual([inner[16], inner[17], inner[18]], [198, 51, 100], `frame ${p.frame}: inner destination in 198.51.100.0/24`);
    }
  });

  // =========================================================================================
  // IKE SA rekey (RFC 7296 §2.18, RFC 9370 §2.2.4)

  test(`${P}: IKE SA rekey: the captured CREATE_CHILD_SA Nonces equal the logged nonces, and its SA payloads carry the new SPIs used by all later messages`, () => {
    const rk = rekey();
    const ls = log2.stages[0]!;
    eqHex(concat(rk.ni, rk.nr), ls.nonces, 'nonces');
    const later = msgs.filter((m) => !isSa1(m));
    assert.ok(later.length > 0, 'messages on the new IKE SA');
    for (const m of later) assert.deepEqual([m.header.spiI, m.header.spiR], [toHex(rk.spiI), toHex(rk.spiR)], m.label);
  });

  test(`${P}: IKE SA rekey: SKEYSEED = prf(SK_d(old, stage ${nAdd}), SK(0) | Ni | Nr | SK(1)..SK(${nAdd})) (RFC 9370 §2.2.4) equals strongSwan's`, () => {
    eqHex(rekey().skeyseed, log2.stages[0]!.skeyseed, 'SKEYSEED');
  });

  test(`${P}: IKE SA rekey: SK_d | SK_ei | SK_er | SK_pi | SK_pr = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) with the new nonces and SPIs equal strongSwan's`, () => {
    const o = rekey().keys;
    const ls = log2.stages[0]!;
    eqHex(o.skD, ls.skD, 'SK_d');
    eqHex(o.skEi, ls.skEi, 'SK_ei');
    eqHex(o.skEr, ls.skEr, 'SK_er');
    eqHex(o.skPi, ls.skPi, 'SK_pi');
    eqHex(o.skPr, ls.skPr, 'SK_pr');
    assert.equal(o.skAi.length + o.skAr.length + ls.skAi.length + ls.skAr.length, 0, 'no SK_a (AEAD)');
  });

  test(`${P}: the header flags follow the roles: I set exactly on messages of the original initiator of each IKE SA, R exactly on responses`, () => {
    for (const m of msgs) {
      const h = decodeMessage(m.datagrams[0]!.bytes).header;
      const fromMoon = m.datagrams[0]!.src === '192.0.2.1';
      assert.equal((h.flags & HeaderFlags.INITIATOR) !== 0, fromMoon, `${m.label}: I flag (moon initiated both IKE SAs)`);
      assert.equal((h.flags & HeaderFlags.RESPONSE) !== 0, m.header.response, `${m.label}: R flag`);
    }
  });
}

/** Stage used for message m of IKE SA 1 (for test names, before any key is derived). */
function stageIndexFor0(m: WireMessage, nAdd: number): number {
  return m.header.exchange === ExchangeType.IKE_INTERMEDIATE ? m.header.messageId - 1 : nAdd;
}

// keep KeMethodId referenced for spec construction in the test files
export { KeMethodId };
