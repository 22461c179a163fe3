/**
 * `pqike initiate` / `pqike respond`: one connection from command-line options on a real
 * UDP socket, events printed as text or JSON lines. Used by the interop tests and the
 * two-process benchmark until the daemon and its configuration file arrive.
 */
import { IkeEngine } from '../engine/engine.js';
import type { EngineEvent } from '../engine/types.js';
import { UdpDriver } from '../io/udp-driver.js';
import { connectionFromArgs, parseDuration, UsageError } from './connection-args.js';
import type { ConnectionArgs } from './connection-args.js';
import { eventToJson, formatEvent } from './format.js';

export interface PeerArgs extends ConnectionArgs {
  port?: string;
  'remote-port'?: string;
  json?: boolean;
  timeout?: string;
  count?: string;
  'delete-after'?: boolean;
  verbose?: boolean;
}

function printer(a: PeerArgs): (e: EngineEvent) => void {
  return (e) => {
    if (e.type === 'log' && e.level === 'debug' && a.verbose !== true) return;
    if (a.json === true) process.stdout.write(`${JSON.stringify(eventToJson(e))}\n`);
    else process.stdout.write(`${formatEvent(e)}\n`);
  };
}

/** Initiate one IKE SA; exit code 0 once the IKE SA and Child SA are up (and deleted, if asked). */
export async function runInitiator(a: PeerArgs): Promise<number> {
  const conn = connectionFromArgs('cli', a, 'initiator');
  const engine = new IkeEngine();
  engine.addConnection(conn);
  const print = printer(a);
  let result: number | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let saId = 0;
  let ikeUp = false;
  const driver: UdpDriver = new UdpDriver(engine, {
    address: conn.localAddress,
    port: Number(a.port ?? 500),
    onEvent: (e) => {
      print(e);
      if (e.type === 'ike-up') ikeUp = true;
      if (e.type === 'child-up' || (e.type === 'log' && e.message.startsWith('Child SA'))) {
        if (a['delete-after'] === true) setImmediate(() => driver.terminate(saId));
        else {
          result = e.type === 'child-up' ? 0 : 3;
          finish();
        }
      }
      if (e.type === 'ike-down') {
        result = ikeUp ? 0 : 1;
        finish();
      }
      if (e.type === 'ike-failed') {
        result = 1;
        finish();
      }
    },
  });
  await driver.start();
  saId = driver.initiate('cli', { address: conn.remoteAddress, port: Number(a['remote-port'] ?? 500) });
  const timer = setTimeout(() => {
    process.stderr.write('timed out\n');
    result = 2;
    finish();
  }, parseDuration(a.timeout, 15000));
  await done;
  clearTimeout(timer);
  await driver.close();
  return result ?? 1;
}

/** Answer IKE SAs until killed, or until --count SAs are established. */
export async function runResponder(a: PeerArgs): Promise<number> {
  const conn = connectionFromArgs('cli', a, 'responder');
  const engine = new IkeEngine();
  engine.addConnection(conn);
  const print = printer(a);
  const want = a.count === undefined ? Infinity : Number(a.count);
  if (!(want > 0)) throw new UsageError('--count must be a positive number');
  let up = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const driver = new UdpDriver(engine, {
    address: conn.localAddress,
    port: Number(a.port ?? 500),
    onEvent: (e) => {
      print(e);
      if (e.type === 'child-up' && ++up >= want) finish();
    },
  });
  const ep = await driver.start();
  process.stdout.write(a.json === true ? `${JSON.stringify({ type: 'listening', address: ep.address, port: ep.port })}\n` : `listening on ${ep.address}:${ep.port}\n`);
  const stop = (): void => finish();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const limit = a.timeout === undefined ? undefined : setTimeout(stop, parseDuration(a.timeout, 0));
  await done;
  if (limit) clearTimeout(limit);
  await driver.close();
  return 0;
}
