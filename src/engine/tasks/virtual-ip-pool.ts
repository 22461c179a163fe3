/**
 * An address pool for virtual IPs (RFC 7296 §3.15, strongSwan's `pools`): a CIDR prefix or a
 * range, handed out one address per peer identity. A lease stays with its identity: the same
 * peer asking again (another IKE SA, a reconnect) gets the same address while it is online,
 * and after it went offline the address waits for it until the pool needs it for someone else
 * (the oldest offline lease is reused first). State is bounded by the pool's size; addresses
 * are counted, never listed, so a /8 costs nothing until it is used.
 */
import { addressToBytes, bytesToAddress } from '../address.js';

export class PoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolError';
  }
}

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function fromBig(v: bigint, len: number): string {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytesToAddress(out);
}

interface Lease {
  readonly address: string;
  /** IKE SAs of the identity holding it; 0: offline (kept for the identity). */
  holders: number;
}

export class AddressPool {
  readonly family: 4 | 6;
  private readonly first: bigint;
  /** Addresses in the pool. */
  readonly size: number;
  /** Offsets handed out so far, in order; below it, only released ones are free. */
  private next = 0;
  private readonly byIdentity = new Map<string, Lease>();
  private readonly byAddress = new Map<string, string>();
  /** Offline leases, oldest first (Map keeps insertion order). */
  private readonly offline = new Map<string, Lease>();

  /**
   * `addrs`: a prefix (10.3.0.0/24: the network and broadcast addresses are not handed out,
   * as strongSwan does; /31, /32 and IPv6 keep all but the all-zero host) or a range
   * `10.3.0.10-10.3.0.20`. `dns`: servers for the peers (INTERNAL_IP4/6_DNS).
   */
  constructor(readonly name: string, readonly addrs: string, readonly dns: readonly string[] = []) {
    let start: Uint8Array;
    let end: Uint8Array;
    try {
      const range = addrs.split('-');
      if (range.length === 2) {
        start = addressToBytes((range[0] ?? '').trim());
        end = addressToBytes((range[1] ?? '').trim());
      } else {
        const [net, bitsText] = addrs.split('/');
        start = addressToBytes(net ?? '');
        const bits = bitsText === undefined ? start.length * 8 : Number(bitsText);
        if (!Number.isInteger(bits) || bits < 0 || bits > start.length * 8) throw new PoolError(`pool '${name}': bad prefix length in '${addrs}'`);
        const host = BigInt(start.length * 8 - bits);
        const base = (toBig(start) >> host) << host;
        start = addressToBytes(fromBig(base, start.length));
        end = addressToBytes(fromBig(base + (1n << host) - 1n, start.length));
        if (host >= 2n) {
          // Not the network address; for IPv4 not the broadcast address either.
          start = addressToBytes(fromBig(base + 1n, start.length));
          if (start.length === 4) end = addressToBytes(fromBig(base + (1n << host) - 2n, 4));
        }
      }
    } catch (e) {
      if (e instanceof PoolError) throw e;
      throw new PoolError(`pool '${name}': '${addrs}' is neither a prefix nor a range of addresses`);
    }
    if (start.length !== end.length) throw new PoolError(`pool '${name}': range mixes IPv4 and IPv6`);
    const n = toBig(end) - toBig(start) + 1n;
    if (n < 1n) throw new PoolError(`pool '${name}': empty range '${addrs}'`);
    this.family = start.length === 4 ? 4 : 6;
    this.first = toBig(start);
    // More than 2^24 addresses makes no difference to anyone: cap the count.
    this.size = n > 1n << 24n ? 1 << 24 : Number(n);
    for (const d of dns) addressToBytes(d); // throws AddressError on a bad one
  }

  /** Addresses leased to an online identity now. */
  get online(): number {
    return this.byIdentity.size - this.offline.size;
  }

  private address(offset: number): string {
    return fromBig(this.first + BigInt(offset), this.family === 4 ? 4 : 16);
  }

  /**
   * An address for `identity`: the one it holds or held, else `requested` if it is ours and
   * free, else a fresh one, else the oldest offline lease. undefined: the pool is exhausted.
   */
  lease(identity: string, requested?: string): string | undefined {
    const held = this.byIdentity.get(identity);
    if (held) {
      if (held.holders === 0) this.offline.delete(identity);
      held.holders++;
      return held.address;
    }
    let address: string | undefined;
    if (requested !== undefined && this.contains(requested) && !this.byAddress.has(requested)) address = requested;
    if (address === undefined && this.next < this.size) {
      while (this.next < this.size && address === undefined) {
        const a = this.address(this.next++);
        if (!this.byAddress.has(a)) address = a;
      }
    }
    if (address === undefined) {
      const oldest = this.offline.keys().next();
      if (oldest.done === true) return undefined;
      const lost = this.byIdentity.get(oldest.value);
      this.offline.delete(oldest.value);
      this.byIdentity.delete(oldest.value);
      if (!lost) return undefined;
      this.byAddress.delete(lost.address);
      address = lost.address;
    }
    this.byIdentity.set(identity, { address, holders: 1 });
    this.byAddress.set(address, identity);
    return address;
  }

  /** One IKE SA of `identity` let its address go; the last one makes the lease offline. */
  release(identity: string): void {
    const l = this.byIdentity.get(identity);
    if (!l || l.holders === 0) return;
    if (--l.holders === 0) this.offline.set(identity, l);
  }

  contains(address: string): boolean {
    let b: Uint8Array;
    try {
      b = addressToBytes(address);
    } catch {
      return false;
    }
    if (b.length !== (this.family === 4 ? 4 : 16)) return false;
    const off = toBig(b) - this.first;
    return off >= 0n && off < BigInt(this.size);
  }
}
