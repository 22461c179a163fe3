/**
 * Key lengths of Child SA (ESP) algorithms, for splitting KEYMAT (RFC 7296 §2.17: for each
 * direction, the encryption key first, then the integrity key; initiator-to-responder first).
 */
import { CryptoError } from './errors.js';
import { integKeyLength } from './integ.js';

export const EspEncrIds = {
  NULL: 11,
  AES_CBC: 12,
  AES_CTR: 13,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  NULL_AUTH_AES_GMAC: 21,
  CHACHA20_POLY1305: 28,
} as const;

function aesBytes(keyBits: number | undefined): number {
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) {
    throw new CryptoError('UNSUPPORTED', `AES key length ${String(keyBits)} not supported`);
  }
  return keyBits / 8;
}

/** Octets of encryption and integrity key material for one direction of an ESP SA. */
export function espKeyLengths(encrId: number, keyBits: number | undefined, integId: number): { encr: number; integ: number } {
  let encr: number;
  let aead = false;
  switch (encrId) {
    case EspEncrIds.NULL: encr = 0; break;
    case EspEncrIds.AES_CBC: encr = aesBytes(keyBits); break;
    // RFC 3686 §5.1: AES-CTR keying material = key | 4-octet nonce.
    case EspEncrIds.AES_CTR: encr = aesBytes(keyBits) + 4; break;
    // RFC 4106 §8.1 / RFC 4543 §3.2: key | 4-octet salt.
    case EspEncrIds.AES_GCM_8:
    case EspEncrIds.AES_GCM_12:
    case EspEncrIds.AES_GCM_16:
    case EspEncrIds.NULL_AUTH_AES_GMAC:
      encr = aesBytes(keyBits) + 4; aead = true; break;
    // RFC 7634 §2: 256-bit key | 4-octet salt.
    case EspEncrIds.CHACHA20_POLY1305:
      if (keyBits !== undefined && keyBits !== 256) throw new CryptoError('UNSUPPORTED', `ChaCha20 key length ${keyBits}`);
      encr = 36; aead = true; break;
    default:
      throw new CryptoError('UNSUPPORTED', `ESP encryption algorithm ${encrId} not supported`);
  }
  if (aead && integId !== 0) throw new CryptoError('UNSUPPORTED', 'AEAD ESP cipher combined with an integrity algorithm');
  return { encr, integ: integKeyLength(integId) };
}
