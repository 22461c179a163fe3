/**
 * Isolated strongSwan (charon + swanctl) instances for interop tests.
 *
 * Each instance lives in a temp dir of its own: strongswan.conf (passed to
 * charon and swanctl via STRONGSWAN_CONF, so nothing under /etc is read),
 * swanctl.conf, the vici socket, charon's log and a private /run.
 *
 * charon is run directly (no systemd / ipsec starter) in the foreground inside
 * a namespace:
 *   ip netns exec NS unshare --mount --propagation private -- \
 *     sh -c 'mount --bind DIR/run /run && exec /usr/lib/ipsec/charon'
 * The private /run is needed because charon 5.9 hard-codes /var/run/charon.pid
 * and refuses to start while another charon holds it.
 *
 * IPsec: this kernel has XFRM but no ESP, so kernel-netlink cannot install
 * Child SAs. We load only the plugins we need (charon.load), with
 * kernel-libipsec (userspace ESP over a TUN device, ipsec0) listed before
 * kernel-netlink so it provides kernel-ipsec, and kernel-netlink only serves
 * as the networking backend (addresses, routes). libipsec always installs a
 * route for the remote TS via ipsec0 with a source address from the local TS,
 * so the local TS must contain an address of the namespace (see NsEnd.innerAddr);
 * it also fakes NAT detection, so IKE moves to UDP 4500 and ESP is
 * UDP-encapsulated.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interopSkipReason, run, skipOrFail, sleep, startInNs, type NsProcess, type RunResult } from './netns.js';

/** Known locations of the charon daemon binary (Debian/Ubuntu first). */
export const CHARON_CANDIDATES: readonly string[] = [
  '/usr/lib/ipsec/charon',
  '/usr/libexec/ipsec/charon',
  '/usr/lib/strongswan/charon',
  '/usr/libexec/strongswan/charon',
];

export function findCharon(): string | null {
  for (const p of CHARON_CANDIDATES) if (existsSync(p)) return p;
  return null;
}

/** Plugins charon loads (order matters: kernel-libipsec before kernel-netlink). */
export const DEFAULT_CHARON_PLUGINS: readonly string[] = [
  'random',
  'nonce',
  'aes',
  'sha1',
  'sha2',
  'hmac',
  'gcm',
  'openssl', // ECP groups, X25519/X448, AES-GCM, ... (libstrongswan-standard-plugins)
  'pem',
  'pkcs1',
  'pkcs8',
  'x509',
  'pubkey',
  'kdf',
  'kernel-libipsec', // userspace ESP (libcharon-extra-plugins)
  'kernel-netlink', // networking only; libipsec wins the kernel-ipsec role
  'socket-default',
  'vici',
];

/**
 * DEFAULT_CHARON_PLUGINS plus what certificate authentication can use in 5.9.8 beyond them:
 * `constraints` (basicConstraints path length, name and policy constraints of the chain) and
 * `revocation` (CRLs/OCSP; the test certificates name no CRL distribution point or OCSP
 * responder, so it logs "certificate status is not available", which charon accepts). The
 * rest is there already: x509/pem/pkcs1/pkcs8/pubkey parse certificates and keys, openssl
 * does ECDSA, Ed25519 and RSASSA-PSS (the curve25519 plugin is not needed for Ed25519).
 * Only for the instances that use certificates, so the others keep their exact plugin set.
 */
export const CERT_CHARON_PLUGINS: readonly string[] = DEFAULT_CHARON_PLUGINS.flatMap((p) => (p === 'pubkey' ? [p, 'constraints', 'revocation'] : [p]));

/** Plugins swanctl loads (only to parse configs/credentials; keeps stderr quiet). */
export const DEFAULT_SWANCTL_PLUGINS: readonly string[] = ['random', 'nonce', 'openssl', 'pem', 'pkcs1', 'pkcs8', 'x509', 'pubkey'];

const SWANCTL_SUBDIRS = [
  'x509',
  'x509ca',
  'x509ocsp',
  'x509aa',
  'x509ac',
  'x509crl',
  'pubkey',
  'private',
  'rsa',
  'ecdsa',
  'bliss',
  'pkcs8',
  'pkcs12',
  'conf.d',
];

export interface CharonOptions {
  /** Namespace to run in. */
  readonly ns: string;
  /** Label used in the temp dir name and errors. */
  readonly name?: string;
  /** Use this (existing or new) directory instead of a fresh temp dir. */
  readonly dir?: string;
  readonly plugins?: readonly string[];
  /** charon filelog levels per subsystem, e.g. { ike: 2, knl: 1 }; default { default: 1, ike: 2, cfg: 2, net: 1 }. */
  readonly logLevels?: Readonly<Record<string, number>>;
  /** Extra text inserted inside the `charon { }` section. */
  readonly extraCharonConf?: string;
  /** How long to wait for the vici socket to answer. Default 10000. */
  readonly startTimeoutMs?: number;
  /** Remove the temp dir on stop. Default false (keep logs for post-mortems). */
  readonly removeDirOnStop?: boolean;
}

export interface CharonPaths {
  readonly dir: string;
  readonly strongswanConf: string;
  readonly swanctlDir: string;
  readonly swanctlConf: string;
  readonly viciSocket: string;
  readonly viciUri: string;
  readonly logPath: string;
  readonly runDir: string;
}

export function charonPaths(dir: string): CharonPaths {
  const viciSocket = join(dir, 'charon.vici');
  return {
    dir,
    strongswanConf: join(dir, 'strongswan.conf'),
    swanctlDir: join(dir, 'swanctl'),
    swanctlConf: join(dir, 'swanctl', 'swanctl.conf'),
    viciSocket,
    viciUri: `unix://${viciSocket}`,
    logPath: join(dir, 'charon.log'),
    runDir: join(dir, 'run'),
  };
}

/** strongswan.conf for an isolated instance. */
export function renderStrongswanConf(paths: CharonPaths, opts: Pick<CharonOptions, 'plugins' | 'logLevels' | 'extraCharonConf'> = {}): string {
  const plugins = opts.plugins ?? DEFAULT_CHARON_PLUGINS;
  const levels = opts.logLevels ?? { default: 1, ike: 2, cfg: 2, net: 1 };
  const levelLines = Object.entries(levels)
    .map(([k, v]) => `        ${k} = ${v}`)
    .join('\n');
  return `# generated by test/interop/strongswan.ts
charon {
    load = ${plugins.join(' ')}
    # the TUN device of kernel-libipsec is named ipsec0 by default; fine per namespace
    filelog {
        main {
            path = ${paths.logPath}
            time_format = %H:%M:%S
            ike_name = yes
            append = yes
            flush_line = yes
${levelLines}
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
    plugins {
        vici {
            socket = ${paths.viciUri}
        }
    }
${opts.extraCharonConf ?? ''}
}
swanctl {
    load = ${DEFAULT_SWANCTL_PLUGINS.join(' ')}
    socket = ${paths.viciUri}
}
`;
}

/* ------------------------------------------------------------------------- */
/* swanctl.conf generation                                                   */
/* ------------------------------------------------------------------------- */

/**
 * Certificate authentication for a connection (swanctl `auth = pubkey` on both ends), as PEM
 * texts that Charon.loadConfig writes into the instance's swanctl directory (see
 * swanctlCredentialFiles): our certificate into x509/ (`local.certs`), its private key into
 * private/ (swanctl loads any key type from there: PKCS#8, PKCS#1 RSA, SEC1 EC), the CA
 * certificate(s) into x509ca/ (`remote.cacerts`: the peer's chain must end at one of them).
 */
export interface SwanctlPubkeyAuth {
  readonly cert: string;
  readonly key: string;
  readonly cacerts: readonly string[];
}

/**
 * RFC 8784 in strongSwan 5.9 (swanctl.conf(5)): `connections.<conn>.ppk_id` names the PPK an
 * initiator sends, `ppk_required` refuses the SA without one; the key itself is a
 * `secrets.ppk<suffix> { secret = 0x…, id = <ppk id> }` section. As a responder charon uses
 * whichever PPK its credentials hold for the PPK_ID received, and answers USE_PPK only when it
 * holds at least one PPK.
 */
export interface SwanctlPpk {
  readonly id: string;
  /** The key as hex digits, without 0x. */
  readonly secret: string;
  readonly required: boolean;
}

export interface SwanctlConnParams {
  /** Connection name (IKE SA name in list-sas). */
  readonly name: string;
  readonly localAddrs: readonly string[] | string;
  /** Remote address(es); '%any' for a pure responder. */
  readonly remoteAddrs: readonly string[] | string;
  readonly localId: string;
  readonly remoteId: string;
  /** The pre-shared key (`auth = psk` both ends); not used when `pubkey` is given. */
  readonly psk: string;
  /** Authenticate with certificates instead of the PSK. */
  readonly pubkey?: SwanctlPubkeyAuth;
  /** A post-quantum preshared key (RFC 8784): `ppk_id`/`ppk_required` in the connection and a `ppk-<name>` secret. */
  readonly ppk?: SwanctlPpk;
  /** Further PPKs in the secrets section, PPK_ID -> key (hex without 0x), tied to no connection (`ppk-<name>-<i>`). */
  readonly ppkSecrets?: Readonly<Record<string, string>>;
  /** IKE proposals, e.g. ['aes256gcm16-prfsha384-x25519'] or ['aes128-sha256-ecp256']. */
  readonly ikeProposals: readonly string[];
  /** ESP proposals, e.g. ['aes256gcm16'] or ['aes128-sha256']. */
  readonly espProposals: readonly string[];
  readonly childName: string;
  readonly localTs: readonly string[] | string;
  readonly remoteTs: readonly string[] | string;
  /** true: start_action = start (charon initiates once the config is loaded). Default false (use Charon.initiate). */
  readonly initiator?: boolean;
  readonly mode?: 'tunnel' | 'transport';
  /** Force UDP encapsulation (NAT-T emulation). */
  readonly encap?: boolean;
  readonly mobike?: boolean;
  /** 'yes' | 'no' | 'accept' | 'force' */
  readonly fragmentation?: string;
  /** IKE SA rekey_time, e.g. '4h' or '0' to disable. */
  readonly rekeyTime?: string;
  /** Child rekey_time. */
  readonly childRekeyTime?: string;
  readonly dpdDelay?: string;
  /** Extra lines inside the connection section. */
  readonly extraConn?: string;
  /** Extra lines inside the child section. */
  readonly extraChild?: string;
}

function list(v: readonly string[] | string): string {
  return typeof v === 'string' ? v : v.join(',');
}

function quote(s: string): string {
  if (/[\s"\\]/.test(s) || s === '') return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return s;
}

/** A file of a connection's credentials, relative to the swanctl directory. */
export interface SwanctlCredentialFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
}

function credentialNames(c: SwanctlConnParams): { cert: string; key: string; cacerts: string[] } {
  return { cert: `${c.name}Cert.pem`, key: `${c.name}Key.pem`, cacerts: (c.pubkey?.cacerts ?? []).map((_, i) => `${c.name}Ca${i}.pem`) };
}

/** The certificate, key and CA files the connections with `pubkey` refer to (empty for PSK connections). */
export function swanctlCredentialFiles(conns: readonly SwanctlConnParams[]): SwanctlCredentialFile[] {
  return conns.flatMap((c) => {
    if (!c.pubkey) return [];
    const n = credentialNames(c);
    return [
      { path: join('x509', n.cert), text: c.pubkey.cert, mode: 0o644 },
      { path: join('private', n.key), text: c.pubkey.key, mode: 0o600 },
      ...c.pubkey.cacerts.map((text, i) => ({ path: join('x509ca', n.cacerts[i] as string), text, mode: 0o644 })),
    ];
  });
}

export function renderSwanctlConf(conns: readonly SwanctlConnParams[]): string {
  const out: string[] = ['# generated by test/interop/strongswan.ts', 'connections {'];
  const secrets: string[] = [];
  conns.forEach((c, i) => {
    out.push(
      `    ${c.name} {`,
      '        version = 2',
      `        local_addrs = ${list(c.localAddrs)}`,
      `        remote_addrs = ${list(c.remoteAddrs)}`,
      `        proposals = ${c.ikeProposals.join(',')}`,
    );
    if (c.encap !== undefined) out.push(`        encap = ${c.encap ? 'yes' : 'no'}`);
    if (c.mobike !== undefined) out.push(`        mobike = ${c.mobike ? 'yes' : 'no'}`);
    if (c.fragmentation !== undefined) out.push(`        fragmentation = ${c.fragmentation}`);
    if (c.rekeyTime !== undefined) out.push(`        rekey_time = ${c.rekeyTime}`);
    if (c.dpdDelay !== undefined) out.push(`        dpd_delay = ${c.dpdDelay}`);
    if (c.ppk) out.push(`        ppk_id = ${quote(c.ppk.id)}`, `        ppk_required = ${c.ppk.required ? 'yes' : 'no'}`);
    if (c.extraConn) out.push(c.extraConn);
    const creds = credentialNames(c);
    out.push(
      '        local {',
      `            auth = ${c.pubkey ? 'pubkey' : 'psk'}`,
      `            id = ${quote(c.localId)}`,
      ...(c.pubkey ? [`            certs = ${creds.cert}`] : []),
      '        }',
      '        remote {',
      `            auth = ${c.pubkey ? 'pubkey' : 'psk'}`,
      `            id = ${quote(c.remoteId)}`,
      ...(c.pubkey && creds.cacerts.length > 0 ? [`            cacerts = ${creds.cacerts.join(',')}`] : []),
      '        }',
      '        children {',
      `            ${c.childName} {`,
      `                local_ts = ${list(c.localTs)}`,
      `                remote_ts = ${list(c.remoteTs)}`,
      `                esp_proposals = ${c.espProposals.join(',')}`,
      `                mode = ${c.mode ?? 'tunnel'}`,
      `                start_action = ${c.initiator ? 'start' : 'none'}`,
    );
    if (c.childRekeyTime !== undefined) out.push(`                rekey_time = ${c.childRekeyTime}`);
    if (c.extraChild) out.push(c.extraChild);
    out.push('            }', '        }', '    }');
    if (c.ppk) secrets.push(`    ppk-${c.name} {`, `        secret = 0x${c.ppk.secret}`, `        id = ${quote(c.ppk.id)}`, '    }');
    Object.entries(c.ppkSecrets ?? {}).forEach(([id, secret], j) => secrets.push(`    ppk-${c.name}-${j} {`, `        secret = 0x${secret}`, `        id = ${quote(id)}`, '    }'));
    if (c.pubkey) return; // the private key is a file in private/, loaded with --load-all
    secrets.push(
      `    ike-${i} {`,
      `        id-local = ${quote(c.localId)}`,
      `        id-remote = ${quote(c.remoteId)}`,
      `        secret = ${quote(c.psk)}`,
      '    }',
    );
  });
  out.push('}', 'secrets {', ...secrets, '}', '');
  return out.join('\n');
}

/* ------------------------------------------------------------------------- */
/* vici "pretty" output parsing                                              */
/* ------------------------------------------------------------------------- */

export type ViciValue = string | string[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

/** One IKE SA from `swanctl --list-sas`, with its name attached. */
export interface IkeSaInfo {
  readonly name: string;
  readonly state: string;
  readonly raw: ViciSection;
  readonly children: ChildSaInfo[];
}

export interface ChildSaInfo {
  /** Child config name (`name` key), not the `name-uniqueid` section key. */
  readonly name: string;
  readonly state: string;
  readonly raw: ViciSection;
}

/**
 * Parse swanctl `--pretty` output: `event-name {` ... `}` blocks of
 * `key = value`, `section {`, `list [` items `]`. Returns one entry per
 * top-level message (e.g. each `list-sa event`).
 */
export function parseViciPretty(text: string): Array<{ message: string; body: ViciSection }> {
  const messages: Array<{ message: string; body: ViciSection }> = [];
  const stack: ViciSection[] = [];
  let currentList: string[] | null = null;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (currentList) {
      if (line === ']') currentList = null;
      else currentList.push(line);
      continue;
    }
    let m: RegExpExecArray | null;
    if (stack.length === 0) {
      m = /^(.*\S)\s*\{$/.exec(line);
      if (m) {
        const body: ViciSection = {};
        messages.push({ message: m[1] as string, body });
        stack.push(body);
        if (/\{\s*\}$/.test(line)) stack.pop();
      }
      continue; // noise outside messages (log lines etc.)
    }
    const top = stack[stack.length - 1] as ViciSection;
    if (line === '}') {
      stack.pop();
    } else if ((m = /^(\S+)\s*\{\s*\}$/.exec(line))) {
      top[m[1] as string] = {};
    } else if ((m = /^(\S+)\s*\{$/.exec(line))) {
      const sec: ViciSection = {};
      top[m[1] as string] = sec;
      stack.push(sec);
    } else if ((m = /^(\S+)\s*(?:=\s*)?\[\s*\]$/.exec(line))) {
      top[m[1] as string] = [];
    } else if ((m = /^(\S+)\s*(?:=\s*)?\[$/.exec(line))) {
      // `name [` or, as swanctl --pretty prints lists, `name = [`.
      const arr: string[] = [];
      top[m[1] as string] = arr;
      currentList = arr;
    } else if ((m = /^(\S+)\s*=\s*(.*)$/.exec(line))) {
      top[m[1] as string] = m[2] as string;
    }
  }
  return messages;
}

function str(v: ViciValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

function isSection(v: ViciValue | undefined): v is ViciSection {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseListSas(prettyText: string): IkeSaInfo[] {
  const sas: IkeSaInfo[] = [];
  for (const { message, body } of parseViciPretty(prettyText)) {
    if (message !== 'list-sa event') continue;
    for (const [name, v] of Object.entries(body)) {
      if (!isSection(v)) continue;
      const children: ChildSaInfo[] = [];
      const cs = v['child-sas'];
      if (isSection(cs)) {
        for (const [key, c] of Object.entries(cs)) {
          if (!isSection(c)) continue;
          children.push({ name: str(c['name']) || key, state: str(c['state']), raw: c });
        }
      }
      sas.push({ name, state: str(v['state']), raw: v, children });
    }
  }
  return sas;
}

/* ------------------------------------------------------------------------- */
/* Charon instance                                                           */
/* ------------------------------------------------------------------------- */

export class Charon {
  private constructor(
    readonly ns: string,
    readonly paths: CharonPaths,
    readonly proc: NsProcess,
    private readonly removeDir: boolean,
  ) {}

  static async start(opts: CharonOptions): Promise<Charon> {
    const charon = findCharon();
    if (!charon) throw new Error(`charon not found (looked in ${CHARON_CANDIDATES.join(', ')})`);
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `pqike-charon-${opts.name ?? opts.ns}-`));
    const paths = charonPaths(dir);
    mkdirSync(paths.runDir, { recursive: true });
    for (const sub of SWANCTL_SUBDIRS) mkdirSync(join(paths.swanctlDir, sub), { recursive: true });
    writeFileSync(paths.strongswanConf, renderStrongswanConf(paths, opts));
    writeFileSync(paths.swanctlConf, renderSwanctlConf([]));
    const proc = await startInNs(
      opts.ns,
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" /run && exec "$2"', 'sh', paths.runDir, charon],
      { env: { STRONGSWAN_CONF: paths.strongswanConf }, logPath: join(dir, 'charon.stdout') },
    );
    const inst = new Charon(opts.ns, paths, proc, opts.removeDirOnStop ?? false);
    // Ready once the vici socket answers.
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (!proc.running) throw new Error(`charon in ${opts.ns} exited: ${proc.output()}\n${inst.log()}`);
      if (existsSync(paths.viciSocket)) {
        const r = await inst.swanctl(['--version', '--daemon'], { allowFail: true });
        if (r.code === 0) break;
      }
      if (Date.now() > deadline) {
        await proc.stop('SIGKILL');
        throw new Error(`charon in ${opts.ns} did not open ${paths.viciSocket}: ${proc.output()}\n${inst.log()}`);
      }
      await sleep(50);
    }
    return inst;
  }

  /** Run swanctl against this instance's vici socket (swanctl runs outside the namespace; the socket is a file). */
  swanctl(args: readonly string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return run('swanctl', [...args, '--uri', this.paths.viciUri], {
      env: { STRONGSWAN_CONF: this.paths.strongswanConf },
      allowFail: opts.allowFail ?? false,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  /**
   * Write swanctl.conf (from params, or verbatim text) and the connections' certificate files,
   * and load them with `swanctl --load-all --file`.
   */
  async loadConfig(conf: readonly SwanctlConnParams[] | string): Promise<RunResult> {
    if (typeof conf !== 'string') {
      for (const f of swanctlCredentialFiles(conf)) writeFileSync(join(this.paths.swanctlDir, f.path), f.text, { mode: f.mode });
    }
    writeFileSync(this.paths.swanctlConf, typeof conf === 'string' ? conf : renderSwanctlConf(conf));
    return this.swanctl(['--load-all', '--file', this.paths.swanctlConf]);
  }

  /** `swanctl --initiate --child child` (blocks until done or timeout); throws on failure. */
  async initiate(child: string, opts: { ike?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const args = ['--initiate', '--child', child, '--timeout', String(Math.max(1, Math.ceil(timeoutMs / 1000)))];
    if (opts.ike) args.push('--ike', opts.ike);
    return this.swanctl(args, { timeoutMs: timeoutMs + 5000 });
  }

  async terminateIke(ike: string): Promise<RunResult> {
    return this.swanctl(['--terminate', '--ike', ike, '--timeout', '10'], { allowFail: true });
  }

  async listSas(): Promise<IkeSaInfo[]> {
    const r = await this.swanctl(['--list-sas', '--pretty']);
    return parseListSas(r.stdout);
  }

  /** Human-readable `swanctl --list-sas`. */
  async listSasText(): Promise<string> {
    return (await this.swanctl(['--list-sas'])).stdout;
  }

  /**
   * Wait until IKE SA `name` is ESTABLISHED (and, when given, its Child SA
   * `child` is INSTALLED). Throws with charon's log tail on timeout.
   */
  async waitForSa(name: string, timeoutMs: number, opts: { child?: string } = {}): Promise<IkeSaInfo> {
    const deadline = Date.now() + timeoutMs;
    let last: IkeSaInfo[] = [];
    for (;;) {
      last = await this.listSas();
      const sa = last.find(
        (s) =>
          s.name === name &&
          s.state === 'ESTABLISHED' &&
          (opts.child === undefined || s.children.some((c) => c.name === opts.child && c.state === 'INSTALLED')),
      );
      if (sa) return sa;
      if (!this.proc.running) throw new Error(`charon in ${this.ns} exited while waiting for ${name}\n${this.logTail()}`);
      if (Date.now() > deadline) {
        throw new Error(
          `timeout (${timeoutMs} ms) waiting for IKE SA ${name}${opts.child ? ` / child ${opts.child}` : ''} in ${this.ns}; ` +
            `SAs: ${JSON.stringify(last)}\n${this.logTail()}`,
        );
      }
      await sleep(100);
    }
  }

  log(): string {
    try {
      return readFileSync(this.paths.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  logTail(lines = 40): string {
    return `--- charon log (${this.paths.logPath}) ---\n` + this.log().split('\n').slice(-lines).join('\n');
  }

  /** Stop charon (SIGTERM, then SIGKILL) and optionally remove its directory. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 5000);
    if (this.removeDir) rmSync(this.paths.dir, { recursive: true, force: true });
  }
}

export function startCharon(opts: CharonOptions): Promise<Charon> {
  return Charon.start(opts);
}

/** Directory holding charon's plugin .so files, next to the charon binary. */
export function charonPluginDir(charonPath: string | null = findCharon()): string | null {
  return charonPath ? join(charonPath, '..', 'plugins') : null;
}

/**
 * Plugins of `plugins` whose shared object is missing (charon would silently
 * run without them). Plugins built into libstrongswan/libcharon have no .so:
 * none of the defaults is such a plugin on Debian.
 */
export function missingCharonPlugins(plugins: readonly string[] = DEFAULT_CHARON_PLUGINS): string[] {
  const dir = charonPluginDir();
  if (!dir) return [...plugins];
  return plugins.filter((p) => !existsSync(join(dir, `libstrongswan-${p}.so`)));
}

/**
 * Can a charon-based interop test run? null if so, else the reason to skip; throws when
 * CI=true and something is missing (interop tests fail, not skip, in CI).
 */
export function charonSkipReason(extraTools: readonly string[] = []): string | null {
  const reason = interopSkipReason(['ip', 'unshare', 'mount', 'swanctl', findCharon() ?? 'charon', ...extraTools]);
  if (reason) return reason;
  const problems: string[] = [];
  const missing = missingCharonPlugins();
  if (missing.length > 0) problems.push(`charon plugins missing: ${missing.join(', ')}`);
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun missing (kernel-libipsec needs it)');
  if (problems.length === 0) return null;
  return skipOrFail(`${problems.join('; ')} (apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-standard-plugins)`);
}
