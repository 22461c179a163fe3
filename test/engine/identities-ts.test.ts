import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/engine/engine.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { formatSelector, parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import type { ConnectionConfig, EngineEvent } from '../../src/engine/types.js';
import { EnginePair } from '../helpers/engine-pair.js';
import { NotifyType } from '../../src/wire/constants.js';

/** Drive two engines on arbitrary (IPv4 or IPv6) endpoints until quiet. */
function handshake(ci: ConnectionConfig, cr: ConnectionConfig): { i: EngineEvent[]; r: EngineEvent[] } {
  const ei = new IkeEngine();
  const er = new IkeEngine();
  ei.addConnection(ci);
  er.addConnection(cr);
  const epI = { address: ci.localAddress, port: 500 };
  const epR = { address: cr.localAddress, port: 500 };
  ei.initiate(ci.name, 0, { local: epI, remote: epR });
  const i: EngineEvent[] = [];
  const r: EngineEvent[] = [];
  for (let n = 0; n < 100; n++) {
    const oi = ei.drain();
    const or = er.drain();
    if (oi.length === 0 && or.length === 0) break;
    for (const o of oi) o.kind === 'event' ? i.push(o.event) : er.receive(o.data, epI, epR, 0);
    for (const o of or) o.kind === 'event' ? r.push(o.event) : ei.receive(o.data, epR, epI, 0);
  }
  return { i, r };
}

function conn(name: string, local: string, remote: string, localId: string, remoteId: string | undefined, lts: string, rts: string): ConnectionConfig {
  const base: ConnectionConfig = {
    name,
    localAddress: local,
    remoteAddress: remote,
    localId: parseIdentity(localId),
    psk: new TextEncoder().encode('identity-test-psk-0123456789'),
    ikeProposals: parseProposals(['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'),
    children: [{ name: 'c', espProposals: parseProposals(['aes256gcm16'], 'esp'), localTs: [parseTrafficSelector(lts)], remoteTs: [parseTrafficSelector(rts)], mode: 'tunnel' }],
  };
  return remoteId === undefined ? base : { ...base, remoteId: parseIdentity(remoteId) };
}

for (const [label, idI, idR] of [
  ['FQDN', 'moon.example.org', 'sun.example.org'],
  ['IPv4', '192.0.2.1', '192.0.2.2'],
  ['IPv6', '2001:db8::1', '2001:db8::2'],
  ['RFC822', 'moon@example.org', 'sun@example.org'],
  ['KEY_ID', 'keyid:#0a0b0c0d', 'keyid:#01020304'],
] as const) {
  test(`IKE_AUTH with ${label} identities on both sides, matched by the peers`, () => {
    const { i, r } = handshake(
      conn('i', '192.0.2.1', '192.0.2.2', idI, idR, '10.1.0.0/16', '10.2.0.0/16'),
      conn('r', '192.0.2.2', '%any', idR, idI, '10.2.0.0/16', '10.1.0.0/16'),
    );
    const upI = i.find((e) => e.type === 'ike-up');
    const upR = r.find((e) => e.type === 'ike-up');
    assert.ok(upI?.type === 'ike-up' && upR?.type === 'ike-up', JSON.stringify(i.filter((e) => e.type === 'ike-failed')));
    assert.equal(upI.ike.remoteId, parseIdentity(idR).kind === 'keyid' ? `keyid:${parseIdentity(idR).value}` : parseIdentity(idR).value);
  });
}

test('IPv6 endpoints: the IKE SA and Child SA come up over IPv6 with IPv6 selectors', () => {
  const { i, r } = handshake(
    conn('i', '2001:db8::1', '2001:db8::2', 'moon', 'sun', '2001:db8:1::/48', '2001:db8:2::/48'),
    conn('r', '2001:db8::2', '%any', 'sun', 'moon', '2001:db8:2::/48', '2001:db8:1::/48'),
  );
  const ci = i.find((e) => e.type === 'child-up');
  assert.ok(ci?.type === 'child-up');
  assert.equal(ci.child.localTs.map(formatSelector).join(), '2001:db8:1::/48');
  assert.ok(r.some((e) => e.type === 'child-up'));
});

test('the responder narrows the initiator\'s wider traffic selectors to its own (RFC 7296 §2.9)', () => {
  const { i } = handshake(
    conn('i', '192.0.2.1', '192.0.2.2', 'moon', 'sun', '10.0.0.0/8', '0.0.0.0/0'),
    conn('r', '192.0.2.2', '%any', 'sun', 'moon', '10.2.0.0/16', '10.1.0.0/16'),
  );
  const ci = i.find((e) => e.type === 'child-up');
  assert.ok(ci?.type === 'child-up');
  assert.equal(ci.child.localTs.map(formatSelector).join(), '10.1.0.0/16');
  assert.equal(ci.child.remoteTs.map(formatSelector).join(), '10.2.0.0/16');
});

test('disjoint traffic selectors: IKE SA up, Child SA refused with TS_UNACCEPTABLE', () => {
  const { i } = handshake(
    conn('i', '192.0.2.1', '192.0.2.2', 'moon', 'sun', '10.1.0.0/16', '10.9.0.0/16'),
    conn('r', '192.0.2.2', '%any', 'sun', 'moon', '10.2.0.0/16', '10.1.0.0/16'),
  );
  assert.ok(i.some((e) => e.type === 'ike-up'));
  assert.ok(!i.some((e) => e.type === 'child-up'));
  assert.ok(i.some((e) => e.type === 'child-failed' && e.notify === NotifyType.TS_UNACCEPTABLE && /TS_UNACCEPTABLE/.test(e.reason)), 'one child-failed event, no separate log line');
  assert.ok(!i.some((e) => e.type === 'log' && /TS_UNACCEPTABLE/.test(e.message)));
});

test('a Child SA event carries no key material into JSON output of the CLI formatter', async () => {
  const { eventToJson } = await import('../../src/daemon/event-format.js');
  const pair = new EnginePair();
  pair.initiate();
  pair.run();
  const child = pair.eventsI.find((e) => e.type === 'child-up');
  assert.ok(child);
  const json = JSON.stringify(eventToJson(child));
  assert.ok(!json.includes('keys') && !json.includes('encrI'), json);
});
