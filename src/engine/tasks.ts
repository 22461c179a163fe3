/**
 * The exchanges an established IKE SA initiates, queued and run one at a time (we use a
 * window of one, RFC 7296 §2.3): new Child SAs, rekeys, deletes and liveness checks, plus the
 * state a CREATE_CHILD_SA series carries through its IKE_FOLLOWUP_KE rounds (RFC 9370 §2.2.4).
 */
import type { KeInitiatorState } from '../crypto/ke.js';
import type { Proposal } from '../wire/types.js';
import type { ChildChoice, ChildSa } from './child-sa.js';
import type { IkeSa, SharedSecret } from './ike-sa.js';
import type { SelectedSuite } from './proposal-select.js';
import type { ChildConfig } from './types.js';

export type CcsKind = 'create-child' | 'rekey-child' | 'rekey-ike';

export type Task =
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

/** Initiator state of a CREATE_CHILD_SA exchange and its IKE_FOLLOWUP_KE rounds. */
export interface CcsInitiator {
  readonly kind: CcsKind;
  readonly task: Task;
  readonly config?: ChildConfig;
  readonly old?: ChildSa;
  readonly offered: Proposal[];
  /** Our new SPI: the Child SA's inbound ESP SPI (4 bytes) or the new IKE SA's SPI (8 bytes). */
  readonly newSpi: Uint8Array;
  readonly ni: Uint8Array;
  keGroup: number;
  keState?: KeInitiatorState;
  phase: 'ccs' | 'followup';
  nr?: Uint8Array;
  suite?: SelectedSuite;
  peerSpi?: Uint8Array;
  choiceTs?: { tsi: ChildChoice['tsi']; tsr: ChildChoice['tsr']; mode: 'tunnel' | 'transport' };
  secrets: SharedSecret[];
  pending: { type: number; method: number }[];
  link?: Uint8Array;
  invalidKeRetries: number;
  /** The peer rekeyed the same SA and our exchange holds the lowest nonce (RFC 7296 §2.8.1). */
  lostCollision?: boolean;
}

export type ActiveTask =
  | CcsInitiator
  | { readonly kind: 'delete-child'; readonly child: ChildSa }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

/** Responder state of a CREATE_CHILD_SA series awaiting IKE_FOLLOWUP_KE requests. */
export interface ResponderSeries {
  readonly kind: CcsKind;
  readonly choice?: ChildChoice;
  readonly old?: ChildSa;
  readonly suite: SelectedSuite;
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  readonly spiIn: Uint8Array;
  readonly spiPeer: Uint8Array;
  readonly secrets: SharedSecret[];
  pending: { type: number; method: number }[];
  expiresAt: number;
}

export function isCcs(a: Task | ActiveTask | undefined): a is CcsInitiator {
  return a !== undefined && 'phase' in a;
}

/** Queue a task unless an equivalent one is already queued or running. */
export function enqueue(sa: IkeSa, task: Task): void {
  const same = (t: Task | ActiveTask): boolean => {
    if (t.kind !== task.kind) return false;
    if ((t.kind === 'rekey-child' || t.kind === 'delete-child') && (task.kind === 'rekey-child' || task.kind === 'delete-child')) {
      const a = 'child' in t ? t.child : undefined;
      return a === task.child;
    }
    if (isCcs(t) && t.kind === 'rekey-child' && task.kind === 'rekey-child') return t.old === task.child;
    return task.kind !== 'create-child';
  };
  if (sa.tasks.some(same) || (sa.active !== undefined && same(sa.active))) return;
  // Deleting the IKE SA goes before everything else queued.
  if (task.kind === 'delete-ike') sa.tasks.unshift(task);
  else sa.tasks.push(task);
}
