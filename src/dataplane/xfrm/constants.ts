/**
 * XFRM netlink constants and struct layouts (include/uapi/linux/xfrm.h, Linux 6.1; unchanged in
 * the parts used here up to 6.18). Offsets and sizes are those of the x86-64 / aarch64 ABI: a
 * __u64 is aligned to 8, so e.g. struct xfrm_usersa_info is 224 octets (220 on 32-bit x86, where
 * the kernel needs CONFIG_XFRM_USER_COMPAT). test/unit/xfrm-messages.test.ts checks every offset
 * against what gcc computes from the header.
 */

/** XFRM_MSG_* (enum, XFRM_MSG_BASE = 0x10). */
export const XfrmMsg = {
  NEWSA: 0x10,
  DELSA: 0x11,
  GETSA: 0x12,
  NEWPOLICY: 0x13,
  DELPOLICY: 0x14,
  GETPOLICY: 0x15,
  ALLOCSPI: 0x16,
  ACQUIRE: 0x17,
  EXPIRE: 0x18,
  UPDPOLICY: 0x19,
  UPDSA: 0x1a,
  POLEXPIRE: 0x1b,
  FLUSHSA: 0x1c,
  FLUSHPOLICY: 0x1d,
  NEWAE: 0x1e,
  GETAE: 0x1f,
  REPORT: 0x20,
  MIGRATE: 0x21,
  NEWSADINFO: 0x22,
  GETSADINFO: 0x23,
  NEWSPDINFO: 0x24,
  GETSPDINFO: 0x25,
  MAPPING: 0x26,
  SETDEFAULT: 0x27,
  GETDEFAULT: 0x28,
} as const;

/** "XFRM_MSG_NEWSA" for 0x10, for error messages. */
export function xfrmMsgName(type: number): string {
  return MSG_NAMES.get(type) ?? `XFRM message ${type}`;
}
const MSG_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(XfrmMsg).map(([k, v]) => [v, `XFRM_MSG_${k}`]));

/** enum xfrm_attr_type_t. */
export const XfrmAttr = {
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ALG_COMP: 3,
  ENCAP: 4,
  TMPL: 5,
  SA: 6,
  POLICY: 7,
  SEC_CTX: 8,
  LTIME_VAL: 9,
  REPLAY_VAL: 10,
  REPLAY_THRESH: 11,
  ETIMER_THRESH: 12,
  SRCADDR: 13,
  COADDR: 14,
  LASTUSED: 15,
  POLICY_TYPE: 16,
  MIGRATE: 17,
  ALG_AEAD: 18,
  KMADDRESS: 19,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
  TFCPAD: 22,
  REPLAY_ESN_VAL: 23,
  SA_EXTRA_FLAGS: 24,
  PROTO: 25,
  ADDRESS_FILTER: 26,
  PAD: 27,
  OFFLOAD_DEV: 28,
  SET_MARK: 29,
  SET_MARK_MASK: 30,
  IF_ID: 31,
  MTIMER_THRESH: 32,
} as const;

/** Multicast groups (enum xfrm_nlgroups) and their bind() bits (XFRMGRP_*: 1 << (group - 1)). */
export const XfrmGroup = { ACQUIRE: 1, EXPIRE: 2, SA: 3, POLICY: 4, AEVENTS: 5, REPORT: 6, MIGRATE: 7, MAPPING: 8 } as const;
export function groupBit(group: number): number {
  return 1 << (group - 1);
}

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const IPPROTO_ICMP = 1;
export const IPPROTO_ESP = 50;
export const IPPROTO_ICMPV6 = 58;

export const XFRM_MODE_TRANSPORT = 0;
export const XFRM_MODE_TUNNEL = 1;

/** xfrm_usersa_info.flags (XFRM_STATE_*). */
export const XfrmStateFlag = {
  NOECN: 1,
  DECAP_DSCP: 2,
  NOPMTUDISC: 4,
  WILDRECV: 8,
  ICMP: 16,
  AF_UNSPEC: 32,
  ALIGN4: 64,
  ESN: 128,
} as const;

/** XFRMA_SA_EXTRA_FLAGS bits. */
export const XFRM_SA_XFLAG_DONT_ENCAP_DSCP = 1;
export const XFRM_SA_XFLAG_OSEQ_MAY_WRAP = 2;

/** Policy directions (XFRM_POLICY_IN/OUT/FWD). */
export const XfrmDir = { IN: 0, OUT: 1, FWD: 2 } as const;
export type XfrmDirName = 'in' | 'out' | 'fwd';
export const DIR_BY_NAME: Readonly<Record<XfrmDirName, number>> = { in: 0, out: 1, fwd: 2 };
export const DIR_NAMES: readonly XfrmDirName[] = ['in', 'out', 'fwd'];

export const XFRM_POLICY_ALLOW = 0;
export const XFRM_POLICY_BLOCK = 1;
export const XFRM_POLICY_TYPE_MAIN = 0;
export const XFRM_POLICY_TYPE_SUB = 1;
export const XFRM_SHARE_ANY = 0;

/** UDP_ENCAP_ESPINUDP (include/uapi/linux/udp.h): ESP in UDP, RFC 3948. */
export const UDP_ENCAP_ESPINUDP = 2;

/** XFRM_INF: no limit (lifetime_cfg). */
export const XFRM_INF = 0xffffffffffffffffn;

/** The largest anti-replay bitmap the kernel accepts, in bits (XFRMA_REPLAY_ESN_MAX). */
export const XFRMA_REPLAY_ESN_MAX = 4096;

/** Size of xfrm_algo*.alg_name (char[64]). */
export const ALG_NAME_LEN = 64;

/* ------------------------------------------------------------------------ */
/* Struct layouts (offsets in octets)                                        */
/* ------------------------------------------------------------------------ */

/** xfrm_address_t: a union of __be32 a4 and __be32 a6[4]; IPv4 in the first 4 octets. */
export const XFRM_ADDR_LEN = 16;

export const XFRM_ID = { SIZE: 24, daddr: 0, spi: 16, proto: 20 } as const;

export const XFRM_SELECTOR = {
  SIZE: 56,
  daddr: 0,
  saddr: 16,
  dport: 32,
  dport_mask: 34,
  sport: 36,
  sport_mask: 38,
  family: 40,
  prefixlen_d: 42,
  prefixlen_s: 43,
  proto: 44,
  ifindex: 48,
  user: 52,
} as const;

/** Eight __u64: soft/hard byte, packet, add-expires, use-expires. */
export const XFRM_LIFETIME_CFG = {
  SIZE: 64,
  soft_byte_limit: 0,
  hard_byte_limit: 8,
  soft_packet_limit: 16,
  hard_packet_limit: 24,
  soft_add_expires_seconds: 32,
  hard_add_expires_seconds: 40,
  soft_use_expires_seconds: 48,
  hard_use_expires_seconds: 56,
} as const;

export const XFRM_LIFETIME_CUR = { SIZE: 32, bytes: 0, packets: 8, add_time: 16, use_time: 24 } as const;

export const XFRM_STATS = { SIZE: 12, replay_window: 0, replay: 4, integrity_failed: 8 } as const;

export const XFRM_USERSA_INFO = {
  SIZE: 224,
  sel: 0,
  id: 56,
  saddr: 80,
  lft: 96,
  curlft: 160,
  stats: 192,
  seq: 204,
  reqid: 208,
  family: 212,
  mode: 214,
  replay_window: 215,
  flags: 216,
} as const;

export const XFRM_USERSA_ID = { SIZE: 24, daddr: 0, spi: 16, family: 20, proto: 22 } as const;

export const XFRM_USERSPI_INFO = { SIZE: 232, info: 0, min: 224, max: 228 } as const;

export const XFRM_USERPOLICY_INFO = {
  SIZE: 168,
  sel: 0,
  lft: 56,
  curlft: 120,
  priority: 152,
  index: 156,
  dir: 160,
  action: 161,
  flags: 162,
  share: 163,
} as const;

export const XFRM_USERPOLICY_ID = { SIZE: 64, sel: 0, index: 56, dir: 60 } as const;

export const XFRM_USER_TMPL = {
  SIZE: 64,
  id: 0,
  family: 24,
  saddr: 28,
  reqid: 44,
  mode: 48,
  share: 49,
  optional: 50,
  aalgos: 52,
  ealgos: 56,
  calgos: 60,
} as const;

export const XFRM_ENCAP_TMPL = { SIZE: 24, encap_type: 0, encap_sport: 2, encap_dport: 4, encap_oa: 8 } as const;

/** struct xfrm_algo: name, key length in bits, key. */
export const XFRM_ALGO = { SIZE: 68, alg_name: 0, alg_key_len: 64, alg_key: 68 } as const;
/** struct xfrm_algo_auth: + truncation in bits. */
export const XFRM_ALGO_AUTH = { SIZE: 72, alg_name: 0, alg_key_len: 64, alg_trunc_len: 68, alg_key: 72 } as const;
/** struct xfrm_algo_aead: + ICV length in bits. */
export const XFRM_ALGO_AEAD = { SIZE: 72, alg_name: 0, alg_key_len: 64, alg_icv_len: 68, alg_key: 72 } as const;

export const XFRM_REPLAY_STATE_ESN = { SIZE: 24, bmp_len: 0, oseq: 4, seq: 8, oseq_hi: 12, seq_hi: 16, replay_window: 20, bmp: 24 } as const;

export const XFRM_USER_ACQUIRE = { SIZE: 280, id: 0, saddr: 24, sel: 40, policy: 96, aalgos: 264, ealgos: 268, calgos: 272, seq: 276 } as const;

export const XFRM_USER_EXPIRE = { SIZE: 232, state: 0, hard: 224 } as const;

export const XFRM_USER_POLEXPIRE = { SIZE: 176, pol: 0, hard: 168 } as const;

export const XFRM_MARK = { SIZE: 8, v: 0, m: 4 } as const;
