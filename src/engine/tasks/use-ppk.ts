/**
 * USE_PPK and USE_PPK_INT in IKE_SA_INIT. RFC 8784 §3: an initiator configured with a
 * post-quantum preshared key sends USE_PPK (a COOKIE retry repeats it, as every payload); a
 * responder that has PPKs answers with its own, and the PPK goes into IKE_AUTH (../ppk.ts).
 * RFC 9867: an initiator that proposes the PPK in IKE_INTERMEDIATE sends USE_PPK_INT as well
 * (with INTERMEDIATE_EXCHANGE_SUPPORTED, tasks/intermediate-support.ts); a responder that has
 * PPKs and runs IKE_INTERMEDIATE with it answers USE_PPK_INT and not USE_PPK — one of the two,
 * never both — and the PPK goes into the last IKE_INTERMEDIATE (../ppk-intermediate.ts).
 */
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import { findNotify, notify } from '../payloads.js';
import type { Task } from './task.js';

export const usePpk: Task = {
  name: 'use-ppk',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest(x, out) {
    const p = x.sa.connection?.ppk;
    if (!p) return;
    if (p.intermediate) out.push(notify(NotifyType.USE_PPK_INT));
    out.push(notify(NotifyType.USE_PPK));
  },
  processRequest(x, request) {
    const s = x.sa.setup;
    if (!s) return;
    s.peerUsePpk = findNotify(request, NotifyType.USE_PPK) !== undefined;
    // RFC 8784 §3: the responder answers only if it has a PPK configured (for any connection:
    // which one applies is known later). Decided here, once; buildResponse only writes it.
    if (!x.sa.host.connections().some((c) => c.ppk !== undefined)) return;
    const intermediate = findNotify(request, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED) !== undefined;
    if (intermediate && findNotify(request, NotifyType.USE_PPK_INT)) s.ppkInt = { pending: true };
    else if (s.peerUsePpk) s.usePpkSent = true;
  },
  buildResponse(x, _request, out) {
    const s = x.sa.setup;
    if (s?.ppkInt) out.push(notify(NotifyType.USE_PPK_INT));
    else if (s?.usePpkSent) out.push(notify(NotifyType.USE_PPK));
  },
  processResponse(x, response) {
    const s = x.sa.setup;
    if (!s) return;
    const intermediate = findNotify(response, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED) !== undefined;
    // USE_PPK_INT only counts if we sent it and IKE_INTERMEDIATE runs (RFC 9242 §3.1).
    if (x.sa.connection?.ppk?.intermediate && intermediate && findNotify(response, NotifyType.USE_PPK_INT)) {
      s.ppkInt = { pending: true };
      s.peerUsePpk = false;
      return;
    }
    s.peerUsePpk = findNotify(response, NotifyType.USE_PPK) !== undefined;
  },
};
