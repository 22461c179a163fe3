/**
 * What the userspace plane's main thread (plane.ts) and its worker (processor.ts) tell each
 * other over the packet pump's message channel.
 */
import type { EspSaSpec } from '../../engine/dataplane.js';
import type { EspCounters } from '../esp/index.js';
import type { SpdEntry } from './spd.js';

/** Main thread → worker. */
export type WorkerMessage =
  | { readonly op: 'add-sa'; readonly sa: EspSaSpec }
  | { readonly op: 'del-sa'; readonly direction: 'in' | 'out'; readonly spi: number; readonly dst: string }
  /** New outer endpoints of an SA (the peer's NAT mapping changed, RFC 3948 §2.3 / RFC 7296 §2.23). */
  | { readonly op: 'move-sa'; readonly direction: 'in' | 'out'; readonly spi: number; readonly dst: string; readonly to: { readonly address: string; readonly port: number } }
  | { readonly op: 'policy'; readonly entry: SpdEntry }
  | { readonly op: 'del-policy'; readonly reqid: number; readonly trap: boolean }
  | { readonly op: 'stats' };

/** Why the plane dropped a packet outside an SA (each SA counts its own drops). */
export type PlaneDrops = 'no-policy' | 'no-sa' | 'unknown-spi' | 'selectors' | 'not-ip' | 'no-port';

export const PLANE_DROPS: readonly PlaneDrops[] = ['no-policy', 'no-sa', 'unknown-spi', 'selectors', 'not-ip', 'no-port'];

/** One SA's counters, with the destination that names an outbound SA. */
export type SaStats = EspCounters & { readonly dst: string; readonly reqid: number };

/** Worker → main thread. */
export type PlaneEvent =
  | { readonly op: 'expire'; readonly spi: number; readonly direction: 'in' | 'out'; readonly kind: 'soft' | 'hard'; readonly dst: string }
  | { readonly op: 'acquire'; readonly reqid: number }
  /** ESP in UDP for a NAT-T socket the worker has no fd for: the main thread sends it. */
  | { readonly op: 'send'; readonly from: string; readonly to: { readonly address: string; readonly port: number }; readonly data: Uint8Array }
  | { readonly op: 'stats'; readonly sas: readonly SaStats[]; readonly drops: Readonly<Record<PlaneDrops, number>> };
