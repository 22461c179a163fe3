/**
 * The life of established SAs: soft and hard lifetimes with jitter (RFC 7296 §2.8), liveness
 * checks (§2.4), expiry of stalled IKE_FOLLOWUP_KE series (RFC 9370 §2.2.4), and the hand-over
 * from an IKE SA to the one that rekeys it (RFC 7296 §2.18, collisions §2.8.2).
 */
import type { ChildSa } from './child-sa.js';
import { IkeSa, isSettingUp } from './ike-sa.js';
import { keepaliveDue, runKeepalive } from './nat-keepalive.js';
import type { SharedSecret } from './ike-sa.js';
import type { SelectedSuite } from './proposal-select.js';
import type { CcsPpk } from './ppk-ccs.js';
import { enqueue } from './tasks.js';
import { hex32 } from './util.js';
import { trustExpired } from './trust-wait.js';

/** How long a replaced IKE SA waits for the peer's Delete before it is dropped. */
const REKEYED_LINGER_MS = 30000;

/** A random share of `randMs`, subtracted from soft lifetimes so both peers rarely rekey at once. */
function jitter(sa: IkeSa, randMs: number | undefined): number {
  if (randMs === undefined || randMs <= 0) return 0;
  const r = sa.host.random(2, 'jitter');
  return Math.floor((((r[0] ?? 0) << 8) | (r[1] ?? 0)) / 65536 * randMs);
}

/**
 * Lifetimes of a connection that sets none, as strongSwan's swanctl.conf: IKE SAs are rekeyed
 * after 4 h, Child SAs after 1 h; the hard lifetime is 10 % above the soft one and the jitter
 * 10 % of it. So no SA outlives its peer for ever, even without liveness checks (an IKE SA
 * whose peer is gone fails its rekey). 0 turns a lifetime off.
 */
export const DEFAULT_IKE_REKEY_MS = 4 * 3_600_000;
export const DEFAULT_CHILD_REKEY_MS = 3_600_000;

/** Soft and hard lifetime and jitter, with the defaults for what is not set. */
export function lifetimes(rekeyMs: number | undefined, lifeMs: number | undefined, randMs: number | undefined, defaultRekeyMs: number): { rekeyMs: number; lifeMs: number; randMs: number } {
  const rekey = rekeyMs ?? defaultRekeyMs;
  return { rekeyMs: rekey, lifeMs: lifeMs ?? Math.round(rekey * 1.1), randMs: randMs ?? Math.round(rekey * 0.1) };
}

export function armChild(sa: IkeSa, child: ChildSa, now: number): void {
  const c = child.config;
  const t = lifetimes(c.rekeyTimeMs, c.lifeTimeMs, c.randTimeMs, DEFAULT_CHILD_REKEY_MS);
  if (t.rekeyMs > 0) child.rekeyAt = now + Math.max(0, t.rekeyMs - jitter(sa, t.randMs));
  if (t.lifeMs > 0) child.expireAt = now + t.lifeMs;
}

export function armIke(sa: IkeSa, now: number): void {
  const c = sa.connection;
  if (!c) return;
  const t = lifetimes(c.ikeRekeyTimeMs, c.ikeLifeTimeMs, c.randTimeMs, DEFAULT_IKE_REKEY_MS);
  if (t.rekeyMs > 0) sa.ikeRekeyAt = now + Math.max(0, t.rekeyMs - jitter(sa, t.randMs));
  if (t.lifeMs > 0) sa.ikeExpireAt = now + t.lifeMs;
}

export interface IkeRekeyKeys {
  readonly weInitiated: boolean;
  readonly suite: SelectedSuite;
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
  /** SK(0) .. SK(n) with their methods, in the order they were exchanged. */
  readonly secrets: readonly SharedSecret[];
  /** We lost a rekey collision: the new SA is created only to be deleted by us. */
  readonly redundant: boolean;
  /** A fresh PPK of the CREATE_CHILD_SA (RFC 9867 §3.2): SKEYSEED from SK_d' = prf+(PPK, SK_d(old)). */
  readonly ppk?: CcsPpk;
  /**
   * Made without the fresh PPK our connection requires (RFC 9867 §3.2 ¶4): taken over as any
   * rekey (the peer has moved the Child SAs to it) and then deleted, with them, at once.
   */
  readonly unwanted?: boolean;
}

/** The Child SAs, and what the tasks negotiated for the IKE SA (a virtual IP), go to its replacement. */
function moveChildren(from: IkeSa, to: IkeSa): void {
  for (const c of from.children) to.children.push(c);
  from.children = [];
  if (from.slots.size > 0) {
    for (const [slot, v] of from.slots) to.slotsForWrite().set(slot, v);
    from.slotsForWrite().clear();
  }
}

/**
 * The new IKE SA of a completed rekey: SKEYSEED = prf(SK_d(old), SK(0) | Ni | Nr | SK(1) ..
 * SK(n)) with the old SA's PRF, SK_* with the new one (RFC 7296 §2.18, RFC 9370 §2.2.4). The
 * rekey initiator is the new SA's original initiator. Child SAs move over; the initiator of the
 * surviving rekey deletes the old SA.
 */
export function finishIkeRekey(old: IkeSa, r: IkeRekeyKeys, now: number): IkeSa {
  const sa = new IkeSa(old.host, r.weInitiated ? 'initiator' : 'responder', r.spiI, old.local, old.remote, now);
  sa.spiR = r.spiR;
  sa.ni = r.ni;
  sa.nr = r.nr;
  sa.connection = old.connection;
  if (old.remoteIdentity) sa.remoteIdentity = old.remoteIdentity;
  // RFC 8784 §3: no PPK in a rekey's keys, but SKEYSEED comes from the old SK_d, which had it;
  // RFC 9867 §3.2: unless the rekey brought a fresh one.
  if (r.ppk) {
    sa.ppkId = r.ppk.id;
    sa.ppkExchange = 'CREATE_CHILD_SA';
    if (old.connection?.ppk) sa.ppkSeen = old.connection.ppk.keys;
  } else {
    if (old.ppkId !== undefined) sa.ppkId = old.ppkId;
    if (old.ppkExchange !== undefined) sa.ppkExchange = old.ppkExchange;
    if (old.ppkSeen) sa.ppkSeen = old.ppkSeen;
  }
  sa.peerFragmentation = old.peerFragmentation;
  sa.natLocal = old.natLocal;
  sa.natRemote = old.natRemote;
  sa.setSuite(r.suite);
  sa.keyFromRekey(old, r.secrets, r.ppk?.key);
  sa.transition('established');
  sa.establishedAt = now;
  armIke(sa, now);
  handOver(old, sa, r, now);
  if (r.unwanted) {
    sa.log('warn', 'IKE SA rekey: the responder made this IKE SA without our fresh PPK, and this connection requires one (RFC 9867 §3.2): deleting it');
    enqueue(sa, { kind: 'delete-ike' });
  }
  // Registered last, so that the engine starts whatever was queued on it.
  old.host.adopt(sa);
  return sa;
}

function handOver(old: IkeSa, sa: IkeSa, r: IkeRekeyKeys, now: number): void {
  if (r.redundant) {
    sa.log('info', `IKE SA rekey collision lost: deleting our redundant IKE SA`);
    enqueue(sa, { kind: 'delete-ike' });
    return;
  }
  if (r.weInitiated) {
    // We won (or there was no collision): the Child SAs come to us, wherever the peer's
    // answered rekey may have put them.
    const other = old.peerIkeRekey?.replacement;
    if (other && other !== sa) moveChildren(other, sa);
    moveChildren(old, sa);
  } else if (!old.rekeyedInto) {
    moveChildren(old, sa);
  } else {
    return; // our own rekey already won; the peer deletes this one
  }
  old.rekeyedInto = sa;
  old.transition('rekeyed');
  old.ikeRekeyAt = undefined;
  old.ikeExpireAt = now + REKEYED_LINGER_MS;
  // Queued work follows the Child SAs.
  for (const t of old.tasks) if (t.kind !== 'delete-ike' && t.kind !== 'dpd') enqueue(sa, t);
  old.tasks = old.tasks.filter((t) => t.kind === 'delete-ike');
  sa.event({ type: 'ike-rekeyed', old: old.id, sa: sa.id, ike: sa.info() });
  if (r.weInitiated) enqueue(old, { kind: 'delete-ike' });
}

/** Handle every timer of the SA that is due (retransmissions are handled by IkeSa.onTimer). */
export function runTimers(sa: IkeSa, now: number): void {
  if (isSettingUp(sa) && sa.setup.trustWait) trustExpired(sa, now);
  for (const [link, s] of sa.followups) {
    if (s.expiresAt <= now) {
      sa.followupsForWrite().delete(link);
      // The peer's rekey is over: it must not count as a collision for a later rekey of ours.
      s.purpose.expired(sa);
      sa.log('info', `dropping a stalled ${s.kind} series waiting for IKE_FOLLOWUP_KE (RFC 9370 §2.2.4)`);
    }
  }
  runKeepalive(sa, now);
  if (sa.state === 'rekeyed') {
    if (sa.ikeExpireAt !== undefined && sa.ikeExpireAt <= now) {
      sa.ikeExpireAt = undefined;
      // With our Delete still in flight, its retransmissions decide; otherwise we stop waiting.
      if (!sa.outstanding) sa.close('replaced by rekey');
    }
    return;
  }
  if (sa.state !== 'established') return;
  for (const child of [...sa.children]) {
    if (child.expireAt !== undefined && child.expireAt <= now) {
      child.expireAt = undefined;
      child.rekeyAt = undefined;
      if (child.state !== 'deleting') {
        sa.log('info', `Child SA ${hex32(child.info.spiIn)} reached its hard lifetime`);
        enqueue(sa, { kind: 'delete-child', child });
      }
    } else if (child.rekeyAt !== undefined && child.rekeyAt <= now) {
      child.rekeyAt = undefined;
      if (child.state === 'installed') enqueue(sa, { kind: 'rekey-child', child });
    }
  }
  if (sa.ikeExpireAt !== undefined && sa.ikeExpireAt <= now) {
    sa.ikeExpireAt = undefined;
    enqueue(sa, { kind: 'delete-ike' });
  } else if (sa.ikeRekeyAt !== undefined && sa.ikeRekeyAt <= now) {
    sa.ikeRekeyAt = undefined;
    enqueue(sa, { kind: 'rekey-ike' });
  }
  if (sa.retryCreateAt && sa.retryCreateAt.at <= now) {
    enqueue(sa, sa.retryCreateAt.task);
    sa.retryCreateAt = undefined;
  }
  const dpd = sa.connection?.dpdDelayMs;
  if (dpd !== undefined && dpd > 0 && !sa.outstanding && !sa.active && sa.tasks.length === 0 && now - sa.lastReceivedAt >= dpd) {
    enqueue(sa, { kind: 'dpd' });
  }
}

/** The earliest time anything of this SA is due. */
export function saDeadline(sa: IkeSa): number | undefined {
  let t = sa.retransmitDeadline();
  const min = (x: number | undefined): void => {
    if (x !== undefined && (t === undefined || x < t)) t = x;
  };
  min(sa.setup?.trustWait?.until);
  for (const s of sa.followups.values()) min(s.expiresAt);
  min(keepaliveDue(sa));
  if (sa.state === 'rekeyed') {
    min(sa.ikeExpireAt);
    return t;
  }
  if (sa.state !== 'established') return t;
  for (const c of sa.children) {
    min(c.rekeyAt);
    min(c.expireAt);
  }
  min(sa.ikeRekeyAt);
  min(sa.ikeExpireAt);
  min(sa.retryCreateAt?.at);
  const dpd = sa.connection?.dpdDelayMs;
  if (dpd !== undefined && dpd > 0 && !sa.outstanding && !sa.active && sa.tasks.length === 0) min(sa.lastReceivedAt + dpd);
  return t;
}
