/**
 * The daemon's configuration file (YAML) and its separate secrets file: parsed and validated
 * as a whole into engine connection configs before anything is applied. Every error names the
 * file, the line and what to write instead; a file with any error is refused entirely.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode, YAMLMap } from 'yaml';
import { IdentityError, parseIdentity } from '../engine/identity.js';
import { ProposalSyntaxError, parseProposal } from '../engine/proposal-string.js';
import { TrafficSelectorError, parseTrafficSelector } from '../engine/traffic-selectors.js';
import type { ChildConfig, ConnectionConfig, EngineOptions } from '../engine/types.js';
import type { TrafficSelector } from '../wire/types.js';
import { AddressPool } from '../engine/tasks/virtual-ip-pool.js';
import { DEFAULT_CHILD_REKEY_MS, DEFAULT_IKE_REKEY_MS, lifetimes } from '../engine/lifecycle.js';
import { FRAGMENT_SIZE_ADVICE, parseFragmentSize, pskProblem } from './value-checks.js';
import { PUBKEY_KEYS, pubkeyAuthFrom } from './config-pubkey.js';
import { fixedPpkId } from '../engine/ppk.js';
import type { PubkeyAuth } from './config-pubkey.js';

export type StartAction = 'none' | 'start' | 'trap';
/** `data_plane:` — auto: the kernel's ESP where it accepts an SA, our userspace ESP otherwise. */
export type DataPlaneChoice = 'auto' | 'kernel' | 'userspace' | 'fake';

export interface DaemonConnection {
  readonly config: ConnectionConfig;
  /** Remote UDP port (default 500). */
  readonly remotePort: number;
  readonly startActions: ReadonlyMap<string, StartAction>;
  /** Canonical text of the connection's settings, to tell changed connections on reload. */
  readonly fingerprint: string;
  /** auth: pubkey: our certificate chain and the CAs we trust (for `daemon --check`). */
  readonly pubkey?: PubkeyAuth;
}

/** The engine's limits on what peers can make it hold (the `limits:` section); absent: engine default. */
export type DaemonLimits = Pick<
  EngineOptions,
  | 'cookieThreshold' | 'cookieThresholdIp' | 'blockThreshold' | 'halfOpenLimit' | 'halfOpenTimeoutMs' | 'cookieSecretLifetimeMs' | 'maxChildSas' | 'authFailuresBeforeBackoff'
  | 'retransmitTimeoutMs' | 'retransmitTries' | 'admissionQueue'
>;

export interface DaemonConfig {
  readonly file: string;
  readonly connections: readonly DaemonConnection[];
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly format: 'auto' | 'json' | 'text' };
  readonly control: { readonly socket: string };
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly exportKeys?: string;
  /** Local UDP port for IKE (default 500; NAT-T on 4500). */
  readonly port: number;
  readonly limits: DaemonLimits;
  readonly dataPlane: DataPlaneChoice;
  /** The userspace plane's TUN device (the `userspace:` section). */
  readonly userspace: { readonly tun: string; readonly mtu: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export const DEFAULT_SOCKET = '/run/pqike/pqike.sock';

/** Collects problems with their position; the first pass never throws on a bad value. */
export class Problems {
  readonly list: string[] = [];
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly text = '',
  ) {}

  /** A YAML syntax error, at its line (the parser fills `linePos` only with prettyErrors). */
  yaml(err: { pos: [number, number]; code: string; message: string }, prefix: string): void {
    // After an empty value the parser points at the end of the previous line: skip to the key.
    let at = err.pos[0];
    while (at < this.text.length && /\s/.test(this.text[at] ?? '')) at++;
    const line = this.lines.linePos(Math.min(at, Math.max(this.text.length - 1, 0))).line;
    const hint =
      err.code === 'DUPLICATE_KEY' ? ' (each setting once: remove or rename one of them)'
      : err.code === 'TAB_AS_INDENT' ? ' (indent with spaces)'
      : err.code === 'MISSING_CHAR' ? ' (a quote or bracket opened above is not closed)'
      : '';
    this.list.push(`${this.file}:${line}: ${prefix}${err.message.split('\n')[0] ?? ''}${hint}`);
  }

  at(node: YamlNode | null | undefined, message: string): void {
    const offset = node?.range?.[0];
    const pos = offset === undefined ? undefined : this.lines.linePos(offset);
    this.list.push(`${this.file}${pos ? `:${pos.line}` : ''}: ${message}`);
  }
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return (d[a.length] as number[])[b.length] ?? 0;
}

function suggest(key: string, allowed: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const a of allowed) {
    const dd = distance(key, a);
    if (dd < bestD) {
      best = a;
      bestD = dd;
    }
  }
  return best !== undefined && bestD <= Math.max(2, key.length / 3) ? ` (did you mean '${best}'?)` : ` (allowed: ${allowed.join(', ')})`;
}

/** A view of one YAML mapping that reports unknown keys and wrong types. */
export class Section {
  private readonly used = new Set<string>();
  constructor(
    readonly node: YAMLMap,
    readonly path: string,
    private readonly p: Problems,
    /** The key that names this section (`net:`), where "needs ..." problems point. */
    readonly name?: YamlNode,
  ) {}

  /** Where to report a missing setting: the section's name line. */
  get anchor(): YamlNode {
    return this.name ?? this.node;
  }

  /** The node of item `i` of a list setting (the setting itself for a single value). */
  item(key: string, i: number): YamlNode | undefined {
    const n = this.node_(key);
    return isSeq(n) ? ((n.items[i] as YamlNode | undefined) ?? n) : n;
  }

  private get(key: string): YamlNode | undefined {
    this.used.add(key);
    for (const pair of this.node.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key) return (pair.value ?? undefined) as YamlNode | undefined;
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.node.items.some((pair) => isScalar(pair.key) && String(pair.key.value) === key);
  }

  keyNode(key: string): YamlNode | undefined {
    for (const pair of this.node.items) if (isScalar(pair.key) && String(pair.key.value) === key) return pair.key as YamlNode;
    return undefined;
  }

  node_(key: string): YamlNode | undefined {
    return this.get(key);
  }

  string(key: string, hint: string): string | undefined {
    const n = this.get(key);
    if (n === undefined) return undefined;
    if (isScalar(n) && (typeof n.value === 'string' || typeof n.value === 'number')) return String(n.value);
    this.p.at(n, `${this.path}.${key} must be a single value, e.g. ${key}: ${hint}`);
    return undefined;
  }

  /** A string or a list of strings. */
  strings(key: string, hint: string): string[] | undefined {
    const n = this.get(key);
    if (n === undefined) return undefined;
    if (isScalar(n) && n.value !== null) return [String(n.value)];
    if (isSeq(n) && n.items.every((i) => isScalar(i))) return n.items.map((i) => String((i as { value: unknown }).value));
    this.p.at(n, `${this.path}.${key} must be a value or a list, e.g. ${key}: [${hint}]`);
    return undefined;
  }

  bool(key: string): boolean | undefined {
    const n = this.get(key);
    if (n === undefined) return undefined;
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === 'boolean') return v;
      if (v === 'yes' || v === 'on') return true;
      if (v === 'no' || v === 'off') return false;
    }
    this.p.at(n, `${this.path}.${key} must be yes or no`);
    return undefined;
  }

  section(key: string): Section | undefined {
    const n = this.get(key);
    if (n === undefined || n === null) return undefined;
    if (isMap(n)) return new Section(n, `${this.path}.${key}`, this.p, this.keyNode(key));
    this.p.at(n, `${this.path}.${key} must be a mapping (key: value lines indented below it)`);
    return undefined;
  }

  /** Report keys nobody asked for. */
  finish(allowed: readonly string[]): void {
    for (const pair of this.node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!allowed.includes(k)) this.p.at(pair.key as YamlNode, `unknown setting '${k}' in ${this.path}${suggest(k, allowed)}`);
    }
  }
}

/** "30s", "10m", "4h", "1d", "500ms", "0"/"off" (= none); plain numbers are seconds. */
export function parseDuration(text: string): number | undefined {
  if (text === '0' || text === 'off' || text === 'no') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return Math.round(n * mult);
}

function duration(s: Section, key: string, p: Problems): number | undefined {
  const t = s.string(key, '30s');
  if (t === undefined) return undefined;
  const ms = parseDuration(t);
  if (ms === undefined) p.at(s.node_(key), `${s.path}.${key}: '${t}' is not a duration; write e.g. 30s, 10m, 4h or 0 to turn it off`);
  return ms;
}

function address(s: Section, key: string, p: Problems, allowAny: boolean): string | undefined {
  const list = s.strings(key, '192.0.2.1');
  if (list === undefined) return undefined;
  if (list.length !== 1) {
    p.at(s.node_(key), `${s.path}.${key}: one address per connection (got ${list.length}); write ${key}: 192.0.2.1`);
    return undefined;
  }
  const a = list[0] ?? '';
  if (a === '%any' && allowAny) return a;
  if (isIP(a) === 0) {
    p.at(s.node_(key), `${s.path}.${key}: '${a}' is not an IPv4 or IPv6 address${allowAny ? " (or %any)" : ''}; write e.g. ${key}: ${key.startsWith('local') ? '192.0.2.1' : '192.0.2.2'}`);
    return undefined;
  }
  return a;
}

const TOP_KEYS = ['connections', 'secrets', 'log', 'control', 'metrics', 'export_keys', 'port', 'limits', 'data_plane', 'userspace', 'pools'] as const;

/**
 * Pools made in this process, by name and definition: a reload that keeps a pool keeps its
 * leases (the SAs of unchanged connections still hold them).
 */
const madePools = new Map<string, AddressPool>();

/**
 * `pools: { name: { addrs: 10.3.0.0/24, dns: [10.3.0.53] } }` (strongSwan swanctl.conf `pools`).
 * A pool refused here is null, so that the connections naming it are not told it is missing.
 */
function poolsFrom(s: Section | undefined, p: Problems): Map<string, AddressPool | null> {
  const out = new Map<string, AddressPool | null>();
  for (const pair of s?.node.items ?? []) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!isMap(pair.value)) {
      p.at(pair.key as YamlNode, `pool '${name}' must be a mapping, e.g. ${name}: { addrs: 10.3.0.0/24, dns: [10.3.0.53] }`);
      continue;
    }
    const ps = new Section(pair.value, `pools.${name}`, p, pair.key as YamlNode);
    out.set(name, null);
    const addrs = ps.string('addrs', '10.3.0.0/24');
    const dns = ps.strings('dns', '10.3.0.53') ?? [];
    ps.finish(['addrs', 'dns']);
    if (addrs === undefined) {
      p.at(ps.anchor, `pools.${name} needs addrs: a prefix or a range, e.g. addrs: 10.3.0.0/24`);
      continue;
    }
    // Keyed by the addresses: new DNS servers on a reload share the leases (withDns).
    const key = JSON.stringify([name, addrs]);
    try {
      const made = madePools.get(key);
      const pool = made === undefined ? new AddressPool(name, addrs, dns) : JSON.stringify(made.dns) === JSON.stringify(dns) ? made : made.withDns(dns);
      madePools.set(key, pool);
      out.set(name, pool);
    } catch (e) {
      p.at(ps.node_('addrs'), `pools.${name}: ${e instanceof Error ? e.message : String(e)}; write a prefix or a range, e.g. addrs: 10.3.0.0/24, and DNS servers as addresses`);
    }
  }
  return out;
}

/** A pool's addresses as a traffic selector (a gateway's peers, when remote_ts is left out). */
function poolSelectors(addrs: string): TrafficSelector[] {
  return [parseTrafficSelector(addrs.replace(/\s+/g, ''))];
}

/** `vips: [0.0.0.0]` (ask for any IPv4 address; :: for IPv6, or the address wanted) and `pools: [name]`. */
function virtualIpsFrom(s: Section, pools: ReadonlyMap<string, AddressPool | null>, p: Problems): { vips: string[]; pools: AddressPool[] } {
  const vips = (s.strings('vips', '0.0.0.0') ?? []).filter((v, i) => {
    if (isIP(v) !== 0) return true;
    p.at(s.item('vips', i), `${s.path}.vips: '${v}' is not an address; write 0.0.0.0 (any IPv4 address), :: (any IPv6 address) or the address wanted`);
    return false;
  });
  const named = (s.strings('pools', 'rw') ?? []).flatMap((n, i) => {
    const pool = pools.get(n);
    if (pool === undefined) p.at(s.item('pools', i), `${s.path}.pools: no pool '${n}'; define it at the top: pools: { ${n}: { addrs: 10.3.0.0/24 } }`);
    return pool ? [pool] : [];
  });
  return { vips, pools: named };
}

/**
 * `limits:` under strongSwan's names (charon.cookie_threshold, charon.init_limit_half_open,
 * ...; RFC 7296 §2.6 cookies, half-open SAs) → EngineOptions. Whole numbers or durations ≥ 1.
 */
const LIMITS: readonly { readonly key: string; readonly option: keyof DaemonLimits; readonly duration: boolean; readonly example: string }[] = [
  { key: 'cookie_threshold', option: 'cookieThreshold', duration: false, example: '30' },
  { key: 'cookie_threshold_ip', option: 'cookieThresholdIp', duration: false, example: '3' },
  { key: 'block_threshold', option: 'blockThreshold', duration: false, example: '5' },
  { key: 'init_limit_half_open', option: 'halfOpenLimit', duration: false, example: '5000' },
  { key: 'half_open_timeout', option: 'halfOpenTimeoutMs', duration: true, example: '30s' },
  { key: 'cookie_lifetime', option: 'cookieSecretLifetimeMs', duration: true, example: '60s' },
  { key: 'max_child_sas', option: 'maxChildSas', duration: false, example: '64' },
  { key: 'auth_failures_before_backoff', option: 'authFailuresBeforeBackoff', duration: false, example: '3' },
  // IKE_SA_INIT requests that passed the cookie and limit checks, waiting for their key
  // exchange; more are dropped, the address holding the most half-open SAs first
  // (charon.init_limit_job_load limits charon's job queue the same way).
  { key: 'init_limit_job_load', option: 'admissionQueue', duration: false, example: '256' },
  // RFC 7296 §2.1, §2.4: how long a request waits for its answer (doubling) and how often it is
  // sent again before the peer counts as dead (charon.retransmit_timeout, retransmit_tries).
  { key: 'retransmit_timeout', option: 'retransmitTimeoutMs', duration: true, example: '1s' },
  { key: 'retransmit_tries', option: 'retransmitTries', duration: false, example: '5' },
];

function limitsFrom(s: Section | undefined, p: Problems): DaemonLimits {
  const out: Partial<Record<keyof DaemonLimits, number>> = {};
  if (!s) return out;
  for (const { key, option, duration: isDuration, example } of LIMITS) {
    const t = s.string(key, example);
    if (t === undefined) continue;
    const n = isDuration ? parseDuration(t) : /^\s*\d+\s*$/.test(t) ? Number(t) : undefined;
    if (n === undefined || !Number.isSafeInteger(n) || n < 1) {
      const what = isDuration ? `a duration of at least 1ms, e.g. ${key}: ${example} (units ms, s, m, h, d)` : `a whole number of at least 1, e.g. ${key}: ${example}`;
      p.at(s.node_(key), `${s.path}.${key}: '${t}' is not allowed; write ${what}, or leave it out for the default`);
      continue;
    }
    out[option] = n;
  }
  s.finish(LIMITS.map((l) => l.key));
  return out;
}
const CONN_KEYS = [
  'local_addrs', 'remote_addrs', 'remote_port', 'local_id', 'remote_id', 'auth', 'psk', 'ppk_id', 'ppk_required', 'ppk_intermediate', ...PUBKEY_KEYS, 'proposals', 'fragmentation',
  'fragment_size', 'dpd_delay', 'rekey_time', 'life_time', 'rand_time', 'childless', 'data_plane', 'children',
  'keyingtries', 'retry_delay', 'retry_delay_max', 'vips', 'pools',
] as const;
const CHILD_KEYS = [
  'local_ts', 'remote_ts', 'esp_proposals', 'mode', 'start_action', 'dpd_action', 'close_action', 'rekey_time', 'life_time', 'rand_time',
  'rekey_bytes', 'rekey_packets', 'life_bytes', 'life_packets',
] as const;

/** A setting that takes one of a few words; reports anything else with the choices. */
function choice<T extends string>(s: Section, p: Problems, key: string, choices: readonly T[], fallback: T, meaning: string): T {
  const t = s.string(key, fallback) ?? fallback;
  if ((choices as readonly string[]).includes(t)) return t as T;
  p.at(s.node_(key), `${s.path}.${key}: write ${choices.slice(0, -1).join(', ')} or ${choices.at(-1) ?? ''} (${meaning})`);
  return fallback;
}

/**
 * Read the secrets file: `psk: { name: "secret" }`. It must not be readable by others.
 * undefined: refused or unreadable (reported once, not again for every psk that names it).
 */
interface Secrets {
  readonly psk: Map<string, Uint8Array>;
  /** Post-quantum preshared keys by PPK_ID (RFC 8784; `ppk: { id: "…" }`). */
  readonly ppk: Map<string, Uint8Array>;
  /** Passphrases of encrypted private keys (`passphrase: { name: "…" }`). */
  readonly passphrase: Map<string, string>;
}

function loadSecrets(file: string, p: Problems): Secrets | undefined {
  const out = new Map<string, Uint8Array>();
  const passphrases = new Map<string, string>();
  const ppks = new Map<string, Uint8Array>();
  let text: string;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) {
      p.list.push(`${file}: secrets file is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
      return undefined;
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    p.list.push(`${file}: cannot read the secrets file (${e instanceof Error ? e.message : String(e)})`);
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const sp = new Problems(file, lines, text);
  for (const err of doc.errors) sp.yaml(err, 'YAML: ');
  if (isMap(doc.contents)) {
    const top = new Section(doc.contents, 'secrets', sp);
    const psk = top.section('psk');
    if (psk) {
      for (const pair of psk.node.items) {
        const name = isScalar(pair.key) ? String(pair.key.value) : '';
        const v = pair.value;
        if (!isScalar(v) || v.value === null || String(v.value).length === 0) {
          sp.at(pair.key as YamlNode, `psk '${name}' needs a value, e.g. ${name}: "a long random string"`);
          continue;
        }
        const secret = String(v.value);
        let key: Uint8Array;
        if (secret.startsWith('0x')) {
          if (!/^0x([0-9a-fA-F]{2})+$/.test(secret)) {
            sp.at(v as YamlNode, `psk '${name}': 0x… must be hex bytes`);
            continue;
          }
          key = Uint8Array.from(Buffer.from(secret.slice(2), 'hex'));
        } else key = new TextEncoder().encode(secret);
        // Kept even when refused: the file is refused as a whole, and the connection naming it
        // must not be told the key is missing.
        const problem = pskProblem(key);
        if (problem !== undefined) sp.at(v as YamlNode, `psk '${name}' ${problem}`);
        out.set(name, key);
      }
    }
    const ppkSection = top.section('ppk');
    for (const pair of ppkSection?.node.items ?? []) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = pair.value;
      const text = isScalar(v) && v.value !== null ? String(v.value) : '';
      const key = /^0x([0-9a-fA-F]{2})+$/.test(text) ? Uint8Array.from(Buffer.from(text.slice(2), 'hex')) : new TextEncoder().encode(text);
      // RFC 8784 §3: a PPK SHOULD have at least 256 bits of entropy; we take 32 octets as the floor.
      if (key.length < 32) sp.at((isScalar(v) ? v : pair.key) as YamlNode, `ppk '${name}' has ${key.length} octets; a PPK needs at least 256 bits (RFC 8784 §3): write 0x and 64 random hex digits, e.g. from openssl rand -hex 32`);
      else if (!/^[A-Za-z0-9+/=._-]+$/.test(name)) sp.at(pair.key as YamlNode, `ppk '${name}': a PPK_ID of letters, digits and +/=._- (RFC 8784 §5.1 recommends base64 characters)`);
      ppks.set(name, key);
    }
    const pass = top.section('passphrase');
    for (const pair of pass?.node.items ?? []) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = pair.value;
      if (!isScalar(v) || v.value === null || String(v.value).length === 0) sp.at(pair.key as YamlNode, `passphrase '${name}' needs a value`);
      else passphrases.set(name, String(v.value));
    }
    top.finish(['psk', 'ppk', 'passphrase']);
  } else if (doc.errors.length === 0) sp.list.push(`${file}: expected 'psk:' with one 'name: secret' line per key`);
  p.list.push(...sp.list);
  return { psk: out, ppk: ppks, passphrase: passphrases };
}

/**
 * `virtual`: selectors a virtual IP stands for when local_ts / remote_ts are left out (a client's
 * own side is whatever address it gets; a gateway's peers are its pools).
 */
function childFrom(name: string, s: Section, p: Problems, virtual: { localTs?: TrafficSelector[]; remoteTs?: TrafficSelector[] } = {}): { child: ChildConfig; start: StartAction } | undefined {
  const before = p.list.length;
  const localTs = (s.strings('local_ts', '10.1.0.0/16') ?? []).flatMap((t, i) => {
    try {
      return [parseTrafficSelector(t)];
    } catch (e) {
      if (e instanceof TrafficSelectorError) p.at(s.item('local_ts', i), `${s.path}.local_ts: ${e.message}; write a subnet, e.g. 10.1.0.0/16`);
      return [];
    }
  });
  const remoteTs = (s.strings('remote_ts', '10.2.0.0/16') ?? []).flatMap((t, i) => {
    try {
      return [parseTrafficSelector(t)];
    } catch (e) {
      if (e instanceof TrafficSelectorError) p.at(s.item('remote_ts', i), `${s.path}.remote_ts: ${e.message}; write a subnet, e.g. 10.2.0.0/16`);
      return [];
    }
  });
  if (!s.has('local_ts')) {
    if (virtual.localTs) localTs.push(...virtual.localTs);
    else p.at(s.anchor, `${s.path} needs local_ts, e.g. local_ts: [10.1.0.0/16]`);
  }
  if (!s.has('remote_ts')) {
    if (virtual.remoteTs) remoteTs.push(...virtual.remoteTs);
    else p.at(s.anchor, `${s.path} needs remote_ts, e.g. remote_ts: [10.2.0.0/16]`);
  }
  const esp = (s.strings('esp_proposals', 'aes256gcm16-x25519-ke1_mlkem768') ?? ['aes256gcm16']).flatMap((t, i) => {
    try {
      return [parseProposal(t, 'esp')];
    } catch (e) {
      if (e instanceof ProposalSyntaxError) p.at(s.item('esp_proposals', i), `${s.path}.esp_proposals: ${e.message}; e.g. aes256gcm16-x25519-ke1_mlkem768`);
      return [];
    }
  });
  const mode = s.string('mode', 'tunnel') ?? 'tunnel';
  if (mode !== 'tunnel' && mode !== 'transport') p.at(s.node_('mode'), `${s.path}.mode: write tunnel or transport`);
  const start = choice(s, p, 'start_action', ['none', 'start', 'trap'] as const, 'none', 'what the daemon does with the child when it starts');
  const dpdAction = choice(s, p, 'dpd_action', ['clear', 'trap', 'restart'] as const, 'clear', 'when the peer is found dead');
  const closeAction = choice(s, p, 'close_action', ['none', 'trap', 'start'] as const, 'none', 'when the peer deletes the Child SA or its IKE SA');
  const num = (key: string): number | undefined => {
    const t = s.string(key, '1000000');
    if (t === undefined) return undefined;
    const n = Number(t);
    if (!Number.isInteger(n) || n < 0) p.at(s.node_(key), `${s.path}.${key}: write a whole number`);
    return n;
  };
  const lives = lifetimes(duration(s, 'rekey_time', p), duration(s, 'life_time', p), duration(s, 'rand_time', p), DEFAULT_CHILD_REKEY_MS);
  const extra = {
    rekeyBytes: num('rekey_bytes'),
    rekeyPackets: num('rekey_packets'),
    lifeBytes: num('life_bytes'),
    lifePackets: num('life_packets'),
  };
  s.finish(CHILD_KEYS);
  if (p.list.length > before) return undefined;
  const child: ChildConfig = {
    name,
    espProposals: esp,
    localTs,
    remoteTs,
    mode: mode === 'transport' ? 'transport' : 'tunnel',
    rekeyTimeMs: lives.rekeyMs,
    lifeTimeMs: lives.lifeMs,
    randTimeMs: lives.randMs,
    dpdAction,
    closeAction,
    ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)),
  };
  return { child, start };
}

/** `secrets`: undefined when the file was refused, null when the configuration names none. */
function connectionFrom(name: string, s: Section, base: string, secrets: Secrets | undefined | null, pools: ReadonlyMap<string, AddressPool | null>, p: Problems): DaemonConnection | undefined {
  const before = p.list.length;
  const vip = virtualIpsFrom(s, pools, p);
  const virtual = {
    ...(vip.vips.length > 0 ? { localTs: [...new Set(vip.vips.map((v) => (v.includes(':') ? '::/0' : '0.0.0.0/0')))].map(parseTrafficSelector) } : {}),
    ...(vip.pools.length > 0 ? { remoteTs: vip.pools.flatMap((pool) => poolSelectors(pool.addrs)) } : {}),
  };
  const localAddress = address(s, 'local_addrs', p, true) ?? '%any';
  const remoteAddress = address(s, 'remote_addrs', p, true) ?? '%any';
  if (!s.has('local_addrs') && !s.has('remote_addrs')) p.at(s.anchor, `connection '${name}' needs local_addrs and/or remote_addrs, e.g. remote_addrs: 192.0.2.2`);
  const ident = (key: string, hint: string): ReturnType<typeof parseIdentity> | undefined => {
    const t = s.string(key, hint);
    if (t === undefined || t === '%any') return undefined;
    try {
      return parseIdentity(t);
    } catch (e) {
      if (e instanceof IdentityError) p.at(s.node_(key), `${s.path}.${key}: ${e.message}`);
      return undefined;
    }
  };
  const configuredId = ident('local_id', 'moon.example.org');
  const remoteId = ident('remote_id', 'sun.example.org');
  const auth = s.string('auth', 'psk') ?? 'psk';
  if (auth !== 'psk' && auth !== 'pubkey') p.at(s.node_('auth'), `${s.path}.auth: write psk (a key in the secrets file) or pubkey (certificates: certs, private_keys, cacerts)`);
  let psk: Uint8Array | undefined;
  let pubkey: PubkeyAuth | undefined;
  if (auth === 'pubkey') {
    pubkey = pubkeyAuthFrom(s, base, secrets?.passphrase, configuredId, p);
    if (s.has('psk')) p.at(s.node_('psk'), `${s.path}.psk: auth is pubkey; remove psk, or write auth: psk`);
  } else {
    for (const k of PUBKEY_KEYS) if (s.has(k)) p.at(s.node_(k), `${s.path}.${k}: only with auth: pubkey`);
    const pskName = s.string('psk', 'name-in-secrets-file');
    if (pskName === undefined) p.at(s.anchor, `${s.path} needs psk: <name of a key in the secrets file>`);
    else {
      psk = secrets?.psk.get(pskName);
      if (secrets === null) p.at(s.node_('psk'), `${s.path}.psk: no secrets file is configured; add at the top: secrets: secrets.yaml (mode 0600, with psk: ${pskName}: "a long random string")`);
      else if (secrets && !psk) p.at(s.node_('psk'), `${s.path}.psk: no key '${pskName}' in the secrets file; add under psk: ${pskName}: "a long random string"`);
    }
  }
  const ppkId = s.string('ppk_id', 'name-in-the-secrets-ppk-section');
  const ppkRequired = s.bool('ppk_required') ?? false;
  const ppkIntermediate = s.bool('ppk_intermediate') ?? false;
  let ppk: ConnectionConfig['ppk'];
  if (ppkIntermediate && ppkId === undefined && !ppkRequired) p.at(s.node_('ppk_intermediate'), `${s.path}.ppk_intermediate: set ppk_id (or ppk_required) as well; it says which PPK to mix in IKE_INTERMEDIATE (RFC 9867)`);
  if (ppkId !== undefined || ppkRequired) {
    const all = secrets?.ppk ?? new Map<string, Uint8Array>();
    if (ppkId !== undefined && secrets && !all.has(ppkId)) p.at(s.node_('ppk_id'), `${s.path}.ppk_id: no '${ppkId}' under ppk: in the secrets file; add ${ppkId}: 0x<64 hex digits>`);
    if (ppkId === undefined && all.size === 0 && secrets) p.at(s.node_('ppk_required'), `${s.path}.ppk_required: the secrets file has no ppk: section, so no PPK can be used`);
    ppk = {
      ...(ppkId !== undefined ? { id: fixedPpkId(ppkId) } : {}),
      required: ppkRequired,
      ...(ppkIntermediate ? { intermediate: true } : {}),
      keys: new Map([...all].map(([id, key]) => [Buffer.from(fixedPpkId(id)).toString('hex'), key])),
    };
  }
  const localId = configuredId ?? pubkey?.localId ?? (localAddress !== '%any' ? parseIdentity(localAddress) : undefined);
  if (!localId && auth !== 'pubkey') p.at(s.anchor, `${s.path} needs local_id (local_addrs is %any), e.g. local_id: gw.example.org`);
  const ike = (s.strings('proposals', 'aes256gcm16-prfsha384-x25519-ke1_mlkem768') ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768']).flatMap((t, i) => {
    try {
      return [parseProposal(t, 'ike')];
    } catch (e) {
      if (e instanceof ProposalSyntaxError) p.at(s.item('proposals', i), `${s.path}.proposals: ${e.message}; e.g. aes256gcm16-prfsha384-x25519-ke1_mlkem768`);
      return [];
    }
  });
  const fragmentation = s.bool('fragmentation');
  const fragSizeText = s.string('fragment_size', '1280');
  const fragmentSize = fragSizeText === undefined ? undefined : parseFragmentSize(fragSizeText);
  if (fragSizeText !== undefined && fragmentSize === undefined) p.at(s.node_('fragment_size'), `${s.path}.fragment_size: ${FRAGMENT_SIZE_ADVICE}`);
  const portText = s.string('remote_port', '500');
  const remotePort = portText === undefined ? 500 : Number(portText);
  if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) p.at(s.node_('remote_port'), `${s.path}.remote_port: write a UDP port, e.g. 500`);
  const dpd = duration(s, 'dpd_delay', p);
  const lives = lifetimes(duration(s, 'rekey_time', p), duration(s, 'life_time', p), duration(s, 'rand_time', p), DEFAULT_IKE_REKEY_MS);
  const triesText = s.string('keyingtries', '3');
  const keyingTries = triesText === undefined ? undefined : Number(triesText);
  if (keyingTries !== undefined && (!Number.isInteger(keyingTries) || keyingTries < 0)) {
    p.at(s.node_('keyingtries'), `${s.path}.keyingtries: write how many attempts to make, e.g. 3, or 0 to keep trying for ever`);
  }
  const retryDelay = duration(s, 'retry_delay', p);
  const retryDelayMax = duration(s, 'retry_delay_max', p);
  if (retryDelay === 0 || retryDelayMax === 0) p.at(s.node_(retryDelay === 0 ? 'retry_delay' : 'retry_delay_max'), `${s.path}: a retry delay must be longer than 0, e.g. 2s`);
  const childless = s.string('childless', 'no') ?? 'no';
  if (childless !== 'no' && childless !== 'pq') p.at(s.node_('childless'), `${s.path}.childless: write no, or pq (no Child SA in IKE_AUTH; IKE SA rekeyed with the additional key exchanges first)`);
  if (s.node_('data_plane')) p.at(s.node_('data_plane'), `${s.path}.data_plane: the data plane is one for the whole daemon now; move it to the top level (data_plane: auto, kernel, userspace or fake)`);
  const childrenSection = s.section('children');
  const children: ChildConfig[] = [];
  const starts = new Map<string, StartAction>();
  if (childrenSection) {
    for (const pair of childrenSection.node.items) {
      const cname = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!isMap(pair.value)) {
        p.at(pair.key as YamlNode, `child '${cname}' must be a mapping with local_ts, remote_ts, esp_proposals, ...`);
        continue;
      }
      const c = childFrom(cname, new Section(pair.value, `${s.path}.children.${cname}`, p, pair.key as YamlNode), p, virtual);
      if (c) {
        children.push(c.child);
        starts.set(cname, c.start);
      }
    }
  }
  s.finish(CONN_KEYS);
  if (p.list.length > before || !localId || (!psk && !pubkey)) return undefined;
  const config: ConnectionConfig = {
    name,
    localAddress,
    remoteAddress,
    localId: pubkey?.localId ?? localId,
    ...(remoteId ? { remoteId } : {}),
    ...(psk ? { psk } : {}),
    ...(pubkey ? { auth: pubkey.auth } : {}),
    ...(ppk ? { ppk } : {}),
    ikeProposals: ike,
    children,
    fragmentation: fragmentation ?? true,
    ...(fragmentSize === undefined ? {} : { fragmentSize }),
    ikeRekeyTimeMs: lives.rekeyMs,
    ikeLifeTimeMs: lives.lifeMs,
    randTimeMs: lives.randMs,
    ...(dpd ? { dpdDelayMs: dpd } : {}),
    childless: childless === 'pq' ? 'pq' : 'no',
    remotePort,
    ...(keyingTries === undefined ? {} : { keyingTries }),
    ...(retryDelay === undefined ? {} : { retryDelayMs: retryDelay }),
    ...(retryDelayMax === undefined ? {} : { retryDelayMaxMs: retryDelayMax }),
    ...(vip.vips.length > 0 ? { vips: vip.vips } : {}),
    ...(vip.pools.length > 0 ? { pools: vip.pools } : {}),
  };
  const fingerprint = JSON.stringify({
    ...config,
    pools: vip.pools.map((x) => [x.name, x.addrs, x.dns]),
    auth: pubkey ? undefined : 'psk',
    ppk: ppk ? { id: ppkId, required: ppkRequired, intermediate: ppkIntermediate, keys: [...ppk.keys].map(([id, k]) => `${id}:${Buffer.from(k).toString('base64')}`) } : undefined,
    psk: psk ? Buffer.from(psk).toString('base64') : undefined,
    pubkey: pubkey ? pubkey.chain.map((c) => Buffer.from(c).toString('base64')).join(':') + '/' + Buffer.from(pubkey.auth.remote.certRequest ?? new Uint8Array(0)).toString('hex') : undefined,
    ikeProposals: ike.map((x) => x.text),
    localId: config.localId,
    children: children.map((c) => ({ ...c, espProposals: c.espProposals.map((x) => x.text), localTs: c.localTs.map((t) => Buffer.from(t.startAddr).toString('hex') + Buffer.from(t.endAddr).toString('hex') + `${t.ipProtocol}/${t.startPort}-${t.endPort}`), remoteTs: c.remoteTs.map((t) => Buffer.from(t.startAddr).toString('hex') + Buffer.from(t.endAddr).toString('hex') + `${t.ipProtocol}/${t.startPort}-${t.endPort}`) })),
    remotePort,
    starts: [...starts],
  });
  return { config, remotePort, startActions: starts, fingerprint, ...(pubkey ? { pubkey } : {}) };
}

/** Problems sorted by line within each file (files in the order they were read). */
function inFileOrder(list: readonly string[]): string[] {
  const files: string[] = [];
  const key = (problem: string): [number, number] => {
    const m = /^(.*?)(?::(\d+))?: /.exec(problem);
    const file = m?.[1] ?? '';
    if (!files.includes(file)) files.push(file);
    return [files.indexOf(file), Number(m?.[2] ?? 0)];
  };
  const keyed = list.map((problem) => ({ problem, k: key(problem) }));
  return keyed.sort((x, y) => x.k[0] - y.k[0] || x.k[1] - y.k[1]).map((x) => x.problem);
}

/** Parse and validate a configuration file; throws ConfigError listing every problem. */
export function loadConfig(path: string): DaemonConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the configuration (${e instanceof Error ? e.message : String(e)})`]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const p = new Problems(file, lines, text);
  for (const err of doc.errors) p.yaml(err, 'YAML: ');
  if (doc.errors.length > 0) throw new ConfigError(p.list);
  if (!isMap(doc.contents)) throw new ConfigError([`${file}: expected a mapping with 'connections:' at the top`]);
  const top = new Section(doc.contents, 'config', p);
  const secretsPath = top.string('secrets', '/etc/pqike/secrets.yaml');
  const secrets = secretsPath === undefined ? null : loadSecrets(resolve(dirname(file), secretsPath), p);
  const connections: DaemonConnection[] = [];
  const pools = poolsFrom(top.section('pools'), p);
  const conns = top.section('connections');
  if (!conns) p.at(doc.contents, `no 'connections:' section; add one with a connection name and its settings`);
  else {
    for (const pair of conns.node.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) p.at(pair.key as YamlNode, `connection name '${name}' may use letters, digits, '-', '_' and '.' only`);
      if (!isMap(pair.value)) {
        p.at(pair.key as YamlNode, `connection '${name}' must be a mapping of settings`);
        continue;
      }
      const c = connectionFrom(name, new Section(pair.value, `connections.${name}`, p, pair.key as YamlNode), dirname(file), secrets, pools, p);
      if (c) connections.push(c);
    }
  }
  const log = top.section('log');
  const level = log?.string('level', 'info') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) p.at(log?.node_('level'), `log.level: write debug, info, warn or error`);
  const format = log?.string('format', 'auto') ?? 'auto';
  if (!['auto', 'json', 'text'].includes(format)) p.at(log?.node_('format'), `log.format: write auto, json or text`);
  log?.finish(['level', 'format']);
  const control = top.section('control');
  const socket = control?.string('socket', DEFAULT_SOCKET) ?? DEFAULT_SOCKET;
  control?.finish(['socket']);
  const metricsSection = top.section('metrics');
  let metrics: { host: string; port: number } | undefined;
  if (metricsSection) {
    const listen = metricsSection.string('listen', '127.0.0.1:9464');
    const m = listen === undefined ? null : /^(.*):(\d+)$/.exec(listen);
    const host = m?.[1]?.replace(/^\[|\]$/g, '');
    if (!m || !host || isIP(host) === 0 || Number(m[2]) > 65535) p.at(metricsSection.node_('listen'), `metrics.listen: write address:port on this host, e.g. 127.0.0.1:9464`);
    else metrics = { host, port: Number(m[2]) };
    metricsSection.finish(['listen']);
  }
  const limits = limitsFrom(top.section('limits'), p);
  const exportKeys = top.string('export_keys', '/var/lib/pqike/keys');
  const portText = top.string('port', '500');
  const port = portText === undefined ? 500 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) p.at(top.node_('port'), 'port: write the local UDP port for IKE, e.g. 500');
  const dataPlane = choice<DataPlaneChoice>(top, p, 'data_plane', ['auto', 'kernel', 'userspace', 'fake'], 'auto', 'auto: the kernel where it has ESP, our own otherwise; fake: negotiate only, protect nothing');
  const us = top.section('userspace');
  const tun = us?.string('tun', 'pqike0') ?? 'pqike0';
  // IFNAMSIZ is 16 with the terminating NUL (linux/if.h).
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tun)) p.at(us?.node_('tun'), 'userspace.tun: write a network device name of up to 15 letters, digits, ".", "-" or "_", e.g. pqike0');
  const mtuText = us?.string('mtu', '1400') ?? '1400';
  const mtu = Number(mtuText);
  // RFC 791/8200: 576 for IPv4 is the least any host takes; IPv6 needs 1280 on every link.
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000) p.at(us?.node_('mtu'), 'userspace.mtu: write the TUN device MTU in octets, 576..9000 (1280 or more for IPv6), e.g. 1400');
  us?.finish(['tun', 'mtu']);
  top.finish(TOP_KEYS);
  if (p.list.length > 0) throw new ConfigError(inFileOrder(p.list));
  return {
    file,
    connections,
    log: { level: level as DaemonConfig['log']['level'], format: format as DaemonConfig['log']['format'] },
    control: { socket: resolve(dirname(file), socket) },
    ...(metrics ? { metrics } : {}),
    ...(exportKeys ? { exportKeys: resolve(dirname(file), exportKeys) } : {}),
    port,
    limits,
    dataPlane,
    userspace: { tun, mtu },
  };
}
