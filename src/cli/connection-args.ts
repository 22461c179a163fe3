/**
 * Command-line connection options shared by `pqike initiate` and `pqike respond` (a test and
 * interop harness until the daemon's configuration file arrives). The PSK is read from a
 * file, never from the command line.
 */
import { readFileSync } from 'node:fs';
import { parseDuration as parseConfigDuration } from '../daemon/config.js';
import { FRAGMENT_SIZE_ADVICE, parseFragmentSize, pskProblem } from '../daemon/value-checks.js';
import { parseIdentity } from '../engine/identity.js';
import { parseProposals } from '../engine/proposal-string.js';
import { parseTrafficSelector } from '../engine/traffic-selectors.js';
import type { ConnectionConfig } from '../engine/types.js';

/** The options themselves (names, types, help) are in verbs.ts. */
export interface ConnectionArgs {
  'export-keys'?: string;
  local?: string;
  remote?: string;
  'local-id'?: string;
  'remote-id'?: string;
  'psk-file'?: string;
  ike?: string[];
  esp?: string[];
  'local-ts'?: string[];
  'remote-ts'?: string[];
  mode?: string;
  'fragment-size'?: string;
  'no-fragmentation'?: boolean;
  'rekey-time'?: string;
  'ike-rekey-time'?: string;
  'dpd-delay'?: string;
}

/** A bad command line: exit code 2. `syntax`: the parser's (an unknown option, a missing argument). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly syntax = false,
    readonly verb?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export function connectionFromArgs(name: string, a: ConnectionArgs, role: 'initiator' | 'responder'): ConnectionConfig {
  const local = a.local;
  if (!local) throw new UsageError('--local ADDRESS is required');
  const remote = a.remote ?? (role === 'responder' ? '%any' : undefined);
  if (!remote) throw new UsageError('--remote ADDRESS is required');
  const pskFile = a['psk-file'];
  if (!pskFile) throw new UsageError('--psk-file FILE is required (the key is never taken from the command line)');
  let pskText: string;
  try {
    pskText = readFileSync(pskFile).toString('utf8');
  } catch (e) {
    throw new UsageError(`--psk-file ${pskFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e)}`);
  }
  if (a.mode !== undefined && a.mode !== 'tunnel' && a.mode !== 'transport') throw new UsageError(`--mode ${a.mode}: write tunnel or transport`);
  const psk = new TextEncoder().encode(pskText.replace(/\r?\n$/, ''));
  const weak = pskProblem(psk);
  if (weak !== undefined) throw new UsageError(`--psk-file ${pskFile}: the key ${weak}`);
  const frag = a['fragment-size'] === undefined ? {} : { fragmentSize: fragmentSizeArg(a['fragment-size']) };
  // Lifetimes and liveness (RFC 7296 §2.8, §2.4); absent: no automatic rekey, no liveness check.
  const duration = (opt: 'rekey-time' | 'ike-rekey-time' | 'dpd-delay'): number | undefined => {
    const v = a[opt];
    return v === undefined ? undefined : parseDuration(v, 0);
  };
  const childRekey = duration('rekey-time');
  const ikeRekey = duration('ike-rekey-time');
  const dpd = duration('dpd-delay');
  const conn: ConnectionConfig = {
    name,
    localAddress: local,
    remoteAddress: remote,
    localId: parseIdentity(a['local-id'] ?? local),
    psk,
    ikeProposals: parseProposals(a.ike ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'),
    children: [
      {
        name: 'net',
        espProposals: parseProposals(a.esp ?? ['aes256gcm16'], 'esp'),
        localTs: (a['local-ts'] ?? [local.includes(':') ? `${local}/128` : `${local}/32`]).map(parseTrafficSelector),
        remoteTs: (a['remote-ts'] ?? [remote === '%any' ? (local.includes(':') ? '::/0' : '0.0.0.0/0') : remote.includes(':') ? `${remote}/128` : `${remote}/32`]).map(parseTrafficSelector),
        mode: a.mode === 'transport' ? 'transport' : 'tunnel',
        ...(childRekey === undefined ? {} : { rekeyTimeMs: childRekey }),
      },
    ],
    fragmentation: a['no-fragmentation'] !== true,
    ...frag,
    ...(ikeRekey === undefined ? {} : { ikeRekeyTimeMs: ikeRekey }),
    ...(dpd === undefined ? {} : { dpdDelayMs: dpd }),
  };
  const rid = a['remote-id'];
  return rid === undefined || rid === '%any' ? conn : { ...conn, remoteId: parseIdentity(rid) };
}

/** A UDP port option (0: any, for tests). */
export function portArg(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UsageError(`--${option} ${text}: write a UDP port, 0..65535`);
  return n;
}

/** --fragment-size: the configuration file's fragment_size range. */
export function fragmentSizeArg(text: string): number {
  const n = parseFragmentSize(text);
  if (n === undefined) throw new UsageError(`--fragment-size ${text}: ${FRAGMENT_SIZE_ADVICE}`);
  return n;
}

/** A command-line duration, in the configuration file's syntax (10s, 500ms, 4h, ...). */
export function parseDuration(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const ms = parseConfigDuration(text);
  if (ms === undefined) throw new UsageError(`bad duration '${text}' (e.g. 10s, 500ms, 4h)`);
  return ms;
}
