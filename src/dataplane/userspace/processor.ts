/**
 * The userspace ESP plane's per-packet work, inside the packet pump's worker (src/dataplane/sys/
 * pump-api.ts): IP packets from the TUN device are matched against the SPD and sealed with the
 * outbound SA of their policy (RFC 4301 §5.1), ESP from the raw sockets or from UDP port 4500
 * (RFC 3948) is opened with the inbound SA of its SPI, checked against that SA's selectors
 * (RFC 4301 §5.2) and written to the TUN device. Traffic on a trap raises an acquire. All of it
 * synchronous: the worker's event loop never turns.
 *
 * Ports (plane.ts names them): 'tun'; 'esp4'/'esp6' raw ESP sockets; 'natt:<address>' the
 * daemon's NAT-T socket of a local address (send only: node:dgram reads it); 'natt-in' the ESP
 * in UDP the main thread injects.
 */
import type { PacketProcessor, PreparedAddr, ProcessorFactory, PumpContext } from '../sys/pump-api.js';
import { createEspSa, espSpi } from '../esp/index.js';
import type { EspInboundSa, EspOutboundSa, EspSaEvent } from '../esp/index.js';
import { Spd, inboundAllowed, packetFields } from './spd.js';
import { PLANE_DROPS } from './messages.js';
import type { PlaneDrops, PlaneEvent, SaStats, WorkerMessage } from './messages.js';
import type { EspSaSpec } from '../../engine/dataplane.js';

/** Acquires for one trap at most this often (the engine answers the first; RFC 4301 §4.4.1). */
const ACQUIRE_EVERY_MS = 1000;

interface Outbound {
  readonly sa: EspOutboundSa;
  spec: EspSaSpec;
  /** The port it leaves by; undefined: a NAT-T socket the worker has no fd for (sent by main). */
  port: string | undefined;
  to: PreparedAddr;
}

interface Inbound {
  readonly sa: EspInboundSa;
  readonly spec: EspSaSpec;
}

export const createProcessor: ProcessorFactory = (_options: unknown, ctx: PumpContext): PacketProcessor => {
  const spd = new Spd();
  const inbound = new Map<number, Inbound>();
  /** Outbound SAs per request ID, oldest first: the newest carries the traffic (make-before-break, RFC 7296 §2.8). */
  const outbound = new Map<number, Outbound[]>();
  const lastAcquire = new Map<number, number>();
  const drops = Object.fromEntries(PLANE_DROPS.map((d) => [d, 0])) as Record<PlaneDrops, number>;
  const scratch = Buffer.allocUnsafe(65536 + 512);
  const post = (e: PlaneEvent): void => ctx.post(e);

  const portFor = (s: EspSaSpec): string | undefined => {
    const name = s.encap ? `natt:${s.src.address}` : s.dst.address.includes(':') ? 'esp6' : 'esp4';
    return ctx.ports.includes(name) ? name : undefined;
  };

  function addSa(s: EspSaSpec): void {
    const onEvent = (e: EspSaEvent): void => post({ op: 'expire', spi: e.spi, direction: e.direction, kind: e.kind, dst: s.dst.address });
    if (s.direction === 'in') {
      inbound.set(s.spi, { sa: createEspSa({ ...s, direction: 'in' }, { onEvent }), spec: s });
      return;
    }
    const list = outbound.get(s.reqid) ?? [];
    list.push({ sa: createEspSa({ ...s, direction: 'out' }, { onEvent }), spec: s, port: portFor(s), to: ctx.address({ address: s.dst.address, port: s.encap ? s.dst.port : 0 }) });
    outbound.set(s.reqid, list);
  }

  function delSa(direction: 'in' | 'out', spi: number, dst: string): void {
    if (direction === 'in') {
      inbound.delete(spi);
      return;
    }
    for (const [reqid, list] of outbound) {
      const next = list.filter((o) => o.sa.spi !== spi || o.spec.dst.address !== dst);
      if (next.length === list.length) continue;
      if (next.length > 0) outbound.set(reqid, next);
      else outbound.delete(reqid);
    }
  }

  function moveSa(spi: number, dst: string, to: { address: string; port: number }): void {
    for (const list of outbound.values()) {
      for (const o of list) {
        if (o.sa.spi !== spi || o.spec.dst.address !== dst) continue;
        o.spec = { ...o.spec, dst: to };
        o.to = ctx.address({ address: to.address, port: o.spec.encap ? to.port : 0 });
      }
    }
  }

  function fromTun(data: Uint8Array, cx: PumpContext): void {
    const f = packetFields(data);
    if (!f) {
      drops['not-ip']++;
      return;
    }
    const policy = spd.outbound(f);
    if (!policy) {
      drops['no-policy']++;
      return;
    }
    const out = outbound.get(policy.reqid)?.at(-1);
    if (!out) {
      drops['no-sa']++;
      if (policy.trap) {
        const now = cx.now();
        if ((lastAcquire.get(policy.reqid) ?? -Infinity) + ACQUIRE_EVERY_MS <= now) {
          lastAcquire.set(policy.reqid, now);
          post({ op: 'acquire', reqid: policy.reqid });
        }
      }
      return;
    }
    // The SA counts what it refuses (sequence exhausted, expired, not an IP packet).
    const n = out.sa.sealInto(data, scratch, 0);
    if (typeof n !== 'number') return;
    if (out.port !== undefined) cx.send(out.port, scratch.subarray(0, n), out.to);
    else if (out.spec.encap) post({ op: 'send', from: out.spec.src.address, to: out.to.addr, data: Uint8Array.prototype.slice.call(scratch, 0, n) });
    else drops['no-port']++;
  }

  function fromNetwork(data: Uint8Array, cx: PumpContext): void {
    const entry = data.length >= 8 ? inbound.get(espSpi(data)) : undefined;
    if (!entry) {
      drops['unknown-spi']++;
      return;
    }
    // The SA counts its own drops (integrity, replay, padding...).
    const r = entry.sa.open(data);
    if (!r.ok) return;
    const policy = spd.get(entry.spec.reqid);
    const f = packetFields(r.inner);
    if (!policy || !f || !inboundAllowed(policy, f)) {
      drops.selectors++;
      return;
    }
    cx.send('tun', r.inner);
  }

  function stats(): PlaneEvent {
    const sas: SaStats[] = [];
    for (const e of inbound.values()) sas.push({ ...e.sa.stats(), dst: e.spec.dst.address, reqid: e.spec.reqid });
    for (const list of outbound.values()) for (const o of list) sas.push({ ...o.sa.stats(), dst: o.spec.dst.address, reqid: o.spec.reqid });
    return { op: 'stats', sas, drops: { ...drops } };
  }

  return {
    onPacket(data, src, cx) {
      if (src.kind === 'tun') fromTun(data, cx);
      // RFC 3948 §2: on the NAT-T socket only a non-zero first word is ESP; the rest (IKE,
      // keepalives) belongs to the daemon.
      else if (src.kind === 'udp' && !(data.length > 8 && (data[0] !== 0 || data[1] !== 0 || data[2] !== 0 || data[3] !== 0))) cx.deliver(data, src);
      else fromNetwork(data, cx);
    },
    onMessage(m, cx) {
      const msg = m as WorkerMessage;
      switch (msg.op) {
        case 'add-sa':
          addSa(msg.sa);
          break;
        case 'del-sa':
          delSa(msg.direction, msg.spi, msg.dst);
          break;
        case 'move-sa':
          if (msg.direction === 'out') moveSa(msg.spi, msg.dst, msg.to);
          break;
        case 'policy':
          spd.set(msg.entry);
          break;
        case 'del-policy':
          spd.delete(msg.reqid, msg.trap);
          if (msg.trap) lastAcquire.delete(msg.reqid);
          break;
        case 'stats':
          cx.post(stats());
          break;
      }
    },
    onTick(_now, cx) {
      if (inbound.size > 0 || outbound.size > 0) cx.post(stats());
    },
    close(cx) {
      cx.post(stats());
    },
  };
};

export default createProcessor;
