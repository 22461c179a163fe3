/**
 * The engine's contract with a data plane (the kernel's XFRM, our userspace ESP, or the
 * recording fake): the commands it issues as outputs, and what the plane reports back as
 * inputs. In the terms of RFC 4301 §4.4: each Child SA is a pair of SAD entries (inbound and
 * outbound ESP SAs, RFC 4303) and, in tunnel mode, SPD entries (policies) tying its traffic
 * selectors to it through a request ID that stays the same when the Child SA is rekeyed.
 *
 * Make-before-break (RFC 7296 §2.8): on a rekey the new inbound SA is installed before any
 * peer could send on it; the initiator of the rekey moves its outbound traffic at once, the
 * responder only when the peer deletes the replaced SA; the replaced SAs go last.
 */
import type { TrafficSelector } from '../wire/types.js';
import type { Endpoint } from './types.js';

/** One direction of a Child SA, everything a plane needs to install it. */
export interface EspSaSpec {
  /** Connection and child names, for logs and listings. */
  readonly connection: string;
  readonly child: string;
  /** The request ID shared by the SAs and policies of one Child SA and its rekeys. */
  readonly reqid: number;
  readonly direction: 'in' | 'out';
  readonly spi: number;
  /** Outer addresses (and UDP ports when encapsulated) as the packets carry them. */
  readonly src: Endpoint;
  readonly dst: Endpoint;
  /** ESP in UDP (RFC 3948): a NAT was detected (RFC 7296 §2.23). */
  readonly encap: boolean;
  readonly mode: 'tunnel' | 'transport';
  /** ENCR transform ID (RFC 7296 §3.3.2), key length, and key material (AEAD: key | salt). */
  readonly encr: { readonly id: number; readonly keyBits?: number; readonly key: Uint8Array };
  /** INTEG transform ID and key; absent for AEAD. */
  readonly integ?: { readonly id: number; readonly key: Uint8Array };
  /** Extended sequence numbers (RFC 4303 §2.2.1). */
  readonly esn: boolean;
  /** Anti-replay window in packets (RFC 4303 §3.4.3); inbound only, 0 for outbound. */
  readonly replayWindow: number;
  /** Traffic selectors from our point of view. */
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  /**
   * Usage limits the plane enforces and reports as 'expire' inputs: soft = rekey, hard =
   * delete (the Child SA's rekey_bytes/packets, life_bytes/packets). Absent: none.
   */
  readonly limits: { readonly softBytes?: number; readonly hardBytes?: number; readonly softPackets?: number; readonly hardPackets?: number };
}

/** The policies (SPD entries) of one Child SA, or of a trap waiting for traffic. */
export interface PolicySpec {
  readonly connection: string;
  readonly child: string;
  readonly reqid: number;
  readonly mode: 'tunnel' | 'transport';
  /** Tunnel end points (outer addresses). */
  readonly local: string;
  readonly remote: string;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
}

/**
 * What the engine asks of the data plane. IkeEngine.drainDataPlane() hands them out in order;
 * the host applies them before it sends the datagrams of the same drain (so an inbound SA is
 * in place before the response that lets the peer use it). A command that fails goes back
 * to IkeEngine.dataPlaneFailed() as it is.
 */
export type DataPlaneCommand = CoreCommand | DataPlaneCommands[keyof DataPlaneCommands];

/**
 * Commands an extension adds, by op name (as TaskEvents in types.ts): a task file declares
 * `declare module '../dataplane.js' { interface DataPlaneCommands { 'op': { readonly op: 'op'; … } } }`;
 * a plane answers an op it does not know with an error, which goes back to the engine.
 */
export interface DataPlaneCommands {}

type CoreCommand =
  /** Install one direction of a Child SA. For outbound, a newer SA with the same reqid takes over the traffic. */
  | { readonly op: 'add-sa'; readonly sa: EspSaSpec }
  /** Remove one direction of a Child SA (identified as the kernel does: destination, SPI, ESP). */
  | { readonly op: 'del-sa'; readonly direction: 'in' | 'out'; readonly spi: number; readonly src: string; readonly dst: string; readonly reqid: number }
  /**
   * The peer's outer endpoint changed (a NAT mapping moved, RFC 7296 §2.23, RFC 3948): the
   * outbound SA `sa.spi`, until now towards `oldDst`, goes to `sa.dst` from now on (`sa` is its
   * full new specification).
   */
  | { readonly op: 'update-sa'; readonly sa: EspSaSpec; readonly oldDst: string }
  /** The policies of a Child SA: out, in and (tunnel) fwd. Installed once per reqid, kept across rekeys. */
  | { readonly op: 'add-policies'; readonly policy: PolicySpec }
  | { readonly op: 'del-policies'; readonly policy: PolicySpec }
  /** start_action/dpd_action/close_action trap: traffic matching it is reported as an acquire. */
  | { readonly op: 'add-trap'; readonly policy: PolicySpec }
  | { readonly op: 'del-trap'; readonly policy: PolicySpec };

/**
 * The request IDs the engine hands out: a range of our own, so that a plane can find (and
 * after a crash, remove) exactly what is ours and leave everything else alone. 2^20 − 1 of
 * them: one per Child SA, so a daemon can hold a million tunnels (the 16-bit range before ran
 * out at 65,535 Child SAs).
 */
export const REQID_FIRST = 0x50700001;
export const REQID_LAST = 0x507fffff;

/** Default anti-replay window, in packets (RFC 4303 §3.4.3: at least 32, 64 recommended). */
export const DEFAULT_REPLAY_WINDOW = 128;

/** Why a usage limit fired. */
export type ExpireKind = 'soft' | 'hard';
