/**
 * What the data plane must hold for each Child SA (RFC 4301 §4.4: SAD and SPD entries), as
 * commands for it (src/engine/dataplane.ts): both directions with their keys (RFC 7296 §2.17:
 * the exchange initiator's keys protect its outbound traffic), the policies of a new request
 * ID, and the removals. The timing is the caller's: see make-before-break in dataplane.ts.
 */
import type { ChildSa } from './child-sa.js';
import { DEFAULT_REPLAY_WINDOW } from './dataplane.js';
import type { EspSaSpec, PolicySpec } from './dataplane.js';
import type { IkeSa } from './ike-sa.js';

function espSpec(sa: IkeSa, child: ChildSa, direction: 'in' | 'out'): EspSaSpec {
  const i = child.info;
  const c = child.config;
  // We initiated the exchange that made the SA: the initiator's keys are our outbound ones.
  const ours = i.initiator === (direction === 'out');
  const encrKey = ours ? i.keys.encrI : i.keys.encrR;
  const integKey = ours ? i.keys.integI : i.keys.integR;
  const limits = {
    ...(c.rekeyBytes ? { softBytes: c.rekeyBytes } : {}),
    ...(c.lifeBytes ? { hardBytes: c.lifeBytes } : {}),
    ...(c.rekeyPackets ? { softPackets: c.rekeyPackets } : {}),
    ...(c.lifePackets ? { hardPackets: c.lifePackets } : {}),
  };
  return {
    connection: sa.connection?.name ?? '',
    child: c.name,
    reqid: child.reqid,
    direction,
    spi: direction === 'in' ? i.spiIn : i.spiOut,
    src: direction === 'in' ? sa.remote : sa.local,
    dst: direction === 'in' ? sa.local : sa.remote,
    encap: i.encap,
    mode: i.mode,
    encr: i.encr.keyBits === undefined ? { id: i.encr.id, key: encrKey } : { id: i.encr.id, keyBits: i.encr.keyBits, key: encrKey },
    ...(i.integ === undefined ? {} : { integ: { id: i.integ, key: integKey } }),
    esn: i.esn,
    replayWindow: direction === 'in' ? (c.replayWindow ?? DEFAULT_REPLAY_WINDOW) : 0,
    localTs: i.localTs,
    remoteTs: i.remoteTs,
    limits,
  };
}

export function policySpec(sa: IkeSa, child: ChildSa): PolicySpec {
  return {
    connection: sa.connection?.name ?? '',
    child: child.config.name,
    reqid: child.reqid,
    mode: child.info.mode,
    local: sa.local.address,
    remote: sa.remote.address,
    localTs: child.info.localTs,
    remoteTs: child.info.remoteTs,
  };
}

/** Install one direction of a Child SA. */
export function installSa(sa: IkeSa, child: ChildSa, direction: 'in' | 'out'): void {
  if (child.installed[direction]) return;
  child.installed[direction] = true;
  sa.host.dataPlane({ op: 'add-sa', sa: espSpec(sa, child, direction) });
}

/** The policies of a Child SA whose request ID has none yet (not a rekey, not a trapped child). */
export function installPolicies(sa: IkeSa, child: ChildSa): void {
  if (sa.host.isTrapReqid(child.reqid)) return;
  if (sa.children.some((c) => c !== child && c.reqid === child.reqid)) return;
  sa.host.dataPlane({ op: 'add-policies', policy: policySpec(sa, child) });
}

/**
 * The peer's endpoint moved from `old` (RFC 7296 §2.23: a NAT mapping changed; the SA already
 * has the new one): every installed outbound SA follows. The inbound SAs stay — they are found
 * by SPI and our own address, which did not change.
 */
export function moveChildren(sa: IkeSa, old: { readonly address: string; readonly port: number }): void {
  const moved = new Set<number>();
  for (const child of sa.children) {
    if (!child.installed.out || !child.info.encap) continue;
    sa.host.dataPlane({ op: 'update-sa', sa: espSpec(sa, child, 'out'), oldDst: old.address });
    // A new address (not only a new port) is in the policies' templates too (tunnel mode).
    if (old.address === sa.remote.address || sa.host.isTrapReqid(child.reqid) || moved.has(child.reqid)) continue;
    moved.add(child.reqid);
    const now = policySpec(sa, child);
    sa.host.dataPlane({ op: 'del-policies', policy: { ...now, remote: old.address } });
    sa.host.dataPlane({ op: 'add-policies', policy: now });
  }
}

/** Remove what was installed for a Child SA; its policies go with the last SA of its request ID. */
export function uninstallChild(sa: IkeSa, child: ChildSa, remaining: readonly ChildSa[]): void {
  const i = child.info;
  for (const direction of ['in', 'out'] as const) {
    if (!child.installed[direction]) continue;
    child.installed[direction] = false;
    const src = direction === 'in' ? sa.remote.address : sa.local.address;
    const dst = direction === 'in' ? sa.local.address : sa.remote.address;
    sa.host.dataPlane({ op: 'del-sa', direction, spi: direction === 'in' ? i.spiIn : i.spiOut, src, dst, reqid: child.reqid });
  }
  if (!sa.host.isTrapReqid(child.reqid) && !remaining.some((c) => c.reqid === child.reqid)) sa.host.dataPlane({ op: 'del-policies', policy: policySpec(sa, child) });
}
