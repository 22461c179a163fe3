/**
 * The control socket (docs/control-protocol.md): a Unix socket only root can open (mode 0600
 * in a 0700 directory), JSON lines. A client sends one request (its first line; anything
 * after it is never read) and gets one response, then the connection is closed; or, for the
 * streaming `log` request, one response and then log records as JSON lines until it closes
 * the connection.
 *
 * Requests may carry the protocol version (`"v": 1`; without it, version 1), responses always
 * do. Connections are bounded: a request must arrive within REQUEST_TIMEOUT_MS, and beyond
 * MAX_CONTROL_CONNECTIONS a new connection pushes out the oldest one that has not sent its
 * request (or is told the daemon is busy), so idle connections can neither pile up nor lock
 * `pqike` out; at most MAX_LOG_SUBSCRIBERS of them stream the log (log-stream.ts).
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import type { LogLevel } from './logger.js';
import { LogHub, isLogLevel, LOG_LEVELS } from './log-stream.js';
import type { LogRecord } from './log-stream.js';
import type { SaView } from './listing.js';
import type { SaFilter } from '../engine/types.js';

/** The version of the control protocol this code speaks (docs/control-protocol.md). */
export const CONTROL_PROTOCOL_VERSION = 1;

export interface ControlRequest {
  /** Protocol version; absent: 1 (clients from before versioning). */
  readonly v?: number;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly opts: Readonly<Record<string, string | boolean>>;
}

/** Why a request failed, for programs (`error` is for people). */
export type ControlErrorCode = 'malformed' | 'too-large' | 'busy' | 'unsupported-version' | 'unknown-command' | 'bad-request' | 'too-many-subscribers' | 'failed';

export type ControlResponse =
  | { readonly v?: number; readonly ok: true; readonly data: unknown }
  | { readonly v?: number; readonly ok: false; readonly error: string; readonly code?: ControlErrorCode };

export interface ControlCommandSpec {
  /** Positional arguments (`args`), as docs/control-protocol.md writes them. */
  readonly args: string;
  /** Names of the options (`opts`) it reads. */
  readonly opts: readonly string[];
  /** The response is followed by a stream of records (until the client closes). */
  readonly stream?: boolean;
}

/** Every command the control socket accepts; the document's table is checked against it. */
export const CONTROL_COMMANDS: Readonly<Record<string, ControlCommandSpec>> = {
  up: { args: '<connection>', opts: [] },
  down: { args: '<connection | IKE SA number>', opts: [] },
  rekey: { args: '<IKE SA number | connection>', opts: ['child'] },
  'list-sas': { args: '[connection]', opts: [] },
  'list-conns': { args: '', opts: [] },
  reload: { args: '', opts: [] },
  stats: { args: '', opts: [] },
  log: { args: '[connection]', opts: ['level', 'sa'], stream: true },
};

const MAX_REQUEST = 64 * 1024;
/** Control connections open at once. */
export const MAX_CONTROL_CONNECTIONS = 32;
/** Time for a connection to send its request, and for a client to take the response. */
export const REQUEST_TIMEOUT_MS = 5000;

export interface ControlServerOptions {
  /** Server errors (accept failing with EMFILE, ...); they never end the daemon. */
  readonly onError?: (message: string) => void;
  readonly maxConnections?: number;
  readonly requestTimeoutMs?: number;
  /** The daemon's log records for `log` requests; without it `log` is refused. */
  readonly logHub?: LogHub;
}

type Parsed = { readonly req: ControlRequest } | { readonly error: string; readonly code: ControlErrorCode };

export function parseRequest(text: string): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { error: 'malformed request: not JSON', code: 'malformed' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'malformed request: not a JSON object', code: 'malformed' };
  const o = v as Record<string, unknown>;
  const version = o['v'];
  if (version !== undefined && version !== CONTROL_PROTOCOL_VERSION) {
    return { error: `unsupported control protocol version ${JSON.stringify(version)}: this daemon speaks version ${CONTROL_PROTOCOL_VERSION}`, code: 'unsupported-version' };
  }
  if (typeof o['cmd'] !== 'string') return { error: 'malformed request: no "cmd"', code: 'malformed' };
  const args = Array.isArray(o['args']) ? o['args'].filter((a): a is string => typeof a === 'string') : [];
  const optsIn = typeof o['opts'] === 'object' && o['opts'] !== null ? (o['opts'] as Record<string, unknown>) : {};
  const opts: Record<string, string | boolean> = {};
  for (const [k, x] of Object.entries(optsIn)) if (typeof x === 'string' || typeof x === 'boolean') opts[k] = x;
  return { req: { v: CONTROL_PROTOCOL_VERSION, cmd: o['cmd'], args, opts } };
}

/** A response as it goes on the wire: the version first, a code on every error. */
function wire(res: ControlResponse): string {
  const body = res.ok ? { v: CONTROL_PROTOCOL_VERSION, ok: true, data: res.data } : { v: CONTROL_PROTOCOL_VERSION, ok: false, error: res.error, code: res.code ?? 'failed' };
  return `${JSON.stringify(body)}\n`;
}

/** Is a daemon answering on this socket? */
function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The filter of a `log` request, or why it is refused. */
function logFilter(req: ControlRequest): { conn?: string; sa?: number; level: LogLevel } | string {
  const level = req.opts['level'] ?? 'info';
  if (typeof level !== 'string' || !isLogLevel(level)) return `log: level must be one of ${LOG_LEVELS.join(', ')}`;
  const sa = req.opts['sa'];
  let saId: number | undefined;
  if (sa !== undefined) {
    saId = typeof sa === 'string' && /^#?\d{1,9}$/.test(sa) ? Number(sa.replace('#', '')) : NaN;
    if (!Number.isSafeInteger(saId)) return 'log: sa must be an IKE SA number';
  }
  const conn = req.args[0];
  return { level, ...(conn === undefined ? {} : { conn }), ...(saId === undefined ? {} : { sa: saId }) };
}

export async function serveControl(path: string, handle: (req: ControlRequest) => Promise<ControlResponse>, opts: ControlServerOptions = {}): Promise<Server> {
  const max = opts.maxConnections ?? MAX_CONTROL_CONNECTIONS;
  const timeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await alive(path)) throw new Error(`another pqike daemon is running (control socket ${path} answers)`);
    unlinkSync(path);
  }
  /** Every open connection, and (in connection order) those whose request has not arrived. */
  const open = new Set<Socket>();
  const waiting = new Set<Socket>();
  /** Connections streaming the log. */
  const streams = new Set<Socket>();
  const drop = (sock: Socket): void => {
    open.delete(sock);
    waiting.delete(sock);
    streams.delete(sock);
    sock.destroy();
  };
  const server = createServer((sock) => {
    sock.on('error', () => drop(sock));
    sock.on('close', () => drop(sock));
    sock.on('timeout', () => drop(sock));
    const reply = (res: ControlResponse): void => {
      if (sock.destroyed) return;
      sock.setTimeout(timeoutMs);
      sock.end(wire(res), () => drop(sock));
    };
    if (open.size >= max) {
      const oldest = waiting.values().next();
      if (oldest.done === true) {
        reply({ ok: false, error: `the daemon is busy (${open.size} control connections open); try again`, code: 'busy' });
        return;
      }
      drop(oldest.value);
    }
    open.add(sock);
    waiting.add(sock);
    sock.setTimeout(timeoutMs);
    let buf = '';
    sock.setEncoding('utf8');
    /** `log`: the response, then records until the client goes (or stops reading: records are dropped). */
    const stream = (req: ControlRequest, hub: LogHub): void => {
      const filter = logFilter(req);
      if (typeof filter === 'string') return reply({ ok: false, error: filter, code: 'bad-request' });
      const sub = hub.subscribe(filter, { backlog: () => sock.writableLength, write: (line) => void sock.write(line) });
      if (!sub) return reply({ ok: false, error: `too many log streams open (${hub.maxSubscribers}); try again later`, code: 'too-many-subscribers' });
      streams.add(sock);
      sock.on('close', () => hub.unsubscribe(sub));
      sock.write(wire({ ok: true, data: { stream: 'log', ...filter } }));
      // Read (and ignore) what the client sends, to see it close; a client that only writes is dropped.
      let junk = 0;
      sock.on('data', (c: string) => {
        junk += c.length;
        if (junk > MAX_REQUEST) drop(sock);
      });
      sock.resume();
    };
    const onData = (chunk: string): void => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length <= MAX_REQUEST) return;
      // One request per connection: stop reading; the command may run as long as it needs.
      sock.off('data', onData);
      sock.pause();
      waiting.delete(sock);
      sock.setTimeout(0);
      const line = nl < 0 || nl > MAX_REQUEST ? undefined : buf.slice(0, nl);
      buf = '';
      if (line === undefined) return reply({ ok: false, error: 'request too large', code: 'too-large' });
      const parsed = parseRequest(line);
      if ('error' in parsed) return reply({ ok: false, error: parsed.error, code: parsed.code });
      const req = parsed.req;
      const spec = Object.hasOwn(CONTROL_COMMANDS, req.cmd) ? CONTROL_COMMANDS[req.cmd] : undefined;
      if (!spec) return reply({ ok: false, error: `unknown command '${req.cmd}' (commands: ${Object.keys(CONTROL_COMMANDS).join(', ')})`, code: 'unknown-command' });
      if (spec.stream === true) {
        if (!opts.logHub) return reply({ ok: false, error: 'this control socket has no log stream', code: 'unknown-command' });
        return stream(req, opts.logHub);
      }
      handle(req).then(reply, (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e), code: 'failed' }));
    };
    sock.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => opts.onError?.(`control socket ${path}: ${e.message}`));
  // Closing the server waits for its connections: log streams end first (they would not by themselves).
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of streams) {
      s.end();
      setTimeout(() => drop(s), 500).unref();
    }
    return close(cb);
  }) as Server['close'];
  chmodSync(path, 0o600);
  return server;
}

export class DaemonNotRunning extends Error {}

/** Connect to the daemon, or reject with DaemonNotRunning / a readable reason. */
function connect(path: string, onError: (e: Error) => void): Socket {
  const s = createConnection(path);
  s.once('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') onError(new DaemonNotRunning(path));
    else if (e.code === 'EACCES') onError(new Error(`permission denied on ${path}: the control socket is for root only`));
    else onError(e);
  });
  return s;
}

/** A response line from the daemon, checked. */
function parseResponse(line: string): ControlResponse {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('malformed answer from the daemon');
  }
  if (typeof v !== 'object' || v === null || typeof (v as { ok?: unknown }).ok !== 'boolean') throw new Error('malformed answer from the daemon');
  const version = (v as { v?: unknown }).v;
  // A daemon from before versioning sends no "v"; one from the future says which it speaks.
  if (version !== undefined && version !== CONTROL_PROTOCOL_VERSION) throw new Error(`the daemon speaks control protocol version ${JSON.stringify(version)}, this pqike ${CONTROL_PROTOCOL_VERSION}: use the pqike command of the running daemon`);
  return v as ControlResponse;
}

/** Send one request to the daemon and return its response. */
export function request(path: string, req: ControlRequest, timeoutMs = 60_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from the daemon within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const s = connect(path, (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, ...req })}\n`));
    s.on('data', (c: string) => (buf += c));
    s.once('end', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(buf));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

export interface LogStreamOptions {
  readonly conn?: string;
  readonly sa?: number;
  readonly level?: LogLevel;
}

export interface LogStream {
  /** Resolves once the daemon has subscribed the stream (records follow); rejects if it refused. */
  readonly ready: Promise<void>;
  /** Resolves when the stream ends: closed here, or by the daemon (true: by the daemon). */
  readonly ended: Promise<boolean>;
  close(): void;
}

/** Subscribe to the daemon's log; `onRecord` gets every record until close(). */
export function streamLog(path: string, o: LogStreamOptions, onRecord: (r: LogRecord) => void): LogStream {
  let ready!: { resolve: () => void; reject: (e: Error) => void };
  const readyP = new Promise<void>((resolve, reject) => (ready = { resolve, reject }));
  let endedBy!: (byDaemon: boolean) => void;
  const ended = new Promise<boolean>((r) => (endedBy = r));
  let subscribed = false;
  let closing = false;
  const s = connect(path, (e) => {
    ready.reject(e);
    endedBy(!closing);
  });
  let buf = '';
  s.setEncoding('utf8');
  s.once('connect', () => {
    const req: ControlRequest = { v: CONTROL_PROTOCOL_VERSION, cmd: 'log', args: o.conn === undefined ? [] : [o.conn], opts: { level: o.level ?? 'info', ...(o.sa === undefined ? {} : { sa: String(o.sa) }) } };
    s.write(`${JSON.stringify(req)}\n`);
  });
  s.on('data', (c: string) => {
    buf += c;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!subscribed) {
        try {
          const r = parseResponse(line);
          if (!r.ok) throw new Error(r.error);
          subscribed = true;
          ready.resolve();
        } catch (e) {
          ready.reject(e instanceof Error ? e : new Error(String(e)));
          s.destroy();
          return;
        }
        continue;
      }
      try {
        onRecord(JSON.parse(line) as LogRecord);
      } catch {
        /* a broken line is skipped */
      }
    }
  });
  s.once('close', () => {
    if (!subscribed) ready.reject(new Error('the daemon closed the connection'));
    endedBy(!closing);
  });
  return {
    ready: readyP,
    ended,
    close: () => {
      closing = true;
      s.end();
      s.destroy();
    },
  };
}

/**
 * `rekey` for the control socket: `child` names a Child SA by name or by inbound SPI (hex,
 * `_i` allowed), and the answer says what replaced what: `{ sa, old }` for an IKE SA (the new
 * and the old IKE SA numbers), `{ sa, child, spiIn, old }` for a Child SA (its IKE SA, its name,
 * the new and the old inbound SPI). `rekey(saNumber, spi)` runs the rekey and waits for it.
 */
/** The IKE SA number a control target names ("7" or "#7"), if it is one. */
export function saNumber(target: string | undefined): number | undefined {
  const m = target === undefined ? null : /^#?(\d{1,15})$/.exec(target);
  return m ? Number(m[1]) : undefined;
}

export async function rekeyCommand(
  target: string | undefined,
  child: string | undefined,
  list: (filter: SaFilter) => Promise<SaView[]>,
  rekey: (target: string, spi: string | undefined) => Promise<ControlResponse>,
): Promise<ControlResponse> {
  // Looked up by number or by connection, never by listing every SA (100k of them take seconds).
  const n = saNumber(target);
  const sa = (n === undefined ? undefined : (await list({ sa: n }))[0]) ?? (target === undefined ? undefined : (await list({ connection: target, limit: 1 }))[0]);
  if (!sa) return rekey(target ?? '', child);
  // `rekey` answers with what the rekey made (the new IKE SA, or the new Child SA and where it
  // is): nothing is listed afterwards.
  if (child === undefined) return rekey(String(sa.id), undefined);
  const named = sa.children.filter((c) => c.name === child);
  const pick = named.find((c) => c.state === 'installed') ?? named[named.length - 1];
  let spi: string;
  if (pick) spi = pick.spiIn;
  else if (/^(0x)?[0-9a-f]{1,8}(_i)?$/i.test(child)) spi = child.replace(/^0x/i, '').replace(/_i$/, '').padStart(8, '0').toLowerCase();
  else {
    const names = [...new Set(sa.children.map((c) => c.name))];
    return { ok: false, error: `IKE SA #${sa.id} has no Child SA '${child}' (${names.length === 0 ? 'it has none' : `its Child SAs: ${names.join(', ')}`}; or give the inbound SPI)`, code: 'failed' };
  }
  return rekey(String(sa.id), spi);
}
