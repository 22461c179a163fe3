/**
 * The responders of bench/responder-compare.ts and bench/setup-rate-compare.ts, each alone in
 * namespace B of a namespace pair of its own, as a gateway runs it: the pqike daemon with its
 * configuration file (data_plane: fake, so nothing is installed anywhere), Debian's charon with
 * swanctl and kernel-libipsec (userspace ESP: this kernel has no ESP; it installs each Child SA
 * in charon's own memory, the closest Debian's charon has to installing nothing). Both get
 * their DoS thresholds raised (one client address holds every half-open SA).
 *
 * Each responder tells how many IKE SAs it has established so far (`established()`), from its
 * own control interface: the daemon's `stats` (ikeSasEstablishedTotal), charon's
 * `swanctl --stats` (IKE_SAs total less half-open; for a client that deletes its SAs, the
 * load-tester with delete_after_established, the IKE_SA established lines of charon's log).
 * One request costs either responder a fraction of a millisecond, twice per measured window.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../src/daemon/control.js';
import { Charon } from '../test/interop/strongswan.js';
import { startInNs, withNetnsPair } from '../test/interop/netns.js';
import type { NetnsPair, NsProcess } from '../test/interop/netns.js';
import { BENCH_LIMITS_YAML } from './common.js';
import type { InitiatorConfig } from './common.js';
import { LoadTester } from './load-tester.js';
import type { LoadTesterOptions } from './load-tester.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** This tree's CLI: src/cli/main.js of the same outDir as this bench/ directory. */
export const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
export const BENCH_PSK = 'pqike-bench-psk-not-secret-0123456789';
export const INITIATOR_ID = 'initiator.bench.pqike';
export const RESPONDER_ID = 'responder.bench.pqike';
/** Traffic selectors of bench/common.ts: initiator side, responder side. */
export const TS_I = '10.1.0.0/16';
export const TS_R = '10.2.0.0/16';
/** Addresses inside those traffic selectors, so that charon's libipsec finds a source for its routes. */
export const INNER = { innerA: '10.1.0.1', innerB: '10.2.0.1' } as const;

const TICK_US = 1_000_000 / 100; // USER_HZ: /proc/PID/stat counts in 1/100 s on Linux

/**
 * utime + stime of a process, µs: /proc/PID/stat of the thread group leader sums every thread
 * of the process, those still running and those that have exited (not its children).
 */
export function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

export type ResponderKind = 'pqike' | 'charon' | 'baseline' | 'bare';

export interface Responder {
  readonly who: ResponderKind;
  readonly pair: NetnsPair;
  readonly pid: number;
  /** IKE SAs established by this responder since it started. */
  established(): Promise<number>;
}

export function daemonYaml(pair: NetnsPair, socket: string, proposal: string): string {
  return `secrets: secrets.yaml
log:
  level: info
control:
  socket: ${socket}
data_plane: fake
${BENCH_LIMITS_YAML}connections:
  bench:
    local_addrs: ${pair.b.addr}
    remote_addrs: '%any'
    local_id: ${RESPONDER_ID}
    remote_id: ${INITIATOR_ID}
    psk: bench
    proposals: [${proposal}]
    children:
      net:
        local_ts: [${TS_R}]
        remote_ts: [${TS_I}]
        esp_proposals: [aes256gcm16]
`;
}

export interface DaemonOptions {
  readonly proposal: string;
  /** The CLI to run (another tree's, for a baseline). */
  readonly cli?: string;
  readonly who?: ResponderKind;
  /** Write a .cpuprofile of the daemon into this directory. */
  readonly cpuProfDir?: string;
  /** Run bench/bare-responder.js (the bare engine on the daemon's UDP driver) on the same configuration file instead of the daemon. */
  readonly bare?: boolean;
}

/** The bare engine's responder script, beside this file. */
const BARE = join(HERE, 'bare-responder.js');

/** The pqike daemon (or with `bare`, the bare engine) as responder in namespace B of a fresh pair, for the length of `fn`. */
export async function withDaemon<T>(o: DaemonOptions, fn: (r: Responder) => Promise<T>): Promise<T> {
  return withNetnsPair(async (pair) => {
    const dir = mkdtempSync(join(tmpdir(), 'pqike-bench-daemon-'));
    const socket = join(dir, 'run', 'pqike.sock');
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  bench: "${BENCH_PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'pqike.yaml'), daemonYaml(pair, socket, o.proposal));
    let proc: NsProcess | undefined;
    try {
      proc = await startInNs(pair.b.ns, process.execPath, [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...(o.bare ? [BARE, join(dir, 'pqike.yaml')] : [o.cli ?? CLI, 'daemon', '-c', join(dir, 'pqike.yaml')])], { readyPattern: /control socket/, readyTimeoutMs: 20_000, logPath: join(dir, 'daemon.log') });
      const established = async (): Promise<number> => {
        const r = await request(socket, { cmd: 'stats', args: [], opts: {} }, 10_000);
        const n = r.ok ? (r.data as { ikeSasEstablishedTotal?: unknown }).ikeSasEstablishedTotal : undefined;
        if (typeof n !== 'number') throw new Error(`the daemon's stats have no ikeSasEstablishedTotal: ${JSON.stringify(r)}`);
        return n;
      };
      return await fn({ who: o.who ?? 'pqike', pair, pid: proc.pid, established });
    } finally {
      await proc?.stop('SIGTERM', 5000);
      rmSync(dir, { recursive: true, force: true });
    }
  }, INNER);
}

export interface CharonResponderOptions {
  readonly proposal: string;
  /** Log level of every subsystem (default: test/interop/strongswan.ts's, ike and cfg at 2). */
  readonly logLevel?: number;
  /** charon.ikesa_table_size (default: charon's own, 1 bucket). */
  readonly ikesaTableSize?: number;
  /**
   * Count established IKE SAs from charon's log ("IKE_SA …[N] established between", logged at
   * ike level 0, so not with a logLevel below 0) instead of swanctl --stats, whose count is of
   * the SAs charon holds now: for a client that deletes its SAs.
   */
  readonly countFromLog?: boolean;
}

const IKE_SA_ESTABLISHED = /IKE_SA \S+\[\d+\] established between/g;

/** What is wrong with a --warmup option (seconds, default 1), or undefined. */
export function warmupOptionError(warmup: string | undefined): string | undefined {
  return Number(warmup ?? 1) >= 0 ? undefined : `--warmup is a number of seconds, not ${warmup}`;
}

/**
 * What is wrong with the steady-state options of a compare tool, if anything: the warm-up
 * (`warmup`, seconds as given) must be a number of seconds ≥ 0, and a client that deletes its
 * SAs needs charon's log to count them (countFromLog), which a log level below 0 turns off.
 */
export function steadyStateOptionError(o: { warmup: string | undefined; deleting: boolean; deleteFlag: string; charonLogLevel: number | undefined }): string | undefined {
  const warmupError = warmupOptionError(o.warmup);
  if (warmupError !== undefined) return warmupError;
  if (o.deleting && o.charonLogLevel !== undefined && o.charonLogLevel < 0) return `${o.deleteFlag} counts charon's IKE SAs from its log, which --charon-loglevel below 0 turns off`;
  return undefined;
}

/** Debian's charon as responder in namespace B of a fresh pair, for the length of `fn`. */
export async function withCharon<T>(o: CharonResponderOptions, fn: (r: Responder) => Promise<T>): Promise<T> {
  return withNetnsPair(async (pair) => {
    const charon = await Charon.start({
      ns: pair.b.ns,
      name: 'bench',
      removeDirOnStop: true,
      ...(o.logLevel !== undefined ? { logLevels: { default: o.logLevel } } : {}),
      // charon's own DoS thresholds, raised as the daemon's are.
      extraCharonConf: `  dos_protection = no\n  cookie_threshold = 100000\n  block_threshold = 100000\n${o.ikesaTableSize ? `  ikesa_table_size = ${o.ikesaTableSize}\n  ikesa_table_segments = 16\n` : ''}`,
    });
    try {
      await charon.loadConfig([
        {
          name: 'bench',
          localAddrs: pair.b.addr,
          remoteAddrs: '%any',
          localId: RESPONDER_ID,
          remoteId: INITIATOR_ID,
          psk: BENCH_PSK,
          ikeProposals: [o.proposal],
          espProposals: ['aes256gcm16'],
          childName: 'net',
          localTs: TS_R,
          remoteTs: TS_I,
          rekeyTime: '0',
          childRekeyTime: '0',
        },
      ]);
      const established = async (): Promise<number> => {
        if (o.countFromLog) {
          return charon.log().match(IKE_SA_ESTABLISHED)?.length ?? 0;
        }
        const r = await charon.swanctl(['--stats']);
        const m = /IKE_SAs: (\d+) total, (\d+) half-open/.exec(r.stdout);
        if (!m) throw new Error(`swanctl --stats: no IKE_SAs line in ${r.stdout}`);
        return Number(m[1]) - Number(m[2]);
      };
      return await fn({ who: 'charon', pair, pid: charon.proc.pid, established });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\ncharon's log ends:\n${charon.log().split('\n').slice(-20).join('\n')}`);
    } finally {
      await charon.stop();
    }
  }, INNER);
}

/** What every benchmark client of a responder pair shares: the pair's addresses, the PSK, the identities and selectors above. */
export function benchInitiatorConfig(pair: NetnsPair, o: { proposal: string; concurrency: number; warmupMs: number; runMs: number; deleteAfterEstablished?: boolean }): InitiatorConfig {
  return { type: 'config', proposal: o.proposal, psk: Buffer.from(BENCH_PSK).toString('base64'), port: 500, concurrency: o.concurrency, warmupMs: o.warmupMs, runMs: o.runMs, runs: 1, local: pair.a.addr, remote: pair.b.addr, ...(o.deleteAfterEstablished === true ? { deleteAfterEstablished: true } : {}) };
}

/** strongSwan's load-tester in namespace A of `pair`, with this file's PSK, identities and selectors. */
export function startLoadTester(pair: NetnsPair, o: Pick<LoadTesterOptions, 'proposal' | 'initiators' | 'delayMs' | 'initLimit'> & Partial<LoadTesterOptions>): Promise<LoadTester> {
  return LoadTester.start({ ns: pair.a.ns, local: pair.a.addr, remote: pair.b.addr, esp: 'aes256gcm16', psk: BENCH_PSK, initiatorId: INITIATOR_ID, responderId: RESPONDER_ID, tsi: TS_I, tsr: TS_R, ...o });
}
