/**
 * Shared pieces of the handshake benchmark: the benchmarked proposals, the PSK connection
 * pair (initiator / responder), small statistics helpers and the IPC messages between the
 * orchestrator (bench/handshake.ts) and its worker processes.
 */
import { parseIdentity } from '../src/engine/identity.js';
import { parseProposals } from '../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../src/engine/traffic-selectors.js';
import type { ConnectionConfig } from '../src/engine/types.js';

export const DEFAULT_PROPOSALS: readonly string[] = [
  'aes256gcm16-prfsha384-x25519',
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768',
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024',
];

export const LOOPBACK = '127.0.0.1';

/**
 * Initiator and responder connections for one proposal, PSK auth, first Child SA in IKE_AUTH
 * (ESP proposal `espProposal`; its KE transforms apply to later CREATE_CHILD_SA exchanges).
 */
export function benchConnections(
  proposal: string,
  psk: Uint8Array,
  addrI: string,
  addrR: string,
  espProposal = 'aes256gcm16',
): { initiator: ConnectionConfig; responder: ConnectionConfig } {
  const ike = parseProposals([proposal], 'ike');
  const esp = parseProposals([espProposal], 'esp');
  const initiator: ConnectionConfig = {
    name: 'bench',
    localAddress: addrI,
    remoteAddress: addrR,
    localId: parseIdentity('initiator.bench.pqike'),
    remoteId: parseIdentity('responder.bench.pqike'),
    psk,
    ikeProposals: ike,
    children: [
      {
        name: 'net',
        espProposals: esp,
        localTs: [parseTrafficSelector('10.1.0.0/16')],
        remoteTs: [parseTrafficSelector('10.2.0.0/16')],
        mode: 'tunnel',
      },
    ],
  };
  const responder: ConnectionConfig = {
    name: 'bench',
    localAddress: addrR,
    remoteAddress: '%any',
    localId: parseIdentity('responder.bench.pqike'),
    psk,
    ikeProposals: ike,
    children: [
      {
        name: 'net',
        espProposals: esp,
        localTs: [parseTrafficSelector('10.2.0.0/16')],
        remoteTs: [parseTrafficSelector('10.1.0.0/16')],
        mode: 'tunnel',
      },
    ],
  };
  return { initiator, responder };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function toBytes(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

// ---- IPC between the orchestrator and the UDP workers --------------------------------------

export interface ResponderConfig {
  readonly type: 'config';
  readonly proposal: string;
  /** Base64; passed over the IPC channel, never on a command line. */
  readonly psk: string;
}

export interface InitiatorConfig {
  readonly type: 'config';
  readonly proposal: string;
  readonly psk: string;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly runMs: number;
  readonly runs: number;
  /**
   * Open loop: start this many IKE SAs per second (in ticks of 10 ms) whatever the responder
   * does, with at most `concurrency` in flight (a tick that finds them all in flight starts
   * none; the result counts those as `skipped`). Without it, closed loop: each completed or
   * failed SA is replaced at once, keeping `concurrency` in flight.
   */
  readonly rate?: number;
  /**
   * Delete each IKE SA (an INFORMATIONAL with a Delete, RFC 7296 §1.4.1) once its first Child SA
   * is up, as strongSwan's load-tester does with delete_after_established: both ends then hold
   * a few SAs, not every SA of the run. The deletes run outside the `concurrency` in flight.
   */
  readonly deleteAfterEstablished?: boolean;
  /** Our address and the responder's; default 127.0.0.1 both (bench/responder-compare.ts runs the worker in a namespace). */
  readonly local?: string;
  readonly remote?: string;
}

export interface CpuSample {
  readonly type: 'cpu';
  /** process.cpuUsage() user+system, µs. */
  readonly cpuUs: number;
  readonly wallMs: number;
  readonly sas: number;
}

export interface InitiatorResult {
  readonly type: 'result';
  /** Completed IKE SAs (with Child SA) per second, one entry per run. */
  readonly rates: number[];
  readonly completed: number;
  /** Completed during the measured runs (after the warm-up). */
  readonly completedMeasured: number;
  readonly failed: number;
  /** With deleteAfterEstablished: IKE SAs whose delete failed (unanswered, RFC 7296 §2.4). */
  readonly deleteFailed?: number;
  readonly retransmits: number;
  /** Open loop (`rate`): SAs not started because `concurrency` were in flight. */
  readonly skipped?: number;
  /** CPU time of the initiator process during the measured runs, µs, and the wall time, ms. */
  readonly cpuUs: number;
  readonly wallMs: number;
  readonly firstError?: string;
}

export type ToWorker = ResponderConfig | InitiatorConfig | { readonly type: 'cpu?' } | { readonly type: 'stop' };
export type FromWorker =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'mark'; readonly phase: 'start' | 'end' }
  | CpuSample
  | InitiatorResult
  | { readonly type: 'error'; readonly message: string };

/** Exit when the orchestrator goes away (no orphaned workers). */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0));
}

export function send(msg: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

/**
 * The `limits:` of a benchmark daemon: one client address holds every half-open SA, so the
 * cookie and block thresholds (and the half-open cap) are raised out of the way.
 */
export const BENCH_LIMITS_YAML = `limits:
  cookie_threshold: 100000
  cookie_threshold_ip: 100000
  block_threshold: 100000
  init_limit_half_open: 100000
`;
