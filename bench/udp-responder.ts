/**
 * Benchmark worker: one IkeEngine on one UDP socket on 127.0.0.1 answering every IKE SA.
 * Forked by bench/handshake.ts; configuration (proposal, PSK) arrives over IPC.
 * Cookies are disabled (threshold never reached): the benchmark measures handshakes.
 */
import { IkeEngine } from '../src/engine/engine.js';
import { UdpDriver } from '../src/io/udp-driver.js';
import { benchConnections, exitWithParent, LOOPBACK, send, toBytes } from './common.js';
import type { ToWorker } from './common.js';

const MAX_LIFETIME_MS = 120_000;

exitWithParent();
const started = performance.now();
const cpu0 = process.cpuUsage();
let established = 0;
let driver: UdpDriver | undefined;

async function stop(): Promise<void> {
  await driver?.close();
  process.exit(0); // writes --cpu-prof output, unlike a signal
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'config' && !('port' in m)) {
    const { responder } = benchConnections(m.proposal, toBytes(m.psk), LOOPBACK, LOOPBACK);
    const engine = new IkeEngine({ cookieThreshold: Number.MAX_SAFE_INTEGER });
    engine.addConnection(responder);
    driver = new UdpDriver(engine, {
      address: LOOPBACK,
      port: 0,
      onEvent: (e) => {
        if (e.type === 'child-up') established++;
        else if (e.type === 'log' && e.level === 'error') process.stderr.write(`responder: ${e.message}\n`);
      },
    });
    driver.start().then(
      (ep) => send({ type: 'ready', port: ep.port }),
      (e: unknown) => send({ type: 'error', message: String(e) }),
    );
  } else if (m.type === 'cpu?') {
    const u = process.cpuUsage(cpu0);
    void send({ type: 'cpu', cpuUs: u.user + u.system, wallMs: performance.now() - started, sas: established });
  } else if (m.type === 'stop') {
    void stop();
  }
});

setTimeout(() => {
  process.stderr.write('responder: lifetime exceeded, exiting\n');
  void stop();
}, MAX_LIFETIME_MS).unref();
