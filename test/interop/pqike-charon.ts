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
import assert from 'node:assert/strict';
import { CLI, listSas } from './daemons.js';
import type { SaJson } from './daemons.js';
import { sleep } from './netns.js';
import type { IkeSaInfo } from './strongswan.js';
import { ping, tail } from './traffic.js';

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

/** The one IKE SA pqike lists, once it is established with one Child SA. */
export async function ourSa(env: PqikeCharon, not?: { id?: number; childSpi?: string }): Promise<SaJson> {
  const deadline = Date.now() + 10_000;
  let last: SaJson[] = [];
  for (;;) {
    last = await listSas(env);
    const sa = last.length === 1 ? last[0] : undefined;
    if (sa && sa.state === 'established' && sa.id !== not?.id && sa.children.length === 1 && sa.children[0]?.spiIn !== not?.childSpi) return sa;
    if (Date.now() > deadline) assert.fail(`pqike does not list one established IKE SA with one Child SA: ${JSON.stringify(last)}\n${tail(env.log)}`);
    await sleep(100);
  }
}

/**
 * Wait until charon lists exactly our IKE SA (same SPIs, ESTABLISHED) with exactly our Child
 * SA INSTALLED (its spi-in is our spiOut). Another Child SA may be there in state DELETED: after
 * a rekey charon 5.9.8 keeps the old inbound SA for delete_rekeyed_delay (5 s).
 */
export async function sameOnCharon(env: PqikeCharon, sa: SaJson): Promise<IkeSaInfo> {
  const child = sa.children[0];
  assert.ok(child);
  const deadline = Date.now() + 10_000;
  let last: IkeSaInfo[] = [];
  for (;;) {
    last = await env.charon.listSas();
    const peer = last.length === 1 ? last[0] : undefined;
    const installed = peer?.children.filter((c) => c.state === 'INSTALLED') ?? [];
    const others = peer?.children.filter((c) => c.state !== 'INSTALLED') ?? [];
    if (
      peer &&
      peer.name === 'pq' &&
      peer.state === 'ESTABLISHED' &&
      peer.raw['initiator-spi'] === sa.spiI &&
      peer.raw['responder-spi'] === sa.spiR &&
      installed.length === 1 &&
      installed[0]?.raw['spi-in'] === child.spiOut &&
      installed[0]?.raw['spi-out'] === child.spiIn &&
      others.every((c) => c.state === 'DELETED')
    ) {
      return peer;
    }
    if (Date.now() > deadline) {
      const view = last.map((s) => ({ name: s.name, state: s.state, i: s.raw['initiator-spi'], r: s.raw['responder-spi'], children: s.children.map((c) => [c.state, c.raw['spi-in'], c.raw['spi-out']]) }));
      assert.fail(`charon does not list our SAs (${sa.spiI}/${sa.spiR}, child ${child.spiIn}/${child.spiOut}): ${JSON.stringify(view)}\n${env.charon.logTail()}`);
    }
    await sleep(100);
  }
}

/** A ping from pqike's side (10.99.1.1) to strongSwan's (10.99.2.1) through the Child SA. */
export async function pingThrough(env: PqikeCharon, what: string, count = 3): Promise<void> {
  const p = await ping(env.pair.a.ns, '10.99.1.1', '10.99.2.1', count, 0.1);
  assert.equal(p.received, p.sent, `${what}: ping pqike -> strongSwan through the Child SA: ${p.text}\n${tail(env.log)}\n${env.charon.logTail()}`);
}
