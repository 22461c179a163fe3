/**
 * SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT (RFC 7427 §4): the hashes we verify the peer's
 * signatures with — those of the configured peer authenticators (src/auth/pubkey.ts: SHA2-256,
 * SHA2-384, SHA2-512 and the Identity "hash" of RFC 8420 for EdDSA and ML-DSA), and as
 * strongSwan does, the same list where only pre-shared keys are configured: the responder does
 * not know the connection yet, and the engine verifies them all — and the peer's, which our
 * own signature must use. A responder answers only a peer that announced its own.
 */
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import type { ConnectionConfig } from '../types.js';
import { VERIFIED_HASHES } from '../../auth/pubkey.js';
import { findNotify, notify } from '../payloads.js';
import type { Task, TaskExchange } from './task.js';

function encode(hashes: Iterable<number>): Uint8Array {
  const list = [...new Set(hashes)];
  const out = new Uint8Array(list.length * 2);
  list.forEach((h, i) => {
    out[2 * i] = h >> 8;
    out[2 * i + 1] = h & 0xff;
  });
  return out;
}

/** The 16-bit hash IDs of the notify (a trailing odd octet is ignored). */
function decode(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) out.push(((data[i] ?? 0) << 8) | (data[i + 1] ?? 0));
  return out;
}

function ours(conns: readonly ConnectionConfig[]): readonly number[] {
  // An authenticator that lists none (an empty list) announces none.
  const lists = conns.map((c) => c.auth?.remote.signatureHashes).filter((l): l is readonly number[] => l !== undefined);
  return lists.length > 0 ? lists.flat() : VERIFIED_HASHES;
}

function remember(x: TaskExchange, payloads: readonly Payload[]): void {
  const n = findNotify(payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS);
  if (n && x.sa.setup) x.sa.setup.peerHashes = decode(n.data);
}

export const signatureHashes: Task = {
  name: 'signature-hashes',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildRequest(x, out) {
    const hashes = ours(x.sa.connection ? [x.sa.connection] : []);
    if (hashes.length > 0) out.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, encode(hashes)));
  },
  processRequest: remember,
  buildResponse(x, request, out) {
    // The responder does not know the connection yet: what any of them verifies.
    const hashes = ours(x.sa.host.connections());
    if (hashes.length > 0 && findNotify(request, NotifyType.SIGNATURE_HASH_ALGORITHMS)) out.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, encode(hashes)));
  },
  processResponse: remember,
};
