/** What engine events say about the end of an IKE SA, for the daemon's per-SA tables. */
import type { EngineEvent } from '../engine/types.js';

/**
 * The IKE SA that `e` ends and why: deleted (RFC 7296 §1.4.1) or failed. An SA replaced by a
 * rekey (§2.18) is not ended by 'ike-rekeyed': it lives on until its own delete, which ends it.
 */
export function endedSa(e: EngineEvent): { readonly sa: number; readonly reason: string } | undefined {
  if (e.type === 'ike-down') return { sa: e.sa, reason: `closed: ${e.reason}` };
  if (e.type === 'ike-failed') return { sa: e.sa, reason: `failed: ${e.reason}` };
  return undefined;
}
