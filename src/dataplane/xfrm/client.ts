/**
 * The kernel's IPsec SAD and SPD (XFRM) over netlink, for the data plane: SPIs, ESP SAs,
 * policies and traps of our Child SAs, usage counters, the removal of everything we own, and
 * the kernel's ACQUIRE/EXPIRE notifications. No `ip` commands: keys never reach an argv, and a
 * request costs tens of microseconds instead of milliseconds.
 *
 * Ownership: what we install carries a request ID of OUR_REQIDS, 0x50700000..0x507fffff ("Pq"
 * in the high 12 bits): the engine's REQID_FIRST..REQID_LAST = 0x50700001..0x507fffff
 * (src/engine/dataplane.ts, the one definition) and LARVAL_REQID 0x50700000 below them.
 * strongSwan numbers its reqids from 1 (charon.reqid_base, default 1) and libreswan from 16384
 * upwards in steps of 4 — far below. flushOurs() removes every SA whose reqid is in the range and
 * every policy with a template whose reqid is, and nothing else; addSa/addPolicies refuse
 * reqids outside it, so nothing of ours escapes a flush.
 *
 * Policies: one per (local TS, remote TS) pair (or exact piece of it, selectors.ts) and
 * direction — out, in and (tunnel mode) fwd — with a template naming the reqid (and the outer
 * addresses in tunnel mode) and strongSwan's priorities. A trap is the same policies with trap
 * priority: with no SA for the reqid, outbound traffic makes the kernel send an ACQUIRE and
 * drops the packet; once the Child SA's SAs exist the same policies carry its traffic. The
 * kernel keeps one policy per (selector, direction); when two of ours want the same one (a trap
 * and a Child SA of another reqid, two children with equal selectors), the preferred one is in
 * the kernel and the others wait in a per-client table, taking over when it goes (as
 * strongSwan's policy_entry_t used_by list does). A policy of another daemon on the same
 * selector is never replaced (XfrmError NOT_OURS).
 *
 * All calls are synchronous (see netlink.ts for the cost and the timeouts); events come on the
 * event loop through subscribe().
 */
import { REQID_FIRST, REQID_LAST, type EspSaSpec, type PolicySpec } from '../../engine/dataplane.js';
import type { TrafficSelector } from '../../wire/types.js';
import { NLM_F_DUMP, type NlMessage } from '../sys/netlink-codec.js';
import { NETLINK_XFRM, NetlinkError, NetlinkSocket, NetlinkSubscription } from '../sys/netlink.js';
import { espAlgorithms } from './algorithms.js';
import {
  DIR_BY_NAME,
  DIR_NAMES,
  IPPROTO_ESP,
  XFRM_MODE_TRANSPORT,
  XFRM_MODE_TUNNEL,
  XFRM_POLICY_TYPE_MAIN,
  XfrmGroup,
  XfrmMsg,
  groupBit,
  xfrmMsgName,
  type XfrmDirName,
} from './constants.js';
import { XfrmError } from './errors.js';
import {
  decodeAcquire,
  decodeExpire,
  decodePolicy,
  decodeSa,
  encodeAllocSpi,
  encodePolicyRequest,
  encodeSaRequest,
  encodeUserpolicyId,
  encodeUsersaId,
  familyOf,
  type SaParams,
  type XfrmAcquire,
  type XfrmPolicyState,
  type XfrmSaState,
  type XfrmSelector,
  type XfrmTmpl,
} from './messages.js';
import { policyPriority, policySelectors, selectorSide } from './selectors.js';

/**
 * The reqid of SAs that are not yet a Child SA's: the larval SAs of allocSpi() when the caller
 * has no reqid yet (the DataPlane's allocateSpi), and probes. Just below the engine's range.
 */
export const LARVAL_REQID = REQID_FIRST - 1;

/** The reqids we own (see the file comment): the engine's REQID_FIRST..REQID_LAST and LARVAL_REQID. */
export const OUR_REQIDS = { min: LARVAL_REQID, max: REQID_LAST } as const;

export function isOurReqid(reqid: number): boolean {
  return reqid >= OUR_REQIDS.min && reqid <= OUR_REQIDS.max;
}

/** The SPI range ALLOCSPI asks for by default (RFC 4303 §2.1: 1..255 are reserved by IANA). */
export const DEFAULT_SPI_RANGE = { min: 0x100, max: 0xffffffff } as const;

const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;

export interface XfrmClientOptions {
  /** Per-request timeout in ms (default 5000). */
  readonly timeoutMs?: number;
  /** SPIs allocSpi asks the kernel for (default 0x100..0xffffffff). */
  readonly spiRange?: { readonly min: number; readonly max: number };
}

export interface Usage {
  readonly bytes: number;
  readonly packets: number;
  /**
   * Inbound packets the kernel dropped on this SA (struct xfrm_stats): replayed, outside the
   * replay window, failed integrity (the ICV check, RFC 4303 §3.4.4).
   */
  readonly drops: { readonly replay: number; readonly replayWindow: number; readonly integrity: number };
}

/** Traffic matched a trap (or a Child SA policy whose SAs are gone). */
export interface XfrmAcquireEvent {
  readonly type: 'acquire';
  /** reqid of the policy's template: the trap's Child SA. */
  readonly reqid: number;
  readonly ours: boolean;
  readonly policyIndex: number;
  readonly dir: XfrmDirName;
  /** The packet that triggered it, as host selectors (RFC 7296 §2.9: the first TSi/TSr pair). */
  readonly src?: TrafficSelector;
  readonly dst?: TrafficSelector;
  /** The SA wanted: outer addresses. */
  readonly saddr: string;
  readonly daddr: string;
  readonly raw: XfrmAcquire;
}

/** An SA reached a soft (rekey) or hard (deleted by the kernel) byte/packet limit, or a larval SA timed out. */
export interface XfrmExpireEvent {
  readonly type: 'expire';
  readonly hard: boolean;
  readonly spi: number;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly reqid: number;
  readonly ours: boolean;
  /**
   * A larval SA timed out: one of allocSpi() never completed by addSa(), or the SPI-0 SA the
   * kernel holds while an ACQUIRE is pending — both after net.core.xfrm_acq_expires (30 s).
   */
  readonly larval: boolean;
  readonly bytes: number;
  readonly packets: number;
}

/** Multicast messages were lost (socket buffer overflow): re-read what matters (listStates). */
export interface XfrmOverrunEvent {
  readonly type: 'overrun';
}

export type XfrmEvent = XfrmAcquireEvent | XfrmExpireEvent | XfrmOverrunEvent;

export interface SubscribeOptions {
  /** Deliver only events about our reqids (and overruns). Default true. */
  readonly onlyOurs?: boolean;
  /** The stream failed (it has stopped) or the listener threw. Default: process.emitWarning. */
  readonly onError?: (e: Error) => void;
}

/** A subscription to ACQUIRE and EXPIRE; close() stops it. */
export interface XfrmEventStream {
  /** True once closed, or stopped by a failure (reported to onError). */
  readonly closed: boolean;
  close(): Promise<void>;
}

/** One of our wishes for a (selector, direction) policy. */
interface PolicyUser {
  readonly kind: 'policy' | 'trap';
  readonly reqid: number;
  readonly priority: number;
  readonly tmpl: XfrmTmpl;
  /** Insertion order: the newest of equal priority wins. */
  readonly serial: number;
}

interface PolicyEntry {
  readonly sel: XfrmSelector;
  readonly dir: number;
  /** users[0] is installed in the kernel. */
  users: PolicyUser[];
}

function selKey(sel: XfrmSelector, dir: number): string {
  return `${dir}|${sel.family}|${sel.saddr}/${sel.prefixlenS}|${sel.daddr}/${sel.prefixlenD}|${sel.proto}|${sel.sport}/${sel.sportMask}|${sel.dport}/${sel.dportMask}|${sel.ifindex}`;
}

function better(a: PolicyUser, b: PolicyUser): number {
  return a.priority !== b.priority ? a.priority - b.priority : b.serial - a.serial;
}

function saKey(dst: string, spi: number): string {
  return `${dst}|${spi >>> 0}`;
}

function wipe(parts: readonly Uint8Array[]): void {
  for (const p of parts) p.fill(0);
}

function toNumber(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

export class XfrmClient {
  private readonly sock: NetlinkSocket;
  private readonly spiRange: { readonly min: number; readonly max: number };
  /** SPIs from allocSpi() not yet completed by addSa(): dst|spi → reqid. */
  private readonly larval = new Map<string, number>();
  private readonly policies = new Map<string, PolicyEntry>();
  private serial = 0;

  /** Opens the request socket in the caller's network namespace. */
  constructor(opts: XfrmClientOptions = {}) {
    this.sock = new NetlinkSocket({ protocol: NETLINK_XFRM, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
    this.spiRange = opts.spiRange ?? DEFAULT_SPI_RANGE;
  }

  close(): void {
    this.sock.close();
  }

  private request(type: number, flags: number, parts: readonly Uint8Array[], wipeAfter = false): NlMessage[] {
    return this.sock.request(type, flags, parts, { what: xfrmMsgName(type), wipe: wipeAfter });
  }

  /* ---------------------------------------------------------------------- */
  /* SAs                                                                     */
  /* ---------------------------------------------------------------------- */

  /**
   * XFRM_MSG_ALLOCSPI: the kernel picks an SPI unused for (dst, ESP) in the client's range and
   * holds it with a larval SA (src → dst, reqid, tunnel mode) until addSa() completes it with
   * UPDSA — or until net.core.xfrm_acq_expires (30 s) passes, when the kernel deletes it and
   * sends a hard EXPIRE (reported with larval: true).
   */
  allocSpi(src: string, dst: string, reqid: number): number {
    this.checkReqid(reqid);
    const body = encodeAllocSpi({ src, dst, proto: IPPROTO_ESP, mode: XFRM_MODE_TUNNEL, reqid, min: this.spiRange.min, max: this.spiRange.max });
    const replies = this.request(XfrmMsg.ALLOCSPI, 0, [body]);
    const sa = replies.find((m) => m.type === XfrmMsg.NEWSA);
    if (!sa) throw new NetlinkError(xfrmMsgName(XfrmMsg.ALLOCSPI), ESRCH, undefined, 'no XFRM_MSG_NEWSA in the reply');
    const spi = decodeSa(sa.payload).info.spi;
    this.larval.set(saKey(dst, spi), reqid);
    return spi;
  }

  /** The kernel parameters of an EspSaSpec (exported through the class for tests). */
  static saParams(spec: EspSaSpec): SaParams {
    if (familyOf(spec.src.address) !== familyOf(spec.dst.address)) throw new XfrmError('BAD_SPEC', `SA ${spec.src.address} -> ${spec.dst.address}: mixed address families`);
    const l = spec.limits;
    return {
      src: spec.src.address,
      dst: spec.dst.address,
      spi: spec.spi,
      reqid: spec.reqid,
      mode: spec.mode,
      ...espAlgorithms(spec),
      ...(spec.encap ? { encap: { sport: spec.src.port, dport: spec.dst.port } } : {}),
      // Outbound SAs need no window, but the kernel refuses ESN with a window of 0.
      replayWindow: spec.direction === 'in' ? spec.replayWindow : spec.esn ? 1 : 0,
      esn: spec.esn,
      limits: {
        ...(l.softBytes !== undefined ? { softBytes: l.softBytes } : {}),
        ...(l.hardBytes !== undefined ? { hardBytes: l.hardBytes } : {}),
        ...(l.softPackets !== undefined ? { softPackets: l.softPackets } : {}),
        ...(l.hardPackets !== undefined ? { hardPackets: l.hardPackets } : {}),
      },
    };
  }

  /**
   * Install one direction of a Child SA: XFRM_MSG_UPDSA when its SPI came from allocSpi() (the
   * larval SA becomes the real one), XFRM_MSG_NEWSA otherwise (or when the larval SA has already
   * expired). The request's copy of the keys is zeroed once sent.
   */
  addSa(spec: EspSaSpec): void {
    this.checkReqid(spec.reqid);
    const parts = encodeSaRequest(XfrmClient.saParams(spec));
    const key = saKey(spec.dst.address, spec.spi);
    try {
      if (this.larval.has(key)) {
        try {
          this.request(XfrmMsg.UPDSA, 0, parts, true);
        } catch (e) {
          if (!(e instanceof NetlinkError && e.errno === ESRCH)) throw e;
          this.request(XfrmMsg.NEWSA, 0, parts, true); // the larval SA expired meanwhile
        }
      } else {
        this.request(XfrmMsg.NEWSA, 0, parts, true);
      }
      this.larval.delete(key);
    } finally {
      wipe(parts);
    }
  }

  /**
   * Change a live SA in place (XFRM_MSG_UPDSA of a state that is not larval): the kernel takes
   * the new encapsulation (a NAT mapping moved, RFC 3948) and lifetimes and keeps the sequence
   * numbers and replay state. Its destination and SPI (the state's ID) must not change.
   */
  updateSa(spec: EspSaSpec): void {
    this.checkReqid(spec.reqid);
    const parts = encodeSaRequest(XfrmClient.saParams(spec));
    try {
      this.request(XfrmMsg.UPDSA, 0, parts, true);
    } finally {
      wipe(parts);
    }
  }

  /**
   * Remove an ESP SA (XFRM_MSG_DELSA by destination and SPI); false when there was none. The SA
   * is looked at first (GETSA): one of another daemon (a reqid not ours, or not `reqid` when
   * given) is left alone (XfrmError NOT_OURS).
   */
  delSa(spi: number, dst: string, reqid?: number): boolean {
    this.larval.delete(saKey(dst, spi));
    const st = this.getSa(spi, dst);
    if (!st) return false;
    for (const k of [st.aead, st.crypt, st.auth, st.authTrunc]) k?.key.fill(0);
    if (!isOurReqid(st.info.reqid) || (reqid !== undefined && st.info.reqid !== reqid)) {
      throw new XfrmError('NOT_OURS', `SA ${dst} SPI 0x${(spi >>> 0).toString(16)} has reqid 0x${st.info.reqid.toString(16)}${reqid !== undefined ? `, not 0x${reqid.toString(16)}` : ', not ours'}`);
    }
    try {
      this.request(XfrmMsg.DELSA, 0, [encodeUsersaId({ daddr: dst, spi, family: familyOf(dst), proto: IPPROTO_ESP })]);
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ESRCH) return false;
      throw e;
    }
  }

  /** An ESP SA as the kernel has it (XFRM_MSG_GETSA; with its keys), or undefined. */
  getSa(spi: number, dst: string): XfrmSaState | undefined {
    let replies: NlMessage[];
    try {
      replies = this.request(XfrmMsg.GETSA, 0, [encodeUsersaId({ daddr: dst, spi, family: familyOf(dst), proto: IPPROTO_ESP })]);
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ESRCH) return undefined;
      throw e;
    }
    const m = replies.find((r) => r.type === XfrmMsg.NEWSA);
    if (!m) return undefined;
    try {
      return decodeSa(m.payload);
    } finally {
      m.payload.fill(0);
    }
  }

  /** Bytes and packets an SA has carried (lifetime_cur), or undefined when it is gone. */
  usage(spi: number, dst: string): Usage | undefined {
    const sa = this.getSa(spi, dst);
    if (!sa) return undefined;
    const st = sa.info.stats;
    const u = { bytes: toNumber(sa.info.curlft.bytes), packets: toNumber(sa.info.curlft.packets), drops: { replay: st.replay, replayWindow: st.replayWindow, integrity: st.integrityFailed } };
    for (const k of [sa.aead, sa.crypt, sa.auth, sa.authTrunc]) k?.key.fill(0);
    return u;
  }

  /** Every SA in the namespace (XFRM_MSG_GETSA dump; keys included), or only ours. */
  listStates(filter: { readonly onlyOurs?: boolean } = {}): XfrmSaState[] {
    const out: XfrmSaState[] = [];
    for (const m of this.request(XfrmMsg.GETSA, NLM_F_DUMP, [])) {
      if (m.type !== XfrmMsg.NEWSA) continue;
      const sa = decodeSa(m.payload);
      m.payload.fill(0);
      if (!filter.onlyOurs || isOurReqid(sa.info.reqid)) out.push(sa);
    }
    return out;
  }

  /** Every policy (XFRM_MSG_GETPOLICY dump), or only ours. */
  listPolicies(filter: { readonly onlyOurs?: boolean } = {}): XfrmPolicyState[] {
    const out: XfrmPolicyState[] = [];
    for (const m of this.request(XfrmMsg.GETPOLICY, NLM_F_DUMP, [])) {
      if (m.type !== XfrmMsg.NEWPOLICY) continue;
      const p = decodePolicy(m.payload);
      if (!filter.onlyOurs || isOurPolicy(p)) out.push(p);
    }
    return out;
  }

  /* ---------------------------------------------------------------------- */
  /* Policies and traps                                                      */
  /* ---------------------------------------------------------------------- */

  /** The policies of a Child SA: out, in and (tunnel) fwd for each selector pair. */
  addPolicies(p: PolicySpec): void {
    this.install(p, 'policy');
  }

  delPolicies(p: PolicySpec): void {
    this.uninstall(p, 'policy');
  }

  /** A trap: the same policies with trap priority; matching outbound traffic raises ACQUIRE. */
  addTrap(p: PolicySpec): void {
    this.install(p, 'trap');
  }

  delTrap(p: PolicySpec): void {
    this.uninstall(p, 'trap');
  }

  /** What addPolicies/addTrap would install: [direction, selector, template] per kernel policy. */
  static policyPlan(p: PolicySpec): { dir: XfrmDirName; sel: XfrmSelector; tmpl: XfrmTmpl }[] {
    const dirs: XfrmDirName[] = p.mode === 'tunnel' ? ['out', 'in', 'fwd'] : ['out', 'in'];
    const family = familyOf(p.local);
    if (familyOf(p.remote) !== family) throw new XfrmError('BAD_SPEC', `tunnel ${p.local} -> ${p.remote}: mixed address families`);
    const out: { dir: XfrmDirName; sel: XfrmSelector; tmpl: XfrmTmpl }[] = [];
    for (const dir of dirs) {
      const sels = policySelectors(p.localTs, p.remoteTs, dir);
      const tunnel = p.mode === 'tunnel';
      const tmpl: XfrmTmpl = {
        daddr: tunnel ? (dir === 'out' ? p.remote : p.local) : '',
        saddr: tunnel ? (dir === 'out' ? p.local : p.remote) : '',
        spi: 0,
        proto: IPPROTO_ESP,
        family,
        reqid: p.reqid,
        mode: tunnel ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT,
        share: 0,
        optional: 0,
        aalgos: 0xffffffff,
        ealgos: 0xffffffff,
        calgos: 0xffffffff,
      };
      for (const sel of sels) out.push({ dir, sel, tmpl });
    }
    if (out.length === 0) throw new XfrmError('BAD_SELECTOR', `${p.connection}/${p.child}: no pair of traffic selectors can match`);
    return out;
  }

  private install(p: PolicySpec, kind: 'policy' | 'trap'): void {
    this.checkReqid(p.reqid);
    const plan = XfrmClient.policyPlan(p);
    const done: { dir: XfrmDirName; sel: XfrmSelector }[] = [];
    try {
      for (const { dir, sel, tmpl } of plan) {
        this.addUser(sel, DIR_BY_NAME[dir], { kind, reqid: p.reqid, priority: policyPriority(sel, kind === 'trap'), tmpl, serial: ++this.serial });
        done.push({ dir, sel });
      }
    } catch (e) {
      // All or nothing: take back what this call installed.
      for (const d of done.reverse()) {
        try {
          this.removeUser(d.sel, DIR_BY_NAME[d.dir], kind, p.reqid);
        } catch {
          /* reported by the original error */
        }
      }
      throw e;
    }
  }

  private uninstall(p: PolicySpec, kind: 'policy' | 'trap'): void {
    let first: unknown;
    for (const { dir, sel } of XfrmClient.policyPlan(p)) {
      try {
        this.removeUser(sel, DIR_BY_NAME[dir], kind, p.reqid);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  private putPolicy(type: number, sel: XfrmSelector, dir: number, u: PolicyUser): void {
    this.request(type, 0, encodePolicyRequest({ sel, dir, priority: u.priority, tmpls: [u.tmpl] }));
  }

  /** The kernel's policy for (sel, dir), or undefined. */
  private getPolicy(sel: XfrmSelector, dir: number): XfrmPolicyState | undefined {
    try {
      const m = this.request(XfrmMsg.GETPOLICY, 0, [encodeUserpolicyId({ sel, dir })]).find((r) => r.type === XfrmMsg.NEWPOLICY);
      return m ? decodePolicy(m.payload) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENOENT) return undefined;
      throw e;
    }
  }

  private addUser(sel: XfrmSelector, dir: number, u: PolicyUser): void {
    const key = selKey(sel, dir);
    const entry = this.policies.get(key);
    if (entry) {
      const cur = entry.users[0];
      const users = [...entry.users.filter((x) => !(x.kind === u.kind && x.reqid === u.reqid)), u].sort(better);
      if (cur && users[0] === u) this.putPolicy(XfrmMsg.UPDPOLICY, sel, dir, u);
      entry.users = users;
      return;
    }
    try {
      this.putPolicy(XfrmMsg.NEWPOLICY, sel, dir, u);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e;
      // Not in our table: left over from an earlier run of ours (take it over), or another daemon's.
      const existing = this.getPolicy(sel, dir);
      if (existing && !isOurPolicy(existing)) {
        throw new XfrmError('NOT_OURS', `${DIR_NAMES[dir] ?? dir} policy ${sel.saddr}/${sel.prefixlenS} -> ${sel.daddr}/${sel.prefixlenD} exists with reqid ${existing.tmpls.map((t) => t.reqid).join(',') || 'none'}, not ours`);
      }
      this.putPolicy(XfrmMsg.UPDPOLICY, sel, dir, u);
    }
    this.policies.set(key, { sel, dir, users: [u] });
  }

  private removeUser(sel: XfrmSelector, dir: number, kind: 'policy' | 'trap', reqid: number): void {
    const key = selKey(sel, dir);
    const entry = this.policies.get(key);
    if (!entry) {
      // Not installed through this client (e.g. a restart): delete it only if it is ours.
      const existing = this.getPolicy(sel, dir);
      if (existing && isOurPolicy(existing) && existing.tmpls.some((t) => t.reqid === reqid)) this.deletePolicy(sel, dir);
      return;
    }
    const cur = entry.users[0];
    entry.users = entry.users.filter((x) => !(x.kind === kind && x.reqid === reqid));
    const next = entry.users[0];
    if (!next) {
      this.policies.delete(key);
      this.deletePolicy(sel, dir);
    } else if (next !== cur) {
      this.putPolicy(XfrmMsg.UPDPOLICY, sel, dir, next);
    }
  }

  private deletePolicy(sel: XfrmSelector, dir: number, index = 0): boolean {
    try {
      this.request(XfrmMsg.DELPOLICY, 0, [encodeUserpolicyId(index ? { index, dir } : { sel, dir })]);
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENOENT) return false;
      throw e;
    }
  }

  /* ---------------------------------------------------------------------- */
  /* Cleanup                                                                 */
  /* ---------------------------------------------------------------------- */

  /**
   * Remove every SA and policy that is ours by reqid (see the file comment) — including those of
   * an earlier run that crashed — and nothing else. Returns what was removed, and how many larval
   * SAs of ours with SPI 0 are left: those the kernel makes for a pending ACQUIRE or leaves behind
   * after a failed ALLOCSPI cannot be named by DELSA (it finds SAs by SPI; ESRCH), so they stay
   * until net.core.xfrm_acq_expires (30 s) — harmless, but while one lives the kernel sends no new
   * ACQUIRE for its flow.
   */
  flushOurs(): { states: number; policies: number; larval: number } {
    let policies = 0;
    for (const p of this.listPolicies({ onlyOurs: true })) {
      if (this.deletePolicy(p.info.sel, p.info.dir, p.info.index)) policies++;
    }
    let states = 0;
    let larval = 0;
    for (const sa of this.listStates({ onlyOurs: true })) {
      if (sa.info.spi === 0) {
        larval++;
        continue;
      }
      try {
        this.request(XfrmMsg.DELSA, 0, [encodeUsersaId({ daddr: sa.info.daddr, spi: sa.info.spi, family: sa.info.family, proto: sa.info.proto })]);
        states++;
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errno === ESRCH)) throw e;
      }
      for (const k of [sa.aead, sa.crypt, sa.auth, sa.authTrunc]) k?.key.fill(0);
    }
    this.policies.clear();
    this.larval.clear();
    return { states, policies, larval };
  }

  /* ---------------------------------------------------------------------- */
  /* Events                                                                  */
  /* ---------------------------------------------------------------------- */

  /**
   * ACQUIRE and EXPIRE from the kernel (a second socket bound to XFRMNLGRP_ACQUIRE and
   * XFRMNLGRP_EXPIRE), delivered on the event loop. Open it before installing traps or SAs
   * with limits: what the kernel multicasts before is not queued for us.
   */
  subscribe(listener: (e: XfrmEvent) => void, opts: SubscribeOptions = {}): XfrmEventStream {
    const onlyOurs = opts.onlyOurs ?? true;
    const sub = new NetlinkSubscription(
      { protocol: NETLINK_XFRM, groups: groupBit(XfrmGroup.ACQUIRE) | groupBit(XfrmGroup.EXPIRE) },
      {
        onMessage: (m) => {
          const e = this.toEvent(m);
          if (e && (!onlyOurs || e.type === 'overrun' || e.ours)) listener(e);
        },
        onOverrun: () => listener({ type: 'overrun' }),
        ...(opts.onError ? { onError: opts.onError } : {}),
      },
    );
    return {
      get closed() {
        return sub.closed;
      },
      close: () => sub.close(),
    };
  }

  private toEvent(m: NlMessage): XfrmEvent | undefined {
    if (m.type === XfrmMsg.ACQUIRE) {
      const a = decodeAcquire(m.payload);
      const reqid = a.tmpls[0]?.reqid ?? 0;
      const src = selectorSide(a.sel, 'src');
      const dst = selectorSide(a.sel, 'dst');
      return {
        type: 'acquire',
        reqid,
        ours: isOurReqid(reqid),
        policyIndex: a.policy.index,
        dir: DIR_NAMES[a.policy.dir] ?? 'out',
        ...(src ? { src } : {}),
        ...(dst ? { dst } : {}),
        saddr: a.saddr,
        daddr: a.daddr,
        raw: a,
      };
    }
    if (m.type === XfrmMsg.EXPIRE) {
      const x = decodeExpire(m.payload);
      const s = x.state;
      const key = saKey(s.daddr, s.spi);
      // allocSpi()'s larval SA, or the one the kernel made for an ACQUIRE (SPI 0)
      const larval = this.larval.has(key) || s.spi === 0;
      if (larval && x.hard) this.larval.delete(key);
      return {
        type: 'expire',
        hard: x.hard,
        spi: s.spi,
        src: s.saddr,
        dst: s.daddr,
        proto: s.proto,
        reqid: s.reqid,
        ours: isOurReqid(s.reqid),
        larval,
        bytes: toNumber(s.curlft.bytes),
        packets: toNumber(s.curlft.packets),
      };
    }
    return undefined;
  }

  private checkReqid(reqid: number): void {
    if (!isOurReqid(reqid)) {
      throw new XfrmError('BAD_SPEC', `reqid 0x${reqid.toString(16)} is outside ours (0x${OUR_REQIDS.min.toString(16)}..0x${OUR_REQIDS.max.toString(16)}): flushOurs() could not find it`);
    }
  }
}

/** A main-type policy with a template of one of our reqids. */
export function isOurPolicy(p: XfrmPolicyState): boolean {
  return p.policyType === XFRM_POLICY_TYPE_MAIN && p.tmpls.some((t) => isOurReqid(t.reqid));
}
