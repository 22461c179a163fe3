/**
 * A `pqike daemon` with `workers: 2` as responder (src/daemon/worker-pool.ts), on UDP 500/4500
 * of 127.0.0.77 (root: the NAT-T test needs the real ports), and pqike engines as clients from
 * many loopback addresses:
 *
 * - the IKE SAs spread over both workers (SA numbers: odd on worker 0, even on worker 1,
 *   src/engine/shard.ts), and every message of each reaches its worker: IKE SA and Child SA
 *   rekeys started by either side, liveness checks;
 * - a client behind a NAT (a relay in this process that rewrites the source port) floats from
 *   500 to 4500 in IKE_AUTH (RFC 7296 §2.23), then the NAT maps it anew, from other addresses
 *   and ports: the daemon answers on each new mapping, from the same worker, and rekeys go on;
 * - the half-open count that decides when a COOKIE is demanded (limits.cookie_threshold) is
 *   the daemon's, not one worker's: IKE_SA_INITs from addresses spread over both workers get a
 *   COOKIE once the threshold is reached in all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IkeEngine } from '../../src/engine/engine.js';
import type { Endpoint, EngineEvent } from '../../src/engine/types.js';
import { UdpDriver } from '../../src/io/udp-driver.js';
import { request } from '../../src/daemon/control.js';
import type { SaView } from '../../src/daemon/listing.js';
import { decodeMessage } from '../../src/wire/message.js';
import { NotifyType } from '../../src/wire/constants.js';
import { benchConnections } from '../../bench/common.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const PSK = 'workers-test-psk-0123456789abcdef-not-secret';
const GW = '127.0.0.77';
const root = process.getuid?.() === 0;

function daemonConfig(dir: string, socket: string, limits: string): string {
  return `secrets: secrets.yaml
workers: 2
port: 500
log:
  level: info
  format: json
control:
  socket: ${socket}
data_plane: fake
limits:
${limits}
connections:
  gw:
    local_addrs: ${GW}
    remote_addrs: '%any'
    local_id: responder.bench.pqike
    psk: k
    proposals: [aes256gcm16-prfsha384-x25519]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
`;
}

/** A pqike engine on UDP 500/4500 of one loopback address, initiating to `to`. */
class Client {
  readonly engine = new IkeEngine();
  readonly driver: UdpDriver;
  readonly events: EngineEvent[] = [];

  constructor(readonly address: string, to: string) {
    const { initiator } = benchConnections('aes256gcm16-prfsha384-x25519', new TextEncoder().encode(PSK), address, to);
    this.engine.addConnection(initiator);
    this.driver = new UdpDriver(this.engine, { address, port: 500, onEvent: (e) => this.events.push(e) });
  }

  /** The IKE SA of this client that is established now (after rekeys, the newest). */
  current(): number | undefined {
    return this.engine.list().find((s) => s.state === 'established')?.id;
  }

  async up(to: string): Promise<number> {
    await this.driver.start();
    this.driver.initiate('bench', { address: to, port: 500 });
    return waitFor(`${this.address} up`, () => (this.events.some((e) => e.type === 'child-up') ? this.current() : undefined));
  }

  /** A liveness check (an empty INFORMATIONAL, RFC 7296 §2.4) answered by the daemon. */
  async alive(): Promise<void> {
    const id = this.current();
    assert.ok(id !== undefined, `${this.address} has an IKE SA`);
    const before = this.events.filter((e) => e.type === 'message' && e.direction === 'in' && e.response && e.exchange === 37).length;
    this.driver.apply((e, now) => e.checkLiveness(id, now));
    await waitFor(`${this.address}: INFORMATIONAL answered`, () => (this.events.filter((e) => e.type === 'message' && e.direction === 'in' && e.response && e.exchange === 37).length > before ? true : undefined));
  }
}

/**
 * A NAT in this process: the client talks to `outside` 500/4500; each port is forwarded to the
 * gateway's same port from a socket of its own (a port the NAT picked), and what comes back
 * goes to the client. rebind() gives 4500 a new port, as a NAT that forgot the mapping.
 */
class Nat {
  private readonly front = new Map<number, dgram.Socket>();
  private readonly back = new Map<number, dgram.Socket>();
  private client?: Endpoint;
  /** The address the gateway sees (a NAT with a pool of addresses may change it too). */
  private backAddress: string;

  constructor(readonly outside: string) {
    this.backAddress = outside;
  }

  async start(): Promise<void> {
    for (const port of [500, 4500]) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(port, this.outside, () => r()));
      s.on('message', (msg, rinfo) => {
        this.client = { address: rinfo.address, port: rinfo.port };
        void this.backFor(port).then((b) => b.send(msg, port, GW));
      });
      this.front.set(port, s);
    }
  }

  private async backFor(port: number): Promise<dgram.Socket> {
    const have = this.back.get(port);
    if (have) return have;
    const b = dgram.createSocket('udp4');
    this.back.set(port, b);
    await new Promise<void>((r) => b.bind(0, this.backAddress, () => r()));
    b.on('message', (msg) => {
      const c = this.client;
      if (c) this.front.get(port)?.send(msg, c.port, c.address);
    });
    return b;
  }

  /** The address:port the gateway sees for the client's NAT-T traffic. */
  seenAs(): string | undefined {
    const a = this.back.get(4500)?.address();
    return a && `${a.address}:${a.port}`;
  }

  /** A new mapping for 4500: a new port, from `address`. */
  rebind(address: string): void {
    this.backAddress = address;
    this.back.get(4500)?.close();
    this.back.delete(4500);
  }

  close(): void {
    for (const s of [...this.front.values(), ...this.back.values()]) s.close();
  }
}

const workerOf = (id: number): number => (id - 1) % 2;

describe('a daemon with two engine workers', { skip: root ? false : 'needs root (UDP 500/4500)', timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-workers-'));
  const socket = join(dir, 'run/pqike.sock');
  const clients: Client[] = [];
  let nat: Nat | undefined;
  let gw: DaemonProc;
  const sas = async (): Promise<SaView[]> => {
    const r = await request(socket, { cmd: 'list-sas', args: [], opts: {} }, 5000);
    if (!r.ok) throw new Error(r.error);
    return r.data as SaView[];
  };

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'gw.yaml'), daemonConfig(dir, socket, '  cookie_threshold: 1000\n  cookie_threshold_ip: 100\n  block_threshold: 100'));
    gw = new DaemonProc('gw', join(dir, 'gw.yaml'), socket, join(dir, 'gw.log'), join(dir, 'gw.journal'));
    await gw.ready();
  });

  after(async () => {
    for (const c of clients) await c.driver.close();
    nat?.close();
    await gw?.stop('SIGTERM').catch(() => gw.child.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('spreads the IKE SAs of 8 peers over both workers; rekeys by either side stay on the SA\'s worker', async () => {
    for (let k = 0; k < 8; k++) clients.push(new Client(`127.0.0.${100 + k}`, GW));
    await Promise.all(clients.map((c) => c.up(GW)));
    const listed = await sas();
    assert.equal(listed.filter((s) => s.state === 'established').length, 8);
    const workers = new Set(listed.map((s) => workerOf(s.id)));
    assert.deepEqual([...workers].sort(), [0, 1], `SA numbers ${listed.map((s) => s.id).join(', ')}: both workers hold SAs`);
    for (const s of listed) assert.equal(workerOf(s.id), Number.parseInt(s.spiR.slice(0, 2), 16) % 2, `IKE SA #${s.id}: its SPIr names its worker`);

    // The clients rekey their IKE SAs (the new SPIr comes from the daemon's worker).
    for (const c of clients.slice(0, 4)) {
      const id = c.current();
      assert.ok(id !== undefined);
      c.driver.apply((e, now) => e.rekeyIke(id, now));
    }
    // The daemon rekeys the others' IKE SAs (its new SPIi), and one Child SA.
    const theirs = listed.filter((s) => clients.slice(4).some((c) => s.remote.startsWith(c.address)));
    assert.equal(theirs.length, 4);
    for (const s of theirs) {
      const r = await cli(['rekey', String(s.id), '--socket', socket]);
      assert.equal(r.code, 0, r.stderr);
    }
    const oneChild = theirs[0]?.children[0];
    assert.ok(oneChild);
    await waitFor('the client-side rekeys done', async () => ((await sas()).filter((s) => s.state === 'established' && !listed.some((o) => o.id === s.id)).length === 8 ? true : undefined));
    const after = await sas();
    for (const s of after.filter((x) => x.state === 'established')) {
      const old = listed.find((o) => o.remote === s.remote);
      assert.ok(old, `IKE SA #${s.id} replaces one of ${s.remote}`);
      assert.equal(workerOf(s.id), workerOf(old.id), `IKE SA #${s.id} (rekey of #${old.id}) is on the same worker`);
      assert.notEqual(s.spiI, old.spiI);
      assert.equal(s.children.length, 1, `the Child SA moved to IKE SA #${s.id}`);
    }
    const r = await cli(['rekey', String(after.find((s) => s.remote === theirs[0]?.remote && s.state === 'established')?.id), '--child', oneChild.spiIn, '--socket', socket]);
    assert.equal(r.code, 0, r.stderr);
    for (const c of clients) await c.alive();
  });

  it('a client behind a NAT floats to 4500, then its NAT rebinds: answered on the new port, by the same worker', { skip: false }, async () => {
    nat = new Nat('127.0.0.31');
    await nat.start();
    const c = new Client('127.0.0.30', '127.0.0.31');
    clients.push(c);
    await c.up('127.0.0.31');
    const first = nattSa(await sas(), nat.seenAs());
    assert.ok(first, 'the daemon lists the SA on the NAT\'s 4500 mapping');
    await c.alive();
    // New mappings from other addresses: a dispatch by address would send some of them to the
    // other worker (each with p = 1/2), which holds no such SA.
    for (const address of ['127.0.0.32', '127.0.0.33', '127.0.0.34', '127.0.0.35']) {
      nat.rebind(address);
      await c.alive();
      const moved = nattSa(await sas(), nat.seenAs());
      assert.ok(moved, `the daemon follows the new mapping ${nat.seenAs() ?? ''}`);
      assert.equal(moved.id, first.id);
    }
    const id = c.current();
    assert.ok(id !== undefined);
    c.driver.apply((e, now) => e.rekeyIke(id, now));
    const rekeyed = await waitFor('the rekey through the new port', async () => {
      const s = nattSa(await sas(), nat?.seenAs());
      return s && s.id !== first.id && s.state === 'established' ? s : undefined;
    });
    assert.equal(workerOf(rekeyed.id), workerOf(first.id));
    await c.alive();
  });
});

function nattSa(list: readonly SaView[], seenAs: string | undefined): SaView | undefined {
  return seenAs === undefined ? undefined : list.find((s) => s.remote === seenAs && s.state === 'established');
}

describe('the half-open count of a daemon with two workers', { skip: root ? false : 'needs root (UDP 500)', timeout: 60_000 }, () => {
  it('demands COOKIEs once cookie_threshold IKE SAs are half-open across both workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqike-workers-cookie-'));
    const socket = join(dir, 'run/pqike.sock');
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'gw.yaml'), daemonConfig(dir, socket, '  cookie_threshold: 4\n  cookie_threshold_ip: 100\n  block_threshold: 100'));
    const gw = new DaemonProc('gw', join(dir, 'gw.yaml'), socket, join(dir, 'gw.log'), join(dir, 'gw.journal'));
    const sockets: dgram.Socket[] = [];
    try {
      await gw.ready();
      // IKE_SA_INIT requests from 10 addresses, each left half-open (nothing after the response).
      const answers: string[] = [];
      for (let k = 0; k < 10; k++) {
        const address = `127.0.0.${150 + k}`;
        const engine = new IkeEngine();
        engine.addConnection(benchConnections('aes256gcm16-prfsha384-x25519', new TextEncoder().encode(PSK), address, GW).initiator);
        engine.initiate('bench', 0, { local: { address, port: 500 }, remote: { address: GW, port: 500 } });
        const init = engine.drain().find((o) => o.kind === 'send');
        assert.ok(init && init.kind === 'send');
        const s = dgram.createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((r) => s.bind(0, address, () => r()));
        const answer = new Promise<string>((resolve) =>
          s.once('message', (msg) => {
            const m = decodeMessage(msg);
            resolve(m.payloads.some((p) => 'notifyType' in p && p.notifyType === NotifyType.COOKIE) ? 'cookie' : 'sa');
          }),
        );
        s.send(init.data, 500, GW);
        answers.push(await answer);
      }
      assert.deepEqual(answers, ['sa', 'sa', 'sa', 'sa', 'cookie', 'cookie', 'cookie', 'cookie', 'cookie', 'cookie']);
      const stats = await request(socket, { cmd: 'stats', args: [], opts: {} }, 5000);
      assert.ok(stats.ok);
      assert.equal((stats.data as { halfOpenIkeSas?: number }).halfOpenIkeSas, 4, JSON.stringify(stats.data));
      // Counted per worker, the sixth request onwards would have got an SA whenever its
      // address's worker held fewer than four (all ten on one worker: p = 2^-9).
      const l = await request(socket, { cmd: 'list-sas', args: [], opts: {} }, 5000);
      assert.ok(l.ok);
      const listed = l.data as SaView[];
      assert.equal(listed.length, 4, `half-open SAs ${listed.map((s) => `#${s.id}`).join(' ')}`);
    } finally {
      for (const s of sockets) s.close();
      await gw.stop('SIGTERM').catch(() => gw.child.kill('SIGKILL'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
