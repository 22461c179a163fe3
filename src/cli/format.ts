/** One-line renderings of engine events for terminals and logs. Never prints key material. */
import { ExchangeType, nameOf, NotifyType } from '../wire/constants.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import { describeTransform } from '../engine/describe.js';
import type { ChildSaInfo, EngineEvent } from '../engine/types.js';
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
  const encr = describeTransform(1, c.encr.id, c.encr.keyBits);
  const integ = c.integ === undefined ? '' : `/${describeTransform(3, c.integ)}`;
  const ts = `${c.localTs.map(formatSelector).join(',')} === ${c.remoteTs.map(formatSelector).join(',')}`;
  return `Child SA '${c.name}' ${c.mode}: SPIs ${hex32(c.spiIn)}_i ${hex32(c.spiOut)}_o, ${encr}${integ}, ${ts}`;
}

export { hex32 };

export function notifyName(n: number | undefined): string {
  return n === undefined ? '' : nameOf(NotifyType, n);
}

function restartNote(r: { readonly attempt: number; readonly inMs: number } | undefined): string {
  return r === undefined ? '' : `; attempt ${r.attempt} in ${(r.inMs / 1000).toFixed(1)} s`;
}

/** A generic one-liner for any event. */
export function formatEvent(e: EngineEvent): string {
  switch (e.type) {
    case 'message':
      return formatMessage(e);
    case 'ike-up':
      return `IKE SA #${e.sa.id} established (${e.sa.role}) ${e.sa.local.address}[${e.sa.localId}]...${e.sa.remote.address}[${e.sa.remoteId}] ${e.sa.suite ?? ''}`;
    case 'child-up':
      return `${formatChild(e.child)}${e.child.rekeyOf === undefined ? '' : ` (rekeyed ${hex32(e.child.rekeyOf)}_i)`}${e.child.keMethods.length > 0 ? ` PFS ${e.child.keMethods.join('+')}` : ''}`;
    case 'retransmit':
      return `IKE SA #${e.sa}: retransmit ${e.attempt} of ${exchangeName(e.exchange)} request ${e.messageId}`;
    case 'ike-keys':
      return `IKE SA #${e.sa} keys for ${e.spiI}_i ${e.spiR}_r derived (exported)`;
    case 'ike-rekeyed':
      return `IKE SA #${e.old} rekeyed into #${e.sa.id} (${e.sa.spiI}_i ${e.sa.spiR}_r) ${e.sa.suite ?? ''}`;
    case 'child-down':
      return `Child SA '${e.child.name}' ${hex32(e.child.spiIn)}_i closed: ${e.reason}`;
    case 'ike-failed':
      return `IKE SA #${e.sa} failed: ${e.reason}${e.notify === undefined ? '' : ` (${notifyName(e.notify)})`}${restartNote(e.restart)}`;
    case 'ike-down':
      return `IKE SA #${e.sa} closed: ${e.reason}${restartNote(e.restart)}`;
    case 'trap':
      return `connection '${e.connection}' child '${e.child}' trapped: ${e.reason}`;
    case 'log':
      return `[${e.level}]${e.sa === undefined ? '' : ` <#${e.sa}>`} ${e.message}`;
    default: {
      // An extension's event (TaskEvents): its type and fields.
      const { type, ...fields } = e as { readonly type: string };
      return `${type} ${Object.entries(fields).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ')}`;
    }
  }
}

/** JSON for scripts: SPIs in hex, selectors as text, keys left out. */
export function eventToJson(e: EngineEvent): Record<string, unknown> {
  if (e.type === 'child-up' || e.type === 'child-down') {
    const { keys: _keys, ...rest } = e.child;
    return {
      ...e,
      child: {
        ...rest,
        spiIn: hex32(rest.spiIn),
        spiOut: hex32(rest.spiOut),
        ...(rest.rekeyOf === undefined ? {} : { rekeyOf: hex32(rest.rekeyOf) }),
        localTs: rest.localTs.map(formatSelector),
        remoteTs: rest.remoteTs.map(formatSelector),
      },
    };
  }
  if (e.type === 'ike-keys') {
    // Key material never goes into the JSON event stream; the key log has it.
    const { skEi: _ei, skEr: _er, skAi: _ai, skAr: _ar, ...rest } = e;
    return { ...rest };
  }
  return { ...e };
}
