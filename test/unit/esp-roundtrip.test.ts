// Round trips through an outbound and an inbound SA for every suite, tunnel mode (IPv4 and
// IPv6 inner packets) and transport mode, with and without ESN, over many packet sizes; the
// buffer API (sealInto at an offset, in place); TFC padding cut off by the inner header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EspInboundSa, NextHeader } from '../../src/dataplane/esp/index.js';
import { toHex } from '../../src/crypto/util.js';
import { SUITES, alignOf, ipv4Packet, ipv6Packet, saPair } from './esp-helpers.js';

const SIZES_V4 = [20, 21, 22, 23, 24, 25, 31, 32, 33, 64, 127, 128, 576, 1279, 1280, 1400, 1500, 9000, 65535];
const SIZES_V6 = [40, 41, 42, 43, 44, 60, 1280, 1400, 1500, 9000];
const SIZES_TRANSPORT = [0, 1, 2, 3, 4, 15, 16, 17, 100, 1400];

for (const s of SUITES) {
  for (const esn of [false, true]) {
    const tag = `${s.label}${esn ? ' ESN' : ''}`;

    test(`${tag}: tunnel mode round trip, IPv4 (NH 4) and IPv6 (NH 41) inner packets, every size`, () => {
      const { out, inb } = saPair(s, { esn });
      let seq = 0;
      let bytes = 0;
      for (const [make, sizes, nh] of [[ipv4Packet, SIZES_V4, 4], [ipv6Packet, SIZES_V6, 41]] as const) {
        for (const n of sizes) {
          const inner = make(n);
          const r = out.seal(inner);
          assert.ok(r.ok, `${n}: ${r.ok ? '' : r.reason}`);
          assert.equal(r.packet.length, out.sealedLength(n));
          const ct = r.packet.length - 8 - out.transform.ivLength - out.transform.icvLength;
          assert.equal(ct % alignOf(s), 0, 'ciphertext aligned');
          assert.ok(ct - n - 2 < alignOf(s), 'minimal padding');
          const o = inb.open(r.packet);
          assert.ok(o.ok, `${n}: ${o.ok ? '' : o.reason}`);
          assert.equal(o.nextHeader, nh);
          assert.equal(o.seq, ++seq);
          assert.equal(toHex(o.inner), toHex(inner));
          bytes += n;
        }
      }
      assert.deepEqual([out.stats().packets, out.stats().bytes], [seq, bytes]);
      assert.deepEqual([inb.stats().packets, inb.stats().bytes], [seq, bytes]);
      assert.equal(Object.values(inb.stats().drops).reduce((a, b) => a + b, 0), 0);
    });

    test(`${tag}: transport mode round trip, payload with its own Next Header`, () => {
      const { out, inb } = saPair(s, { esn, mode: 'transport' });
      for (const n of SIZES_TRANSPORT) {
        for (const proto of [6, 17, 58, 4]) {
          const payload = randomBytes(n);
          const r = out.seal(payload, proto);
          assert.ok(r.ok);
          const o = inb.open(r.packet);
          assert.ok(o.ok, `${n}/${proto}: ${o.ok ? '' : o.reason}`);
          assert.equal(o.nextHeader, proto);
          assert.equal(toHex(o.inner), toHex(payload));
        }
      }
      assert.equal(out.seal(randomBytes(10)).ok, false, 'transport mode needs a Next Header');
      assert.equal(out.stats().drops['inner-header'], 1);
    });

    test(`${tag}: sealInto at an offset, and in place from the payload position`, () => {
      const { out, inb } = saPair(s, { esn });
      const buf = Buffer.alloc(2000, 0xee);
      const inner = ipv4Packet(333);
      const n = out.sealInto(inner, buf, 28);
      assert.equal(n, out.sealedLength(333));
      assert.ok(buf.subarray(0, 28).every((b) => b === 0xee), 'headroom untouched');
      assert.ok(buf.subarray(28 + (n as number)).every((b) => b === 0xee), 'tail untouched');
      const o = inb.open(buf.subarray(28, 28 + (n as number)));
      assert.ok(o.ok);
      assert.equal(toHex(o.inner), toHex(inner));
      // The driver reads the inner packet straight to where the payload goes.
      const place = Buffer.alloc(2000);
      const at = 14 + out.payloadOffset;
      place.set(inner, at);
      const m = out.sealInto(place.subarray(at, at + 333), place, 14);
      assert.equal(m, n);
      const o2 = inb.open(place.subarray(14, 14 + (m as number)));
      assert.ok(o2.ok);
      assert.equal(toHex(o2.inner), toHex(inner));
      assert.equal(out.sealInto(inner, Buffer.alloc(100), 0), 'no-room');
      assert.equal(out.sealInto(inner, buf, 2000 - (n as number) + 1), 'no-room');
    });
  }
}

test('tunnel mode: an inner packet that is neither IPv4 nor IPv6 is refused', () => {
  const { out } = saPair(SUITES[0]!);
  for (const bad of [new Uint8Array(0), Uint8Array.of(0x45), new Uint8Array(40), ipv4Packet(20).fill(0x55, 0, 1), Uint8Array.from(ipv6Packet(40).subarray(0, 39))]) {
    assert.deepEqual(out.seal(bad), { ok: false, reason: 'inner-header' });
  }
  assert.equal(out.lastSeq, 0n, 'no sequence number used');
});

test('tunnel mode: TFC padding after the inner packet (RFC 4303 §2.7) is cut at the inner header length', () => {
  for (const s of SUITES) {
    const { out, inb } = saPair(s);
    const v4 = ipv4Packet(100);
    const padded4 = Buffer.concat([v4, randomBytes(37)]);
    const r = out.seal(padded4);
    assert.ok(r.ok);
    const o = inb.open(r.packet);
    assert.ok(o.ok);
    assert.equal(toHex(o.inner), toHex(v4));
    assert.equal(inb.stats().bytes, 100);
    const v6 = ipv6Packet(100);
    const r6 = out.seal(Buffer.concat([v6, new Uint8Array(60)]));
    assert.ok(r6.ok);
    const o6 = inb.open(r6.packet);
    assert.ok(o6.ok);
    assert.equal(o6.nextHeader, NextHeader.IPV6);
    assert.equal(toHex(o6.inner), toHex(v6));
  }
});

test('many packets through one AES-CBC SA pair: the continuing streams stay in step (incl. after dropped packets)', () => {
  for (const s of SUITES.filter((x) => x.encr === 12)) {
    const { out, inb } = saPair(s, { replayWindow: 1024 });
    const pkts: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const r = out.seal(ipv4Packet(20 + ((i * 37) % 1400)));
      assert.ok(r.ok);
      pkts.push(r.packet);
    }
    // Reordered, with forgeries and losses in between.
    const order = pkts.map((_, i) => i).sort((a, b) => ((a * 7919) % 300) - ((b * 7919) % 300));
    let ok = 0;
    for (const i of order) {
      if (i % 10 === 3) continue; // lost
      if (i % 10 === 5) {
        const f = Buffer.from(pkts[i]!);
        f[30]! ^= 0x40;
        assert.deepEqual(inb.open(f), { ok: false, reason: 'integrity' });
      }
      const o = inb.open(pkts[i]!);
      assert.ok(o.ok, `packet ${i}`);
      ok++;
    }
    assert.equal(inb.stats().packets, ok);
  }
});

test('inbound SA for an outbound SA with other keys: integrity, never a wrong inner packet', () => {
  for (const s of SUITES) {
    const a = saPair(s);
    const b = saPair(s);
    const r = a.out.seal(ipv4Packet(200));
    assert.ok(r.ok);
    assert.deepEqual(b.inb.open(r.packet), { ok: false, reason: 'integrity' });
  }
});

test('ESN and non-ESN SAs with the same keys do not interoperate (the high bits enter AAD/ICV)', () => {
  for (const s of SUITES) {
    const { out, p } = saPair(s, { esn: true });
    const inb = new EspInboundSa({ ...p, esn: false });
    const r = out.seal(ipv4Packet(64));
    assert.ok(r.ok);
    const o = inb.open(r.packet);
    // AEAD: AAD differs in length; HMAC: the ESN ICV covers 4 more octets.
    assert.deepEqual(o, { ok: false, reason: 'integrity' }, s.label);
  }
});
