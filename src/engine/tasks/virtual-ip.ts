/**
 * Virtual IPs through the Configuration payload in IKE_AUTH (RFC 7296 §3.15, §2.19): a client
 * (a connection with `vips`) sends CP(CFG_REQUEST) with INTERNAL_IP4_ADDRESS and/or
 * INTERNAL_IP6_ADDRESS (empty, or the address it would like) and asks for DNS servers; a
 * gateway (a connection with `pools`) leases an address per peer identity and answers
 * CP(CFG_REPLY). The leased address is the client's traffic selector (§2.9: the client offers
 * TSi of "any" of the family, the gateway narrows it to the address); the client's data plane
 * gets the address ('add-address') before its Child SA is installed. Pools that cannot serve a
 * request: INTERNAL_ADDRESS_FAILURE in place of the Child SA, the IKE SA still set up
 * (§3.10.1). Leases go back when the IKE SA ends (not when a rekey replaces it).
 */
import { CfgAttrType, CfgType, ExchangeType, PayloadType } from '../../wire/constants.js';
import { NotifyType } from '../../wire/constants.js';
import type { CfgAttribute, Payload, TrafficSelector } from '../../wire/types.js';
import { addressToBytes, bytesToAddress } from '../address.js';
import { formatIdentity } from '../identity.js';
import type { IkeSa } from '../ike-sa.js';
import { find } from '../payloads.js';
import { hostSelector, parseTrafficSelector } from '../traffic-selectors.js';
import type { AddressPool } from './virtual-ip-pool.js';
import { TaskSlot } from './task.js';
import type { Task, TaskExchange } from './task.js';

declare module '../types.js' {
  interface ConnectionConfig {
    /**
     * Initiator: virtual addresses to ask for (strongSwan's `vips`): 0.0.0.0 or :: for any
     * of that family, or the address we would like.
     */
    readonly vips?: readonly string[];
    /** Responder: the pools to lease virtual addresses from, tried in order (strongSwan's `pools`). */
    readonly pools?: readonly AddressPool[];
  }
  interface TaskEvents {
    /** Virtual addresses of an IKE SA: leased to the peer (gateway) or received (client). */
    'virtual-ip': {
      readonly type: 'virtual-ip';
      readonly sa: number;
      readonly role: 'leased' | 'received';
      readonly addresses: readonly string[];
      readonly dns: readonly string[];
    };
  }
}

declare module '../dataplane.js' {
  interface DataPlaneCommands {
    /** Client: put a virtual address on the host (the userspace plane: its TUN device), before the Child SA that uses it. */
    'add-address': { readonly op: 'add-address'; readonly connection: string; readonly address: string };
    'del-address': { readonly op: 'del-address'; readonly connection: string; readonly address: string };
  }
}

interface Held {
  readonly addresses: readonly string[];
  readonly dns: readonly string[];
  /** Gateway: the pools to give the addresses back to, and whom they went to. */
  readonly leases?: readonly { readonly pool: AddressPool; readonly address: string }[];
  readonly identity?: string;
}

const held = new TaskSlot<Held>('virtual-ip');

/** DNS servers of one family taken from a CFG_REPLY. */
const MAX_DNS = 4;

const ADDRESS = { 4: CfgAttrType.INTERNAL_IP4_ADDRESS, 6: CfgAttrType.INTERNAL_IP6_ADDRESS } as const;
const DNS = { 4: CfgAttrType.INTERNAL_IP4_DNS, 6: CfgAttrType.INTERNAL_IP6_DNS } as const;

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function isAny(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** An INTERNAL_IP6_ADDRESS value is the address and a prefix length (§3.15.1). */
function addressValue(address: string): Uint8Array {
  const b = addressToBytes(address);
  return b.length === 4 ? b : Uint8Array.from([...b, 128]);
}

function cp(cfgType: number, attributes: CfgAttribute[]): Payload {
  return { type: PayloadType.CP, critical: false, cfgType, attributes };
}

function addresses(attrs: readonly CfgAttribute[], type: number): string[] {
  const out: string[] = [];
  for (const a of attrs) {
    if (a.type !== type) continue;
    if (type === CfgAttrType.INTERNAL_IP4_ADDRESS || type === CfgAttrType.INTERNAL_IP4_DNS) {
      if (a.value.length === 4) out.push(bytesToAddress(a.value));
    } else if (a.value.length >= 16) out.push(bytesToAddress(a.value.subarray(0, 16)));
  }
  return out;
}

function plane(sa: IkeSa, op: 'add-address' | 'del-address', address: string): void {
  sa.host.dataPlane({ op, connection: sa.connection?.name ?? '', address });
}

// ---- client ----------------------------------------------------------------------------------

function request(x: TaskExchange, out: Payload[]): void {
  const vips = x.sa.connection?.vips ?? [];
  if (vips.length === 0) return;
  const attrs: CfgAttribute[] = [];
  const families = new Set<4 | 6>();
  for (const v of vips) {
    const f = familyOf(v);
    families.add(f);
    attrs.push({ type: ADDRESS[f], value: isAny(v) ? new Uint8Array(0) : addressValue(v) });
  }
  for (const f of families) attrs.push({ type: DNS[f], value: new Uint8Array(0) });
  out.push(cp(CfgType.REQUEST, attrs));
  // TSi: any address of the families asked for, for the gateway to narrow to what it assigns.
  x.localTs = [...families].map((f): TrafficSelector => parseTrafficSelector(f === 4 ? '0.0.0.0/0' : '::/0'));
}

function received(x: TaskExchange, response: readonly Payload[]): void {
  const vips = x.sa.connection?.vips ?? [];
  if (vips.length === 0) return;
  const reply = find(response, PayloadType.CP);
  if (!reply || reply.cfgType !== CfgType.REPLY) return x.sa.log('warn', 'the gateway assigned no virtual IP (no CFG_REPLY)');
  // A gateway's answer is taken only as far as it answers what we asked: one address of each
  // family we asked for, not an "any" address, not the gateway's own or a loopback one (either
  // on our TUN device would cut the tunnel off), and a few DNS servers.
  const families = new Set(vips.map(familyOf));
  const usable = (a: string): boolean => !isAny(a) && a !== x.sa.remote.address && !/^127\.|^::1$/.test(a);
  const got = [...families].flatMap((f) => addresses(reply.attributes, ADDRESS[f]).filter(usable).slice(0, 1));
  const dns = [...families].flatMap((f) => addresses(reply.attributes, DNS[f]).filter((a) => !isAny(a)).slice(0, MAX_DNS));
  if (got.length === 0) return x.sa.log('warn', 'the gateway assigned no usable virtual IP (CFG_REPLY without an address we asked for)');
  held.set(x.sa, { addresses: got, dns });
  for (const a of got) plane(x.sa, 'add-address', a);
  x.sa.log('info', `virtual IP ${got.join(', ')} received${dns.length ? `, DNS ${dns.join(', ')}` : ''}`);
  x.sa.event({ type: 'virtual-ip', sa: x.sa.id, role: 'received', addresses: got, dns });
}

// ---- gateway ---------------------------------------------------------------------------------

function lease(x: TaskExchange, req: readonly Payload[]): void {
  const pools = x.sa.connection?.pools ?? [];
  const asked = find(req, PayloadType.CP);
  if (pools.length === 0 || !asked || asked.cfgType !== CfgType.REQUEST) return;
  const identity = x.sa.remoteIdentity ? formatIdentity(x.sa.remoteIdentity) : x.sa.remote.address;
  const leases: { pool: AddressPool; address: string }[] = [];
  const got: string[] = [];
  let askedFor = 0;
  for (const f of [4, 6] as const) {
    const attr = asked.attributes.find((a) => a.type === ADDRESS[f]);
    if (!attr) continue;
    askedFor++;
    const wish = addresses([attr], ADDRESS[f])[0];
    for (const pool of pools.filter((p) => p.family === f)) {
      const a = pool.lease(identity, wish !== undefined && !isAny(wish) ? wish : undefined);
      if (a === undefined) continue;
      leases.push({ pool, address: a });
      got.push(a);
      break;
    }
  }
  if (askedFor === 0) {
    // No address asked for (DNS only): a CFG_REPLY with what the pools have, and the Child SA
    // narrowed as configured.
    const dns = [...new Set(pools.flatMap((p) => p.dns))];
    held.set(x.sa, { addresses: [], dns, leases: [], identity });
    return;
  }
  if (got.length === 0) {
    x.childRefusal = { notify: NotifyType.INTERNAL_ADDRESS_FAILURE, reason: `no virtual IP for ${identity}: the pools ${pools.map((p) => p.name).join(', ')} have none left for what it asked` };
    return;
  }
  const dns = pools.filter((p) => got.some((a) => familyOf(a) === p.family)).flatMap((p) => p.dns);
  held.set(x.sa, { addresses: got, dns: [...new Set(dns)], leases, identity });
  // The peer's traffic selector is the address it was given (RFC 7296 §2.9).
  x.remoteTs = got.map(hostSelector);
}

function reply(x: TaskExchange, _req: readonly Payload[], out: Payload[]): void {
  const h = held.get(x.sa);
  if (!h?.leases) return;
  const attrs: CfgAttribute[] = h.addresses.map((a) => ({ type: ADDRESS[familyOf(a)], value: addressValue(a) }));
  for (const d of h.dns) attrs.push({ type: DNS[familyOf(d)], value: addressToBytes(d) });
  out.push(cp(CfgType.REPLY, attrs));
}

function leased(x: TaskExchange): void {
  const h = held.get(x.sa);
  if (!h?.leases) return;
  if (h.addresses.length === 0) return;
  x.sa.log('info', `virtual IP ${h.addresses.join(', ')} leased to ${h.identity ?? ''}`);
  x.sa.event({ type: 'virtual-ip', sa: x.sa.id, role: 'leased', addresses: h.addresses, dns: h.dns });
}

export const virtualIp: Task = {
  name: 'virtual-ip',
  exchanges: [ExchangeType.IKE_AUTH],
  buildRequest: request,
  processResponse: received,
  processRequest: lease,
  buildResponse: reply,
  completed: leased,
  selectors(sa) {
    const h = held.get(sa);
    if (!h) return undefined;
    const ts = h.addresses.map(hostSelector);
    if (ts.length === 0) return undefined;
    return h.leases ? { remote: ts } : { local: ts };
  },
  ended(sa) {
    const h = held.delete(sa);
    if (!h) return;
    if (h.leases) for (const l of h.leases) l.pool.release(l.address);
    else for (const a of h.addresses) plane(sa, 'del-address', a);
  },
};
