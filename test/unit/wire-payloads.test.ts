// Known-bytes and error-case tests of src/wire (RFC 7296 §3, RFC 7383 §2.5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthMethod,
  CertEncoding,
  CfgAttrType,
  CfgType,
  EncodeError,
  EncrId,
  ExchangeType,
  HeaderFlags,
  IdType,
  KeMethodId,
  NotifyType,
  ParseError,
  PayloadType,
  ProtocolId,
  TransformType,
  TsType,
  decodeHeader,
  decodeMessage,
  decodePayloads,
  encodeHeader,
  encodeMessage,
  encodePayloadBody,
  encodePayloads,
  encryptedPrefix,
  filterNotifies,
  filterPayloads,
  findNotify,
  findPayload,
  genericPayloadHeader,
  type IkeHeader,
  type Payload,
  type ParseErrorCode,
} from '../../src/wire/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const SPI_I = hex('0102030405060708');
const SPI_R = hex('1112131415161718');
const HDR: Omit<IkeHeader, 'length' | 'nextPayload'> = {
  spiI: SPI_I,
  spiR: SPI_R,
  majorVersion: 2,
  minorVersion: 0,
  exchangeType: ExchangeType.IKE_AUTH,
  flags: HeaderFlags.INITIATOR,
  messageId: 1,
};

function throwsParse(fn: () => unknown, code: ParseErrorCode, payloadType?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ParseError, `expected ParseError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (payloadType !== undefined) assert.equal(e.payloadType, payloadType);
    return true;
  });
}

/** A chain of one payload of `type` with body `bodyHex` (generic header built here). */
function one(type: number, bodyHex: string, next = 0, flags = 0): Uint8Array {
  const body = hex(bodyHex);
  return Uint8Array.from([next, flags, (body.length + 4) >> 8, (body.length + 4) & 0xff, ...body]);
}

/** Decode a single-payload chain, check its re-encoding is byte-identical, return it. */
function roundTripOne(type: number, bodyHex: string): Payload {
  const bytes = one(type, bodyHex);
  const ps = decodePayloads(type, bytes);
  assert.equal(ps.length, 1);
  const enc = encodePayloads(ps);
  assert.equal(enc.firstType, type);
  assert.equal(toHex(enc.bytes), toHex(bytes));
  return ps[0] as Payload;
}

// ---------------------------------------------------------------------------------------------
// Header (RFC 7296 §3.1)

test('header: encode/decode known bytes', () => {
  const h: IkeHeader = { ...HDR, nextPayload: PayloadType.SK, length: 0x1234 };
  const b = encodeHeader(h);
  assert.equal(toHex(b), '0102030405060708' + '1112131415161718' + '2e' + '20' + '23' + '08' + '00000001' + '00001234');
  assert.deepEqual(decodeHeader(b), h);
});

test('header: reserved flag bits dropped on decode and never sent', () => {
  const b = encodeHeader({ ...HDR, nextPayload: 0, length: 28 });
  b[19] = 0xff;
  const h = decodeHeader(b);
  assert.equal(h.flags, HeaderFlags.INITIATOR | HeaderFlags.VERSION | HeaderFlags.RESPONSE);
  assert.equal(encodeHeader({ ...h, flags: 0xff })[19], 0x38);
});

test('message: length/version checks', () => {
  const empty = encodeMessage(HDR, []);
  assert.equal(empty.length, 28);
  assert.deepEqual(decodeMessage(empty).payloads, []);
  throwsParse(() => decodeMessage(empty.subarray(0, 27)), 'TRUNCATED');
  throwsParse(() => decodeMessage(new Uint8Array(0)), 'TRUNCATED');
  const v1 = Uint8Array.from(empty);
  v1[17] = 0x10; // IKEv1
  throwsParse(() => decodeMessage(v1), 'BAD_VERSION');
  const v3 = Uint8Array.from(empty);
  v3[17] = 0x30;
  throwsParse(() => decodeMessage(v3), 'BAD_VERSION');
  assert.equal(decodeHeader(v3).majorVersion, 3); // the engine can still read it (RFC 7296 §2.5)
  const minor = Uint8Array.from(empty);
  minor[17] = 0x21; // minor version is ignored on receipt (RFC 7296 §3.1)
  assert.equal(decodeMessage(minor).header.minorVersion, 1);
  const long = Uint8Array.from([...empty, 0]);
  throwsParse(() => decodeMessage(long), 'BAD_LENGTH'); // header says 28, buffer has 29
  const lenBig = Uint8Array.from(empty);
  lenBig[27] = 29;
  throwsParse(() => decodeMessage(lenBig), 'TRUNCATED');
  // Next Payload 0 but octets follow
  const trailing = Uint8Array.from([...empty, 0, 0, 0, 4]);
  trailing[27] = 32;
  throwsParse(() => decodeMessage(trailing), 'BAD_LENGTH');
});

// ---------------------------------------------------------------------------------------------
// Generic payload header and chain (RFC 7296 §3.2)

test('generic header: known bytes', () => {
  assert.equal(toHex(genericPayloadHeader(PayloadType.SA, false, 44)), '2100002c');
  assert.equal(toHex(genericPayloadHeader(0, true, 4)), '00800004');
  assert.throws(() => genericPayloadHeader(0, false, 70000), EncodeError);
});

test('chain: payload length < 4, past the end, truncated header', () => {
  throwsParse(() => decodePayloads(PayloadType.VENDOR, hex('00000003')), 'BAD_LENGTH', PayloadType.VENDOR);
  throwsParse(() => decodePayloads(PayloadType.VENDOR, hex('00000009 0102')), 'BAD_LENGTH', PayloadType.VENDOR);
  throwsParse(() => decodePayloads(PayloadType.VENDOR, hex('000000')), 'TRUNCATED', PayloadType.VENDOR);
  throwsParse(() => decodePayloads(PayloadType.VENDOR, new Uint8Array(0)), 'TRUNCATED');
  // first payload says a Vendor ID follows, but nothing does
  throwsParse(() => decodePayloads(PayloadType.VENDOR, hex('2b000004')), 'TRUNCATED', PayloadType.VENDOR);
  // chain ends but octets remain
  throwsParse(() => decodePayloads(PayloadType.VENDOR, hex('00000004 00')), 'BAD_LENGTH');
  throwsParse(() => decodePayloads(0, hex('00')), 'BAD_LENGTH');
  assert.deepEqual(decodePayloads(0, new Uint8Array(0)), []);
});

test('chain: unknown non-critical kept raw and re-encoded exactly; unknown critical rejected', () => {
  // Vendor ID → unknown type 99 (non-critical) → Nonce
  const bytes = hex('63000008 aabbccdd' + '2800000a 0102 0304 0506' + '00000014' + '00'.repeat(16));
  const ps = decodePayloads(PayloadType.VENDOR, bytes);
  assert.equal(ps.length, 3);
  assert.deepEqual(ps[0], { type: PayloadType.VENDOR, critical: false, data: hex('aabbccdd') });
  assert.deepEqual(ps[1], { type: 'unknown', rawType: 99, critical: false, data: hex('010203040506') });
  assert.equal(ps[2]?.type, PayloadType.NONCE);
  assert.equal(toHex(encodePayloads(ps).bytes), toHex(bytes));
  // the same with the critical bit set on the unknown payload
  const crit = Uint8Array.from(bytes);
  crit[9] = 0x80;
  throwsParse(() => decodePayloads(PayloadType.VENDOR, crit), 'UNSUPPORTED_CRITICAL_PAYLOAD', 99);
  // reserved payload types 1..32 and unimplemented 49..52 are "unknown" too
  throwsParse(() => decodePayloads(49, hex('00800004')), 'UNSUPPORTED_CRITICAL_PAYLOAD', 49);
  assert.equal(decodePayloads(1, hex('00000004'))[0]?.type, 'unknown');
});

test('chain: critical bit of a known payload is ignored (kept), reserved bits ignored', () => {
  const ps = decodePayloads(PayloadType.VENDOR, hex('00ff0005 01'));
  assert.deepEqual(ps, [{ type: PayloadType.VENDOR, critical: true, data: hex('01') }]);
  assert.equal(toHex(encodePayloads(ps).bytes), '00800005' + '01');
});

test('chain: SK/SKF must be last; inner contents cannot hold SK', () => {
  const sk = hex('29000008 01020304');
  const ok = decodePayloads(PayloadType.SK, sk);
  assert.deepEqual(ok, [{ type: PayloadType.SK, critical: false, innerFirst: PayloadType.NOTIFY, body: hex('01020304') }]);
  throwsParse(() => decodePayloads(PayloadType.SK, hex('29000008 01020304 00000004')), 'BAD_STRUCTURE', PayloadType.SK);
  throwsParse(() => decodePayloads(PayloadType.SK, sk, { inner: true }), 'BAD_STRUCTURE', PayloadType.SK);
  throwsParse(() => decodePayloads(PayloadType.SKF, hex('00000008 00010001'), { inner: true }), 'BAD_STRUCTURE');
  assert.throws(() => encodePayloads([ok[0] as Payload, { type: PayloadType.VENDOR, critical: false, data: hex('') }]), EncodeError);
  // an unprotected payload before SK is fine (RFC 7383 §2.5.3)
  const two = decodePayloads(PayloadType.VENDOR, hex('2e000005 aa 00000004'));
  assert.deepEqual(two[1], { type: PayloadType.SK, critical: false, innerFirst: 0, body: new Uint8Array(0) });
});

// ---------------------------------------------------------------------------------------------
// SA (RFC 7296 §3.3)

// Proposal 1: IKE, no SPI, ENCR AES-GCM-16 (Key Length 256, TV), PRF SHA384, KE 31, ADDKE1 36
const SA_IKE =
  '00 00 002c 01 01 00 04' +
  '03 00 000c 01 00 0014 800e 0100' +
  '03 00 0008 02 00 0006' +
  '03 00 0008 04 00 001f' +
  '00 00 0008 06 00 0024';

test('SA: known bytes of a strongSwan-style IKE proposal', () => {
  const p = roundTripOne(PayloadType.SA, SA_IKE);
  assert.deepEqual(p, {
    type: PayloadType.SA,
    critical: false,
    proposals: [
      {
        num: 1,
        protocolId: ProtocolId.IKE,
        spi: new Uint8Array(0),
        transforms: [
          { type: TransformType.ENCR, id: EncrId.AES_GCM_16, attributes: [{ type: 14, value: 256 }] },
          { type: TransformType.PRF, id: 6, attributes: [] },
          { type: TransformType.KE, id: KeMethodId.CURVE25519, attributes: [] },
          { type: TransformType.ADDKE1, id: KeMethodId.MLKEM768, attributes: [] },
        ],
      },
    ],
  });
});

// two proposals: 1 = ESP spi 0a0b0c0d, AES-CBC + TLV attribute type 0x100 (2 bytes), ESN 0;
// 2 = ESP spi 01020304, ENCR 28
const SA_TWO =
  '02 00 0026 01 03 04 02 0a0b0c0d' +
  '03 00 0012 01 00 000c 800e 0080 0100 0002 abcd' +
  '00 00 0008 05 00 0000' +
  '00 00 0014 02 03 04 01 01020304' +
  '00 00 0008 01 00 001c';

test('SA: two ESP proposals with SPIs, TV and TLV attributes', () => {
  const p = roundTripOne(PayloadType.SA, SA_TWO);
  assert.ok(p.type === PayloadType.SA);
  assert.equal(p.proposals.length, 2);
  assert.deepEqual(p.proposals[0]?.spi, hex('0a0b0c0d'));
  assert.deepEqual(p.proposals[0]?.transforms[0]?.attributes, [
    { type: 14, value: 128 },
    { type: 0x100, value: hex('abcd') },
  ]);
  assert.equal(p.proposals[1]?.num, 2);
  assert.equal(p.proposals[1]?.transforms[0]?.id, EncrId.CHACHA20_POLY1305);
});

test('SA: structural errors', () => {
  const mut = (h: string, at: number, v: number): string => {
    const b = hex(h);
    b[at] = v;
    return toHex(b);
  };
  const dec = (body: string): unknown => decodePayloads(PayloadType.SA, one(PayloadType.SA, body));
  throwsParse(() => dec(''), 'BAD_STRUCTURE', PayloadType.SA); // no proposals
  throwsParse(() => dec(mut(SA_IKE, 0, 2)), 'BAD_STRUCTURE', PayloadType.SA); // says more proposals
  throwsParse(() => dec(mut(SA_TWO, 0, 0)), 'BAD_STRUCTURE', PayloadType.SA); // says last, but more follow
  throwsParse(() => dec(mut(SA_IKE, 8, 0)), 'BAD_STRUCTURE', PayloadType.SA); // transform flags: last too early
  throwsParse(() => dec(mut(SA_IKE, 36, 3)), 'BAD_STRUCTURE', PayloadType.SA); // last transform says more
  throwsParse(() => dec(mut(SA_IKE, 7, 3)), 'BAD_STRUCTURE', PayloadType.SA); // Num Transforms 3 but 4 present
  throwsParse(() => dec(mut(SA_IKE, 7, 5)), 'BAD_STRUCTURE', PayloadType.SA); // Num Transforms 5
  throwsParse(() => dec(mut(SA_IKE, 7, 0)), 'BAD_VALUE', PayloadType.SA); // no transforms
  throwsParse(() => dec(mut(SA_IKE, 4, 0)), 'BAD_VALUE', PayloadType.SA); // Proposal Num 0
  assert.equal((dec(mut(SA_IKE, 4, 7)) as Payload[]).length, 1); // single proposal may carry any num ≥ 1
  throwsParse(() => dec(mut(SA_TWO, 4, 2)), 'BAD_STRUCTURE', PayloadType.SA); // 2, 2
  throwsParse(() => dec(mut(mut(SA_TWO, 4, 2), 42, 3)), 'BAD_STRUCTURE', PayloadType.SA); // 2, 3: must start at 1
  throwsParse(() => dec(mut(SA_TWO, 42, 3)), 'BAD_STRUCTURE', PayloadType.SA); // 1, 3
  throwsParse(() => dec(mut(SA_IKE, 5, 0)), 'BAD_VALUE', PayloadType.SA); // Protocol ID 0
  throwsParse(() => dec(mut(SA_TWO, 6, 8)), 'BAD_VALUE', PayloadType.SA); // ESP with 8-octet SPI
  throwsParse(() => dec(mut(SA_IKE, 6, 4)), 'BAD_VALUE', PayloadType.SA); // IKE with 4-octet SPI
  throwsParse(() => dec(mut(SA_IKE, 3, 0x2d)), 'BAD_LENGTH', PayloadType.SA); // Proposal Length too big
  throwsParse(() => dec(mut(SA_IKE, 3, 7)), 'BAD_LENGTH', PayloadType.SA); // Proposal Length < 8
  throwsParse(() => dec(mut(SA_IKE, 11, 7)), 'BAD_LENGTH', PayloadType.SA); // Transform Length < 8
  throwsParse(() => dec(mut(SA_IKE, 11, 0x30)), 'BAD_LENGTH', PayloadType.SA); // Transform Length past proposal
  throwsParse(() => dec(mut(SA_IKE, 16, 0x00)), 'BAD_VALUE', PayloadType.SA); // Key Length as TLV
  // TLV attribute whose length runs past the transform
  throwsParse(() => dec(mut(SA_TWO, 27, 9)), 'BAD_LENGTH', PayloadType.SA);
  // a TV attribute cut in half (transform length 10)
  throwsParse(
    () => dec('00 00 0012 01 01 00 01 ' + '00 00 000a 01 00 000c 800e'),
    'TRUNCATED',
    PayloadType.SA,
  );
});

// ---------------------------------------------------------------------------------------------
// Simple payloads (RFC 7296 §3.4-§3.9, §3.12, §3.16)

test('KE: known bytes and fixed-part check', () => {
  const p = roundTripOne(PayloadType.KE, '0024 0000 ' + 'ab'.repeat(1184));
  assert.ok(p.type === PayloadType.KE);
  assert.equal(p.method, KeMethodId.MLKEM768);
  assert.equal(p.data.length, 1184);
  throwsParse(() => decodePayloads(PayloadType.KE, one(PayloadType.KE, '0024 00')), 'TRUNCATED', PayloadType.KE);
  // reserved octets are ignored on decode, sent as zero
  const ps = decodePayloads(PayloadType.KE, one(PayloadType.KE, '001f ffff 01'));
  assert.equal(toHex(encodePayloads(ps).bytes), toHex(one(PayloadType.KE, '001f 0000 01')));
});

test('ID, CERT, CERTREQ, AUTH, Vendor, EAP: known bytes', () => {
  const id = roundTripOne(PayloadType.IDi, '02 000000 ' + Buffer.from('moon.example.org').toString('hex'));
  assert.deepEqual(id, { type: PayloadType.IDi, critical: false, idType: IdType.FQDN, data: new TextEncoder().encode('moon.example.org') });
  assert.equal(toHex(encodePayloadBody(id)), '02000000' + Buffer.from('moon.example.org').toString('hex'));
  assert.equal(roundTripOne(PayloadType.IDr, '01 000000 c0000202').type, PayloadType.IDr);
  assert.deepEqual(roundTripOne(PayloadType.CERT, '04 3082'), {
    type: PayloadType.CERT, critical: false, encoding: CertEncoding.X509_SIGNATURE, data: hex('3082'),
  });
  assert.deepEqual(roundTripOne(PayloadType.CERTREQ, '04'), {
    type: PayloadType.CERTREQ, critical: false, encoding: 4, data: new Uint8Array(0),
  });
  throwsParse(() => decodePayloads(PayloadType.CERT, one(PayloadType.CERT, '')), 'TRUNCATED', PayloadType.CERT);
  assert.deepEqual(roundTripOne(PayloadType.AUTH, '02 000000 ' + '11'.repeat(48)), {
    type: PayloadType.AUTH, critical: false, method: AuthMethod.PSK, data: hex('11'.repeat(48)),
  });
  throwsParse(() => decodePayloads(PayloadType.AUTH, one(PayloadType.AUTH, '0200')), 'TRUNCATED', PayloadType.AUTH);
  throwsParse(() => decodePayloads(PayloadType.IDi, one(PayloadType.IDi, '02')), 'TRUNCATED', PayloadType.IDi);
  assert.deepEqual(roundTripOne(PayloadType.VENDOR, ''), { type: PayloadType.VENDOR, critical: false, data: new Uint8Array(0) });
  assert.deepEqual(roundTripOne(PayloadType.EAP, '01 02 0005 01'), { type: PayloadType.EAP, critical: false, data: hex('0102000501') });
});

test('Nonce: 16..256 octets (RFC 7296 §3.9)', () => {
  assert.equal(roundTripOne(PayloadType.NONCE, '00'.repeat(16)).type, PayloadType.NONCE);
  assert.equal(roundTripOne(PayloadType.NONCE, '00'.repeat(256)).type, PayloadType.NONCE);
  throwsParse(() => decodePayloads(PayloadType.NONCE, one(PayloadType.NONCE, '00'.repeat(15))), 'BAD_LENGTH', PayloadType.NONCE);
  throwsParse(() => decodePayloads(PayloadType.NONCE, one(PayloadType.NONCE, '00'.repeat(257))), 'BAD_LENGTH', PayloadType.NONCE);
});

// ---------------------------------------------------------------------------------------------
// Notify and Delete (RFC 7296 §3.10, §3.11)

test('Notify: known bytes, SPI sizes', () => {
  assert.deepEqual(roundTripOne(PayloadType.NOTIFY, '00 00 402e'), {
    type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0),
    notifyType: NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, data: new Uint8Array(0),
  });
  assert.deepEqual(roundTripOne(PayloadType.NOTIFY, '03 04 4009 c1c2c3c4'), {
    type: PayloadType.NOTIFY, critical: false, protocolId: ProtocolId.ESP, spi: hex('c1c2c3c4'),
    notifyType: NotifyType.REKEY_SA, data: new Uint8Array(0),
  });
  assert.deepEqual(roundTripOne(PayloadType.NOTIFY, '00 00 0011 0024'), {
    type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0),
    notifyType: NotifyType.INVALID_KE_PAYLOAD, data: hex('0024'),
  });
  const n = (b: string): unknown => decodePayloads(PayloadType.NOTIFY, one(PayloadType.NOTIFY, b));
  throwsParse(() => n('00 00 40'), 'TRUNCATED', PayloadType.NOTIFY);
  throwsParse(() => n('03 04 4009 c1c2c3'), 'BAD_LENGTH', PayloadType.NOTIFY);
  throwsParse(() => n('03 08 4009 c1c2c3c4c5c6c7c8'), 'BAD_VALUE', PayloadType.NOTIFY);
  throwsParse(() => n('00 04 4009 c1c2c3c4'), 'BAD_VALUE', PayloadType.NOTIFY);
  throwsParse(() => n('01 04 4009 c1c2c3c4'), 'BAD_VALUE', PayloadType.NOTIFY);
});

test('Delete: known bytes, SPI size and count consistency', () => {
  assert.deepEqual(roundTripOne(PayloadType.DELETE, '01 00 0000'), {
    type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.IKE, spiSize: 0, spis: [],
  });
  assert.deepEqual(roundTripOne(PayloadType.DELETE, '03 04 0002 c1c2c3c4 d1d2d3d4'), {
    type: PayloadType.DELETE, critical: false, protocolId: ProtocolId.ESP, spiSize: 4, spis: [hex('c1c2c3c4'), hex('d1d2d3d4')],
  });
  const d = (b: string): unknown => decodePayloads(PayloadType.DELETE, one(PayloadType.DELETE, b));
  throwsParse(() => d('03 04 00'), 'TRUNCATED', PayloadType.DELETE);
  throwsParse(() => d('03 04 0002 c1c2c3c4'), 'BAD_LENGTH', PayloadType.DELETE);
  throwsParse(() => d('03 04 0001 c1c2c3c4 00'), 'BAD_LENGTH', PayloadType.DELETE);
  throwsParse(() => d('03 08 0001 c1c2c3c4c5c6c7c8'), 'BAD_VALUE', PayloadType.DELETE);
  throwsParse(() => d('01 08 0001 c1c2c3c4c5c6c7c8'), 'BAD_VALUE', PayloadType.DELETE);
  throwsParse(() => d('00 00 0000'), 'BAD_VALUE', PayloadType.DELETE);
  assert.throws(
    () => encodePayloadBody({ type: PayloadType.DELETE, critical: false, protocolId: 3, spiSize: 4, spis: [hex('01')] }),
    EncodeError,
  );
});

// ---------------------------------------------------------------------------------------------
// Traffic selectors (RFC 7296 §3.13)

test('TS: IPv4 and IPv6 ranges known bytes', () => {
  const v4 = '07 00 0010 0000 ffff c6336400 c633647f';
  const v6 = '08 11 0028 01f4 01f4 ' + '20010db8' + '00'.repeat(12) + '20010db8' + '00'.repeat(11) + 'ff';
  const p = roundTripOne(PayloadType.TSi, '02 000000 ' + v4 + v6);
  assert.ok(p.type === PayloadType.TSi);
  assert.deepEqual(p.selectors[0], {
    tsType: TsType.IPV4_ADDR_RANGE, ipProtocol: 0, startPort: 0, endPort: 65535,
    startAddr: hex('c6336400'), endAddr: hex('c633647f'),
  });
  assert.equal(p.selectors[1]?.ipProtocol, 17);
  assert.equal(p.selectors[1]?.startAddr.length, 16);
  assert.equal(roundTripOne(PayloadType.TSr, '00 000000').type, PayloadType.TSr);
  const t = (b: string): unknown => decodePayloads(PayloadType.TSr, one(PayloadType.TSr, b));
  throwsParse(() => t('01 000000 07 00 0011 0000 ffff c6336400 c633647f 00'), 'BAD_LENGTH', PayloadType.TSr);
  throwsParse(() => t('01 000000 08 00 0010 0000 ffff c6336400 c633647f'), 'BAD_LENGTH', PayloadType.TSr);
  throwsParse(() => t('01 000000 09 00 0010 0000 ffff c6336400 c633647f'), 'BAD_VALUE', PayloadType.TSr);
  throwsParse(() => t('02 000000 ' + v4), 'BAD_STRUCTURE', PayloadType.TSr);
  throwsParse(() => t('01 000000 ' + v4 + '07'), 'BAD_LENGTH', PayloadType.TSr);
  throwsParse(() => t('01 000000 07 00 0010 0000 ffff c6336400'), 'BAD_LENGTH', PayloadType.TSr);
  throwsParse(() => t('01 0000'), 'TRUNCATED', PayloadType.TSr);
  assert.throws(
    () => encodePayloadBody({ type: PayloadType.TSi, critical: false, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 0, startAddr: hex('00'), endAddr: hex('00') }] }),
    EncodeError,
  );
});

// ---------------------------------------------------------------------------------------------
// CP (RFC 7296 §3.15)

test('CP: known bytes, R bit ignored, attribute lengths', () => {
  const p = roundTripOne(PayloadType.CP, '01 000000 0001 0000 0008 0000 0003 0004 08080808 0007 0003 616263');
  assert.deepEqual(p, {
    type: PayloadType.CP, critical: false, cfgType: CfgType.REQUEST,
    attributes: [
      { type: CfgAttrType.INTERNAL_IP4_ADDRESS, value: new Uint8Array(0) },
      { type: CfgAttrType.INTERNAL_IP6_ADDRESS, value: new Uint8Array(0) },
      { type: CfgAttrType.INTERNAL_IP4_DNS, value: hex('08080808') },
      { type: CfgAttrType.APPLICATION_VERSION, value: hex('616263') },
    ],
  });
  const rbit = decodePayloads(PayloadType.CP, one(PayloadType.CP, '02 000000 8001 0004 0a000001'));
  assert.deepEqual(rbit[0], { type: PayloadType.CP, critical: false, cfgType: 2, attributes: [{ type: 1, value: hex('0a000001') }] });
  const c = (b: string): unknown => decodePayloads(PayloadType.CP, one(PayloadType.CP, b));
  throwsParse(() => c('02 000000 0001 0003 0a0000'), 'BAD_LENGTH', PayloadType.CP);
  throwsParse(() => c('02 000000 0001 0004 0a0000'), 'BAD_LENGTH', PayloadType.CP);
  throwsParse(() => c('02 000000 000e 0003 000100'), 'BAD_LENGTH', PayloadType.CP);
  throwsParse(() => c('02 000000 0001 00'), 'TRUNCATED', PayloadType.CP);
  throwsParse(() => c('02 0000'), 'TRUNCATED', PayloadType.CP);
});

// ---------------------------------------------------------------------------------------------
// SK / SKF (RFC 7296 §3.14, RFC 7383 §2.5)

test('SKF: known bytes and fragment number checks', () => {
  const bytes = hex('21000010 0001 0003 0102030405060708');
  const ps = decodePayloads(PayloadType.SKF, bytes);
  assert.deepEqual(ps, [{
    type: PayloadType.SKF, critical: false, fragmentNumber: 1, totalFragments: 3,
    innerFirst: PayloadType.SA, body: hex('0102030405060708'),
  }]);
  assert.equal(toHex(encodePayloads(ps).bytes), toHex(bytes));
  throwsParse(() => decodePayloads(53, hex('00000008 0000 0003')), 'BAD_VALUE', 53);
  throwsParse(() => decodePayloads(53, hex('00000008 0001 0000')), 'BAD_VALUE', 53);
  throwsParse(() => decodePayloads(53, hex('00000008 0004 0003')), 'BAD_VALUE', 53);
  throwsParse(() => decodePayloads(53, hex('00000006 0001')), 'TRUNCATED', 53);
  assert.equal(decodePayloads(53, hex('00000008 ffff ffff')).length, 1);
});

test('encryptedPrefix equals the start of the encoded message (SK and SKF)', () => {
  const before: Payload[] = [{ type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: hex('0102') }];
  const body = hex('aa'.repeat(40));
  const sk: Payload = { type: PayloadType.SK, critical: false, innerFirst: PayloadType.IDi, body };
  const msg = encodeMessage(HDR, [...before, sk]);
  const pre = encryptedPrefix(HDR, before, { type: PayloadType.SK, innerFirst: PayloadType.IDi, bodyLength: body.length });
  assert.equal(toHex(pre), toHex(msg.subarray(0, msg.length - body.length)));
  const skf: Payload = { type: PayloadType.SKF, critical: false, fragmentNumber: 2, totalFragments: 3, innerFirst: 0, body };
  const msg2 = encodeMessage(HDR, [skf]);
  const pre2 = encryptedPrefix(HDR, [], { type: PayloadType.SKF, innerFirst: 0, bodyLength: body.length, fragmentNumber: 2, totalFragments: 3 });
  assert.equal(toHex(pre2), toHex(msg2.subarray(0, msg2.length - body.length)));
  assert.equal(pre2.length, 28 + 8);
});

// ---------------------------------------------------------------------------------------------
// Whole messages, helpers, encoder errors

test('message: encode computes Next Payload fields and Length; decode is the inverse', () => {
  const payloads: Payload[] = [
    { type: PayloadType.IDi, critical: false, idType: IdType.FQDN, data: hex('6d6f6f6e') },
    { type: PayloadType.AUTH, critical: false, method: AuthMethod.PSK, data: hex('00'.repeat(32)) },
    { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.INITIAL_CONTACT, data: new Uint8Array(0) },
    { type: PayloadType.TSi, critical: false, selectors: [] },
  ];
  const b = encodeMessage(HDR, payloads);
  assert.equal(b[16], PayloadType.IDi);
  assert.equal(b[28], PayloadType.AUTH);
  const m = decodeMessage(b);
  assert.equal(m.header.length, b.length);
  assert.deepEqual(m.payloads, payloads);
  assert.equal(toHex(encodeMessage(m.header, m.payloads)), toHex(b));
  // decoded byte arrays are copies, not views of the input
  b[28 + 8] = 0x99;
  assert.equal((m.payloads[0] as { data: Uint8Array }).data[0], 0x6d);
});

test('find helpers', () => {
  const ps: Payload[] = [
    { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: hex('01') },
    { type: PayloadType.KE, critical: false, method: 31, data: hex('02') },
    { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: hex('03') },
  ];
  assert.equal(findPayload(ps, PayloadType.KE)?.method, 31);
  assert.equal(findPayload(ps, PayloadType.SA), undefined);
  assert.equal(filterPayloads(ps, PayloadType.NOTIFY).length, 2);
  assert.deepEqual(findNotify(ps, NotifyType.COOKIE)?.data, hex('01'));
  assert.equal(filterNotifies(ps, NotifyType.COOKIE).length, 2);
  assert.equal(findNotify(ps, NotifyType.INVALID_SYNTAX), undefined);
});

test('encoder rejects values it cannot represent', () => {
  assert.throws(() => encodeHeader({ ...HDR, spiI: hex('01'), nextPayload: 0, length: 28 }), EncodeError);
  assert.throws(() => encodeMessage({ ...HDR, messageId: 2 ** 32 }, []), EncodeError);
  assert.throws(() => encodeMessage(HDR, [{ type: PayloadType.VENDOR, critical: false, data: new Uint8Array(65532) }]), EncodeError);
  assert.throws(() => encodeMessage(HDR, [{ type: PayloadType.KE, critical: false, method: 70000, data: hex('') }]), EncodeError);
  assert.throws(() => encodeMessage(HDR, [{ type: 'unknown', rawType: 300, critical: false, data: hex('') }]), EncodeError);
});
