/**
 * The 'refused' event (types.ts): built here for every refusal a responder sends, whether an
 * IKE SA exists (IkeSa.refuse, a Child SA refused inside IKE_AUTH) or not (the stateless
 * IKE_SA_INIT answers of exchange-init.ts and the engine's COOKIE path).
 */
import type { Endpoint, EngineEvent } from './types.js';

/** What the peer sent and what we have, where configuration is the question. */
export interface RefusalDetail {
  readonly received?: string;
  readonly configured?: string;
}

export function refusedEvent(peer: Endpoint, exchange: number, notify: number, reason: string, detail: RefusalDetail = {}, sa?: number): EngineEvent {
  return {
    type: 'refused',
    ...(sa === undefined ? {} : { sa }),
    peer,
    exchange,
    notify,
    reason,
    ...(detail.received === undefined ? {} : { received: detail.received }),
    ...(detail.configured === undefined ? {} : { configured: detail.configured }),
  };
}
