/**
 * Every per-SA table of the daemon (connection of each SA, commands waiting for events,
 * handshake start times in the metrics) is bounded by the IKE SAs that exist: two daemons in
 * this process open and end many IKE SAs in every way a peer or `pqike` can end them, and
 * afterwards the tables are empty:
 *
 * - half-open SAs that time out (IKE_SA_INIT requests nobody follows up; limits.half_open_timeout),
 * - SAs deleted with `pqike down` while connecting (to a peer that never answers) and once up,
 * - failed authentications (a PSK the responder does not have),
 * - SAs replaced by an IKE SA rekey, then deleted.
 *
 * Daemon A initiates; daemon B answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Daemon } from '../../src/daemon/daemon.js';
import { request } from '../../src/daemon/control.js';
import type { ControlResponse } from '../../src/daemon/control.js';
import { IkeEngine } from '../../src/engine/engine.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { waitFor } from './harness.js';

const PSK = 'bounded-state-test-psk-0123456789';
const N = 12;
const quiet = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

describe('the daemon forgets every SA it no longer has', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-bounded-'));
  const base = 20_000 + 4 * Math.floor(Math.random() * 10_000);
  const ports = { a: base, b: base + 1, silent: base + 2 };
  const limits = 'limits:\n  half_open_timeout: 1s\n  cookie_threshold: 100000\n  cookie_threshold_ip: 100000\n  block_threshold: 100000\n  auth_failures_before_backoff: 100000\n';
  let a: Daemon;
  let b: Daemon;
  /** A UDP socket that takes IKE requests and never answers. */
  let silent: dgram.Socket;

  const conn = (name: string, port: number, me: string, peer: string, psk: string): string => `  ${name}:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${port}
    local_id: ${me}.example.org
    remote_id: ${peer}.example.org
    psk: ${psk}
    children:
      net:
        local_ts: [10.${me === 'moon' ? 1 : 2}.0.0/16]
        remote_ts: [10.${me === 'moon' ? 2 : 1}.0.0/16]
`;
  const cfg = (me: string, port: number, extra: string, conns: string): string =>
    `secrets: secrets.yaml\nport: ${port}\nlog:\n  level: debug\ncontrol:\n  socket: ${join(dir, `${me}/pqike.sock`)}\n${extra}data_plane: fake\nconnections:\n${conns}`;
  const ctl = (d: string, cmd: string, ...args: string[]): Promise<ControlResponse> => request(join(dir, `${d}/pqike.sock`), { cmd, args, opts: {} }, 40_000);

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  good: "${PSK}"\n  bad: "bounded-state-WRONG-psk-0123456789"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'a.yaml'), cfg('moon', ports.a, '', conn('good', ports.b, 'moon', 'sun', 'good') + conn('bad', ports.b, 'moon', 'sun', 'bad') + conn('silent', ports.silent, 'moon', 'sun', 'good')));
    writeFileSync(join(dir, 'b.yaml'), cfg('sun', ports.b, limits, conn('gw', ports.a, 'sun', 'moon', 'good')));
    silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(ports.silent, '127.0.0.1', () => resolve()));
    b = new Daemon({ configPath: join(dir, 'b.yaml'), logOut: quiet() });
    await b.start();
    a = new Daemon({ configPath: join(dir, 'a.yaml'), logOut: quiet() });
    await a.start();
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    silent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const empty = { saConnections: 0, waiters: 0, handshakesTimed: 0 };

  it(`${N} half-open SAs on B time out (IKE_SA_INIT only); B's tables are empty afterwards`, async () => {
    const probe = new IkeEngine({});
    probe.addConnection({
      name: 'probe',
      localAddress: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      localId: parseIdentity('moon.example.org'),
      psk: new TextEncoder().encode(PSK),
      ikeProposals: parseProposals(['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike'),
      children: [],
    });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
    try {
      const local = { address: '127.0.0.1', port: sock.address().port };
      for (let i = 0; i < N; i++) {
        probe.initiate('probe', Date.now(), { local, remote: { address: '127.0.0.1', port: ports.b } });
        for (const o of probe.drain()) if (o.kind === 'send') sock.send(o.data, o.to.port, o.to.address);
      }
      await waitFor('B to hold the half-open SAs', async () => ((await b.listSas()).length === N ? true : undefined));
      assert.ok(b.tables().handshakesTimed >= N, JSON.stringify(b.tables()));
      await waitFor('the half-open SAs to time out', async () => ((await b.listSas()).length === 0 ? true : undefined), 10_000);
      assert.deepEqual(b.tables(), empty);
    } finally {
      sock.close();
    }
  });

  it(`${N} SAs to a peer that never answers, deleted with pqike down while connecting: the pending up returns at once`, async () => {
    for (let i = 0; i < N; i++) {
      const up = ctl('moon', 'up', 'silent');
      await waitFor('the SA to be connecting', async () => ((await a.listSas()).some((s) => s.connection === 'silent') ? true : undefined));
      assert.equal(a.tables().waiters, 1);
      const t0 = Date.now();
      const down = await ctl('moon', 'down', 'silent');
      assert.ok(down.ok, JSON.stringify(down));
      const r = await up;
      assert.ok(Date.now() - t0 < 2000, 'up ended with its SA, not at its 30 s timeout');
      assert.deepEqual(r, { v: 1, ok: false, error: 'IKE SA closed: terminated locally', code: 'failed' });
    }
    assert.deepEqual(a.tables(), empty);
  });

  it(`${N} failed authentications (wrong PSK): both sides forget them`, async () => {
    for (let i = 0; i < N; i++) {
      const r = await ctl('moon', 'up', 'bad');
      assert.equal(r.ok, false);
    }
    await waitFor('B to drop the failed SAs', async () => ((await b.listSas()).length === 0 ? true : undefined));
    assert.deepEqual(a.tables(), empty);
    assert.deepEqual(b.tables(), empty);
  });

  it(`${N} SAs up and deleted with pqike down, some of them after an IKE SA rekey: both sides forget them`, async () => {
    for (let i = 0; i < N; i++) {
      const up = await ctl('moon', 'up', 'good');
      assert.ok(up.ok, JSON.stringify(up));
      if (i % 3 === 0) {
        const r = await ctl('moon', 'rekey', 'good');
        assert.ok(r.ok, JSON.stringify(r));
        // The replaced SA goes once its delete is answered.
        await waitFor('the rekeyed SA deleted', async () => ((await a.listSas()).filter((s) => s.connection === 'good').length === 1 ? true : undefined));
      }
      const down = await ctl('moon', 'down', 'good');
      assert.ok(down.ok, JSON.stringify(down));
    }
    await waitFor('B to drop its SAs', async () => ((await b.listSas()).length === 0 ? true : undefined));
    assert.equal((await a.listSas()).length, 0);
    assert.deepEqual(a.tables(), empty);
    assert.deepEqual(b.tables(), empty);
  });

  it('a reload that changes limits: says it needs a restart', async () => {
    writeFileSync(join(dir, 'b.yaml'), cfg('sun', ports.b, limits.replace('half_open_timeout: 1s', 'half_open_timeout: 2s'), conn('gw', ports.a, 'sun', 'moon', 'good')));
    const r = await ctl('sun', 'reload');
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual((r.data as { needRestart: string[] }).needRestart, ['limits']);
  });
});
