/**
 * The exchanges an established IKE SA initiates, queued and run one at a time (we use a
 * window of one, RFC 7296 §2.3): new Child SAs, rekeys, deletes and liveness checks. The
 * CREATE_CHILD_SA series is tasks/ccs-series.ts.
 */
import type { ChildSa } from './child-sa.js';
import type { IkeSa } from './ike-sa.js';
import type { ChildConfig } from './types.js';
import { isCcs } from './tasks/ccs-series.js';
import type { CcsInitiator } from './tasks/ccs-series.js';

export type QueuedTask =
  | { readonly kind: 'create-child'; readonly config: ChildConfig; readonly attempt?: number }
  | { readonly kind: 'rekey-child'; readonly child: ChildSa; readonly attempt?: number }
  /**
   * postQuantum: the rekey of a childless IKE SA under the post-quantum policy (RFC 9370
   * §2.2.5.1), offering only the configured proposals with additional key exchanges.
   */
  | { readonly kind: 'rekey-ike'; readonly attempt?: number; readonly postQuantum?: boolean }
  | { readonly kind: 'delete-child'; readonly child: ChildSa }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

export type ActiveTask =
  | CcsInitiator
  | { readonly kind: 'delete-child'; readonly child: ChildSa }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

/** Queue a task unless an equivalent one is already queued or running. */
export function enqueue(sa: IkeSa, task: QueuedTask): void {
  const same = (t: QueuedTask | ActiveTask): boolean => {
    if (t.kind !== task.kind) return false;
    if ((t.kind === 'rekey-child' || t.kind === 'delete-child') && (task.kind === 'rekey-child' || task.kind === 'delete-child')) {
      const a = 'child' in t ? t.child : undefined;
      return a === task.child;
    }
    if (isCcs(t) && t.kind === 'rekey-child' && task.kind === 'rekey-child') return t.purpose.old === task.child;
    return task.kind !== 'create-child';
  };
  if (sa.tasks.some(same) || (sa.active !== undefined && same(sa.active))) return;
  // Deleting the IKE SA goes before everything else queued.
  if (task.kind === 'delete-ike') sa.tasks.unshift(task);
  else sa.tasks.push(task);
}
