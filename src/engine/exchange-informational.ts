/**
 * INFORMATIONAL exchanges on an established IKE SA (RFC 7296 §1.4): liveness checks (empty
 * request, empty response) and deletion of the IKE SA. Child SA deletes and the full
 * lifecycle come with CREATE_CHILD_SA support.
 */
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { IkeSa } from './ike-sa.js';
import { notify } from './payloads.js';
import { readU32, u32 } from './util.js';

/** Responder side of an INFORMATIONAL request. */
export function handleInformationalRequest(sa: IkeSa, messageId: number, inner: readonly Payload[]): void {
  const requestKeys = sa.inKeys();
  const del = inner.find((p) => p.type === PayloadType.DELETE);
  if (del && del.type === PayloadType.DELETE && del.protocolId === ProtocolId.IKE) {
    // RFC 7296 §1.4.1: answer with an empty INFORMATIONAL response, then the SA is gone.
    sa.sendResponse(ExchangeType.INFORMATIONAL, messageId, [], requestKeys);
    sa.close('deleted by peer');
    return;
  }
  const answer: Payload[] = [];
  for (const p of inner) {
    if (p.type !== PayloadType.DELETE || p.protocolId !== ProtocolId.ESP) continue;
    // RFC 7296 §1.4.1: answer with the SPIs of our half of each deleted pair.
    const ours: Uint8Array[] = [];
    for (const spi of p.spis) {
      const child = sa.removeChildByOutboundSpi(readU32(spi));
      if (child) ours.push(u32(child.spiIn));
    }
    if (ours.length > 0) answer.push({ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.ESP, spiSize: 4, spis: ours });
  }
  sa.sendResponse(ExchangeType.INFORMATIONAL, messageId, answer, requestKeys);
}

/** Responder side of a CREATE_CHILD_SA request before it is implemented: NO_ADDITIONAL_SAS (RFC 7296 §1.3). */
export function refuseCreateChild(sa: IkeSa, messageId: number): void {
  sa.sendResponse(ExchangeType.CREATE_CHILD_SA, messageId, [notify(NotifyType.NO_ADDITIONAL_SAS)], sa.inKeys());
}

/** Initiator: delete the IKE SA (RFC 7296 §1.4.1). */
export function sendDeleteIke(sa: IkeSa, now: number): void {
  sa.state = 'deleted';
  sa.sendRequest(ExchangeType.INFORMATIONAL, [{ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }], now);
}
