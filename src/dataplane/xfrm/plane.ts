/**
 * The kernel data plane: the engine's commands (src/engine/dataplane.ts) applied to the Linux
 * kernel's SAD and SPD through XFRM netlink (client.ts), the kernel's ACQUIRE and EXPIRE
 * multicasts handed back to the daemon, and IKE sockets with per-socket bypass policies
 * (bypass.ts). RFC 4301 §4.4 in the kernel's terms: a Child SA is two ESP states (RFC 4303)
 * and, per selector pair, out/in/fwd policies naming its reqid.
 *
 * Ownership (client.ts): everything we install carries a reqid of OUR_REQIDS. start() removes
 * what a crashed run of ours left (flushOurs) and close() removes what this run made; another
 * daemon's states and policies are never touched.
 *
 * `probeKernelEsp()` tells `data_plane: auto` whether this namespace's kernel has ESP.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { DataPlaneCommand, EspSaSpec, ExpireKind } from '../../engine/dataplane.js';
import type { DataPlane, PlaneHost, PlaneSockets, SaUsage } from '../plane-api.js';
import { NetlinkError } from '../sys/netlink.js';
import { createIkeSocket } from './bypass.js';
import { LARVAL_REQID, XfrmClient, type XfrmClientOptions, type XfrmEvent, type XfrmEventStream, type XfrmExpireEvent } from './client.js';
import { XfrmError } from './errors.js';
import { readXfrmStat } from './xfrm-stat.js';

const EEXIST = 17;

/** The kernel's (or our) text for a failure: NetlinkError carries the extended ACK text. */
export function failureText(e: unknown): string {
  if (e instanceof NetlinkError || e instanceof XfrmError) return e.message;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** One SA this run installed, for expires (direction, peer) and listings. */
interface Installed {
  readonly direction: 'in' | 'out';
  readonly reqid: number;
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  readonly limits: EspSaSpec['limits'];
  softReported: boolean;
}

const saKey = (dst: string, spi: number): string => `${dst}|${spi >>> 0}`;
const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export interface KernelDataPlaneOptions extends XfrmClientOptions {
  /** SO_RCVBUFFORCE of the IKE sockets (default 4 MiB, as the daemon's own sockets). */
  readonly rcvbuf?: number;
  /** Whether an address is one of this host's (default: os.networkInterfaces()), for expires of SAs we did not install. */
  readonly isLocal?: (address: string) => boolean;
}

function localByInterfaces(address: string): boolean {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.address === address) return true;
  return false;
}

export class KernelDataPlane implements DataPlane {
  readonly kind = 'kernel' as const;
  private client?: XfrmClient;
  private events?: XfrmEventStream;
  private host?: PlaneHost;
  private readonly installed = new Map<string, Installed>();
  private readonly ownSockets = new Set<dgram.Socket>();
  private closed = false;
  readonly sockets: PlaneSockets;

  constructor(private readonly opts: KernelDataPlaneOptions = {}) {
    const rcvbuf = opts.rcvbuf ?? 4 * 1024 * 1024;
    const make = async (address: string, port: number, natt: boolean): Promise<dgram.Socket> => {
      const { socket } = await createIkeSocket({ address, port, natt, rcvbuf });
      this.ownSockets.add(socket);
      socket.once('close', () => this.ownSockets.delete(socket));
      // Both ends close it: close() here, and its user (the daemon's UdpDriver closes its sockets
      // after the plane). A second close() must not throw ERR_SOCKET_DGRAM_NOT_RUNNING: that
      // rejected Daemon.stop() before the control socket closed, and SIGTERM left the process up.
      const close = socket.close.bind(socket);
      let closing = false;
      socket.close = ((cb?: () => void): dgram.Socket => {
        if (!closing) {
          closing = true;
          return close(cb);
        }
        if (cb) {
          if (this.ownSockets.has(socket)) socket.once('close', cb);
          else queueMicrotask(cb);
        }
        return socket;
      }) as dgram.Socket['close'];
      return socket;
    };
    this.sockets = {
      ike: (address, port) => make(address, port, false),
      natt: (address, port) => make(address, port, true),
    };
  }

  async start(host: PlaneHost): Promise<void> {
    if (this.client) throw new Error('kernel data plane already started');
    this.host = host;
    const client = new XfrmClient({ ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}), ...(this.opts.spiRange ? { spiRange: this.opts.spiRange } : {}) });
    try {
      const left = client.flushOurs();
      if (left.states + left.policies > 0) host.log('warn', `kernel data plane: removed ${left.states} SA(s) and ${left.policies} policies of ours left by an earlier run`);
      else host.log('info', 'kernel data plane: nothing of ours was left in the kernel');
      if (left.larval > 0) host.log('info', `kernel data plane: ${left.larval} larval SA(s) of ours with SPI 0 remain until net.core.xfrm_acq_expires (DELSA cannot name them)`);
      // Before anything is installed: the kernel does not queue multicasts for late listeners.
      this.events = client.subscribe((e) => this.onEvent(e), { onError: (e) => host.log('error', `kernel data plane: XFRM event stream: ${failureText(e)}`) });
    } catch (e) {
      client.close();
      throw e;
    }
    this.client = client;
  }

  apply(cmd: DataPlaneCommand): string | undefined {
    const c = this.client;
    if (!c || this.closed) return 'kernel data plane not started';
    try {
      switch (cmd.op) {
        case 'add-sa': {
          const s = cmd.sa;
          c.addSa(s);
          this.remember(s);
          return undefined;
        }
        case 'del-sa':
          this.installed.delete(saKey(cmd.dst, cmd.spi));
          c.delSa(cmd.spi, cmd.dst, cmd.reqid); // false: already gone (a hard expire), which is fine
          return undefined;
        case 'update-sa': {
          // The peer's NAT mapping moved (RFC 3948). A new port only: XFRM_MSG_UPDSA of the
          // live state changes its encapsulation and keeps its sequence numbers. A new address
          // is part of the state's ID: removed and added again (the sequence restarts).
          const s = cmd.sa;
          if (cmd.oldDst === s.dst.address) {
            c.updateSa(s);
            return undefined;
          }
          c.delSa(s.spi, cmd.oldDst, s.reqid);
          this.installed.delete(saKey(cmd.oldDst, s.spi));
          c.addSa(s);
          this.remember(s);
          this.host?.log('warn', `kernel data plane: outbound SA ${hex(s.spi)} re-added towards ${s.dst.address} (its sequence numbers restart)`);
          return undefined;
        }
        case 'add-policies':
          c.addPolicies(cmd.policy);
          return undefined;
        case 'del-policies':
          c.delPolicies(cmd.policy);
          return undefined;
        case 'add-trap':
          c.addTrap(cmd.policy);
          return undefined;
        case 'del-trap':
          c.delTrap(cmd.policy);
          return undefined;
        case 'add-address':
        case 'del-address':
          // A virtual IP needs its routes (strongSwan: table 220, src the virtual IP), which
          // this plane does not install yet.
          return `virtual IP ${cmd.address}: the kernel data plane installs no routes yet; use data_plane: userspace`;
        default:
          return `the kernel data plane has no command '${(cmd as { op: string }).op}'`;
      }
    } catch (e) {
      return failureText(e);
    }
  }

  private remember(s: EspSaSpec): void {
    this.installed.set(saKey(s.dst.address, s.spi), { direction: s.direction, reqid: s.reqid, src: s.src.address, dst: s.dst.address, spi: s.spi >>> 0, limits: s.limits, softReported: false });
  }

  /**
   * XFRM_MSG_ALLOCSPI (as strongSwan does: two daemons on one host never pick the same SPI):
   * a larval SA with LARVAL_REQID until add-sa completes it (UPDSA replaces it, reqid included).
   */
  allocateSpi(src: string, dst: string): number | undefined {
    if (!this.client || this.closed) return undefined;
    try {
      return this.client.allocSpi(src, dst, LARVAL_REQID);
    } catch (e) {
      this.host?.log('warn', `kernel data plane: ALLOCSPI ${src} -> ${dst} failed, the engine picks the SPI: ${failureText(e)}`);
      return undefined;
    }
  }

  usage(spi: number, direction: 'in' | 'out', dst?: string): SaUsage | undefined {
    if (!this.client || this.closed) return undefined;
    const at = dst ?? [...this.installed.values()].find((s) => s.spi === spi >>> 0 && s.direction === direction)?.dst;
    if (at === undefined) return undefined;
    try {
      const u = this.client.usage(spi, at);
      if (!u) return undefined;
      return { bytes: u.bytes, packets: u.packets, drops: { replay: u.drops.replay, replayWindow: u.drops.replayWindow, integrity: u.drops.integrity } };
    } catch (e) {
      this.host?.log('debug', `kernel data plane: GETSA ${hex(spi)} at ${at}: ${failureText(e)}`);
      return undefined;
    }
  }

  /** The namespace's /proc/net/xfrm_stat counters (CONFIG_XFRM_STATISTICS), {} without. */
  drops(): Readonly<Record<string, number>> {
    return readXfrmStat();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.events?.close();
    const c = this.client;
    if (c) {
      try {
        const r = c.flushOurs();
        this.host?.log('info', `kernel data plane: removed ${r.states} SA(s) and ${r.policies} policies on shutdown`);
      } catch (e) {
        this.host?.log('error', `kernel data plane: removing our SAs and policies failed: ${failureText(e)}`);
      }
      c.close();
    }
    this.installed.clear();
    for (const s of [...this.ownSockets]) {
      try {
        s.close();
      } catch {
        /* closed by its user already */
      }
    }
    this.ownSockets.clear();
  }

  private onEvent(e: XfrmEvent): void {
    const host = this.host;
    if (!host || this.closed) return;
    if (e.type === 'acquire') {
      host.log('debug', `kernel data plane: ACQUIRE reqid 0x${e.reqid.toString(16)} (${e.saddr} -> ${e.daddr})`);
      host.acquire(e.reqid);
    } else if (e.type === 'expire') {
      this.onExpire(host, e);
    } else {
      host.log('warn', 'kernel data plane: XFRM events were lost (socket buffer overrun); re-reading the counters of SAs with limits');
      this.recheck(host);
    }
  }

  private onExpire(host: PlaneHost, e: XfrmExpireEvent): void {
    const key = saKey(e.dst, e.spi);
    const sa = this.installed.get(key);
    if (e.larval || (!sa && e.reqid === LARVAL_REQID)) {
      // An ALLOCSPI whose Child SA never came (net.core.xfrm_acq_expires passed): nothing to tell.
      host.log('debug', `kernel data plane: larval SA ${hex(e.spi)} at ${e.dst} expired`);
      return;
    }
    const kind: ExpireKind = e.hard ? 'hard' : 'soft';
    const direction = sa?.direction ?? ((this.opts.isLocal ?? localByInterfaces)(e.dst) ? 'in' : 'out');
    if (sa) {
      if (e.hard) this.installed.delete(key); // the kernel deleted it
      else sa.softReported = true;
    }
    host.log('debug', `kernel data plane: ${kind} EXPIRE of ${direction === 'in' ? 'inbound' : 'outbound'} SA ${hex(e.spi)} (${e.bytes} bytes, ${e.packets} packets)`);
    host.expire(e.spi >>> 0, direction, kind, direction === 'out' ? e.dst : undefined);
  }

  /** After lost events: report the limits that fired meanwhile (an SA gone is a hard expire). */
  private recheck(host: PlaneHost): void {
    const c = this.client;
    if (!c) return;
    for (const [key, sa] of [...this.installed]) {
      const l = sa.limits;
      if (l.softBytes === undefined && l.softPackets === undefined && l.hardBytes === undefined && l.hardPackets === undefined) continue;
      let u: ReturnType<XfrmClient['usage']>;
      try {
        u = c.usage(sa.spi, sa.dst);
      } catch {
        continue;
      }
      const peer = sa.direction === 'out' ? sa.dst : undefined;
      if (!u) {
        this.installed.delete(key);
        host.expire(sa.spi, sa.direction, 'hard', peer);
      } else if (!sa.softReported && ((l.softBytes !== undefined && u.bytes >= l.softBytes) || (l.softPackets !== undefined && u.packets >= l.softPackets))) {
        sa.softReported = true;
        host.expire(sa.spi, sa.direction, 'soft', peer);
      }
    }
  }
}

/**
 * Whether this namespace's kernel takes an ESP state: NEWSA of a throwaway AES-GCM-16 SA
 * (RFC 4106, random key, reqid LARVAL_REQID, 127.0.0.1 → 127.0.0.1, no policy: it never carries
 * a packet), deleted at once. Not ok: the kernel's text (this project's CI kernel has XFRM but
 * no ESP: "Requested AEAD algorithm not found"), or why XFRM netlink could not be opened.
 */
export function probeKernelEsp(): { ok: true } | { ok: false; reason: string } {
  let c: XfrmClient;
  try {
    c = new XfrmClient({ timeoutMs: 2000 });
  } catch (e) {
    return { ok: false, reason: `no XFRM netlink socket: ${failureText(e)}` };
  }
  const key = randomBytes(36);
  try {
    for (let attempt = 0; ; attempt++) {
      const spi = randomInt(0x100, 0xffffffff);
      const lo = { address: '127.0.0.1', port: 0 };
      const spec: EspSaSpec = {
        connection: 'probe', child: 'esp', reqid: LARVAL_REQID, direction: 'in', spi, src: lo, dst: lo, encap: false, mode: 'tunnel',
        encr: { id: 20, keyBits: 256, key }, esn: false, replayWindow: 32, localTs: [], remoteTs: [], limits: {},
      };
      try {
        c.addSa(spec);
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === EEXIST && attempt < 3) continue; // that SPI is taken: another
        return { ok: false, reason: failureText(e) };
      }
      try {
        c.delSa(spi, lo.address, LARVAL_REQID);
      } catch (e) {
        return { ok: false, reason: `the probe SA could not be removed: ${failureText(e)}` };
      }
      return { ok: true };
    }
  } finally {
    key.fill(0);
    c.close();
  }
}
