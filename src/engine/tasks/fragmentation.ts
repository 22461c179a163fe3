/**
 * IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (RFC 7383 §2.3): each side announces that it
 * can reassemble; a responder answers only if the initiator announced it and we allow it.
 * Fragmenting and reassembling are protection.ts and the engine.
 */
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import { findNotify, notify } from '../payloads.js';
import type { Task } from './task.js';

export const fragmentation: Task = {
  name: 'fragmentation',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest({ sa }, out) {
    if (sa.connection?.fragmentation !== false) out.push(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
  },
  processRequest({ sa }, request) {
    sa.peerFragmentation = findNotify(request, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) !== undefined && sa.connection?.fragmentation !== false;
  },
  buildResponse({ sa }, _request, out) {
    if (sa.peerFragmentation) out.push(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
  },
  processResponse({ sa }, response) {
    sa.peerFragmentation = findNotify(response, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) !== undefined;
  },
};
