/**
 * INFORMATIONAL exchanges (RFC 7296 §1.4): deleting Child SAs and the IKE SA, and liveness
 * checks (an empty request, §2.4), in both roles.
 */
import { ExchangeType, PayloadType, ProtocolId } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { ChildSa } from './child-sa.js';
import type { IkeSa } from './ike-sa.js';
import { enqueue } from './tasks.js';
import { readU32, u32 } from './util.js';

/** Responder side of an INFORMATIONAL request. */
export function handleInformationalRequest(sa: IkeSa, messageId: number, inner: readonly Payload[]): void {
  const requestKeys = sa.inKeys();
  if (inner.some((p) => p.type === PayloadType.DELETE && p.protocolId === ProtocolId.IKE)) {
    // RFC 7296 §1.4.1: answer with an empty INFORMATIONAL response, then the SA is gone.
    sa.sendResponse(ExchangeType.INFORMATIONAL, messageId, [], requestKeys);
    if (sa.state === 'rekeyed') sa.close('replaced by rekey');
    else sa.close('deleted by peer', 'peer-deleted');
    return;
  }
  const answer: Payload[] = [];
  for (const p of inner) {
    if (p.type !== PayloadType.DELETE || p.protocolId !== ProtocolId.ESP) continue;
    // RFC 7296 §1.4.1: answer with the SPIs of our half of each deleted pair — except for
    // pairs we are deleting ourselves at the same moment.
    const ours: Uint8Array[] = [];
    for (const spi of p.spis) {
      const child = sa.findChildByOutboundSpi(readU32(spi));
      if (!child) continue;
      if (child.state !== 'deleting') ours.push(u32(child.info.spiIn));
      const closed = child.state === 'installed'; // not the old SA of a rekey, not one we delete too
      sa.removeChild(child, 'deleted by peer');
      if (closed) afterPeerClosed(sa, child);
    }
    if (ours.length > 0) answer.push({ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.ESP, spiSize: 4, spis: ours });
  }
  sa.sendResponse(ExchangeType.INFORMATIONAL, messageId, answer, requestKeys);
}

/** The peer deleted a Child SA on its own: its close_action (strongSwan swanctl.conf). */
function afterPeerClosed(sa: IkeSa, child: ChildSa): void {
  const action = child.config.closeAction ?? 'none';
  if (action === 'start') {
    sa.log('info', `Child SA '${child.config.name}' closed by the peer: close_action start, creating it again`);
    enqueue(sa, { kind: 'create-child', config: child.config });
  } else if (action === 'trap') {
    sa.event({ type: 'trap', connection: sa.connection?.name ?? '', child: child.config.name, reason: 'closed by the peer (close_action trap)' });
    sa.host.trapChild(sa.connection?.name ?? '', child.config.name);
  }
}

/** Initiator side: the response to our INFORMATIONAL request. */
export function handleInformationalResponse(sa: IkeSa): void {
  const active = sa.active;
  sa.outstanding = undefined;
  sa.active = undefined;
  if (!active) return;
  if (active.kind === 'delete-ike') sa.close(sa.state === 'rekeyed' ? 'replaced by rekey' : 'deleted');
  else if (active.kind === 'delete-child') sa.removeChild(active.child, active.child.state === 'rekeyed' ? 'rekeyed' : 'deleted');
}

export function startDeleteChild(sa: IkeSa, child: ChildSa, now: number): void {
  if (!sa.children.includes(child)) return;
  child.state = 'deleting';
  sa.active = { kind: 'delete-child', child };
  sa.sendRequest(ExchangeType.INFORMATIONAL, [{ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(child.info.spiIn)] }], now);
}

export function startDeleteIke(sa: IkeSa, now: number): void {
  sa.active = { kind: 'delete-ike' };
  sa.sendRequest(ExchangeType.INFORMATIONAL, [{ type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }], now);
}

/** RFC 7296 §2.4: an empty INFORMATIONAL request; no answer after the retransmissions = dead peer. */
export function startDpd(sa: IkeSa, now: number): void {
  sa.active = { kind: 'dpd' };
  sa.sendRequest(ExchangeType.INFORMATIONAL, [], now);
}
