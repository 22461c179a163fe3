/**
 * The daemon's own work per SA, without sockets or crypto: the events a responder's engine
 * reports for one handshake (IKE SA + first Child SA), recorded once, then replayed through
 * Daemon.onEvent (metrics, key export, log lines, per-SA tables) for many SA numbers.
 * `node dist/bench/daemon-events.js [--sas N] [--level info|warn] [--format json|text] [--out null|stderr]`
 * prints the CPU time per SA (process.cpuUsage) of the replay. `--out stderr` writes the lines
 * the way the daemon does (its own stderr output, src/daemon/log-output.ts: redirect stderr to a
 * file or a pipe to see what a gateway pays); `--out null` (default) hands each line to a sink
 * that only counts it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Daemon } from '../src/daemon/daemon.js';
import type { EngineEvent } from '../src/engine/types.js';
import { BenchPair, pump } from './inprocess.js';

const { values: opt } = parseArgs({
  options: { sas: { type: 'string' }, level: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, rounds: { type: 'string' } },
  strict: true,
});
const SAS = Number(opt.sas ?? 20000);
const ROUNDS = Number(opt.rounds ?? 5);
const PSK = 'pqike-bench-psk-not-secret-0123456789';

// One handshake's responder events.
const pair = new BenchPair('aes256gcm16-prfsha384-x25519', Buffer.from(PSK));
pair.i.initiate('bench', 0, { local: { address: '192.0.2.1', port: 500 }, remote: { address: '192.0.2.2', port: 500 } });
const recorded = pump(pair).r;

/** The same events for IKE SA number `sa`. */
function renumber(e: EngineEvent, sa: number): EngineEvent {
  if (e.type === 'ike-up') return { ...e, sa, ike: { ...e.ike, id: sa } };
  if ('sa' in e && typeof e.sa === 'number') return { ...e, sa } as EngineEvent;
  return e;
}
const POOL = 1000;
const pool: EngineEvent[][] = [];
for (let i = 0; i < POOL; i++) pool.push(recorded.map((e) => renumber(e, i + 1)));

const dir = mkdtempSync(join(tmpdir(), 'pqike-daemon-events-'));
writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  bench: "${PSK}"\n`, { mode: 0o600 });
writeFileSync(
  join(dir, 'pqike.yaml'),
  `secrets: secrets.yaml
log:
  level: ${opt.level ?? 'info'}
  format: ${opt.format ?? 'json'}
control:
  socket: ${join(dir, 'pqike.sock')}
data_plane: fake
connections:
  bench:
    local_addrs: 192.0.2.2
    remote_addrs: '%any'
    local_id: responder.bench.pqike
    remote_id: initiator.bench.pqike
    psk: bench
    proposals: [aes256gcm16-prfsha384-x25519]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
`,
);
let bytes = 0;
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    bytes += chunk.length;
    cb();
  },
});
const daemon = new Daemon({ configPath: join(dir, 'pqike.yaml'), ...(opt.out === 'stderr' ? {} : { logOut: sink }) });
const internals = daemon as unknown as { onEvent(e: EngineEvent): void; stderrLog?: { flush(): void } };
const onEvent = internals.onEvent.bind(daemon);
process.stdout.write(`events per SA: ${recorded.map((e) => e.type).join(' ')}\n`);
const results: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < SAS; i++) for (const e of pool[i % POOL] ?? []) onEvent(e);
  internals.stderrLog?.flush();
  const c = process.cpuUsage(t0);
  results.push((c.user + c.system) / SAS);
}
results.sort((a, b) => a - b);
process.stdout.write(`CPU per SA in Daemon.onEvent: median ${results[Math.floor(results.length / 2)]?.toFixed(2)} µs (rounds: ${results.map((x) => x.toFixed(2)).join(' ')}); ${(bytes / (SAS * ROUNDS)).toFixed(0)} log bytes per SA\n`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
