// IKE fragmentation (RFC 7383): ML-KEM-1024 key shares do not fit a 1280-byte datagram, so the
// IKE_INTERMEDIATE messages travel as SKF fragments. Fragment sizes, reordering, tampering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_I, ADDR_R, EnginePair, connections } from '../helpers/engine-pair.js';
import type { Delivered } from '../helpers/engine-pair.js';
import { decode, failures, hasNotify, isMessage, logs, onlySa, ups } from '../helpers/engine-wire.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/wire/index.js';
import type { SkfPayload } from '../../src/wire/index.js';

const SUITES = ['aes256gcm16-prfsha384-x25519-ke1_mlkem1024', 'aes256-sha384-x25519-ke1_mlkem1024'] as const;
const MAX_IKE_MESSAGE = 1280 - 28; // IPv4 + UDP headers

function skf(data: Uint8Array): SkfPayload | undefined {
  const last = decode(data).payloads.at(-1);
  return last?.type === PayloadType.SKF ? last : undefined;
}

function deliverTo(pair: EnginePair, d: Delivered, data: Uint8Array): void {
  if (d.from === 'i') pair.r.receive(data, { address: ADDR_I, port: 500 }, { address: ADDR_R, port: 500 }, pair.now);
  else pair.i.receive(data, { address: ADDR_R, port: 500 }, { address: ADDR_I, port: 500 }, pair.now);
}

function assertUp(pair: EnginePair): void {
  assert.deepEqual(pair.errors(), []);
  assert.equal(ups(pair.eventsI).length, 1, logs(pair.eventsI));
  assert.equal(ups(pair.eventsR).length, 1, logs(pair.eventsR));
  assert.deepEqual(onlySa(pair.i).keys, onlySa(pair.r).keys);
  assert.deepEqual(failures([...pair.eventsI, ...pair.eventsR]), []);
}

for (const ike of SUITES) {
  test(`fragmentSize 1280: IKE_INTERMEDIATE request and response go as SKF fragments ≤ ${MAX_IKE_MESSAGE} bytes (${ike})`, () => {
    const pair = new EnginePair({ ikeI: [ike], fragmentSize: 1280 });
    pair.initiate();
    pair.run();
    assertUp(pair);
    // Both sides announced fragmentation support in IKE_SA_INIT.
    const init = pair.wire.filter((w) => isMessage(w.data, ExchangeType.IKE_SA_INIT, w.from === 'r'));
    assert.equal(init.length, 2);
    for (const d of init) assert.ok(hasNotify(decode(d.data).payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
    for (const d of pair.wire) assert.ok(d.data.length <= MAX_IKE_MESSAGE, `datagram of ${d.data.length} bytes`);
    for (const [from, response] of [['i', false], ['r', true]] as const) {
      const frags = pair.wire.filter((d) => d.from === from && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, response)).map((d) => skf(d.data));
      assert.ok(frags.length >= 2, `${from}: fragmented`);
      assert.deepEqual(
        frags.map((f) => f?.fragmentNumber),
        frags.map((_, k) => k + 1),
      );
      assert.ok(frags.every((f) => f?.totalFragments === frags.length));
      // RFC 7383 §2.5: only fragment 1 names the first inner payload (KE).
      assert.deepEqual(
        frags.map((f) => f?.innerFirst),
        frags.map((_, k) => (k === 0 ? PayloadType.KE : 0)),
      );
      // The message event reports one size per fragment.
      const events = from === 'i' ? pair.eventsI : pair.eventsR;
      const ev = events.find((e) => e.type === 'message' && e.direction === 'out' && e.exchange === ExchangeType.IKE_INTERMEDIATE);
      assert.ok(ev && ev.type === 'message' && ev.sizes.length === frags.length);
    }
    // IKE_AUTH is small enough to stay a single SK message.
    assert.ok(pair.wire.filter((d) => isMessage(d.data, ExchangeType.IKE_AUTH, false) || isMessage(d.data, ExchangeType.IKE_AUTH, true)).every((d) => skf(d.data) === undefined));
  });

  test(`fragments delivered in reverse order are reassembled (${ike})`, () => {
    const pair = new EnginePair({ ikeI: [ike], fragmentSize: 1280 });
    const held = new Map<string, Uint8Array[]>();
    let reversed = 0;
    pair.filter = (d) => {
      const f = skf(d.data);
      if (!f) return d.data;
      const key = `${d.from}/${decode(d.data).header.messageId}`;
      const list = held.get(key) ?? [];
      if (list.length === f.totalFragments) return d.data; // a retransmission: pass through
      list.push(d.data);
      held.set(key, list);
      if (list.length < f.totalFragments) return undefined;
      // All fragments seen: release N, N-1, ..., 2 now and let fragment 1 go last.
      reversed++;
      for (const data of [...list].reverse().slice(0, -1)) deliverTo(pair, d, data);
      return list[0];
    };
    pair.initiate();
    pair.run();
    assert.equal(reversed, 2, 'request and response both reversed');
    assert.equal(pair.now, 0, 'no retransmission needed');
    assertUp(pair);
  });

  for (const target of ['request', 'response'] as const) {
    test(`a tampered ${target} fragment is dropped and retransmission recovers (${ike})`, () => {
      const pair = new EnginePair({ ikeI: [ike], fragmentSize: 1280 });
      let tampered = 0;
      pair.filter = (d) => {
        const f = skf(d.data);
        if (!f || tampered > 0 || f.fragmentNumber !== 2 || (d.from === 'i') !== (target === 'request')) return d.data;
        tampered++;
        const bad = Uint8Array.from(d.data);
        const at = bad.length - 40; // inside the ciphertext
        bad[at] = (bad[at] ?? 0) ^ 0x01;
        return bad;
      };
      pair.initiate();
      pair.run();
      assert.equal(tampered, 1);
      assert.equal(ups(pair.eventsI).length, 0, 'stalled until the retransmission');
      assert.equal(pair.wire.filter((d) => isMessage(d.data, ExchangeType.IKE_AUTH, false)).length, 0);
      if (target === 'request') {
        // Nothing was answered: the responder is still waiting for a whole request.
        assert.equal(pair.wire.filter((d) => d.from === 'r' && isMessage(d.data, ExchangeType.IKE_INTERMEDIATE, true)).length, 0);
        assert.equal(onlySa(pair.r).state, 'intermediate');
      }
      assert.ok(pair.advance());
      assert.equal(pair.now, 1000);
      assertUp(pair);
    });
  }
}

test('responder without fragmentation: no IKEV2_FRAGMENTATION_SUPPORTED back, initiator sends whole messages', () => {
  const ike = 'aes256gcm16-prfsha384-x25519-ke1_mlkem1024';
  const pair = new EnginePair({ ikeI: [ike], fragmentSize: 1280 });
  pair.r.addConnection({ ...connections({ ikeI: [ike], fragmentSize: 1280 }).responder, fragmentation: false });
  pair.initiate();
  pair.run();
  assertUp(pair);
  const resp = pair.wire.find((d) => d.from === 'r' && isMessage(d.data, ExchangeType.IKE_SA_INIT, true));
  assert.ok(resp && !hasNotify(decode(resp.data).payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
  assert.ok(pair.wire.every((d) => skf(d.data) === undefined), 'no SKF at all');
  assert.ok(pair.wire.some((d) => d.data.length > MAX_IKE_MESSAGE), 'the ML-KEM-1024 messages exceed 1252 bytes unfragmented');
});
