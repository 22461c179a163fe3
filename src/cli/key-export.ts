/**
 * The explicit key-export option: IKE and ESP keys in Wireshark's `ikev2_decryption_table`
 * and `esp_sa` formats, one line per key stage (RFC 9370 changes the keys of one SPI pair
 * after every IKE_INTERMEDIATE, Wireshark keeps one line per SPI pair: a later line replaces an
 * earlier one when loaded). The file is created with mode 0600.
 */
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { EncrId, IntegId } from '../wire/constants.js';
import type { ChildSaInfo, EngineEvent } from '../engine/types.js';
import { hex } from '../engine/util.js';

type IkeKeys = Extract<EngineEvent, { type: 'ike-keys' }>;


/** Wireshark's names for IKEv2 SK ciphers (packet-isakmp.c UAT); undefined if it has none. */
function ikeEncrName(id: number, keyBits: number | undefined): string | undefined {
  if (id === EncrId.AES_CBC) return `AES-CBC-${keyBits ?? 128} [RFC3602]`;
  const icv = id === EncrId.AES_GCM_8 ? 8 : id === EncrId.AES_GCM_12 ? 12 : id === EncrId.AES_GCM_16 ? 16 : undefined;
  if (icv !== undefined) return `AES-GCM-${keyBits ?? 128} with ${icv} octet ICV [RFC5282]`;
  return undefined;
}

function ikeIntegName(id: number): string | undefined {
  switch (id) {
    case IntegId.NONE:
      return 'NONE [RFC4306]';
    case IntegId.HMAC_SHA2_256_128:
      return 'HMAC_SHA2_256_128 [RFC4868]';
    case IntegId.HMAC_SHA2_384_192:
      return 'HMAC_SHA2_384_192 [RFC4868]';
    case IntegId.HMAC_SHA2_512_256:
      return 'HMAC_SHA2_512_256 [RFC4868]';
    default:
      return undefined;
  }
}

/** One `ikev2_decryption_table` line: SPIi,SPIr,SK_ei,SK_er,"encr",SK_ai,SK_ar,"integ". */
export function ikeDecryptionLine(k: IkeKeys): string | undefined {
  const encr = ikeEncrName(k.encr.id, k.encr.keyBits);
  const integ = ikeIntegName(k.integ);
  if (!encr || !integ) return undefined;
  return [k.spiI, k.spiR, hex(k.skEi), hex(k.skEr), `"${encr}"`, hex(k.skAi), hex(k.skAr), `"${integ}"`].join(',');
}

function espNames(c: ChildSaInfo): { encr: string; integ: string } | undefined {
  if (c.encr.id === EncrId.AES_GCM_16) return { encr: 'AES-GCM [RFC4106]', integ: 'ANY 128 bit authentication [no checking]' };
  if (c.encr.id === EncrId.AES_CBC) {
    const integ = c.integ === IntegId.HMAC_SHA2_256_128 ? 'HMAC-SHA-256-128 [RFC4868]' : c.integ === IntegId.HMAC_SHA2_384_192 ? 'HMAC-SHA-384-192 [RFC4868]' : c.integ === IntegId.HMAC_SHA2_512_256 ? 'HMAC-SHA-512-256 [RFC4868]' : undefined;
    return integ ? { encr: 'AES-CBC [RFC3602]', integ } : undefined;
  }
  return undefined;
}

/**
 * The two `esp_sa` lines of a Child SA (one per direction): "IPv4","src","dst","0xSPI",
 * "encr","0xkey","integ","0xkey". `local`/`remote` are the IKE (tunnel) addresses.
 */
export function espSaLines(c: ChildSaInfo, local: string, remote: string): string[] {
  const names = espNames(c);
  if (!names) return [];
  const family = local.includes(':') ? 'IPv6' : 'IPv4';
  // RFC 7296 §2.17: the first keys protect traffic from the exchange initiator.
  const outKeys = c.initiator ? { e: c.keys.encrI, a: c.keys.integI } : { e: c.keys.encrR, a: c.keys.integR };
  const inKeys = c.initiator ? { e: c.keys.encrR, a: c.keys.integR } : { e: c.keys.encrI, a: c.keys.integI };
  const line = (src: string, dst: string, spi: number, k: { e: Uint8Array; a: Uint8Array }): string =>
    [`"${family}"`, `"${src}"`, `"${dst}"`, `"0x${spi.toString(16).padStart(8, '0')}"`, `"${names.encr}"`, `"0x${hex(k.e)}"`, `"${names.integ}"`, `"0x${hex(k.a)}"`].join(',');
  return [line(local, remote, c.spiOut, outKeys), line(remote, local, c.spiIn, inKeys)];
}

/** Appends key lines to `<path>` (IKE) and `<path>.esp_sa` (ESP), files created 0600. */
export class KeyExporter {
  constructor(private readonly path: string) {
    for (const p of [path, `${path}.esp_sa`]) closeSync(openSync(p, 'a', 0o600));
  }

  /** Feed every engine event; writes the ones that carry keys. */
  onEvent(e: EngineEvent, local: string, remote: string): void {
    if (e.type === 'ike-keys') {
      const line = ikeDecryptionLine(e);
      if (line) appendFileSync(this.path, `${line}\n`, { mode: 0o600 });
    } else if (e.type === 'child-up') {
      const lines = espSaLines(e.child, local, remote);
      if (lines.length > 0) appendFileSync(`${this.path}.esp_sa`, `${lines.join('\n')}\n`, { mode: 0o600 });
    }
  }
}
