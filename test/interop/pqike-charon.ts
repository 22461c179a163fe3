/**
 * A pqike daemon in namespace A and strongSwan's charon in namespace B of a fresh pair
 * (netns.ts): the daemon's config file, its secrets file (0600, `psk: sun: <psk>`), control
 * socket and log in a temporary directory; charon started, then given its swanctl config once
 * the daemon listens. Everything goes when `fn` returns or throws.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInNs, withNetnsPair } from './netns.js';
import type { NetnsPair, NsProcess } from './netns.js';
import { Charon } from './strongswan.js';
import type { CharonOptions, SwanctlConnParams } from './strongswan.js';
import { CLI } from './daemons.js';

export interface PqikeCharon {
  readonly pair: NetnsPair;
  readonly charon: Charon;
  readonly dir: string;
  readonly socket: string;
  readonly log: string;
}

export interface PqikeCharonOptions {
  /** Prefix of the temporary directory. */
  readonly prefix: string;
  readonly psk: string;
  /** The daemon's YAML, given the pair and its control socket path. */
  readonly daemonConfig: (pair: NetnsPair, socket: string) => string;
  /** charon's connections (or a whole swanctl.conf). */
  readonly charonConfig: (pair: NetnsPair) => readonly SwanctlConnParams[] | string;
  /** charon's options beyond its namespace (plugins, log levels, strongswan.conf lines). */
  readonly charon?: Omit<CharonOptions, 'ns'>;
}

export async function withPqikeAndCharon(o: PqikeCharonOptions, fn: (env: PqikeCharon) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix));
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  sun: "${o.psk}"\n`, { mode: 0o600 });
  const socket = join(dir, 'run', 'pqike.sock');
  const log = join(dir, 'daemon.log');
  try {
    await withNetnsPair(async (pair) => {
      writeFileSync(join(dir, 'pqike.yaml'), o.daemonConfig(pair, socket));
      const charon = await Charon.start({ name: 'sun', removeDirOnStop: true, ...o.charon, ns: pair.b.ns });
      let daemon: NsProcess | undefined;
      try {
        daemon = await startInNs(pair.a.ns, process.execPath, [CLI, 'daemon', '-c', join(dir, 'pqike.yaml')], { readyPattern: /control socket/, readyTimeoutMs: 20_000, logPath: log });
        await charon.loadConfig(o.charonConfig(pair));
        await fn({ pair, charon, dir, socket, log });
      } finally {
        await daemon?.stop('SIGTERM', 5000);
        await charon.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * charon's side of the pair (B, sun.pqike.test) towards the daemon (A, moon.pqike.test) with
 * the classic proposal Debian's strongSwan 5.9.8 can do; `o` sets the rest (selectors, ESP).
 */
export function charonPeer(pair: NetnsPair, psk: string, o: Pick<SwanctlConnParams, 'localTs' | 'remoteTs'> & Partial<SwanctlConnParams>): SwanctlConnParams {
  return {
    name: 'pq',
    localAddrs: pair.b.addr,
    remoteAddrs: pair.a.addr,
    localId: 'sun.pqike.test',
    remoteId: 'moon.pqike.test',
    psk,
    ikeProposals: ['aes256gcm16-prfsha384-x25519'],
    espProposals: ['aes256gcm16'],
    childName: 'net',
    ...o,
  };
}

/** The top of the daemon's YAML: the secrets file, debug JSON logs, the control socket, the userspace plane. */
export function daemonHead(socket: string): string {
  return `secrets: secrets.yaml
log:
  level: debug
  format: json
control:
  socket: ${socket}
data_plane: userspace
`;
}
