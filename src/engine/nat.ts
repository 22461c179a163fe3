/** NAT detection hashes (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP address | port). */
import { hash } from 'node:crypto';
import { addressToBytes } from './address.js';
import type { Endpoint } from './types.js';

/** One buffer and one-shot hash: four per handshake on each side, each update() a call into C++. */
export function natDetectionHash(spiI: Uint8Array, spiR: Uint8Array, ep: Endpoint): Uint8Array {
  const ip = addressToBytes(ep.address);
  const input = Buffer.allocUnsafe(spiI.length + spiR.length + ip.length + 2);
  input.set(spiI, 0);
  input.set(spiR, spiI.length);
  input.set(ip, spiI.length + spiR.length);
  input.writeUInt16BE(ep.port, input.length - 2);
  return hash('sha1', input, 'buffer');
}
