/**
 * Helpers for engine tests that look at (and rewrite) the datagrams two engines exchange,
 * plus narrow access to an engine's IKE SAs for tests that need key material.
 */
import { randomBytes } from 'node:crypto';
import { IkeEngine } from '../../src/engine/engine.js';
import type { IkeSa } from '../../src/engine/ike-sa.js';
import { sealMessage } from '../../src/engine/protection.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { ExchangeType, HeaderFlags, PayloadType, decodeMessage, encodeMessage, nameOf } from '../../src/wire/index.js';
import type { IkeMessage, NotifyPayload, Payload } from '../../src/wire/index.js';
import type { Delivered } from './engine-pair.js';

export function decode(data: Uint8Array): IkeMessage {
  return decodeMessage(data);
}

export function isResponse(m: IkeMessage): boolean {
  return (m.header.flags & HeaderFlags.RESPONSE) !== 0;
}

/** True if `data` decodes as a message of `exchange`, request (`response` false) or response. */
export function isMessage(data: Uint8Array, exchange: number, response: boolean): boolean {
  try {
    const m = decodeMessage(data);
    return m.header.exchangeType === exchange && isResponse(m) === response;
  } catch {
    return false;
  }
}

export function notifies(payloads: readonly Payload[]): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}

export function hasNotify(payloads: readonly Payload[], type: number): boolean {
  return notifies(payloads).some((n) => n.notifyType === type);
}

/** "IKE_SA_INIT q" / "IKE_AUTH r" per datagram, with the sender: "i>IKE_SA_INIT q". */
export function wireSummary(wire: readonly Delivered[]): string[] {
  return wire.map((d) => {
    const m = decodeMessage(d.data);
    return `${d.from}>${nameOf(ExchangeType, m.header.exchangeType)} ${isResponse(m) ? 'r' : 'q'}`;
  });
}

/** Re-encode a (plain) message with its payload list changed; the header is kept. */
export function rewrite(data: Uint8Array, change: (payloads: Payload[]) => Payload[]): Uint8Array {
  const m = decodeMessage(data);
  const { length: _length, nextPayload: _next, ...header } = m.header;
  return encodeMessage(header, change([...m.payloads]));
}

/** Outgoing message exchanges as "<exchange>q|r" strings, from an engine's events. */
export function sentExchanges(events: readonly EngineEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) if (e.type === 'message' && e.direction === 'out') out.push(`${nameOf(ExchangeType, e.exchange)} ${e.response ? 'r' : 'q'}`);
  return out;
}

/**
 * The engine's IKE SAs. The table is private on purpose (the engine's API is datagrams and
 * events); tests that must check key material or patch an SA reach it through this one place.
 */
export function sasOf(engine: IkeEngine): IkeSa[] {
  const internals = engine as unknown as { sas: Map<string, IkeSa> };
  return [...internals.sas.values()];
}

export function onlySa(engine: IkeEngine): IkeSa {
  const all = sasOf(engine);
  const sa = all[0];
  if (all.length !== 1 || sa === undefined) throw new Error(`expected exactly one IKE SA, found ${all.length}`);
  return sa;
}

export function failures(events: readonly EngineEvent[]): Extract<EngineEvent, { type: 'ike-failed' }>[] {
  return events.filter((e): e is Extract<EngineEvent, { type: 'ike-failed' }> => e.type === 'ike-failed');
}

export function ups(events: readonly EngineEvent[]): Extract<EngineEvent, { type: 'ike-up' }>[] {
  return events.filter((e): e is Extract<EngineEvent, { type: 'ike-up' }> => e.type === 'ike-up');
}

/** Log lines, for assertion messages. */
export function logs(events: readonly EngineEvent[]): string {
  return events
    .filter((e) => e.type === 'log' || e.type === 'ike-failed')
    .map((e) => (e.type === 'log' ? `${e.level}: ${e.message}` : e.type === 'ike-failed' ? `failed: ${e.reason}` : ''))
    .join('\n');
}

/**
 * A protected message as `sa` would send it (its SPIs, role flags and current keys), with any
 * Message ID and payloads: a hostile or buggy peer that holds the keys.
 */
export function sealAs(sa: IkeSa, exchange: number, messageId: number, payloads: readonly Payload[], response = false): Uint8Array[] {
  return sealMessage(sa.frame(exchange, response, messageId), payloads, sa.requireCipher(), sa.outKeys(), sa.maxMessage(), (n) => randomBytes(n)).datagrams;
}
