/** NAT detection hashes (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP address | port). */
import { createHash } from 'node:crypto';
import { addressToBytes } from './address.js';
import type { Endpoint } from './types.js';
import { u16 } from './util.js';

export function natDetectionHash(spiI: Uint8Array, spiR: Uint8Array, ep: Endpoint): Uint8Array {
  return createHash('sha1').update(spiI).update(spiR).update(addressToBytes(ep.address)).update(u16(ep.port)).digest();
}
