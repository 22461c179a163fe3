/**
 * Stateless responder cookies (RFC 7296 §2.6): Cookie = <VersionIDofSecret> |
 * Hash(Ni | IPi | SPIi | <secret>), so a responder under load keeps no state for a request
 * until the initiator proves it can receive at its address.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../crypto/util.js';
import { addressToBytes } from './address.js';

export class CookieJar {
  private version = 0;
  private secrets: Uint8Array[];

  constructor(private readonly random: (n: number) => Uint8Array) {
    this.secrets = [random(32)];
  }

  /** Start a new secret; cookies of the previous one stay valid (RFC 7296 §2.6). */
  rotate(): void {
    this.version = (this.version + 1) & 0xff;
    this.secrets = [this.random(32), ...this.secrets.slice(0, 1)];
  }

  private compute(version: number, secret: Uint8Array, ni: Uint8Array, address: string, spiI: Uint8Array): Uint8Array {
    const h = createHash('sha256').update(ni).update(addressToBytes(address)).update(spiI).update(secret).digest();
    const out = new Uint8Array(1 + h.length);
    out[0] = version;
    out.set(h, 1);
    return out;
  }

  make(ni: Uint8Array, address: string, spiI: Uint8Array): Uint8Array {
    return this.compute(this.version, this.secrets[0] ?? new Uint8Array(32), ni, address, spiI);
  }

  check(cookie: Uint8Array, ni: Uint8Array, address: string, spiI: Uint8Array): boolean {
    const v = cookie[0];
    for (let i = 0; i < this.secrets.length; i++) {
      const ver = (this.version - i) & 0xff;
      const secret = this.secrets[i];
      if (v !== ver || !secret) continue;
      if (constantTimeEqual(cookie, this.compute(ver, secret, ni, address, spiI))) return true;
    }
    return false;
  }
}
