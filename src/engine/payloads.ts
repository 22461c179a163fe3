/** Helpers to build and look up payloads in a decoded message. */
import { NOTIFY_STATUS_MIN, PayloadType } from '../wire/constants.js';
import type { NotifyPayload, Payload, PayloadOf, PayloadKind } from '../wire/types.js';

export function notify(notifyType: number, data: Uint8Array = new Uint8Array(0), protocolId = 0, spi: Uint8Array = new Uint8Array(0)): NotifyPayload {
  return { type: PayloadType.NOTIFY, critical: false, protocolId, spi, notifyType, data };
}

export function find<T extends PayloadKind>(payloads: readonly Payload[], type: T): PayloadOf<T> | undefined {
  for (const p of payloads) if (p.type === type) return p as PayloadOf<T>;
  return undefined;
}

export function findNotify(payloads: readonly Payload[], notifyType: number): NotifyPayload | undefined {
  for (const p of payloads) if (p.type === PayloadType.NOTIFY && p.notifyType === notifyType) return p;
  return undefined;
}

/** The first error notify (types below 16384, RFC 7296 §3.10.1), if any. */
export function errorNotify(payloads: readonly Payload[]): NotifyPayload | undefined {
  for (const p of payloads) if (p.type === PayloadType.NOTIFY && p.notifyType < NOTIFY_STATUS_MIN) return p;
  return undefined;
}
