/**
 * The daemon's configuration file (YAML) and its separate secrets file: parsed and validated
 * as a whole into engine connection configs before anything is applied. Every error names the
 * file, the line and what to write instead; a file with any error is refused entirely.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
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
import { CONFIG_FILE, CONNECTION, DEFAULT_SOCKET, SECRETS_FILE, exampleText, keySpec, keysOf } from './config-schema.js';
import type { KeySpec, LimitOption, SectionSpec, SectionValue, ValueKind } from './config-schema.js';

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
  /**
   * The same without the PPK values: equal shapes with different fingerprints are fresh PPKs
   * (RFC 9867 §3.2), which a reload hands to the running SAs instead of replacing them.
   */
  readonly shape: string;
  /** auth: pubkey: our certificate chain and the CAs we trust (for `daemon --check`). */
  readonly pubkey?: PubkeyAuth;
}

/** The engine's limits on what peers can make it hold (the `limits:` section); absent: engine default. */
export type DaemonLimits = Pick<EngineOptions, LimitOption>;

export interface DaemonConfig {
  readonly file: string;
  readonly connections: readonly DaemonConnection[];
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly format: 'auto' | 'json' | 'text' };
  readonly control: { readonly socket: string };
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly exportKeys?: string;
  /** Local UDP port for IKE (default 500; NAT-T on 4500). */
  readonly port: number;
  /** Engine worker threads; 0: the engine runs on the main thread (src/daemon/worker-pool.ts). */
  readonly workers: number;
  readonly limits: DaemonLimits;
  readonly dataPlane: DataPlaneChoice;
  /** The userspace plane's TUN device (the `userspace:` section). */
  readonly userspace: { readonly tun: string; readonly mtu: number };
}

/** At most this many engine workers (shard.ts marks SPIs with the worker in one octet). */
export const MAX_WORKERS = 64;

/** `workers:` — auto (one per core, availableParallelism()) or a count 0..MAX_WORKERS. */
function workersFrom(text: string, node: YamlNode | undefined, p: Problems): number {
  if (text === 'auto') return Math.min(MAX_WORKERS, availableParallelism());
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (Number.isInteger(n) && n <= MAX_WORKERS) return n;
  p.at(node, `workers: write auto (one per core) or a number of worker threads 0..${MAX_WORKERS}, e.g. workers: 2`);
  return 0;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export { DEFAULT_SOCKET };

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

type KindName = ValueKind['type'];

/** The accessors of Section and the kinds of key each may read (a mismatch is a bug in this file). */
function expectKind(spec: SectionSpec, key: string, path: string, kinds: readonly KindName[]): KeySpec {
  const k = keySpec(spec, key);
  if (!kinds.includes(k.kind.type)) throw new Error(`configuration description: ${path}.${key} is described as ${k.kind.type}, read as ${kinds.join('/')}`);
  return k;
}

/**
 * A view of one YAML mapping described by `spec` (src/daemon/config-schema.ts): it reports
 * unknown keys and wrong types, with the description's examples as hints.
 */
export class Section {
  private readonly used = new Set<string>();
  constructor(
    readonly spec: SectionSpec,
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
    keySpec(this.spec, key);
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

  /** One value (a string, an enumerated word, a duration or a number), as text. */
  string(key: string): string | undefined {
    const k = expectKind(this.spec, key, this.path, ['string', 'enum', 'duration', 'integer']);
    const n = this.get(key);
    if (n === undefined) return undefined;
    if (isScalar(n) && (typeof n.value === 'string' || typeof n.value === 'number')) return String(n.value);
    this.p.at(n, `${this.path}.${key} must be a single value, e.g. ${key}: ${exampleText(k)}`);
    return undefined;
  }

  /** A string or a list of strings. */
  strings(key: string): string[] | undefined {
    const k = expectKind(this.spec, key, this.path, ['strings']);
    const n = this.get(key);
    if (n === undefined) return undefined;
    if (isScalar(n) && n.value !== null) return [String(n.value)];
    if (isSeq(n) && n.items.every((i) => isScalar(i))) return n.items.map((i) => String((i as { value: unknown }).value));
    this.p.at(n, `${this.path}.${key} must be a value or a list, e.g. ${key}: [${exampleText(k)}]`);
    return undefined;
  }

  bool(key: string): boolean | undefined {
    expectKind(this.spec, key, this.path, ['bool']);
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

  /**
   * An enumerated setting: one of the description's choices, else reported with all of them
   * and what each means; left out (or refused), the description's default.
   */
  choice<T extends string>(key: string): T {
    const k = expectKind(this.spec, key, this.path, ['enum']);
    const choices = k.kind.type === 'enum' ? k.kind.choices : [];
    const fallback = String(k.default ?? choices[0]?.value ?? '');
    const t = this.string(key) ?? fallback;
    if (choices.some((c) => c.value === t)) return t as T;
    const words = choices.map((c) => c.value);
    const said = k.description.replace(/\.$/, '');
    const meaning = /^[A-Z][a-z]/.test(said) ? said.charAt(0).toLowerCase() + said.slice(1) : said;
    this.p.at(this.node_(key), `${this.path}.${key}: write ${words.slice(0, -1).join(', ')} or ${words.at(-1) ?? ''} (${meaning}) — ${choices.map((c) => `${c.value}: ${c.description}`).join('; ')}`);
    return fallback as T;
  }

  /**
   * A whole number in the description's range (Number() syntax, as YAML numbers are), else
   * `advice` is reported; undefined when left out or refused.
   */
  integer(key: string, advice: string, label = `${this.path}.${key}`): number | undefined {
    const k = expectKind(this.spec, key, this.path, ['integer']);
    const t = this.string(key);
    if (t === undefined) return undefined;
    const n = Number(t);
    const min = k.kind.type === 'integer' ? k.kind.min : 0;
    const max = k.kind.type === 'integer' ? (k.kind.max ?? Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER;
    if (t.trim() !== '' && Number.isSafeInteger(n) && n >= min && n <= max) return n;
    this.p.at(this.node_(key), `${label}: ${advice}`);
    return undefined;
  }

  section(key: string): Section | undefined {
    const k = expectKind(this.spec, key, this.path, ['section']);
    const n = this.mapping(key);
    return n && k.kind.type === 'section' ? new Section(k.kind.section, n, `${this.path}.${key}`, this.p, this.keyNode(key)) : undefined;
  }

  /** A mapping of user-chosen names (connections, children, pools, secrets). */
  map(key: string): NamedEntries | undefined {
    const k = expectKind(this.spec, key, this.path, ['map']);
    const n = this.mapping(key);
    return n && k.kind.type === 'map' ? new NamedEntries(k.kind.values, n, this.p) : undefined;
  }

  private mapping(key: string): YAMLMap | undefined {
    const n = this.get(key);
    if (n === undefined || n === null) return undefined;
    if (isMap(n)) return n;
    this.p.at(n, `${this.path}.${key} must be a mapping (key: value lines indented below it)`);
    return undefined;
  }

  /** A setting that moved elsewhere: reported with where it went. */
  moved(key: string): void {
    const k = expectKind(this.spec, key, this.path, ['moved']);
    const n = this.get(key);
    if (n !== undefined && k.kind.type === 'moved') this.p.at(n, `${this.path}.${key}: ${k.kind.message}`);
  }

  /** Report keys the description does not have. */
  finish(): void {
    const allowed = keysOf(this.spec);
    for (const pair of this.node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!allowed.includes(k)) this.p.at(pair.key as YamlNode, `unknown setting '${k}' in ${this.path}${suggest(k, allowed)}`);
    }
  }
}

/** The entries of a mapping of names (`connections:`, `children:`, `pools:`, `psk:`, ...). */
export class NamedEntries {
  constructor(
    readonly values: SectionValue,
    readonly node: YAMLMap,
    private readonly p: Problems,
  ) {}

  /** Each entry: its name, the name's node and its value. */
  *entries(): Generator<{ readonly name: string; readonly key: YamlNode; readonly value: unknown }> {
    for (const pair of this.node.items) yield { name: isScalar(pair.key) ? String(pair.key.value) : '', key: pair.key as YamlNode, value: pair.value };
  }

  /** The section of one entry (the values are sections), or undefined with `notAMapping` reported. */
  section(entry: { readonly key: YamlNode; readonly value: unknown }, path: string, notAMapping: string): Section | undefined {
    if (this.values.type !== 'section') throw new Error(`configuration description: ${path} is not a section`);
    if (!isMap(entry.value)) {
      this.p.at(entry.key, notAMapping);
      return undefined;
    }
    return new Section(this.values.section, entry.value, path, this.p, entry.key);
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
  const t = s.string(key);
  if (t === undefined) return undefined;
  const ms = parseDuration(t);
  if (ms === undefined) p.at(s.node_(key), `${s.path}.${key}: '${t}' is not a duration; write e.g. 30s, 10m, 4h or 0 to turn it off`);
  return ms;
}

function address(s: Section, key: string, p: Problems, allowAny: boolean): string | undefined {
  const list = s.strings(key);
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

/**
 * Pools made in this process, by name and definition: a reload that keeps a pool keeps its
 * leases (the SAs of unchanged connections still hold them).
 */
const madePools = new Map<string, AddressPool>();

/**
 * `pools: { name: { addrs: 10.3.0.0/24, dns: [10.3.0.53] } }` (strongSwan swanctl.conf `pools`).
 * A pool refused here is null, so that the connections naming it are not told it is missing.
 */
function poolsFrom(s: NamedEntries | undefined, p: Problems): Map<string, AddressPool | null> {
  const out = new Map<string, AddressPool | null>();
  for (const entry of s?.entries() ?? []) {
    const name = entry.name;
    const ps = s?.section(entry, `pools.${name}`, `pool '${name}' must be a mapping, e.g. ${name}: { addrs: 10.3.0.0/24, dns: [10.3.0.53] }`);
    if (!ps) continue;
    out.set(name, null);
    const addrs = ps.string('addrs');
    const dns = ps.strings('dns') ?? [];
    ps.finish();
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
  const vips = (s.strings('vips') ?? []).filter((v, i) => {
    if (isIP(v) !== 0) return true;
    p.at(s.item('vips', i), `${s.path}.vips: '${v}' is not an address; write 0.0.0.0 (any IPv4 address), :: (any IPv6 address) or the address wanted`);
    return false;
  });
  const named = (s.strings('pools') ?? []).flatMap((n, i) => {
    const pool = pools.get(n);
    if (pool === undefined) p.at(s.item('pools', i), `${s.path}.pools: no pool '${n}'; define it at the top: pools: { ${n}: { addrs: 10.3.0.0/24 } }`);
    return pool ? [pool] : [];
  });
  return { vips, pools: named };
}

/** The description of the key at `path` (through sections). */
function describedAt(spec: SectionSpec, path: readonly string[]): KeySpec {
  const [first, ...rest] = path;
  const k = keySpec(spec, first ?? '');
  if (rest.length === 0) return k;
  if (k.kind.type !== 'section') throw new Error(`configuration description: ${path.join('.')}: ${k.key} is not a section`);
  return describedAt(k.kind.section, rest);
}

/** The default the description gives the key at `path` (applied when it is left out). */
function defaultOf<T extends string | number | boolean>(spec: SectionSpec, ...path: string[]): T {
  const d = describedAt(spec, path).default;
  if (d === undefined) throw new Error(`configuration description: ${path.join('.')} has no default`);
  return d as T;
}

/** The form the description gives a string key at `path`. */
function stringPattern(spec: SectionSpec, ...path: string[]): RegExp {
  const k = describedAt(spec, path).kind;
  return new RegExp(k.type === 'string' && k.pattern !== undefined ? k.pattern : '');
}

/** The names a map allows (connection names, PPK_IDs), from the description. */
function namePattern(spec: SectionSpec, key: string): RegExp {
  const k = keySpec(spec, key);
  return new RegExp(k.kind.type === 'map' && k.kind.names ? k.kind.names.pattern : '');
}

/**
 * `limits:` under strongSwan's names (charon.cookie_threshold, charon.init_limit_half_open,
 * ...; RFC 7296 §2.6 cookies, half-open SAs) → EngineOptions: the keys, their engine options
 * and examples are in the description (config-schema.ts). Whole numbers or durations ≥ 1.
 */
function limitsFrom(s: Section | undefined, p: Problems): DaemonLimits {
  const out: Partial<Record<keyof DaemonLimits, number>> = {};
  if (!s) return out;
  for (const spec of s.spec.keys) {
    const { key, engineOption } = spec;
    if (engineOption === undefined) throw new Error(`configuration description: limits.${key} names no engine option`);
    const isDuration = spec.kind.type === 'duration';
    const t = s.string(key);
    if (t === undefined) continue;
    const n = isDuration ? parseDuration(t) : /^\s*\d+\s*$/.test(t) ? Number(t) : undefined;
    if (n === undefined || !Number.isSafeInteger(n) || n < 1) {
      const example = exampleText(spec);
      const what = isDuration ? `a duration of at least 1ms, e.g. ${key}: ${example} (units ms, s, m, h, d)` : `a whole number of at least 1, e.g. ${key}: ${example}`;
      p.at(s.node_(key), `${s.path}.${key}: '${t}' is not allowed; write ${what}, or leave it out for the default`);
      continue;
    }
    out[engineOption] = n;
  }
  s.finish();
  return out;
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
    const top = new Section(SECRETS_FILE, doc.contents, 'secrets', sp);
    const psk = top.map('psk');
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
    const ppkSection = top.map('ppk');
    const ppkName = namePattern(SECRETS_FILE, 'ppk');
    for (const pair of ppkSection?.node.items ?? []) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = pair.value;
      const text = isScalar(v) && v.value !== null ? String(v.value) : '';
      const key = /^0x([0-9a-fA-F]{2})+$/.test(text) ? Uint8Array.from(Buffer.from(text.slice(2), 'hex')) : new TextEncoder().encode(text);
      // RFC 8784 §3: a PPK SHOULD have at least 256 bits of entropy; we take 32 octets as the floor.
      if (key.length < 32) sp.at((isScalar(v) ? v : pair.key) as YamlNode, `ppk '${name}' has ${key.length} octets; a PPK needs at least 256 bits (RFC 8784 §3): write 0x and 64 random hex digits, e.g. from openssl rand -hex 32`);
      else if (!ppkName.test(name)) sp.at(pair.key as YamlNode, `ppk '${name}': a PPK_ID of letters, digits and +/=._- (RFC 8784 §5.1 recommends base64 characters)`);
      ppks.set(name, key);
    }
    const pass = top.map('passphrase');
    for (const pair of pass?.node.items ?? []) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = pair.value;
      if (!isScalar(v) || v.value === null || String(v.value).length === 0) sp.at(pair.key as YamlNode, `passphrase '${name}' needs a value`);
      else passphrases.set(name, String(v.value));
    }
    top.finish();
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
  const localTs = (s.strings('local_ts') ?? []).flatMap((t, i) => {
    try {
      return [parseTrafficSelector(t)];
    } catch (e) {
      if (e instanceof TrafficSelectorError) p.at(s.item('local_ts', i), `${s.path}.local_ts: ${e.message}; write a subnet, e.g. 10.1.0.0/16`);
      return [];
    }
  });
  const remoteTs = (s.strings('remote_ts') ?? []).flatMap((t, i) => {
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
  const esp = (s.strings('esp_proposals') ?? ['aes256gcm16']).flatMap((t, i) => {
    try {
      return [parseProposal(t, 'esp')];
    } catch (e) {
      if (e instanceof ProposalSyntaxError) p.at(s.item('esp_proposals', i), `${s.path}.esp_proposals: ${e.message}; e.g. aes256gcm16-x25519-ke1_mlkem768`);
      return [];
    }
  });
  const mode = s.choice<'tunnel' | 'transport'>('mode');
  const start = s.choice<StartAction>('start_action');
  const dpdAction = s.choice<'clear' | 'trap' | 'restart'>('dpd_action');
  const closeAction = s.choice<'none' | 'trap' | 'start'>('close_action');
  const num = (key: string): number | undefined => s.integer(key, `write a whole number, e.g. ${key}: ${exampleText(keySpec(s.spec, key))}`);
  const lives = lifetimes(duration(s, 'rekey_time', p), duration(s, 'life_time', p), duration(s, 'rand_time', p), DEFAULT_CHILD_REKEY_MS);
  const extra = {
    rekeyBytes: num('rekey_bytes'),
    rekeyPackets: num('rekey_packets'),
    lifeBytes: num('life_bytes'),
    lifePackets: num('life_packets'),
  };
  s.finish();
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
  const ident = (key: string): ReturnType<typeof parseIdentity> | undefined => {
    const t = s.string(key);
    if (t === undefined || t === '%any') return undefined;
    try {
      return parseIdentity(t);
    } catch (e) {
      if (e instanceof IdentityError) p.at(s.node_(key), `${s.path}.${key}: ${e.message}`);
      return undefined;
    }
  };
  const configuredId = ident('local_id');
  const remoteId = ident('remote_id');
  const auth = s.choice<'psk' | 'pubkey'>('auth');
  let psk: Uint8Array | undefined;
  let pubkey: PubkeyAuth | undefined;
  if (auth === 'pubkey') {
    pubkey = pubkeyAuthFrom(s, base, secrets?.passphrase, configuredId, p);
    if (s.has('psk')) p.at(s.node_('psk'), `${s.path}.psk: auth is pubkey; remove psk, or write auth: psk`);
  } else {
    for (const k of PUBKEY_KEYS) if (s.has(k)) p.at(s.node_(k), `${s.path}.${k}: only with auth: pubkey`);
    const pskName = s.string('psk');
    if (pskName === undefined) p.at(s.anchor, `${s.path} needs psk: <name of a key in the secrets file>`);
    else {
      psk = secrets?.psk.get(pskName);
      if (secrets === null) p.at(s.node_('psk'), `${s.path}.psk: no secrets file is configured; add at the top: secrets: secrets.yaml (mode 0600, with psk: ${pskName}: "a long random string")`);
      else if (secrets && !psk) p.at(s.node_('psk'), `${s.path}.psk: no key '${pskName}' in the secrets file; add under psk: ${pskName}: "a long random string"`);
    }
  }
  const ppkId = s.string('ppk_id');
  const ppkRequired = s.bool('ppk_required') ?? defaultOf<boolean>(CONNECTION, 'ppk_required');
  const ppkIntermediate = s.bool('ppk_intermediate') ?? defaultOf<boolean>(CONNECTION, 'ppk_intermediate');
  const ppkRekey = s.choice<'no' | 'yes' | 'require'>('ppk_rekey') ?? 'no';
  let ppk: ConnectionConfig['ppk'];
  if (ppkIntermediate && ppkId === undefined && !ppkRequired) p.at(s.node_('ppk_intermediate'), `${s.path}.ppk_intermediate: set ppk_id (or ppk_required) as well; it says which PPK to mix in IKE_INTERMEDIATE (RFC 9867)`);
  if (ppkId !== undefined || ppkRequired || ppkRekey !== 'no') {
    const all = secrets?.ppk ?? new Map<string, Uint8Array>();
    if (ppkId !== undefined && secrets && !all.has(ppkId)) p.at(s.node_('ppk_id'), `${s.path}.ppk_id: no '${ppkId}' under ppk: in the secrets file; add ${ppkId}: 0x<64 hex digits>`);
    if (ppkId === undefined && all.size === 0 && secrets) p.at(s.node_(ppkRequired ? 'ppk_required' : 'ppk_rekey'), `${s.path}.${ppkRequired ? 'ppk_required' : 'ppk_rekey'}: the secrets file has no ppk: section, so no PPK can be used`);
    ppk = {
      ...(ppkId !== undefined ? { id: fixedPpkId(ppkId) } : {}),
      required: ppkRequired,
      ...(ppkIntermediate ? { intermediate: true } : {}),
      ...(ppkRekey !== 'no' ? { rekey: ppkRekey } : {}),
      keys: new Map([...all].map(([id, key]) => [Buffer.from(fixedPpkId(id)).toString('hex'), key])),
    };
  }
  const localId = configuredId ?? pubkey?.localId ?? (localAddress !== '%any' ? parseIdentity(localAddress) : undefined);
  if (!localId && auth !== 'pubkey') p.at(s.anchor, `${s.path} needs local_id (local_addrs is %any), e.g. local_id: gw.example.org`);
  const ike = (s.strings('proposals') ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768']).flatMap((t, i) => {
    try {
      return [parseProposal(t, 'ike')];
    } catch (e) {
      if (e instanceof ProposalSyntaxError) p.at(s.item('proposals', i), `${s.path}.proposals: ${e.message}; e.g. aes256gcm16-prfsha384-x25519-ke1_mlkem768`);
      return [];
    }
  });
  const fragmentation = s.bool('fragmentation');
  const fragSizeText = s.string('fragment_size');
  const fragmentSize = fragSizeText === undefined ? undefined : parseFragmentSize(fragSizeText);
  if (fragSizeText !== undefined && fragmentSize === undefined) p.at(s.node_('fragment_size'), `${s.path}.fragment_size: ${FRAGMENT_SIZE_ADVICE}`);
  const remotePort = s.integer('remote_port', 'write a UDP port, e.g. 500') ?? defaultOf<number>(CONNECTION, 'remote_port');
  const dpd = duration(s, 'dpd_delay', p);
  const lives = lifetimes(duration(s, 'rekey_time', p), duration(s, 'life_time', p), duration(s, 'rand_time', p), DEFAULT_IKE_REKEY_MS);
  const keyingTries = s.integer('keyingtries', 'write how many attempts to make, e.g. 3, or 0 to keep trying for ever');
  const retryDelay = duration(s, 'retry_delay', p);
  const retryDelayMax = duration(s, 'retry_delay_max', p);
  if (retryDelay === 0 || retryDelayMax === 0) p.at(s.node_(retryDelay === 0 ? 'retry_delay' : 'retry_delay_max'), `${s.path}: a retry delay must be longer than 0, e.g. 2s`);
  const childless = s.choice<'no' | 'pq'>('childless');
  s.moved('data_plane');
  const childrenSection = s.map('children');
  const children: ChildConfig[] = [];
  const starts = new Map<string, StartAction>();
  if (childrenSection) {
    for (const entry of childrenSection.entries()) {
      const cname = entry.name;
      const cs = childrenSection.section(entry, `${s.path}.children.${cname}`, `child '${cname}' must be a mapping with local_ts, remote_ts, esp_proposals, ...`);
      const c = cs && childFrom(cname, cs, p, virtual);
      if (c) {
        children.push(c.child);
        starts.set(cname, c.start);
      }
    }
  }
  s.finish();
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
    fragmentation: fragmentation ?? defaultOf<boolean>(CONNECTION, 'fragmentation'),
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
  const ppkSettings = ppk ? { id: ppkId, required: ppkRequired, intermediate: ppkIntermediate, rekey: ppkRekey } : undefined;
  const described = {
    ...config,
    pools: vip.pools.map((x) => [x.name, x.addrs, x.dns]),
    auth: pubkey ? undefined : 'psk',
    ppk: ppk ? { ...ppkSettings, keys: [...ppk.keys].map(([id, k]) => `${id}:${Buffer.from(k).toString('base64')}`) } : undefined,
    psk: psk ? Buffer.from(psk).toString('base64') : undefined,
    pubkey: pubkey ? pubkey.chain.map((c) => Buffer.from(c).toString('base64')).join(':') + '/' + Buffer.from(pubkey.auth.remote.certRequest ?? new Uint8Array(0)).toString('hex') : undefined,
    ikeProposals: ike.map((x) => x.text),
    localId: config.localId,
    children: children.map((c) => ({ ...c, espProposals: c.espProposals.map((x) => x.text), localTs: c.localTs.map((t) => Buffer.from(t.startAddr).toString('hex') + Buffer.from(t.endAddr).toString('hex') + `${t.ipProtocol}/${t.startPort}-${t.endPort}`), remoteTs: c.remoteTs.map((t) => Buffer.from(t.startAddr).toString('hex') + Buffer.from(t.endAddr).toString('hex') + `${t.ipProtocol}/${t.startPort}-${t.endPort}`) })),
    remotePort,
    starts: [...starts],
  };
  const fingerprint = JSON.stringify(described);
  const shape = JSON.stringify({ ...described, ppk: ppkSettings });
  return { config, remotePort, startActions: starts, fingerprint, shape, ...(pubkey ? { pubkey } : {}) };
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
  const top = new Section(CONFIG_FILE, doc.contents, 'config', p);
  const secretsPath = top.string('secrets');
  const secrets = secretsPath === undefined ? null : loadSecrets(resolve(dirname(file), secretsPath), p);
  const connections: DaemonConnection[] = [];
  const pools = poolsFrom(top.map('pools'), p);
  const conns = top.map('connections');
  const connName = namePattern(CONFIG_FILE, 'connections');
  if (!conns) p.at(doc.contents, `no 'connections:' section; add one with a connection name and its settings`);
  else {
    for (const entry of conns.entries()) {
      const name = entry.name;
      if (!connName.test(name)) p.at(entry.key, `connection name '${name}' may use letters, digits, '-', '_' and '.' only`);
      const cs = conns.section(entry, `connections.${name}`, `connection '${name}' must be a mapping of settings`);
      const c = cs && connectionFrom(name, cs, dirname(file), secrets, pools, p);
      if (c) connections.push(c);
    }
  }
  const log = top.section('log');
  const level = log?.choice<DaemonConfig['log']['level']>('level') ?? defaultOf<DaemonConfig['log']['level']>(CONFIG_FILE, 'log', 'level');
  const format = log?.choice<DaemonConfig['log']['format']>('format') ?? defaultOf<DaemonConfig['log']['format']>(CONFIG_FILE, 'log', 'format');
  log?.finish();
  const control = top.section('control');
  const socket = control?.string('socket') ?? defaultOf<string>(CONFIG_FILE, 'control', 'socket');
  control?.finish();
  const metricsSection = top.section('metrics');
  let metrics: { host: string; port: number } | undefined;
  if (metricsSection) {
    const listen = metricsSection.string('listen');
    const m = listen === undefined ? null : /^(.*):(\d+)$/.exec(listen);
    const host = m?.[1]?.replace(/^\[|\]$/g, '');
    if (!m || !host || isIP(host) === 0 || Number(m[2]) > 65535) p.at(metricsSection.node_('listen'), `metrics.listen: write address:port on this host, e.g. 127.0.0.1:9464`);
    else metrics = { host, port: Number(m[2]) };
    metricsSection.finish();
  }
  const limits = limitsFrom(top.section('limits'), p);
  const exportKeys = top.string('export_keys');
  const port = top.integer('port', 'write the local UDP port for IKE, e.g. 500', 'port') ?? defaultOf<number>(CONFIG_FILE, 'port');
  const dataPlane = top.choice<DataPlaneChoice>('data_plane');
  // PQIKE_WORKERS: the default for files that do not say (a test run of every suite with workers).
  const workers = workersFrom(top.string('workers') ?? process.env['PQIKE_WORKERS'] ?? defaultOf<string>(CONFIG_FILE, 'workers'), top.node_('workers'), p);
  const us = top.section('userspace');
  const tun = us?.string('tun') ?? defaultOf<string>(CONFIG_FILE, 'userspace', 'tun');
  // IFNAMSIZ is 16 with the terminating NUL (linux/if.h).
  if (!stringPattern(CONFIG_FILE, 'userspace', 'tun').test(tun)) p.at(us?.node_('tun'), 'userspace.tun: write a network device name of up to 15 letters, digits, ".", "-" or "_", e.g. pqike0');
  // RFC 791/8200: 576 for IPv4 is the least any host takes; IPv6 needs 1280 on every link.
  const mtu = us?.integer('mtu', 'write the TUN device MTU in octets, 576..9000 (1280 or more for IPv6), e.g. 1400', 'userspace.mtu') ?? defaultOf<number>(CONFIG_FILE, 'userspace', 'mtu');
  us?.finish();
  top.finish();
  if (p.list.length > 0) throw new ConfigError(inFileOrder(p.list));
  return {
    file,
    connections,
    log: { level, format },
    control: { socket: resolve(dirname(file), socket) },
    ...(metrics ? { metrics } : {}),
    ...(exportKeys ? { exportKeys: resolve(dirname(file), exportKeys) } : {}),
    port,
    workers,
    limits,
    dataPlane,
    userspace: { tun, mtu },
  };
}
