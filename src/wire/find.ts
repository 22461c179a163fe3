/**
 * Small helpers for looking up payloads in a decoded chain.
 */
import { PayloadType } from './constants.js';
import type { NotifyPayload, Payload, PayloadKind, PayloadOf } from './types.js';

function isKind<T extends PayloadKind>(p: Payload, type: T): p is PayloadOf<T> {
  return p.type === type;
}

/** First payload of `type` (e.g. `findPayload(ps, PayloadType.KE)`), or undefined. */
export function findPayload<T extends PayloadKind>(payloads: readonly Payload[], type: T): PayloadOf<T> | undefined {
  for (const p of payloads) if (isKind(p, type)) return p;
  return undefined;
}

/** All payloads of `type`, in order. */
export function filterPayloads<T extends PayloadKind>(payloads: readonly Payload[], type: T): PayloadOf<T>[] {
  const out: PayloadOf<T>[] = [];
  for (const p of payloads) if (isKind(p, type)) out.push(p);
  return out;
}

/** First Notify payload of `notifyType`, or undefined. */
export function findNotify(payloads: readonly Payload[], notifyType: number): NotifyPayload | undefined {
  for (const p of payloads) if (p.type === PayloadType.NOTIFY && p.notifyType === notifyType) return p;
  return undefined;
}

/** All Notify payloads of `notifyType`, in order. */
export function filterNotifies(payloads: readonly Payload[], notifyType: number): NotifyPayload[] {
  const out: NotifyPayload[] = [];
  for (const p of payloads) if (p.type === PayloadType.NOTIFY && p.notifyType === notifyType) out.push(p);
  return out;
}
