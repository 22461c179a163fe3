/**
 * Which data plane the daemon runs (`data_plane:` in the config): the kernel's ESP through
 * XFRM, our userspace ESP on a TUN device, or the recording fake. `auto` takes the kernel where
 * this namespace's kernel accepts an ESP state (probeKernelEsp: a throwaway SA), as
 * strongSwan's charon-systemd would with kernel-netlink, and our userspace ESP otherwise, as
 * charon with kernel-libipsec — the log says which and why.
 */
import type { DataPlane } from '../dataplane/plane-api.js';
import type { DataPlaneChoice } from './config.js';

export interface PlaneChoiceOptions {
  readonly choice: DataPlaneChoice;
  readonly userspace: { readonly tun: string; readonly mtu: number };
  /** The fake's journal (PQIKE_DATAPLANE_JOURNAL, for tests). */
  readonly journal?: string;
  readonly onJournalFailure?: (message: string) => void;
}

export interface PlaneChoice {
  readonly plane: DataPlane;
  /** One line for the log: what runs and why. */
  readonly why: string;
}

/** The planes are loaded on demand: the fake needs neither koffi nor a TUN device. */
export async function choosePlane(o: PlaneChoiceOptions): Promise<PlaneChoice> {
  if (o.choice === 'fake') {
    const { RecordingDataPlane } = await import('../dataplane/fake-plane.js');
    return { plane: new RecordingDataPlane(o.journal, o.onJournalFailure), why: 'data plane: fake (negotiates keys, protects no packet)' };
  }
  const userspace = async (why: string): Promise<PlaneChoice> => {
    const { UserspaceDataPlane } = await import('../dataplane/userspace/plane.js');
    return { plane: new UserspaceDataPlane({ tun: o.userspace.tun, mtu: o.userspace.mtu }), why };
  };
  if (o.choice === 'userspace') return userspace(`data plane: userspace ESP on ${o.userspace.tun} (configured)`);
  const { KernelDataPlane, probeKernelEsp } = await import('../dataplane/xfrm/plane.js');
  if (o.choice === 'kernel') return { plane: new KernelDataPlane(), why: 'data plane: kernel XFRM (configured)' };
  const probe = probeKernelEsp();
  if (probe.ok) return { plane: new KernelDataPlane(), why: 'data plane: kernel XFRM (auto: the kernel accepted an ESP state)' };
  return userspace(`data plane: userspace ESP on ${o.userspace.tun} (auto: the kernel has no ESP here: ${probe.reason})`);
}
