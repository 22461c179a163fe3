// Real messages from strongSwan 6.0.6 (RFC 9370 X25519 + ML-KEM): decode and re-encode byte
// for byte. The cleartext IKE_SA_INIT pair is checked field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ikeMessages, readPcap } from '../helpers/pcap.js';
import {
  EncrId,
  ExchangeType,
  HeaderFlags,
  KeMethodId,
  NotifyType,
  PayloadType,
  PrfId,
  ProtocolId,
  TransformAttrType,
  TransformType,
  decodeMessage,
  encodeMessage,
  encryptedPrefix,
  filterPayloads,
  findNotify,
  findPayload,
  nameOf,
} from '../../src/wire/index.js';

const FOLDERS = ['psk-x25519-mlkem768', 'psk-x25519-mlkem768-mlkem1024'] as const;

/** capture.pcap of a vector folder: the repo copy (test/vectors/data) or the shared one. */
function capturePath(folder: string): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    resolve(here, '../vectors/data/strongswan-6.0.6', folder, 'capture.pcap'), // from test/unit
    resolve(here, '../../../test/vectors/data/strongswan-6.0.6', folder, 'capture.pcap'), // from dist/test/unit
    resolve('/work/shared/vectors/strongswan-6.0.6', folder, 'capture.pcap'),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`capture.pcap for ${folder} not found in ${candidates.join(', ')}`);
  return found;
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('pcap reader: frames, addresses, ports', () => {
  const all = readPcap(capturePath('psk-x25519-mlkem768'));
  const ike = all.filter((p) => p.kind === 'ike');
  assert.equal(ike.length, 22); // exchanges.txt lists 22 IKE datagrams
  const first = ike[0];
  assert.ok(first !== undefined && first.ike !== undefined);
  assert.equal(first.frame, 2);
  assert.equal(first.srcIp, '192.0.2.1');
  assert.equal(first.dstIp, '192.0.2.2');
  assert.equal(first.srcPort, 500);
  assert.equal(first.dstPort, 500);
  assert.equal(first.ike.length, 248);
  assert.ok(first.ts > 0);
});

test('pcap reader: port 4500 non-ESP marker, ESP and keepalive', async () => {
  const { parsePcap } = await import('../helpers/pcap.js');
  // build a tiny pcap (LINKTYPE_RAW = 101, little endian) with three UDP/4500 datagrams
  const ipUdp = (payload: number[]): number[] => {
    const udpLen = 8 + payload.length;
    const total = 20 + udpLen;
    return [
      0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
      0x11, 0x94, 0x11, 0x94, udpLen >> 8, udpLen & 0xff, 0, 0, ...payload,
    ];
  };
  const records = [ipUdp([0, 0, 0, 0, 0xaa, 0xbb]), ipUdp([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1]), ipUdp([0xff])];
  const le32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const file: number[] = [...le32(0xa1b2c3d4), 2, 0, 4, 0, ...le32(0), ...le32(0), ...le32(65535), ...le32(101)];
  records.forEach((r, i) => file.push(...le32(1000 + i), ...le32(500000), ...le32(r.length), ...le32(r.length), ...r));
  const pkts = parsePcap(Uint8Array.from(file));
  assert.deepEqual(pkts.map((p) => p.kind), ['ike', 'esp', 'nat-keepalive']);
  assert.equal(toHex(pkts[0]?.ike ?? new Uint8Array(1)), 'aabb');
  assert.equal(toHex(pkts[0]?.udpPayload ?? new Uint8Array(0)), '00000000aabb');
  assert.equal(pkts[1]?.ike, undefined);
  assert.equal(pkts[0]?.ts, 1000.5);
  assert.equal(pkts[2]?.dstPort, 4500);
});

test('strongSwan IKE_SA_INIT request: decoded fields', () => {
  const [req] = ikeMessages(capturePath('psk-x25519-mlkem768'));
  assert.ok(req !== undefined);
  const m = decodeMessage(req.ike);
  assert.equal(toHex(m.header.spiI), '6bf2fbc36c6d493a');
  assert.equal(toHex(m.header.spiR), '0000000000000000');
  assert.equal(m.header.exchangeType, ExchangeType.IKE_SA_INIT);
  assert.equal(m.header.flags, HeaderFlags.INITIATOR);
  assert.equal(m.header.messageId, 0);
  assert.equal(m.header.majorVersion, 2);
  assert.equal(m.header.minorVersion, 0);
  assert.equal(m.header.length, 248);
  assert.deepEqual(m.payloads.map((p) => p.type), [33, 34, 40, 41, 41, 41, 41, 41, 41]);

  const sa = findPayload(m.payloads, PayloadType.SA);
  assert.ok(sa !== undefined);
  assert.equal(sa.proposals.length, 1);
  const prop = sa.proposals[0];
  assert.ok(prop !== undefined);
  assert.equal(prop.num, 1);
  assert.equal(prop.protocolId, ProtocolId.IKE);
  assert.equal(prop.spi.length, 0);
  // aes256gcm16-prfsha384-x25519-ke1_mlkem768
  assert.deepEqual(prop.transforms, [
    { type: TransformType.ENCR, id: EncrId.AES_GCM_16, attributes: [{ type: TransformAttrType.KEY_LENGTH, value: 256 }] },
    { type: TransformType.PRF, id: PrfId.HMAC_SHA2_384, attributes: [] },
    { type: TransformType.KE, id: KeMethodId.CURVE25519, attributes: [] },
    { type: TransformType.ADDKE1, id: KeMethodId.MLKEM768, attributes: [] },
  ]);
  const ke = findPayload(m.payloads, PayloadType.KE);
  assert.equal(ke?.method, KeMethodId.CURVE25519);
  assert.equal(ke?.data.length, 32);
  assert.equal(findPayload(m.payloads, PayloadType.NONCE)?.data.length, 32);
  assert.deepEqual(
    filterPayloads(m.payloads, PayloadType.NOTIFY).map((n) => nameOf(NotifyType, n.notifyType)),
    [
      'NAT_DETECTION_SOURCE_IP',
      'NAT_DETECTION_DESTINATION_IP',
      'IKEV2_FRAGMENTATION_SUPPORTED',
      'SIGNATURE_HASH_ALGORITHMS',
      'REDIRECT_SUPPORTED',
      'INTERMEDIATE_EXCHANGE_SUPPORTED',
    ],
  );
  assert.equal(findNotify(m.payloads, NotifyType.NAT_DETECTION_SOURCE_IP)?.data.length, 20);
  assert.equal(toHex(findNotify(m.payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS)?.data ?? new Uint8Array(0)), '0002000300040005');
  assert.equal(toHex(encodeMessage(m.header, m.payloads)), toHex(req.ike));
});

test('strongSwan IKE_SA_INIT response: decoded fields', () => {
  const [req, resp] = ikeMessages(capturePath('psk-x25519-mlkem768'));
  assert.ok(req !== undefined && resp !== undefined);
  const m = decodeMessage(resp.ike);
  assert.equal(m.header.flags, HeaderFlags.RESPONSE);
  assert.deepEqual(m.header.spiI, decodeMessage(req.ike).header.spiI);
  assert.equal(toHex(m.header.spiR), '6b826a03f0cefd13');
  const sa = findPayload(m.payloads, PayloadType.SA);
  assert.equal(sa?.proposals.length, 1);
  assert.deepEqual(
    sa?.proposals[0]?.transforms.map((t) => [t.type, t.id]),
    [[1, 20], [2, 6], [4, 31], [6, 36]],
  );
  assert.equal(findPayload(m.payloads, PayloadType.KE)?.data.length, 32);
  assert.ok(findNotify(m.payloads, NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED));
  assert.equal(toHex(encodeMessage(m.header, m.payloads)), toHex(resp.ike));
});

for (const folder of FOLDERS) {
  test(`every IKE message of ${folder} decodes and re-encodes byte for byte`, () => {
    const msgs = ikeMessages(capturePath(folder));
    assert.ok(msgs.length >= 20);
    const kinds = new Set<string>();
    for (const p of msgs) {
      const m = decodeMessage(p.ike);
      kinds.add(nameOf(ExchangeType, m.header.exchangeType));
      assert.equal(toHex(encodeMessage(m.header, m.payloads)), toHex(p.ike), `frame ${p.frame}`);
      const last = m.payloads[m.payloads.length - 1];
      if (m.header.exchangeType !== ExchangeType.IKE_SA_INIT) {
        // everything after IKE_SA_INIT is protected: one SK or SKF payload (RFC 7296 §3.14, RFC 7383 §2.5)
        assert.equal(m.payloads.length, 1, `frame ${p.frame}`);
        assert.ok(last !== undefined && (last.type === PayloadType.SK || last.type === PayloadType.SKF));
        // the AAD/prefix the engine computes equals the captured octets before the IV
        const prefix =
          last.type === PayloadType.SK
            ? encryptedPrefix(m.header, [], { type: PayloadType.SK, innerFirst: last.innerFirst, bodyLength: last.body.length })
            : encryptedPrefix(m.header, [], {
                type: PayloadType.SKF,
                innerFirst: last.innerFirst,
                bodyLength: last.body.length,
                fragmentNumber: last.fragmentNumber,
                totalFragments: last.totalFragments,
              });
        assert.equal(toHex(prefix), toHex(p.ike.subarray(0, prefix.length)), `frame ${p.frame}`);
        assert.equal(prefix.length + last.body.length, p.ike.length);
        if (last.type === PayloadType.SKF && last.fragmentNumber > 1) assert.equal(last.innerFirst, 0);
      }
    }
    for (const k of ['IKE_SA_INIT', 'IKE_INTERMEDIATE', 'IKE_AUTH', 'CREATE_CHILD_SA', 'IKE_FOLLOWUP_KE', 'INFORMATIONAL']) {
      assert.ok(kinds.has(k), `capture has ${k}`);
    }
  });
}
