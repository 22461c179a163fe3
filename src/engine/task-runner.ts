/** Starts the next queued task of an IKE SA when nothing of ours is in flight (window 1). */
import { startChildCreate } from './tasks/child-create.js';
import { startIkeRekey } from './tasks/ike-rekey.js';
import { startDeleteChild, startDeleteIke, startDpd } from './exchange-informational.js';
import type { IkeSa } from './ike-sa.js';

export function kick(sa: IkeSa, now: number): void {
  while (!sa.outstanding && !sa.active && sa.tasks.length > 0) {
    if (sa.state !== 'established' && sa.state !== 'rekeyed') return;
    const task = sa.tasks.shift();
    if (!task) return;
    if (sa.state === 'rekeyed' && task.kind !== 'delete-ike') continue;
    switch (task.kind) {
      case 'create-child':
      case 'rekey-child':
        startChildCreate(sa, task, now);
        break;
      case 'rekey-ike':
        startIkeRekey(sa, task, now);
        break;
      case 'delete-child':
        startDeleteChild(sa, task.child, now);
        break;
      case 'delete-ike':
        startDeleteIke(sa, now);
        break;
      case 'dpd':
        startDpd(sa, now);
        break;
    }
  }
}
