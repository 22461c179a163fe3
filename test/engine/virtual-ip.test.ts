/**
 * Virtual IPs (tasks/virtual-ip.ts, RFC 7296 §3.15): a client with `vips` gets an address out
 * of the gateway's pool in IKE_AUTH, that address is its traffic selector on both sides, its
 * data plane gets the address before the Child SA, leases stay per identity, go back when the
 * IKE SA ends (not on a rekey), and an exhausted pool answers INTERNAL_ADDRESS_FAILURE with
 * the IKE SA up and no Child SA (§3.10.1). Several clients are several engine pairs whose
 * gateways share one pool object, as one gateway's connections would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair, connections } from '../helpers/engine-pair.js';
import { onlySa } from '../helpers/engine-wire.js';
import { buildProposals } from '../../src/engine/proposal-select.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { AddressPool, PoolError } from '../../src/engine/tasks/virtual-ip-pool.js';
import { formatSelector, parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { CfgAttrType, CfgType, ExchangeType, NotifyType, PayloadType, ProtocolId, nameOf } from '../../src/wire/constants.js';
import { virtualIp } from '../../src/engine/tasks/virtual-ip.js';
import { notify } from '../../src/engine/payloads.js';
import { u32 } from '../../src/engine/util.js';
import type { CfgAttribute } from '../../src/wire/types.js';
import type { EngineEvent } from '../../src/engine/types.js';

function client(pool: AddressPool, name: string, vips: readonly string[] = ['0.0.0.0']): EnginePair {
  return new EnginePair({
    connI: { vips, localId: parseIdentity(`${name}.example.org`) },
    connR: { pools: [pool], remoteId: undefined },
  });
}

const vipEvents = (ev: readonly EngineEvent[]): Extract<EngineEvent, { type: 'virtual-ip' }>[] => ev.filter((e): e is Extract<EngineEvent, { type: 'virtual-ip' }> => e.type === 'virtual-ip');

test('a client gets the first address of the pool and its DNS server; the address is its traffic selector on both ends', () => {
  const pool = new AddressPool('rw', '10.3.0.0/24', ['10.3.0.53']);
  const pair = client(pool, 'carol');
  const ids = pair.establish();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(vipEvents(pair.eventsI).map((e) => [e.role, e.addresses, e.dns]), [['received', ['10.3.0.1'], ['10.3.0.53']]]);
  assert.deepEqual(vipEvents(pair.eventsR).map((e) => [e.role, e.addresses, e.dns]), [['leased', ['10.3.0.1'], ['10.3.0.53']]]);
  const [ci] = pair.i.children(ids.i);
  const [cr] = pair.r.children(ids.r);
  assert.ok(ci && cr);
  assert.deepEqual(ci.localTs.map(formatSelector), ['10.3.0.1/32']);
  assert.deepEqual(cr.remoteTs.map(formatSelector), ['10.3.0.1/32']);
  assert.deepEqual(ci.remoteTs.map(formatSelector), cr.localTs.map(formatSelector));
  // The client's plane has the address before anything of the Child SA is installed.
  const ops = pair.planeI.map((c) => c.op);
  assert.equal(ops[0], 'add-address');
  assert.deepEqual(pair.planeI[0], { op: 'add-address', connection: 'moon', address: '10.3.0.1' });
  assert.ok(ops.includes('add-sa') && ops.includes('add-policies'));
  // The gateway's plane gets no address: it only routes to it.
  assert.ok(!pair.planeR.some((c) => c.op === 'add-address'));
  // On the wire: CP(CFG_REQUEST) out, CP(CFG_REPLY) back, in IKE_AUTH.
  const auth = (ev: readonly EngineEvent[], dir: 'in' | 'out'): readonly string[] => {
    for (const e of ev) if (e.type === 'message' && e.exchange === ExchangeType.IKE_AUTH && e.direction === dir && e.response === (dir === 'in')) return e.payloads;
    return [];
  };
  assert.ok(auth(pair.eventsI, 'out').includes('CP'));
  assert.ok(auth(pair.eventsI, 'in').includes('CP'));
  assert.equal(pool.online, 1);
});

test('leases are per identity: two clients get two addresses, an exhausted pool refuses the third with INTERNAL_ADDRESS_FAILURE and the IKE SA stays up without a Child SA', () => {
  const pool = new AddressPool('rw', '10.3.0.0/30'); // .1 and .2
  const a = client(pool, 'alice');
  const b = client(pool, 'bob');
  const c = client(pool, 'carol');
  const ia = a.establish();
  const ib = b.establish();
  assert.deepEqual(a.i.children(ia.i)[0]?.localTs.map(formatSelector), ['10.3.0.1/32']);
  assert.deepEqual(b.i.children(ib.i)[0]?.localTs.map(formatSelector), ['10.3.0.2/32']);
  const ic = c.establish();
  assert.equal(c.i.list()[0]?.state, 'established');
  assert.deepEqual(c.i.children(ic.i), []);
  assert.deepEqual(c.r.children(ic.r), []);
  const refused = c.eventsI.some((e) => e.type === 'child-failed' && /refused: INTERNAL_ADDRESS_FAILURE/.test(e.reason));
  assert.ok(refused, 'the client logs the refusal');
  // Both sides say so in a typed event: the gateway what it refused, the client which Child SA failed.
  const refusal = c.eventsR.find((e) => e.type === 'refused');
  assert.ok(refusal?.type === 'refused' && refusal.notify === NotifyType.INTERNAL_ADDRESS_FAILURE && refusal.exchange === ExchangeType.IKE_AUTH && /no virtual IP for carol\.example\.org/.test(refusal.reason), JSON.stringify(refusal));
  const failed = c.eventsI.find((e) => e.type === 'child-failed');
  assert.ok(failed?.type === 'child-failed' && failed.notify === NotifyType.INTERNAL_ADDRESS_FAILURE && failed.child === 'net' && !failed.rekey, JSON.stringify(failed));
  assert.deepEqual(vipEvents(c.eventsI), []);
  const reply = c.eventsR.find((e) => e.type === 'message' && e.exchange === ExchangeType.IKE_AUTH && e.direction === 'out');
  assert.ok(reply?.type === 'message' && reply.payloads.includes(`N(${nameOf(NotifyType, NotifyType.INTERNAL_ADDRESS_FAILURE)})`) && !reply.payloads.includes('SA'));
});

test('a lease goes back when the IKE SA is deleted (the client removes its address); the same identity gets the same address again, and an offline lease is reused last', () => {
  const pool = new AddressPool('rw', '10.3.0.0/30');
  const a = client(pool, 'alice');
  const ia = a.establish();
  assert.ok(a.i.terminate(ia.i, a.now));
  a.run();
  assert.equal(a.i.list().length, 0);
  assert.equal(pool.online, 0);
  assert.deepEqual(a.planeI.filter((c) => c.op === 'del-address'), [{ op: 'del-address', connection: 'moon', address: '10.3.0.1' }]);
  // Bob takes the never-used .2 rather than alice's offline .1 …
  const b = client(pool, 'bob');
  const ib = b.establish();
  assert.deepEqual(b.i.children(ib.i)[0]?.localTs.map(formatSelector), ['10.3.0.2/32']);
  // … alice, back, gets .1 again …
  const a2 = client(pool, 'alice');
  const ia2 = a2.establish();
  assert.deepEqual(a2.i.children(ia2.i)[0]?.localTs.map(formatSelector), ['10.3.0.1/32']);
  assert.ok(a2.i.terminate(ia2.i, a2.now));
  a2.run();
  // … and once the pool is full, carol gets alice's offline lease.
  const c = client(pool, 'carol');
  const ic = c.establish();
  assert.deepEqual(c.i.children(ic.i)[0]?.localTs.map(formatSelector), ['10.3.0.1/32']);
});

test('an IKE SA rekey keeps the lease and the client address (with ADDKE and IKE_FOLLOWUP_KE)', () => {
  const pool = new AddressPool('rw', '10.3.0.0/30');
  const pair = client(pool, 'alice');
  const ids = pair.establish();
  assert.ok(pair.i.rekeyIke(ids.i, pair.now));
  pair.run();
  for (let k = 0; k < 5 && pair.advance(); k++);
  assert.deepEqual(pair.errors(), []);
  assert.equal(pair.i.list().length, 1);
  assert.notEqual(pair.i.list()[0]?.id, ids.i);
  assert.equal(pool.online, 1);
  assert.ok(!pair.planeI.some((c) => c.op === 'del-address'));
  // Deleting the new IKE SA gives the lease back: it was handed over, not copied.
  const [now] = pair.i.list();
  assert.ok(now && pair.i.terminate(now.id, pair.now));
  pair.run();
  assert.equal(pool.online, 0);
  assert.equal(pair.planeI.filter((c) => c.op === 'del-address').length, 1);
});

test('a client may ask for an address it would like, and gets it if it is free; IPv6 pools lease /128s', () => {
  const pool = new AddressPool('rw', '10.3.0.0/28');
  const pair = client(pool, 'alice', ['10.3.0.9']);
  const ids = pair.establish();
  assert.deepEqual(pair.i.children(ids.i)[0]?.localTs.map(formatSelector), ['10.3.0.9/32']);
  const six = new AddressPool('rw6', 'fd00:3::/120', ['fd00:3::53']);
  const p6 = new EnginePair({ connI: { vips: ['::'] }, connR: { pools: [six] } });
  // IPv6 selectors on both ends for this one.
  const cI = p6.i.connections()[0];
  const cR = p6.r.connections()[0];
  assert.ok(cI && cR);
  const ts = parseTrafficSelector;
  p6.i.addConnection({ ...cI, children: cI.children.map((ch) => ({ ...ch, localTs: [ts('::/0')], remoteTs: [ts('fd00:9::/64')] })) });
  p6.r.addConnection({ ...cR, children: cR.children.map((ch) => ({ ...ch, localTs: [ts('fd00:9::/64')], remoteTs: [ts('fd00:3::/120')] })) });
  const i6 = p6.establish();
  assert.deepEqual(p6.errors(), []);
  assert.deepEqual(p6.i.children(i6.i)[0]?.localTs.map(formatSelector), ['fd00:3::1/128']);
  assert.deepEqual(vipEvents(p6.eventsI)[0]?.dns, ['fd00:3::53']);
});

test('a gateway without pools ignores CFG_REQUEST (the client gets no address, the Child SA uses the configured selectors)', () => {
  const pair = new EnginePair({ connI: { vips: ['0.0.0.0'] } });
  const ids = pair.establish();
  assert.deepEqual(vipEvents(pair.eventsI), []);
  assert.ok(pair.eventsI.some((e) => e.type === 'log' && /assigned no virtual IP/.test(e.message)));
  assert.deepEqual(pair.r.children(ids.r)[0]?.remoteTs.map(formatSelector), ['198.51.100.0/24']);
});

test('address pools: prefixes skip the network and broadcast addresses, ranges keep their ends, bad definitions are refused', () => {
  const p = new AddressPool('a', '10.0.0.0/30');
  assert.equal(p.size, 2);
  assert.deepEqual([p.lease('x'), p.lease('y'), p.lease('z')], ['10.0.0.1', '10.0.0.2', undefined]);
  const r = new AddressPool('b', '10.0.0.10-10.0.0.12');
  assert.equal(r.size, 3);
  assert.equal(r.lease('x'), '10.0.0.10');
  assert.equal(new AddressPool('c', '10.0.0.7/32').lease('x'), '10.0.0.7');
  assert.equal(new AddressPool('e', '10.0.0.0/8').size, 16777214);
  assert.throws(() => new AddressPool('f', '10.0.0.0/33'), PoolError);
  assert.throws(() => new AddressPool('g', 'banana'), PoolError);
  assert.throws(() => new AddressPool('h', '10.0.0.5-10.0.0.1'), PoolError);
  assert.throws(() => new AddressPool('i', '10.0.0.1-fd00::1'), PoolError);
  // A second IKE SA of one identity gets another address unless it asks for its own (then
  // both hold it until both let go): claiming a peer's identity does not take its address.
  const q = new AddressPool('q', '10.0.0.0/29');
  const first = q.lease('x');
  assert.equal(first, '10.0.0.1');
  assert.equal(q.lease('x'), '10.0.0.2');
  assert.equal(q.lease('y', '10.0.0.1'), '10.0.0.3', 'another identity asking for an online address gets a fresh one');
  assert.equal(q.lease('x', '10.0.0.1'), '10.0.0.1');
  q.release('10.0.0.1');
  assert.equal(q.online, 3);
  q.release('10.0.0.1');
  assert.equal(q.online, 2);
  assert.equal(q.lease('x'), '10.0.0.1', 'its own offline lease first');
});

/**
 * A CREATE_CHILD_SA request sent as the client by hand (its own task would offer its virtual
 * IP): a Child SA with SPI `spi` for TSi `tsi`, a rekey of the SA with outbound SPI `rekeys`.
 */
function greedyChildRequest(client: ReturnType<typeof onlySa>, spi: number, tsi: string, now: number, rekeys?: number): void {
  client.sendRequest(ExchangeType.CREATE_CHILD_SA, [
    ...(rekeys === undefined ? [] : [notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, u32(rekeys))]),
    { type: PayloadType.SA, critical: false, proposals: buildProposals(parseProposals(['aes256gcm16'], 'esp'), { spi: u32(spi) }) },
    { type: PayloadType.NONCE, critical: false, data: new Uint8Array(32).fill(spi & 0xff) },
    { type: PayloadType.TSi, critical: false, selectors: [parseTrafficSelector(tsi)] },
    { type: PayloadType.TSr, critical: false, selectors: [parseTrafficSelector('198.51.100.128/25')] },
  ], now);
}

test('every Child SA of the IKE SA keeps to the virtual IP: a second one by CREATE_CHILD_SA gets it on both sides, and the gateway narrows a client that asks for more', () => {
  const pool = new AddressPool('rw', '10.3.0.0/24');
  const [net] = connections().initiator.children;
  assert.ok(net);
  const more = { ...net, name: 'more' };
  const pair = new EnginePair({ connI: { vips: ['0.0.0.0'], children: [net, more] }, connR: { pools: [pool] } });
  const ids = pair.establish();
  assert.deepEqual(pair.errors(), []);
  const byName = pair.i.children(ids.i).map((c) => [c.name, c.localTs.map(formatSelector)]);
  assert.deepEqual(byName, [['net', ['10.3.0.1/32']], ['more', ['10.3.0.1/32']]]);
  assert.deepEqual(pair.r.children(ids.r).map((c) => c.remoteTs.map(formatSelector)), [['10.3.0.1/32'], ['10.3.0.1/32']]);
  // A client that offers the whole IPv4 space in CREATE_CHILD_SA gets its own address only.
  const client = onlySa(pair.i);
  greedyChildRequest(client, 0x12345678, '0.0.0.0/0', pair.now);
  pair.run();
  const greedy = pair.r.children(ids.r).find((c) => c.spiOut === 0x12345678);
  assert.ok(greedy, 'the gateway made the Child SA');
  assert.deepEqual(greedy.remoteTs.map(formatSelector), ['10.3.0.1/32']);
});

test('a Child SA rekey keeps to the lease: an honest rekey succeeds, one asking for the whole pool is narrowed to the client\'s address', () => {
  const pool = new AddressPool('rw', '10.3.0.0/24');
  const pair = new EnginePair({ connI: { vips: ['0.0.0.0'] }, connR: { pools: [pool] } });
  // The gateway's child config allows the whole pool (remote_ts left to it, as the daemon does).
  const cR = pair.r.connections()[0];
  assert.ok(cR);
  pair.r.addConnection({ ...cR, children: cR.children.map((ch) => ({ ...ch, remoteTs: [parseTrafficSelector('10.3.0.0/24')] })) });
  const ids = pair.establish();
  const [c] = pair.i.children(ids.i);
  assert.ok(c);
  assert.ok(pair.i.rekeyChild(ids.i, c.spiIn, pair.now));
  pair.run();
  assert.deepEqual(pair.eventsR.filter((e) => e.type === 'refused'), []);
  assert.deepEqual(pair.r.children(ids.r).map((x) => x.remoteTs.map(formatSelector)), [['10.3.0.1/32']]);
  // Now a rekey request whose TSi is the whole pool.
  const [now] = pair.r.children(ids.r);
  assert.ok(now);
  const client = onlySa(pair.i);
  greedyChildRequest(client, 0x22334455, '10.3.0.0/24', pair.now, now.spiOut);
  pair.run();
  const greedy = pair.r.children(ids.r).find((x) => x.spiOut === 0x22334455);
  assert.ok(greedy, 'the gateway made the rekeyed Child SA');
  assert.deepEqual(greedy.remoteTs.map(formatSelector), ['10.3.0.1/32']);
});

test('CFG_REQUEST for DNS only: a CFG_REPLY with the DNS servers and a normal Child SA, no lease', () => {
  const pool = new AddressPool('rw', '10.3.0.0/24', ['10.3.0.53']);
  const pair = new EnginePair({ connR: { pools: [pool] } });
  // Our client always asks for an address; the task is driven directly with such a request.
  const ids = pair.establish();
  assert.ok(ids.r);
  const sa = onlySa(pair.r);
  const x: { sa: typeof sa; exchange: number; now: number; childRefusal?: unknown; remoteTs?: unknown } = { sa, exchange: ExchangeType.IKE_AUTH, now: 0 };
  virtualIp.processRequest?.(x as never, [{ type: PayloadType.CP, critical: false, cfgType: CfgType.REQUEST, attributes: [{ type: CfgAttrType.INTERNAL_IP4_DNS, value: new Uint8Array(0) }] }]);
  assert.equal(x.childRefusal, undefined);
  assert.equal(x.remoteTs, undefined);
  const out: import('../../src/wire/types.js').Payload[] = [];
  virtualIp.buildResponse?.(x as never, [], out);
  assert.deepEqual(out.map((p) => (p.type === PayloadType.CP ? [p.cfgType, p.attributes.map((a) => [a.type, [...a.value].join('.')])] : p.type)), [[CfgType.REPLY, [[CfgAttrType.INTERNAL_IP4_DNS, '10.3.0.53']]]]);
  assert.equal(pool.online, 0);
});

test('a client takes from CFG_REPLY only what it asked for: one IPv4 address, not 0.0.0.0, not the gateway\'s own, not IPv6, not 1000 of them', () => {
  const pair = new EnginePair({ connI: { vips: ['0.0.0.0'] } });
  pair.establish();
  const sa = onlySa(pair.i);
  pair.i.drainDataPlane();
  const attrs: CfgAttribute[] = [
    { type: CfgAttrType.INTERNAL_IP4_ADDRESS, value: Uint8Array.of(0, 0, 0, 0) },
    { type: CfgAttrType.INTERNAL_IP4_ADDRESS, value: Uint8Array.of(192, 0, 2, 2) },
    { type: CfgAttrType.INTERNAL_IP6_ADDRESS, value: Uint8Array.from([0xfd, ...new Array<number>(14).fill(0), 1, 128]) },
  ];
  for (let i = 0; i < 1000; i++) attrs.push({ type: CfgAttrType.INTERNAL_IP4_ADDRESS, value: Uint8Array.of(10, 9, i >> 8, i & 255) });
  for (let i = 0; i < 50; i++) attrs.push({ type: CfgAttrType.INTERNAL_IP4_DNS, value: Uint8Array.of(10, 8, 0, i) });
  virtualIp.processResponse?.({ sa, exchange: ExchangeType.IKE_AUTH, now: 0 } as never, [{ type: PayloadType.CP, critical: false, cfgType: CfgType.REPLY, attributes: attrs }]);
  const added = pair.i.drainDataPlane().filter((c) => c.op === 'add-address');
  assert.deepEqual(added.map((c) => (c.op === 'add-address' ? c.address : '')), ['10.9.0.0']);
  const [vip] = pair.i.drain().flatMap((o) => (o.kind === 'event' && o.event.type === 'virtual-ip' ? [o.event] : []));
  assert.ok(vip);
  assert.equal(vip.dns.length, 4);
});
