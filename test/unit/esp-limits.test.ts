// Per-SA counters (packets, bytes, drops by reason) and the usage limits of EspSaSpec.limits:
// soft and hard, bytes and packets, each kind reported once, in both directions; after hard
// the SA refuses. The RFC 3948 port-4500 classifier. Construction errors for bad specs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyUdp4500, createEspSa, espSpi, EspInboundSa, EspOutboundSa, NAT_KEEPALIVE, NON_ESP_MARKER, type EspSaEvent,
} from '../../src/dataplane/esp/index.js';
import { CryptoError } from '../../src/crypto/errors.js';
import type { EspSaSpec } from '../../src/engine/dataplane.js';
import { SUITES, ipv4Packet, params, randomKeys, saPair } from './esp-helpers.js';

const GCM = SUITES.find((s) => s.label === 'AES-GCM-16-256')!;

test('counters: packets and inner bytes in and out; drops by reason; listing fields', () => {
  const { out, inb } = saPair(GCM);
  const sizes = [20, 100, 1400, 57];
  for (const n of sizes) {
    const r = out.seal(ipv4Packet(n));
    assert.ok(r.ok);
    assert.ok(inb.open(r.packet).ok);
    assert.equal(inb.open(r.packet).ok, false);
  }
  const o = out.stats();
  const i = inb.stats();
  assert.deepEqual([o.packets, o.bytes, o.seq, o.direction, o.transform, o.spi], [4, 1577, 4, 'out', 'AES_GCM_16_256', 0x11223344]);
  assert.deepEqual([i.packets, i.bytes, i.seq, i.direction], [4, 1577, 4, 'in']);
  assert.equal(i.drops['replay'], 4);
  assert.deepEqual([i.softExpired, i.hardExpired, o.softExpired, o.hardExpired], [false, false, false, false]);
  // stats() is a snapshot.
  const snap = inb.stats();
  assert.ok(out.seal(ipv4Packet(20)).ok);
  assert.equal(snap.packets, 4);
});

for (const direction of ['out', 'in'] as const) {
  test(`limits (${direction}): soft and hard bytes, each reported once, then the SA refuses`, () => {
    const events: EspSaEvent[] = [];
    const limits = { softBytes: 250, hardBytes: 500 };
    const onEvent = (e: EspSaEvent): void => { events.push(e); };
    const k = randomKeys(GCM);
    const out = new EspOutboundSa(params(GCM, k, { limits: direction === 'out' ? limits : {} }), direction === 'out' ? { onEvent } : {});
    const inb = new EspInboundSa(params(GCM, k, { limits: direction === 'in' ? limits : {} }), direction === 'in' ? { onEvent } : {});
    const results: boolean[] = [];
    for (let n = 0; n < 8; n++) {
      const r = out.seal(ipv4Packet(100));
      if (!r.ok) {
        results.push(false);
        continue;
      }
      results.push(inb.open(r.packet).ok);
    }
    // 100, 200, 300 (soft), 400, 500 (hard: the packet that crosses still goes), then none.
    assert.deepEqual(results, [true, true, true, true, true, false, false, false]);
    assert.deepEqual(events, [
      { kind: 'soft', cause: 'bytes', direction, spi: 0x11223344 },
      { kind: 'hard', cause: 'bytes', direction, spi: 0x11223344 },
    ]);
    const sa = direction === 'out' ? out : inb;
    assert.equal(sa.expired, true);
    assert.equal(sa.stats().drops['expired'], 3);
    assert.equal(sa.stats().bytes, 500);
  });
}

test('limits: packets; a hard limit without a soft one reports hard only; soft and hard crossed by one packet', () => {
  const ev: string[] = [];
  const { out } = saPair(GCM, { limits: { softPackets: 3, hardPackets: 5 } }, { onEvent: (e) => ev.push(`${e.kind}/${e.cause}`) });
  for (let i = 0; i < 6; i++) out.seal(ipv4Packet(20));
  assert.deepEqual(ev, ['soft/packets', 'hard/packets']);
  assert.equal(out.stats().packets, 5);

  const ev2: string[] = [];
  const b = saPair(GCM, { limits: { hardPackets: 1 } }, { onEvent: (e) => ev2.push(`${e.kind}/${e.cause}`) });
  assert.ok(b.out.seal(ipv4Packet(20)).ok);
  assert.deepEqual(b.out.seal(ipv4Packet(20)), { ok: false, reason: 'expired' });
  assert.deepEqual(ev2, ['hard/packets']);
  assert.equal(b.out.stats().softExpired, true, 'hard implies soft: no soft event after it');

  const ev3: string[] = [];
  const c = saPair(GCM, { limits: { softBytes: 10, hardBytes: 20, softPackets: 1 } }, { onEvent: (e) => ev3.push(`${e.kind}/${e.cause}`) });
  assert.ok(c.out.seal(ipv4Packet(1000)).ok);
  assert.deepEqual(ev3, ['soft/bytes', 'hard/bytes']);
});

test('an EspSaSpec from the engine, as it is, makes both SAs', () => {
  const key = randomKeys(GCM).encrKey;
  const common = {
    connection: 'c', child: 'net', reqid: 1, spi: 0xc1d2e3f4, src: { address: '192.0.2.1', port: 500 }, dst: { address: '192.0.2.2', port: 500 },
    encap: false, mode: 'tunnel', encr: { id: 20, keyBits: 256, key }, esn: true, localTs: [], remoteTs: [], limits: { softPackets: 10 },
  } as const;
  const outSpec: EspSaSpec = { ...common, direction: 'out', replayWindow: 0 };
  const inSpec: EspSaSpec = { ...common, direction: 'in', replayWindow: 128 };
  const out = createEspSa({ ...outSpec, direction: 'out' });
  const inb = createEspSa({ ...inSpec, direction: 'in' });
  const r = out.seal(ipv4Packet(100));
  assert.ok(r.ok);
  const o = inb.open(r.packet);
  assert.ok(o.ok);
  assert.equal(inb.window.size, 128);
  // Straight from an 'add-sa' command: the direction decides the class.
  const either = createEspSa(inSpec);
  assert.ok(either instanceof EspInboundSa && either.direction === 'in');
});

test('createEspSa picks the direction; bad specs are refused at construction (not per packet)', () => {
  const k = randomKeys(GCM);
  assert.ok(createEspSa({ ...params(GCM, k), direction: 'in' }) instanceof EspInboundSa);
  assert.ok(createEspSa({ ...params(GCM, k), direction: 'out' }) instanceof EspOutboundSa);
  const isUnsupported = (e: unknown): boolean => e instanceof CryptoError && e.code === 'UNSUPPORTED';
  const isBadKey = (e: unknown): boolean => e instanceof CryptoError && e.code === 'BAD_KEY';
  const base = params(GCM, k);
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 13, keyBits: 128, key: new Uint8Array(20) } }), isUnsupported, 'AES-CTR');
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 20, keyBits: 100, key: new Uint8Array(20) } }), isUnsupported);
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 20, keyBits: 256, key: new Uint8Array(32) } }), isBadKey, 'no salt');
  assert.throws(() => new EspInboundSa({ ...base, integ: { id: 12, key: new Uint8Array(32) } }), isUnsupported, 'AEAD + integ');
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 12, keyBits: 128, key: new Uint8Array(16) } }), isUnsupported, 'CBC without integ');
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 12, keyBits: 128, key: new Uint8Array(16) }, integ: { id: 12, key: new Uint8Array(31) } }), isBadKey);
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 12, keyBits: 128, key: new Uint8Array(16) }, integ: { id: 1, key: new Uint8Array(16) } }), isUnsupported, 'HMAC-MD5');
  assert.throws(() => new EspInboundSa({ ...base, encr: { id: 28, keyBits: 128, key: new Uint8Array(36) } }), isUnsupported);
  assert.throws(() => new EspInboundSa({ ...base, spi: 0 }), RangeError);
  assert.throws(() => new EspInboundSa({ ...base, replayWindow: 100_000 }), RangeError);
  assert.throws(() => new EspInboundSa({ ...base, limits: { hardBytes: -1 } }), RangeError);
  assert.throws(() => new EspOutboundSa(base, { firstSeq: 0n }), RangeError);
  assert.throws(() => new EspOutboundSa(base, { firstSeq: 0x1_0000_0001n }), RangeError);
  assert.throws(() => new EspOutboundSa(base, { ivMask: new Uint8Array(7) }), RangeError);
});

test('RFC 3948 classifier: ESP (SPI != 0), IKE behind the non-ESP marker, NAT-keepalive 0xFF, the rest invalid', () => {
  assert.equal(classifyUdp4500(NAT_KEEPALIVE), 'keepalive');
  assert.equal(classifyUdp4500(Uint8Array.of(0xfe)), 'invalid');
  assert.equal(classifyUdp4500(new Uint8Array(0)), 'invalid');
  assert.equal(classifyUdp4500(Uint8Array.of(0, 0)), 'invalid');
  assert.equal(classifyUdp4500(NON_ESP_MARKER), 'invalid', 'a marker with no IKE message');
  assert.equal(classifyUdp4500(Buffer.concat([NON_ESP_MARKER, new Uint8Array(28)])), 'ike');
  assert.equal(classifyUdp4500(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 1)), 'esp');
  assert.equal(classifyUdp4500(Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0)), 'invalid', 'ESP shorter than SPI | seq');
  assert.equal(classifyUdp4500(Uint8Array.of(0xff, 0xff)), 'invalid');
  const { out, inb } = saPair(GCM);
  const r = out.seal(ipv4Packet(60));
  assert.ok(r.ok);
  assert.equal(classifyUdp4500(r.packet), 'esp');
  assert.equal(espSpi(r.packet), 0x11223344);
  assert.equal(espSpi(Uint8Array.of(1, 2, 3)), 0);
  // The UDP payload is the ESP packet itself: it opens as it is.
  assert.ok(inb.open(r.packet).ok);
});
