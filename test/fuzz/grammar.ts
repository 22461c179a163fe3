/**
 * Structure-aware generation of IKEv2 payloads (RFC 7296 §3, RFC 9370, RFC 7383) from the
 * payload grammar: whole payload chains of well-formed payloads — SA with many proposals,
 * transforms and attributes, KE of any group and size, Nonce, ID, AUTH, TSi/TSr with up to
 * 255 selectors of both families and any protocol and ports, Notify of every type (REKEY_SA
 * with any protocol and SPI size...), Delete with many SPIs, CP, unknown payloads critical
 * or not — plus structural mutations of a valid chain (replace, insert, delete, duplicate,
 * move payloads; grow selector lists and proposal lists; retype notifies...).
 *
 * A GrammarContext carries values of the live SA (configured proposals and selectors, SPIs,
 * link data, valid KE values, the original ID/AUTH) so that generated messages get deep into
 * the handlers instead of being refused at the first check.
 */
import { CfgAttrType, NotifyType, PayloadType, ProtocolId, TransformType, TsType } from '../../src/wire/constants.js';
import type { CfgAttribute, Payload, Proposal, TrafficSelector, Transform, TransformAttribute } from '../../src/wire/types.js';
import type { Rng } from './prng.js';

export interface GrammarContext {
  /** Proposals we would accept (built from the receiver's configuration), IKE and ESP. */
  readonly proposals: readonly Proposal[];
  /** Configured selectors of either side (for selectors that intersect them). */
  readonly selectors: readonly TrafficSelector[];
  /** Valid KE public values by method (ours, from the fuzz KE methods, and the original). */
  readonly keValues: ReadonlyMap<number, Uint8Array>;
  /** Live 4-octet Child SA SPIs (both directions) and 8-octet IKE SPIs. */
  readonly childSpis: readonly Uint8Array[];
  readonly ikeSpis: readonly Uint8Array[];
  /** Link data of IKE_FOLLOWUP_KE series (RFC 9370 §2.2.4) known to either side. */
  readonly links: readonly Uint8Array[];
  /** Payloads of the original valid message (the ID and AUTH there verify). */
  readonly original: readonly Payload[];
}

const KNOWN_TYPES = [
  PayloadType.SA, PayloadType.KE, PayloadType.IDi, PayloadType.IDr, PayloadType.CERT, PayloadType.CERTREQ,
  PayloadType.AUTH, PayloadType.NONCE, PayloadType.NOTIFY, PayloadType.DELETE, PayloadType.VENDOR,
  PayloadType.TSi, PayloadType.TSr, PayloadType.CP, PayloadType.EAP,
] as const;

const NOTIFY_TYPES: number[] = [...new Set(Object.values(NotifyType))];
/** Notifies the engine acts on, drawn more often. */
const HOT_NOTIFIES = [
  NotifyType.REKEY_SA, NotifyType.ADDITIONAL_KEY_EXCHANGE, NotifyType.USE_TRANSPORT_MODE, NotifyType.INVALID_KE_PAYLOAD,
  NotifyType.COOKIE, NotifyType.TEMPORARY_FAILURE, NotifyType.NO_PROPOSAL_CHOSEN, NotifyType.STATE_NOT_FOUND,
  NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, NotifyType.NAT_DETECTION_SOURCE_IP,
  NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.SIGNATURE_HASH_ALGORITHMS, NotifyType.AUTHENTICATION_FAILED,
  NotifyType.INVALID_SYNTAX, NotifyType.TS_UNACCEPTABLE, NotifyType.CHILD_SA_NOT_FOUND, NotifyType.INITIAL_CONTACT,
  NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, NotifyType.CHILDLESS_IKEV2_SUPPORTED, NotifyType.NO_ADDITIONAL_SAS,
].filter((t) => typeof t === 'number');
const KE_IDS = [0, 1, 2, 5, 14, 15, 16, 19, 20, 21, 25, 26, 31, 32, 35, 36, 37, 38, 0xffff];
const ENCR_IDS = [3, 11, 12, 13, 14, 18, 19, 20, 28, 0, 255];
const PRF_IDS = [1, 2, 4, 5, 6, 7, 8, 0];
const INTEG_IDS = [0, 1, 2, 5, 12, 13, 14, 255];
const UNKNOWN_TYPES = [1, 2, 17, 32, 49, 50, 51, 52, 54, 99, 128, 200, 254, 255];
const ID_TYPES = [1, 2, 3, 5, 9, 10, 11, 12, 13, 0, 255];
const IP_PROTOCOLS = [0, 0, 0, 1, 6, 17, 58, 132, 255];

/** Largest payload body we generate, so that any one payload stays encodable. */
const MAX_BODY = 60000;

// ---- pieces --------------------------------------------------------------------------------

function attribute(rng: Rng): TransformAttribute {
  const r = rng.int(10);
  if (r < 6) return { type: 14, value: rng.pick([128, 192, 256, 0, 1, 64, 512, 0xffff, rng.int(0x10000)]) };
  if (r < 8) return { type: rng.int(0x8000), value: rng.int(0x10000) };
  let type = rng.int(0x8000);
  if (type === 14) type = 15; // Key Length must be TV (the decoder would refuse the payload)
  return { type, value: rng.bytes(rng.size(64)) };
}

function transform(rng: Rng): Transform {
  const type = rng.chance(0.9) ? rng.range(1, 12) : rng.pick([0, 13, 200, 255]);
  let id: number;
  switch (type) {
    case TransformType.ENCR: id = rng.pick(ENCR_IDS); break;
    case TransformType.PRF: id = rng.pick(PRF_IDS); break;
    case TransformType.INTEG: id = rng.pick(INTEG_IDS); break;
    case TransformType.ESN: id = rng.pick([0, 1, 2]); break;
    default: id = rng.chance(0.8) ? rng.pick(KE_IDS) : rng.int(0x10000);
  }
  const attributes: TransformAttribute[] = [];
  const nAttr = rng.chance(0.6) ? (type === TransformType.ENCR ? 1 : 0) : rng.size(8);
  for (let i = 0; i < nAttr; i++) attributes.push(attribute(rng));
  return { type, id, attributes };
}

function spiFor(rng: Rng, protocolId: number, ctx: GrammarContext): Uint8Array {
  if (rng.chance(0.05)) return rng.bytes(rng.size(16));
  if (protocolId === ProtocolId.IKE) return rng.chance(0.5) ? new Uint8Array(0) : rng.chance(0.5) && ctx.ikeSpis.length > 0 ? rng.pick(ctx.ikeSpis) : rng.bytes(8);
  if (protocolId === ProtocolId.ESP || protocolId === ProtocolId.AH) return rng.chance(0.3) && ctx.childSpis.length > 0 ? rng.pick(ctx.childSpis) : rng.bytes(4);
  return rng.bytes(rng.size(8));
}

function proposal(rng: Rng, ctx: GrammarContext, num: number): Proposal {
  if (ctx.proposals.length > 0 && rng.chance(0.45)) {
    // A configured proposal, maybe with extra or reordered transforms.
    const base = rng.pick(ctx.proposals);
    let transforms = [...base.transforms];
    if (rng.chance(0.3)) for (let i = rng.size(40, 1); i > 0; i--) transforms.splice(rng.int(transforms.length + 1), 0, transform(rng));
    if (rng.chance(0.1)) transforms.reverse();
    if (rng.chance(0.1) && transforms.length > 1) transforms.splice(rng.int(transforms.length), 1);
    if (transforms.length > 255) transforms = transforms.slice(0, 255);
    const protocolId = rng.chance(0.9) ? base.protocolId : rng.pick([1, 2, 3, 4, 200]);
    return { num, protocolId, spi: spiFor(rng, protocolId, ctx), transforms };
  }
  const protocolId = rng.chance(0.9) ? rng.pick([ProtocolId.IKE, ProtocolId.ESP, ProtocolId.AH]) : rng.range(1, 255);
  const n = rng.chance(0.1) ? rng.size(255, 1) : rng.size(24, 1);
  const transforms: Transform[] = [];
  for (let i = 0; i < n; i++) transforms.push(transform(rng));
  return { num, protocolId, spi: spiFor(rng, protocolId, ctx), transforms };
}

function proposals(rng: Rng, ctx: GrammarContext): Proposal[] {
  const n = rng.chance(0.15) ? rng.size(120, 1) : rng.size(8, 1);
  const out: Proposal[] = [];
  for (let i = 0; i < n; i++) out.push(proposal(rng, ctx, i + 1));
  if (rng.chance(0.05)) for (const p of out) p.num = rng.range(1, 255); // bad numbering
  if (n === 1 && rng.chance(0.3)) (out[0] as Proposal).num = rng.range(1, 255);
  return trimSa(out);
}

function transformSize(t: Transform): number {
  let n = 8;
  for (const a of t.attributes) n += typeof a.value === 'number' ? 4 : 4 + a.value.length;
  return n;
}

/** Drop proposals from the end until the SA body fits in one payload. */
function trimSa(ps: Proposal[]): Proposal[] {
  let total = 0;
  const out: Proposal[] = [];
  for (const p of ps) {
    let size = 8 + p.spi.length;
    for (const t of p.transforms) size += transformSize(t);
    if (total + size > MAX_BODY) break;
    total += size;
    out.push(p);
  }
  return out.length > 0 ? out : ps.slice(0, 1).map((p) => ({ ...p, transforms: p.transforms.slice(0, 8) }));
}

function address(rng: Rng, len: number): Uint8Array {
  const r = rng.int(4);
  if (r === 0) return new Uint8Array(len);
  if (r === 1) return new Uint8Array(len).fill(0xff);
  return rng.bytes(len);
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** A random address inside [lo, hi] (both of one length). */
function within(rng: Rng, lo: Uint8Array, hi: Uint8Array): Uint8Array {
  const out = new Uint8Array(lo.length);
  let free = false; // once we are strictly between lo and hi on a prefix, the rest is free
  let atLo = true;
  let atHi = true;
  for (let i = 0; i < lo.length; i++) {
    const min: number = atLo ? (lo[i] ?? 0) : 0;
    const max: number = atHi ? (hi[i] ?? 255) : 255;
    const v: number = free ? rng.int(256) : min > max ? min : rng.range(min, max);
    out[i] = v;
    atLo = atLo && v === min;
    atHi = atHi && v === max;
    if (!atLo && !atHi) free = true;
  }
  return out;
}

export function selector(rng: Rng, ctx: GrammarContext): TrafficSelector {
  const near = ctx.selectors.length > 0 && rng.chance(0.7);
  const base = near ? rng.pick(ctx.selectors) : undefined;
  const tsType = base && rng.chance(0.9) ? base.tsType : rng.chance(0.5) ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE;
  const len = tsType === TsType.IPV4_ADDR_RANGE ? 4 : 16;
  let startAddr: Uint8Array;
  let endAddr: Uint8Array;
  if (base && base.startAddr.length === len) {
    const r = rng.int(5);
    if (r === 0) {
      startAddr = base.startAddr;
      endAddr = base.endAddr;
    } else if (r === 1) {
      startAddr = new Uint8Array(len);
      endAddr = new Uint8Array(len).fill(0xff);
    } else {
      const a = within(rng, base.startAddr, base.endAddr);
      const b = within(rng, base.startAddr, base.endAddr);
      [startAddr, endAddr] = compare(a, b) <= 0 ? [a, b] : [b, a];
      if (rng.chance(0.05)) [startAddr, endAddr] = [endAddr, startAddr]; // inverted range
    }
  } else {
    startAddr = address(rng, len);
    endAddr = address(rng, len);
  }
  const anyPorts = rng.chance(0.4);
  let startPort = anyPorts ? 0 : rng.chance(0.5) ? rng.int(0x10000) : rng.pick([0, 1, 22, 80, 443, 500, 4500, 65535]);
  let endPort = anyPorts ? 65535 : rng.chance(0.3) ? startPort : rng.int(0x10000);
  if (!rng.chance(0.05) && startPort > endPort) [startPort, endPort] = [endPort, startPort];
  const ipProtocol = base && rng.chance(0.3) ? base.ipProtocol : rng.chance(0.8) ? rng.pick(IP_PROTOCOLS) : rng.int(256);
  return { tsType, ipProtocol, startPort, endPort, startAddr, endAddr };
}

/**
 * Many distinct selectors that each overlap many configured ones: wildcard protocol, wide
 * address ranges (the whole family, or a configured range), distinct port ranges. Narrowing
 * multiplies such a list (RFC 7296 §2.9: one answer selector per non-empty intersection).
 */
export function selectorStorm(rng: Rng, ctx: GrammarContext, n = rng.chance(0.5) ? 255 : rng.range(64, 255)): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  const family = rng.int(3); // 0: IPv4 only, 1: IPv6 only, 2: mixed
  const step = rng.chance(0.5) ? 1 : rng.range(2, 250);
  for (let i = 0; i < n; i++) {
    const v6 = family === 1 || (family === 2 && rng.chance(0.5));
    const len = v6 ? 16 : 4;
    const bases = ctx.selectors.filter((b) => b.startAddr.length === len);
    const base = bases.length > 0 && rng.chance(0.5) ? rng.pick(bases) : undefined;
    const startAddr = base ? base.startAddr : new Uint8Array(len);
    const endAddr = base ? base.endAddr : new Uint8Array(len).fill(0xff);
    const startPort = (i * step) & 0xffff;
    out.push({
      tsType: v6 ? TsType.IPV6_ADDR_RANGE : TsType.IPV4_ADDR_RANGE,
      ipProtocol: rng.chance(0.8) ? 0 : rng.pick(IP_PROTOCOLS),
      startPort,
      endPort: rng.chance(0.7) ? 65535 : Math.min(65535, startPort + rng.int(1000)),
      startAddr,
      endAddr,
    });
  }
  return out;
}

export function selectors(rng: Rng, ctx: GrammarContext): TrafficSelector[] {
  if (rng.chance(0.25)) return selectorStorm(rng, ctx);
  const r = rng.int(10);
  const n = r < 2 ? 255 : r < 4 ? rng.range(128, 255) : rng.size(255, r === 9 ? 0 : 1);
  const out: TrafficSelector[] = [];
  for (let i = 0; i < n; i++) out.push(selector(rng, ctx));
  return out;
}

function keData(rng: Rng, ctx: GrammarContext, group: number): Uint8Array {
  const valid = ctx.keValues.get(group);
  const r = rng.int(10);
  if (valid && r < 5) return valid;
  if (valid && r < 7) {
    const b = Uint8Array.from(valid);
    b[rng.int(b.length)] ^= 1 << rng.int(8);
    return b;
  }
  if (valid && r < 8) return rng.bytes(valid.length);
  return rng.bytes(rng.chance(0.5) ? rng.pick([0, 1, 31, 32, 33, 56, 64, 65, 97, 133, 256, 384, 800, 1088, 1184, 1568]) : rng.size(2048));
}

function cfgAttributes(rng: Rng): CfgAttribute[] {
  const out: CfgAttribute[] = [];
  const n = rng.size(32);
  const lens: Record<number, number> = {
    [CfgAttrType.INTERNAL_IP4_ADDRESS]: 4,
    [CfgAttrType.INTERNAL_IP6_ADDRESS]: 17,
  };
  for (let i = 0; i < n; i++) {
    const type = rng.chance(0.7) ? rng.range(1, 25) : rng.int(0x8000);
    const want = lens[type];
    const len = rng.chance(0.5) ? 0 : want !== undefined && rng.chance(0.8) ? want : rng.pick([0, 4, 8, 16, 17, rng.size(64)]);
    out.push({ type, value: rng.bytes(len) });
  }
  return out;
}

function notifyPayload(rng: Rng, ctx: GrammarContext): Payload {
  const notifyType = rng.chance(0.5) ? rng.pick(HOT_NOTIFIES) : rng.chance(0.8) ? rng.pick(NOTIFY_TYPES) : rng.int(0x10000);
  let protocolId = 0;
  let spi: Uint8Array = new Uint8Array(0);
  const r = rng.int(10);
  if (notifyType === NotifyType.REKEY_SA || r < 3) {
    protocolId = rng.chance(0.8) ? rng.pick([ProtocolId.ESP, ProtocolId.AH, ProtocolId.IKE]) : rng.range(4, 255);
    spi = spiFor(rng, protocolId, ctx);
    // Sizes the decoder accepts for the protocol (RFC 7296 §3.10), mostly.
    if (!rng.chance(0.05)) {
      if (protocolId === ProtocolId.IKE && spi.length !== 0 && spi.length !== 8) spi = rng.bytes(8);
      if ((protocolId === ProtocolId.ESP || protocolId === ProtocolId.AH) && spi.length !== 0 && spi.length !== 4) spi = rng.bytes(4);
    }
  }
  let data: Uint8Array;
  switch (notifyType) {
    case NotifyType.ADDITIONAL_KEY_EXCHANGE:
      data = ctx.links.length > 0 && rng.chance(0.7) ? rng.pick(ctx.links) : rng.bytes(rng.size(64));
      break;
    case NotifyType.INVALID_KE_PAYLOAD:
      data = rng.chance(0.8) ? Uint8Array.of(0, rng.pick(KE_IDS) & 0xff) : rng.bytes(rng.size(8));
      break;
    case NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD:
      data = Uint8Array.of(rng.int(256));
      break;
    default:
      data = rng.bytes(rng.chance(0.5) ? 0 : rng.size(300));
  }
  return { type: PayloadType.NOTIFY, critical: rng.chance(0.1), protocolId, spi, notifyType, data };
}

function deletePayload(rng: Rng, ctx: GrammarContext): Payload {
  const r = rng.int(10);
  if (r < 3) return { type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] };
  const protocolId = r < 9 ? ProtocolId.ESP : rng.chance(0.5) ? ProtocolId.AH : rng.range(4, 255);
  const n = rng.chance(0.2) ? rng.size(8000) : rng.size(16);
  const spis: Uint8Array[] = [];
  for (let i = 0; i < n; i++) spis.push(ctx.childSpis.length > 0 && rng.chance(0.4) ? rng.pick(ctx.childSpis) : rng.bytes(4));
  return { type: PayloadType.DELETE, critical: false, protocolId, spiSize: 4, spis };
}

/** One random well-formed payload of `type` (or of a random type). */
export function randomPayload(rng: Rng, ctx: GrammarContext, type?: number): Payload {
  const t = type ?? (rng.chance(0.08) ? -1 : rng.pick(KNOWN_TYPES));
  const critical = rng.chance(0.1);
  const orig = (pt: number): Payload | undefined => ctx.original.find((p) => p.type === pt);
  switch (t) {
    case PayloadType.SA:
      return { type: PayloadType.SA, critical, proposals: proposals(rng, ctx) };
    case PayloadType.KE: {
      const groups = [...ctx.keValues.keys()];
      const group = groups.length > 0 && rng.chance(0.7) ? rng.pick(groups) : rng.chance(0.7) ? rng.pick(KE_IDS) : rng.int(0x10000);
      return { type: PayloadType.KE, critical, method: group, data: keData(rng, ctx, group) };
    }
    case PayloadType.IDi:
    case PayloadType.IDr: {
      const o = orig(t);
      if (o && rng.chance(0.5)) return o;
      const idType = rng.pick(ID_TYPES);
      const len = idType === 1 ? 4 : idType === 5 ? 16 : rng.size(300);
      return { type: t, critical, idType, data: rng.chance(0.1) ? rng.bytes(rng.size(8)) : rng.bytes(len) };
    }
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      return { type: t, critical, encoding: rng.int(256), data: rng.bytes(rng.size(1500)) };
    case PayloadType.AUTH: {
      const o = orig(t);
      if (o && rng.chance(0.5)) return o;
      return { type: PayloadType.AUTH, critical, method: rng.pick([1, 2, 3, 9, 10, 11, 13, 14, 0, 255]), data: rng.bytes(rng.pick([0, 20, 32, 48, 64, rng.size(600)])) };
    }
    case PayloadType.NONCE:
      return { type: PayloadType.NONCE, critical, data: rng.bytes(rng.chance(0.9) ? rng.range(16, 256) : rng.pick([0, 1, 15, 257, 300, 1000])) };
    case PayloadType.NOTIFY:
      return notifyPayload(rng, ctx);
    case PayloadType.DELETE:
      return deletePayload(rng, ctx);
    case PayloadType.VENDOR:
    case PayloadType.EAP:
      return { type: t, critical, data: rng.bytes(rng.size(400)) };
    case PayloadType.TSi:
    case PayloadType.TSr:
      return { type: t, critical, selectors: selectors(rng, ctx) };
    case PayloadType.CP:
      return { type: PayloadType.CP, critical, cfgType: rng.chance(0.8) ? rng.range(1, 4) : rng.int(256), attributes: cfgAttributes(rng) };
    default:
      return { type: 'unknown', rawType: rng.pick(UNKNOWN_TYPES), critical: rng.chance(0.4), data: rng.bytes(rng.size(200)) };
  }
}

// ---- whole chains ----------------------------------------------------------------------------

/** A fresh random chain; payload types of the original message are drawn more often. */
export function freshChain(rng: Rng, ctx: GrammarContext): Payload[] {
  const n = rng.size(14);
  const typical: number[] = [];
  for (const p of ctx.original) if (p.type !== 'unknown') typical.push(p.type);
  const out: Payload[] = [];
  for (let i = 0; i < n; i++) out.push(randomPayload(rng, ctx, typical.length > 0 && rng.chance(0.6) ? rng.pick(typical) : undefined));
  return out;
}

/** Change one field of a payload, the way a confused or hostile peer would. */
function tweak(rng: Rng, p: Payload, ctx: GrammarContext): Payload {
  switch (p.type) {
    case PayloadType.SA: {
      const ps = p.proposals.map((q) => ({ ...q, transforms: [...q.transforms] }));
      const r = rng.int(6);
      if (r === 0) for (let i = rng.size(100, 1); i > 0; i--) ps.push(proposal(rng, ctx, ps.length + 1));
      else if (r === 1 && ps.length > 0) {
        const q = rng.pick(ps);
        for (let i = rng.size(200, 1); i > 0 && q.transforms.length < 255; i--) q.transforms.splice(rng.int(q.transforms.length + 1), 0, transform(rng));
      } else if (r === 2 && ps.length > 0) {
        const q = rng.pick(ps);
        q.spi = spiFor(rng, q.protocolId, ctx);
      } else if (r === 3 && ps.length > 0) {
        const q = rng.pick(ps);
        const t = q.transforms[rng.int(q.transforms.length)];
        if (t) q.transforms[q.transforms.indexOf(t)] = { ...t, id: rng.chance(0.5) ? rng.pick(KE_IDS) : rng.int(0x10000), attributes: rng.chance(0.5) ? t.attributes : [attribute(rng)] };
      } else if (r === 4) {
        ps.reverse();
        ps.forEach((q, i) => (q.num = i + 1));
      } else if (ps.length > 0) {
        const q = rng.pick(ps);
        q.protocolId = rng.pick([1, 2, 3, 4, 255]);
      }
      return { ...p, proposals: trimSa(ps) };
    }
    case PayloadType.TSi:
    case PayloadType.TSr: {
      const r = rng.int(5);
      if (r === 4) return { ...p, selectors: rng.chance(0.5) ? selectorStorm(rng, ctx) : [...p.selectors, ...selectorStorm(rng, ctx, 255 - p.selectors.length)] };
      if (r === 0) return { ...p, selectors: selectors(rng, ctx) };
      if (r === 1) {
        // Grow the real list to (nearly) 255, keeping the valid selectors in it.
        const out = [...p.selectors];
        const target = rng.chance(0.5) ? 255 : rng.range(out.length, 255);
        while (out.length < target) out.splice(rng.int(out.length + 1), 0, selector(rng, ctx));
        return { ...p, selectors: out };
      }
      if (r === 2) {
        // The same valid selector many times, or variations of it.
        const s = p.selectors[0] ?? selector(rng, ctx);
        const out: TrafficSelector[] = [];
        for (let i = rng.chance(0.5) ? 255 : rng.size(255, 1); i > 0; i--) out.push(rng.chance(0.5) ? s : { ...s, startPort: rng.int(0x10000), endPort: 65535, ipProtocol: rng.pick(IP_PROTOCOLS) });
        return { ...p, selectors: out };
      }
      return { ...p, selectors: p.selectors.slice(0, rng.int(p.selectors.length + 1)) };
    }
    case PayloadType.NOTIFY: {
      const r = rng.int(4);
      if (r === 0) return { ...p, notifyType: rng.chance(0.5) ? rng.pick(HOT_NOTIFIES) : rng.pick(NOTIFY_TYPES) };
      if (r === 1) return { ...p, protocolId: rng.pick([0, 1, 2, 3, 9]), spi: spiFor(rng, p.protocolId, ctx) };
      if (r === 2) return { ...p, data: rng.bytes(rng.size(300)) };
      return { ...p, spi: rng.bytes(rng.pick([0, 4, 8])) };
    }
    case PayloadType.KE:
      return rng.chance(0.5) ? { ...p, method: rng.chance(0.5) ? rng.pick(KE_IDS) : rng.int(0x10000) } : { ...p, data: keData(rng, ctx, p.method) };
    case PayloadType.DELETE:
      return deletePayload(rng, ctx);
    case PayloadType.NONCE:
      return { ...p, data: rng.bytes(rng.range(16, 256)) };
    case PayloadType.IDi:
    case PayloadType.IDr:
      return { ...p, idType: rng.chance(0.5) ? rng.pick(ID_TYPES) : p.idType, data: rng.chance(0.5) ? p.data.subarray(0, rng.int(p.data.length + 1)) : rng.bytes(rng.size(64)) };
    case PayloadType.AUTH:
      return { ...p, method: rng.chance(0.5) ? rng.pick([1, 2, 14, 0]) : p.method, data: rng.chance(0.5) ? rng.bytes(p.data.length) : p.data };
    default:
      return { ...p, critical: !p.critical };
  }
}

/** 1..n structural mutations of a valid chain. */
export function mutateChain(rng: Rng, original: readonly Payload[], ctx: GrammarContext): Payload[] {
  let ps = [...original];
  const steps = rng.size(6, 1);
  for (let s = 0; s < steps; s++) {
    const i = rng.int(Math.max(1, ps.length));
    switch (rng.weighted([30, 12, 12, 6, 6, 8, 4, 3])) {
      case 0: // change a field of one payload
        if (ps[i]) ps[i] = tweak(rng, ps[i] as Payload, ctx);
        break;
      case 1: // replace with a random payload of the same type (or any type)
        if (ps[i]) {
          const t = (ps[i] as Payload).type;
          ps[i] = randomPayload(rng, ctx, rng.chance(0.7) && typeof t === 'number' ? t : undefined);
        }
        break;
      case 2: // insert a random payload
        ps.splice(rng.int(ps.length + 1), 0, randomPayload(rng, ctx));
        break;
      case 3: // delete one
        ps.splice(i, 1);
        break;
      case 4: // duplicate one
        if (ps[i]) ps.splice(rng.int(ps.length + 1), 0, ps[i] as Payload);
        break;
      case 5: // move one
        if (ps[i]) {
          const [p] = ps.splice(i, 1);
          if (p) ps.splice(rng.int(ps.length + 1), 0, p);
        }
        break;
      case 6: // shuffle
        for (let k = ps.length - 1; k > 0; k--) {
          const j = rng.int(k + 1);
          [ps[k], ps[j]] = [ps[j] as Payload, ps[k] as Payload];
        }
        break;
      default: // many copies of the notifies / payloads the handlers look for
        if (ps[i]) for (let k = rng.size(40, 1); k > 0; k--) ps.splice(rng.int(ps.length + 1), 0, rng.chance(0.5) ? (ps[i] as Payload) : tweak(rng, ps[i] as Payload, ctx));
    }
  }
  if (ps.length > 300) ps = ps.slice(0, 300);
  return ps;
}
