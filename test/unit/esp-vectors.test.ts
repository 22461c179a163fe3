// Known answers and an independent re-computation: RFC 7634 Appendix A (ChaCha20-Poly1305 ESP
// packet) byte for byte, and for every suite, with and without ESN, our packets checked by the
// reference implementation of esp-helpers.ts (AAD and ICV assembled by hand from RFC 4106 §5,
// RFC 7634 §2.1, RFC 4303 §3.3.2.1) and the reference's packets opened by our inbound SA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { EspInboundSa, EspOutboundSa } from '../../src/dataplane/esp/index.js';
import { fromHex, toHex } from '../../src/crypto/util.js';
import { SUITES, alignOf, defaultPadding, ipv4Packet, params, randomKeys, refOpen, refSeal, trailer } from './esp-helpers.js';

const RFC7634_KEY = Buffer.concat([Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i)), fromHex('a0a1a2a3')]);
const RFC7634_SOURCE = fromHex(`
  45 00 00 54 a6 f2 00 00 40 01 e7 78 c6 33 64 05 c0 00 02 05 08 00 5b 7a 3a 08 00 00 55 3b ec 10
  00 07 36 27 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
  24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37`);
// The ESP packet of Appendix A without its outer IPv4 header (20 octets).
const RFC7634_ESP = fromHex(`
  01 02 03 04 00 00 00 05 10 11 12 13 14 15 16 17 24 03 94 28 b9 7f 41 7e 3c 13 75 3a
  4f 05 08 7b 67 c3 52 e6 a7 fa b1 b9 82 d4 66 ef 40 7a e5 c6 14 ee 80 99 d5 28 44 eb 61 aa 95 df
  ab 4c 02 f7 2a a7 1e 7c 4c 4f 64 c9 be fe 2f ac c6 38 e8 f3 cb ec 16 3f ac 46 9b 50 27 73 f6 fb
  94 e6 64 da 91 65 b8 28 29 f6 41 e0 76 aa a8 26 6b 7f b0 f7 b1 1b 36 99 07 e1 ad 43`);

const rfc7634Params = { spi: 0x01020304, mode: 'tunnel' as const, encr: { id: 28, key: RFC7634_KEY }, esn: false, replayWindow: 64, limits: {} };

test('RFC 7634 Appendix A: the ChaCha20-Poly1305 ESP packet, sealed byte for byte (sequence 5, IV 0x1011121314151617)', () => {
  // IV = seq xor mask: mask = 0x1011121314151617 xor 5.
  const out = new EspOutboundSa(rfc7634Params, { firstSeq: 5n, ivMask: fromHex('1011121314151612') });
  const r = out.seal(RFC7634_SOURCE);
  assert.ok(r.ok);
  assert.equal(toHex(r.packet), toHex(RFC7634_ESP));
  assert.equal(out.lastSeq, 5n);
});

test('RFC 7634 Appendix A: the ESP packet opens to the source packet (Next Header 4, padding 01 02)', () => {
  const inb = new EspInboundSa(rfc7634Params);
  const r = inb.open(RFC7634_ESP);
  assert.ok(r.ok);
  assert.equal(toHex(r.inner), toHex(RFC7634_SOURCE));
  assert.equal(r.nextHeader, 4);
  assert.equal(r.seq, 5);
  // The tag of Appendix A, flipped in its last bit, fails.
  const bad = Buffer.from(RFC7634_ESP);
  bad[bad.length - 1]! ^= 1;
  assert.deepEqual(new EspInboundSa(rfc7634Params).open(bad), { ok: false, reason: 'integrity' });
});

// In increasing order, each inferable from the one before (RFC 4303 Appendix A2.2).
const SEQS = [1n, 2n, 0xfffffffen, 0xffffffffn, 0x1_0000_0000n, 0x1_0000_0001n, 0x1_8000_0000n, 0x2_0000_0005n];

for (const s of SUITES) {
  for (const esn of [false, true]) {
    test(`${s.label}${esn ? ' ESN' : ''}: our packets verify with the reference implementation, with the default padding`, () => {
      const k = randomKeys(s);
      for (const seq of SEQS) {
        if (!esn && seq > 0xffffffffn) continue;
        for (const len of [20, 21, 22, 23, 24, 100, 1400]) {
          // A fresh SA per packet: 2^32 - 1 is the last packet of a non-ESN SA.
          const out = new EspOutboundSa(params(s, k, { esn }), { firstSeq: seq });
          const inner = ipv4Packet(len);
          const r = out.seal(inner);
          assert.ok(r.ok);
          const pkt = r.packet;
          assert.equal(pkt.readUInt32BE(0), 0x11223344);
          assert.equal(BigInt(pkt.readUInt32BE(4)), out.lastSeq & 0xffffffffn);
          const plain = refOpen(s, k, pkt, Number(out.lastSeq >> 32n), esn);
          assert.ok(plain, `reference opens ${s.label} len ${len} seq ${out.lastSeq}`);
          assert.equal(plain.length % alignOf(s), 0, 'aligned plaintext');
          assert.equal(toHex(plain), toHex(trailer(inner, defaultPadding(len, alignOf(s)), 4)));
          if (s.integ === 0) {
            // AEAD IV: the 64-bit sequence number (mask 0).
            assert.equal(pkt.readBigUInt64BE(8), out.lastSeq);
          }
          if (esn && s.integ !== 0) {
            // The ICV must cover the high bits: with a wrong high half it fails.
            assert.equal(refOpen(s, k, pkt, Number(out.lastSeq >> 32n) + 1, true), null);
          }
        }
      }
    });

    test(`${s.label}${esn ? ' ESN' : ''}: the reference implementation's packets open (any IV, non-minimal default padding)`, () => {
      const k = randomKeys(s);
      for (const extra of [0, 1, 2, 3]) {
        const inb = new EspInboundSa(params(s, k, { esn }));
        for (const seq of SEQS) {
          if (!esn && seq > 0xffffffffn) continue;
          const inner = ipv4Packet(60 + extra * 7);
          const a = alignOf(s);
          const padding = Uint8Array.from({ length: defaultPadding(inner.length, a).length + extra * a }, (_, i) => i + 1);
          const pkt = refSeal(s, k, { spi: 0x11223344, seq, esn, plain: trailer(inner, padding, 4) });
          const r = inb.open(pkt);
          assert.ok(r.ok, `seq ${seq} extra ${extra}: ${r.ok ? '' : r.reason}`);
          assert.equal(toHex(r.inner), toHex(inner));
          assert.equal(BigInt(r.seq), seq);
        }
      }
    });
  }
}

test('AES-CBC: IVs are fresh per packet, and each packet is plain CBC under its IV (the continuing stream does not leak)', () => {
  const s = SUITES.find((x) => x.label === 'AES-CBC-256/HMAC-SHA2-256-128')!;
  const k = randomKeys(s);
  const out = new EspOutboundSa(params(s, k));
  const ivs = new Set<string>();
  const inner = ipv4Packet(64, 0);
  for (let i = 0; i < 2000; i++) {
    const r = out.seal(inner);
    assert.ok(r.ok);
    const iv = r.packet.subarray(8, 24);
    ivs.add(toHex(iv));
    if (i % 97 === 0) {
      // Independent CBC encryption of the same plaintext under the packet's IV.
      const c = createCipheriv('aes-256-cbc', k.encrKey, iv).setAutoPadding(false);
      const ct = Buffer.concat([c.update(trailer(inner, defaultPadding(64, 16), 4)), c.final()]);
      assert.equal(toHex(r.packet.subarray(24, 24 + ct.length)), toHex(ct));
    }
  }
  assert.equal(ivs.size, 2000, 'no IV repeats');
  // Two SAs with the same keys draw different IVs (per-SA random nonce half and start block).
  const a = new EspOutboundSa(params(s, k)).seal(inner);
  const b = new EspOutboundSa(params(s, k)).seal(inner);
  assert.ok(a.ok && b.ok);
  assert.notEqual(toHex(a.packet.subarray(8, 24)), toHex(b.packet.subarray(8, 24)));
});

test('AES-GCM: the IV is seq xor ivMask; NULL encryption carries the payload in the clear', () => {
  const gcm = SUITES.find((x) => x.label === 'AES-GCM-16-256')!;
  const k = randomKeys(gcm);
  const mask = randomBytes(8);
  const out = new EspOutboundSa(params(gcm, k), { ivMask: mask, firstSeq: 0x1234n });
  const r = out.seal(ipv4Packet(40));
  assert.ok(r.ok);
  assert.equal(r.packet.readBigUInt64BE(8), mask.readBigUInt64BE(0) ^ 0x1234n);
  const nul = SUITES.find((x) => x.label === 'NULL/HMAC-SHA2-256-128')!;
  const kn = randomKeys(nul);
  const inner = ipv4Packet(41);
  const rn = new EspOutboundSa(params(nul, kn)).seal(inner);
  assert.ok(rn.ok);
  assert.equal(toHex(rn.packet.subarray(8, 8 + 41)), toHex(inner));
  assert.equal(rn.packet.length, 8 + 44 + 16);
});
