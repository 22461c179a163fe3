// Every bad inbound packet is dropped with its reason and counted, never thrown: truncated,
// misaligned, wrong SPI, replayed, too old, forged (any octet), bad padding, bad Next Header,
// dummy packets, bad inner headers, an expired SA; and fast-check properties over random and
// mutated packets for every suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ESP_DROP_REASONS, EspInboundSa, type EspDropReason } from '../../src/dataplane/esp/index.js';
import { SUITES, alignOf, defaultPadding, ipv4Packet, ipv6Packet, params, randomKeys, refSeal, saPair, trailer, type Suite } from './esp-helpers.js';

const seed = Number(process.env['PQIKE_FC_SEED'] ?? Date.now() % 0x7fffffff);
const fcParams = (numRuns: number): fc.Parameters<unknown> => ({ seed, numRuns, endOnFailure: true });

function totalDrops(inb: EspInboundSa): number {
  return Object.values(inb.stats().drops).reduce((a, b) => a + b, 0);
}

function expectDrop(inb: EspInboundSa, pkt: Uint8Array, reason: EspDropReason, what: string): void {
  const before = inb.stats().drops[reason]!;
  assert.deepEqual(inb.open(pkt), { ok: false, reason }, what);
  assert.equal(inb.stats().drops[reason], before + 1, `${what}: counted`);
}

/** A packet sealed by the reference with an arbitrary plaintext (trailer included). */
function craft(s: Suite, k: ReturnType<typeof randomKeys>, seq: bigint, plain: Uint8Array): Uint8Array {
  return refSeal(s, k, { spi: 0x11223344, seq, esn: false, plain });
}

for (const s of SUITES) {
  test(`${s.label}: every bad-packet case dropped with its reason and counted`, () => {
    const k = randomKeys(s);
    const inb = new EspInboundSa(params(s, k, { replayWindow: 64 }));
    const a = alignOf(s);
    const ivLen = s.encr === 12 ? 16 : s.encr === 11 ? 0 : 8;
    const icvLen = inb.transform.icvLength;
    let seq = 1n;
    const good = (inner: Uint8Array, nh = 4): Uint8Array => craft(s, k, seq++, trailer(inner, defaultPadding(inner.length, a), nh));

    // truncated: shorter than header | IV | trailer (CBC: a block) | ICV, and empty
    const p0 = good(ipv4Packet(40));
    const min = 8 + ivLen + (s.encr === 12 ? 16 : 2) + icvLen;
    for (const n of [0, 1, 4, 7, 8, min - 1]) expectDrop(inb, p0.subarray(0, n), 'truncated', `length ${n}`);
    // alignment (CBC only): a ciphertext that is not a multiple of 16
    if (s.encr === 12) expectDrop(inb, Buffer.concat([p0.subarray(0, p0.length - icvLen - 1), p0.subarray(p0.length - icvLen)]), 'alignment', 'CBC ciphertext - 1');
    // spi
    const wrongSpi = Buffer.from(p0);
    wrongSpi[0]! ^= 0x80;
    expectDrop(inb, wrongSpi, 'spi', 'other SPI');
    // the genuine packet still opens, once
    assert.ok(inb.open(p0).ok);
    expectDrop(inb, p0, 'replay', 'duplicate');
    // integrity: a flipped bit anywhere after the SPI (sequence number, IV, ciphertext, ICV)
    const p1 = good(ipv4Packet(60));
    for (let i = 4; i < p1.length; i++) {
      const f = Buffer.from(p1);
      f[i]! ^= 1 << (i % 8);
      const r = inb.open(f);
      assert.equal(r.ok, false, `bit flipped in octet ${i}`);
      assert.ok(!r.ok && (r.reason === 'integrity' || (i < 8 && (r.reason === 'replay' || r.reason === 'too-old'))), `octet ${i}: ${r.ok ? '' : r.reason}`);
    }
    assert.ok(inb.open(p1).ok, 'the forgeries did not consume its sequence number');
    // too-old: move the window far ahead, then an old number
    const far = craft(s, k, 1000n, trailer(ipv4Packet(20), defaultPadding(20, a), 4));
    const old = good(ipv4Packet(20));
    assert.ok(inb.open(far).ok);
    expectDrop(inb, old, 'too-old', 'left of the window');
    seq = 1001n;
    // padding: wrong pattern, pad length beyond the plaintext
    const inner = ipv4Packet(64);
    const pad = defaultPadding(64, a).length > 0 ? defaultPadding(64, a) : Uint8Array.from({ length: a }, (_, i) => i + 1);
    const badPat = Uint8Array.from(pad);
    badPat[badPat.length - 1]! ^= 0xff;
    expectDrop(inb, craft(s, k, seq++, trailer(inner, badPat, 4)), 'padding', 'padding not 1, 2, 3...');
    const zeros = new Uint8Array(pad.length);
    expectDrop(inb, craft(s, k, seq++, trailer(inner, zeros, 4)), 'padding', 'zero padding');
    const overlong = trailer(inner, pad, 4);
    overlong[overlong.length - 2] = 255;
    expectDrop(inb, craft(s, k, seq++, overlong), 'padding', 'pad length 255');
    const exact = trailer(new Uint8Array(0), new Uint8Array(a - 2), 4);
    exact[exact.length - 2] = a - 1; // one more than there is
    expectDrop(inb, craft(s, k, seq++, exact), 'padding', 'pad length = plaintext - 1');
    // next-header (tunnel mode: only 4 and 41), dummy (59)
    expectDrop(inb, good(ipv4Packet(40), 6), 'next-header', 'NH 6 in tunnel mode');
    expectDrop(inb, good(ipv4Packet(40), 0), 'next-header', 'NH 0 in tunnel mode');
    expectDrop(inb, good(ipv4Packet(40), 59), 'dummy', 'NH 59');
    // inner-header: NH and version disagree, too short, lengths inconsistent
    expectDrop(inb, good(ipv4Packet(40), 41), 'inner-header', 'IPv4 packet with NH 41');
    expectDrop(inb, good(ipv6Packet(60), 4), 'inner-header', 'IPv6 packet with NH 4');
    expectDrop(inb, good(ipv4Packet(20).subarray(0, 19)), 'inner-header', '19-octet IPv4');
    const longer = ipv4Packet(40);
    longer[3] = 41;
    expectDrop(inb, good(longer), 'inner-header', 'IPv4 total length > payload');
    const ihl = ipv4Packet(40);
    ihl[0] = 0x44;
    expectDrop(inb, good(ihl), 'inner-header', 'IPv4 IHL 4');
    const v6 = ipv6Packet(60);
    v6[5] = 21;
    expectDrop(inb, good(v6, 41), 'inner-header', 'IPv6 payload length > payload');
    // still works after all that
    assert.ok(inb.open(good(ipv4Packet(100))).ok);
    assert.ok(inb.open(good(ipv6Packet(100), 41)).ok);
    const st = inb.stats();
    for (const r of ESP_DROP_REASONS) assert.equal(typeof st.drops[r], 'number', r);
    assert.equal(st.packets, 5);
  });

  test(`${s.label}: expired SA (hard limit) drops with 'expired'`, () => {
    const { out, inb } = saPair(s, { limits: { hardPackets: 2 } });
    const pkts = [1, 2, 3].map(() => {
      const r = out.seal(ipv4Packet(30));
      return r.ok ? r.packet : undefined;
    });
    assert.ok(pkts[0] && pkts[1]);
    assert.equal(pkts[2], undefined, 'outbound refuses after its hard limit');
    assert.ok(inb.open(pkts[0]).ok);
    assert.ok(inb.open(pkts[1]).ok);
    assert.equal(inb.expired, true);
    expectDrop(inb, pkts[0], 'expired', 'after the hard limit');
  });

  test(`${s.label}: random and mutated packets never throw, never open unless genuine (fast-check)`, () => {
    const k = randomKeys(s);
    const a = alignOf(s);
    const genuine = [20, 40, 100, 1000].map((n, i) => craft(s, k, BigInt(i + 1), trailer(ipv4Packet(n), defaultPadding(n, a), 4)));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          // random bytes behind the right SPI
          fc.uint8Array({ minLength: 0, maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0x11, 0x22, 0x33, 0x44]), b])),
          // a genuine packet, mutated: flips, truncation, extension, splices
          fc.tuple(
            fc.constantFrom(...genuine),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
            fc.option(fc.nat(), { nil: undefined }),
            fc.uint8Array({ maxLength: 20 }),
          ).map(([g, flips, cut, tail]) => {
            const b = Buffer.from(g);
            for (const [at, x] of flips) b[4 + (at % (b.length - 4))]! ^= x;
            const c = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
            return Buffer.concat([c, tail]);
          }),
        ),
        (pkt) => {
          const inb = new EspInboundSa(params(s, k, { replayWindow: 64 }));
          let r;
          try {
            r = inb.open(pkt);
          } catch (e) {
            assert.fail(`threw ${String(e)}`);
          }
          const isGenuine = genuine.some((g) => g.length === pkt.length && Buffer.from(g).equals(Buffer.from(pkt)));
          if (r.ok !== isGenuine) return false;
          return r.ok ? inb.stats().packets === 1 : totalDrops(inb) === 1 && ESP_DROP_REASONS.includes(r.reason);
        },
      ),
      fcParams(s.encr === 12 ? 300 : 200),
    );
  });
}

test('many inputs through one SA: drops add up, the SA keeps working (all suites, random garbage)', () => {
  for (const s of SUITES) {
    const { out, inb } = saPair(s);
    let drops = 0;
    for (let i = 0; i < 200; i++) {
      const g = randomBytes(i % 90);
      if (i % 3 === 0 && g.length >= 4) g.writeUInt32BE(0x11223344, 0);
      const r = inb.open(g);
      if (!r.ok) drops++;
      if (i % 20 === 0) {
        const p = out.seal(ipv4Packet(50 + i));
        assert.ok(p.ok);
        assert.ok(inb.open(p.packet).ok);
      }
    }
    assert.equal(totalDrops(inb), drops);
    assert.equal(drops, 200);
  }
});
