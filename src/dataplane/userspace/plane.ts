/**
 * The userspace ESP data plane (`data_plane: userspace`), for hosts whose kernel has no ESP: a
 * TUN device takes the packets routed to the remote traffic selectors, a worker thread
 * (processor.ts in the packet pump) seals them with ESP (RFC 4303) and sends them as IP protocol
 * 50 or, behind a NAT, in UDP from the daemon's port 4500 (RFC 3948); ESP coming back is opened
 * in the worker and written to the TUN device. This thread only installs and removes SAs,
 * policies and routes, and relays the worker's reports (usage limits, acquires, counters).
 *
 * Routing: one route per remote selector prefix into the TUN device, with the local address
 * inside the local selectors as preferred source (so that the gateway's own packets match), as
 * strongSwan's kernel-libipsec does. The device goes, with its routes, when the plane closes or
 * the process dies: nothing of ours outlives the daemon.
 */
import type dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { DataPlaneCommand, EspSaSpec, PolicySpec } from '../../engine/dataplane.js';
import type { Endpoint } from '../../engine/types.js';
import type { TrafficSelector } from '../../wire/types.js';
import type { DataPlane, PlaneHost, PlaneSockets, SaUsage } from '../plane-api.js';
import { createEspSa } from '../esp/index.js';
import { TunDevice } from '../sys/tun.js';
import { Rtnl } from '../sys/rtnl.js';
import { openEspSocket } from '../sys/sockets.js';
import { createNattSocket, openNattFd } from '../sys/natt-socket.js';
import { attachSplit } from '../sys/natt-split.js';
import type { SockAddr } from '../sys/sockaddr.js';
import { PacketPump } from '../sys/pump.js';
import type { PortSpec } from '../sys/pump.js';
import { ipv4Bytes, ipv4Text, ipv6Bytes, ipv6Text } from '../sys/sockaddr.js';
import { closeFd } from '../sys/libc.js';
import { rangeToPrefixes } from '../xfrm/selectors.js';
import { matches } from './spd.js';
import { PLANE_DROPS } from './messages.js';
import type { PlaneDrops, PlaneEvent, SaStats, WorkerMessage } from './messages.js';

/** How long an inbound SA outlives its removal by the engine (packets in flight). */
const INBOUND_GRACE_MS = 1000;

export interface UserspacePlaneOptions {
  /** TUN device name (default pqike0). */
  readonly tun?: string;
  /** Its MTU (default 1400: room for ESP in UDP inside a 1500-octet path). */
  readonly mtu?: number;
}

/** A route into the TUN device, shared by the policies whose remote selectors need it. */
interface Route {
  readonly dst: string;
  readonly src?: string;
  users: number;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class UserspaceDataPlane implements DataPlane {
  readonly kind = 'userspace';
  private host?: PlaneHost;
  private tun?: TunDevice;
  private rtnl?: Rtnl;
  private pump?: PacketPump;
  /** NAT-T sockets the daemon made through us, by local address (their fds the worker sends from). */
  private readonly natt = new Map<string, { socket: dgram.Socket; fd: number }>();
  private readonly routes = new Map<string, Route>();
  /** Virtual IPs on the TUN device (a client's, from the gateway's CFG_REPLY), by how many IKE SAs hold each. */
  private readonly addresses = new Map<string, number>();
  /** Route keys each policy (by reqid, and trap or not) holds. */
  private readonly held = new Map<string, string[]>();
  private stats = new Map<string, SaStats>();
  private planeDrops: Record<PlaneDrops, number> = Object.fromEntries(PLANE_DROPS.map((d) => [d, 0])) as Record<PlaneDrops, number>;
  /** Drops of SAs that are gone, so that totals never go down. */
  private readonly retired: Record<string, number> = {};
  /** Inbound SAs removed by the engine, still open for packets in flight (INBOUND_GRACE_MS). */
  private readonly retiring = new Set<ReturnType<typeof setTimeout>>();

  readonly sockets: PlaneSockets;

  constructor(private readonly opts: UserspacePlaneOptions = {}) {
    this.sockets = {
      natt: async (address, port) => {
        // SO_REUSEPORT: the worker's own socket joins this port at start (natt-split.ts).
        const s = await createNattSocket({ address, port, rcvbuf: 4 * 1024 * 1024, reuseport: true });
        this.natt.set(address, s);
        s.socket.once('close', () => this.natt.delete(address));
        if (this.pump) this.host?.log('warn', `userspace data plane: ESP in UDP from ${address}, bound after start, is sent by the main thread (restart the daemon for the fast path)`);
        return s.socket;
      },
      nattPacket: (data: Buffer, from: Endpoint) => this.pump?.inject('natt-in', data, { address: from.address, port: from.port }),
    };
  }

  get tunName(): string | undefined {
    return this.tun?.name;
  }

  async start(host: PlaneHost): Promise<void> {
    this.host = host;
    const mtu = this.opts.mtu ?? 1400;
    const tun = TunDevice.open({ name: this.opts.tun ?? 'pqike0' });
    this.tun = tun;
    const ports: PortSpec[] = [{ name: 'tun', kind: 'tun', fd: tun.fds[0] as number }];
    try {
      this.rtnl = new Rtnl();
      this.rtnl.setMtu(tun.name, mtu);
      this.rtnl.setUp(tun.name);
      ports.push({ name: 'esp4', kind: 'esp4', fd: openEspSocket({ family: 4, rcvbuf: 4 * 1024 * 1024 }), own: true });
      try {
        ports.push({ name: 'esp6', kind: 'esp6', fd: openEspSocket({ family: 6, rcvbuf: 4 * 1024 * 1024 }), own: true });
      } catch (e) {
        host.log('info', `userspace data plane: no IPv6 ESP socket (${errorText(e)})`);
      }
      for (const [address, s] of this.natt) ports.push(this.nattPort(address, s.fd, s.socket.address().port));
      ports.push({ name: 'natt-in', kind: 'inject' });
      this.pump = await PacketPump.start({
        ports,
        processor: { module: new URL('./processor.js', import.meta.url) },
        onMessage: (m) => this.fromWorker(m as PlaneEvent),
        // What the worker's NAT-T socket got that is not ESP (IKE in the moment before the
        // split program applies, a keepalive): the daemon's socket's listener takes it.
        onPacket: (data, port, from) => this.notEsp(data, port, from),
        onError: (e) => host.log('error', `userspace data plane worker failed: ${e.message}`),
        tickMs: 1000,
        // Room for the largest inner packet plus ESP, UDP and outer IPv6 headers.
        slotSize: mtu + 256,
      });
    } catch (e) {
      for (const p of ports) if (p.own && p.fd !== undefined) closeQuietly(p.fd);
      this.rtnl?.close();
      tun.close();
      this.tun = undefined;
      throw e;
    }
    host.log('info', `userspace data plane on ${tun.name} (MTU ${mtu}), ESP ${ports.filter((p) => p.kind !== 'tun' && p.kind !== 'inject').map((p) => p.name).join(', ')}`);
  }

  /**
   * The worker's port for ESP in UDP on address:port: its own socket beside the daemon's, with
   * the split program (ESP to it, IKE to the daemon: natt-split.ts); if the kernel refuses that,
   * the daemon's socket, send-only (ESP then arrives through the main thread).
   */
  private nattPort(address: string, daemonFd: number, port: number): PortSpec {
    const name = `natt:${address}`;
    let fd: number | undefined;
    try {
      fd = openNattFd({ address, port, rcvbuf: 4 * 1024 * 1024, reuseport: true });
      attachSplit(fd);
      return { name, kind: 'udp', fd, read: true, own: true };
    } catch (e) {
      if (fd !== undefined) closeQuietly(fd);
      this.host?.log('warn', `userspace data plane: ESP in UDP on ${address}:${port} goes through the main thread (${errorText(e)})`);
      return { name, kind: 'udp', fd: daemonFd, read: false };
    }
  }

  private notEsp(data: Buffer, port: string, from: SockAddr | null): void {
    const s = port.startsWith('natt:') ? this.natt.get(port.slice(5)) : undefined;
    if (!s || !from) return;
    s.socket.emit('message', data, { address: from.address, port: from.port, family: from.address.includes(':') ? 'IPv6' : 'IPv4', size: data.length });
  }

  private fromWorker(e: PlaneEvent): void {
    switch (e.op) {
      case 'expire':
        this.host?.expire(e.spi, e.direction, e.kind, e.direction === 'out' ? e.dst : undefined);
        return;
      case 'acquire':
        this.host?.acquire(e.reqid);
        return;
      case 'send': {
        const s = this.natt.get(e.from);
        if (s) s.socket.send(e.data, e.to.port, e.to.address);
        return;
      }
      case 'stats': {
        const next = new Map<string, SaStats>();
        for (const s of e.sas) next.set(key(s.direction, s.spi, s.dst), s);
        for (const [k, old] of this.stats) {
          if (next.has(k)) continue;
          for (const [reason, n] of Object.entries(old.drops)) this.retired[reason] = (this.retired[reason] ?? 0) + n;
        }
        this.stats = next;
        this.planeDrops = { ...e.drops };
        return;
      }
    }
  }

  private post(m: WorkerMessage): void {
    this.pump?.post(m);
  }

  apply(cmd: DataPlaneCommand): string | undefined {
    if (!this.pump || !this.rtnl || !this.tun) return 'userspace data plane not started';
    try {
      switch (cmd.op) {
        case 'add-sa':
          return this.addSa(cmd.sa);
        case 'del-sa': {
          const del: WorkerMessage = { op: 'del-sa', direction: cmd.direction, spi: cmd.spi, dst: cmd.dst };
          if (cmd.direction === 'out') {
            this.post(del);
            return undefined;
          }
          // An inbound SA goes a moment later: ESP the peer sent on it just before its DELETE
          // may still wait in the worker's socket queue while this thread handled the DELETE
          // (two queues; the kernel has one). strongSwan keeps a replaced inbound SA 5 s for
          // the same reason (charon.delete_rekeyed_delay).
          const t = setTimeout(() => {
            this.retiring.delete(t);
            this.post(del);
          }, INBOUND_GRACE_MS);
          t.unref();
          this.retiring.add(t);
          return undefined;
        }
        case 'update-sa':
          // RFC 3948: the peer's NAT mapping moved; the worker sends to the new endpoint, its
          // sequence numbers going on.
          this.post({ op: 'move-sa', direction: 'out', spi: cmd.sa.spi, dst: cmd.oldDst, to: { address: cmd.sa.dst.address, port: cmd.sa.dst.port } });
          return undefined;
        case 'add-policies':
        case 'add-trap':
          return this.addPolicy(cmd.policy, cmd.op === 'add-trap');
        case 'del-policies':
        case 'del-trap':
          this.delPolicy(cmd.policy, cmd.op === 'del-trap');
          return undefined;
        case 'add-address':
          return this.addAddress(cmd.address);
        case 'del-address':
          this.delAddress(cmd.address);
          return undefined;
        default:
          return `the userspace data plane has no command '${(cmd as { op: string }).op}'`;
      }
    } catch (e) {
      return errorText(e);
    }
  }

  private addSa(sa: EspSaSpec): string | undefined {
    if (sa.mode !== 'tunnel') return 'the userspace data plane carries tunnel mode only';
    if (sa.encap && sa.direction === 'out' && !this.natt.has(sa.src.address)) return `no NAT-T socket on ${sa.src.address} for ESP in UDP`;
    // The same checks the worker's SA will make (algorithm, key lengths), here where the error can be returned.
    createEspSa({ ...sa, direction: sa.direction });
    this.post({ op: 'add-sa', sa });
    return undefined;
  }

  private addPolicy(p: PolicySpec, trap: boolean): string | undefined {
    if (p.mode !== 'tunnel') return 'the userspace data plane carries tunnel mode only';
    const hold = `${p.reqid}/${trap}`;
    if (!this.held.has(hold)) {
      const keys: string[] = [];
      try {
        for (const ts of p.remoteTs) {
          const src = preferredSource(p.localTs, ts.startAddr.length === 16 ? 6 : 4);
          for (const pre of rangeToPrefixes(ts.startAddr, ts.endAddr)) {
            const dst = `${pre.addr.length === 16 ? ipv6Text(pre.addr) : ipv4Text(pre.addr)}/${pre.len}`;
            if (covers(ts, p.remote)) this.host?.log('warn', `userspace data plane: remote selector ${dst} covers the peer's own address ${p.remote}; its IKE and ESP would loop into ${this.tun?.name} (not supported: narrow the selector)`);
            this.hold(dst, src);
            keys.push(dst);
          }
        }
      } catch (e) {
        for (const k of keys) this.release(k);
        throw e;
      }
      this.held.set(hold, keys);
    }
    this.post({ op: 'policy', entry: { reqid: p.reqid, localTs: p.localTs, remoteTs: p.remoteTs, trap } });
    return undefined;
  }

  private delPolicy(p: PolicySpec, trap: boolean): void {
    const hold = `${p.reqid}/${trap}`;
    for (const k of this.held.get(hold) ?? []) this.release(k);
    this.held.delete(hold);
    this.post({ op: 'del-policy', reqid: p.reqid, trap });
  }

  /**
   * A virtual IP goes on the TUN device, as strongSwan's kernel-libipsec puts it on ipsec0: the
   * routes of the Child SA that follows take it as their preferred source, so the host's own
   * traffic into the tunnel leaves from it.
   */
  private addAddress(address: string): string | undefined {
    const n = this.addresses.get(address) ?? 0;
    if (n === 0) this.rtnl?.addAddress(this.tun?.name ?? '', `${address}/${address.includes(':') ? 128 : 32}`);
    this.addresses.set(address, n + 1);
    return undefined;
  }

  private delAddress(address: string): void {
    const n = this.addresses.get(address) ?? 0;
    if (n > 1) {
      this.addresses.set(address, n - 1);
      return;
    }
    if (n === 0) return;
    this.addresses.delete(address);
    try {
      this.rtnl?.deleteAddress(this.tun?.name ?? '', `${address}/${address.includes(':') ? 128 : 32}`);
    } catch (e) {
      this.host?.log('warn', `userspace data plane: ${errorText(e)}`);
    }
  }

  private hold(dst: string, src: string | undefined): void {
    const r = this.routes.get(dst);
    if (r) {
      r.users++;
      return;
    }
    const dev = this.tun?.name ?? '';
    this.rtnl?.addRoute({ dst, dev, ...(src ? { src } : {}) });
    this.routes.set(dst, { dst, ...(src ? { src } : {}), users: 1 });
  }

  private release(dst: string): void {
    const r = this.routes.get(dst);
    if (!r || --r.users > 0) return;
    this.routes.delete(dst);
    try {
      this.rtnl?.deleteRoute({ dst, dev: this.tun?.name ?? '' });
    } catch (e) {
      this.host?.log('warn', `userspace data plane: ${errorText(e)}`);
    }
  }

  usage(spi: number, direction: 'in' | 'out', dst?: string): SaUsage | undefined {
    let s: SaStats | undefined;
    if (dst !== undefined) s = this.stats.get(key(direction, spi, dst));
    else for (const x of this.stats.values()) if (x.spi === spi && x.direction === direction) s = x;
    return s ? { bytes: s.bytes, packets: s.packets, drops: s.drops } : { bytes: 0, packets: 0 };
  }

  drops(): Readonly<Record<string, number>> {
    const out: Record<string, number> = { ...this.planeDrops };
    const add = (d: Readonly<Record<string, number>>): void => {
      for (const [k, v] of Object.entries(d)) out[k] = (out[k] ?? 0) + v;
    };
    add(this.retired);
    for (const s of this.stats.values()) add(s.drops);
    // Sealed (and counted by its SA) but refused by the socket (its send buffer full), and
    // opened but refused by the TUN device: lost here, not on the wire.
    for (const [name, c] of Object.entries(this.pump?.counters() ?? {})) {
      if (c.txDropped === 0) continue;
      const reason = name === 'tun' ? 'tun-write-failed' : 'send-failed';
      out[reason] = (out[reason] ?? 0) + c.txDropped;
    }
    return out;
  }

  /** Port counters of the pump (packets and octets per socket and the TUN device), for tests and benchmarks. */
  portCounters(): ReturnType<PacketPump['counters']> | undefined {
    return this.pump?.counters();
  }

  async close(): Promise<void> {
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    await this.pump?.close();
    this.pump = undefined;
    this.rtnl?.close();
    this.rtnl = undefined;
    // The device goes, and with it every route into it.
    this.tun?.close();
    this.tun = undefined;
    this.routes.clear();
    this.held.clear();
    this.addresses.clear();
  }
}

function key(direction: 'in' | 'out', spi: number, dst: string): string {
  return `${direction}/${spi}/${dst}`;
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // already closed
  }
}

function addressBytes(address: string): Uint8Array | undefined {
  const v = isIP(address);
  return v === 4 ? ipv4Bytes(address) : v === 6 ? ipv6Bytes(address) : undefined;
}

/** Does a selector cover this address (any protocol and port)? */
function covers(ts: TrafficSelector, address: string): boolean {
  const b = addressBytes(address);
  return b !== undefined && b.length === ts.startAddr.length && matches({ ...ts, ipProtocol: 0, startPort: 0, endPort: 65535 }, b, 0, 0);
}

/** An address of this host inside the local selectors, of the family, to send the gateway's own packets from. */
function preferredSource(localTs: readonly TrafficSelector[], family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (family === 4) !== (a.family === 'IPv4')) continue;
      if (localTs.some((ts) => covers(ts, a.address))) return a.address;
    }
  }
  return undefined;
}
