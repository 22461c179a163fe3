/**
 * An address pool for virtual IPs (RFC 7296 §3.15, strongSwan's `pools`): a CIDR prefix or a
 * range. A lease stays with its identity: after its IKE SA ends the address waits (offline)
 * for that peer to come back until the pool needs it for someone else (the oldest offline
 * lease is reused first). State is bounded by the pool's size; addresses
 * are counted, never listed, so a /8 costs nothing until it is used.
 */
import { addressToBytes, bytesToAddress } from '../address.js';
import { bigFromBytes, bytesFromBig } from '../../wire/bytes.js';

export class PoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolError';
  }
}

function fromBig(v: bigint, len: number): string {
  return bytesToAddress(bytesFromBig(v, len));
}

interface Lease {
  readonly identity: string;
  /** IKE SAs holding it; 0: offline (kept for its identity). */
  holders: number;
}

export class AddressPool {
  readonly family: 4 | 6;
  private readonly first: bigint;
  /** Addresses in the pool. */
  readonly size: number;
  /** The leases, shared with the pools made from this one by withDns(). */
  private readonly st: {
    /** Offsets handed out so far, in order; below it, only released ones are free. */
    next: number;
    /** Every lease, online or offline, by address. */
    readonly leases: Map<string, Lease>;
    /** Offline leases, oldest first (Map keeps insertion order): address -> identity. */
    readonly offline: Map<string, string>;
  } = { next: 0, leases: new Map(), offline: new Map() };

  /**
   * `addrs`: a prefix (10.3.0.0/24: the network and broadcast addresses are not handed out,
   * as strongSwan does; /31, /32 and IPv6 keep all but the all-zero host) or a range
   * `10.3.0.10-10.3.0.20`. `dns`: servers for the peers (INTERNAL_IP4/6_DNS).
   */
  /** `sharing`: a pool of the same addresses whose leases this one shares (withDns). */
  constructor(readonly name: string, readonly addrs: string, readonly dns: readonly string[] = [], sharing?: AddressPool) {
    if (sharing) this.st = sharing.st;
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
        const base = (bigFromBytes(start) >> host) << host;
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
    const n = bigFromBytes(end) - bigFromBytes(start) + 1n;
    if (n < 1n) throw new PoolError(`pool '${name}': empty range '${addrs}'`);
    this.family = start.length === 4 ? 4 : 6;
    this.first = bigFromBytes(start);
    // More than 2^24 addresses makes no difference to anyone: cap the count.
    this.size = n > 1n << 24n ? 1 << 24 : Number(n);
    for (const d of dns) addressToBytes(d); // throws AddressError on a bad one
  }

  /**
   * The same pool (the same addresses and leases) handing out other DNS servers: what a
   * configuration reload that changes only `dns` makes, so that no address is leased twice.
   */
  withDns(dns: readonly string[]): AddressPool {
    return new AddressPool(this.name, this.addrs, dns, this);
  }

  /** Addresses held by an IKE SA now. */
  get online(): number {
    return this.st.leases.size - this.st.offline.size;
  }

  private address(offset: number): string {
    return fromBig(this.first + BigInt(offset), this.family === 4 ? 4 : 16);
  }

  /**
   * An address for `identity`, as strongSwan's mem_pool gives them out: the address it asks
   * for if that is its own lease (online: another IKE SA of the same peer, a reauthentication)
   * or free; else an offline lease of its own; else a fresh address; else the oldest offline
   * lease of anyone. An identity's online address goes to a second IKE SA only when asked for
   * by it: one peer claiming another's identity cannot take over its traffic selector.
   * undefined: the pool is exhausted.
   */
  lease(identity: string, requested?: string): string | undefined {
    if (requested !== undefined && this.contains(requested)) {
      const l = this.st.leases.get(requested);
      if (l === undefined) return this.take(requested, identity);
      if (l.identity === identity) return this.hold(requested, l);
    }
    for (const [address, who] of this.st.offline) {
      if (who !== identity) continue;
      const l = this.st.leases.get(address);
      if (l) return this.hold(address, l);
    }
    while (this.st.next < this.size) {
      const a = this.address(this.st.next++);
      if (!this.st.leases.has(a)) return this.take(a, identity);
    }
    const oldest = this.st.offline.keys().next();
    if (oldest.done === true) return undefined;
    this.st.offline.delete(oldest.value);
    this.st.leases.delete(oldest.value);
    return this.take(oldest.value, identity);
  }

  private take(address: string, identity: string): string {
    this.st.leases.set(address, { identity, holders: 1 });
    return address;
  }

  private hold(address: string, l: Lease): string {
    if (l.holders === 0) this.st.offline.delete(address);
    l.holders++;
    return address;
  }

  /** One IKE SA let `address` go; the last one makes the lease offline (kept for its identity). */
  release(address: string): void {
    const l = this.st.leases.get(address);
    if (!l || l.holders === 0) return;
    if (--l.holders === 0) this.st.offline.set(address, l.identity);
  }

  contains(address: string): boolean {
    let b: Uint8Array;
    try {
      b = addressToBytes(address);
    } catch {
      return false;
    }
    if (b.length !== (this.family === 4 ? 4 : 16)) return false;
    const off = bigFromBytes(b) - this.first;
    return off >= 0n && off < BigInt(this.size);
  }
}
