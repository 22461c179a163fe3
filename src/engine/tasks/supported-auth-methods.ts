/**
 * SUPPORTED_AUTH_METHODS (RFC 9593): each end tells the other which authentication methods
 * it verifies, so that the other signs with one of them (an ML-DSA gateway knows whether its
 * peer checks ML-DSA). The responder sends its list in the IKE_SA_INIT response beside the
 * CERTREQ (§3.1, Figure 1), the initiator its list in the IKE_AUTH request (Figure 2). Sent
 * where certificates are configured: a pre-shared key gains nothing from it, and PSK-only
 * messages stay as strongSwan's. The peer's list is kept for our AUTH (src/auth/pubkey.ts).
 */
import { decodeAnnouncements, encodeAnnouncements } from '../../auth/auth-methods-announcement.js';
import type { Announcement } from '../../auth/auth-methods-announcement.js';
import { ExchangeType, NotifyType, PayloadType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import { notify } from '../payloads.js';
import type { ConnectionConfig } from '../types.js';
import type { Task, TaskExchange } from './task.js';

/** What these connections verify, in order, each once; none when none checks certificates. */
function announcements(conns: readonly ConnectionConfig[]): Announcement[] {
  if (!conns.some((c) => c.auth?.remote.certRequest !== undefined)) return [];
  const seen = new Set<string>();
  const out: Announcement[] = [];
  for (const c of conns) {
    for (const a of c.auth?.remote.announcements ?? []) {
      const k = `${a.method}/${a.algorithmId ? Buffer.from(a.algorithmId).toString('hex') : ''}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(a);
      }
    }
  }
  return out;
}

function push(out: Payload[], list: readonly Announcement[]): void {
  if (list.length > 0) out.push(notify(NotifyType.SUPPORTED_AUTH_METHODS, encodeAnnouncements(list)));
}

/** §3.1: several notifications form one ordered list. */
function remember(x: TaskExchange, payloads: readonly Payload[]): void {
  const lists = payloads.filter((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.SUPPORTED_AUTH_METHODS);
  if (lists.length === 0 || !x.sa.setup) return;
  x.sa.setup.peerMethods = lists.flatMap((p) => (p.type === PayloadType.NOTIFY ? decodeAnnouncements(p.data) : []));
}

export const supportedAuthMethods: Task = {
  name: 'supported-auth-methods',
  exchanges: [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH],
  buildRequest(x, out) {
    if (x.exchange === ExchangeType.IKE_AUTH) push(out, announcements(x.sa.connection ? [x.sa.connection] : []));
  },
  processRequest(x, request) {
    if (x.exchange === ExchangeType.IKE_AUTH) remember(x, request);
  },
  buildResponse(x, _request, out) {
    // The responder does not know the connection yet: what any of them verifies.
    if (x.exchange === ExchangeType.IKE_SA_INIT) push(out, announcements(x.sa.host.connections()));
  },
  processResponse(x, response) {
    if (x.exchange === ExchangeType.IKE_SA_INIT) remember(x, response);
  },
};
