/**
 * `pqike initiate` / `pqike respond`: one connection from command-line options on a real
 * UDP socket, events printed as text or JSON lines. Used by the interop tests and the
 * two-process benchmark until the daemon and its configuration file arrive.
 *
 * With --control, newline-separated commands on stdin act on the current IKE SA (the latest
 * one established, followed through its rekeys) and its newest Child SA: rekey-child,
 * rekey-ike, delete-child, delete-ike, dpd, quit. End of input is quit.
 */
import { createInterface } from 'node:readline';
import { IkeEngine } from '../engine/engine.js';
import type { EngineEvent } from '../engine/types.js';
import { KeyExporter } from '../daemon/key-export.js';
import { UdpDriver } from '../io/udp-driver.js';
import { connectionFromArgs, parseDuration, portArg, UsageError } from './connection-args.js';
import type { ConnectionArgs } from './connection-args.js';
import { eventToJson, formatEvent, hex32 } from '../daemon/event-format.js';

export interface PeerArgs extends ConnectionArgs {
  port?: string;
  'remote-port'?: string;
  json?: boolean;
  timeout?: string;
  count?: string;
  'delete-after'?: boolean;
  verbose?: boolean;
  stay?: boolean;
  control?: boolean;
  'retransmit-timeout'?: string;
  'retransmit-tries'?: string;
}

function printer(a: PeerArgs, engine: IkeEngine): (e: EngineEvent) => void {
  // --export-keys: Wireshark key tables, only on explicit request (never in the event output).
  const keys = a['export-keys'] === undefined ? undefined : new KeyExporter(a['export-keys'], { onFailure: (m) => process.stderr.write(`pqike: ${m}\n`) });
  return (e) => {
    if (keys && (e.type === 'ike-keys' || e.type === 'child-up')) {
      const sa = engine.info(e.sa);
      if (sa) keys.onEvent(e, sa.local.address, sa.remote.address);
    }
    if (e.type === 'log' && e.level === 'debug' && a.verbose !== true) return;
    if (a.json === true) process.stdout.write(`${JSON.stringify(eventToJson(e))}\n`);
    else process.stdout.write(`${formatEvent(e)}\n`);
  };
}

function makeEngine(a: PeerArgs): IkeEngine {
  const tries = a['retransmit-tries'] === undefined ? undefined : Number(a['retransmit-tries']);
  if (tries !== undefined && !(Number.isInteger(tries) && tries >= 0)) throw new UsageError(`--retransmit-tries ${a['retransmit-tries'] ?? ''}: a whole number`);
  return new IkeEngine({
    exportKeys: a['export-keys'] !== undefined,
    ...(a['retransmit-timeout'] === undefined ? {} : { retransmitTimeoutMs: parseDuration(a['retransmit-timeout'], 1000) }),
    ...(tries === undefined ? {} : { retransmitTries: tries }),
  });
}

export const CONTROL_COMMANDS = ['rekey-child', 'rekey-ike', 'delete-child', 'delete-ike', 'dpd', 'quit'] as const;

/**
 * --control: commands from stdin for the current IKE SA. `rekey-child` and `delete-child`
 * take the newest Child SA, or the one whose inbound SPI (hex) follows the command.
 */
class Control {
  /** The IKE SA commands act on: the latest established, followed through rekeys. */
  private saId: number | undefined;
  private readonly lines;

  constructor(
    private readonly driver: UdpDriver,
    private readonly json: boolean,
    private readonly onQuit: () => void,
  ) {
    this.lines = createInterface({ input: process.stdin, terminal: false });
    this.lines.on('line', (l) => this.command(l));
    this.lines.on('close', () => this.onQuit());
  }

  /** Follow the current SA (call for every event). */
  track(e: EngineEvent): void {
    if (e.type === 'ike-up') this.saId = e.sa;
    if (e.type === 'ike-rekeyed' && e.old === this.saId) this.saId = e.sa;
  }

  close(): void {
    this.lines.removeAllListeners('close');
    this.lines.close();
    process.stdin.destroy();
  }

  private command(line: string): void {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === undefined || cmd === '') return;
    if (cmd === 'quit') return this.onQuit();
    const sa = this.saId;
    let spi: number | undefined;
    let ok = false;
    let error: string | undefined;
    if (!(CONTROL_COMMANDS as readonly string[]).includes(cmd)) error = `unknown command (${CONTROL_COMMANDS.join(', ')})`;
    else if (sa === undefined) error = 'no IKE SA';
    else if (cmd === 'rekey-child' || cmd === 'delete-child') {
      const children = this.driver.engine.children(sa);
      spi = arg === undefined ? children[children.length - 1]?.spiIn : Number.parseInt(arg, 16);
      if (spi === undefined || Number.isNaN(spi)) error = 'no Child SA';
      else if (cmd === 'rekey-child') ok = this.driver.apply((e, now) => e.rekeyChild(sa, spi ?? 0, now));
      else ok = this.driver.apply((e, now) => e.deleteChild(sa, spi ?? 0, now));
    } else if (cmd === 'rekey-ike') ok = this.driver.apply((e, now) => e.rekeyIke(sa, now));
    else if (cmd === 'delete-ike') ok = this.driver.apply((e, now) => e.terminate(sa, now));
    else if (cmd === 'dpd') ok = this.driver.apply((e, now) => e.checkLiveness(sa, now));
    if (!ok && error === undefined) error = 'not possible in the current state';
    const spiText = spi === undefined || Number.isNaN(spi) ? undefined : hex32(spi);
    if (this.json) {
      process.stdout.write(`${JSON.stringify({ type: 'control', command: cmd, ok, ...(sa === undefined ? {} : { sa }), ...(spiText === undefined ? {} : { spi: spiText }), ...(error === undefined ? {} : { error }) })}\n`);
    } else {
      process.stdout.write(`control: ${cmd}${sa === undefined ? '' : ` IKE SA #${sa}`}${spiText === undefined ? '' : ` ${spiText}_i`}: ${ok ? 'started' : error ?? ''}\n`);
    }
  }
}

/**
 * Initiate one IKE SA; exit code 0 once the IKE SA and Child SA are up (and deleted, if asked).
 * With --stay: keep running until the IKE SA is deleted (0), fails (1) or `quit`.
 */
export async function runInitiator(a: PeerArgs): Promise<number> {
  const conn = connectionFromArgs('cli', a, 'initiator');
  const remotePort = portArg('remote-port', a['remote-port'], 500);
  const localPort = portArg('port', a.port, 500);
  const timeoutMs = parseDuration(a.timeout, 15000);
  const engine = makeEngine(a);
  engine.addConnection(conn);
  const print = printer(a, engine);
  let result: number | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let saId = 0;
  let ikeUp = false;
  let childUp = false;
  let control: Control | undefined;
  let timer: NodeJS.Timeout | undefined;
  const driver: UdpDriver = new UdpDriver(engine, {
    address: conn.localAddress,
    port: localPort,
    onEvent: (e) => {
      print(e);
      control?.track(e);
      if (e.type === 'ike-up') ikeUp = true;
      if (e.type === 'ike-rekeyed' && e.old === saId) saId = e.sa;
      if (!childUp && (e.type === 'child-up' || (e.type === 'child-failed' && !e.rekey))) {
        childUp = e.type === 'child-up';
        if (a['delete-after'] === true) setImmediate(() => driver.terminate(saId));
        else if (a.stay === true && childUp) clearTimeout(timer);
        else {
          result = childUp ? 0 : 1;
          finish();
        }
      }
      if (e.type === 'ike-down' && e.sa === saId) {
        result = ikeUp ? 0 : 1;
        finish();
      }
      if (e.type === 'ike-failed' && e.sa === saId) {
        result = 1;
        finish();
      }
    },
  });
  await driver.start();
  if (a.control === true) {
    control = new Control(driver, a.json === true, () => {
      result ??= 0;
      finish();
    });
  }
  saId = driver.initiate('cli', { address: conn.remoteAddress, port: remotePort });
  timer = setTimeout(() => {
    process.stderr.write('timed out\n');
    result = 4;
    finish();
  }, timeoutMs);
  await done;
  clearTimeout(timer);
  control?.close();
  await driver.close();
  return result ?? 1;
}

/** Answer IKE SAs until killed, `quit`, --timeout, or until --count SAs are established. */
export async function runResponder(a: PeerArgs): Promise<number> {
  const conn = connectionFromArgs('cli', a, 'responder');
  const localPort = portArg('port', a.port, 500);
  const limitMs = a.timeout === undefined ? undefined : parseDuration(a.timeout, 0);
  const engine = makeEngine(a);
  engine.addConnection(conn);
  const print = printer(a, engine);
  const want = a.count === undefined ? Infinity : Number(a.count);
  if (!(Number.isInteger(want) && want > 0) && want !== Infinity) throw new UsageError(`--count ${a.count ?? ''}: a positive whole number`);
  let up = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let control: Control | undefined;
  const driver = new UdpDriver(engine, {
    address: conn.localAddress,
    port: localPort,
    onEvent: (e) => {
      print(e);
      control?.track(e);
      if (e.type === 'child-up' && ++up >= want) finish();
    },
  });
  const ep = await driver.start();
  process.stdout.write(a.json === true ? `${JSON.stringify({ type: 'listening', address: ep.address, port: ep.port })}\n` : `listening on ${ep.address}:${ep.port}\n`);
  const stop = (): void => finish();
  if (a.control === true) control = new Control(driver, a.json === true, stop);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const limit = limitMs === undefined ? undefined : setTimeout(stop, limitMs);
  await done;
  if (limit) clearTimeout(limit);
  control?.close();
  await driver.close();
  return 0;
}
