/**
 * The announcements of SUPPORTED_AUTH_METHODS (RFC 9593 §3.2): each a blob of Length | Auth
 * Method [| Cert Link [| AlgorithmIdentifier]] — 2 octets for methods without public keys
 * (PSK, NULL), 3 for the classic signature methods 1, 3, 9-11, more for method 14 with the
 * DER AlgorithmIdentifier of RFC 7427. Decoding is total: an announcement we do not
 * understand is skipped (§3.2: MUST ignore), a length that does not fit ends the list.
 */
import { AuthMethod } from '../wire/constants.js';

export interface Announcement {
  readonly method: number;
  /** 0: with any CA; N: with the N-th CA of the sender's CERTREQ (§3.2.2). */
  readonly certLink: number;
  /** Method 14 only: the signature algorithm (RFC 7427 §3). */
  readonly algorithmId?: Uint8Array;
}

const TWO_OCTET: ReadonlySet<number> = new Set([AuthMethod.SHARED_KEY_MIC, AuthMethod.NULL]);
const THREE_OCTET: ReadonlySet<number> = new Set([AuthMethod.RSA_SIG, AuthMethod.DSS_SIG, AuthMethod.ECDSA_SHA256_P256, AuthMethod.ECDSA_SHA384_P384, AuthMethod.ECDSA_SHA512_P521]);

export function encodeAnnouncements(list: readonly Announcement[]): Uint8Array {
  const parts: number[] = [];
  for (const a of list) {
    if (TWO_OCTET.has(a.method)) parts.push(2, a.method);
    else if (a.method === AuthMethod.DIGITAL_SIGNATURE && a.algorithmId) {
      if (3 + a.algorithmId.length > 255) throw new Error('AlgorithmIdentifier too long for an announcement');
      parts.push(3 + a.algorithmId.length, a.method, a.certLink, ...a.algorithmId);
    } else parts.push(3, a.method, a.certLink);
  }
  return Uint8Array.from(parts);
}

export function decodeAnnouncements(data: Uint8Array): Announcement[] {
  const out: Announcement[] = [];
  let i = 0;
  while (i < data.length) {
    const len = data[i] ?? 0;
    if (len < 2 || i + len > data.length) break;
    const method = data[i + 1] ?? 0;
    if (len === 2 && TWO_OCTET.has(method)) out.push({ method, certLink: 0 });
    else if (len === 3 && THREE_OCTET.has(method)) out.push({ method, certLink: data[i + 2] ?? 0 });
    else if (len > 3 && method === AuthMethod.DIGITAL_SIGNATURE) out.push({ method, certLink: data[i + 2] ?? 0, algorithmId: Uint8Array.from(data.subarray(i + 3, i + len)) });
    i += len;
  }
  return out;
}
