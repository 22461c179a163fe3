/**
 * `pqike log [connection]`: the daemon's log as it happens, of one connection or all, like
 * `swanctl --log` (the control socket's streaming `log` request, docs/control-protocol.md).
 * Text lines as the daemon writes them on a terminal, or `--json`: the records as they come.
 */
import { DaemonNotRunning, streamLog } from '../daemon/control.js';
import { isLogLevel, LOG_LEVELS } from '../daemon/log-stream.js';
import type { LogRecord } from '../daemon/log-stream.js';
import { UsageError } from './connection-args.js';
import { connectionNames, noDaemon, socketOf, unknownConnection } from './control-cmd.js';
import { EXIT } from './verbs.js';
import type { Parsed } from './verbs.js';

/** A record as the daemon's text log writes it: `ts LEVEL <conn|sa> message`. */
export function formatRecord(r: LogRecord): string {
  const conn = typeof r['conn'] === 'string' ? r['conn'] : undefined;
  const sa = typeof r['sa'] === 'number' ? r['sa'] : undefined;
  const where = conn !== undefined || sa !== undefined ? ` <${conn ?? ''}|${sa ?? ''}>` : '';
  return `${r.ts} ${String(r.level).toUpperCase().padEnd(5)}${where} ${r.msg}`;
}

export async function runLog({ values, positionals }: Parsed): Promise<number> {
  const level = typeof values['level'] === 'string' ? values['level'] : 'info';
  if (!isLogLevel(level)) throw new UsageError(`pqike log: --level ${level}: write one of ${LOG_LEVELS.join(', ')}`);
  const saText = typeof values['sa'] === 'string' ? values['sa'] : undefined;
  if (saText !== undefined && !/^#?\d{1,9}$/.test(saText)) throw new UsageError(`pqike log: --sa ${saText}: an IKE SA number (see pqike list-sas)`);
  const socket = socketOf(values);
  const json = values['json'] === true;
  const conn = positionals[0];
  const s = streamLog(socket, { level, ...(conn === undefined ? {} : { conn }), ...(saText === undefined ? {} : { sa: Number(saText.replace('#', '')) }) }, (r) => {
    process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${formatRecord(r)}\n`);
  });
  try {
    await s.ready;
  } catch (e) {
    if (e instanceof DaemonNotRunning) return noDaemon(socket);
    process.stderr.write(`pqike log: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.failed;
  }
  // A mistyped name would show nothing, for ever: say so (a connection added by a reload later is fine).
  if (conn !== undefined) {
    const names = await connectionNames(socket);
    if (names.length > 0 && !names.includes(conn)) {
      s.close();
      return unknownConnection(socket, 'log', conn);
    }
  }
  if (process.stderr.isTTY === true && !json) process.stderr.write(`(the log of ${conn === undefined ? 'every connection' : `'${conn}'`} from level ${level}; Ctrl-C ends)\n`);
  const stop = (): void => s.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A reader that went away (pqike log | head) ends the stream, not the process with EPIPE.
  process.stdout.on('error', stop);
  const byDaemon = await s.ended;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (byDaemon) {
    process.stderr.write('pqike log: the daemon closed the log stream (stopped?)\n');
    return EXIT.failed;
  }
  return EXIT.ok;
}
