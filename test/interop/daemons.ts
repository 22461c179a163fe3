/**
 * Two pqike daemons in a namespace pair (test/interop/netns.ts), for data plane tests: each with
 * its config file, secrets (0600), control socket and log; `pqike` CLI calls against either.
 * The child's selectors are the pair's inner addresses (10.99.1.0/24 in A, 10.99.2.0/24 in B).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, startInNs, withNetnsPair } from './netns.js';
import type { NetnsPair, NetnsPairOptions, NsProcess } from './netns.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CLI = resolve(here, '../../src/cli/main.js');
const PSK = 'pqike-two-daemons-test-psk-0123456789abcdef';

export interface DaemonSide {
  readonly ns: string;
  readonly socket: string;
  readonly log: string;
  readonly config: string;
  process: NsProcess;
}

export interface DaemonPair {
  readonly pair: NetnsPair;
  readonly dir: string;
  readonly a: DaemonSide;
  readonly b: DaemonSide;
  /** Restart one side with the same config (after a kill). */
  restart(side: DaemonSide): Promise<void>;
}

export interface DaemonPairOptions {
  /** Top-level lines both configs get (e.g. `data_plane: userspace`). */
  readonly top: string;
  /** The IKE proposal(s) of both sides. */
  readonly proposals?: readonly string[];
  readonly espProposals?: readonly string[];
  /** Extra lines of the child section, both sides (e.g. `rekey_bytes: 2000000`). */
  readonly child?: string;
  /** Extra lines of the connection section. */
  readonly connection?: string;
  /** Each side's metrics port on its veth address (metrics: section), when given. */
  readonly metricsPort?: number;
  /** A's start action for the child (default none: the test calls pqike up). */
  readonly startActionA?: 'none' | 'start' | 'trap';
  readonly netns?: NetnsPairOptions;
  /** Another topology than a plain pair (e.g. nat-topology.ts); its destroy() runs at the end. */
  readonly makePair?: () => Promise<NetnsPair>;
  /** B's remote_addrs (default A's address; '%any' when A is behind a NAT). */
  readonly remoteB?: string;
}

function config(o: DaemonPairOptions, me: { addr: string; inner: string; id: string }, peer: { addr: string; inner: string; id: string; remote?: string }, socket: string, startAction: string): string {
  const net = (a: string): string => (a.includes(':') ? `${a.split(':').slice(0, 3).join(':')}::/48` : `${a.split('.').slice(0, 3).join('.')}.0/24`);
  const props = (o.proposals ?? ['aes256gcm16-prfsha384-x25519-ke1_mlkem768']).map((p) => `      - ${p}`).join('\n');
  const esp = (o.espProposals ?? ['aes256gcm16']).join(', ');
  return `secrets: secrets.yaml
log:
  level: debug
  format: json
control:
  socket: ${socket}
${o.metricsPort === undefined ? '' : `metrics:\n  listen: ${me.addr}:${o.metricsPort}\n`}${o.top}
connections:
  tun:
    local_addrs: ${me.addr}
    remote_addrs: '${peer.remote ?? peer.addr}'
    local_id: ${me.id}
    remote_id: ${peer.id}
    psk: k
    proposals:
${props}
${o.connection ?? ''}
    children:
      net:
        local_ts: [${net(me.inner)}]
        remote_ts: [${net(peer.inner)}]
        esp_proposals: [${esp}]
        start_action: ${startAction}
${o.child ?? ''}
`;
}

export async function withDaemonPair(o: DaemonPairOptions, fn: (d: DaemonPair) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-2d-'));
  writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
  try {
    const topology = async (fn: (pair: NetnsPair) => Promise<void>): Promise<void> => {
      if (!o.makePair) return withNetnsPair(fn, o.netns ?? {});
      const pair = await o.makePair();
      try {
        await fn(pair);
      } finally {
        await pair.destroy();
      }
    };
    await topology(async (pair) => {
      const inner = (x: string | null): string => {
        assert.ok(x, 'the pair needs inner addresses');
        return x;
      };
      const A = { addr: pair.a.addr, inner: inner(pair.a.innerAddr), id: 'a.pqike.test' };
      const B = { addr: pair.b.addr, inner: inner(pair.b.innerAddr), id: 'b.pqike.test' };
      const side = async (name: 'a' | 'b', ns: string, me: typeof A, peer: typeof A & { remote?: string }, sa: string): Promise<DaemonSide> => {
        const socket = join(dir, name, 'pqike.sock');
        const file = join(dir, `${name}.yaml`);
        writeFileSync(file, config(o, me, peer, socket, sa));
        const log = join(dir, `${name}.log`);
        const process_ = await start(ns, file, log);
        return { ns, socket, log, config: file, process: process_ };
      };
      const a = await side('a', pair.a.ns, A, B, o.startActionA ?? 'none');
      const b = await side('b', pair.b.ns, B, o.remoteB ? { ...A, remote: o.remoteB } : A, 'none');
      try {
        await fn({
          pair,
          dir,
          a,
          b,
          restart: async (s) => {
            if (s.process.running) await s.process.stop('SIGKILL', 1000);
            s.process = await start(s.ns, s.config, s.log);
          },
        });
      } finally {
        await Promise.all([a.process.stop('SIGTERM', 6000), b.process.stop('SIGTERM', 6000)]);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function start(ns: string, file: string, log: string): Promise<NsProcess> {
  return startInNs(ns, process.execPath, [CLI, 'daemon', '-c', file], { readyPattern: /control socket/, readyTimeoutMs: 20_000, logPath: log });
}

export async function pqike(side: { socket: string }, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args, '--socket', side.socket], { allowFail: true, timeoutMs: 40_000 });
}

/** What `pqike list-sas --json` prints (the daemon's own view types). */
export type { ChildView as ChildJson, SaView as SaJson } from '../../src/daemon/listing.js';
import type { SaView as SaJson } from '../../src/daemon/listing.js';

export async function listSas(side: { socket: string }): Promise<SaJson[]> {
  const r = await pqike(side, 'list-sas', '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SaJson[];
}
