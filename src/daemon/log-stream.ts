/**
 * The daemon's live log for `pqike log` (like `swanctl --log`): every record the daemon's
 * logger makes is offered to the subscribers of the control socket's `log` request, as one
 * JSON line each, filtered by connection, IKE SA and level.
 *
 * The daemon never waits for a subscriber: a record is handed to the socket only while the
 * subscriber's unsent backlog is below SUBSCRIBER_BACKLOG_BYTES; beyond it, records are dropped
 * and counted, and once the client has read its backlog it gets one record saying how many it
 * missed. At most MAX_LOG_SUBSCRIBERS subscribe at once. With nobody subscribed a record costs
 * one comparison.
 */
import { Logger } from './logger.js';
import type { LogContext, LogLevel } from './logger.js';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** `pqike log` streams open at once. */
export const MAX_LOG_SUBSCRIBERS = 8;
/** Unsent octets a subscriber may have queued before its records are dropped. */
export const SUBSCRIBER_BACKLOG_BYTES = 256 * 1024;

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export interface LogFilter {
  /** Only records of this connection (records without a connection are left out). */
  readonly conn?: string;
  /** Only records of this IKE SA. */
  readonly sa?: number;
  /** The lowest level wanted. */
  readonly level: LogLevel;
}

/** Where a subscriber's lines go: a socket, in the daemon. */
export interface LogSink {
  /** Octets written but not yet taken by the client. */
  backlog(): number;
  write(line: string): void;
}

/** One record as a JSON object (the daemon's JSON log line). */
export type LogRecord = Readonly<Record<string, unknown>> & { readonly ts: string; readonly level: LogLevel; readonly msg: string };

export class LogSubscription {
  /** Records dropped since the client last caught up (reported to it once it has). */
  private missed = 0;
  /** Records dropped in all. */
  dropped = 0;
  delivered = 0;

  constructor(
    readonly filter: LogFilter,
    private readonly sink: LogSink,
    private readonly limit: number,
  ) {}

  wants(r: LogRecord): boolean {
    const f = this.filter;
    if (ORDER[r.level] < ORDER[f.level]) return false;
    if (f.conn !== undefined && r['conn'] !== f.conn) return false;
    if (f.sa !== undefined && r['sa'] !== f.sa) return false;
    return true;
  }

  /** Hand one line over, or count it as dropped if the client is behind. Never waits. */
  offer(line: string, ts: string): void {
    if (this.sink.backlog() >= this.limit) {
      this.missed++;
      this.dropped++;
      return;
    }
    if (this.missed > 0) {
      const n = this.missed;
      this.missed = 0;
      this.sink.write(`${JSON.stringify({ ts, level: 'warn', msg: `${n} log record(s) dropped: this client did not read fast enough`, dropped: n })}\n`);
    }
    this.sink.write(line);
    this.delivered++;
  }
}

export class LogHub {
  private readonly subs = new Set<LogSubscription>();
  /** The lowest level any subscriber wants (ORDER), or Infinity when there is none. */
  private floor = Infinity;

  constructor(
    readonly maxSubscribers = MAX_LOG_SUBSCRIBERS,
    readonly backlogLimit = SUBSCRIBER_BACKLOG_BYTES,
  ) {}

  get size(): number {
    return this.subs.size;
  }

  /** Does any subscriber want records of this level? */
  wants(level: LogLevel): boolean {
    return ORDER[level] >= this.floor;
  }

  /** undefined when MAX_LOG_SUBSCRIBERS are already subscribed. */
  subscribe(filter: LogFilter, sink: LogSink): LogSubscription | undefined {
    if (this.subs.size >= this.maxSubscribers) return undefined;
    const s = new LogSubscription(filter, sink, this.backlogLimit);
    this.subs.add(s);
    this.refloor();
    return s;
  }

  unsubscribe(s: LogSubscription): void {
    if (this.subs.delete(s)) this.refloor();
  }

  private refloor(): void {
    this.floor = Infinity;
    for (const s of this.subs) this.floor = Math.min(this.floor, ORDER[s.filter.level]);
  }

  /** Offer one record to every subscriber that wants it (serialized once). */
  publish(r: LogRecord): void {
    if (!this.wants(r.level)) return;
    let line: string | undefined;
    for (const s of this.subs) {
      if (!s.wants(r)) continue;
      line ??= `${JSON.stringify(r)}\n`;
      s.offer(line, r.ts);
    }
  }
}

/**
 * The daemon's logger, also feeding a LogHub. A level the log file leaves out is still made
 * (and published) while a subscriber asks for it, e.g. `pqike log --level debug`.
 */
export class HubLogger extends Logger {
  private readonly hub: LogHub;

  constructor(hub: LogHub, ...args: ConstructorParameters<typeof Logger>) {
    super(...args);
    this.hub = hub;
  }

  override enabled(level: LogLevel): boolean {
    return super.enabled(level) || this.hub.wants(level);
  }

  override log(level: LogLevel, message: string, ctx: LogContext = {}, fields: Record<string, unknown> = {}): void {
    if (this.hub.wants(level)) {
      this.hub.publish({
        ts: new Date().toISOString(),
        level,
        ...(ctx.conn === undefined ? {} : { conn: ctx.conn }),
        ...(ctx.sa === undefined ? {} : { sa: ctx.sa }),
        msg: message,
        ...fields,
      });
    }
    // Logger.log asks enabled(), which says yes for the subscribers' levels too: the file
    // gets only the levels it is configured for.
    if (super.enabled(level)) super.log(level, message, ctx, fields);
  }
}
