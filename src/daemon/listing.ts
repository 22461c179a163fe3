/** JSON-safe views of SAs for the control socket and `--json` output (no key material). */
import { hex32 } from '../engine/util.js';
import { describeTransform, keMethodName } from '../engine/describe.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import type { PpkExchange, SaListing } from '../engine/types.js';
import type { SaUsage } from '../dataplane/plane-api.js';

export interface ChildView {
  readonly name: string;
  readonly state: string;
  readonly mode: string;
  readonly encap: boolean;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly encryption: string;
  readonly integrity?: string;
  readonly keyExchanges: readonly string[];
  readonly rekeyOf?: string;
  /** The PPK_ID of a fresh PPK its CREATE_CHILD_SA mixed in (RFC 9867 §3.2), never the key. */
  readonly ppk?: string;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly ageMs: number;
  readonly rekeyInMs?: number;
  readonly expireInMs?: number;
  /**
   * Inner octets and packets through each direction, as the data plane counts them (null: this
   * plane does not count, the fake); the names of swanctl --list-sas.
   */
  readonly bytesIn: number | null;
  readonly bytesOut: number | null;
  readonly packetsIn: number | null;
  readonly packetsOut: number | null;
  /** Inbound packets dropped on this Child SA, by reason (replay, integrity, ...), where counted. */
  readonly drops?: Readonly<Record<string, number>>;
}

/** What the data plane counted for one Child SA's two SAs. */
export interface ChildUsage {
  readonly in?: SaUsage | undefined;
  readonly out?: SaUsage | undefined;
}

export interface SaView {
  readonly id: number;
  readonly connection: string;
  readonly role: string;
  readonly state: string;
  readonly local: string;
  readonly remote: string;
  readonly localId: string;
  readonly remoteId: string;
  readonly spiI: string;
  readonly spiR: string;
  readonly suite: string | null;
  readonly keyExchanges: readonly string[];
  /** The PPK_ID of the post-quantum preshared key in the keys (RFC 8784, RFC 9867), never the key, and the exchange that mixed it in. */
  readonly ppk?: string;
  readonly ppkExchange?: PpkExchange;
  readonly establishedForMs?: number;
  readonly rekeyInMs?: number;
  readonly expireInMs?: number;
  readonly children: readonly ChildView[];
}

const ep = (e: { address: string; port: number }): string => `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;

/** `usage(spiIn, spiOut, peer address)`: the plane's counters of a Child SA. */
export function toView(l: SaListing, usage: (spiIn: number, spiOut: number, peer: string) => ChildUsage | undefined = () => undefined): SaView {
  const s = l.ike;
  return {
    id: s.id,
    connection: s.connection,
    role: s.role,
    state: s.state,
    local: ep(s.local),
    remote: ep(s.remote),
    localId: s.localId,
    remoteId: s.remoteId,
    spiI: s.spiI,
    spiR: s.spiR,
    suite: s.suite ?? null,
    keyExchanges: s.keMethods.map(keMethodName),
    ...(s.ppk === undefined ? {} : { ppk: s.ppk }),
    ...(s.ppkExchange === undefined ? {} : { ppkExchange: s.ppkExchange }),
    ...(l.establishedForMs === undefined ? {} : { establishedForMs: l.establishedForMs }),
    ...(l.rekeyInMs === undefined ? {} : { rekeyInMs: l.rekeyInMs }),
    ...(l.expireInMs === undefined ? {} : { expireInMs: l.expireInMs }),
    children: l.children.map((c) => {
      const ch = c.child;
      const u = usage(ch.spiIn, ch.spiOut, s.remote.address);
      const drops = u?.in?.drops;
      return {
        name: ch.name,
        state: c.state,
        mode: ch.mode,
        encap: ch.encap,
        spiIn: hex32(ch.spiIn),
        spiOut: hex32(ch.spiOut),
        encryption: describeTransform(1, ch.encr.id, ch.encr.keyBits),
        ...(ch.integ === undefined ? {} : { integrity: describeTransform(3, ch.integ) }),
        keyExchanges: ch.keMethods.map(keMethodName),
        ...(ch.rekeyOf === undefined ? {} : { rekeyOf: hex32(ch.rekeyOf) }),
        ...(ch.ppk === undefined ? {} : { ppk: ch.ppk }),
        localTs: ch.localTs.map(formatSelector),
        remoteTs: ch.remoteTs.map(formatSelector),
        ageMs: c.ageMs,
        ...(c.rekeyInMs === undefined ? {} : { rekeyInMs: c.rekeyInMs }),
        ...(c.expireInMs === undefined ? {} : { expireInMs: c.expireInMs }),
        bytesIn: u?.in?.bytes ?? null,
        bytesOut: u?.out?.bytes ?? null,
        packetsIn: u?.in?.packets ?? null,
        packetsOut: u?.out?.packets ?? null,
        ...(drops && Object.values(drops).some((n) => n > 0) ? { drops } : {}),
      };
    }),
  };
}
