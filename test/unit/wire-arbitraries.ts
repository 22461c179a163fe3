/**
 * fast-check generators of VALID IKEv2 messages and payloads (RFC 7296 §3, RFC 7383 §2.5),
 * i.e. values that src/wire encodes and decodes back unchanged.
 */
import fc from 'fast-check';
import {
  PayloadType,
  ProtocolId,
  TransformAttrType,
  TsType,
  CfgAttrType,
  HeaderFlags,
  type IkeHeader,
  type Payload,
  type Proposal,
  type Transform,
  type TransformAttribute,
  type TrafficSelector,
  type CfgAttribute,
} from '../../src/wire/index.js';

export const seed: number = (() => {
  const env = process.env['PQIKE_FC_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`PQIKE_FC_SEED must be an integer, got ${env}`);
    return n;
  }
  return 0x1ce2_9370;
})();

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const attribute: fc.Arbitrary<TransformAttribute> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), value: u16 }),
  fc.record({
    type: fc.integer({ min: 0, max: 0x7fff }).filter((t) => t !== TransformAttrType.KEY_LENGTH),
    value: bytes(0, 8),
  }),
);

const transform: fc.Arbitrary<Transform> = fc.record({
  type: fc.integer({ min: 1, max: 12 }),
  id: u16,
  attributes: fc.array(attribute, { maxLength: 2 }),
});

const proposalBody = fc.oneof(
  fc.record({ protocolId: fc.constant<number>(ProtocolId.IKE), spi: fc.oneof(bytes(0, 0), bytes(8, 8)) }),
  fc.record({ protocolId: fc.constantFrom<number>(ProtocolId.AH, ProtocolId.ESP), spi: bytes(4, 4) }),
);

const proposals: fc.Arbitrary<Proposal[]> = fc
  .tuple(
    fc.array(fc.record({ body: proposalBody, transforms: fc.array(transform, { minLength: 1, maxLength: 5 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
    fc.integer({ min: 1, max: 255 }),
  )
  .map(([ps, singleNum]) =>
    ps.map((p, i) => ({
      num: ps.length === 1 ? singleNum : i + 1,
      protocolId: p.body.protocolId,
      spi: p.body.spi,
      transforms: p.transforms,
    })),
  );

const selector: fc.Arbitrary<TrafficSelector> = fc.oneof(
  fc.record({
    tsType: fc.constant<number>(TsType.IPV4_ADDR_RANGE),
    ipProtocol: u8,
    startPort: u16,
    endPort: u16,
    startAddr: bytes(4, 4),
    endAddr: bytes(4, 4),
  }),
  fc.record({
    tsType: fc.constant<number>(TsType.IPV6_ADDR_RANGE),
    ipProtocol: u8,
    startPort: u16,
    endPort: u16,
    startAddr: bytes(16, 16),
    endAddr: bytes(16, 16),
  }),
);

const cfgAttribute: fc.Arbitrary<CfgAttribute> = fc.oneof(
  fc.record({ type: fc.constant<number>(CfgAttrType.INTERNAL_IP4_ADDRESS), value: fc.oneof(bytes(0, 0), bytes(4, 4)) }),
  fc.record({ type: fc.constant<number>(CfgAttrType.INTERNAL_IP6_ADDRESS), value: fc.oneof(bytes(0, 0), bytes(17, 17)) }),
  fc.record({ type: fc.constant<number>(CfgAttrType.APPLICATION_VERSION), value: bytes(0, 12) }),
  fc.record({ type: fc.integer({ min: 23, max: 0x7fff }), value: bytes(0, 8) }),
);

const unknownType = fc.oneof(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 49, max: 52 }), fc.integer({ min: 54, max: 255 }));

/** Any non-encrypted payload. */
export const plainPayload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.SA), critical: fc.boolean(), proposals }),
  fc.record({ type: fc.constant(PayloadType.KE), critical: fc.boolean(), method: u16, data: bytes(0, 48) }),
  fc.record({
    type: fc.constantFrom(PayloadType.IDi, PayloadType.IDr),
    critical: fc.boolean(),
    idType: u8,
    data: bytes(0, 24),
  }),
  fc.record({
    type: fc.constantFrom(PayloadType.CERT, PayloadType.CERTREQ),
    critical: fc.boolean(),
    encoding: u8,
    data: bytes(0, 24),
  }),
  fc.record({ type: fc.constant(PayloadType.AUTH), critical: fc.boolean(), method: u8, data: bytes(0, 32) }),
  fc.record({ type: fc.constant(PayloadType.NONCE), critical: fc.boolean(), data: fc.oneof(bytes(16, 40), bytes(256, 256)) }),
  fc
    .record({
      critical: fc.boolean(),
      ps: fc.oneof(
        fc.record({ protocolId: fc.constant<number>(ProtocolId.NONE), spi: bytes(0, 0) }),
        fc.record({ protocolId: fc.constant<number>(ProtocolId.IKE), spi: fc.oneof(bytes(0, 0), bytes(8, 8)) }),
        fc.record({ protocolId: fc.constantFrom<number>(ProtocolId.AH, ProtocolId.ESP), spi: fc.oneof(bytes(0, 0), bytes(4, 4)) }),
      ),
      notifyType: u16,
      data: bytes(0, 24),
    })
    .map(({ critical, ps, notifyType, data }): Payload => ({
      type: PayloadType.NOTIFY,
      critical,
      protocolId: ps.protocolId,
      spi: ps.spi,
      notifyType,
      data,
    })),
  fc.oneof(
    fc.record({
      type: fc.constant(PayloadType.DELETE),
      critical: fc.boolean(),
      protocolId: fc.constant<number>(ProtocolId.IKE),
      spiSize: fc.constant(0),
      spis: fc.constant<Uint8Array[]>([]),
    }),
    fc.record({
      type: fc.constant(PayloadType.DELETE),
      critical: fc.boolean(),
      protocolId: fc.constantFrom<number>(ProtocolId.AH, ProtocolId.ESP),
      spiSize: fc.constant(4),
      spis: fc.array(bytes(4, 4), { maxLength: 5 }),
    }),
  ),
  fc.record({ type: fc.constant(PayloadType.VENDOR), critical: fc.boolean(), data: bytes(0, 24) }),
  fc.record({
    type: fc.constantFrom(PayloadType.TSi, PayloadType.TSr),
    critical: fc.boolean(),
    selectors: fc.array(selector, { maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant(PayloadType.CP),
    critical: fc.boolean(),
    cfgType: u8,
    attributes: fc.array(cfgAttribute, { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant(PayloadType.EAP), critical: fc.boolean(), data: bytes(0, 24) }),
  fc.record({ type: fc.constant('unknown' as const), rawType: unknownType, critical: fc.constant(false), data: bytes(0, 24) }),
);

/** SK or SKF (valid fragment numbering). */
export const encryptedPayload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.SK), critical: fc.boolean(), innerFirst: u8, body: bytes(0, 64) }),
  fc
    .record({ critical: fc.boolean(), total: fc.integer({ min: 1, max: 0xffff }), k: fc.nat(), innerFirst: u8, body: bytes(0, 64) })
    .map(({ critical, total, k, innerFirst, body }): Payload => ({
      type: PayloadType.SKF,
      critical,
      fragmentNumber: (k % total) + 1,
      totalFragments: total,
      innerFirst,
      body,
    })),
);

export const payloadChain: fc.Arbitrary<Payload[]> = fc
  .tuple(fc.array(plainPayload, { maxLength: 6 }), fc.option(encryptedPayload, { nil: undefined }))
  .map(([ps, enc]) => (enc === undefined ? ps : [...ps, enc]));

export const headerInit: fc.Arbitrary<Omit<IkeHeader, 'length' | 'nextPayload'>> = fc.record({
  spiI: bytes(8, 8),
  spiR: bytes(8, 8),
  majorVersion: fc.constant(2),
  minorVersion: fc.integer({ min: 0, max: 15 }),
  exchangeType: u8,
  flags: fc.subarray([HeaderFlags.INITIATOR, HeaderFlags.VERSION, HeaderFlags.RESPONSE]).map((fs) => fs.reduce((a, b) => a | b, 0)),
  messageId: fc.integer({ min: 0, max: 0xffffffff }),
});

export const message = fc.record({ header: headerInit, payloads: payloadChain });
