/**
 * IKEv2 registry values (IANA "Internet Key Exchange Version 2 (IKEv2) Parameters").
 *
 * Base: RFC 7296 §3 and the IANA registry snapshot of 2015-01-08
 * (/work/shared/rfc/iana-ikev2-parameters-2015-01-08.txt). Values added since are
 * marked with the RFC that assigned them (RFC 9242, RFC 9370, RFC 7634, RFC 8031,
 * RFC 8784, RFC 8019, RFC 9593, RFC 8420, the ML-KEM draft).
 *
 * Names drop the registry prefix (`ENCR_`, `PRF_`, `AUTH_`, `ID_`, `TS_`, `CFG_`) so that
 * `EncrId.AES_GCM_16`, `IdType.FQDN`, `TsType.IPV4_ADDR_RANGE`, ... read naturally.
 * Where a table has an alias, the canonical name comes first (nameOf() returns the first).
 */

/** IKE header length in octets (RFC 7296 §3.1). */
export const IKE_HEADER_LENGTH = 28;
/** Generic payload header length in octets (RFC 7296 §3.2). */
export const GENERIC_PAYLOAD_HEADER_LENGTH = 4;
/** SKF payload: generic header + Fragment Number + Total Fragments (RFC 7383 §2.5). */
export const SKF_HEADER_LENGTH = 8;
/** IKEv2 major version (RFC 7296 §3.1). */
export const IKE_MAJOR_VERSION = 2;
/** Non-ESP marker prepended to IKE messages on UDP port 4500 (RFC 3948 §2.2). */
export const NON_ESP_MARKER_LENGTH = 4;

/** Exchange Types (RFC 7296 §3.1; IKE_INTERMEDIATE RFC 9242 §6; IKE_FOLLOWUP_KE RFC 9370 §3). */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
  IKE_SESSION_RESUME: 38, // RFC 5723
  GSA_AUTH: 39,
  GSA_REGISTRATION: 40,
  GSA_REKEY: 41,
  IKE_INTERMEDIATE: 43, // RFC 9242
  IKE_FOLLOWUP_KE: 44, // RFC 9370
} as const;

/** Payload Types (RFC 7296 §3.2; SKF RFC 7383 §2.5). */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  GSPM: 49, // RFC 6467 (not decoded: kept as unknown)
  IDg: 50, // G-IKEv2 (not decoded)
  GSA: 51, // G-IKEv2 (not decoded)
  KD: 52, // G-IKEv2 (not decoded)
  SKF: 53, // RFC 7383
} as const;

/** Transform Types (RFC 7296 §3.3.2; "KE" renamed and ADDKE1..7 added by RFC 9370 §2.2.1/§3). */
export const TransformType = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  KE: 4,
  ESN: 5,
  ADDKE1: 6,
  ADDKE2: 7,
  ADDKE3: 8,
  ADDKE4: 9,
  ADDKE5: 10,
  ADDKE6: 11,
  ADDKE7: 12,
} as const;

/** Transform Attribute Types (RFC 7296 §3.3.5). */
export const TransformAttrType = {
  KEY_LENGTH: 14, // TV format
} as const;

/** Transform Type 1 — Encryption Algorithm IDs (RFC 7296 §3.3.2, IANA; RFC 5282; RFC 7634). */
export const EncrId = {
  DES_IV64: 1,
  DES: 2,
  TRIPLE_DES: 3,
  RC5: 4,
  IDEA: 5,
  CAST: 6,
  BLOWFISH: 7,
  IDEA3: 8,
  DES_IV32: 9,
  NULL: 11,
  AES_CBC: 12,
  AES_CTR: 13,
  AES_CCM_8: 14,
  AES_CCM_12: 15,
  AES_CCM_16: 16,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  NULL_AUTH_AES_GMAC: 21,
  CAMELLIA_CBC: 23,
  CAMELLIA_CTR: 24,
  CAMELLIA_CCM_8: 25,
  CAMELLIA_CCM_12: 26,
  CAMELLIA_CCM_16: 27,
  CHACHA20_POLY1305: 28, // RFC 7634 §6
} as const;

/** Transform Type 2 — Pseudorandom Function IDs (RFC 7296 §3.3.2; RFC 4868 §2.4). */
export const PrfId = {
  HMAC_MD5: 1,
  HMAC_SHA1: 2,
  HMAC_TIGER: 3,
  AES128_XCBC: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
  AES128_CMAC: 8,
} as const;

/** Transform Type 3 — Integrity Algorithm IDs (RFC 7296 §3.3.2; RFC 4868 §2.3). */
export const IntegId = {
  NONE: 0,
  HMAC_MD5_96: 1,
  HMAC_SHA1_96: 2,
  DES_MAC: 3,
  KPDK_MD5: 4,
  AES_XCBC_96: 5,
  HMAC_MD5_128: 6,
  HMAC_SHA1_160: 7,
  AES_CMAC_96: 8,
  AES_128_GMAC: 9,
  AES_192_GMAC: 10,
  AES_256_GMAC: 11,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;

/**
 * Transform Type 4 (and ADDKE1..7) — Key Exchange Method IDs (RFC 7296 §3.3.2, RFC 3526,
 * RFC 5903, RFC 5114, RFC 6954, RFC 8031 §5; ML-KEM 35..37 from draft-ietf-ipsecme-ikev2-mlkem).
 */
export const KeMethodId = {
  NONE: 0,
  MODP768: 1,
  MODP1024: 2,
  MODP1536: 5,
  MODP2048: 14,
  MODP3072: 15,
  MODP4096: 16,
  MODP6144: 17,
  MODP8192: 18,
  ECP256: 19,
  ECP384: 20,
  ECP521: 21,
  MODP1024_S160: 22,
  MODP2048_S224: 23,
  MODP2048_S256: 24,
  ECP192: 25,
  ECP224: 26,
  BRAINPOOL_P224R1: 27,
  BRAINPOOL_P256R1: 28,
  BRAINPOOL_P384R1: 29,
  BRAINPOOL_P512R1: 30,
  CURVE25519: 31,
  CURVE448: 32,
  MLKEM512: 35,
  MLKEM768: 36,
  MLKEM1024: 37,
} as const;

/** Transform Type 5 — Extended Sequence Numbers (RFC 7296 §3.3.2). */
export const EsnId = {
  NO_ESN: 0,
  ESN: 1,
} as const;

/** Security Protocol Identifiers (RFC 7296 §3.3.1). 0 is used in Notify when no SPI applies. */
export const ProtocolId = {
  NONE: 0,
  IKE: 1,
  AH: 2,
  ESP: 3,
  FC_ESP_HEADER: 4, // RFC 4595
  FC_CT_AUTHENTICATION: 5, // RFC 4595
} as const;

/** Identification Payload ID Types (RFC 7296 §3.5; ID_NULL RFC 7619). */
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  RFC822_ADDR: 3,
  IPV6_ADDR: 5,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
  FC_NAME: 12,
  NULL: 13,
} as const;

/** Certificate Encodings (RFC 7296 §3.6; Raw Public Key 15 per RFC 7670). */
export const CertEncoding = {
  PKCS7_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  KERBEROS_TOKEN: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
  OCSP_CONTENT: 14, // RFC 4806
  RAW_PUBLIC_KEY: 15, // RFC 7670
} as const;

/** Authentication Methods (RFC 7296 §3.8; RFC 4754; RFC 7619; RFC 7427 §3). */
export const AuthMethod = {
  RSA_SIG: 1,
  PSK: 2, // "Shared Key Message Integrity Code"
  SHARED_KEY_MIC: 2, // alias of PSK
  DSS_SIG: 3,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  GSPAM: 12, // RFC 6467
  NULL: 13, // RFC 7619
  DIGITAL_SIGNATURE: 14, // RFC 7427
} as const;

/**
 * Notify Message Types. Error types 0..16383 (RFC 7296 §3.10.1), status types 16384..
 * (RFC 7296 §3.10.1 and later RFCs as marked).
 */
export const NotifyType = {
  // --- error types (RFC 7296 §3.10.1 unless noted) ---
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  UNACCEPTABLE_ADDRESSES: 40, // RFC 4555
  UNEXPECTED_NAT_DETECTED: 41, // RFC 4555
  USE_ASSIGNED_HoA: 42, // RFC 5026
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INVALID_GROUP_ID: 45, // G-IKEv2
  AUTHORIZATION_FAILED: 46, // G-IKEv2
  STATE_NOT_FOUND: 47, // RFC 9370 §3
  // --- status types ---
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396, // RFC 4555
  ADDITIONAL_IP4_ADDRESS: 16397,
  ADDITIONAL_IP6_ADDRESS: 16398,
  NO_ADDITIONAL_ADDRESSES: 16399,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  NO_NATS_ALLOWED: 16402,
  AUTH_LIFETIME: 16403, // RFC 4478
  MULTIPLE_AUTH_SUPPORTED: 16404, // RFC 4739
  ANOTHER_AUTH_FOLLOWS: 16405,
  REDIRECT_SUPPORTED: 16406, // RFC 5685
  REDIRECT: 16407,
  REDIRECTED_FROM: 16408,
  TICKET_LT_OPAQUE: 16409, // RFC 5723
  TICKET_REQUEST: 16410,
  TICKET_ACK: 16411,
  TICKET_NACK: 16412,
  TICKET_OPAQUE: 16413,
  LINK_ID: 16414, // RFC 5739
  USE_WESP_MODE: 16415, // RFC 5840
  ROHC_SUPPORTED: 16416, // RFC 5857
  EAP_ONLY_AUTHENTICATION: 16417, // RFC 5998
  CHILDLESS_IKEV2_SUPPORTED: 16418, // RFC 6023
  QUICK_CRASH_DETECTION: 16419, // RFC 6290
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420, // RFC 6311
  IKE_MESSAGE_ID_SYNC_SUPPORTED: 16420, // alias
  IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: 16421,
  IKEV2_MESSAGE_ID_SYNC: 16422,
  IPSEC_REPLAY_COUNTER_SYNC: 16423,
  SECURE_PASSWORD_METHODS: 16424, // RFC 6467
  PSK_PERSIST: 16425, // RFC 6631
  PSK_CONFIRM: 16426,
  ERX_SUPPORTED: 16427, // RFC 6867
  IFOM_CAPABILITY: 16428,
  SENDER_REQUEST_ID: 16429,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430, // RFC 7383 §2.3
  SIGNATURE_HASH_ALGORITHMS: 16431, // RFC 7427 §4
  CLONE_IKE_SA_SUPPORTED: 16432, // RFC 7791
  CLONE_IKE_SA: 16433, // RFC 7791
  PUZZLE: 16434, // RFC 8019
  USE_PPK: 16435, // RFC 8784 §7
  PPK_IDENTITY: 16436,
  NO_PPK_AUTH: 16437,
  INTERMEDIATE_EXCHANGE_SUPPORTED: 16438, // RFC 9242 §6
  IP4_ALLOWED: 16439, // RFC 8983
  IP6_ALLOWED: 16440, // RFC 8983
  ADDITIONAL_KEY_EXCHANGE: 16441, // RFC 9370 §3
  USE_AGGFRAG: 16442, // RFC 9347
  SUPPORTED_AUTH_METHODS: 16443, // RFC 9593 §5
  SA_RESOURCE_INFO: 16444, // RFC 9611
  USE_PPK_INT: 16445, // RFC 9867
  PPK_IDENTITY_KEY: 16446, // RFC 9867
} as const;

/** Notify types below this value are errors (RFC 7296 §3.10.1). */
export const NOTIFY_STATUS_MIN = 16384;

/** Traffic Selector Types (RFC 7296 §3.13.1). */
export const TsType = {
  IPV4_ADDR_RANGE: 7,
  IPV6_ADDR_RANGE: 8,
  FC_ADDR_RANGE: 9, // RFC 4595 (not decoded)
} as const;

/** IKE header flags (RFC 7296 §3.1). All other bits are reserved. */
export const HeaderFlags = {
  INITIATOR: 0x08,
  VERSION: 0x10,
  RESPONSE: 0x20,
} as const;
/** Mask of the defined header flag bits. */
export const HEADER_FLAGS_MASK = 0x38;

/** Configuration Payload CFG Types (RFC 7296 §3.15). */
export const CfgType = {
  REQUEST: 1,
  REPLY: 2,
  SET: 3,
  ACK: 4,
} as const;

/** Configuration Attribute Types (RFC 7296 §3.15.1 and IANA). */
export const CfgAttrType = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
  MIP6_HOME_PREFIX: 16, // RFC 5026
  INTERNAL_IP6_LINK: 17, // RFC 5739
  INTERNAL_IP6_PREFIX: 18, // RFC 5739
  HOME_AGENT_ADDRESS: 19,
  P_CSCF_IP4_ADDRESS: 20,
  P_CSCF_IP6_ADDRESS: 21,
  FTT_KAT: 22,
} as const;

/** IKEv2 Hash Algorithms (RFC 7427 §7; Identity RFC 8420 §2). */
export const HashAlgorithm = {
  SHA1: 1,
  SHA2_256: 2,
  SHA2_384: 3,
  SHA2_512: 4,
  IDENTITY: 5,
} as const;

/** "Last Substruc" values (RFC 7296 §3.3.1, §3.3.2). */
export const LastSubstruc = {
  LAST: 0,
  MORE_PROPOSALS: 2,
  MORE_TRANSFORMS: 3,
} as const;

/** A registry table: name → value. */
export type RegistryTable = { readonly [name: string]: number };

/** The union of the values of a table, e.g. `ValueOf<typeof PayloadType>`. */
export type ValueOf<T extends RegistryTable> = T[keyof T];

const reverseTables = new WeakMap<RegistryTable, Map<number, string>>();

/**
 * Name of `value` in `table` for printing: `nameOf(ExchangeType, 43) === 'IKE_INTERMEDIATE'`,
 * `nameOf(ExchangeType, 99) === 'UNKNOWN(99)'`. For aliases the first (canonical) name wins.
 */
export function nameOf(table: RegistryTable, value: number): string {
  let names = reverseTables.get(table);
  if (names === undefined) {
    // The registries are constants: build the value → first name map once per table.
    names = new Map<number, string>();
    for (const key of Object.keys(table)) {
      const v = table[key] as number;
      if (!names.has(v)) names.set(v, key);
    }
    reverseTables.set(table, names);
  }
  return names.get(value) ?? `UNKNOWN(${value})`;
}


/** True for Transform Types that carry a Key Exchange Method: KE (4) and ADDKE1..7 (RFC 9370 §2.2.1). */
export function isKeTransformType(t: number): boolean {
  return t === TransformType.KE || (t >= TransformType.ADDKE1 && t <= TransformType.ADDKE7);
}

/** True for error Notify types (RFC 7296 §3.10.1: types < 16384). */
export function isErrorNotify(t: number): boolean {
  return t < NOTIFY_STATUS_MIN;
}

/** Alias of TransformAttrType (used as `TransformAttr.KEY_LENGTH`). */
export const TransformAttr = TransformAttrType;
