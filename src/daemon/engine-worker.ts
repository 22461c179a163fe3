/**
 * One engine worker of the daemon (worker-pool.ts starts `workers:` of them): an IkeEngine
 * marked as shard `index` of `count` (src/engine/shard.ts), fed the datagrams the main thread
 * read for it, answering the main thread's calls. What a flush produced — data plane commands,
 * datagrams, events — goes back in one message, in order, for the main thread to apply, send
 * and log (one data plane, one set of sockets, one log, one metrics view).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IkeEngine } from '../engine/engine.js';
import type { EngineEvent } from '../engine/types.js';
import { EngineLoop } from '../io/engine-loop.js';
import { monotonicMs } from '../io/clock.js';
import { loadConfig } from './config.js';
import { engineOptions } from './engine-host.js';
import type { Answers, Call, FromWorker, OutItem, Stats, ToWorker, WorkerInit } from './worker-protocol.js';

/** The counters of the metrics page are sent this often when they changed. */
const STATS_EVERY_MS = 1000;

const port = parentPort;
if (!port) throw new Error('engine-worker.ts runs as a worker thread of the daemon');
const init = workerData as WorkerInit;
const shared = new Int32Array(init.halfOpen);
const engine = new IkeEngine(
  engineOptions(loadConfig(init.configPath), {
    exportKeys: init.exportKeys,
    shard: { index: init.index, count: init.count, halfOpen: { add: (d) => Atomics.add(shared, 0, d), value: () => Atomics.load(shared, 0) } },
  }),
);

const post = (m: FromWorker): void => port.postMessage(m);
let items: OutItem[] = [];
const withConn = (event: EngineEvent): OutItem => {
  const sa = 'sa' in event && typeof event.sa === 'number' ? event.sa : undefined;
  const conn = sa === undefined ? undefined : engine.connectionOf(sa);
  return conn === undefined ? { k: 'event', event } : { k: 'event', event, conn };
};
const loop = new EngineLoop(
  engine,
  {
    dataPlane: (cmd) => items.push({ k: 'cmd', cmd }),
    event: (event) => items.push(withConn(event)),
    send: (out) => items.push({ k: 'send', out }),
    flushed: () => {
      if (items.length === 0) return;
      post({ t: 'out', items });
      items = [];
    },
  },
  monotonicMs,
);

function log(level: 'error' | 'warn', message: string): void {
  items.push({ k: 'event', event: { type: 'log', level, message } });
  loop.flush();
}

/** Add (or, `replace`, hand to their running SAs) the named connections from this worker's own reading of the file; a file that changed meanwhile is refused. */
function addConnections(conns: Extract<Call, { op: 'addConnections' }>['conns'], replace: boolean): void {
  let config;
  try {
    config = loadConfig(init.configPath);
  } catch (e) {
    log('error', `engine worker ${init.index}: the configuration could not be read again: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  for (const want of conns) {
    const c = config.connections.find((x) => x.config.name === want.name);
    if (c && c.fingerprint === want.fingerprint) {
      if (replace) engine.replaceConnection(c.config);
      else engine.addConnection(c.config);
    }
    else log('error', `engine worker ${init.index}: connection '${want.name}' changed in the file while it was read; reload again`);
  }
}

function stats(): Stats {
  return { census: engine.census(), halfOpen: engine.guard.halfOpenCount, drops: engine.drops() };
}

function answer(call: Call): Answers[Call['op']] {
  switch (call.op) {
    case 'initiate':
      return loop.apply((e, now) => e.initiate(call.connection, now, { local: call.local, remote: call.remote }));
    case 'terminate':
      loop.apply((e, now) => e.terminate(call.id, now));
      return null;
    case 'rekeyIke':
      return loop.apply((e, now) => e.rekeyIke(call.id, now));
    case 'rekeyChild':
      return loop.apply((e, now) => e.rekeyChild(call.id, call.spiIn, now));
    case 'trap':
      loop.apply((e) => e.trap(call.connection, call.children));
      return null;
    case 'list':
      return engine.list(call.filter);
    case 'describe':
      return engine.describe(monotonicMs(), call.filter);
    case 'restartPending':
      return engine.restarts.pendingFor(call.connection) !== undefined;
    case 'cancelRestarts':
      engine.restarts.cancel(call.connection);
      return null;
    case 'addConnections':
      addConnections(call.conns, call.replace === true);
      return null;
    case 'removeConnection':
      loop.apply((e) => e.removeConnection(call.name));
      return null;
    case 'expire':
      loop.apply((e, now) => e.expire(call.spi, call.direction, call.kind, now, call.peer));
      return null;
    case 'acquire':
      loop.apply((e, now) => e.acquire(call.reqid, now));
      return null;
    case 'dataPlaneFailed':
      loop.apply((e, now) => e.dataPlaneFailed(call.cmd, call.error, now));
      return null;
    case 'stats':
      return stats();
  }
}

let lastStats = '';
const statsTimer = setInterval(() => {
  const s = stats();
  const text = JSON.stringify(s);
  if (text === lastStats) return;
  lastStats = text;
  post({ t: 'stats', stats: s });
}, STATS_EVERY_MS);
statsTimer.unref();

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'in':
      for (const d of m.batch) loop.receive(d.data, d.from, d.local);
      return;
    case 'call': {
      let value: unknown;
      try {
        value = answer(m.call);
      } catch (e) {
        if (m.seq !== 0) post({ t: 'answer', seq: m.seq, error: e instanceof Error ? e.message : String(e) });
        return;
      }
      if (m.seq !== 0) post({ t: 'answer', seq: m.seq, value });
      return;
    }
    case 'stop':
      loop.stop();
      clearInterval(statsTimer);
      port.close();
      return;
  }
});
post({ t: 'ready' });
