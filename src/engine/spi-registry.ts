/**
 * The ESP SPIs of every Child SA of an engine. Our inbound SPIs must be unique on this host
 * (RFC 4301 §4.1: the SPI selects the inbound SA); a peer's SPIs must be unique per peer
 * address, as the kernel keys its outbound SAs by (destination, SPI, protocol) — two Child SAs
 * that share one break both (the bug class of CVE-2023-38710).
 */
import type { ChildSa } from './child-sa.js';

export class SpiRegistry {
  private readonly inbound = new Map<number, ChildSa>();
  private readonly outbound = new Map<string, ChildSa>();
  private readonly keyOf = new WeakMap<ChildSa, string>();

  add(child: ChildSa, peerAddress: string): void {
    const key = `${peerAddress}/${child.info.spiOut}`;
    this.inbound.set(child.info.spiIn, child);
    this.outbound.set(key, child);
    this.keyOf.set(child, key);
  }

  remove(child: ChildSa): void {
    if (this.inbound.get(child.info.spiIn) === child) this.inbound.delete(child.info.spiIn);
    const key = this.keyOf.get(child);
    if (key !== undefined && this.outbound.get(key) === child) this.outbound.delete(key);
  }

  inboundInUse(spi: number): boolean {
    return this.inbound.has(spi);
  }

  outboundInUse(peerAddress: string, spi: number): boolean {
    return this.outbound.has(`${peerAddress}/${spi}`);
  }
}
