/**
 * The XFRM and netlink codecs (src/dataplane/xfrm/messages.ts, src/dataplane/sys/netlink-codec.ts):
 *
 * - struct sizes and offsets against linux/xfrm.h as gcc lays them out on x86-64 (the table
 *   below is gcc's output for Debian 12's linux-libc-dev 6.1; when gcc and the header are
 *   there, they are compiled again and compared live);
 * - byte layouts of the requests (host-order and network-order fields where the header puts them);
 * - the replay/ESN rules of encodeSaRequest;
 * - decoding what kernels sent: replies captured from Linux 6.18 (this machine, XFRM without ESP)
 *   and from the Debian 6.1 guest of test/qemu/xfrm-kernel.test.ts;
 * - decoders throw only ParseError on any truncation or garbage (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ParseError, EncodeError } from '../../src/wire/errors.js';
import * as C from '../../src/dataplane/xfrm/constants.js';
import {
  ANY_SELECTOR,
  decodeAcquire,
  decodeExpire,
  decodePolicy,
  decodeSa,
  decodeTmpls,
  decodeUsersaId,
  encodeAllocSpi,
  encodePolicyRequest,
  encodeReplayEsn,
  encodeSaRequest,
  encodeUserpolicyId,
  encodeUsersaId,
  encodeUsersaInfo,
  readSelector,
  type SaParams,
  type XfrmSelector,
  type XfrmTmpl,
} from '../../src/dataplane/xfrm/messages.js';
import { decodeAttrs, decodeError, decodeMessages, encodeAttr, encodeMessage, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_ERROR } from '../../src/dataplane/sys/netlink-codec.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const cat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/* ------------------------------------------------------------------------ */
/* Layouts                                                                  */
/* ------------------------------------------------------------------------ */

/** gcc -m64 on linux/xfrm.h (6.1): `sizeof S` and `S.field offset`. */
const GCC = `
sizeof xfrm_id 24
xfrm_id.daddr 0
xfrm_id.spi 16
xfrm_id.proto 20
sizeof xfrm_selector 56
xfrm_selector.daddr 0
xfrm_selector.saddr 16
xfrm_selector.dport 32
xfrm_selector.dport_mask 34
xfrm_selector.sport 36
xfrm_selector.sport_mask 38
xfrm_selector.family 40
xfrm_selector.prefixlen_d 42
xfrm_selector.prefixlen_s 43
xfrm_selector.proto 44
xfrm_selector.ifindex 48
xfrm_selector.user 52
sizeof xfrm_lifetime_cfg 64
sizeof xfrm_lifetime_cur 32
sizeof xfrm_stats 12
sizeof xfrm_replay_state_esn 24
xfrm_replay_state_esn.bmp_len 0
xfrm_replay_state_esn.oseq 4
xfrm_replay_state_esn.seq 8
xfrm_replay_state_esn.oseq_hi 12
xfrm_replay_state_esn.seq_hi 16
xfrm_replay_state_esn.replay_window 20
xfrm_replay_state_esn.bmp 24
sizeof xfrm_algo 68
sizeof xfrm_algo_auth 72
xfrm_algo_auth.alg_trunc_len 68
sizeof xfrm_algo_aead 72
xfrm_algo_aead.alg_icv_len 68
sizeof xfrm_usersa_info 224
xfrm_usersa_info.sel 0
xfrm_usersa_info.id 56
xfrm_usersa_info.saddr 80
xfrm_usersa_info.lft 96
xfrm_usersa_info.curlft 160
xfrm_usersa_info.stats 192
xfrm_usersa_info.seq 204
xfrm_usersa_info.reqid 208
xfrm_usersa_info.family 212
xfrm_usersa_info.mode 214
xfrm_usersa_info.replay_window 215
xfrm_usersa_info.flags 216
sizeof xfrm_usersa_id 24
xfrm_usersa_id.daddr 0
xfrm_usersa_id.spi 16
xfrm_usersa_id.family 20
xfrm_usersa_id.proto 22
sizeof xfrm_userspi_info 232
xfrm_userspi_info.min 224
xfrm_userspi_info.max 228
sizeof xfrm_userpolicy_info 168
xfrm_userpolicy_info.sel 0
xfrm_userpolicy_info.lft 56
xfrm_userpolicy_info.curlft 120
xfrm_userpolicy_info.priority 152
xfrm_userpolicy_info.index 156
xfrm_userpolicy_info.dir 160
xfrm_userpolicy_info.action 161
xfrm_userpolicy_info.flags 162
xfrm_userpolicy_info.share 163
sizeof xfrm_userpolicy_id 64
xfrm_userpolicy_id.sel 0
xfrm_userpolicy_id.index 56
xfrm_userpolicy_id.dir 60
sizeof xfrm_user_tmpl 64
xfrm_user_tmpl.id 0
xfrm_user_tmpl.family 24
xfrm_user_tmpl.saddr 28
xfrm_user_tmpl.reqid 44
xfrm_user_tmpl.mode 48
xfrm_user_tmpl.share 49
xfrm_user_tmpl.optional 50
xfrm_user_tmpl.aalgos 52
xfrm_user_tmpl.ealgos 56
xfrm_user_tmpl.calgos 60
sizeof xfrm_encap_tmpl 24
xfrm_encap_tmpl.encap_type 0
xfrm_encap_tmpl.encap_sport 2
xfrm_encap_tmpl.encap_dport 4
xfrm_encap_tmpl.encap_oa 8
sizeof xfrm_user_acquire 280
xfrm_user_acquire.id 0
xfrm_user_acquire.saddr 24
xfrm_user_acquire.sel 40
xfrm_user_acquire.policy 96
xfrm_user_acquire.aalgos 264
xfrm_user_acquire.ealgos 268
xfrm_user_acquire.calgos 272
xfrm_user_acquire.seq 276
sizeof xfrm_user_expire 232
xfrm_user_expire.state 0
xfrm_user_expire.hard 224
sizeof xfrm_user_polexpire 176
xfrm_user_polexpire.pol 0
xfrm_user_polexpire.hard 168
sizeof xfrm_mark 8
xfrm_mark.v 0
xfrm_mark.m 4
`;

/** Our layout tables, by C struct name. */
const OURS: Record<string, Record<string, number>> = {
  xfrm_id: C.XFRM_ID,
  xfrm_selector: C.XFRM_SELECTOR,
  xfrm_lifetime_cfg: C.XFRM_LIFETIME_CFG,
  xfrm_lifetime_cur: C.XFRM_LIFETIME_CUR,
  xfrm_stats: C.XFRM_STATS,
  xfrm_replay_state_esn: C.XFRM_REPLAY_STATE_ESN,
  xfrm_algo: C.XFRM_ALGO,
  xfrm_algo_auth: C.XFRM_ALGO_AUTH,
  xfrm_algo_aead: C.XFRM_ALGO_AEAD,
  xfrm_usersa_info: C.XFRM_USERSA_INFO,
  xfrm_usersa_id: C.XFRM_USERSA_ID,
  xfrm_userspi_info: C.XFRM_USERSPI_INFO,
  xfrm_userpolicy_info: C.XFRM_USERPOLICY_INFO,
  xfrm_userpolicy_id: C.XFRM_USERPOLICY_ID,
  xfrm_user_tmpl: C.XFRM_USER_TMPL,
  xfrm_encap_tmpl: C.XFRM_ENCAP_TMPL,
  xfrm_user_acquire: C.XFRM_USER_ACQUIRE,
  xfrm_user_expire: C.XFRM_USER_EXPIRE,
  xfrm_user_polexpire: C.XFRM_USER_POLEXPIRE,
  xfrm_mark: C.XFRM_MARK,
};

function parseLayout(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const sz = /^sizeof (\w+) (\d+)$/.exec(line.trim());
    if (sz) m.set(`${sz[1]}.SIZE`, Number(sz[2]));
    const off = /^(\w+)\.(\w+) (\d+)$/.exec(line.trim());
    if (off) m.set(`${off[1]}.${off[2]}`, Number(off[3]));
  }
  return m;
}

function checkLayout(layout: Map<string, number>): void {
  let n = 0;
  for (const [k, v] of layout) {
    const [struct, field] = k.split('.') as [string, string];
    const ours = OURS[struct];
    assert.ok(ours, `no table for ${struct}`);
    assert.equal(ours[field], v, `${k}: ours ${String(ours[field])}, gcc ${v}`);
    n++;
  }
  assert.ok(n > 100);
}

test('xfrm struct layouts equal gcc’s x86-64 layout of linux/xfrm.h', () => {
  checkLayout(parseLayout(GCC));
  assert.equal(C.XFRM_ADDR_LEN, 16);
});

test('xfrm struct layouts, compiled again from this machine’s linux/xfrm.h', (t) => {
  const gcc = spawnSync('gcc', ['--version']);
  if (gcc.status !== 0 || !existsSync('/usr/include/linux/xfrm.h') || process.arch !== 'x64') {
    t.skip('gcc or linux/xfrm.h missing (the table above is checked anyway)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pqike-xfrm-layout-'));
  try {
    const fields = [...parseLayout(GCC).keys()];
    const lines = fields.map((k) => {
      const [s, f] = k.split('.') as [string, string];
      return f === 'SIZE' ? `printf("sizeof ${s} %zu\\n", sizeof(struct ${s}));` : `printf("${s}.${f} %zu\\n", offsetof(struct ${s}, ${f}));`;
    });
    writeFileSync(join(dir, 'l.c'), `#include <stdio.h>\n#include <stddef.h>\n#include <linux/xfrm.h>\nint main(void){\n${lines.join('\n')}\nreturn 0;}\n`);
    const cc = spawnSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const run = spawnSync(join(dir, 'l'), { encoding: 'utf8' });
    assert.equal(run.status, 0);
    checkLayout(parseLayout(run.stdout));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

const GCM_KEY = Uint8Array.from({ length: 36 }, (_, i) => i + 1);

function gcmSa(over: Partial<SaParams> = {}): SaParams {
  return { src: '192.0.2.1', dst: '198.51.100.2', spi: 0xc0ffee01, reqid: 0x50710042, mode: 'tunnel', aead: { name: 'rfc4106(gcm(aes))', key: GCM_KEY, icvBits: 128 }, replayWindow: 32, esn: false, ...over };
}

test('xfrm_usersa_info: fields at their offsets, SPI in network order, the rest in host (little-endian) order', () => {
  const parts = encodeSaRequest(gcmSa({ limits: { softBytes: 1000, hardPackets: 0x1_0000_0001n } }));
  const info = parts[0] as Uint8Array;
  assert.equal(info.length, 224);
  const U = C.XFRM_USERSA_INFO;
  const v = dv(info);
  // id: daddr 198.51.100.2 in the first 4 octets of the 16, SPI big-endian, proto ESP
  assert.equal(hex(info.subarray(U.id, U.id + 16)), 'c6336402' + '00'.repeat(12));
  assert.equal(hex(info.subarray(U.id + 16, U.id + 20)), 'c0ffee01');
  assert.equal(info[U.id + 20], 50);
  assert.equal(hex(info.subarray(U.saddr, U.saddr + 4)), 'c0000201');
  assert.equal(v.getBigUint64(U.lft + C.XFRM_LIFETIME_CFG.soft_byte_limit, true), 1000n);
  assert.equal(v.getBigUint64(U.lft + C.XFRM_LIFETIME_CFG.hard_byte_limit, true), C.XFRM_INF);
  assert.equal(v.getBigUint64(U.lft + C.XFRM_LIFETIME_CFG.soft_packet_limit, true), C.XFRM_INF);
  assert.equal(v.getBigUint64(U.lft + C.XFRM_LIFETIME_CFG.hard_packet_limit, true), 0x1_0000_0001n);
  assert.equal(v.getBigUint64(U.lft + C.XFRM_LIFETIME_CFG.soft_add_expires_seconds, true), 0n);
  assert.equal(hex(info.subarray(U.reqid, U.reqid + 4)), '42007150'); // 0x50710042, little-endian
  assert.equal(v.getUint16(U.family, true), C.AF_INET);
  assert.equal(info[U.mode], C.XFRM_MODE_TUNNEL);
  assert.equal(info[U.replay_window], 32);
  assert.equal(info[U.flags], C.XfrmStateFlag.AF_UNSPEC);
  // padding after flags and the kernel's fields (curlft, stats, seq) are zero
  assert.ok(info.subarray(U.flags + 1).every((b) => b === 0));
  assert.ok(info.subarray(U.curlft, U.reqid).every((b) => b === 0));
  // the selector: all zero (tunnel mode; the kernel fills in the family)
  assert.ok(info.subarray(0, 56).every((b) => b === 0));

  // XFRMA_ALG_AEAD: nlattr (len 4 + 72 + 36 = 112, type 18), name, key bits 288, ICV 128, key
  const a = parts[1] as Uint8Array;
  assert.equal(a.length, 112);
  assert.equal(dv(a).getUint16(0, true), 112);
  assert.equal(dv(a).getUint16(2, true), C.XfrmAttr.ALG_AEAD);
  assert.equal(Buffer.from(a.subarray(4, 4 + 17)).toString('latin1'), 'rfc4106(gcm(aes))');
  assert.ok(a.subarray(4 + 17, 4 + 64).every((b) => b === 0));
  assert.equal(dv(a).getUint32(4 + 64, true), 288);
  assert.equal(dv(a).getUint32(4 + 68, true), 128);
  assert.equal(hex(a.subarray(4 + 72)), hex(GCM_KEY));
  assert.equal(parts.length, 2);
});

test('encodeSaRequest: replay window, ESN and the bitmap attribute', () => {
  const attrsOf = (p: SaParams): { info: Uint8Array; types: number[]; esn?: Uint8Array } => {
    const parts = encodeSaRequest(p);
    const info = parts[0] as Uint8Array;
    const attrs = decodeAttrs(cat(parts.slice(1)), 0);
    const esn = attrs.find((x) => x.type === C.XfrmAttr.REPLAY_ESN_VAL)?.data;
    return { info, types: attrs.map((x) => x.type), ...(esn ? { esn } : {}) };
  };
  const U = C.XFRM_USERSA_INFO;
  // a window of up to 32 without ESN: in xfrm_usersa_info.replay_window
  const small = attrsOf(gcmSa({ replayWindow: 32 }));
  assert.equal(small.info[U.replay_window], 32);
  assert.equal(small.esn, undefined);
  // a larger window: replay_window 0, XFRMA_REPLAY_ESN_VAL with ceil(w/32) bitmap words, no ESN flag
  const big = attrsOf(gcmSa({ replayWindow: 100 }));
  assert.equal(big.info[U.replay_window], 0);
  assert.equal((big.info[U.flags] ?? 0) & C.XfrmStateFlag.ESN, 0);
  assert.ok(big.esn);
  assert.equal(big.esn.length, 24 + 4 * 4);
  assert.equal(dv(big.esn).getUint32(0, true), 4);
  assert.equal(dv(big.esn).getUint32(20, true), 100);
  // ESN with 4096 (XFRMA_REPLAY_ESN_MAX): 128 words, flag ESN
  const esn = attrsOf(gcmSa({ replayWindow: 4096, esn: true }));
  assert.equal(esn.info[U.replay_window], 0);
  assert.equal((esn.info[U.flags] ?? 0) & C.XfrmStateFlag.ESN, C.XfrmStateFlag.ESN);
  assert.ok(esn.esn);
  assert.equal(dv(esn.esn).getUint32(0, true), 128);
  assert.equal(dv(esn.esn).getUint32(20, true), 4096);
  assert.equal(esn.esn.length, 24 + 512);
  // ESN outbound: window 1 (the kernel refuses 0); ESN with 0 is refused here
  const out = attrsOf(gcmSa({ replayWindow: 1, esn: true }));
  assert.ok(out.esn);
  assert.equal(dv(out.esn).getUint32(0, true), 1);
  assert.throws(() => encodeSaRequest(gcmSa({ replayWindow: 0, esn: true })), EncodeError);
  assert.throws(() => encodeSaRequest(gcmSa({ replayWindow: 4097 })), EncodeError);
  assert.throws(() => encodeReplayEsn(0), EncodeError);
  // transport mode: no AF_UNSPEC flag
  assert.equal(attrsOf(gcmSa({ mode: 'transport' })).info[U.flags], 0);
});

test('encodeSaRequest: CBC + HMAC, UDP encapsulation, IPv6, extra flags', () => {
  const parts = encodeSaRequest({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    spi: 0x1234,
    reqid: 0x50710001,
    mode: 'tunnel',
    crypt: { name: 'cbc(aes)', key: new Uint8Array(32).fill(7) },
    auth: { name: 'hmac(sha384)', key: new Uint8Array(48).fill(9), truncBits: 192 },
    encap: { sport: 4500, dport: 14500 },
    replayWindow: 64,
    esn: false,
    extraFlags: C.XFRM_SA_XFLAG_DONT_ENCAP_DSCP,
  });
  const info = parts[0] as Uint8Array;
  const U = C.XFRM_USERSA_INFO;
  assert.equal(hex(info.subarray(U.id, U.id + 16)), '20010db8000000000000000000000002');
  assert.equal(dv(info).getUint16(U.family, true), C.AF_INET6);
  const attrs = decodeAttrs(cat(parts.slice(1)), 0);
  assert.deepEqual(attrs.map((a) => a.type), [C.XfrmAttr.ALG_CRYPT, C.XfrmAttr.ALG_AUTH_TRUNC, C.XfrmAttr.ENCAP, C.XfrmAttr.REPLAY_ESN_VAL, C.XfrmAttr.SA_EXTRA_FLAGS]);
  const crypt = attrs[0]?.data as Uint8Array;
  assert.equal(crypt.length, 68 + 32);
  assert.equal(dv(crypt).getUint32(64, true), 256);
  const auth = attrs[1]?.data as Uint8Array;
  assert.equal(auth.length, 72 + 48);
  assert.equal(dv(auth).getUint32(64, true), 384);
  assert.equal(dv(auth).getUint32(68, true), 192);
  // encap: type 2 host order, ports network order, OA zero
  assert.equal(hex(attrs[2]?.data as Uint8Array), '0200' + '1194' + '38a4' + '0000' + '00'.repeat(16));
  assert.equal(hex(attrs[4]?.data as Uint8Array), '01000000');
  // decoding the request body as the kernel's reply gives the same SA back
  const sa = decodeSa(cat(parts));
  assert.equal(sa.info.spi, 0x1234);
  assert.equal(sa.info.saddr, '2001:db8::1');
  assert.equal(sa.info.daddr, '2001:db8::2');
  assert.equal(sa.crypt?.name, 'cbc(aes)');
  assert.equal(sa.authTrunc?.truncBits, 192);
  assert.deepEqual(sa.encap, { type: 2, sport: 4500, dport: 14500, oa: '::' });
  assert.equal(sa.replayEsn?.replayWindow, 64);
  assert.equal(sa.extraFlags, 1);
  assert.throws(() => encodeSaRequest(gcmSa({ dst: '2001:db8::2' })), EncodeError);
  assert.throws(() => encodeSaRequest(gcmSa({ crypt: { name: 'cbc(aes)', key: new Uint8Array(16) } })), EncodeError);
  assert.throws(() => encodeSaRequest(gcmSa({ aead: { name: 'x'.repeat(64), key: GCM_KEY, icvBits: 128 } })), EncodeError);
});

test('xfrm_userspi_info, xfrm_usersa_id, xfrm_userpolicy_id', () => {
  const spi = encodeAllocSpi({ src: '10.0.0.2', dst: '10.0.0.1', proto: 50, mode: C.XFRM_MODE_TUNNEL, reqid: 0x50710007, min: 0x100, max: 0xffffffff });
  assert.equal(spi.length, 232);
  assert.equal(dv(spi).getUint32(224, true), 0x100);
  assert.equal(dv(spi).getUint32(228, true), 0xffffffff);
  assert.equal(hex(spi.subarray(56, 60)), '0a000001'); // id.daddr
  assert.equal(hex(spi.subarray(80, 84)), '0a000002'); // saddr
  assert.equal(dv(spi).getUint32(208, true), 0x50710007);
  assert.throws(() => encodeAllocSpi({ src: '10.0.0.2', dst: '10.0.0.1', proto: 50, mode: 1, reqid: 1, min: 5, max: 4 }), EncodeError);

  const id = encodeUsersaId({ daddr: '10.0.0.1', spi: 0xdeadbeef, family: C.AF_INET, proto: 50 });
  assert.equal(hex(id), '0a000001' + '00'.repeat(12) + 'deadbeef' + '0200' + '32' + '00');
  assert.deepEqual(decodeUsersaId(id), { daddr: '10.0.0.1', spi: 0xdeadbeef, family: C.AF_INET, proto: 50 });

  const pid = encodeUserpolicyId({ index: 0x1234, dir: C.XfrmDir.FWD });
  assert.equal(pid.length, 64);
  assert.equal(dv(pid).getUint32(56, true), 0x1234);
  assert.equal(pid[60], 2);
});

const SEL: XfrmSelector = { family: C.AF_INET, saddr: '10.1.0.0', daddr: '10.2.0.0', prefixlenS: 16, prefixlenD: 24, proto: 6, sport: 0, sportMask: 0, dport: 443, dportMask: 0xffff, ifindex: 0, user: 0 };
const TMPL: XfrmTmpl = { daddr: '192.0.2.2', saddr: '192.0.2.1', spi: 0, proto: 50, family: C.AF_INET, reqid: 0x50710009, mode: 1, share: 0, optional: 0, aalgos: 0xffffffff, ealgos: 0xffffffff, calgos: 0xffffffff };

test('xfrm_userpolicy_info + XFRMA_TMPL: layout and round trip', () => {
  const parts = encodePolicyRequest({ sel: SEL, dir: C.XfrmDir.OUT, priority: 375103, tmpls: [TMPL] });
  const info = parts[0] as Uint8Array;
  const S = C.XFRM_SELECTOR;
  assert.equal(hex(info.subarray(S.daddr, S.daddr + 4)), '0a020000');
  assert.equal(hex(info.subarray(S.dport, S.dport + 4)), '01bbffff'); // dport 443, mask, network order
  assert.equal(info[S.prefixlen_d], 24);
  assert.equal(info[S.prefixlen_s], 16);
  assert.equal(info[S.proto], 6);
  const P = C.XFRM_USERPOLICY_INFO;
  assert.equal(dv(info).getUint32(P.priority, true), 375103);
  assert.equal(info[P.dir], 1);
  assert.equal(dv(info).getBigUint64(P.lft, true), C.XFRM_INF);
  const tmpl = decodeAttrs(parts[1] as Uint8Array, 0);
  assert.equal(tmpl[0]?.type, C.XfrmAttr.TMPL);
  const t = tmpl[0]?.data as Uint8Array;
  assert.equal(t.length, 64);
  assert.equal(dv(t).getUint16(24, true), 2); // family after xfrm_id; 2 octets of padding before saddr
  assert.equal(hex(t.subarray(28, 32)), 'c0000201');
  assert.equal(dv(t).getUint32(44, true), 0x50710009);
  const back = decodePolicy(cat(parts));
  assert.deepEqual(back.info.sel, SEL);
  assert.deepEqual(back.tmpls, [TMPL]);
  assert.equal(back.policyType, 0);
  assert.deepEqual(decodeTmpls(cat([new Uint8Array(0)])), []);
  assert.throws(() => decodeTmpls(new Uint8Array(65)), ParseError);
});

/* ------------------------------------------------------------------------ */
/* What kernels sent                                                        */
/* ------------------------------------------------------------------------ */

/** Linux 6.18: the NEWSA reply to ALLOCSPI (10.99.0.2 → 10.99.0.1, reqid 0x50710009, tunnel). */
const K618_ALLOCSPI_REPLY =
  '0a6300010000000000000000000000000a630002000000000000000000000000000000000000000000002020000000000000000000000000' +
  '0a630001000000000000000000000000e6251a25320000000a630002000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff00000000000000001e00000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000081f20e6b0000000000000000000000000000000000000000000000000000000009007150020001000000000000000000' +
  '10000a00000000000000000000000000';

/** Linux 6.18: a GETPOLICY dump entry (out 10.99.1.0/24 → 10.99.2.0/24 tcp 443, tunnel 10.99.0.1 → 10.99.0.2). */
const K618_POLICY =
  '0a6302000000000000000000000000000a63010000000000000000000000000001bbffff0000000002001818060000000000000000000000' +
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff000000000000000000000000000000000000000000000000' +
  '00000000000000000000000000000000000000000000000081f20e6b0000000000000000000000003fb90500490000000100000000000000' +
  '440005000a6300020000000000000000000000000000000032000000020000000a6300010000000000000000000000000500715001000000' +
  'ffffffffffffffffffffffff0a0010000000000000000000';

/** Linux 6.18: the NLMSG_ERROR (capped, with extended ACK) for a CBC/HMAC NEWSA without ESP. */
const K618_NEWSA_ERROR =
  '44000000020000034d000000c948c5dea3ffffffb4010000100005004d000000000000001d0001005265717565737465642074797065206e' +
  '6f7420666f756e6400000000';

/** Linux 6.18: ACQUIRE for a ping 10.99.1.1 → 10.99.2.1 (ICMP echo) on a trap (reqid 0x50710008). */
const K618_ACQUIRE =
  '0a63000200000000000000000000000000000000320000000a6300010000000000000000000000000a630201000000000000000000000000' +
  '0a6301010000000000000000000000000000ffff0008ffff020020200100000002000000000000000a630200000000000000000000000000' +
  '0a630101000000000000000000000000000000000000000002001820000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff00000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000081f20e6b00000000000000000000000080aa0500510000000100000000000000ffffffffffffffffffffffff02000000' +
  '440005000a6300020000000000000000000000000000000032000000020000000a6300010000000000000000000000000800715001000000' +
  'ffffffffffffffffffffffff0a0010000000000000000000';

/* Linux 6.1 (Debian 6.1.0 in the qemu guest of test/qemu/xfrm-kernel.test.ts; test keys only). */

/** The soft EXPIRE of an outbound AES-GCM SA with a 150-byte soft limit, after two 84-byte pings. */
const K61_EXPIRE_SOFT =
  '0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0a630002000000000000000000000000b5a77c0a320000000a6300010000000000000000000000009600000000000000ffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000000000000000000000000a800000000000000' +
  '0200000000000000a7f30e6b00000000a9f30e6b000000000000000000000000000000000000000001007150020001002000000000000000' +
  '0000000000000000';

/** The hard EXPIRE of an ALLOCSPI larval SA (net.core.xfrm_acq_expires = 2). */
const K61_EXPIRE_LARVAL =
  '0a6300010000000000000000000000000a630002000000000000000000000000000000000000000000002020000000000000000000000000' +
  '0a630001000000000000000000000000719b7c24320000000a630002000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff00000000000000000200000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000a7f30e6b0000000000000000000000000000000000000000000000000000000005007150020001000000000000000000' +
  '0100000000000000';

/** GETSA reply: ChaCha20-Poly1305, ESN, a 4096-packet window (512 octets of bitmap), ESP in UDP 4500/4500. */
const K61_GETSA_ESN_ENCAP =
  '0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0a630001000000000000000000000000cc00ba01320000000a630002000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff00000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000aef30e6b000000000000000000000000000000000000000000000000000000000200715002000100a000000000000000' +
  '70001200726663373533396573702863686163686132302c706f6c7931333035290000000000000000000000000000000000000000000000' +
  '0000000000000000000000002001000080000000c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4' +
  '1c0004000200119411940000000000000000000000000000000000001c021700800000000000000000000000000000000000000000100000' +
  '00'.repeat(512);

test('decoding Linux 6.18: the ALLOCSPI reply (a larval SA)', () => {
  const b = unhex(K618_ALLOCSPI_REPLY);
  assert.equal(b.length, 240);
  const sa = decodeSa(b);
  assert.equal(sa.info.daddr, '10.99.0.1');
  assert.equal(sa.info.saddr, '10.99.0.2');
  assert.equal(sa.info.spi, 0xe6251a25);
  assert.equal(sa.info.proto, 50);
  assert.equal(sa.info.reqid, 0x50710009);
  assert.equal(sa.info.mode, C.XFRM_MODE_TUNNEL);
  assert.equal(sa.info.family, C.AF_INET);
  // a larval SA lives net.core.xfrm_acq_expires (30 s)
  assert.equal(sa.info.lft.hardAddExpiresSeconds, 30n);
  assert.equal(sa.info.lft.softByteLimit, C.XFRM_INF);
  // its selector: addresses and /32 prefixes but no family (decoded with the SA's family)
  assert.equal(sa.info.sel.family, 0);
  assert.deepEqual([sa.info.sel.saddr, sa.info.sel.daddr, sa.info.sel.prefixlenS, sa.info.sel.prefixlenD], ['10.99.0.2', '10.99.0.1', 32, 32]);
  assert.equal(sa.aead, undefined);
  assert.deepEqual(sa.other.map((a) => a.type), [C.XfrmAttr.REPLAY_VAL]);
});

test('decoding Linux 6.18: a policy dump entry', () => {
  const p = decodePolicy(unhex(K618_POLICY));
  assert.deepEqual(p.info.sel, { ...SEL, saddr: '10.99.1.0', daddr: '10.99.2.0', prefixlenS: 24 });
  assert.equal(p.info.dir, C.XfrmDir.OUT);
  assert.equal(p.info.priority, 375103);
  assert.equal(p.info.index, 0x49);
  assert.equal(p.info.action, 0);
  assert.equal(p.info.lft.hardByteLimit, C.XFRM_INF);
  assert.equal(p.tmpls.length, 1);
  assert.deepEqual(p.tmpls[0], { ...TMPL, daddr: '10.99.0.2', saddr: '10.99.0.1', reqid: 0x50710005 });
  assert.equal(p.policyType, C.XFRM_POLICY_TYPE_MAIN);
});

test('decoding Linux 6.18: NLMSG_ERROR with the kernel’s text', () => {
  const msgs = decodeMessages(unhex(K618_NEWSA_ERROR));
  assert.equal(msgs.length, 1);
  const m = msgs[0];
  assert.ok(m);
  assert.equal(m.type, NLMSG_ERROR);
  assert.equal(m.flags, NLM_F_CAPPED | NLM_F_ACK_TLVS);
  const e = decodeError(m.payload, m.flags);
  assert.equal(e.errno, 93); // EPROTONOSUPPORT
  assert.equal(e.message, 'Requested type not found');
  assert.deepEqual(e.request, { type: C.XfrmMsg.NEWSA, flags: 5, seq: 77, pid: 0 });
});

test('decoding Linux 6.18: ACQUIRE', () => {
  const a = decodeAcquire(unhex(K618_ACQUIRE));
  assert.equal(a.daddr, '10.99.0.2');
  assert.equal(a.saddr, '10.99.0.1');
  assert.equal(a.proto, 50);
  // the packet: ICMP echo request (type 8 in sport, code 0 in dport), on interface 2
  assert.deepEqual(
    [a.sel.saddr, a.sel.daddr, a.sel.prefixlenS, a.sel.prefixlenD, a.sel.proto, a.sel.sport, a.sel.sportMask, a.sel.dport, a.sel.dportMask, a.sel.ifindex],
    ['10.99.1.1', '10.99.2.1', 32, 32, 1, 8, 0xffff, 0, 0xffff, 2],
  );
  assert.equal(a.policy.dir, C.XfrmDir.OUT);
  assert.equal(a.policy.sel.daddr, '10.99.2.0');
  assert.equal(a.tmpls[0]?.reqid, 0x50710008);
  assert.equal(a.seq, 2);
});

test('decoding Linux 6.1: soft EXPIRE', () => {
  const x = decodeExpire(unhex(K61_EXPIRE_SOFT));
  assert.equal(x.hard, false);
  assert.equal(x.state.spi, 0xb5a77c0a);
  assert.equal(x.state.daddr, '10.99.0.2');
  assert.equal(x.state.saddr, '10.99.0.1');
  assert.equal(x.state.reqid, 0x50710001);
  assert.equal(x.state.lft.softByteLimit, 150n);
  assert.equal(x.state.curlft.bytes, 168n);
  assert.equal(x.state.curlft.packets, 2n);
  assert.equal(x.state.flags, C.XfrmStateFlag.AF_UNSPEC);
});

test('decoding Linux 6.1: hard EXPIRE of a larval SA', () => {
  const x = decodeExpire(unhex(K61_EXPIRE_LARVAL));
  assert.equal(x.hard, true);
  assert.equal(x.state.spi, 0x719b7c24);
  assert.equal(x.state.reqid, 0x50710005);
  assert.equal(x.state.lft.hardAddExpiresSeconds, 2n);
});

test('decoding Linux 6.1: GETSA of a ChaCha20-Poly1305 ESN SA in UDP', () => {
  const b = unhex(K61_GETSA_ESN_ENCAP);
  assert.equal(b.length, 224 + 112 + 28 + 540);
  const sa = decodeSa(b);
  assert.equal(sa.info.spi, 0xcc00ba01);
  assert.equal(sa.info.flags, C.XfrmStateFlag.AF_UNSPEC | C.XfrmStateFlag.ESN);
  assert.equal(sa.info.replayWindow, 0);
  assert.equal(sa.aead?.name, 'rfc7539esp(chacha20,poly1305)');
  assert.equal(sa.aead?.keyBits, 288);
  assert.equal(sa.aead?.icvBits, 128);
  assert.equal(hex(sa.aead?.key ?? new Uint8Array()), hex(Uint8Array.from({ length: 36 }, (_, i) => 0xc1 + i)));
  assert.deepEqual(sa.encap, { type: C.UDP_ENCAP_ESPINUDP, sport: 4500, dport: 4500, oa: '0.0.0.0' });
  assert.deepEqual(sa.replayEsn, { bmpLen: 128, oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: 4096 });
  assert.deepEqual(sa.other, []);
});

/* ------------------------------------------------------------------------ */
/* Netlink framing                                                          */
/* ------------------------------------------------------------------------ */

test('nlmsghdr and attributes: encode, decode, alignment', () => {
  const body = Uint8Array.of(1, 2, 3);
  const attr = encodeAttr(7, Uint8Array.of(9, 9, 9, 9, 9));
  assert.equal(hex(attr), '0900' + '0700' + '0909090909' + '000000');
  const msg = encodeMessage({ type: 0x10, flags: 5, seq: 0x01020304, pid: 0 }, [body, attr]);
  assert.equal(msg.length, 16 + 4 + 12);
  assert.equal(hex(msg.subarray(0, 16)), '20000000' + '1000' + '0500' + '04030201' + '00000000');
  const two = cat([msg, msg]);
  const back = decodeMessages(two);
  assert.equal(back.length, 2);
  assert.equal(back[1]?.seq, 0x01020304);
  assert.equal(hex(back[0]?.payload ?? new Uint8Array()), '010203' + '00' + hex(attr));
  assert.deepEqual(decodeAttrs(back[0]?.payload ?? new Uint8Array(), 4).map((a) => [a.type, hex(a.data)]), [[7, '0909090909']]);
  // bad lengths
  const bad = Uint8Array.from(msg);
  dv(bad).setUint32(0, 8, true);
  assert.throws(() => decodeMessages(bad), ParseError);
  dv(bad).setUint32(0, 1000, true);
  assert.throws(() => decodeMessages(bad), ParseError);
  assert.throws(() => decodeAttrs(Uint8Array.of(3, 0, 1, 0), 0), ParseError);
  assert.throws(() => decodeAttrs(Uint8Array.of(9, 0, 1, 0, 0), 0), ParseError);
});

test('NLMSG_ERROR: an ACK, an uncapped error, an error without TLVs', () => {
  const req = encodeMessage({ type: 0x13, flags: 5, seq: 9, pid: 0 }, [new Uint8Array(8)]);
  // uncapped: error, then the whole request, then TLVs
  const text = new TextEncoder().encode('Policy exists\0');
  const payload = cat([Uint8Array.of(0xef, 0xff, 0xff, 0xff), req, encodeAttr(1, text), encodeAttr(2, Uint8Array.of(20, 0, 0, 0))]);
  const e = decodeError(payload, NLM_F_ACK_TLVS);
  assert.equal(e.errno, 17);
  assert.equal(e.message, 'Policy exists');
  assert.equal(e.offset, 20);
  assert.equal(e.request.type, 0x13);
  const ack = decodeError(cat([new Uint8Array(4), req.subarray(0, 16)]), NLM_F_CAPPED);
  assert.equal(ack.errno, 0);
  assert.equal(ack.message, undefined);
  assert.throws(() => decodeError(new Uint8Array(10), 0), ParseError);
});

/* ------------------------------------------------------------------------ */
/* Hostile input                                                            */
/* ------------------------------------------------------------------------ */

const DECODERS: readonly [string, (b: Uint8Array) => unknown][] = [
  ['decodeSa', decodeSa],
  ['decodePolicy', decodePolicy],
  ['decodeAcquire', decodeAcquire],
  ['decodeExpire', decodeExpire],
  ['decodeMessages', (b) => decodeMessages(b)],
  ['decodeError', (b) => decodeError(b, NLM_F_ACK_TLVS)],
  ['readSelector', (b) => readSelector(b, 0)],
];

function onlyParseErrors(name: string, f: (b: Uint8Array) => unknown, b: Uint8Array): void {
  try {
    f(b);
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`${name} threw ${String(e)} for ${hex(b)}`);
  }
}

test('decoders: every truncation of the kernel’s messages is a ParseError', () => {
  const fixtures = [K618_ALLOCSPI_REPLY, K618_POLICY, K618_ACQUIRE, K618_NEWSA_ERROR, K61_EXPIRE_SOFT, K61_EXPIRE_LARVAL, K61_GETSA_ESN_ENCAP].map(unhex);
  for (const f of fixtures) {
    for (let n = 0; n < f.length; n++) for (const [name, d] of DECODERS) onlyParseErrors(name, d, f.subarray(0, n));
  }
});

test('decoders: random bytes and mutated kernel messages give a result or a ParseError, nothing else', () => {
  const fixtures = [K618_ALLOCSPI_REPLY, K618_POLICY, K618_ACQUIRE, K618_NEWSA_ERROR, K61_EXPIRE_SOFT, K61_EXPIRE_LARVAL, K61_GETSA_ESN_ENCAP].map(unhex);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.tuple(fc.constantFrom(...fixtures), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })).map(([f, muts]) => {
          const b = Uint8Array.from(f);
          for (const [i, v] of muts) b[i % b.length] = v;
          return b;
        }),
      ),
      (b) => {
        for (const [name, d] of DECODERS) onlyParseErrors(name, d, b);
      },
    ),
    { numRuns: 2000, seed: 0x5071 },
  );
});

test('the selector of no family encodes as zeros', () => {
  const info = encodeUsersaInfo({ daddr: '10.0.0.1', saddr: '10.0.0.2', spi: 1, proto: 50, reqid: 1, family: C.AF_INET, mode: 1, sel: ANY_SELECTOR });
  assert.ok(info.subarray(0, 56).every((b) => b === 0));
});
