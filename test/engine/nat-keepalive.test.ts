/**
 * NAT keepalives (RFC 3948 §2.3, §4): the side behind a NAT sends one 0xFF octet from its NAT-T
 * port when it has sent the peer nothing for 20 s; the other side sends none, and without a NAT
 * nobody does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { isMessage, onlySa } from '../helpers/engine-wire.js';
import { ExchangeType } from '../../src/wire/index.js';
import { NAT_KEEPALIVE_MS } from '../../src/engine/nat-keepalive.js';

const IKE = 'aes256gcm16-prfsha384-x25519';

function watched(nat: boolean): { pair: EnginePair; sent: { from: 'i' | 'r'; at: number; size: number }[] } {
  const pair = new EnginePair({ ikeI: [IKE] });
  const sent: { from: 'i' | 'r'; at: number; size: number }[] = [];
  pair.filter = (d) => {
    if (nat && d.from === 'i' && isMessage(d.data, ExchangeType.IKE_AUTH, false)) onlySa(pair.i).natLocal = true;
    sent.push({ from: d.from, at: pair.now, size: d.data.length });
    return d.data;
  };
  pair.initiate();
  pair.run();
  return { pair, sent };
}

test('behind a NAT the initiator sends a keepalive after 20 s of silence, and again every 20 s', () => {
  const { pair, sent } = watched(true);
  const lastIke = Math.max(...sent.map((s) => s.at));
  pair.runFor(3 * NAT_KEEPALIVE_MS + 1000);
  const keepalives = sent.filter((s) => s.size === 1);
  assert.deepEqual(keepalives.map((k) => k.from), ['i', 'i', 'i']);
  assert.deepEqual(keepalives.map((k) => k.at), [1, 2, 3].map((n) => lastIke + n * NAT_KEEPALIVE_MS));
  const out = pair.i.drain();
  assert.equal(out.length, 0);
});

test('a keepalive goes out only after 20 s without anything else sent to the peer', () => {
  const { pair, sent } = watched(true);
  pair.runFor(NAT_KEEPALIVE_MS - 5000);
  // An IKE exchange of ours (a liveness check) 15 s in: the next keepalive is 20 s after it.
  const id = pair.i.list()[0]?.id ?? -1;
  assert.ok(pair.i.checkLiveness(id, pair.now));
  pair.run();
  const dpdAt = pair.now;
  pair.runFor(NAT_KEEPALIVE_MS + 1000);
  const keepalives = sent.filter((s) => s.size === 1);
  assert.deepEqual(keepalives.map((k) => k.at), [dpdAt + NAT_KEEPALIVE_MS]);
});

test('without a NAT nobody sends keepalives', () => {
  const { pair, sent } = watched(false);
  pair.runFor(3 * NAT_KEEPALIVE_MS);
  assert.equal(sent.filter((s) => s.size === 1).length, 0);
});
