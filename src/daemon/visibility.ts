/**
 * Which engine events the daemon's log shows at which level, and how refusals stay visible
 * under a flood without flooding the log.
 *
 * - Every refusal we send (a 'refused' event: NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, a COOKIE
 *   challenge, AUTHENTICATION_FAILED, TS_UNACCEPTABLE, INVALID_SYNTAX, …) is one info line with
 *   what was received and what is configured; the metrics count each (metrics.ts).
 * - A failure is one line: the 'ike-failed' event (the engine emits no log line beside it).
 * - A retransmission is debug the first time, info from the second on (a peer that does not
 *   answer twice is worth seeing).
 * - Refusals of one notify type are written at most `burst` times per `windowMs`: a flood of
 *   IKE_SA_INIT requests (each answered with a COOKIE, say) costs a few lines, and the next line
 *   written says how many were left out. The label of that budget is the notify's name from
 *   the IANA registry, so the table has a bounded number of entries.
 */
import { NotifyType } from '../wire/constants.js';
import type { EngineEvent } from '../engine/types.js';
import type { LogLevel } from './logger.js';
import { boundedName } from './metrics.js';

/** The level an event is logged at. */
export function eventLogLevel(e: EngineEvent): LogLevel {
  switch (e.type) {
    case 'log':
      return e.level;
    case 'message':
    case 'ike-state':
      return 'debug';
    case 'retransmit':
      return e.attempt >= 2 ? 'info' : 'debug';
    case 'ike-failed':
      // A half-open SA that a flood fills the table with is not worth a line each (metrics count them).
      return e.halfOpen ? 'debug' : 'warn';
    case 'child-failed':
      return 'warn';
    default:
      return 'info';
  }
}

interface Budget {
  start: number;
  written: number;
  /** Left out in this window. */
  skipped: number;
}

/** The refusal lines' budget per notify type (see the file comment). */
export class RefusalLogBudget {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly burst = 10,
    private readonly windowMs = 10_000,
  ) {}

  /**
   * May this refusal be written now? `skipped`: refusals of its type left out before it (to say
   * so on its line), 0 when none were.
   */
  admit(e: Extract<EngineEvent, { type: 'refused' }>, now: number): { readonly write: boolean; readonly skipped: number } {
    const key = boundedName(NotifyType, e.notify);
    let b = this.budgets.get(key);
    if (!b) this.budgets.set(key, (b = { start: now, written: 0, skipped: 0 }));
    if (now - b.start >= this.windowMs) {
      b.start = now;
      b.written = 0;
    }
    if (b.written >= this.burst) {
      b.skipped++;
      return { write: false, skipped: 0 };
    }
    b.written++;
    const skipped = b.skipped;
    b.skipped = 0;
    return { write: true, skipped };
  }
}
