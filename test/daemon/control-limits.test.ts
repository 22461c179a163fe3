/**
 * The daemon's local listeners under abuse. Daemon A initiates; responders C (at most 256 file
 * descriptors) and D (64: fewer than the connections it is offered, so they do run out) export
 * keys and serve metrics.
 *
 * - a control request written in several chunks, with more data after its newline, runs once;
 * - thousands of idle control connections are pushed out above the cap or closed by the request
 *   timeout, while `pqike list-sas` still answers;
 * - more metrics and control connections than the daemon has descriptors: it stays up, and a
 *   new IKE SA (keys exported) still comes up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONTROL_CONNECTIONS, REQUEST_TIMEOUT_MS, request } from '../../src/daemon/control.js';
import { METRICS_LIMITS } from '../../src/daemon/metrics.js';
import type { SaView } from '../../src/daemon/listing.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const PSK = 'control-limits-test-psk-0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open file descriptors of a process. */
function fds(pid: number | undefined): number {
  return readdirSync(`/proc/${String(pid)}/fd`).length;
}

/** `n` connections that send nothing; `closed` counts those that are gone (refused or closed). */
class Idle {
  readonly sockets: Socket[] = [];
  closed = 0;
  /** Connections that failed (an error is followed by 'close'), by error code. */
  readonly failed = new Map<string, number>();

  constructor(n: number, connect: () => Socket) {
    for (let i = 0; i < n; i++) {
      const s = connect();
      s.on('error', (e: NodeJS.ErrnoException) => this.failed.set(e.code ?? '?', (this.failed.get(e.code ?? '?') ?? 0) + 1));
      s.on('close', () => this.closed++);
      this.sockets.push(s);
    }
  }

  get failures(): string {
    return [...this.failed].map(([code, n]) => `${n} ${code}`).join(', ') || 'none';
  }

  destroy(): void {
    for (const s of this.sockets) s.destroy();
  }
}

interface Peer {
  readonly conn: string;
  readonly addr: string;
  readonly port: number;
}

function conn(p: Peer, me: 'moon' | 'sun', remotePort: number): string {
  const [l, r] = me === 'moon' ? ['10.1', '10.2'] : ['10.2', '10.1'];
  return `  ${p.conn}:
    local_addrs: ${p.addr}
    remote_addrs: ${p.addr}
    remote_port: ${remotePort}
    local_id: ${me}-${p.conn}.example.org
    remote_id: ${me === 'moon' ? 'sun' : 'moon'}-${p.conn}.example.org
    psk: k
    children:
      net:
        local_ts: [${l}.0.0/16]
        remote_ts: [${r}.0.0/16]
`;
}

describe('control socket and metrics listener limits', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-limits-'));
  const base = 20_000 + 5 * Math.floor(Math.random() * 8_000);
  const ports = { a: base, c: base + 1, cMetrics: base + 2, d: base + 3, dMetrics: base + 4 };
  const one: Peer = { conn: 'one', addr: '127.0.0.1', port: ports.c };
  const two: Peer = { conn: 'two', addr: '127.0.0.2', port: ports.d };
  const limits = 'limits:\n  cookie_threshold: 100000\n  cookie_threshold_ip: 100000\n  block_threshold: 100000\n';
  const sock = (n: string): string => join(dir, `${n}/pqike.sock`);
  let a: DaemonProc;
  let c: DaemonProc;
  let d: DaemonProc;

  const responder = (name: string, peer: Peer, metrics: number, nofile: number): DaemonProc => {
    writeFileSync(join(dir, `${name}.yaml`), `secrets: secrets.yaml\nport: ${peer.port}\nlog:\n  level: info\n  format: json\ncontrol:\n  socket: ${sock(name)}\nmetrics:\n  listen: 127.0.0.1:${metrics}\n${limits}data_plane: fake\nconnections:\n${conn(peer, 'sun', ports.a)}`);
    return new DaemonProc(name, join(dir, `${name}.yaml`), sock(name), join(dir, `${name}.log`), join(dir, `${name}.journal`), ['--export-keys', join(dir, `${name}.keys`)], ['prlimit', `--nofile=${nofile}:${nofile}`]);
  };

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
    c = responder('c', one, ports.cMetrics, 256);
    d = responder('d', two, ports.dMetrics, 64);
    writeFileSync(join(dir, 'a.yaml'), `secrets: secrets.yaml\nport: ${ports.a}\nlog:\n  level: info\n  format: json\ncontrol:\n  socket: ${sock('a')}\n${limits}data_plane: fake\nconnections:\n${conn(one, 'moon', ports.c)}${conn(two, 'moon', ports.d)}`);
    a = new DaemonProc('a', join(dir, 'a.yaml'), sock('a'), join(dir, 'a.log'), join(dir, 'a.journal'));
    await Promise.all([a.ready(), c.ready(), d.ready()]);
  });

  after(async () => {
    for (const p of [a, c, d]) if (p) await p.stop('SIGTERM').catch(() => p.child.kill('SIGKILL'));
    for (const p of [a, c, d]) if (p?.running) p.child.kill('SIGKILL');
    if (process.env['PQIKE_KEEP_TEST_DIR'] === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`control-limits test files kept in ${dir}\n`);
  });

  it('one request per connection: `up` written in several chunks, with more requests after its newline, makes exactly one IKE SA', async () => {
    const line = JSON.stringify({ cmd: 'up', args: ['one'], opts: {} });
    const s = createConnection(sock('a'));
    let answer = '';
    s.setEncoding('utf8').on('data', (x: string) => (answer += x));
    const ended = new Promise<void>((resolve) => s.on('close', () => resolve()));
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    for (const part of [line.slice(0, 10), line.slice(10, 20), `${line.slice(20)}\n${line.slice(0, 5)}`, `${line.slice(5)}\n`, `${line}\n`, 'more\n']) {
      s.write(part);
      await sleep(60);
    }
    await ended;
    const res = JSON.parse(answer) as { ok: boolean; data: { sa: number } };
    assert.equal(res.ok, true, answer);
    assert.equal(answer.trim().split('\n').length, 1, 'one response');
    await sleep(500);
    const sas = (await a.sas()).filter((x) => x.connection === 'one');
    assert.deepEqual(sas.map((x) => x.id), [res.data.sa], JSON.stringify(sas));
    assert.equal((await c.sas()).length, 1);
  });

  it(`thousands of idle control connections: at most ${MAX_CONTROL_CONNECTIONS} are held, pqike list-sas answers meanwhile, the rest close within ${REQUEST_TIMEOUT_MS} ms`, async () => {
    const pid = a.child.pid;
    const before = fds(pid);
    const idle = new Idle(3000, () => createConnection(sock('a')));
    try {
      await waitFor('the daemon to take every connection', () => (idle.closed + MAX_CONTROL_CONNECTIONS >= 3000 ? true : undefined), 20_000);
      const held = fds(pid) - before;
      process.stderr.write(`3000 idle control connections: ${idle.closed} closed at once (failed to connect: ${idle.failures}), daemon holds ${held} more descriptors\n`);
      assert.ok(held <= MAX_CONTROL_CONNECTIONS + 2, `daemon holds ${held} more descriptors`);
      const t0 = Date.now();
      const list = await cli(['list-sas', '--socket', sock('a')]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^one #\d+: ESTABLISHED/);
      assert.ok(Date.now() - t0 < REQUEST_TIMEOUT_MS, 'list-sas did not have to wait for the idle connections to time out');
      await waitFor('every idle connection closed', () => (idle.closed >= 3000 ? true : undefined), REQUEST_TIMEOUT_MS + 3000);
      assert.ok(fds(pid) <= before + 1, `descriptors after: ${fds(pid)}, before: ${before}`);
    } finally {
      idle.destroy();
    }
  });

  for (const [name, nofile] of [['c', 256], ['d', 64]] as const) {
    it(`a responder limited to ${nofile} descriptors, with key export on, survives 600 metrics and 600 control connections; a new IKE SA still comes up`, async () => {
      const p = name === 'c' ? c : d;
      const peer = name === 'c' ? one : two;
      const metricsPort = name === 'c' ? ports.cMetrics : ports.dMetrics;
      const idle = [new Idle(600, () => createConnection(metricsPort, '127.0.0.1')), new Idle(600, () => createConnection(sock(name)))];
      try {
        await sleep(1000);
        const busiest = fds(p.child.pid);
        process.stderr.write(`${name} (nofile ${nofile}): ${busiest} descriptors open under 1200 connections; closed so far: metrics ${idle[0]?.closed} (failed: ${idle[0]?.failures}), control ${idle[1]?.closed} (failed: ${idle[1]?.failures})\n`);
        assert.ok(p.running, `${name} exited:\n${readFileSync(join(dir, `${name}.log`), 'utf8')}`);
        // IKE does not need a descriptor: a new IKE SA comes up, and its keys are exported.
        const up = await cli(['up', peer.conn, '--socket', sock('a')], 30_000);
        assert.equal(up.code, 0, up.stderr);
        const id = Number(/IKE SA #(\d+)/.exec(up.stdout)?.[1]);
        const mine = (await a.sas()).find((x) => x.id === id);
        assert.ok(mine);
        assert.ok(readFileSync(join(dir, `${name}.keys`), 'utf8').includes(`${mine.spiI},${mine.spiR},`), 'keys of the new SA exported');
        assert.ok(p.running);
        // The control socket answers (at once, or once descriptors are free again).
        const listed = await waitFor(`${name} lists the new SA`, async () => {
          const r = await request(sock(name), { cmd: 'list-sas', args: [], opts: {} }, 2000).catch(() => undefined);
          return r?.ok === true && (r.data as SaView[]).some((s) => s.spiI === mine.spiI && s.state === 'established') ? true : undefined;
        }, REQUEST_TIMEOUT_MS + 5000);
        assert.ok(listed);
        // The idle metrics connections are closed by the timeouts; /metrics answers again.
        await waitFor(`${name}'s idle metrics connections closed`, () => ((idle[0]?.closed ?? 0) >= 600 ? true : undefined), METRICS_LIMITS.socketTimeoutMs + 5000);
        const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        assert.match(body, /^pqike_ike_sas\{state="established"\} [1-9]/m);
        assert.ok(p.running);
        const errors = p.logLines().filter((l) => l['level'] === 'error');
        process.stderr.write(`${name}: ${errors.length} error lines: ${errors.map((l) => String(l['msg'])).join(' | ')}\n`);
        assert.ok(errors.length <= 4, 'accept errors are logged at most once a minute per listener');
      } finally {
        for (const i of idle) i.destroy();
      }
    });
  }
});
