/**
 * INTERMEDIATE_EXCHANGE_SUPPORTED in IKE_SA_INIT (RFC 9242 §3.1): sent when we propose (or
 * chose) additional key exchanges, which run in IKE_INTERMEDIATE (RFC 9370 §2.2.1), or the PPK
 * in IKE_INTERMEDIATE (RFC 9867, tasks/use-ppk.ts). The negotiation itself (skip ADDKE
 * proposals of a peer without it) is exchange-init.ts.
 */
import { ExchangeType, NotifyType, TransformType } from '../../wire/constants.js';
import { findNotify, notify } from '../payloads.js';
import { usesAddke } from '../proposal-string.js';
import type { Task } from './task.js';

export const intermediateSupport: Task = {
  name: 'intermediate-support',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest({ sa }, out) {
    const conn = sa.connection;
    if (conn?.ikeProposals.some(usesAddke) || conn?.ppk?.intermediate) out.push(notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED));
  },
  processRequest({ sa }, request) {
    if (sa.setup) sa.setup.peerIntermediate = findNotify(request, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED) !== undefined;
  },
  buildResponse({ sa }, _request, out) {
    // Whenever the chosen suite has additional key exchange types, NONE among them or not.
    const addke = [...(sa.suite?.chosen.keys() ?? [])].some((t) => t >= TransformType.ADDKE1 && t <= TransformType.ADDKE7);
    if (addke || sa.setup?.ppkInt) out.push(notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED));
  },
  processResponse({ sa }, response) {
    if (sa.setup) sa.setup.peerIntermediate = findNotify(response, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED) !== undefined;
  },
};
