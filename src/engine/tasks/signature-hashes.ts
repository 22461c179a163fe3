/**
 * SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT (RFC 7427 §4): the hash algorithms we accept in
 * digital signatures; a responder answers only a peer that announced its own.
 */
import { ExchangeType, HashAlgorithm, NotifyType } from '../../wire/constants.js';
import { findNotify, notify } from '../payloads.js';
import type { Task } from './task.js';

/** SHA2-256/384/512, as 16-bit IDs (RFC 7427 §4, IANA "IKEv2 Hash Algorithms"). */
const SIGNATURE_HASHES = Uint8Array.of(0, HashAlgorithm.SHA2_256, 0, HashAlgorithm.SHA2_384, 0, HashAlgorithm.SHA2_512);

export const signatureHashes: Task = {
  name: 'signature-hashes',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest: (_x, out) => void out.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES)),
  buildResponse(_x, request, out) {
    if (findNotify(request, NotifyType.SIGNATURE_HASH_ALGORITHMS)) out.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES));
  },
};
