/**
 * Every `pqike` verb with its arguments and options: the one table that the parser
 * (node:util parseArgs, strict), the help texts (`pqike <verb> --help`, `pqike help <verb>`),
 * "did you mean" and docs/cli.md's test read.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET } from '../daemon/config.js';
import { UsageError } from './connection-args.js';
import { closest, didYouMean } from './suggest.js';

export interface OptSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in the help (string options). */
  readonly arg?: string;
  readonly help: string;
}

export interface VerbSpec {
  readonly name: string;
  readonly group: 'try' | 'peer' | 'gateway' | 'tools';
  readonly summary: string;
  /** What follows `pqike <verb>` in the usage line, before the options. */
  readonly args: string;
  readonly positionals: { readonly min: number; readonly max: number };
  readonly options: Readonly<Record<string, OptSpec>>;
  /** More text for the verb's help. */
  readonly details?: string;
  /** The exit codes the verb uses beyond 0 and 2. */
  readonly exits?: string;
}

/** Exit codes (docs/cli.md has the table). */
export const EXIT = { ok: 0, failed: 1, usage: 2, noDaemon: 3, timeout: 4 } as const;

const JSON_OPT: OptSpec = { type: 'boolean', help: 'machine-readable output (JSON)' };
const SOCKET: OptSpec = { type: 'string', arg: 'PATH', help: `the daemon's control socket (default ${DEFAULT_SOCKET}, or $PQIKE_SOCKET)` };
const PROGRESS: Readonly<Record<string, OptSpec>> = {
  progress: { type: 'boolean', help: 'show progress even when stdout is not a terminal' },
  'no-progress': { type: 'boolean', help: 'no progress lines, even on a terminal' },
};

const CONNECTION: Readonly<Record<string, OptSpec>> = {
  local: { type: 'string', arg: 'ADDR', help: 'local address' },
  remote: { type: 'string', arg: 'ADDR', help: 'remote address (respond: default %any)' },
  port: { type: 'string', arg: 'N', help: 'local UDP port (default 500)' },
  'remote-port': { type: 'string', arg: 'N', help: 'remote UDP port (default 500)' },
  'local-id': { type: 'string', arg: 'ID', help: 'our identity: host name, address, user@host, keyid:#hex (default: the local address)' },
  'remote-id': { type: 'string', arg: 'ID', help: "the peer's identity (default: any)" },
  'psk-file': { type: 'string', arg: 'FILE', help: 'pre-shared key: the file content, at least 16 octets (never on the command line)' },
  ike: { type: 'string', multiple: true, arg: 'PROPOSAL', help: 'IKE proposal (repeat to offer several; default aes256gcm16-prfsha384-x25519-ke1_mlkem768)' },
  esp: { type: 'string', multiple: true, arg: 'PROPOSAL', help: 'ESP proposal (repeat to offer several; default aes256gcm16)' },
  'local-ts': { type: 'string', multiple: true, arg: 'TS', help: 'local traffic selector, e.g. 10.1.0.0/16 (repeatable)' },
  'remote-ts': { type: 'string', multiple: true, arg: 'TS', help: 'remote traffic selector (repeatable)' },
  mode: { type: 'string', arg: 'tunnel|transport', help: 'Child SA mode (default tunnel)' },
  'fragment-size': { type: 'string', arg: 'N', help: 'largest IKE fragment datagram, 576..65535 (default 1280)' },
  'no-fragmentation': { type: 'boolean', help: 'do not offer IKE fragmentation' },
  'rekey-time': { type: 'string', arg: 'DURATION', help: 'rekey the Child SA this long after it is created (e.g. 1h)' },
  'ike-rekey-time': { type: 'string', arg: 'DURATION', help: 'rekey the IKE SA this long after it is created (e.g. 4h)' },
  'dpd-delay': { type: 'string', arg: 'DURATION', help: 'liveness check after this long without a message from the peer' },
  'retransmit-timeout': { type: 'string', arg: 'DURATION', help: 'first retransmission (default 1s, doubling each time)' },
  'retransmit-tries': { type: 'string', arg: 'N', help: 'retransmissions before the peer counts as dead (default 5)' },
  json: { type: 'boolean', help: 'events as JSON lines' },
  'export-keys': { type: 'string', arg: 'FILE', help: "write IKE keys to FILE and ESP keys to FILE.esp_sa in Wireshark's formats (debugging only)" },
  timeout: { type: 'string', arg: 'DURATION', help: 'initiate: give up if not up within it (default 15s); respond: exit after it' },
  control: { type: 'boolean', help: 'read commands from stdin, one a line: rekey-child [SPI], delete-child [SPI], rekey-ike, delete-ike, dpd, quit' },
  verbose: { type: 'boolean', help: 'also print debug lines' },
};

export const DEMO_CERT_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'ed448', 'rsa', 'rsa-pss', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const;

export const VERBS: readonly VerbSpec[] = [
  {
    name: 'demo',
    group: 'try',
    summary: 'two peers in this process set up, rekey and compare a hybrid IKE SA',
    args: '',
    positionals: { min: 0, max: 0 },
    options: {
      proposal: { type: 'string', arg: 'PROPOSAL', help: 'IKE proposal (default aes256gcm16-prfsha384-x25519-ke1_mlkem768)' },
      esp: { type: 'string', arg: 'PROPOSAL', help: 'ESP proposal (default aes256gcm16-x25519-ke1_mlkem768)' },
      'fragment-size': { type: 'string', arg: 'N', help: 'largest IKE fragment datagram, 576..65535' },
      'no-rekey': { type: 'boolean', help: 'stop after the first Child SA' },
      certs: { type: 'string', arg: 'TYPE', help: `certificates of a throwaway CA instead of a PSK: ${DEMO_CERT_TYPES.join(', ')}` },
      ppk: { type: 'boolean', help: 'a post-quantum preshared key mixed in as well, in IKE_INTERMEDIATE (RFC 9867)' },
      netns: { type: 'boolean', help: 'root: two daemons in network namespaces, real ESP, ping and TCP through the tunnel' },
      json: { type: 'boolean', help: 'one JSON object at the end instead of the text (not with --netns)' },
    },
    details: 'Two peers talk over 127.0.0.1 UDP and print every exchange, the message sizes, the chosen transforms, AUTH on both sides and the SPIs.',
    exits: '1 the demo failed',
  },
  {
    name: 'initiate',
    group: 'peer',
    summary: 'set up one IKE SA + Child SA with a peer from command-line options',
    args: '--local ADDR --remote ADDR --psk-file FILE',
    positionals: { min: 0, max: 0 },
    options: { ...CONNECTION, 'delete-after': { type: 'boolean', help: 'delete the IKE SA once it is up' }, stay: { type: 'boolean', help: 'keep running once the Child SA is up (exit 0 when the IKE SA is deleted, 1 when it fails)' } },
    details: 'Exit 0 once the IKE SA and its Child SA are up (and deleted, with --delete-after).',
    exits: '1 the IKE SA or its Child SA failed; 4 not up within --timeout',
  },
  {
    name: 'respond',
    group: 'peer',
    summary: 'answer IKE SAs from command-line options until killed',
    args: '--local ADDR --psk-file FILE',
    positionals: { min: 0, max: 0 },
    options: { ...CONNECTION, count: { type: 'string', arg: 'N', help: 'exit after N Child SAs' } },
  },
  {
    name: 'daemon',
    group: 'gateway',
    summary: 'run the gateway from its configuration file',
    args: '',
    positionals: { min: 0, max: 0 },
    options: {
      config: { type: 'string', short: 'c', arg: 'FILE', help: 'configuration file (default /etc/pqike/pqike.yaml)' },
      'export-keys': { type: 'string', arg: 'FILE', help: "write IKE and ESP keys in Wireshark's formats (debugging only)" },
      check: { type: 'boolean', help: 'only validate the file (and the own certificate chains), then exit' },
      json: { type: 'boolean', help: 'with --check: the result as JSON' },
    },
    details: 'SIGTERM/SIGINT: delete every SA and stop. SIGHUP: reload the file. See examples/pqike.yaml.',
    exits: '1 the daemon could not start (the control socket or a port in use, no data plane); 2 usage error, or the configuration or the key export is refused',
  },
  {
    name: 'up',
    group: 'gateway',
    summary: 'bring a connection up and wait for its Child SA',
    args: '<connection>',
    positionals: { min: 1, max: 1 },
    options: { socket: SOCKET, json: JSON_OPT, ...PROGRESS },
    details: 'On a terminal, the exchanges and retransmissions are shown as they happen. Attempts go on by keyingtries: pqike down stops them.',
    exits: '1 the attempt failed or timed out (30 s); 3 no daemon',
  },
  {
    name: 'down',
    group: 'gateway',
    summary: 'delete the IKE SA(s) of a connection, or one IKE SA, and stop its attempts',
    args: '<connection | IKE SA number>',
    positionals: { min: 1, max: 1 },
    options: { socket: SOCKET, json: JSON_OPT, ...PROGRESS },
    exits: '1 no such IKE SA, or the peer did not confirm; 3 no daemon',
  },
  {
    name: 'rekey',
    group: 'gateway',
    summary: 'rekey an IKE SA, or one of its Child SAs, and say what replaced it',
    args: '<IKE SA number | connection>',
    positionals: { min: 1, max: 1 },
    options: { child: { type: 'string', arg: 'NAME|SPI', help: 'rekey this Child SA (its name, or its inbound SPI in hex) instead of the IKE SA' }, socket: SOCKET, json: JSON_OPT },
    exits: '1 the rekey failed; 3 no daemon',
  },
  {
    name: 'list-sas',
    group: 'gateway',
    summary: 'the IKE SAs and Child SAs, of all connections or of one',
    args: '[connection]',
    positionals: { min: 0, max: 1 },
    options: { socket: SOCKET, json: JSON_OPT },
    exits: '1 no such connection; 3 no daemon',
  },
  {
    name: 'list-conns',
    group: 'gateway',
    summary: 'the configured connections, all or one',
    args: '[connection]',
    positionals: { min: 0, max: 1 },
    options: { socket: SOCKET, json: JSON_OPT },
    exits: '1 no such connection; 3 no daemon',
  },
  {
    name: 'reload',
    group: 'gateway',
    summary: 'apply configuration changes; unchanged tunnels stay up',
    args: '',
    positionals: { min: 0, max: 0 },
    options: { socket: SOCKET, json: JSON_OPT },
    exits: '1 the file is refused (nothing changed); 3 no daemon',
  },
  {
    name: 'stats',
    group: 'gateway',
    summary: "the daemon's counters: SAs, exchanges, failures, retransmissions",
    args: '',
    positionals: { min: 0, max: 0 },
    options: { socket: SOCKET, json: JSON_OPT },
    exits: '3 no daemon',
  },
  {
    name: 'log',
    group: 'gateway',
    summary: "stream the daemon's log, of one connection or all (like swanctl --log)",
    args: '[connection]',
    positionals: { min: 0, max: 1 },
    options: {
      level: { type: 'string', arg: 'LEVEL', help: 'lowest level shown: debug, info (default), warn, error (debug shows every message and retransmission)' },
      sa: { type: 'string', arg: 'N', help: 'only the records of this IKE SA' },
      socket: SOCKET,
      json: { type: 'boolean', help: 'the records as JSON lines, as the daemon logs them' },
    },
    details: 'Runs until interrupted (Ctrl-C: exit 0). A client that does not keep up loses records; it is told how many.',
    exits: '1 the daemon stopped; 3 no daemon',
  },
  {
    name: 'probe',
    group: 'tools',
    summary: 'ask a responder which (post-quantum) key exchanges it accepts, IKE_SA_INIT only',
    args: '<address>[:port]',
    positionals: { min: 1, max: 1 },
    options: {
      port: { type: 'string', arg: 'N', help: 'UDP port (default 500)' },
      rate: { type: 'string', arg: 'N', help: 'requests per second, at most 5 (default 3)' },
      timeout: { type: 'string', arg: 'DURATION', help: 'wait this long for each answer before the one retransmission (default 2s)' },
      json: JSON_OPT,
      ...PROGRESS,
    },
    details: 'No credentials; nothing is completed. Reports each Transform Type 4 method, ML-KEM as RFC 9370 additional key exchanges, IKE_INTERMEDIATE, fragmentation, childless IKE SAs and signature hashes, with a post-quantum readiness verdict.',
    exits: '1 no answer',
  },
  {
    name: 'pki',
    group: 'tools',
    summary: 'keys, CA and gateway certificates, CRLs (like strongSwan pki)',
    args: '--gen | --self | --issue | --crl | --print CERT',
    positionals: { min: 0, max: 0 },
    options: {
      gen: { type: 'boolean', help: 'a private key: --type T --out KEY' },
      self: { type: 'boolean', help: 'a self-signed CA certificate: --in KEY --dn DN [--lifetime DAYS] --out CERT' },
      issue: { type: 'boolean', help: 'a certificate: --in KEY --cacert CERT --cakey KEY --dn DN [--san NAME ...] [--ca] --out CERT' },
      crl: { type: 'boolean', help: 'a CRL: --cacert CERT --cakey KEY [--revoke CERT ...] --out CRL' },
      print: { type: 'string', arg: 'CERT', help: 'describe a certificate' },
      type: { type: 'string', arg: 'T', help: 'key type: ecdsa-p256 ecdsa-p384 ecdsa-p521 ed25519 ed448 rsa rsa-pss ml-dsa-44 ml-dsa-65 ml-dsa-87' },
      in: { type: 'string', arg: 'KEY', help: "the subject's private key" },
      out: { type: 'string', arg: 'FILE', help: 'the new file (never overwritten; keys 0600)' },
      dn: { type: 'string', arg: 'DN', help: 'subject, e.g. "C=CH, O=pqike, CN=moon.example.org"' },
      san: { type: 'string', multiple: true, arg: 'NAME', help: 'subjectAltName (repeatable)' },
      cacert: { type: 'string', arg: 'CERT', help: "the issuer's certificate" },
      cakey: { type: 'string', arg: 'KEY', help: "the issuer's private key" },
      ca: { type: 'boolean', help: 'the issued certificate is a CA' },
      lifetime: { type: 'string', arg: 'DAYS', help: 'validity (default 3650 for --self, 1095 otherwise)' },
      revoke: { type: 'string', multiple: true, arg: 'CERT', help: 'a certificate the CRL revokes (repeatable)' },
      json: JSON_OPT,
    },
    exits: '1 a file cannot be read or written',
  },
  {
    name: 'version',
    group: 'tools',
    summary: 'the version, the Node version and the ML-KEM and ML-DSA backends (also --version)',
    args: '',
    positionals: { min: 0, max: 0 },
    options: { json: JSON_OPT },
  },
  {
    name: 'help',
    group: 'tools',
    summary: 'this overview, or the help of one verb',
    args: '[verb]',
    positionals: { min: 0, max: 1 },
    options: {},
  },
];

export function verb(name: string): VerbSpec | undefined {
  return VERBS.find((v) => v.name === name);
}

export const VERB_NAMES: readonly string[] = VERBS.map((v) => v.name);

/** `pqike: unknown command 'x'` with the closest verbs. */
export function unknownVerb(word: string): UsageError {
  return new UsageError(`unknown command '${word}'${didYouMean(word, VERB_NAMES)}; see pqike --help`, true);
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  readonly values: Values;
  readonly positionals: readonly string[];
}

export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Parse a verb's arguments strictly; every problem is a UsageError (exit 2) that says what to write. */
export function parseVerb(v: VerbSpec, argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [k, o] of Object.entries(v.options)) options[k] = { type: o.type, ...(o.multiple === true ? { multiple: true } : {}), ...(o.short === undefined ? {} : { short: o.short }) };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw parseArgsError(v, e);
  }
  const values: Values = {};
  for (const [k, x] of Object.entries(parsed.values)) {
    if (typeof x === 'string' || typeof x === 'boolean') values[k] = x;
    else if (Array.isArray(x)) values[k] = x.filter((s): s is string => typeof s === 'string');
  }
  const { min, max } = v.positionals;
  const pos = parsed.positionals;
  if (pos.length < min) throw new UsageError(`pqike ${v.name}: missing ${pos.length === 0 ? v.args.replace(/\s+\[.*$/, '') : 'an argument'}; usage: ${usageLine(v)}`, true, v.name);
  if (pos.length > max) {
    const extra = pos[max] ?? '';
    const hint = extra.startsWith('-') ? '' : max === 0 ? ' (it takes no arguments)' : '';
    throw new UsageError(`pqike ${v.name}: unexpected argument '${extra}'${hint}; usage: ${usageLine(v)}`, true, v.name);
  }
  for (const [k, o] of Object.entries(v.options)) {
    const x = values[k];
    if (o.type === 'string' && typeof x === 'string' && x === '') throw new UsageError(`pqike ${v.name}: --${k} needs a value (${o.arg ?? 'VALUE'})`, true, v.name);
  }
  return { values, positionals: pos };
}

function parseArgsError(v: VerbSpec, e: unknown): UsageError {
  const code = e instanceof Error && 'code' in e ? String((e as { code: unknown }).code) : '';
  const msg = e instanceof Error ? e.message : String(e);
  const name = /'(-{1,2}[^' ]+)/.exec(msg)?.[1] ?? '';
  const bare = name.replace(/^-+/, '');
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const names = Object.keys(v.options).concat('help');
    const close = closest(bare, names);
    const hint = close.length > 0 ? ` (did you mean ${close.map((c) => `--${c}`).join(' or ')}?)` : '';
    return new UsageError(`pqike ${v.name}: unknown option '${name}'${hint}; see pqike ${v.name} --help`, true, v.name);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const o = v.options[bare] ?? Object.entries(v.options).find(([, x]) => x.short === bare)?.[1];
    if (o?.type === 'boolean') return new UsageError(`pqike ${v.name}: --${bare} takes no value`, true, v.name);
    return new UsageError(`pqike ${v.name}: ${name} needs a value (${o?.arg ?? 'VALUE'})`, true, v.name);
  }
  return new UsageError(`pqike ${v.name}: ${msg}`, true, v.name);
}

export function usageLine(v: VerbSpec): string {
  return `pqike ${v.name}${v.args === '' ? '' : ` ${v.args}`}${Object.keys(v.options).length > 0 ? ' [options]' : ''}`;
}

function optionLabel(k: string, o: OptSpec): string {
  return `${o.short === undefined ? '' : `-${o.short}, `}--${k}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
}

/** `pqike <verb> --help`. */
export function verbHelp(v: VerbSpec): string {
  const opts = Object.entries(v.options).map(([k, o]) => [optionLabel(k, o), `${o.help}${o.multiple === true && !o.help.includes('repeat') ? ' (repeatable)' : ''}`] as const);
  opts.push(['-h, --help', 'this help']);
  const w = Math.min(30, Math.max(...opts.map(([l]) => l.length)));
  const lines = [`Usage: ${usageLine(v)}`, '', `${v.summary[0]?.toUpperCase() ?? ''}${v.summary.slice(1)}.`];
  if (v.details) lines.push(...wrap(v.details, 92));
  lines.push('', 'Options:');
  for (const [l, h] of opts) {
    const pad = l.length > w ? `\n  ${' '.repeat(w)}  ` : ' '.repeat(w - l.length);
    lines.push(`  ${l}${pad}  ${h}`);
  }
  const own = (v.exits ?? '').split('; ').filter((x) => x !== '');
  const exits = ['0 success', ...(own.some((x) => x.startsWith('2 ')) ? [] : ['2 usage error']), ...own].sort((x, y) => parseInt(x, 10) - parseInt(y, 10));
  lines.push('', ...wrap(`Exit codes: ${exits.join('; ')} (pqike help exit-codes).`, 92));
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line.length === 0 ? word : `${line} ${word}`;
  }
  if (line) out.push(line);
  return out;
}

export const EXIT_CODES_HELP = `Exit codes of pqike:
  0  success
  1  the operation failed: the peer or the daemon refused it, the SA failed, no answer
  2  usage error: unknown verb or option, missing or bad argument; a refused configuration
  3  the daemon is not running (no control socket)
  4  timed out (pqike initiate --timeout)
`;

const GROUPS: readonly [VerbSpec['group'], string][] = [
  ['try', 'Try it'],
  ['gateway', 'Gateway (the daemon and its control commands)'],
  ['peer', 'Single connections from the command line (tests, interop)'],
  ['tools', 'Tools'],
];

/** `pqike --help`. */
export function mainHelp(): string {
  const w = Math.max(...VERBS.map((v) => v.name.length));
  const lines = ['pqike — IKEv2 with RFC 9370 hybrid (post-quantum) key exchanges', '', 'Usage: pqike <verb> [arguments] [options]     pqike <verb> --help for its options', ''];
  for (const [g, title] of GROUPS) {
    lines.push(`${title}:`);
    for (const v of VERBS.filter((x) => x.group === g)) lines.push(`  ${v.name.padEnd(w)}  ${v.summary}`);
    lines.push('');
  }
  lines.push(
    'Proposals use strongSwan\'s syntax: ENCR-[PRF-]INTEG/PRF-KE[-keN_KE...], e.g.',
    '  aes256gcm16-prfsha384-x25519-ke1_mlkem768          X25519, then ML-KEM-768 in IKE_INTERMEDIATE',
    '  aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_none  the same, ADDKE optional',
    '  aes128-sha256-ecp256                                classic',
    '  aes256gcm16-prfsha384-mlkem768                      ML-KEM alone in IKE_SA_INIT',
    '  Encryption: aes128 aes256 (CBC) aes128gcm16 aes256gcm16 chacha20poly1305',
    '  Integrity/PRF: sha256 sha384 sha512, prfsha256 prfsha384 prfsha512',
    '  Key exchange: modp2048 modp3072 modp4096 ecp256 ecp384 ecp521 x25519 x448',
    '                mlkem512 mlkem768 mlkem1024, keN_<method> for ADDKE N (1..7), keN_none',
    '',
    EXIT_CODES_HELP.trimEnd(),
    '',
    'Documentation: docs/cli.md, docs/control-protocol.md, examples/pqike.yaml',
  );
  return `${lines.join('\n')}\n`;
}
