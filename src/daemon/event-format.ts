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
  return childText(c, childJson(c));
}

/** formatChild from the names and selector texts childJson already made (the daemon makes both). */
function childText(c: ChildSaInfo, j: ChildJson): string {
  const integ = j.integ === undefined ? '' : `/${String(j.integ)}`;
  const ts = `${j.localTs.join(',')} === ${j.remoteTs.join(',')}`;
  return `Child SA '${c.name}' ${c.mode}: SPIs ${String(j.spiIn)}_i ${String(j.spiOut)}_o, ${String(j.encr)}${integ}, ${ts}`;
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
  return eventText(e);
}

/** formatEvent; `child`: childJson(e.child), where the caller made it already. */
function eventText(e: EngineEvent, child?: ChildJson): string {
  switch (e.type) {
    case 'message':
      return formatMessage(e);
    case 'ike-up':
      return `IKE SA #${e.sa} established (${e.ike.role}) ${e.ike.local.address}[${e.ike.localId}]...${e.ike.remote.address}[${e.ike.remoteId}] ${e.ike.suite ?? ''}${ppkNote(e.ike)}`;
    case 'child-up':
      return `${childText(e.child, child ?? childJson(e.child))}${e.child.rekeyOf === undefined ? '' : ` (rekeyed ${hex32(e.child.rekeyOf)}_i)`}${e.child.keMethods.length > 0 ? ` PFS ${e.child.keMethods.map(keMethodName).join('+')}` : ''}${e.child.ppk === undefined ? '' : ` fresh PPK ${e.child.ppk} (RFC 9867)`}`;
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

/** A Child SA as childJson gives it: the fields its text line is made of, rendered once. */
export interface ChildJson {
  readonly [field: string]: unknown;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly encr: string;
  readonly integ?: string;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
}

/**
 * A Child SA for JSON: SPIs in hex, selectors as text, algorithms by name, no keys. Field by
 * field rather than by spreads: the daemon makes this for two log lines of every Child SA.
 */
export function childJson(c: ChildSaInfo): ChildJson {
  const out: Record<string, unknown> = {};
  const src = c as unknown as Record<string, unknown>;
  for (const k in src) {
    switch (k) {
      case 'keys':
        break;
      case 'spiIn':
      case 'spiOut':
        out[k] = hex32(src[k] as number);
        break;
      case 'rekeyOf':
        if (c.rekeyOf !== undefined) out[k] = hex32(c.rekeyOf);
        break;
      case 'localTs':
      case 'remoteTs':
        out[k] = selectorsText(src[k] as readonly TrafficSelector[]);
        break;
      case 'encr':
        out[k] = describeTransform(TransformType.ENCR, c.encr.id, c.encr.keyBits);
        break;
      case 'integ':
        if (c.integ !== undefined) out[k] = describeTransform(TransformType.INTEG, c.integ);
        break;
      case 'keMethods':
        out[k] = c.keMethods.map(keMethodName);
        break;
      default:
        out[k] = src[k];
    }
  }
  return out as unknown as ChildJson;
}

/** Key material, which never goes into the JSON of an event (the key log has it: key-export.ts). */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['skEi', 'skEr', 'skAi', 'skAr']);

/**
 * The fields of `e` for JSON into `out`, after what `out` holds: numbers named, a Child SA by
 * childJson (`child`: made already), key material left out; `type` (and with `withoutSa`, `sa`)
 * not copied. One loop over the event's own fields, no spreads: this runs for every log line.
 */
function fieldsInto(e: EngineEvent, out: Record<string, unknown>, withoutSa: boolean, child?: ChildJson): Record<string, unknown> {
  const src = e as unknown as Record<string, unknown>;
  const secrets = e.type === 'ike-keys';
  for (const k in src) {
    if (k === 'type' || (withoutSa && k === 'sa') || (secrets && SECRET_FIELDS.has(k))) continue;
    out[k] = src[k];
  }
  switch (e.type) {
    case 'child-up':
    case 'child-down':
      out['child'] = child ?? childJson(e.child);
      break;
    case 'ike-keys':
      out['encr'] = describeTransform(TransformType.ENCR, e.encr.id, e.encr.keyBits);
      out['integ'] = e.integ === 0 ? 'NONE' : describeTransform(TransformType.INTEG, e.integ);
      break;
    case 'ike-up':
    case 'ike-rekeyed':
      out['ike'] = { ...e.ike, keMethods: e.ike.keMethods.map(keMethodName) };
      break;
    case 'message':
    case 'retransmit':
      out['exchange'] = exchangeName(e.exchange);
      break;
    case 'ike-failed':
    case 'child-failed':
      if (e.notify !== undefined) out['notify'] = notifyName(e.notify);
      break;
    case 'refused':
      out['exchange'] = exchangeName(e.exchange);
      out['notify'] = notifyName(e.notify);
      break;
    default:
  }
  return out;
}

/**
 * JSON for scripts: names, not numbers (exchanges and notifies as IANA names them, algorithms
 * as strongSwan does, describe.ts), SPIs in hex, selectors as text, key material left out.
 */
export function eventToJson(e: EngineEvent): Record<string, unknown> {
  return fieldsInto(e, { type: e.type }, false);
}

/**
 * An event's log line, text and fields, as the daemon writes it: the fields of eventToJson
 * with `event` for `type` and without `sa` (a log line's `sa` is its IKE SA, from its
 * context); a Child SA's names and selectors rendered once for both.
 */
export function eventLogLine(e: EngineEvent): { readonly text: string; readonly fields: Record<string, unknown> } {
  if (e.type === 'log') return { text: formatEvent(e), fields: {} };
  const child = e.type === 'child-up' ? childJson(e.child) : undefined;
  return { text: eventText(e, child), fields: fieldsInto(e, { event: e.type }, true, child) };
}
