/**
 * CERTREQ in IKE_SA_INIT (RFC 7296 §3.7, §1.2): the responder names the CAs it trusts (the
 * SHA-1 hashes of their public keys, encoding X.509 Signature) so that the initiator sends a
 * chain to one of them; strongSwan places it after the NAT detection notifies. The initiator's
 * CERTREQ travels in IKE_AUTH (exchange-auth.ts).
 */
import { CertEncoding, ExchangeType, PayloadType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import type { ConnectionConfig } from '../types.js';
import type { Task } from './task.js';

/** One CERTREQ with the CA hashes of these connections' peer authenticators, or none. */
export function certRequestPayload(conns: readonly ConnectionConfig[]): Payload | undefined {
  const seen = new Set<string>();
  const parts: Uint8Array[] = [];
  for (const c of conns) {
    const data = c.auth?.remote.certRequest;
    if (!data) continue;
    for (let i = 0; i + 20 <= data.length; i += 20) {
      const h = data.subarray(i, i + 20);
      const k = Buffer.from(h).toString('hex');
      if (!seen.has(k)) {
        seen.add(k);
        parts.push(h);
      }
    }
  }
  if (parts.length === 0) return undefined;
  return { type: PayloadType.CERTREQ, critical: false, encoding: CertEncoding.X509_SIGNATURE, data: Buffer.concat(parts) };
}

export const certRequest: Task = {
  name: 'cert-request',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildResponse(x, _request, out) {
    const p = certRequestPayload(x.sa.host.connections());
    if (p) out.push(p);
  },
};
