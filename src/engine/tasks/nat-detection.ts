/**
 * NAT detection in IKE_SA_INIT (RFC 7296 §2.23): NAT_DETECTION_SOURCE_IP and
 * NAT_DETECTION_DESTINATION_IP carry SHA-1(SPIs | address | port) of each end; a hash that
 * does not match says a NAT rewrote that end. Behind a NAT the initiator moves IKE to port
 * 4500 from IKE_AUTH on, and ESP is UDP-encapsulated (RFC 3948).
 */
import { ExchangeType, NotifyType, PayloadType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import type { IkeSa } from '../ike-sa.js';
import { natDetectionHash } from '../nat.js';
import { findNotify, notify } from '../payloads.js';
import type { Endpoint } from '../types.js';
import type { Task } from './task.js';

function natNotifies(spiI: Uint8Array, spiR: Uint8Array, local: Endpoint, remote: Endpoint): Payload[] {
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(spiI, spiR, local)),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(spiI, spiR, remote)),
  ];
}

function checkNat(sa: IkeSa, p: readonly Payload[]): void {
  const src = p.filter((x): x is Extract<Payload, { type: 41 }> => x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP);
  const dst = findNotify(p, NotifyType.NAT_DETECTION_DESTINATION_IP);
  if (src.length === 0 || !dst) return;
  // The request's hashes were made before SPIr was known (zero); the response's with it.
  const spiRForHash = sa.isInitiator ? sa.spiR : new Uint8Array(8);
  const expectRemote = natDetectionHash(sa.spiI, spiRForHash, sa.remote);
  const expectLocal = natDetectionHash(sa.spiI, spiRForHash, sa.local);
  sa.natRemote = !src.some((n) => Buffer.compare(n.data, expectRemote) === 0);
  sa.natLocal = Buffer.compare(dst.data, expectLocal) !== 0;
  if (sa.behindNat) sa.log('info', `NAT detected (local: ${sa.natLocal}, remote: ${sa.natRemote}): IKE moves to port 4500, ESP is UDP-encapsulated`);
}

export const natDetection: Task = {
  name: 'nat-detection',
  exchanges: [ExchangeType.IKE_SA_INIT],
  // The request's hashes use a zero SPIr: it is not known yet.
  buildRequest: ({ sa }, out) => void out.push(...natNotifies(sa.spiI, new Uint8Array(8), sa.local, sa.remote)),
  processRequest: ({ sa }, request) => checkNat(sa, request),
  buildResponse: ({ sa }, _request, out) => void out.push(...natNotifies(sa.spiI, sa.spiR, sa.local, sa.remote)),
  processResponse({ sa }, response) {
    checkNat(sa, response);
    if (sa.behindNat) sa.floatToNatT(sa.host.natTraversalPort);
  },
};
