/**
 * USE_PPK in IKE_SA_INIT (RFC 8784 §3): an initiator configured with a post-quantum preshared
 * key says so (a COOKIE retry repeats it, as every payload); a responder that has PPKs answers
 * with its own. What IKE_AUTH then does with the PPK is in ../ppk.ts.
 */
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import { findNotify, notify } from '../payloads.js';
import type { Task } from './task.js';

export const usePpk: Task = {
  name: 'use-ppk',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest(x, out) {
    if (x.sa.connection?.ppk) out.push(notify(NotifyType.USE_PPK));
  },
  processRequest(x, request) {
    if (x.sa.setup) x.sa.setup.peerUsePpk = findNotify(request, NotifyType.USE_PPK) !== undefined;
  },
  buildResponse(x, _request, out) {
    // RFC 8784 §3: the responder answers only if it has a PPK configured (for any connection:
    // which one applies is known at IKE_AUTH).
    if (!x.sa.setup?.peerUsePpk || !x.sa.host.connections().some((c) => c.ppk !== undefined)) return;
    x.sa.setup.usePpkSent = true;
    out.push(notify(NotifyType.USE_PPK));
  },
  processResponse(x, response) {
    if (x.sa.setup) x.sa.setup.peerUsePpk = findNotify(response, NotifyType.USE_PPK) !== undefined;
  },
};
