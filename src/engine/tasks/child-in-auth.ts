/**
 * The first Child SA, set up in IKE_AUTH (RFC 7296 §1.2): the initiator offers SAi2, TSi, TSr
 * (no KE: its keys come from SK_d and the IKE SA's nonces, §2.17), the responder picks and
 * narrows (§2.9) or answers with an error notify, and the IKE SA is set up either way. No
 * SA/TS payloads at all is a childless IKE_AUTH (RFC 6023); `childless: pq` asks for none
 * and creates the Child SAs after a post-quantum IKE SA rekey (RFC 9370 §2.2.5.1).
 */
import { ExchangeType, NotifyType, PayloadType, nameOf } from '../../wire/constants.js';
import type { Proposal, TrafficSelector } from '../../wire/types.js';
import { acceptChild, answerChild, offerChild } from '../child-sa.js';
import type { ChildSa } from '../child-sa.js';
import { armChild } from '../lifecycle.js';
import { errorNotify, find, notify } from '../payloads.js';
import type { ChildConfig } from '../types.js';
import { refusedEvent } from '../refusal.js';
import { TaskSlot } from './task.js';
import type { Task, TaskExchange } from './task.js';

/** Initiator: what we offered, to check the answer against. */
export interface PendingChild {
  readonly config: ChildConfig;
  readonly spiIn: Uint8Array;
  readonly offered: Proposal[];
  readonly tsi: readonly TrafficSelector[];
  readonly tsr: readonly TrafficSelector[];
}

const offered = new TaskSlot<PendingChild>('child-in-auth offer');
/** Responder: the Child SA answered, installed once the IKE SA is up. */
const answered = new TaskSlot<ChildSa>('child-in-auth answer');

/** The Child SA part of our IKE_AUTH response is an error notify (the IKE SA is still set up). */
function refused(x: TaskExchange, type: number, reason: string, detail: { received?: string; configured?: string } = {}): void {
  x.sa.event(refusedEvent(x.sa.remote, ExchangeType.IKE_AUTH, type, reason, detail, x.sa.id));
}

function install(x: TaskExchange, child: ChildSa): void {
  x.sa.addChild(child);
  armChild(x.sa, child, x.now);
}

export const childInAuth: Task = {
  name: 'child-in-auth',
  exchanges: [ExchangeType.IKE_AUTH],
  buildRequest(x, out) {
    const conn = x.sa.connection;
    const config = conn?.childless === 'pq' ? undefined : conn?.children[0];
    if (!config) return;
    const offer = offerChild(x.sa, config, x.localTs ?? config.localTs);
    offered.set(x.sa, offer.pending);
    out.push(...offer.payloads);
  },
  processResponse(x, response) {
    const pending = offered.delete(x.sa);
    if (!pending) return;
    const err = errorNotify(response);
    const made = err ? undefined : acceptChild(x.sa, pending, response, x.now);
    if (made === undefined || typeof made === 'string') {
      const reason = err ? `refused: ${nameOf(NotifyType, err.notifyType)}` : `failed: ${made ?? ''}`;
      x.sa.event({ type: 'child-failed', sa: x.sa.id, child: pending.config.name, rekey: false, reason, ...(err ? { notify: err.notifyType } : {}) });
      return;
    }
    const child = made;
    install(x, child);
  },
  buildResponse(x, request, out) {
    const conn = x.sa.connection;
    if (!conn) return;
    if (!find(request, PayloadType.SA) && !find(request, PayloadType.TSi)) return; // childless (RFC 6023)
    if (x.childRefusal !== undefined) {
      out.push(notify(x.childRefusal.notify));
      refused(x, x.childRefusal.notify, x.childRefusal.reason);
      return;
    }
    const answer = answerChild(x.sa, conn.children, request, x.now, x.remoteTs);
    out.push(...answer.payloads);
    if (answer.refused) refused(x, answer.refused.notify, answer.refused.reason, answer.refused);
    if (answer.child) answered.set(x.sa, answer.child);
  },
  completed(x) {
    const child = answered.delete(x.sa);
    if (child) install(x, child);
  },
};
