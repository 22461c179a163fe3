/**
 * Every Child SA of an engine, by what must stay unique. Our inbound SPIs on this host (RFC
 * 4301 §4.1: the SPI selects the inbound SA); a peer's SPIs per peer address, as the kernel
 * keys its outbound SAs by (destination, SPI, protocol) — two Child SAs that share one break
 * both (the bug class of CVE-2023-38710); and the request IDs the data plane ties SAs and
 * policies by.
 */
import type { ChildSa } from './child-sa.js';

export class ChildRegistry {
  private readonly inbound = new Map<number, ChildSa>();
  private readonly outbound = new Map<string, ChildSa>();
  private readonly keyOf = new WeakMap<ChildSa, string>();
  private readonly reqids = new Map<number, number>();

  add(child: ChildSa, peerAddress: string): void {
    const key = `${peerAddress}/${child.info.spiOut}`;
    this.inbound.set(child.info.spiIn, child);
    this.outbound.set(key, child);
    this.keyOf.set(child, key);
    this.reqids.set(child.reqid, (this.reqids.get(child.reqid) ?? 0) + 1);
  }

  remove(child: ChildSa): void {
    const key = this.keyOf.get(child);
    if (key === undefined) return;
    if (this.inbound.get(child.info.spiIn) === child) this.inbound.delete(child.info.spiIn);
    if (this.outbound.get(key) === child) this.outbound.delete(key);
    this.keyOf.delete(child);
    const n = (this.reqids.get(child.reqid) ?? 1) - 1;
    if (n > 0) this.reqids.set(child.reqid, n);
    else this.reqids.delete(child.reqid);
  }

  inboundInUse(spi: number): boolean {
    return this.inbound.has(spi);
  }

  outboundInUse(peerAddress: string, spi: number): boolean {
    return this.outbound.has(`${peerAddress}/${spi}`);
  }

  reqidInUse(reqid: number): boolean {
    return this.reqids.has(reqid);
  }

  /** The Child SA whose inbound SPI this is. */
  byInbound(spi: number): ChildSa | undefined {
    return this.inbound.get(spi);
  }

  /** The Child SA that sends to this peer address with this SPI. */
  byOutbound(peerAddress: string, spi: number): ChildSa | undefined {
    return this.outbound.get(`${peerAddress}/${spi}`);
  }
}
