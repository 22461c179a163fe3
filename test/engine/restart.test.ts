/**
 * Tunnels that come back by themselves (strongSwan's keyingtries, dpd_action, close_action),
 * on the simulated network with a virtual clock: the peer is unreachable, restarted with no
 * state, or deletes what we hold; the tunnel returns within the configured back-off, or
 * stays down when the configuration says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/engine/engine.js';
import type { ChildConfig, ConnectionConfig, EngineEvent, EngineOptions } from '../../src/engine/types.js';
import { ADDR_I, ADDR_R, connections } from '../helpers/engine-pair.js';
import { SimNet, headerSummary, simSeed } from '../helpers/simnet.js';
import { parseIdentity } from '../../src/engine/identity.js';

const HYBRID = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
/** Short retransmissions: an attempt gives up after 0.5 + 1 + 2 = 3.5 s. */
const QUICK: EngineOptions = { retransmitTimeoutMs: 500, retransmitTries: 2 };

interface Setup {
  readonly conn?: Partial<ConnectionConfig>;
  readonly child?: Partial<ChildConfig>;
  readonly connR?: Partial<ConnectionConfig>;
  readonly childR?: Partial<ChildConfig>;
}

function responderEngine(net: SimNet, s: Setup, label = 'sun'): IkeEngine {
  const c = connections({ ikeI: [HYBRID] }).responder;
  const r = new IkeEngine({ ...QUICK, random: net.randomSource(label) });
  r.addConnection({ ...c, ...s.connR, children: c.children.map((ch) => ({ ...ch, ...s.childR })) });
  return r;
}

function build(seed: number, s: Setup): SimNet {
  const net = new SimNet({ seed, quiet: true, link: { delayMs: 10 } });
  const c = connections({ ikeI: [HYBRID] }).initiator;
  const i = new IkeEngine({ ...QUICK, random: net.randomSource('moon') });
  i.addConnection({ ...c, ...s.conn, children: c.children.map((ch) => ({ ...ch, ...s.child })) });
  net.addNode('moon', i, [ADDR_I]);
  net.addNode('sun', responderEngine(net, s), [ADDR_R]);
  return net;
}

function at(net: SimNet, node: string, type: EngineEvent['type']): { time: number; event: EngineEvent }[] {
  return net.timedEvents().filter((e) => e.node === node && e.event.type === type).map((e) => ({ time: e.time, event: e.event }));
}

function established(net: SimNet, node: string): boolean {
  return net.ike(node).list().some((s) => s.state === 'established') && net.ike(node).list().every((s) => net.ike(node).children(s.id).length > 0 || s.state !== 'established');
}

test('keyingtries 3: two more attempts after doubling back-offs, then the connection gives up', () => {
  const net = build(simSeed(1), { conn: { keyingTries: 3, retryDelayMs: 2000 } });
  net.partition({ start: 0, end: Infinity, a: 'moon', b: 'sun' });
  net.initiate('moon', 'moon');
  net.runUntil(120_000);
  const failed = at(net, 'moon', 'ike-failed').map((e) => (e.event.type === 'ike-failed' ? e : undefined)).filter((e) => e !== undefined);
  assert.equal(failed.length, 3);
  const plans = failed.map((f) => (f.event.type === 'ike-failed' ? f.event.restart : undefined));
  assert.equal(plans[0]?.attempt, 2);
  assert.equal(plans[1]?.attempt, 3);
  assert.equal(plans[2], undefined, 'no fourth attempt');
  // Back-offs of 2 s and 4 s, less up to 10 % jitter.
  assert.ok((plans[0]?.inMs ?? 0) > 1800 && (plans[0]?.inMs ?? 0) <= 2000, String(plans[0]?.inMs));
  assert.ok((plans[1]?.inMs ?? 0) > 3600 && (plans[1]?.inMs ?? 0) <= 4000, String(plans[1]?.inMs));
  // Each attempt started when its back-off was over.
  const requests = net.datagrams().filter((d) => d.summary.startsWith('IKE_SA_INIT q'));
  const firstOfEach = new Map<string, number>();
  for (const d of requests) {
    const spi = /i=([0-9a-f]+)/.exec(d.summary)?.[1] ?? '';
    if (!firstOfEach.has(spi)) firstOfEach.set(spi, d.time);
  }
  const starts = [...firstOfEach.values()].map((time) => ({ time }));
  assert.equal(starts.length, 3, JSON.stringify(requests.map((d) => d.summary)));
  assert.ok(Math.abs((starts[1]?.time ?? 0) - ((failed[0]?.time ?? 0) + (plans[0]?.inMs ?? 0))) < 1);
  assert.deepEqual(net.ike('moon').list(), []);
  assert.equal(net.ike('moon').nextDeadline(), undefined, 'nothing left scheduled');
});

test('keyingtries 0: the peer is unreachable for 100 s; the tunnel comes up within one attempt plus the longest back-off of it returning', () => {
  const maxDelay = 10_000;
  const net = build(simSeed(2), { conn: { keyingTries: 0, retryDelayMs: 1000, retryDelayMaxMs: maxDelay } });
  net.partition({ start: 0, end: 100_000, a: 'moon', b: 'sun' });
  net.initiate('moon', 'moon');
  net.runUntil(100_000 + 3_500 + maxDelay + 1_000);
  const up = at(net, 'moon', 'ike-up');
  assert.equal(up.length, 1);
  assert.ok((up[0]?.time ?? 0) >= 100_000 && (up[0]?.time ?? 0) <= 100_000 + 3_500 + maxDelay, `up at ${up[0]?.time}`);
  assert.ok(at(net, 'moon', 'ike-failed').length >= 8, 'it kept trying');
  assert.ok(established(net, 'moon') && established(net, 'sun'));
  console.log(`restart: unreachable until 100 s, tunnel up at ${Math.round(up[0]?.time ?? 0)} ms after ${at(net, 'moon', 'ike-failed').length} failed attempts`);
});

test('dpd_action restart: the peer restarts without its SAs; the liveness check finds it dead and the tunnel comes back', () => {
  const net = build(simSeed(3), { conn: { dpdDelayMs: 5000, keyingTries: 0, retryDelayMs: 1000, retryDelayMaxMs: 4000 }, child: { dpdAction: 'restart' } });
  net.initiate('moon', 'moon');
  net.runUntil(2000);
  assert.ok(established(net, 'moon'));
  // The peer's process restarts at 10 s and is unreachable until 30 s.
  net.runUntil(10_000);
  net.replaceEngine('sun', responderEngine(net, {}, 'sun-2'));
  net.partition({ start: 10_000, end: 30_000, a: 'moon', b: 'sun' });
  net.runUntil(60_000);
  const failed = at(net, 'moon', 'ike-failed');
  assert.ok(failed.length >= 1);
  const dead = failed[0]?.event;
  assert.ok(dead?.type === 'ike-failed' && dead.restart?.attempt === 1, JSON.stringify(dead));
  const ups = at(net, 'moon', 'ike-up');
  assert.equal(ups.length, 2, 'up again');
  assert.ok((ups[1]?.time ?? 0) < 30_000 + 3_500 + 4_000, `back at ${ups[1]?.time}`);
  assert.ok(established(net, 'moon') && established(net, 'sun'));
  assert.equal(net.ike('moon').list().length, 1);
  assert.equal(net.ike('sun').list().length, 1);
});

test('dpd_action clear: a dead peer ends the tunnel for good; dpd_action trap asks for a trap policy instead', () => {
  for (const dpdAction of ['clear', 'trap'] as const) {
    const net = build(simSeed(4), { conn: { dpdDelayMs: 5000, keyingTries: 0 }, child: { dpdAction } });
    net.initiate('moon', 'moon');
    net.runUntil(2000);
    net.partition({ start: 2000, end: 20_000, a: 'moon', b: 'sun' });
    net.runUntil(60_000);
    const failed = at(net, 'moon', 'ike-failed')[0]?.event;
    assert.ok(failed?.type === 'ike-failed' && failed.restart === undefined, dpdAction);
    assert.equal(at(net, 'moon', 'ike-up').length, 1, `${dpdAction}: not restarted`);
    const traps = at(net, 'moon', 'trap').map((e) => (e.event.type === 'trap' ? `${e.event.connection}/${e.event.child}` : ''));
    assert.deepEqual(traps, dpdAction === 'trap' ? ['moon/net'] : []);
  }
});

test('close_action start: the peer deletes the IKE SA and it is initiated again; a local down ends it for good', () => {
  const net = build(simSeed(5), { conn: { retryDelayMs: 1000 }, child: { closeAction: 'start' } });
  net.initiate('moon', 'moon');
  net.runUntil(2000);
  const sunId = net.ike('sun').list()[0]?.id ?? -1;
  net.act('sun', (e, now) => (e as IkeEngine).terminate(sunId, now));
  net.runUntil(10_000);
  const down = at(net, 'moon', 'ike-down')[0]?.event;
  assert.ok(down?.type === 'ike-down' && down.restart?.attempt === 1, JSON.stringify(down));
  assert.equal(at(net, 'moon', 'ike-up').length, 2);
  assert.ok(established(net, 'moon') && established(net, 'sun'));
  // pqike down: nothing comes back.
  net.act('moon', (e, now) => (e as IkeEngine).down('moon', now));
  net.runUntil(60_000);
  assert.equal(at(net, 'moon', 'ike-up').length, 2);
  assert.deepEqual(net.ike('moon').list(), []);
  assert.deepEqual(net.ike('sun').list(), []);
});

test('close_action start on a Child SA: the peer deletes it alone and it is created again on the same IKE SA', () => {
  const net = build(simSeed(6), { child: { closeAction: 'start' } });
  net.initiate('moon', 'moon');
  net.runUntil(2000);
  const sun = net.ike('sun');
  const id = sun.list()[0]?.id ?? -1;
  const spi = sun.children(id)[0]?.spiIn ?? 0;
  net.act('sun', (e, now) => (e as IkeEngine).deleteChild(id, spi, now));
  net.runUntil(5000);
  const moonId = net.ike('moon').list()[0]?.id ?? -1;
  assert.equal(net.ike('moon').list().length, 1, 'the IKE SA stayed');
  assert.equal(at(net, 'moon', 'child-up').length, 2);
  assert.equal(net.ike('moon').children(moonId).length, 1);
  assert.equal(sun.children(id).length, 1);
  assert.notEqual(sun.children(id)[0]?.spiIn, spi);
});

test('keyingtries does not restart an established SA that a local down or a rekey ends', () => {
  const net = build(simSeed(7), { conn: { keyingTries: 0 }, child: { dpdAction: 'restart', closeAction: 'start' } });
  const id = net.initiate('moon', 'moon');
  net.runUntil(2000);
  net.act('moon', (e, now) => (e as IkeEngine).rekeyIke(id, now));
  net.runUntil(5000);
  assert.equal(at(net, 'moon', 'ike-rekeyed').length, 1);
  const downs = at(net, 'moon', 'ike-down').map((e) => (e.event.type === 'ike-down' ? e.event.restart : 'x'));
  assert.deepEqual(downs, [undefined], 'the replaced SA is not restarted');
  assert.equal(net.ike('moon').list().length, 1);
  net.act('moon', (e, now) => (e as IkeEngine).down('moon', now));
  net.runUntil(30_000);
  assert.deepEqual(net.ike('moon').list(), []);
  assert.equal(net.ike('moon').nextDeadline(), undefined);
});

test('a failed attempt does not restart a connection the peer has brought up meanwhile (both sides start it), nor does a due attempt', () => {
  const net = build(simSeed(8), { conn: { keyingTries: 0, retryDelayMs: 1000 } });
  // sun also initiates the tunnel (a mirror of moon's connection).
  const mirror = connections({ ikeI: [HYBRID] }).responder;
  net.ike('sun').addConnection({ ...mirror, name: 'back', remoteAddress: ADDR_I, remoteId: parseIdentity('moon.example.org') });
  // moon's IKE_SA_INIT requests are lost until 4 s, so its attempt gives up at 3.5 s.
  net.setLink('moon', 'sun', { delayMs: 10, hook: (d) => (headerSummary(d.data).startsWith('IKE_SA_INIT q') && d.time < 4000 ? 'drop' : undefined) });
  net.initiate('moon', 'moon');
  net.runUntil(1500);
  net.initiate('sun', 'back');
  net.runUntil(60_000);
  const failed = at(net, 'moon', 'ike-failed').map((e) => (e.event.type === 'ike-failed' ? e.event : undefined));
  assert.equal(failed.length, 1);
  assert.equal(failed[0]?.restart, undefined, 'no attempt scheduled: the peer\'s IKE SA of this connection is up');
  assert.equal(net.ike('moon').list().length, 1);
  assert.equal(net.ike('sun').list().length, 1);
  assert.equal(net.ike('moon').list()[0]?.role, 'responder');
});
