/**
 * XFRM netlink messages (include/uapi/linux/xfrm.h): the structs of the SAD and SPD requests the
 * client sends (ALLOCSPI, NEWSA/UPDSA, DELSA/GETSA, NEWPOLICY/UPDPOLICY/DELPOLICY/GETPOLICY) and
 * of what the kernel sends back or multicasts (usersa_info in GETSA replies and dumps,
 * userpolicy_info in policy dumps, ACQUIRE, EXPIRE, POLEXPIRE), with their attributes.
 *
 * Layouts come from constants.ts (x86-64/aarch64 ABI). Host-order fields are little-endian;
 * SPIs and ports are network order (__be32/__be16). Addresses are text ('192.0.2.1', '2001:db8::1')
 * in the 16-octet xfrm_address_t (an IPv4 address fills its first 4 octets); '' stands for an
 * all-zero address of no family. Decoders throw only ParseError; encoders EncodeError.
 *
 * Decoded states include their keys (the kernel returns them in GETSA and dumps); the client
 * wipes its receive buffers, callers should not keep decoded states longer than needed.
 */
import { addressToBytes, bytesToAddress } from '../../engine/address.js';
import { EncodeError, ParseError } from '../../wire/errors.js';
import { decodeAttrs, encodeAttr, encodeAttrU32, findAttr, StructReader, StructWriter, type NlAttr } from '../sys/netlink-codec.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  ALG_NAME_LEN,
  UDP_ENCAP_ESPINUDP,
  XFRM_ADDR_LEN,
  XFRM_ALGO,
  XFRM_ALGO_AEAD,
  XFRM_ALGO_AUTH,
  XFRM_ENCAP_TMPL,
  XFRM_ID,
  XFRM_INF,
  XFRM_LIFETIME_CFG,
  XFRM_LIFETIME_CUR,
  XFRM_MARK,
  XFRM_MODE_TRANSPORT,
  XFRM_MODE_TUNNEL,
  XFRM_POLICY_ALLOW,
  XFRM_REPLAY_STATE_ESN,
  XFRM_SELECTOR,
  XFRM_SHARE_ANY,
  XFRM_STATS,
  XFRM_USER_ACQUIRE,
  XFRM_USER_EXPIRE,
  XFRM_USER_POLEXPIRE,
  XFRM_USER_TMPL,
  XFRM_USERPOLICY_ID,
  XFRM_USERPOLICY_INFO,
  XFRM_USERSA_ID,
  XFRM_USERSA_INFO,
  XFRM_USERSPI_INFO,
  XFRMA_REPLAY_ESN_MAX,
  XfrmAttr,
  XfrmStateFlag,
} from './constants.js';

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */
/* ------------------------------------------------------------------------ */

/** AF_INET / AF_INET6 of an address text. */
export function familyOf(addr: string): number {
  const b = addressToBytes(addr);
  return b.length === 4 ? AF_INET : AF_INET6;
}

/** An xfrm_address_t: the address in its first 4 or 16 octets; '' → all zero. */
export function encodeXfrmAddress(addr: string, family: number, what: string): Uint8Array {
  const out = new Uint8Array(XFRM_ADDR_LEN);
  if (addr === '') return out;
  let b: Uint8Array;
  try {
    b = addressToBytes(addr);
  } catch {
    throw new EncodeError(`${what}: '${addr}' is not an IP address`);
  }
  const fam = b.length === 4 ? AF_INET : AF_INET6;
  if (family !== AF_UNSPEC && fam !== family) throw new EncodeError(`${what}: ${addr} is not of address family ${family}`);
  out.set(b);
  return out;
}

/** Text of an xfrm_address_t of `family`; '' when the family is unknown and the address is zero. */
export function decodeXfrmAddress(b: Uint8Array, family: number): string {
  if (family === AF_INET) return `${b[0] as number}.${b[1] as number}.${b[2] as number}.${b[3] as number}`;
  if (family === AF_INET6) return bytesToAddress(b.subarray(0, 16));
  return b.every((x) => x === 0) ? '' : bytesToAddress(b.subarray(0, 16));
}

/* ------------------------------------------------------------------------ */
/* Selector, lifetimes                                                       */
/* ------------------------------------------------------------------------ */

/** struct xfrm_selector. Ports and masks as numbers (network order on the wire). */
export interface XfrmSelector {
  readonly family: number;
  readonly daddr: string;
  readonly saddr: string;
  readonly prefixlenD: number;
  readonly prefixlenS: number;
  readonly dport: number;
  readonly dportMask: number;
  readonly sport: number;
  readonly sportMask: number;
  /** IP protocol, 0 = any. */
  readonly proto: number;
  readonly ifindex: number;
  readonly user: number;
}

/** The selector of no family that matches everything (what a tunnel-mode SA carries). */
export const ANY_SELECTOR: XfrmSelector = {
  family: AF_UNSPEC,
  daddr: '',
  saddr: '',
  prefixlenD: 0,
  prefixlenS: 0,
  dport: 0,
  dportMask: 0,
  sport: 0,
  sportMask: 0,
  proto: 0,
  ifindex: 0,
  user: 0,
};

export function writeSelector(w: StructWriter, off: number, s: XfrmSelector): void {
  const S = XFRM_SELECTOR;
  const maxPrefix = s.family === AF_INET ? 32 : 128;
  if (s.prefixlenD > maxPrefix || s.prefixlenS > maxPrefix) throw new EncodeError(`selector prefix length over ${maxPrefix}`);
  w.raw(off + S.daddr, encodeXfrmAddress(s.daddr, s.family, 'selector daddr'), XFRM_ADDR_LEN);
  w.raw(off + S.saddr, encodeXfrmAddress(s.saddr, s.family, 'selector saddr'), XFRM_ADDR_LEN);
  w.be16(off + S.dport, s.dport, 'selector dport');
  w.be16(off + S.dport_mask, s.dportMask, 'selector dport_mask');
  w.be16(off + S.sport, s.sport, 'selector sport');
  w.be16(off + S.sport_mask, s.sportMask, 'selector sport_mask');
  w.u16(off + S.family, s.family, 'selector family');
  w.u8(off + S.prefixlen_d, s.prefixlenD, 'selector prefixlen_d');
  w.u8(off + S.prefixlen_s, s.prefixlenS, 'selector prefixlen_s');
  w.u8(off + S.proto, s.proto, 'selector proto');
  w.i32(off + S.ifindex, s.ifindex, 'selector ifindex');
  w.u32(off + S.user, s.user, 'selector user');
}

/**
 * `familyHint`: the family of the enclosing SA or policy, for the addresses of a selector whose
 * own family is AF_UNSPEC (the kernel fills in addresses but not the family of a larval SA).
 */
export function readSelector(buf: Uint8Array, off: number, familyHint = AF_UNSPEC): XfrmSelector {
  const S = XFRM_SELECTOR;
  const r = new StructReader(buf, off, S.SIZE, 'xfrm_selector');
  const family = r.u16(S.family);
  const addrFamily = family === AF_UNSPEC ? familyHint : family;
  return {
    family,
    daddr: decodeXfrmAddress(r.view(S.daddr, XFRM_ADDR_LEN), addrFamily),
    saddr: decodeXfrmAddress(r.view(S.saddr, XFRM_ADDR_LEN), addrFamily),
    prefixlenD: r.u8(S.prefixlen_d),
    prefixlenS: r.u8(S.prefixlen_s),
    dport: r.be16(S.dport),
    dportMask: r.be16(S.dport_mask),
    sport: r.be16(S.sport),
    sportMask: r.be16(S.sport_mask),
    proto: r.u8(S.proto),
    ifindex: r.i32(S.ifindex),
    user: r.u32(S.user),
  };
}

/** struct xfrm_lifetime_cfg (XFRM_INF = no limit). */
export interface XfrmLifetimeCfg {
  readonly softByteLimit: bigint;
  readonly hardByteLimit: bigint;
  readonly softPacketLimit: bigint;
  readonly hardPacketLimit: bigint;
  readonly softAddExpiresSeconds: bigint;
  readonly hardAddExpiresSeconds: bigint;
  readonly softUseExpiresSeconds: bigint;
  readonly hardUseExpiresSeconds: bigint;
}

/** No byte or packet limit, no time limit (the engine keeps the time lifetimes itself). */
export const NO_LIFETIME: XfrmLifetimeCfg = {
  softByteLimit: XFRM_INF,
  hardByteLimit: XFRM_INF,
  softPacketLimit: XFRM_INF,
  hardPacketLimit: XFRM_INF,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
};

function writeLifetimeCfg(w: StructWriter, off: number, l: XfrmLifetimeCfg): void {
  const L = XFRM_LIFETIME_CFG;
  w.u64(off + L.soft_byte_limit, l.softByteLimit, 'soft_byte_limit');
  w.u64(off + L.hard_byte_limit, l.hardByteLimit, 'hard_byte_limit');
  w.u64(off + L.soft_packet_limit, l.softPacketLimit, 'soft_packet_limit');
  w.u64(off + L.hard_packet_limit, l.hardPacketLimit, 'hard_packet_limit');
  w.u64(off + L.soft_add_expires_seconds, l.softAddExpiresSeconds, 'soft_add_expires_seconds');
  w.u64(off + L.hard_add_expires_seconds, l.hardAddExpiresSeconds, 'hard_add_expires_seconds');
  w.u64(off + L.soft_use_expires_seconds, l.softUseExpiresSeconds, 'soft_use_expires_seconds');
  w.u64(off + L.hard_use_expires_seconds, l.hardUseExpiresSeconds, 'hard_use_expires_seconds');
}

function readLifetimeCfg(buf: Uint8Array, off: number): XfrmLifetimeCfg {
  const L = XFRM_LIFETIME_CFG;
  const r = new StructReader(buf, off, L.SIZE, 'xfrm_lifetime_cfg');
  return {
    softByteLimit: r.u64(L.soft_byte_limit),
    hardByteLimit: r.u64(L.hard_byte_limit),
    softPacketLimit: r.u64(L.soft_packet_limit),
    hardPacketLimit: r.u64(L.hard_packet_limit),
    softAddExpiresSeconds: r.u64(L.soft_add_expires_seconds),
    hardAddExpiresSeconds: r.u64(L.hard_add_expires_seconds),
    softUseExpiresSeconds: r.u64(L.soft_use_expires_seconds),
    hardUseExpiresSeconds: r.u64(L.hard_use_expires_seconds),
  };
}

/** struct xfrm_lifetime_cur: what an SA or policy has carried, and when it was added/last used (s). */
export interface XfrmLifetimeCur {
  readonly bytes: bigint;
  readonly packets: bigint;
  readonly addTime: bigint;
  readonly useTime: bigint;
}

function readLifetimeCur(buf: Uint8Array, off: number): XfrmLifetimeCur {
  const C = XFRM_LIFETIME_CUR;
  const r = new StructReader(buf, off, C.SIZE, 'xfrm_lifetime_cur');
  return { bytes: r.u64(C.bytes), packets: r.u64(C.packets), addTime: r.u64(C.add_time), useTime: r.u64(C.use_time) };
}

/* ------------------------------------------------------------------------ */
/* SAs                                                                      */
/* ------------------------------------------------------------------------ */

/** struct xfrm_usersa_info as decoded. */
export interface XfrmUsersaInfo {
  readonly sel: XfrmSelector;
  /** id.daddr, id.spi, id.proto */
  readonly daddr: string;
  readonly spi: number;
  readonly proto: number;
  readonly saddr: string;
  readonly lft: XfrmLifetimeCfg;
  readonly curlft: XfrmLifetimeCur;
  readonly stats: { readonly replayWindow: number; readonly replay: number; readonly integrityFailed: number };
  readonly seq: number;
  readonly reqid: number;
  readonly family: number;
  readonly mode: number;
  readonly replayWindow: number;
  readonly flags: number;
}

/** What a request fills in of xfrm_usersa_info (counters and stats are the kernel's). */
export interface UsersaInfoInit {
  readonly sel?: XfrmSelector;
  readonly daddr: string;
  readonly spi: number;
  readonly proto: number;
  readonly saddr: string;
  readonly lft?: XfrmLifetimeCfg;
  readonly reqid: number;
  readonly family: number;
  readonly mode: number;
  readonly replayWindow?: number;
  readonly flags?: number;
  readonly seq?: number;
}

function writeUsersaInfo(w: StructWriter, off: number, i: UsersaInfoInit): void {
  const U = XFRM_USERSA_INFO;
  writeSelector(w, off + U.sel, i.sel ?? ANY_SELECTOR);
  w.raw(off + U.id + XFRM_ID.daddr, encodeXfrmAddress(i.daddr, i.family, 'SA daddr'), XFRM_ADDR_LEN);
  w.be32(off + U.id + XFRM_ID.spi, i.spi, 'SPI');
  w.u8(off + U.id + XFRM_ID.proto, i.proto, 'SA proto');
  w.raw(off + U.saddr, encodeXfrmAddress(i.saddr, i.family, 'SA saddr'), XFRM_ADDR_LEN);
  writeLifetimeCfg(w, off + U.lft, i.lft ?? NO_LIFETIME);
  w.u32(off + U.seq, i.seq ?? 0, 'seq');
  w.u32(off + U.reqid, i.reqid, 'reqid');
  w.u16(off + U.family, i.family, 'family');
  w.u8(off + U.mode, i.mode, 'mode');
  w.u8(off + U.replay_window, i.replayWindow ?? 0, 'replay_window');
  w.u8(off + U.flags, i.flags ?? 0, 'flags');
}

/** Encode struct xfrm_usersa_info (224 octets). */
export function encodeUsersaInfo(i: UsersaInfoInit): Uint8Array {
  const w = new StructWriter(XFRM_USERSA_INFO.SIZE);
  writeUsersaInfo(w, 0, i);
  return w.bytes;
}

export function readUsersaInfo(buf: Uint8Array, off: number): XfrmUsersaInfo {
  const U = XFRM_USERSA_INFO;
  const r = new StructReader(buf, off, U.SIZE, 'xfrm_usersa_info');
  const family = r.u16(U.family);
  return {
    sel: readSelector(buf, off + U.sel, family),
    daddr: decodeXfrmAddress(r.view(U.id + XFRM_ID.daddr, XFRM_ADDR_LEN), family),
    spi: r.be32(U.id + XFRM_ID.spi),
    proto: r.u8(U.id + XFRM_ID.proto),
    saddr: decodeXfrmAddress(r.view(U.saddr, XFRM_ADDR_LEN), family),
    lft: readLifetimeCfg(buf, off + U.lft),
    curlft: readLifetimeCur(buf, off + U.curlft),
    stats: {
      replayWindow: r.u32(U.stats + XFRM_STATS.replay_window),
      replay: r.u32(U.stats + XFRM_STATS.replay),
      integrityFailed: r.u32(U.stats + XFRM_STATS.integrity_failed),
    },
    seq: r.u32(U.seq),
    reqid: r.u32(U.reqid),
    family,
    mode: r.u8(U.mode),
    replayWindow: r.u8(U.replay_window),
    flags: r.u8(U.flags),
  };
}

/** struct xfrm_usersa_id: how GETSA/DELSA name an SA (destination, SPI, protocol). */
export interface XfrmUsersaId {
  readonly daddr: string;
  readonly spi: number;
  readonly family: number;
  readonly proto: number;
}

export function encodeUsersaId(id: XfrmUsersaId): Uint8Array {
  const I = XFRM_USERSA_ID;
  const w = new StructWriter(I.SIZE);
  w.raw(I.daddr, encodeXfrmAddress(id.daddr, id.family, 'usersa_id daddr'), XFRM_ADDR_LEN);
  w.be32(I.spi, id.spi, 'SPI');
  w.u16(I.family, id.family, 'family');
  w.u8(I.proto, id.proto, 'proto');
  return w.bytes;
}

export function decodeUsersaId(buf: Uint8Array, off = 0): XfrmUsersaId {
  const I = XFRM_USERSA_ID;
  const r = new StructReader(buf, off, I.SIZE, 'xfrm_usersa_id');
  const family = r.u16(I.family);
  return { daddr: decodeXfrmAddress(r.view(I.daddr, XFRM_ADDR_LEN), family), spi: r.be32(I.spi), family, proto: r.u8(I.proto) };
}

/** XFRM_MSG_ALLOCSPI: struct xfrm_userspi_info — a larval SA for (src, dst, proto, reqid) and an SPI in [min, max]. */
export interface AllocSpiRequest {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly mode: number;
  readonly reqid: number;
  readonly min: number;
  readonly max: number;
}

export function encodeAllocSpi(a: AllocSpiRequest): Uint8Array {
  const P = XFRM_USERSPI_INFO;
  if (a.min > a.max) throw new EncodeError(`SPI range ${a.min}..${a.max} is empty`);
  const family = familyOf(a.src);
  const w = new StructWriter(P.SIZE);
  writeUsersaInfo(w, P.info, { daddr: a.dst, saddr: a.src, spi: 0, proto: a.proto, family, mode: a.mode, reqid: a.reqid });
  w.u32(P.min, a.min, 'SPI min');
  w.u32(P.max, a.max, 'SPI max');
  return w.bytes;
}

/** An algorithm attribute (XFRMA_ALG_AEAD / ALG_CRYPT / ALG_AUTH_TRUNC / ALG_AUTH) as decoded. */
export interface XfrmAlgo {
  /** Kernel crypto API name, e.g. 'rfc4106(gcm(aes))'. */
  readonly name: string;
  readonly keyBits: number;
  readonly key: Uint8Array;
  /** ICV length (AEAD) or truncation length (AUTH_TRUNC), in bits; absent for CRYPT and AUTH. */
  readonly icvBits?: number;
  readonly truncBits?: number;
}

/** XFRMA_ALG_CRYPT / XFRMA_ALG_AUTH data: struct xfrm_algo + key. */
export function encodeAlgo(name: string, key: Uint8Array): Uint8Array {
  const A = XFRM_ALGO;
  const w = new StructWriter(A.SIZE + key.length);
  w.cstring(A.alg_name, name, ALG_NAME_LEN, 'alg_name');
  w.u32(A.alg_key_len, key.length * 8, 'alg_key_len');
  w.raw(A.alg_key, key, key.length, 'alg_key');
  return w.bytes;
}

/** XFRMA_ALG_AUTH_TRUNC data: struct xfrm_algo_auth + key. */
export function encodeAlgoAuth(name: string, key: Uint8Array, truncBits: number): Uint8Array {
  const A = XFRM_ALGO_AUTH;
  const w = new StructWriter(A.SIZE + key.length);
  w.cstring(A.alg_name, name, ALG_NAME_LEN, 'alg_name');
  w.u32(A.alg_key_len, key.length * 8, 'alg_key_len');
  w.u32(A.alg_trunc_len, truncBits, 'alg_trunc_len');
  w.raw(A.alg_key, key, key.length, 'alg_key');
  return w.bytes;
}

/** XFRMA_ALG_AEAD data: struct xfrm_algo_aead + key (AEAD: key | salt). */
export function encodeAlgoAead(name: string, key: Uint8Array, icvBits: number): Uint8Array {
  const A = XFRM_ALGO_AEAD;
  const w = new StructWriter(A.SIZE + key.length);
  w.cstring(A.alg_name, name, ALG_NAME_LEN, 'alg_name');
  w.u32(A.alg_key_len, key.length * 8, 'alg_key_len');
  w.u32(A.alg_icv_len, icvBits, 'alg_icv_len');
  w.raw(A.alg_key, key, key.length, 'alg_key');
  return w.bytes;
}

function decodeAlgo(data: Uint8Array, kind: 'plain' | 'auth' | 'aead'): XfrmAlgo {
  const hdr = kind === 'plain' ? XFRM_ALGO.SIZE : XFRM_ALGO_AUTH.SIZE;
  const r = new StructReader(data, 0, hdr, `xfrm_algo (${kind})`);
  const keyBits = r.u32(XFRM_ALGO.alg_key_len);
  const keyLen = Math.ceil(keyBits / 8);
  if (hdr + keyLen > data.length) throw new ParseError('TRUNCATED', `algorithm key of ${keyBits} bits in ${data.length - hdr} octets`);
  const name = r.cstring(0, ALG_NAME_LEN);
  const key = new StructReader(data, hdr, keyLen, 'alg_key').bytes(0, keyLen);
  if (kind === 'auth') return { name, keyBits, key, truncBits: r.u32(XFRM_ALGO_AUTH.alg_trunc_len) };
  if (kind === 'aead') return { name, keyBits, key, icvBits: r.u32(XFRM_ALGO_AEAD.alg_icv_len) };
  return { name, keyBits, key };
}

/** struct xfrm_encap_tmpl: ESP in UDP. */
export interface XfrmEncap {
  readonly type: number;
  readonly sport: number;
  readonly dport: number;
  /** NAT original address; the kernel ignores it (checksums are not recomputed). */
  readonly oa: string;
}

export function encodeEncap(e: { readonly sport: number; readonly dport: number; readonly type?: number }): Uint8Array {
  const E = XFRM_ENCAP_TMPL;
  const w = new StructWriter(E.SIZE);
  w.u16(E.encap_type, e.type ?? UDP_ENCAP_ESPINUDP, 'encap_type');
  w.be16(E.encap_sport, e.sport, 'encap_sport');
  w.be16(E.encap_dport, e.dport, 'encap_dport');
  return w.bytes;
}

function decodeEncap(data: Uint8Array, family: number): XfrmEncap {
  const E = XFRM_ENCAP_TMPL;
  const r = new StructReader(data, 0, E.SIZE, 'xfrm_encap_tmpl');
  return { type: r.u16(E.encap_type), sport: r.be16(E.encap_sport), dport: r.be16(E.encap_dport), oa: decodeXfrmAddress(r.view(E.encap_oa, XFRM_ADDR_LEN), family) };
}

/** struct xfrm_replay_state_esn (the bitmap itself is not returned). */
export interface XfrmReplayEsn {
  /** Bitmap length in 32-bit words. */
  readonly bmpLen: number;
  readonly oseq: number;
  readonly seq: number;
  readonly oseqHi: number;
  readonly seqHi: number;
  /** Window in packets. */
  readonly replayWindow: number;
}

/** XFRMA_REPLAY_ESN_VAL data for a window of `window` packets: a zero bitmap of ceil(window/32) words. */
export function encodeReplayEsn(window: number): Uint8Array {
  const R = XFRM_REPLAY_STATE_ESN;
  if (!Number.isInteger(window) || window < 1 || window > XFRMA_REPLAY_ESN_MAX) throw new EncodeError(`replay window ${window} outside 1..${XFRMA_REPLAY_ESN_MAX}`);
  const bmpLen = Math.ceil(window / 32);
  const w = new StructWriter(R.SIZE + bmpLen * 4);
  w.u32(R.bmp_len, bmpLen, 'bmp_len');
  w.u32(R.replay_window, window, 'replay_window');
  return w.bytes;
}

function decodeReplayEsn(data: Uint8Array): XfrmReplayEsn {
  const R = XFRM_REPLAY_STATE_ESN;
  const r = new StructReader(data, 0, R.SIZE, 'xfrm_replay_state_esn');
  const bmpLen = r.u32(R.bmp_len);
  if (R.SIZE + bmpLen * 4 > data.length) throw new ParseError('TRUNCATED', `replay bitmap of ${bmpLen} words in ${data.length - R.SIZE} octets`);
  return { bmpLen, oseq: r.u32(R.oseq), seq: r.u32(R.seq), oseqHi: r.u32(R.oseq_hi), seqHi: r.u32(R.seq_hi), replayWindow: r.u32(R.replay_window) };
}

function u32Attr(data: Uint8Array, what: string): number {
  return new StructReader(data, 0, 4, what).u32(0);
}

function decodeMark(data: Uint8Array): { readonly v: number; readonly m: number } {
  const r = new StructReader(data, 0, XFRM_MARK.SIZE, 'xfrm_mark');
  return { v: r.u32(XFRM_MARK.v), m: r.u32(XFRM_MARK.m) };
}

/** An SA as the kernel reports it (GETSA reply, dump entry, NEWSA/UPDSA notification). */
export interface XfrmSaState {
  readonly info: XfrmUsersaInfo;
  readonly aead?: XfrmAlgo;
  readonly crypt?: XfrmAlgo;
  readonly auth?: XfrmAlgo;
  readonly authTrunc?: XfrmAlgo;
  readonly encap?: XfrmEncap;
  readonly replayEsn?: XfrmReplayEsn;
  readonly extraFlags?: number;
  readonly mark?: { readonly v: number; readonly m: number };
  readonly ifId?: number;
  /** Other attributes, undecoded. */
  readonly other: readonly NlAttr[];
}

/** Decode the payload of an XFRM_MSG_NEWSA (reply or dump entry). */
export function decodeSa(payload: Uint8Array): XfrmSaState {
  const info = readUsersaInfo(payload, 0);
  const attrs = decodeAttrs(payload, XFRM_USERSA_INFO.SIZE);
  return decodeSaAttrs(info, attrs);
}

function decodeSaAttrs(info: XfrmUsersaInfo, attrs: readonly NlAttr[]): XfrmSaState {
  const out: { -readonly [K in keyof XfrmSaState]: XfrmSaState[K] } = { info, other: [] };
  const other: NlAttr[] = [];
  for (const a of attrs) {
    switch (a.type) {
      case XfrmAttr.ALG_AEAD: out.aead = decodeAlgo(a.data, 'aead'); break;
      case XfrmAttr.ALG_CRYPT: out.crypt = decodeAlgo(a.data, 'plain'); break;
      case XfrmAttr.ALG_AUTH: out.auth = decodeAlgo(a.data, 'plain'); break;
      case XfrmAttr.ALG_AUTH_TRUNC: out.authTrunc = decodeAlgo(a.data, 'auth'); break;
      case XfrmAttr.ENCAP: out.encap = decodeEncap(a.data, info.family); break;
      case XfrmAttr.REPLAY_ESN_VAL: out.replayEsn = decodeReplayEsn(a.data); break;
      case XfrmAttr.SA_EXTRA_FLAGS: out.extraFlags = u32Attr(a.data, 'XFRMA_SA_EXTRA_FLAGS'); break;
      case XfrmAttr.MARK: out.mark = decodeMark(a.data); break;
      case XfrmAttr.IF_ID: out.ifId = u32Attr(a.data, 'XFRMA_IF_ID'); break;
      default: other.push(a);
    }
  }
  out.other = other;
  return out;
}

/** Everything of one SA a request sets, at the kernel's level (client.ts maps EspSaSpec here). */
export interface SaParams {
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  /** IPPROTO_ESP unless told. */
  readonly proto?: number;
  readonly reqid: number;
  readonly mode: 'tunnel' | 'transport';
  readonly aead?: { readonly name: string; readonly key: Uint8Array; readonly icvBits: number };
  readonly crypt?: { readonly name: string; readonly key: Uint8Array };
  readonly auth?: { readonly name: string; readonly key: Uint8Array; readonly truncBits: number };
  /** UDP encapsulation ports (RFC 3948). */
  readonly encap?: { readonly sport: number; readonly dport: number };
  /** Anti-replay window in packets (0: none; at most XFRMA_REPLAY_ESN_MAX). */
  readonly replayWindow: number;
  readonly esn: boolean;
  readonly limits?: { readonly softBytes?: number | bigint; readonly hardBytes?: number | bigint; readonly softPackets?: number | bigint; readonly hardPackets?: number | bigint };
  /** Inner selector (transport mode); default: none (the kernel fills in the family). */
  readonly sel?: XfrmSelector;
  /** Extra XFRM_STATE_* flags. Tunnel mode always gets XFRM_STATE_AF_UNSPEC, as strongSwan sets it. */
  readonly flags?: number;
  /** XFRMA_SA_EXTRA_FLAGS, sent when non-zero. */
  readonly extraFlags?: number;
}

function limit(v: number | bigint | undefined): bigint {
  if (v === undefined) return XFRM_INF;
  return typeof v === 'bigint' ? v : BigInt(v);
}

/**
 * The parts (xfrm_usersa_info, then attributes) of an XFRM_MSG_NEWSA / UPDSA request.
 * Replay: a window over 32 packets, or any window with ESN, goes in XFRMA_REPLAY_ESN_VAL
 * (xfrm_usersa_info.replay_window 0; XFRM_STATE_ESN with ESN); a smaller one without ESN in
 * replay_window. ESN needs a window of at least one packet (the kernel refuses 0 with EINVAL).
 */
export function encodeSaRequest(p: SaParams): Uint8Array[] {
  const family = familyOf(p.src);
  if (familyOf(p.dst) !== family) throw new EncodeError(`SA ${p.src} -> ${p.dst}: addresses of different families`);
  if (!p.aead && !p.crypt && !p.auth) throw new EncodeError('SA without an algorithm');
  if (p.aead && (p.crypt || p.auth)) throw new EncodeError('an AEAD SA takes no other algorithm');
  const w = p.replayWindow;
  if (!Number.isInteger(w) || w < 0 || w > XFRMA_REPLAY_ESN_MAX) throw new EncodeError(`replay window ${w} outside 0..${XFRMA_REPLAY_ESN_MAX}`);
  if (p.esn && w === 0) throw new EncodeError('ESN needs a replay window of at least 1 (also outbound)');
  const bitmap = p.esn || w > 32;
  let flags = p.flags ?? 0;
  if (p.mode === 'tunnel') flags |= XfrmStateFlag.AF_UNSPEC;
  if (p.esn) flags |= XfrmStateFlag.ESN;
  const l = p.limits ?? {};
  const info = encodeUsersaInfo({
    ...(p.sel ? { sel: p.sel } : {}),
    daddr: p.dst,
    spi: p.spi,
    proto: p.proto ?? 50,
    saddr: p.src,
    lft: { ...NO_LIFETIME, softByteLimit: limit(l.softBytes), hardByteLimit: limit(l.hardBytes), softPacketLimit: limit(l.softPackets), hardPacketLimit: limit(l.hardPackets) },
    reqid: p.reqid,
    family,
    mode: p.mode === 'tunnel' ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT,
    replayWindow: bitmap ? 0 : w,
    flags,
  });
  const parts = [info];
  if (p.aead) parts.push(encodeAttr(XfrmAttr.ALG_AEAD, encodeAlgoAead(p.aead.name, p.aead.key, p.aead.icvBits)));
  if (p.crypt) parts.push(encodeAttr(XfrmAttr.ALG_CRYPT, encodeAlgo(p.crypt.name, p.crypt.key)));
  if (p.auth) parts.push(encodeAttr(XfrmAttr.ALG_AUTH_TRUNC, encodeAlgoAuth(p.auth.name, p.auth.key, p.auth.truncBits)));
  if (p.encap) parts.push(encodeAttr(XfrmAttr.ENCAP, encodeEncap(p.encap)));
  if (bitmap) parts.push(encodeAttr(XfrmAttr.REPLAY_ESN_VAL, encodeReplayEsn(w)));
  if (p.extraFlags) parts.push(encodeAttrU32(XfrmAttr.SA_EXTRA_FLAGS, p.extraFlags));
  return parts;
}

/* ------------------------------------------------------------------------ */
/* Policies                                                                 */
/* ------------------------------------------------------------------------ */

/** struct xfrm_user_tmpl: which SA a policy wants (by reqid; outer addresses in tunnel mode). */
export interface XfrmTmpl {
  /** id.daddr: the tunnel's far end (tunnel mode), '' in transport mode. */
  readonly daddr: string;
  readonly spi: number;
  readonly proto: number;
  readonly family: number;
  readonly saddr: string;
  readonly reqid: number;
  readonly mode: number;
  readonly share: number;
  readonly optional: number;
  readonly aalgos: number;
  readonly ealgos: number;
  readonly calgos: number;
}

export function writeTmpl(w: StructWriter, off: number, t: XfrmTmpl): void {
  const T = XFRM_USER_TMPL;
  w.raw(off + T.id + XFRM_ID.daddr, encodeXfrmAddress(t.daddr, t.family, 'template daddr'), XFRM_ADDR_LEN);
  w.be32(off + T.id + XFRM_ID.spi, t.spi, 'template SPI');
  w.u8(off + T.id + XFRM_ID.proto, t.proto, 'template proto');
  w.u16(off + T.family, t.family, 'template family');
  w.raw(off + T.saddr, encodeXfrmAddress(t.saddr, t.family, 'template saddr'), XFRM_ADDR_LEN);
  w.u32(off + T.reqid, t.reqid, 'template reqid');
  w.u8(off + T.mode, t.mode, 'template mode');
  w.u8(off + T.share, t.share, 'template share');
  w.u8(off + T.optional, t.optional, 'template optional');
  w.u32(off + T.aalgos, t.aalgos, 'aalgos');
  w.u32(off + T.ealgos, t.ealgos, 'ealgos');
  w.u32(off + T.calgos, t.calgos, 'calgos');
}

export function readTmpl(buf: Uint8Array, off: number): XfrmTmpl {
  const T = XFRM_USER_TMPL;
  const r = new StructReader(buf, off, T.SIZE, 'xfrm_user_tmpl');
  const family = r.u16(T.family);
  return {
    daddr: decodeXfrmAddress(r.view(T.id + XFRM_ID.daddr, XFRM_ADDR_LEN), family),
    spi: r.be32(T.id + XFRM_ID.spi),
    proto: r.u8(T.id + XFRM_ID.proto),
    family,
    saddr: decodeXfrmAddress(r.view(T.saddr, XFRM_ADDR_LEN), family),
    reqid: r.u32(T.reqid),
    mode: r.u8(T.mode),
    share: r.u8(T.share),
    optional: r.u8(T.optional),
    aalgos: r.u32(T.aalgos),
    ealgos: r.u32(T.ealgos),
    calgos: r.u32(T.calgos),
  };
}

/** XFRMA_TMPL data: one or more xfrm_user_tmpl back to back. */
export function encodeTmpls(tmpls: readonly XfrmTmpl[]): Uint8Array {
  const w = new StructWriter(tmpls.length * XFRM_USER_TMPL.SIZE);
  tmpls.forEach((t, i) => writeTmpl(w, i * XFRM_USER_TMPL.SIZE, t));
  return w.bytes;
}

export function decodeTmpls(data: Uint8Array): XfrmTmpl[] {
  if (data.length % XFRM_USER_TMPL.SIZE !== 0) throw new ParseError('BAD_LENGTH', `XFRMA_TMPL of ${data.length} octets is not a multiple of ${XFRM_USER_TMPL.SIZE}`);
  const out: XfrmTmpl[] = [];
  for (let off = 0; off < data.length; off += XFRM_USER_TMPL.SIZE) out.push(readTmpl(data, off));
  return out;
}

/** struct xfrm_userpolicy_info as decoded. */
export interface XfrmUserpolicyInfo {
  readonly sel: XfrmSelector;
  readonly lft: XfrmLifetimeCfg;
  readonly curlft: XfrmLifetimeCur;
  readonly priority: number;
  readonly index: number;
  readonly dir: number;
  readonly action: number;
  readonly flags: number;
  readonly share: number;
}

export function readUserpolicyInfo(buf: Uint8Array, off: number): XfrmUserpolicyInfo {
  const P = XFRM_USERPOLICY_INFO;
  const r = new StructReader(buf, off, P.SIZE, 'xfrm_userpolicy_info');
  return {
    sel: readSelector(buf, off + P.sel),
    lft: readLifetimeCfg(buf, off + P.lft),
    curlft: readLifetimeCur(buf, off + P.curlft),
    priority: r.u32(P.priority),
    index: r.u32(P.index),
    dir: r.u8(P.dir),
    action: r.u8(P.action),
    flags: r.u8(P.flags),
    share: r.u8(P.share),
  };
}

/** A policy to install: selector, direction, priority and the templates of the SAs it wants. */
export interface PolicyParams {
  readonly sel: XfrmSelector;
  readonly dir: number;
  readonly priority: number;
  /** XFRM_POLICY_ALLOW unless told. */
  readonly action?: number;
  /** 0: the kernel picks one. */
  readonly index?: number;
  readonly flags?: number;
  readonly tmpls: readonly XfrmTmpl[];
}

/** The parts of an XFRM_MSG_NEWPOLICY / UPDPOLICY request: xfrm_userpolicy_info, XFRMA_TMPL. */
export function encodePolicyRequest(p: PolicyParams): Uint8Array[] {
  const P = XFRM_USERPOLICY_INFO;
  const w = new StructWriter(P.SIZE);
  writeSelector(w, P.sel, p.sel);
  writeLifetimeCfg(w, P.lft, NO_LIFETIME);
  w.u32(P.priority, p.priority, 'priority');
  w.u32(P.index, p.index ?? 0, 'index');
  w.u8(P.dir, p.dir, 'dir');
  w.u8(P.action, p.action ?? XFRM_POLICY_ALLOW, 'action');
  w.u8(P.flags, p.flags ?? 0, 'flags');
  w.u8(P.share, XFRM_SHARE_ANY, 'share');
  const parts = [w.bytes];
  if (p.tmpls.length > 0) parts.push(encodeAttr(XfrmAttr.TMPL, encodeTmpls(p.tmpls)));
  return parts;
}

/** struct xfrm_userpolicy_id: how GETPOLICY/DELPOLICY name a policy (by index when non-zero, else selector + dir). */
export function encodeUserpolicyId(id: { readonly sel?: XfrmSelector; readonly index?: number; readonly dir: number }): Uint8Array {
  const I = XFRM_USERPOLICY_ID;
  const w = new StructWriter(I.SIZE);
  writeSelector(w, I.sel, id.sel ?? ANY_SELECTOR);
  w.u32(I.index, id.index ?? 0, 'index');
  w.u8(I.dir, id.dir, 'dir');
  return w.bytes;
}

/** A policy as the kernel reports it (dump entry, GETPOLICY reply). */
export interface XfrmPolicyState {
  readonly info: XfrmUserpolicyInfo;
  readonly tmpls: readonly XfrmTmpl[];
  /** XFRMA_POLICY_TYPE: XFRM_POLICY_TYPE_MAIN (0) unless a sub policy. */
  readonly policyType: number;
  readonly mark?: { readonly v: number; readonly m: number };
  readonly ifId?: number;
}

function policyAttrs(info: XfrmUserpolicyInfo, attrs: readonly NlAttr[]): XfrmPolicyState {
  const tmplData = findAttr(attrs, XfrmAttr.TMPL);
  const typeData = findAttr(attrs, XfrmAttr.POLICY_TYPE);
  const markData = findAttr(attrs, XfrmAttr.MARK);
  const ifIdData = findAttr(attrs, XfrmAttr.IF_ID);
  return {
    info,
    tmpls: tmplData ? decodeTmpls(tmplData) : [],
    // struct xfrm_userpolicy_type { __u8 type; __u16 reserved1; __u8 reserved2; }
    policyType: typeData ? new StructReader(typeData, 0, 1, 'xfrm_userpolicy_type').u8(0) : 0,
    ...(markData ? { mark: decodeMark(markData) } : {}),
    ...(ifIdData ? { ifId: u32Attr(ifIdData, 'XFRMA_IF_ID') } : {}),
  };
}

/** Decode the payload of an XFRM_MSG_NEWPOLICY (dump entry or GETPOLICY reply). */
export function decodePolicy(payload: Uint8Array): XfrmPolicyState {
  const info = readUserpolicyInfo(payload, 0);
  return policyAttrs(info, decodeAttrs(payload, XFRM_USERPOLICY_INFO.SIZE));
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/** XFRM_MSG_ACQUIRE: traffic matched a policy whose template has no SA (struct xfrm_user_acquire). */
export interface XfrmAcquire {
  /** The wanted SA: destination (tunnel end or packet destination), proto. */
  readonly daddr: string;
  readonly saddr: string;
  readonly proto: number;
  /** The packet's flow (addresses as full-length prefixes, protocol, ports). */
  readonly sel: XfrmSelector;
  /** The policy that matched. */
  readonly policy: XfrmUserpolicyInfo;
  readonly seq: number;
  /** The policy's templates (XFRMA_TMPL): the reqid is there. */
  readonly tmpls: readonly XfrmTmpl[];
  readonly policyType: number;
}

export function decodeAcquire(payload: Uint8Array): XfrmAcquire {
  const A = XFRM_USER_ACQUIRE;
  const r = new StructReader(payload, 0, A.SIZE, 'xfrm_user_acquire');
  const policy = readUserpolicyInfo(payload, A.policy);
  const sel = readSelector(payload, A.sel);
  const rest = policyAttrs(policy, decodeAttrs(payload, A.SIZE));
  const family = rest.tmpls[0]?.family || sel.family || policy.sel.family;
  return {
    daddr: decodeXfrmAddress(r.view(A.id + XFRM_ID.daddr, XFRM_ADDR_LEN), family),
    saddr: decodeXfrmAddress(r.view(A.saddr, XFRM_ADDR_LEN), family),
    proto: r.u8(A.id + XFRM_ID.proto),
    sel,
    policy,
    seq: r.u32(A.seq),
    tmpls: rest.tmpls,
    policyType: rest.policyType,
  };
}

/** XFRM_MSG_EXPIRE: an SA reached a soft or hard limit (struct xfrm_user_expire). */
export interface XfrmExpire {
  readonly state: XfrmUsersaInfo;
  readonly hard: boolean;
  readonly mark?: { readonly v: number; readonly m: number };
}

export function decodeExpire(payload: Uint8Array): XfrmExpire {
  const E = XFRM_USER_EXPIRE;
  const r = new StructReader(payload, 0, E.SIZE, 'xfrm_user_expire');
  const state = readUsersaInfo(payload, E.state);
  const markData = findAttr(decodeAttrs(payload, E.SIZE), XfrmAttr.MARK);
  return { state, hard: r.u8(E.hard) !== 0, ...(markData ? { mark: decodeMark(markData) } : {}) };
}

/** XFRM_MSG_POLEXPIRE (struct xfrm_user_polexpire). */
export interface XfrmPolexpire {
  readonly policy: XfrmUserpolicyInfo;
  readonly hard: boolean;
}

export function decodePolexpire(payload: Uint8Array): XfrmPolexpire {
  const E = XFRM_USER_POLEXPIRE;
  const r = new StructReader(payload, 0, E.SIZE, 'xfrm_user_polexpire');
  return { policy: readUserpolicyInfo(payload, E.pol), hard: r.u8(E.hard) !== 0 };
}
