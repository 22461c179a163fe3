/**
 * The bare engine as a responder, for comparing with the daemon under the same client: the
 * daemon's configuration file (its connections and limits), one IkeEngine and the UdpDriver the
 * daemon uses, and nothing else (no logs, metrics, listings, data plane).
 * `node dist/bench/bare-responder.js CONFIG.yaml`; prints "control socket" once listening.
 */
import { IkeEngine } from '../src/engine/engine.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import { loadConfig } from '../src/daemon/config.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: bare-responder CONFIG.yaml');
const config = loadConfig(path);
const engine = new IkeEngine({ admissionQueue: 256, ...config.limits, localPort: config.port });
for (const c of config.connections) engine.addConnection(c.config);
const addresses = [...new Set(config.connections.map((c) => c.config.localAddress))];
const driver = new UdpDriver(engine, { addresses, port: config.port, onEvent: () => undefined, onDataPlane: () => undefined });
await driver.start();
process.stderr.write('bare engine listening; control socket none\n');
const stop = (): void => {
  void driver.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
