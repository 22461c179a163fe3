/**
 * Structured logs: JSON lines with a level and per-SA context (like charon's `<conn|1>`), or
 * one readable line each on a terminal. Messages never carry key material (engine events with
 * keys are formatted without them).
 */
import type { LineSink } from './log-output.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LogContext {
  readonly conn?: string;
  readonly sa?: number;
}

export class Logger {
  constructor(
    private readonly out: LineSink,
    private readonly level: LogLevel,
    private readonly format: 'json' | 'text',
    private readonly clock: () => Date = () => new Date(),
  ) {}

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.level];
  }

  log(level: LogLevel, message: string, ctx: LogContext = {}, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    const ts = this.timestamp();
    if (this.format === 'json') {
      this.out.write(`${jsonLine(ts, level, ctx, message, fields)}\n`);
      return;
    }
    const where = ctx.conn !== undefined || ctx.sa !== undefined ? ` <${ctx.conn ?? ''}|${ctx.sa ?? ''}>` : '';
    this.out.write(`${ts} ${level.toUpperCase().padEnd(5)}${where} ${message}\n`);
  }

  private lastMs = Number.NaN;
  private lastTs = '';

  /** The clock's time as ISO 8601, made once per millisecond: a loaded daemon writes several lines in each. */
  private timestamp(): string {
    const now = this.clock();
    const ms = now.getTime();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTs = now.toISOString();
    }
    return this.lastTs;
  }

  debug(m: string, c?: LogContext, f?: Record<string, unknown>): void {
    this.log('debug', m, c, f);
  }
  info(m: string, c?: LogContext, f?: Record<string, unknown>): void {
    this.log('info', m, c, f);
  }
  warn(m: string, c?: LogContext, f?: Record<string, unknown>): void {
    this.log('warn', m, c, f);
  }
  error(m: string, c?: LogContext, f?: Record<string, unknown>): void {
    this.log('error', m, c, f);
  }
}

/** Keys of a line that its fields must not repeat (a JSON object with a key twice is ambiguous, RFC 8259 §4). */
const LINE_KEYS = ['ts', 'level', 'conn', 'sa', 'msg'] as const;

/**
 * One JSON log line: ts, level, the context, msg, then the fields, as one object. Made by
 * joining JSON texts rather than by copying the fields into a new object; where a field has
 * one of the line's own keys, the object form gives the field's value, as a spread would.
 */
export function jsonLine(ts: string, level: LogLevel, ctx: LogContext, message: string, fields: Record<string, unknown>): string {
  if (LINE_KEYS.some((k) => Object.hasOwn(fields, k))) {
    return JSON.stringify({ ts, level, ...(ctx.conn === undefined ? {} : { conn: ctx.conn }), ...(ctx.sa === undefined ? {} : { sa: ctx.sa }), msg: message, ...fields });
  }
  const head = `{"ts":"${ts}","level":"${level}"${ctx.conn === undefined ? '' : `,"conn":${JSON.stringify(ctx.conn)}`}${ctx.sa === undefined ? '' : `,"sa":${JSON.stringify(ctx.sa)}`},"msg":${JSON.stringify(message)}`;
  const rest = JSON.stringify(fields);
  return rest === '{}' ? `${head}}` : `${head},${rest.slice(1)}`;
}
