/**
 * Tunnels that come back by themselves, with strongSwan's swanctl.conf semantics:
 * - `keyingtries` (connection): an initiation that fails before the IKE SA is up is tried
 *   again, up to this many attempts in all (0: for ever), after a back-off that doubles from
 *   `retryDelayMs` up to `retryDelayMaxMs`, minus up to 10 % jitter;
 * - `dpdAction` (Child SA): when the peer is found dead (a request goes unanswered after all
 *   retransmissions, RFC 7296 §2.4), `restart` initiates the connection again, `trap` installs
 *   a trap policy for the child (the data plane starts it on traffic), `clear` does nothing;
 * - `closeAction` (Child SA): when the peer deletes the IKE SA (or the Child SA alone),
 *   `start` brings it up again, `trap` traps it, `none` does nothing.
 * A local delete, a rekey or a reload never restarts anything. Sans-I/O: the engine asks
 * when the next attempt is due and runs it from tick().
 */
import { TimerHeap } from './timer-heap.js';
import type { ConnectionConfig, Endpoint } from './types.js';

/** Why an IKE SA ended, as far as restarting it is concerned. */
export type EndCause = 'setup-failed' | 'dead-peer' | 'peer-deleted' | 'other';

/**
 * Whether an IKE SA that ended this way can lead to a new attempt at all: keyingtries for a
 * setup we initiated, dpd_action/close_action restart|start after a dead peer or the peer's
 * delete — never for a responder-only connection (remote_addrs %any: nowhere to initiate to)
 * and never for a peer's half-open SA that failed (a flood makes thousands of those).
 */
export function mayRestart(conn: ConnectionConfig, cause: EndCause, wasInitiator: boolean, restart: boolean): boolean {
  if (conn.remoteAddress === '%any') return false;
  if (cause === 'setup-failed') return wasInitiator;
  return (cause === 'dead-peer' || cause === 'peer-deleted') && restart;
}

export interface RestartPlan {
  /** The attempt that will be made (1 = the first of a new cycle). */
  readonly attempt: number;
  readonly inMs: number;
}

export interface InitiateEndpoints {
  readonly local?: Endpoint;
  readonly remote?: Endpoint;
}

const DEFAULT_RETRY_DELAY_MS = 2000;
const DEFAULT_RETRY_DELAY_MAX_MS = 120_000;

interface Pending {
  readonly attempt: number;
  readonly at: number;
}

export class Restarts {
  private readonly due = new TimerHeap<string>();
  private readonly pending = new Map<string, Pending>();
  /** Where each connection was last initiated, so that a restart goes the same way. */
  private readonly endpoints = new Map<string, InitiateEndpoints>();

  constructor(private readonly jitter: () => number) {}

  /** A connection is being initiated now (by a command or a restart): nothing else is pending for it. */
  initiated(name: string, endpoints: InitiateEndpoints | undefined): void {
    this.cancelPending(name);
    if (endpoints) this.endpoints.set(name, endpoints);
  }

  endpointsOf(name: string): InitiateEndpoints | undefined {
    return this.endpoints.get(name);
  }

  /** The connection was taken down locally or removed: no further attempt. */
  cancel(name: string): void {
    this.cancelPending(name);
    this.endpoints.delete(name);
  }

  private cancelPending(name: string): void {
    this.pending.delete(name);
    this.due.remove(name);
  }

  /**
   * An IKE SA of `conn` ended. Returns the attempt scheduled because of it, if any. `attempt`
   * is the attempt the ended SA was (1 for a first initiation). `restart` says whether the
   * Child SA actions ask for the connection to come back after an established SA ended.
   */
  ended(conn: ConnectionConfig, cause: EndCause, attempt: number, wasInitiator: boolean, restart: boolean, now: number): RestartPlan | undefined {
    if (!mayRestart(conn, cause, wasInitiator, restart)) return undefined;
    if (cause === 'setup-failed') {
      const tries = conn.keyingTries ?? 1;
      if (tries !== 0 && attempt >= tries) return undefined;
      return this.schedule(conn, attempt + 1, this.backoff(conn, attempt), now);
    }
    if ((cause === 'dead-peer' || cause === 'peer-deleted') && restart) return this.schedule(conn, 1, this.backoff(conn, 1), now);
    return undefined;
  }

  /** RFC-free but strongSwan-like: retryDelay × 2^(failures - 1), capped, minus up to 10 % jitter. */
  private backoff(conn: ConnectionConfig, failures: number): number {
    const base = conn.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    const max = conn.retryDelayMaxMs ?? DEFAULT_RETRY_DELAY_MAX_MS;
    const d = Math.min(max, base * 2 ** Math.min(Math.max(failures - 1, 0), 30));
    return Math.round(d * (1 - 0.1 * this.jitter()));
  }

  private schedule(conn: ConnectionConfig, attempt: number, inMs: number, now: number): RestartPlan {
    this.pending.set(conn.name, { attempt, at: now + inMs });
    this.due.schedule(conn.name, now + inMs);
    return { attempt, inMs };
  }

  nextDeadline(): number | undefined {
    return this.due.peek();
  }

  /** Connections whose next attempt is due, with the attempt number; they are no longer pending. */
  popDue(now: number): { name: string; attempt: number }[] {
    const out: { name: string; attempt: number }[] = [];
    for (const name of this.due.popDue(now)) {
      const p = this.pending.get(name);
      this.pending.delete(name);
      if (p) out.push({ name, attempt: p.attempt });
    }
    return out;
  }

  /** For listings and tests: the attempt pending for a connection and when. */
  pendingFor(name: string): Pending | undefined {
    return this.pending.get(name);
  }
}
