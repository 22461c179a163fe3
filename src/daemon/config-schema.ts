/**
 * The one description of pqike.yaml and of its secrets file: every section and key, its type,
 * its allowed values, its default, what it means and an example. The validator
 * (src/daemon/config.ts) reads it for unknown-key detection ("did you mean"), type checks, the
 * choices of enumerated settings and the "e.g. key: value" hints of its messages; the JSON
 * Schema generator (src/daemon/config-json-schema.ts, schema/*.schema.json) reads it for the
 * editors' completion and documentation. A key is added here, and only here.
 */
import { DEFAULT_CHILD_REKEY_MS, DEFAULT_IKE_REKEY_MS } from '../engine/lifecycle.js';
import { FRAGMENT_SIZE_MAX, FRAGMENT_SIZE_MIN } from './value-checks.js';

/** One allowed word of an enumerated setting. */
export interface Choice {
  readonly value: string;
  readonly description: string;
}

/** What a key's value looks like. */
export type ValueKind =
  /** One scalar, read as text (`s.string`); `pattern` only documents the form in the schema. */
  | { readonly type: 'string'; readonly pattern?: string }
  /** One scalar or a list of them (`s.strings`); `maxItems` documents a limit the validator checks. */
  | { readonly type: 'strings'; readonly pattern?: string; readonly maxItems?: number }
  /** true/false, also yes/no and on/off (`s.bool`). */
  | { readonly type: 'bool' }
  /** One of a few words (`s.choice`). */
  | { readonly type: 'enum'; readonly choices: readonly Choice[] }
  /** 30s, 500ms, 10m, 4h, 1d; a plain number is seconds; 0 or off: none (`parseDuration`). */
  | { readonly type: 'duration'; readonly min?: 0 | 1 }
  /** A whole number in a range. */
  | { readonly type: 'integer'; readonly min: number; readonly max?: number }
  /** A mapping with the keys of `section`. */
  | { readonly type: 'section'; readonly section: SectionSpec }
  /** A mapping of names chosen by the user (connections, children, pools, secrets) to `values`. */
  | { readonly type: 'map'; readonly names?: { readonly pattern: string; readonly description: string }; readonly values: SectionValue }
  /** A key that is refused with `message` (a setting that moved). */
  | { readonly type: 'moved'; readonly message: string };

/** The value of each entry of a `map`: a section, or one string (a secret). */
export type SectionValue = { readonly type: 'section'; readonly section: SectionSpec } | { readonly type: 'string'; readonly pattern?: string; readonly description: string };

/** The `limits:` keys and the engine options they set. */
export type LimitOption =
  | 'cookieThreshold' | 'cookieThresholdIp' | 'blockThreshold' | 'halfOpenLimit' | 'halfOpenTimeoutMs' | 'cookieSecretLifetimeMs' | 'maxChildSas'
  | 'authFailuresBeforeBackoff' | 'retransmitTimeoutMs' | 'retransmitTries' | 'admissionQueue';

export interface KeySpec {
  readonly key: string;
  readonly kind: ValueKind;
  readonly description: string;
  /**
   * A value to write, in the messages ("e.g. key: example"; a list kind shows it in [ ]) and in
   * the schema's `examples`. Absent for sections and maps.
   */
  readonly example?: string | number | boolean | readonly string[];
  /** The value when the key is left out, where the configuration itself applies one. */
  readonly default?: string | number | boolean;
  /** The default as documentation only (applied by the engine, or computed), e.g. "4h". */
  readonly defaultText?: string;
  /** The schema requires it (the validator reports its absence with its own advice). */
  readonly required?: boolean;
  /** Read only with `auth: pubkey`. */
  readonly pubkey?: true;
  /** `limits:` only: the engine option this key sets. */
  readonly engineOption?: LimitOption;
}

export interface SectionSpec {
  /** What the section is for (the schema's description of it). */
  readonly description: string;
  readonly keys: readonly KeySpec[];
  /** The schema asks for at least one of these keys. */
  readonly oneOfRequired?: readonly string[];
}

const duration = (min?: 0 | 1): ValueKind => ({ type: 'duration', ...(min === undefined ? {} : { min }) });
const hours = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms / 60_000}m`);

const ACTIONS = {
  start: [
    { value: 'none', description: 'wait for the peer or for pqike up' },
    { value: 'start', description: 'initiate when the daemon starts (and after a reload)' },
    { value: 'trap', description: 'install a trap policy: the first packet that matches brings the tunnel up' },
  ],
  dpd: [
    { value: 'clear', description: 'close the Child SA' },
    { value: 'trap', description: 'install a trap policy: the next packet brings it up again' },
    { value: 'restart', description: 'initiate again at once' },
  ],
  close: [
    { value: 'none', description: 'leave it down' },
    { value: 'trap', description: 'install a trap policy: the next packet brings it up again' },
    { value: 'start', description: 'bring it up again at once' },
  ],
} as const satisfies Record<string, readonly Choice[]>;

/** `connections.<name>.children.<name>`: one Child SA (swanctl.conf `children`). */
export const CHILD: SectionSpec = {
  description: 'A Child SA: the traffic selectors it protects and its ESP proposals (swanctl.conf children.<name>).',
  keys: [
    { key: 'local_ts', kind: { type: 'strings' }, example: ['10.1.0.0/16'], description: 'Local traffic selectors: subnets (optionally [protocol/port]) on our side. Left out with vips: the virtual IP the gateway hands out.' },
    { key: 'remote_ts', kind: { type: 'strings' }, example: ['10.2.0.0/16'], description: "Remote traffic selectors: subnets on the peer's side. Left out with pools: the pools' addresses." },
    { key: 'esp_proposals', kind: { type: 'strings' }, example: ['aes256gcm16-x25519-ke1_mlkem768'], defaultText: 'aes256gcm16', description: 'ESP proposals in strongSwan syntax, first preferred; a key exchange in them (x25519-ke1_mlkem768) gives the Child SA fresh keys in CREATE_CHILD_SA (PFS, RFC 9370).' },
    { key: 'mode', kind: { type: 'enum', choices: [{ value: 'tunnel', description: "whole IP packets inside ESP between the gateways' addresses" }, { value: 'transport', description: 'ESP between the two hosts themselves, for their own traffic' }] }, default: 'tunnel', example: 'tunnel', description: 'IPsec mode of the Child SA.' },
    { key: 'start_action', kind: { type: 'enum', choices: ACTIONS.start }, default: 'none', example: 'start', description: 'What the daemon does with the child when it starts.' },
    { key: 'dpd_action', kind: { type: 'enum', choices: ACTIONS.dpd }, default: 'clear', example: 'restart', description: 'When the peer is found dead.' },
    { key: 'close_action', kind: { type: 'enum', choices: ACTIONS.close }, default: 'none', example: 'start', description: 'When the peer deletes the Child SA or its IKE SA.' },
    { key: 'rekey_time', kind: duration(), example: '1h', defaultText: hours(DEFAULT_CHILD_REKEY_MS), description: 'Rekey the Child SA this long after it was made, less up to rand_time; 0: never.' },
    { key: 'life_time', kind: duration(), example: '66m', defaultText: 'rekey_time + 10 %', description: 'Hard lifetime: the Child SA is deleted at this age; 0: never.' },
    { key: 'rand_time', kind: duration(), example: '6m', defaultText: '10 % of rekey_time', description: 'Up to this much earlier than rekey_time, at random, so that both peers do not rekey at once.' },
    { key: 'rekey_bytes', kind: { type: 'integer', min: 0 }, example: 1000000000, description: 'Rekey after this many bytes of traffic through the Child SA; 0 or left out: no byte limit.' },
    { key: 'rekey_packets', kind: { type: 'integer', min: 0 }, example: 1000000, description: 'Rekey after this many packets; 0 or left out: no packet limit.' },
    { key: 'life_bytes', kind: { type: 'integer', min: 0 }, example: 1100000000, description: 'Delete the Child SA after this many bytes.' },
    { key: 'life_packets', kind: { type: 'integer', min: 0 }, example: 1100000, description: 'Delete the Child SA after this many packets.' },
  ],
};

/** `connections.<name>`: one IKE SA and its children (swanctl.conf `connections`). */
export const CONNECTION: SectionSpec = {
  description: 'A connection: the peer, how both authenticate, the IKE proposals and the Child SAs (swanctl.conf connections.<name>).',
  oneOfRequired: ['local_addrs', 'remote_addrs'],
  keys: [
    { key: 'local_addrs', kind: { type: 'strings', maxItems: 1 }, example: ['192.0.2.1'], defaultText: '%any', description: 'Our address: one IPv4 or IPv6 address, or %any.' },
    { key: 'remote_addrs', kind: { type: 'strings', maxItems: 1 }, example: ['192.0.2.2'], defaultText: '%any', description: "The peer's address: one IPv4 or IPv6 address, or %any (a responder for whoever comes)." },
    { key: 'remote_port', kind: { type: 'integer', min: 1, max: 65535 }, default: 500, example: 500, description: "The peer's UDP port for IKE (NAT-T moves to 4500)." },
    { key: 'local_id', kind: { type: 'string' }, example: 'moon.example.org', defaultText: "local_addrs, or the certificate's subject with auth: pubkey", description: 'Our IKE identity: an FQDN (also @fqdn), user@fqdn, an IP address, a DN ("C=CH, O=pqike, CN=moon") or keyid:#<hex>.' },
    { key: 'remote_id', kind: { type: 'string' }, example: 'sun.example.org', defaultText: '%any', description: 'The identity the peer must prove, written as local_id; %any or left out: whoever authenticates.' },
    { key: 'auth', kind: { type: 'enum', choices: [{ value: 'psk', description: 'a key in the secrets file' }, { value: 'pubkey', description: 'certificates: certs, private_keys, cacerts' }] }, default: 'psk', example: 'psk', description: 'How both sides authenticate.' },
    { key: 'psk', kind: { type: 'string' }, example: 'site-b', description: 'With auth: psk, the name of a key under psk: in the secrets file (never the key itself).' },
    { key: 'ppk_id', kind: { type: 'string' }, example: 'site-b-ppk', description: 'A post-quantum preshared key (RFC 8784): its PPK_ID, a name under ppk: in the secrets file.' },
    { key: 'ppk_required', kind: { type: 'bool' }, default: false, example: true, description: 'No tunnel without a PPK (strongSwan ppk_required); otherwise a peer without one falls back to NO_PPK_AUTH.' },
    { key: 'ppk_intermediate', kind: { type: 'bool' }, default: false, example: true, description: 'RFC 9867: mix the PPK into the keys in IKE_INTERMEDIATE already, so that IKE_AUTH is protected by it too (needs ppk_id or ppk_required; RFC 8784 stays the fallback).' },
    {
      key: 'ppk_rekey',
      kind: {
        type: 'enum',
        choices: [
          { value: 'no', description: 'no PPK offered in CREATE_CHILD_SA (one the peer offers is still taken)' },
          { value: 'yes', description: 'offer the fresh PPKs (added to the secrets file since the IKE SA last took one; all if it has none) in every CREATE_CHILD_SA we start' },
          { value: 'require', description: 'as yes, and refuse (NO_PROPOSAL_CHOSEN) a CREATE_CHILD_SA of the peer without a fresh PPK; delete an SA the peer made without the one we offered' },
        ],
      },
      default: 'no',
      example: 'yes',
      description: 'RFC 9867 §3.2: a fresh PPK in new Child SAs and in rekeys, without a new IKE SA. Add the PPK to the secrets file on both sides and reload: running tunnels keep going and take it at their next rekey.',
    },
    { key: 'certs', kind: { type: 'strings' }, example: ['moonCert.pem'], pubkey: true, description: 'With auth: pubkey, our certificate, then any intermediates (PEM or DER files, relative to this file).' },
    { key: 'private_keys', kind: { type: 'strings' }, example: ['moonKey.pem'], pubkey: true, description: 'With auth: pubkey, the private key of our certificate (PEM, mode 0600).' },
    { key: 'cacerts', kind: { type: 'strings' }, example: ['caCert.pem'], pubkey: true, description: "With auth: pubkey, the CA certificates the peer's certificate must chain to." },
    { key: 'crls', kind: { type: 'strings' }, example: ['ca.crl'], pubkey: true, description: 'With auth: pubkey, certificate revocation lists of those CAs.' },
    { key: 'private_key_passphrase', kind: { type: 'string' }, example: 'moon-key', pubkey: true, description: 'With auth: pubkey and an encrypted key, a name under passphrase: in the secrets file.' },
    { key: 'proposals', kind: { type: 'strings' }, example: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], defaultText: 'aes256gcm16-prfsha384-x25519-ke1_mlkem768', description: 'IKE proposals in strongSwan syntax, first preferred: a hybrid one (X25519, then ML-KEM-768 in IKE_INTERMEDIATE, RFC 9370) and a classic one for peers without RFC 9370.' },
    { key: 'fragmentation', kind: { type: 'bool' }, default: true, example: true, description: 'Send and accept IKE fragments (RFC 7383): ML-KEM messages are larger than many paths carry.' },
    { key: 'fragment_size', kind: { type: 'integer', min: FRAGMENT_SIZE_MIN, max: FRAGMENT_SIZE_MAX }, example: 1280, defaultText: '1280', description: 'The largest IKE datagram sent when fragmenting, in octets (1280 fits IPv6 and IPv4 paths).' },
    { key: 'dpd_delay', kind: duration(), example: '30s', defaultText: 'off', description: 'Liveness check (RFC 7296 §2.4) after this long without a message from the peer; 0: none.' },
    { key: 'rekey_time', kind: duration(), example: '4h', defaultText: hours(DEFAULT_IKE_REKEY_MS), description: 'Rekey the IKE SA this long after it was made, less up to rand_time; 0: never.' },
    { key: 'life_time', kind: duration(), example: '264m', defaultText: 'rekey_time + 10 %', description: 'Hard lifetime of the IKE SA; 0: never.' },
    { key: 'rand_time', kind: duration(), example: '24m', defaultText: '10 % of rekey_time', description: 'Up to this much earlier than rekey_time, at random.' },
    { key: 'childless', kind: { type: 'enum', choices: [{ value: 'no', description: 'a Child SA in IKE_AUTH' }, { value: 'pq', description: 'no Child SA in IKE_AUTH; IKE SA rekeyed with the additional key exchanges first' }] }, default: 'no', example: 'pq', description: 'RFC 6023 / RFC 9370 §2.2.5.1: pq makes the first Child SA with keys from the post-quantum key exchanges too.' },
    { key: 'data_plane', kind: { type: 'moved', message: 'the data plane is one for the whole daemon now; move it to the top level (data_plane: auto, kernel, userspace or fake)' }, description: 'Moved to the top level of the file: data_plane is one for the whole daemon.' },
    { key: 'children', kind: { type: 'map', names: { pattern: '^.+$', description: 'the Child SA name' }, values: { type: 'section', section: CHILD } }, description: 'The Child SAs of this connection, by name.' },
    { key: 'keyingtries', kind: { type: 'integer', min: 0 }, example: 3, defaultText: '1', description: 'Attempts to set the IKE SA up before giving up; 0: keep trying for ever.' },
    { key: 'retry_delay', kind: duration(1), example: '2s', defaultText: '2s', description: 'The wait before the next attempt, doubling each time up to retry_delay_max.' },
    { key: 'retry_delay_max', kind: duration(1), example: '2m', defaultText: '2m', description: 'The longest wait between attempts.' },
    { key: 'vips', kind: { type: 'strings' }, example: ['0.0.0.0'], description: 'Ask the gateway for a virtual IP (RFC 7296 §3.15): 0.0.0.0 any IPv4 address, :: any IPv6 address, or the address wanted.' },
    { key: 'pools', kind: { type: 'strings' }, example: ['rw'], description: 'Hand out virtual IPs to the peers from these pools (defined under pools: at the top).' },
  ],
};

const POOL: SectionSpec = {
  description: 'An address pool for virtual IPs (swanctl.conf pools.<name>).',
  keys: [
    { key: 'addrs', kind: { type: 'string' }, example: '10.3.0.0/24', required: true, description: 'A prefix (network and broadcast addresses not handed out) or a range a-b.' },
    { key: 'dns', kind: { type: 'strings' }, example: ['10.3.0.53'], description: 'DNS servers sent to the clients (INTERNAL_IP4_DNS / INTERNAL_IP6_DNS).' },
  ],
};

export const DEFAULT_SOCKET = '/run/pqike/pqike.sock';

const limit = (key: string, engineOption: LimitOption, kind: 'count' | 'duration', example: string | number, description: string): KeySpec => ({
  key,
  kind: kind === 'count' ? { type: 'integer', min: 1 } : duration(1),
  example,
  defaultText: String(example),
  engineOption,
  description,
});

/** pqike.yaml as a whole. */
export const CONFIG_FILE: SectionSpec = {
  description: 'pqike daemon configuration (pqike daemon -c pqike.yaml). Proposals use strongSwan syntax; secrets live in a separate file.',
  keys: [
    { key: 'connections', required: true, kind: { type: 'map', names: { pattern: '^[A-Za-z0-9_.-]+$', description: "the connection name (letters, digits, '-', '_' and '.')" }, values: { type: 'section', section: CONNECTION } }, description: 'The connections, by name.' },
    { key: 'secrets', kind: { type: 'string' }, example: 'secrets.yaml', description: 'The secrets file (PSKs, PPKs, key passphrases), relative to this file; mode 0600.' },
    {
      key: 'log',
      kind: { type: 'section', section: { description: 'Logging: how much, and in which form (to standard error).', keys: [
        { key: 'level', kind: { type: 'enum', choices: [{ value: 'debug', description: 'everything' }, { value: 'info', description: 'SAs coming and going, refusals' }, { value: 'warn', description: 'problems only' }, { value: 'error', description: 'failures only' }] }, default: 'info', example: 'info', description: 'The least important messages logged.' },
        { key: 'format', kind: { type: 'enum', choices: [{ value: 'auto', description: 'text on a terminal, JSON lines otherwise' }, { value: 'json', description: 'JSON lines' }, { value: 'text', description: 'text lines' }] }, default: 'auto', example: 'auto', description: 'How log lines are written.' },
      ] } },
      description: 'Logging: how much, and in which form (to standard error).',
    },
    {
      key: 'control',
      kind: { type: 'section', section: { description: 'The control socket that pqike up|down|list-sas|... talk to.', keys: [
        { key: 'socket', kind: { type: 'string' }, default: DEFAULT_SOCKET, example: DEFAULT_SOCKET, description: 'The Unix socket path (relative to this file); only root can use it.' },
      ] } },
      description: 'The control socket.',
    },
    {
      key: 'metrics',
      kind: { type: 'section', section: { description: 'Prometheus metrics.', keys: [
        { key: 'listen', kind: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[0-9A-Fa-f:.]+):[0-9]{1,5}$' }, example: '127.0.0.1:9464', description: 'address:port on this host for the Prometheus text format on /metrics.' },
      ] } },
      description: 'Prometheus metrics (optional).',
    },
    { key: 'export_keys', kind: { type: 'string' }, example: '/var/lib/pqike/keys', description: 'Write the IKE and ESP keys here for Wireshark/tshark (a debugging aid: whoever reads them decrypts the traffic).' },
    { key: 'port', kind: { type: 'integer', min: 1, max: 65535 }, default: 500, example: 500, description: 'The local UDP port for IKE (NAT-T on 4500).' },
    { key: 'workers', kind: { type: 'string', pattern: '^(auto|[0-9]+)$' }, default: '0', example: 'auto', description: "Engine worker threads (strongSwan's charon.threads): auto, one per core; 0, the engine on the main thread. Each IKE SA stays on one worker, through rekeys and NAT-T moves. Changes need a restart." },
    {
      key: 'limits',
      kind: { type: 'section', section: { description: "What peers can make the daemon hold (strongSwan's names); left out: the default shown. Changes need a restart.", keys: [
        limit('cookie_threshold', 'cookieThreshold', 'count', 30, 'Half-open IKE SAs in all before a COOKIE is demanded (RFC 7296 §2.6).'),
        limit('cookie_threshold_ip', 'cookieThresholdIp', 'count', 3, 'Half-open IKE SAs held by one address before it must send a COOKIE.'),
        limit('block_threshold', 'blockThreshold', 'count', 5, "Half-open IKE SAs held by one address before its IKE_SA_INITs are dropped."),
        limit('init_limit_half_open', 'halfOpenLimit', 'count', 5000, 'Half-open IKE SAs in all; a COOKIE-proven request replaces one (the oldest of the address holding the most).'),
        limit('half_open_timeout', 'halfOpenTimeoutMs', 'duration', '30s', 'A half-open SA that does not authenticate in time is dropped.'),
        limit('cookie_lifetime', 'cookieSecretLifetimeMs', 'duration', '60s', 'A new cookie secret this often (the previous one stays valid as long).'),
        limit('max_child_sas', 'maxChildSas', 'count', 64, 'Child SAs per IKE SA; more get NO_ADDITIONAL_SAS.'),
        limit('auth_failures_before_backoff', 'authFailuresBeforeBackoff', 'count', 3, 'Failed authentications from one address before it is ignored for a back-off that doubles (1 s up to 64 s).'),
        limit('init_limit_job_load', 'admissionQueue', 'count', 256, 'Accepted IKE_SA_INITs waiting for their key exchange; more are dropped, the address holding the most half-open SAs first (charon.init_limit_job_load).'),
        limit('retransmit_timeout', 'retransmitTimeoutMs', 'duration', '1s', 'First retransmission of an unanswered request, then doubling (RFC 7296 §2.1).'),
        limit('retransmit_tries', 'retransmitTries', 'count', 5, 'Retransmissions before the peer counts as dead (dpd_action).'),
      ] } },
      description: 'Limits on what peers can make the daemon hold.',
    },
    {
      key: 'data_plane',
      kind: { type: 'enum', choices: [
        { value: 'auto', description: 'the kernel where it has ESP, our own otherwise' },
        { value: 'kernel', description: "the Linux kernel's ESP through XFRM" },
        { value: 'userspace', description: 'our ESP on a TUN device' },
        { value: 'fake', description: 'negotiate only, protect nothing' },
      ] },
      default: 'auto',
      example: 'auto',
      description: 'Where the Child SAs carry traffic.',
    },
    {
      key: 'userspace',
      kind: { type: 'section', section: { description: "The userspace data plane's TUN device.", keys: [
        { key: 'tun', kind: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' }, default: 'pqike0', example: 'pqike0', description: 'The TUN device name (up to 15 letters, digits, ".", "-" or "_").' },
        { key: 'mtu', kind: { type: 'integer', min: 576, max: 9000 }, default: 1400, example: 1400, description: 'The TUN device MTU in octets (1280 or more for IPv6); 1400 leaves room for ESP in UDP inside a 1500-octet path.' },
      ] } },
      description: "The userspace data plane's TUN device.",
    },
    { key: 'pools', kind: { type: 'map', names: { pattern: '^.+$', description: 'the pool name' }, values: { type: 'section', section: POOL } }, description: 'Address pools for virtual IPs, by name; connections name them in pools: [...].' },
  ],
};

/** The secrets file that `secrets:` names. */
export const SECRETS_FILE: SectionSpec = {
  description: 'pqike secrets file (named by secrets: in pqike.yaml); mode 0600.',
  keys: [
    { key: 'psk', kind: { type: 'map', names: { pattern: '^.+$', description: 'the name connections give in psk:' }, values: { type: 'string', description: 'The pre-shared key: text of at least 16 octets, or 0x and hex digits (e.g. from openssl rand -base64 33).' } }, description: 'Pre-shared keys by name (RFC 7296 §2.15: at least 16 octets, better 32 random ones).' },
    { key: 'ppk', kind: { type: 'map', names: { pattern: '^[A-Za-z0-9+/=._-]+$', description: 'the PPK_ID (RFC 8784 §5.1: base64 characters)' }, values: { type: 'string', description: 'The PPK: 0x and at least 64 hex digits (openssl rand -hex 32), or text of at least 32 octets.' } }, description: 'Post-quantum preshared keys (RFC 8784) by PPK_ID; at least 256 bits each.' },
    { key: 'passphrase', kind: { type: 'map', values: { type: 'string', description: 'The passphrase.' } }, description: 'Passphrases of encrypted private keys, by the name private_key_passphrase: gives.' },
  ],
};

/** The keys of `spec`, in order. */
export function keysOf(spec: SectionSpec): string[] {
  return spec.keys.map((k) => k.key);
}

/** The description of `key` in `spec`; throws if there is none (a validator reading a key not described). */
export function keySpec(spec: SectionSpec, key: string): KeySpec {
  const k = spec.keys.find((x) => x.key === key);
  if (!k) throw new Error(`configuration description: no key '${key}' in ${spec.description}`);
  return k;
}

/** The example as it follows "e.g. key:" in a message (lists without their brackets). */
export function exampleText(k: KeySpec): string {
  const e = k.example;
  if (e === undefined) return '';
  return typeof e === 'object' ? e.join(', ') : String(e);
}
