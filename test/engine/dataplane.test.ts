/**
 * The engine drives the data plane (src/engine/dataplane.ts): what it installs for a Child
 * SA, in which order on a rekey (make-before-break, RFC 7296 §2.8), what goes when SAs end,
 * traps and acquires, and what the plane's reports (failures, usage limits) make it do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { isMessage, onlySa } from '../helpers/engine-wire.js';
import type { DataPlaneCommand, EspSaSpec } from '../../src/engine/dataplane.js';
import { REQID_FIRST, REQID_LAST } from '../../src/engine/dataplane.js';
import type { ChildSaInfo } from '../../src/engine/types.js';
import { ExchangeType } from '../../src/wire/index.js';

const IKE = 'aes256gcm16-prfsha384-x25519';

type AddSa = Extract<DataPlaneCommand, { op: 'add-sa' }>;

function adds(cmds: readonly DataPlaneCommand[]): EspSaSpec[] {
  return cmds.filter((c): c is AddSa => c.op === 'add-sa').map((c) => c.sa);
}

function ops(cmds: readonly DataPlaneCommand[]): string[] {
  return cmds.map((c) =>
    c.op === 'add-sa' ? `add-sa ${c.sa.direction} ${c.sa.spi.toString(16)}` : c.op === 'del-sa' ? `del-sa ${c.direction} ${c.spi.toString(16)}` : c.op === 'update-sa' ? `update-sa ${c.sa.spi.toString(16)} ${c.oldDst} -> ${c.sa.dst.address}:${c.sa.dst.port}` : 'policy' in c ? `${c.op} ${c.policy.reqid}` : (c as { readonly op: string }).op,
  );
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('a new Child SA: each side installs both directions with the right keys and SPIs, and its policies once', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  const { i, r } = pair.establish();
  const ci = pair.i.children(i)[0] as ChildSaInfo;
  const cr = pair.r.children(r)[0] as ChildSaInfo;
  for (const [cmds, c, role] of [[pair.planeI, ci, 'initiator'], [pair.planeR, cr, 'responder']] as const) {
    assert.deepEqual(ops(cmds).map((o) => o.split(' ')[0]), ['add-sa', 'add-sa', 'add-policies'], role);
    const [inb, outb] = adds(cmds);
    assert.ok(inb && outb);
    assert.equal(inb.direction, 'in');
    assert.equal(inb.spi, c.spiIn);
    assert.equal(outb.spi, c.spiOut);
    assert.equal(inb.reqid, outb.reqid);
    assert.ok(inb.reqid >= REQID_FIRST && inb.reqid <= REQID_LAST);
    assert.equal(inb.mode, 'tunnel');
    assert.equal(inb.replayWindow, 128);
    assert.equal(outb.replayWindow, 0);
    assert.equal(inb.encap, false);
  }
  // RFC 7296 §2.17: the initiator's keys protect the initiator's outbound traffic.
  const [iIn, iOut] = adds(pair.planeI);
  const [rIn, rOut] = adds(pair.planeR);
  assert.equal(hex(iOut?.encr.key ?? new Uint8Array()), hex(ci.keys.encrI));
  assert.equal(hex(rIn?.encr.key ?? new Uint8Array()), hex(ci.keys.encrI));
  assert.equal(hex(rOut?.encr.key ?? new Uint8Array()), hex(ci.keys.encrR));
  assert.equal(hex(iIn?.encr.key ?? new Uint8Array()), hex(ci.keys.encrR));
  assert.equal(iOut?.spi, rIn?.spi);
  assert.equal(rOut?.spi, iIn?.spi);
  // The outer addresses.
  assert.deepEqual([iOut?.src.address, iOut?.dst.address], ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual([iIn?.src.address, iIn?.dst.address], ['192.0.2.2', '192.0.2.1']);
});

test('a Child SA rekey is make-before-break: the initiator moves its outbound at once, the responder when the replaced SA is deleted (RFC 7296 §2.8)', () => {
  const pair = new EnginePair({ ikeI: [IKE], espI: ['aes256gcm16-x25519-ke1_mlkem768'] });
  const { i, r } = pair.establish();
  const old = pair.i.children(i)[0] as ChildSaInfo;
  const oldR = pair.r.children(r)[0] as ChildSaInfo;
  const mark = [pair.planeI.length, pair.planeR.length];
  // Hold back the initiator's Delete of the replaced SA to see the responder's state in between.
  let held: Uint8Array | undefined;
  pair.filter = (d) => (d.from === 'i' && isMessage(d.data, ExchangeType.INFORMATIONAL, false) && !held ? ((held = d.data), undefined) : d.data);
  assert.ok(pair.i.rekeyChild(i, old.spiIn, pair.now));
  pair.run();
  const fresh = pair.i.children(i).find((c) => c.rekeyOf === old.spiIn) as ChildSaInfo;
  const freshR = pair.r.children(r).find((c) => c.rekeyOf === oldR.spiIn) as ChildSaInfo;
  assert.ok(fresh && freshR);
  const ri = ops(pair.planeR.slice(mark[1]));
  assert.deepEqual(ri, [`add-sa in ${freshR.spiIn.toString(16)}`], 'the responder receives on the new SA, sends on the old');
  // The Delete arrives: the responder switches, then removes the old pair.
  assert.ok(held);
  pair.filter = (d) => d.data;
  pair.inject('i', held);
  const r2 = ops(pair.planeR.slice(mark[1]));
  assert.deepEqual(r2, [`add-sa in ${freshR.spiIn.toString(16)}`, `add-sa out ${freshR.spiOut.toString(16)}`, `del-sa in ${oldR.spiIn.toString(16)}`, `del-sa out ${oldR.spiOut.toString(16)}`]);
  const i2 = ops(pair.planeI.slice(mark[0]));
  assert.deepEqual(i2, [`add-sa in ${fresh.spiIn.toString(16)}`, `add-sa out ${fresh.spiOut.toString(16)}`, `del-sa in ${old.spiIn.toString(16)}`, `del-sa out ${old.spiOut.toString(16)}`]);
  // The request ID stays (the policies are kept); the keys are the new ones (with ML-KEM-768).
  const newIn = adds(pair.planeI.slice(mark[0]))[0];
  assert.equal(newIn?.reqid, adds(pair.planeI)[0]?.reqid);
  assert.equal(hex(newIn?.encr.key ?? new Uint8Array()), hex(fresh.keys.encrR));
  assert.deepEqual(fresh.keMethods, [31, 36]);
});

test('the IKE SA goes: every SA and the policies go with it, on both sides', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  const { i } = pair.establish();
  pair.i.createChild(i, 'net', pair.now);
  pair.run();
  const mark = [pair.planeI.length, pair.planeR.length];
  pair.i.terminate(i, pair.now);
  pair.run();
  for (const cmds of [pair.planeI.slice(mark[0]), pair.planeR.slice(mark[1])]) {
    const o = ops(cmds).map((x) => x.split(' ')[0]);
    assert.equal(o.filter((x) => x === 'del-sa').length, 4);
    assert.equal(o.filter((x) => x === 'del-policies').length, 2, 'one request ID per Child SA');
  }
});

test('a failed install (the plane\'s reason) deletes the Child SA and tells the peer', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  const { i, r } = pair.establish();
  const cmd = pair.planeR.find((c) => c.op === 'add-sa');
  assert.ok(cmd);
  pair.r.dataPlaneFailed(cmd, 'Requested type not found', pair.now);
  pair.run();
  assert.ok(pair.eventsR.some((e) => e.type === 'log' && e.level === 'error' && /failed: Requested type not found/.test(e.message)));
  assert.deepEqual(pair.r.children(r), []);
  assert.deepEqual(pair.i.children(i), [], 'the peer got the Delete');
});

test('usage limits: a soft expiry rekeys the Child SA, a hard one deletes it', () => {
  const pair = new EnginePair({ ikeI: [IKE], child: { rekeyBytes: 1_000_000, lifeBytes: 2_000_000 } });
  const { i } = pair.establish();
  const c = pair.i.children(i)[0] as ChildSaInfo;
  const spec = adds(pair.planeI)[0];
  assert.deepEqual(spec?.limits, { softBytes: 1_000_000, hardBytes: 2_000_000 });
  assert.ok(pair.i.expire(c.spiIn, 'in', 'soft', pair.now));
  pair.run();
  const next = pair.i.children(i);
  assert.equal(next.length, 1);
  assert.equal(next[0]?.rekeyOf, c.spiIn);
  assert.ok(pair.i.expire(next[0]?.spiOut ?? 0, 'out', 'hard', pair.now, '192.0.2.2'));
  pair.run();
  assert.deepEqual(pair.i.children(i), []);
});

test('trap: the first packet\'s acquire brings the connection up; its Child SA uses the trap\'s policies, which stay when it goes', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  pair.i.trap('moon');
  pair.run();
  const trap = pair.planeI.find((c) => c.op === 'add-trap');
  assert.ok(trap && trap.op === 'add-trap');
  assert.deepEqual(pair.i.list(), []);
  assert.ok(pair.i.acquire(trap.policy.reqid, pair.now));
  pair.run();
  const sa = pair.i.list()[0];
  assert.equal(sa?.state, 'established');
  assert.ok(!pair.i.acquire(trap.policy.reqid, pair.now), 'a second acquire while it is up does nothing');
  const inst = adds(pair.planeI);
  assert.equal(inst.length, 2);
  assert.ok(inst.every((a) => a.reqid === trap.policy.reqid), 'the SAs complete the trap\'s template');
  assert.ok(!pair.planeI.some((c) => c.op === 'add-policies'), 'the trap policies serve the Child SA');
  pair.i.terminate(sa?.id ?? -1, pair.now);
  pair.run();
  assert.ok(!pair.planeI.some((c) => c.op === 'del-policies' || c.op === 'del-trap'), 'the trap stays for the next packet');
  pair.i.untrap('moon');
  pair.run();
  assert.equal(pair.planeI.filter((c) => c.op === 'del-trap').length, 1);
});

test('behind a NAT the SAs are UDP-encapsulated (RFC 3948)', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  // The pair cannot NAT; make the initiator see one once NAT detection ran (IKE_SA_INIT).
  pair.filter = (d) => {
    if (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false)) onlySa(pair.i).natLocal = true;
    return d.data;
  };
  pair.initiate();
  pair.run();
  const specs = adds(pair.planeI);
  assert.equal(specs.length, 2);
  assert.ok(specs.every((a) => a.encap), 'ESP in UDP both ways');
  assert.ok(adds(pair.planeR).every((a) => !a.encap), 'the responder saw no NAT');
});

test('a NAT mapping that moves (RFC 7296 §2.23): the side not behind the NAT follows the next authenticated request, and its outbound SAs with it (update-sa; the policies too when the address changed)', () => {
  const pair = new EnginePair({ ikeI: [IKE] });
  pair.filter = (d) => {
    if (d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false)) {
      onlySa(pair.i).natLocal = true;
      onlySa(pair.r).natRemote = true;
    }
    return d.data;
  };
  pair.initiate();
  pair.run();
  const out = adds(pair.planeR).find((a) => a.direction === 'out');
  assert.ok(out && out.encap, 'the responder sends ESP in UDP');
  const before = pair.planeR.length;
  // A new port on the same address: the next request (a liveness check) comes from it.
  pair.sourceI = { address: '192.0.2.1', port: 40123 };
  const id = pair.i.list()[0]?.id ?? -1;
  assert.ok(pair.i.checkLiveness(id, pair.now));
  pair.run();
  const moved = pair.planeR.slice(before);
  assert.deepEqual(ops(moved), [`update-sa ${out.spi.toString(16)} 192.0.2.1 -> 192.0.2.1:40123`]);
  // Then a new address as well: the SA moves and the policies are re-made with it.
  const before2 = pair.planeR.length;
  pair.sourceI = { address: '203.0.113.7', port: 40999 };
  assert.ok(pair.i.checkLiveness(id, pair.now));
  pair.run();
  const moved2 = pair.planeR.slice(before2);
  assert.deepEqual(ops(moved2).map((o) => o.split(' ')[0]), ['update-sa', 'del-policies', 'add-policies']);
  const del = moved2[1];
  const add = moved2[2];
  assert.ok(del?.op === 'del-policies' && add?.op === 'add-policies');
  assert.equal(del.policy.remote, '192.0.2.1');
  assert.equal(add.policy.remote, '203.0.113.7');
  // An unauthenticated datagram from elsewhere moves nothing.
  const before3 = pair.planeR.length;
  pair.sourceI = { address: '198.18.0.66', port: 4500 };
  pair.inject('i', new Uint8Array(64));
  assert.equal(pair.planeR.length, before3);
  assert.equal(pair.r.list()[0]?.remote.address, '203.0.113.7');
});

test('inbound SPIs come from the data plane when it hands them out (the kernel\'s ALLOCSPI), at random otherwise', () => {
  const asked: { src: string; dst: string }[] = [];
  let next = 0x1000;
  const pair = new EnginePair({ ikeI: [IKE], engineOptions: { allocateSpi: (sa) => (asked.push(sa), next++) }, responderEngineOptions: {} });
  const { i } = pair.establish();
  assert.equal(pair.i.children(i)[0]?.spiIn, 0x1000);
  assert.deepEqual(asked, [{ src: '192.0.2.2', dst: '192.0.2.1' }]);
  // A plane that has none to give: the engine draws one.
  const none = new EnginePair({ ikeI: [IKE], engineOptions: { allocateSpi: () => undefined }, responderEngineOptions: {} });
  const ids = none.establish();
  assert.ok((none.i.children(ids.i)[0]?.spiIn ?? 0) >= 256);
});
