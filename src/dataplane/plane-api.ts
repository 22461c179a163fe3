/**
 * What the daemon needs of a data plane: the Linux kernel's XFRM (xfrm/plane.ts), our own
 * userspace ESP (userspace/plane.ts) or the recording fake (fake-plane.ts). The engine issues
 * the commands (src/engine/dataplane.ts); the daemon applies them here and hands the plane's
 * reports (usage limits, acquires) back to the engine.
 */
import type dgram from 'node:dgram';
import type { DataPlaneCommand, ExpireKind } from '../engine/dataplane.js';
import type { Endpoint } from '../engine/types.js';

export type PlaneKind = 'kernel' | 'userspace' | 'fake';

/** Where a plane reports what it sees; every call comes on the daemon's event loop. */
export interface PlaneHost {
  /**
   * A usage limit of an SA fired (EspSaSpec.limits; soft: rekey, hard: delete). `peer`: the
   * SA's destination for outbound SAs (their SPIs are the peers' and may repeat across peers).
   */
  expire(spi: number, direction: 'in' | 'out', kind: ExpireKind, peer?: string): void;
  /** Traffic hit a trap policy with this request ID (RFC 4301 §4.4.1: the kernel's ACQUIRE). */
  acquire(reqid: number): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

/** What one SA carried, as the plane counts it (inner octets and packets). */
export interface SaUsage {
  readonly bytes: number;
  readonly packets: number;
  /** Inbound packets dropped on this SA, by reason (replay, integrity, ...), where counted. */
  readonly drops?: Readonly<Record<string, number>>;
}

/** How the daemon's UDP sockets are made when the plane needs a say (RFC 3948, bypass policies). */
export interface PlaneSockets {
  /** The IKE socket on address:port (kernel plane: with per-socket bypass policies). */
  ike?(address: string, port: number): Promise<dgram.Socket>;
  /** The NAT-T socket (kernel plane: UDP_ENCAP_ESPINUDP; userspace: its fd is shared with the worker). */
  natt?(address: string, port: number): Promise<dgram.Socket>;
  /** ESP in UDP that arrived on a NAT-T socket node:dgram reads (userspace plane). */
  nattPacket?(data: Buffer, from: Endpoint, local: Endpoint): void;
}

export interface DataPlane {
  readonly kind: PlaneKind;
  /** Make it ready (devices, sockets, event subscriptions; a kernel plane removes leftovers of ours). */
  start(host: PlaneHost): Promise<void>;
  /** Apply one command; the reason it failed (e.g. the kernel's error text), or undefined. Never throws. */
  apply(cmd: DataPlaneCommand): string | undefined;
  /** An inbound SPI handed out by the plane (the kernel's ALLOCSPI); undefined: the engine picks one. */
  allocateSpi?(src: string, dst: string): number | undefined;
  /** What an SA carried; undefined where the plane does not count (the fake). */
  usage(spi: number, direction: 'in' | 'out', dst?: string): SaUsage | undefined;
  /** Packets the plane dropped outside any SA (no policy, unknown SPI, ...), by reason. */
  drops(): Readonly<Record<string, number>>;
  readonly sockets?: PlaneSockets;
  /** Remove everything of ours it holds and release it (shutdown). */
  close(): Promise<void>;
}
