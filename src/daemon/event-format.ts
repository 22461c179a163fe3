/** One-line renderings of engine events for terminals and logs. Never prints key material. */
import { ExchangeType, nameOf, NotifyType, TransformType } from '../wire/constants.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import { describeTransform, keMethodName } from '../engine/describe.js';
import type { ChildSaInfo, EngineEvent, KeyStage } from '../engine/types.js';
import { hex32 } from '../engine/util.js';

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

export function formatChild(c: ChildSaInfo): string {
  const encr = describeTransform(TransformType.ENCR, c.encr.id, c.encr.keyBits);
  const integ = c.integ === undefined ? '' : `/${describeTransform(TransformType.INTEG, c.integ)}`;
  const ts = `${c.localTs.map(formatSelector).join(',')} === ${c.remoteTs.map(formatSelector).join(',')}`;
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
};

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
      return `IKE SA #${e.sa} established (${e.ike.role}) ${e.ike.local.address}[${e.ike.localId}]...${e.ike.remote.address}[${e.ike.remoteId}] ${e.ike.suite ?? ''}`;
    case 'child-up':
      return `${formatChild(e.child)}${e.child.rekeyOf === undefined ? '' : ` (rekeyed ${hex32(e.child.rekeyOf)}_i)`}${e.child.keMethods.length > 0 ? ` PFS ${e.child.keMethods.map(keMethodName).join('+')}` : ''}`;
    case 'retransmit':
      return `IKE SA #${e.sa}: retransmit ${e.attempt} of ${exchangeName(e.exchange)} request ${e.messageId}`;
    case 'ike-keys':
      return `IKE SA #${e.sa} keys for ${e.spiI}_i ${e.spiR}_r derived ${KEY_STAGE_TEXT[e.stage]} (exported)`;
    case 'ike-rekeyed':
      return `IKE SA #${e.old} rekeyed into #${e.sa} (${e.ike.spiI}_i ${e.ike.spiR}_r) ${e.ike.suite ?? ''}`;
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
    localTs: rest.localTs.map(formatSelector),
    remoteTs: rest.remoteTs.map(formatSelector),
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
