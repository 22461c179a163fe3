// The ESP packets of the two strongSwan 6.0.6 recordings (charon with kernel-libipsec, its
// userspace ESP; AES-GCM-16-256, tunnel mode, no ESN): every packet of both directions of
// every Child SA (first and rekeyed) opens with our inbound SA, and our outbound SA, given
// the same sequence numbers and strongSwan's IV construction, re-encrypts the inner packets
// to the captured packets byte for byte.
//
// What the recordings show about strongSwan's ESP packets (asserted below):
//  - IV = 64-bit sequence number XOR a constant 8-octet value per SA, random-looking and
//    different for each SA (libipsec's sequence-number IV generator with a per-SA salt), so
//    IV xor seq is the same for every packet of an SA;
//  - padding is the RFC 4303 §2.4 default pattern, the minimum that right-aligns the trailer
//    to 4 octets (GCM has no block alignment): 84-octet ICMP echo packets get 01 02, Pad
//    Length 2, Next Header 4;
//  - sequence numbers start at 1 on each SA, rekeyed SAs too;
//  - the inner packets are exactly the IPv4 packets (no TFC padding).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVectorSet, toHex, type VectorSet } from '../vectors/load.js';
import { EspInboundSa, EspOutboundSa, type EspSaParams } from '../../src/dataplane/esp/index.js';

const FOLDERS = ['psk-x25519-mlkem768', 'psk-x25519-mlkem768-mlkem1024'] as const;

function saParams(v: VectorSet, spi: number): EspSaParams {
  const row = v.espSa.find((r) => r.spi === spi);
  assert.ok(row, `esp_sa has SPI ${spi.toString(16)}`);
  assert.equal(row.encr, 'AES-GCM [RFC4106]');
  return { spi, mode: 'tunnel', encr: { id: 20, keyBits: 256, key: row.encrKey }, esn: false, replayWindow: 64, limits: {} };
}

function seqOf(b: Uint8Array): number {
  return ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
}

function spiOf(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function ivXorSeq(b: Uint8Array): string {
  const iv = Buffer.from(b.subarray(8, 16)).readBigUInt64BE(0);
  return (iv ^ BigInt(seqOf(b))).toString(16).padStart(16, '0');
}

for (const folder of FOLDERS) {
  const v = loadVectorSet(folder);
  const spis = [...new Set(v.esp.map((p) => spiOf(p.bytes)))];

  test(`${folder}: esp_sa keys are the Child SA keys of the logs (both sides, first and rekeyed SAs)`, () => {
    assert.equal(spis.length, 4, 'four ESP SAs in the capture');
    for (const log of [v.moon, v.sun]) {
      const children = log.sas.flatMap((sa) => sa.children);
      assert.equal(children.length, 2);
      for (const c of children) {
        // The initiator (moon) sends with encrI, the responder (sun) with encrR.
        const isMoon = log === v.moon;
        const outKey = isMoon ? c.encrI : c.encrR;
        const inKey = isMoon ? c.encrR : c.encrI;
        assert.equal(toHex(v.espSa.find((r) => r.spi === c.spiOut)!.encrKey), toHex(outKey));
        assert.equal(toHex(v.espSa.find((r) => r.spi === c.spiIn)!.encrKey), toHex(inKey));
      }
    }
  });

  for (const spi of spis) {
    const packets = v.esp.filter((p) => spiOf(p.bytes) === spi);

    test(`${folder}: SPI ${spi.toString(16)}: ${packets.length} captured packets open, inner IPv4 ICMP, sequence 1.., replays dropped`, () => {
      const inb = new EspInboundSa(saParams(v, spi));
      packets.forEach((p, i) => {
        const r = inb.open(p.bytes);
        assert.ok(r.ok, `frame ${p.frame}: ${r.ok ? '' : r.reason}`);
        assert.equal(r.nextHeader, 4);
        assert.equal(r.seq, i + 1);
        const inner = r.inner;
        assert.equal(inner[0], 0x45);
        assert.equal((inner[2]! << 8) | inner[3]!, inner.length, 'inner packet is exactly its IPv4 total length');
        assert.equal(inner[9], 1, 'ICMP');
        const src = [...inner.subarray(12, 16)].join('.');
        const dst = [...inner.subarray(16, 20)].join('.');
        const fromMoon = p.src === '192.0.2.1';
        assert.deepEqual([src, dst], fromMoon ? ['198.51.100.1', '198.51.100.129'] : ['198.51.100.129', '198.51.100.1']);
        assert.equal(inner[20], fromMoon ? 8 : 0, 'echo request from moon, reply from sun');
      });
      for (const p of packets) assert.deepEqual(inb.open(p.bytes), { ok: false, reason: 'replay' });
      const st = inb.stats();
      assert.equal(st.packets, packets.length);
      assert.equal(st.bytes, packets.length * 84);
      assert.equal(st.drops['replay'], packets.length);
      assert.equal(st.seq, packets.length);
    });

    test(`${folder}: SPI ${spi.toString(16)}: strongSwan's IV is seq xor a per-SA constant, default padding 01 02, and re-encryption is byte for byte`, () => {
      const masks = new Set(packets.map((p) => ivXorSeq(p.bytes)));
      assert.equal(masks.size, 1, 'IV xor seq is constant over the SA');
      const mask = Buffer.from([...masks][0]!, 'hex');
      const inb = new EspInboundSa(saParams(v, spi));
      const first = BigInt(seqOf(packets[0]!.bytes));
      const out = new EspOutboundSa(saParams(v, spi), { ivMask: mask, firstSeq: first });
      for (const p of packets) {
        const r = inb.open(p.bytes);
        assert.ok(r.ok);
        const sealed = out.seal(r.inner);
        assert.ok(sealed.ok);
        assert.equal(toHex(sealed.packet), toHex(p.bytes), `frame ${p.frame} re-encrypted`);
      }
      // The trailer strongSwan chose: 84 + 2 octets padded to 88 with 01 02.
      assert.equal(packets[0]!.bytes.length, 8 + 8 + 88 + 16);
    });
  }

  test(`${folder}: every SA has its own IV mask (not the sequence number itself)`, () => {
    const masks = spis.map((spi) => ivXorSeq(v.esp.find((p) => spiOf(p.bytes) === spi)!.bytes));
    assert.equal(new Set(masks).size, masks.length);
    for (const m of masks) assert.notEqual(m, '0000000000000000');
  });

  test(`${folder}: a packet of one SA does not open on another SA`, () => {
    const [a, b] = spis;
    const inb = new EspInboundSa({ ...saParams(v, b!), spi: a! });
    const p = v.esp.find((x) => seqOf(x.bytes) === 1 && spiOf(x.bytes) === a)!;
    assert.deepEqual(inb.open(p.bytes), { ok: false, reason: 'integrity' });
  });
}
