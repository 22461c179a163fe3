/** One-line renderings of engine events for terminals and logs. Never prints key material. */
import { ExchangeType, nameOf, NotifyType, TransformType } from '../wire/constants.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import { describeTransform, keMethodName } from '../engine/describe.js';
import type { ChildSaInfo, EngineEvent, KeyStage } from '../engine/types.js';
import { hex32 } from '../engine/util.js';
import type { TrafficSelector } from '../wire/types.js';

export function exchangeName(t: number): string {
  return nameOf(ExchangeType, t);
}

export function formatMessage(e: Extract<EngineEvent, { type: 'message' }>): string {
  const arrow = e.direction === 'out' ? '→' : '←';
  const kind = e.response ? 'response' : 'request ';
  const total = e.sizes.reduce((a, b) => a + b, 0);
  const frag = e.sizes.length > 1 ? ` in ${e.sizes.length} fragments (${e.sizes.join('+')})` : '';
  return `${arrow} ${exchangeName(e.exchange).padEnd(16)} ${kind} #${e.messageId}  ${String(total).padStart(5)} B${frag}  [ ${e.payloads.join(' ')} ]`;
}

/**
 * formatSelector (engine/traffic-selectors.ts), the same text, without its generic byte loops
 * for an IPv4 selector: the daemon formats every Child SA's selectors twice per log line (text
 * and JSON), and the generic path was a sixth of the daemon's own work per SA.
 */
export function selectorText(ts: TrafficSelector): string {
  const s = ts.startAddr;
  const e = ts.endAddr;
  if (s.length !== 4 || e.length !== 4) return formatSelector(ts);
  const s0 = s[0] ?? 0;
  const s1 = s[1] ?? 0;
  const s2 = s[2] ?? 0;
  const s3 = s[3] ?? 0;
  const a = ((s0 << 24) | (s1 << 16) | (s2 << 8) | s3) >>> 0;
  const b = (((e[0] ?? 0) << 24) | ((e[1] ?? 0) << 16) | ((e[2] ?? 0) << 8) | (e[3] ?? 0)) >>> 0;
  const start = `${s0}.${s1}.${s2}.${s3}`;
  let net: string | undefined;
  // The shortest prefix that covers exactly start..end, as formatSelector looks for it.
  for (let prefix = 0; prefix <= 32; prefix++) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((a & mask) >>> 0 === a && (a | ~mask) >>> 0 === b) {
      net = `${start}/${prefix}`;
      break;
    }
  }
  net ??= `${start}-${e[0] ?? 0}.${e[1] ?? 0}.${e[2] ?? 0}.${e[3] ?? 0}`;
  if (ts.ipProtocol === 0 && ts.startPort === 0 && ts.endPort === 65535) return net;
  const ports = ts.startPort === 0 && ts.endPort === 65535 ? '' : ts.startPort === ts.endPort ? `/${ts.startPort}` : `/${ts.startPort}-${ts.endPort}`;
  return `${net}[${ts.ipProtocol}${ports}]`;
}

function selectorsText(list: readonly TrafficSelector[]): string[] {
  const out = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const ts = list[i];
    out[i] = ts === undefined ? '' : selectorText(ts);
  }
  return out;
}

export function formatChild(c: ChildSaInfo): string {
  const encr = describeTransform(TransformType.ENCR, c.encr.id, c.encr.keyBits);
  const integ = c.integ === undefined ? '' : `/${describeTransform(TransformType.INTEG, c.integ)}`;
  const ts = `${selectorsText(c.localTs).join(',')} === ${selectorsText(c.remoteTs).join(',')}`;
  return `Child SA '${c.name}' ${c.mode}: SPIs ${hex32(c.spiIn)}_i ${hex32(c.spiOut)}_o, ${encr}${integ}, ${ts}`;
}

export { hex32 };

export function notifyName(n: number | undefined): string {
  return n === undefined ? '' : nameOf(NotifyType, n);
}

const KEY_STAGE_TEXT: Record<KeyStage, string> = {
  'ike-sa-init': 'in IKE_SA_INIT',
  'ike-intermediate': 'after an additional key exchange',
  ppk: 'with the post-quantum preshared key (RFC 9867)',
  rekey: 'by a rekey',
  'ppk-rekey': 'by a rekey with a fresh post-quantum preshared key (RFC 9867 §3.2)',
};

/** The PPK_ID in an IKE SA's keys and where it was mixed in (never the key). */
function ppkNote(ike: { readonly ppk?: string; readonly ppkExchange?: string }): string {
  return ike.ppk === undefined ? '' : ` PPK ${ike.ppk} (${ike.ppkExchange ?? 'IKE_AUTH'})`;
}

function restartNote(r: { readonly attempt: number; readonly inMs: number } | undefined): string {
  return r === undefined ? '' : `; attempt ${r.attempt} in ${(r.inMs / 1000).toFixed(1)} s`;
}

/**
 * What the peer sent and what we have, as strongSwan logs a refused proposal ("received
 * proposals: IKE:…", "configured proposals: IKE:…"), on the refusal's one line.
 */
function refusalDetail(e: Extract<EngineEvent, { type: 'refused' }>): string {
  const what = e.notify === NotifyType.NO_PROPOSAL_CHOSEN ? ' proposals:' : '';
  return `${e.received === undefined ? '' : `; received${what} ${e.received}`}${e.configured === undefined ? '' : `; configured${what} ${e.configured}`}`;
}

/** A generic one-liner for any event. */
export function formatEvent(e: EngineEvent): string {
  switch (e.type) {
    case 'message':
      return formatMessage(e);
    case 'ike-up':
      return `IKE SA #${e.sa} established (${e.ike.role}) ${e.ike.local.address}[${e.ike.localId}]...${e.ike.remote.address}[${e.ike.remoteId}] ${e.ike.suite ?? ''}${ppkNote(e.ike)}`;
    case 'child-up':
      return `${formatChild(e.child)}${e.child.rekeyOf === undefined ? '' : ` (rekeyed ${hex32(e.child.rekeyOf)}_i)`}${e.child.keMethods.length > 0 ? ` PFS ${e.child.keMethods.map(keMethodName).join('+')}` : ''}${e.child.ppk === undefined ? '' : ` fresh PPK ${e.child.ppk} (RFC 9867)`}`;
    case 'retransmit':
      return `IKE SA #${e.sa}: retransmit ${e.attempt} of ${exchangeName(e.exchange)} request ${e.messageId}`;
    case 'ike-keys':
      return `IKE SA #${e.sa} keys for ${e.spiI}_i ${e.spiR}_r derived ${KEY_STAGE_TEXT[e.stage]} (exported)`;
    case 'ike-rekeyed':
      return `IKE SA #${e.old} rekeyed into #${e.sa} (${e.ike.spiI}_i ${e.ike.spiR}_r) ${e.ike.suite ?? ''}${e.ike.ppkExchange === 'CREATE_CHILD_SA' ? ppkNote(e.ike) : ''}`;
    case 'child-down':
      return `Child SA '${e.child.name}' ${hex32(e.child.spiIn)}_i closed: ${e.reason}`;
    case 'ike-failed':
      return `IKE SA #${e.sa} failed: ${e.reason}${e.notify === undefined ? '' : ` (${notifyName(e.notify)})`}${restartNote(e.restart)}`;
    case 'ike-down':
      return `IKE SA #${e.sa} closed: ${e.reason}${restartNote(e.restart)}`;
    case 'trap':
      return `connection '${e.connection}' child '${e.child}' trapped: ${e.reason}`;
    case 'child-failed':
      return `IKE SA #${e.sa}: Child SA '${e.child}'${e.rekey ? ' rekey' : ''} ${e.reason}`;
    case 'refused':
      return `${exchangeName(e.exchange)} from ${e.peer.address}:${e.peer.port} refused with ${notifyName(e.notify)}: ${e.reason}${refusalDetail(e)}`;
    case 'log':
      return `[${e.level}]${e.sa === undefined ? '' : ` <#${e.sa}>`} ${e.message}`;
    default: {
      // An extension's event (TaskEvents): its type and fields.
      const { type, ...fields } = e as { readonly type: string };
      return `${type} ${Object.entries(fields).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ')}`;
    }
  }
}

/** A Child SA for JSON: SPIs in hex, selectors as text, algorithms by name, no keys. */
function childJson(c: ChildSaInfo): Record<string, unknown> {
  const { keys: _keys, ...rest } = c;
  return {
    ...rest,
    spiIn: hex32(rest.spiIn),
    spiOut: hex32(rest.spiOut),
    ...(rest.rekeyOf === undefined ? {} : { rekeyOf: hex32(rest.rekeyOf) }),
    localTs: selectorsText(rest.localTs),
    remoteTs: selectorsText(rest.remoteTs),
    encr: describeTransform(TransformType.ENCR, rest.encr.id, rest.encr.keyBits),
    ...(rest.integ === undefined ? {} : { integ: describeTransform(TransformType.INTEG, rest.integ) }),
    keMethods: rest.keMethods.map(keMethodName),
  };
}

/**
 * JSON for scripts: names, not numbers (exchanges and notifies as IANA names them, algorithms
 * as strongSwan does, describe.ts), SPIs in hex, selectors as text, key material left out.
 */
export function eventToJson(e: EngineEvent): Record<string, unknown> {
  switch (e.type) {
    case 'child-up':
    case 'child-down':
      return { ...e, child: childJson(e.child) };
    case 'ike-keys': {
      // Key material never goes into the JSON event stream; the key log has it.
      const { skEi: _ei, skEr: _er, skAi: _ai, skAr: _ar, ...rest } = e;
      return { ...rest, encr: describeTransform(TransformType.ENCR, e.encr.id, e.encr.keyBits), integ: e.integ === 0 ? 'NONE' : describeTransform(TransformType.INTEG, e.integ) };
    }
    case 'ike-up':
    case 'ike-rekeyed':
      return { ...e, ike: { ...e.ike, keMethods: e.ike.keMethods.map(keMethodName) } };
    case 'message':
    case 'retransmit':
      return { ...e, exchange: exchangeName(e.exchange) };
    case 'ike-failed':
    case 'child-failed':
      return e.notify === undefined ? { ...e } : { ...e, notify: notifyName(e.notify) };
    case 'refused':
      return { ...e, exchange: exchangeName(e.exchange), notify: notifyName(e.notify) };
    default:
      return { ...e };
  }
}
