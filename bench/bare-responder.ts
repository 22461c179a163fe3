/**
 * The bare engine as a responder, for comparing with the daemon under the same client
 * (`responder-compare --bare`): the daemon's configuration file (its connections and limits),
 * one IkeEngine and the UdpDriver the daemon uses, and nothing else (no logs, metrics, listings,
 * data plane). Its control socket (the configuration's) answers `stats` with the one figure the
 * benchmarks read, ikeSasEstablishedTotal, counted from the engine's ike-up events.
 * `node dist/bench/bare-responder.js CONFIG.yaml`; prints "control socket" once listening.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { IkeEngine } from '../src/engine/engine.js';
import type { EngineEvent } from '../src/engine/types.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import { loadConfig } from '../src/daemon/config.js';
import { serveControl } from '../src/daemon/control.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: bare-responder CONFIG.yaml');
const config = loadConfig(path);
const engine = new IkeEngine({ admissionQueue: 256, ...config.limits, localPort: config.port });
for (const c of config.connections) engine.addConnection(c.config);
const addresses = [...new Set(config.connections.map((c) => c.config.localAddress))];
let established = 0;
const onEvent = (e: EngineEvent): void => {
  if (e.type === 'ike-up') established++;
};
const driver = new UdpDriver(engine, { addresses, port: config.port, onEvent, onDataPlane: () => undefined });
await driver.start();
mkdirSync(dirname(config.control.socket), { recursive: true, mode: 0o700 });
const server = await serveControl(config.control.socket, (req) =>
  Promise.resolve(req.cmd === 'stats' ? { ok: true, data: { ikeSasEstablishedTotal: established } } : { ok: false, code: 'unknown-command', error: `the bare engine answers stats only, not ${req.cmd}` }),
);
process.stderr.write('bare engine listening; control socket ready\n');
const stop = (): void => {
  server.close();
  void driver.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
