/**
 * From the engine's specs to the kernel's terms, without a kernel: traffic selectors as XFRM
 * selectors (exact prefix cover, port masks, ICMP type/code, directions), strongSwan's policy
 * priorities, the policy plan of a Child SA (out/in/fwd, templates), ESP algorithm names and key
 * checks, and EspSaSpec → SaParams (replay window per direction, ESN, encapsulation, limits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { REQID_FIRST, REQID_LAST, type EspSaSpec, type PolicySpec } from '../../src/engine/dataplane.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { addressToBytes } from '../../src/engine/address.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { espAlgorithms } from '../../src/dataplane/xfrm/algorithms.js';
import { XfrmClient, isOurReqid, OUR_REQIDS } from '../../src/dataplane/xfrm/client.js';
import { XfrmError } from '../../src/dataplane/xfrm/errors.js';
import { icmpParts, policyPriority, policySelectors, portRangeToMasks, rangeToPrefixes, selectorSide } from '../../src/dataplane/xfrm/selectors.js';
import type { XfrmSelector } from '../../src/dataplane/xfrm/messages.js';

const ts = parseTrafficSelector;
const toBig = (b: Uint8Array): bigint => b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);

test('rangeToPrefixes: exact cover, smallest set', () => {
  const p = (a: string, b: string): string[] => rangeToPrefixes(addressToBytes(a), addressToBytes(b)).map((x) => `${Array.from(x.addr).join('.')}/${x.len}`);
  assert.deepEqual(p('10.0.0.0', '10.0.0.255'), ['10.0.0.0/24']);
  assert.deepEqual(p('0.0.0.0', '255.255.255.255'), ['0.0.0.0/0']);
  assert.deepEqual(p('10.50.0.0', '10.50.0.5'), ['10.50.0.0/30', '10.50.0.4/31']);
  assert.deepEqual(p('10.0.0.1', '10.0.0.1'), ['10.0.0.1/32']);
  assert.deepEqual(p('10.0.0.255', '10.0.1.0'), ['10.0.0.255/32', '10.0.1.0/32']);
  assert.equal(rangeToPrefixes(addressToBytes('::'), addressToBytes('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))[0]?.len, 0);
  assert.throws(() => rangeToPrefixes(addressToBytes('10.0.0.2'), addressToBytes('10.0.0.1')), XfrmError);
  // the worst case of a single range: 2 × 127 prefixes
  assert.equal(rangeToPrefixes(addressToBytes('::1'), addressToBytes('ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe')).length, 254);
});

test('rangeToPrefixes: the prefixes are disjoint, aligned and cover exactly the range (fast-check)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (a, b) => {
      const [lo, hi] = toBig(a) <= toBig(b) ? [a, b] : [b, a];
      const ps = rangeToPrefixes(lo, hi);
      let next = toBig(lo);
      for (const p of ps) {
        const start = toBig(p.addr);
        const size = 1n << BigInt(32 - p.len);
        assert.equal(start, next);
        assert.equal(start % size, 0n);
        next = start + size;
      }
      assert.equal(next - 1n, toBig(hi));
      assert.ok(ps.length <= 62);
    }),
    { numRuns: 300, seed: 0x5071 },
  );
});

test('rangeToPrefixes: a prefix comes back as itself (fast path), IPv4 and IPv6 (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.constant(4), fc.constant(16)), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(128), (n, raw, l) => {
      const len = l % (n * 8 + 1);
      const start = raw.slice(0, n);
      const end = Uint8Array.from(start);
      for (let bit = len; bit < n * 8; bit++) {
        start[bit >> 3] = (start[bit >> 3] as number) & ~(0x80 >> (bit & 7));
        end[bit >> 3] = (end[bit >> 3] as number) | (0x80 >> (bit & 7));
      }
      assert.deepEqual(rangeToPrefixes(start, end), [{ addr: start, len }]);
    }),
    { numRuns: 500, seed: 0x5071 },
  );
});

test('port ranges as port/mask; ICMP type/code as the kernel matches them', () => {
  assert.deepEqual(portRangeToMasks(0, 65535), [{ port: 0, mask: 0 }]);
  assert.deepEqual(portRangeToMasks(443, 443), [{ port: 443, mask: 0xffff }]);
  assert.deepEqual(portRangeToMasks(1000, 1003), [{ port: 1000, mask: 0xfffc }]);
  assert.deepEqual(portRangeToMasks(1024, 65535).map((x) => [x.port, x.mask]), [
    [1024, 0xfc00],
    [2048, 0xf800],
    [4096, 0xf000],
    [8192, 0xe000],
    [16384, 0xc000],
    [32768, 0x8000],
  ]);
  // any ICMP; one type, any code; one type and code; types 0..127
  assert.deepEqual(icmpParts(0, 65535), [{ sport: 0, sportMask: 0, dport: 0, dportMask: 0 }]);
  assert.deepEqual(icmpParts(8 << 8, (8 << 8) | 0xff), [{ sport: 8, sportMask: 0xffff, dport: 0, dportMask: 0 }]);
  assert.deepEqual(icmpParts(0x0301, 0x0301), [{ sport: 3, sportMask: 0xffff, dport: 1, dportMask: 0xffff }]);
  assert.deepEqual(icmpParts(0, 0x7fff), [{ sport: 0, sportMask: 0xff80, dport: 0, dportMask: 0 }]);
});

test('policySelectors: directions, protocols, ports, families', () => {
  const out = policySelectors([ts('10.1.0.0/16')], [ts('10.2.0.0/24[tcp/443]')], 'out');
  assert.deepEqual(out, [{ family: 2, saddr: '10.1.0.0', daddr: '10.2.0.0', prefixlenS: 16, prefixlenD: 24, proto: 6, sport: 0, sportMask: 0, dport: 443, dportMask: 0xffff, ifindex: 0, user: 0 }]);
  const inn = policySelectors([ts('10.1.0.0/16')], [ts('10.2.0.0/24[tcp/443]')], 'in');
  assert.deepEqual(inn, [{ family: 2, saddr: '10.2.0.0', daddr: '10.1.0.0', prefixlenS: 24, prefixlenD: 16, proto: 6, sport: 443, sportMask: 0xffff, dport: 0, dportMask: 0, ifindex: 0, user: 0 }]);
  assert.deepEqual(policySelectors([ts('10.1.0.0/16')], [ts('10.2.0.0/24')], 'fwd'), policySelectors([ts('10.1.0.0/16')], [ts('10.2.0.0/24')], 'in'));
  // pairs that cannot match are left out: families, protocols
  assert.deepEqual(policySelectors([ts('10.1.0.0/16'), ts('2001:db8:1::/48')], [ts('2001:db8:2::/48')], 'out').map((s) => [s.family, s.saddr, s.prefixlenS]), [[10, '2001:db8:1::', 48]]);
  assert.deepEqual(policySelectors([ts('10.1.0.0/16[tcp]')], [ts('10.2.0.0/16[udp]')], 'out'), []);
  assert.equal(policySelectors([ts('10.1.0.0/16[udp]')], [ts('10.2.0.0/16')], 'out')[0]?.proto, 17);
  // a range that is not a prefix: several selectors, none wider than the range
  const r = policySelectors([ts('10.50.0.0-10.50.0.5')], [ts('10.60.0.0/16')], 'out');
  assert.deepEqual(r.map((s) => `${s.saddr}/${s.prefixlenS}`), ['10.50.0.0/30', '10.50.0.4/31']);
  // ICMP: type in sport, code in dport, the same for both directions
  for (const dir of ['out', 'in'] as const) {
    const icmp = policySelectors([ts('10.1.0.0/16')], [ts('10.2.0.0/16[icmp/2048]')], dir);
    assert.deepEqual(icmp.map((s) => [s.proto, s.sport, s.sportMask, s.dport, s.dportMask]), [[1, 8, 0xffff, 0, 0xffff]]);
  }
  assert.throws(() => policySelectors([ts('0.0.0.1-255.255.255.254')], [ts('10.0.0.0/8[tcp/1-65534]')], 'out'), XfrmError);
});

test('policyPriority: strongSwan’s formula (more specific first, a Child SA’s policy before a trap)', () => {
  const sel = (over: Partial<XfrmSelector>): XfrmSelector => ({ family: 2, saddr: '0.0.0.0', daddr: '0.0.0.0', prefixlenS: 0, prefixlenD: 0, proto: 0, sport: 0, sportMask: 0, dport: 0, dportMask: 0, ifindex: 0, user: 0, ...over });
  // values computed by strongSwan 6.0's get_priority (kernel_netlink_ipsec.c) for the same selectors
  assert.equal(policyPriority(sel({}), false), 399_999);
  assert.equal(policyPriority(sel({}), true), 400_000);
  assert.equal(policyPriority(sel({ prefixlenS: 24, prefixlenD: 24, proto: 6, dport: 443, dportMask: 0xffff }), false), 400_000 - 48 * 512 - 256 - 16 * 4 - 1);
  assert.equal(policyPriority(sel({ prefixlenS: 32, prefixlenD: 32 }), false), 367_231);
  assert.equal(policyPriority(sel({ prefixlenS: 128, prefixlenD: 128, proto: 17, sportMask: 0xffff, dportMask: 0xffff }), false), 400_000 - 256 * 512 - 256 - 128 - 1);
  assert.ok(policyPriority(sel({ prefixlenD: 24 }), false) < policyPriority(sel({ prefixlenD: 16 }), false));
  assert.equal(policyPriority(sel({ sportMask: 0xfffc }), true), 400_000 - 14 * 4);
});

const POLICY: PolicySpec = {
  connection: 'c',
  child: 'ch',
  reqid: 0x50710010,
  mode: 'tunnel',
  local: '192.0.2.1',
  remote: '198.51.100.2',
  localTs: [ts('10.1.0.0/16')],
  remoteTs: [ts('10.2.0.0/16'), ts('10.3.0.0/16[udp/53]')],
};

test('policyPlan: out, in and fwd per selector pair; templates with the outer addresses', () => {
  const plan = XfrmClient.policyPlan(POLICY);
  assert.deepEqual(plan.map((p) => [p.dir, `${p.sel.saddr}/${p.sel.prefixlenS}`, `${p.sel.daddr}/${p.sel.prefixlenD}`]), [
    ['out', '10.1.0.0/16', '10.2.0.0/16'],
    ['out', '10.1.0.0/16', '10.3.0.0/16'],
    ['in', '10.2.0.0/16', '10.1.0.0/16'],
    ['in', '10.3.0.0/16', '10.1.0.0/16'],
    ['fwd', '10.2.0.0/16', '10.1.0.0/16'],
    ['fwd', '10.3.0.0/16', '10.1.0.0/16'],
  ]);
  for (const p of plan) {
    assert.equal(p.tmpl.reqid, POLICY.reqid);
    assert.equal(p.tmpl.proto, 50);
    assert.equal(p.tmpl.mode, 1);
    assert.deepEqual([p.tmpl.saddr, p.tmpl.daddr], p.dir === 'out' ? ['192.0.2.1', '198.51.100.2'] : ['198.51.100.2', '192.0.2.1']);
  }
  const transport = XfrmClient.policyPlan({ ...POLICY, mode: 'transport', localTs: [ts('192.0.2.1')], remoteTs: [ts('198.51.100.2')] });
  assert.deepEqual(transport.map((p) => p.dir), ['out', 'in']);
  assert.deepEqual([transport[0]?.tmpl.saddr, transport[0]?.tmpl.daddr, transport[0]?.tmpl.mode], ['', '', 0]);
  assert.throws(() => XfrmClient.policyPlan({ ...POLICY, remote: '2001:db8::1' }), XfrmError);
  assert.throws(() => XfrmClient.policyPlan({ ...POLICY, remoteTs: [ts('2001:db8::/32')] }), XfrmError);
});

test('selectorSide: the ACQUIRE packet as traffic selectors', () => {
  const acq: XfrmSelector = { family: 2, saddr: '10.99.1.1', daddr: '10.99.2.1', prefixlenS: 32, prefixlenD: 32, proto: 1, sport: 8, sportMask: 0xffff, dport: 0, dportMask: 0xffff, ifindex: 2, user: 0 };
  assert.deepEqual(selectorSide(acq, 'src'), { tsType: 7, ipProtocol: 1, startPort: 0x0800, endPort: 0x0800, startAddr: Uint8Array.of(10, 99, 1, 1), endAddr: Uint8Array.of(10, 99, 1, 1) });
  const tcp: XfrmSelector = { ...acq, proto: 6, saddr: '10.1.0.0', prefixlenS: 16, sport: 40000, sportMask: 0xffff, dport: 443, dportMask: 0xffff };
  assert.deepEqual(selectorSide(tcp, 'src'), { tsType: 7, ipProtocol: 6, startPort: 40000, endPort: 40000, startAddr: Uint8Array.of(10, 1, 0, 0), endAddr: Uint8Array.of(10, 1, 255, 255) });
  assert.equal(selectorSide({ ...tcp, dportMask: 0 }, 'dst')?.endPort, 65535);
  assert.equal(selectorSide({ ...tcp, family: 0 }, 'dst'), undefined);
});

const key = (n: number): Uint8Array => new Uint8Array(n).fill(0x42);

test('espAlgorithms: kernel names, ICV and truncation lengths, key checks', () => {
  assert.deepEqual(espAlgorithms({ encr: { id: EncrId.AES_GCM_16, keyBits: 256, key: key(36) } }), { aead: { name: 'rfc4106(gcm(aes))', key: key(36), icvBits: 128 } });
  assert.equal(espAlgorithms({ encr: { id: EncrId.AES_GCM_12, keyBits: 128, key: key(20) } }).aead?.icvBits, 96);
  assert.equal(espAlgorithms({ encr: { id: EncrId.AES_GCM_8, keyBits: 192, key: key(28) } }).aead?.icvBits, 64);
  assert.deepEqual(espAlgorithms({ encr: { id: EncrId.CHACHA20_POLY1305, key: key(36) } }).aead?.name, 'rfc7539esp(chacha20,poly1305)');
  const cbc = espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 128, key: key(16) }, integ: { id: IntegId.HMAC_SHA2_256_128, key: key(32) } });
  assert.deepEqual(cbc, { crypt: { name: 'cbc(aes)', key: key(16) }, auth: { name: 'hmac(sha256)', key: key(32), truncBits: 128 } });
  assert.equal(espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 256, key: key(32) }, integ: { id: IntegId.HMAC_SHA2_384_192, key: key(48) } }).auth?.truncBits, 192);
  assert.equal(espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 256, key: key(32) }, integ: { id: IntegId.HMAC_SHA2_512_256, key: key(64) } }).auth?.name, 'hmac(sha512)');
  const bad = (f: () => unknown, code: string): void => assert.throws(f, (e: unknown) => e instanceof XfrmError && e.code === code);
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_GCM_16, keyBits: 256, key: key(32) } }), 'BAD_KEY'); // salt missing
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_GCM_16, keyBits: 128, key: key(36) } }), 'BAD_KEY'); // length attribute disagrees
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 128, key: key(16) } }), 'BAD_SPEC'); // no integrity
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_GCM_16, keyBits: 128, key: key(20) }, integ: { id: IntegId.HMAC_SHA2_256_128, key: key(32) } }), 'BAD_SPEC');
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 128, key: key(16) }, integ: { id: IntegId.HMAC_SHA2_256_128, key: key(31) } }), 'BAD_KEY');
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_CCM_16, keyBits: 128, key: key(19) } }), 'UNSUPPORTED');
  bad(() => espAlgorithms({ encr: { id: EncrId.AES_CBC, keyBits: 128, key: key(16) }, integ: { id: IntegId.AES_128_GMAC, key: key(20) } }), 'UNSUPPORTED');
});

function spec(over: Partial<EspSaSpec> = {}): EspSaSpec {
  return {
    connection: 'c',
    child: 'ch',
    reqid: 0x50710010,
    direction: 'in',
    spi: 0xc1234567,
    src: { address: '198.51.100.2', port: 4500 },
    dst: { address: '192.0.2.1', port: 4501 },
    encap: false,
    mode: 'tunnel',
    encr: { id: EncrId.AES_GCM_16, keyBits: 128, key: key(20) },
    esn: false,
    replayWindow: 128,
    localTs: [],
    remoteTs: [],
    limits: {},
    ...over,
  };
}

test('saParams: replay window per direction, ESN outbound, encapsulation ports, limits', () => {
  assert.equal(XfrmClient.saParams(spec()).replayWindow, 128);
  assert.equal(XfrmClient.saParams(spec({ direction: 'out', replayWindow: 0 })).replayWindow, 0);
  assert.equal(XfrmClient.saParams(spec({ direction: 'out', replayWindow: 0, esn: true })).replayWindow, 1);
  assert.equal(XfrmClient.saParams(spec()).encap, undefined);
  assert.deepEqual(XfrmClient.saParams(spec({ encap: true })).encap, { sport: 4500, dport: 4501 });
  assert.deepEqual(XfrmClient.saParams(spec({ limits: { softBytes: 1e9, hardPackets: 2e9 } })).limits, { softBytes: 1e9, hardPackets: 2e9 });
  assert.deepEqual([XfrmClient.saParams(spec()).src, XfrmClient.saParams(spec()).dst], ['198.51.100.2', '192.0.2.1']);
  assert.throws(() => XfrmClient.saParams(spec({ dst: { address: '2001:db8::1', port: 500 } })), XfrmError);
});

test('our reqids: 0x50700000..0x507fffff, which contains the engine’s range', () => {
  assert.ok(isOurReqid(0x50700000) && isOurReqid(0x507fffff) && isOurReqid(0x50700001) && isOurReqid(0x5071ffff));
  assert.ok(!isOurReqid(1) && !isOurReqid(0x506fffff) && !isOurReqid(0x50800000) && !isOurReqid(16384));
  assert.deepEqual(OUR_REQIDS, { min: 0x50700000, max: 0x507fffff });
  assert.deepEqual([REQID_FIRST, REQID_LAST], [0x50700001, 0x507fffff]);
});
