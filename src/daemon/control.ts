/**
 * The control socket: a Unix socket only root can open (mode 0600 in a 0700 directory), one
 * JSON request per connection (its first line; anything after it is never read), one JSON
 * response back, then the connection is closed. Connections are bounded: a request must
 * arrive within REQUEST_TIMEOUT_MS, and beyond MAX_CONTROL_CONNECTIONS a new connection pushes
 * out the oldest one that has not sent its request (or is told the daemon is busy), so idle
 * connections can neither pile up nor lock `pqike` out.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';

export interface ControlRequest {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly opts: Readonly<Record<string, string | boolean>>;
}

export type ControlResponse = { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly error: string };

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
}

function parseRequest(text: string): ControlRequest | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o['cmd'] !== 'string') return undefined;
    const args = Array.isArray(o['args']) ? o['args'].filter((a): a is string => typeof a === 'string') : [];
    const optsIn = typeof o['opts'] === 'object' && o['opts'] !== null ? (o['opts'] as Record<string, unknown>) : {};
    const opts: Record<string, string | boolean> = {};
    for (const [k, x] of Object.entries(optsIn)) if (typeof x === 'string' || typeof x === 'boolean') opts[k] = x;
    return { cmd: o['cmd'], args, opts };
  } catch {
    return undefined;
  }
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
  const drop = (sock: Socket): void => {
    open.delete(sock);
    waiting.delete(sock);
    sock.destroy();
  };
  const server = createServer((sock) => {
    sock.on('error', () => drop(sock));
    sock.on('close', () => drop(sock));
    sock.on('timeout', () => drop(sock));
    const reply = (res: ControlResponse): void => {
      if (sock.destroyed) return;
      sock.setTimeout(timeoutMs);
      sock.end(`${JSON.stringify(res)}\n`, () => drop(sock));
    };
    if (open.size >= max) {
      const oldest = waiting.values().next();
      if (oldest.done === true) {
        reply({ ok: false, error: `the daemon is busy (${open.size} control connections open); try again` });
        return;
      }
      drop(oldest.value);
    }
    open.add(sock);
    waiting.add(sock);
    sock.setTimeout(timeoutMs);
    let buf = '';
    sock.setEncoding('utf8');
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
      if (line === undefined) return reply({ ok: false, error: 'request too large' });
      const req = parseRequest(line);
      if (!req) return reply({ ok: false, error: 'malformed request' });
      handle(req).then(reply, (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }));
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
  chmodSync(path, 0o600);
  return server;
}

export class DaemonNotRunning extends Error {}

/** Send one request to the daemon and return its response. */
export function request(path: string, req: ControlRequest, timeoutMs = 60_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from the daemon within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (c: string) => (buf += c));
    s.once('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as ControlResponse);
      } catch {
        reject(new Error('malformed answer from the daemon'));
      }
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new DaemonNotRunning(path));
      else if (e.code === 'EACCES') reject(new Error(`permission denied on ${path}: the control socket is for root only`));
      else reject(e);
    });
  });
}
