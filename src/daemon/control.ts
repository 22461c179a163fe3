/**
 * The control socket: a Unix socket only root can open (mode 0600 in a 0700 directory), one
 * JSON request per connection, one JSON response back.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server } from 'node:net';
import { dirname } from 'node:path';

export interface ControlRequest {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly opts: Readonly<Record<string, string | boolean>>;
}

export type ControlResponse = { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly error: string };

const MAX_REQUEST = 64 * 1024;

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

export async function serveControl(path: string, handle: (req: ControlRequest) => Promise<ControlResponse>): Promise<Server> {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await alive(path)) throw new Error(`another pqike daemon is running (control socket ${path} answers)`);
    unlinkSync(path);
  }
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        sock.end(`${JSON.stringify({ ok: false, error: 'request too large' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = parseRequest(buf.slice(0, nl));
      if (!req) {
        sock.end(`${JSON.stringify({ ok: false, error: 'malformed request' })}\n`);
        return;
      }
      handle(req).then(
        (res) => sock.end(`${JSON.stringify(res)}\n`),
        (e: unknown) => sock.end(`${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`),
      );
    });
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
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
