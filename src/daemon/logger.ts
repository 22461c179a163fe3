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
    const ts = this.clock().toISOString();
    if (this.format === 'json') {
      this.out.write(`${JSON.stringify({ ts, level, ...(ctx.conn === undefined ? {} : { conn: ctx.conn }), ...(ctx.sa === undefined ? {} : { sa: ctx.sa }), msg: message, ...fields })}\n`);
      return;
    }
    const where = ctx.conn !== undefined || ctx.sa !== undefined ? ` <${ctx.conn ?? ''}|${ctx.sa ?? ''}>` : '';
    this.out.write(`${ts} ${level.toUpperCase().padEnd(5)}${where} ${message}\n`);
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
