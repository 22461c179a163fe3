/**
 * UDP encapsulation of ESP (RFC 3948) on port 4500: what a datagram on that port carries.
 *
 *  - ESP (§2.1): the UDP payload is the ESP packet itself, from the SPI on; the SPI is never 0.
 *  - IKE (§2.2): a Non-ESP Marker (4 zero octets, where the SPI would be), then the IKE message.
 *  - NAT-keepalive (§2.3): exactly one octet, 0xFF; the receiver ignores it.
 *
 * Anything else (shorter than an ESP header, a zero marker without room for it) is invalid.
 * Sending needs no framing beyond the UDP socket's own header: the payload of an ESP-in-UDP
 * datagram is what EspOutboundSa.sealInto() writes.
 */

/** The IKE / ESP-in-UDP port (RFC 3948 §2, RFC 7296 §2.23). */
export const UDP_ENCAP_PORT = 4500;

/** RFC 3948 §2.2: prepended to IKE messages on port 4500. */
export const NON_ESP_MARKER: Uint8Array = new Uint8Array(4);

/** RFC 3948 §2.3: the whole payload of a NAT-keepalive. */
export const NAT_KEEPALIVE: Uint8Array = Uint8Array.of(0xff);

export type Udp4500Kind = 'esp' | 'ike' | 'keepalive' | 'invalid';

/**
 * What a UDP payload received on port 4500 is. For 'esp' the payload is the ESP packet
 * (espSpi() reads its SPI); for 'ike' the IKE message starts at offset 4 (NON_ESP_MARKER).
 */
export function classifyUdp4500(payload: Uint8Array): Udp4500Kind {
  const n = payload.length;
  if (n === 1) return payload[0] === 0xff ? 'keepalive' : 'invalid';
  if (n < 4) return 'invalid';
  if ((payload[0]! | payload[1]! | payload[2]! | payload[3]!) === 0) return n > 4 ? 'ike' : 'invalid';
  // SPI and Sequence Number at least (RFC 4303 §2); the SA decides whether the rest is enough.
  return n >= 8 ? 'esp' : 'invalid';
}

/** The SPI of an ESP packet (its first 4 octets, big-endian), or 0 if it is too short. */
export function espSpi(packet: Uint8Array): number {
  if (packet.length < 8) return 0;
  return ((packet[0]! << 24) | (packet[1]! << 16) | (packet[2]! << 8) | packet[3]!) >>> 0;
}
