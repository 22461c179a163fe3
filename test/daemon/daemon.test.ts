/**
 * Two real `pqike daemon` processes talking IKE over 127.0.0.1/127.0.0.2 UDP, driven with the
 * `pqike` control commands: up, list-sas, rekey (IKE and Child SA), reload (refused and
 * partial), SIGHUP, down, SIGTERM; the control socket's permissions, the metrics endpoint, the
 * key export and the logs. No root needed; every child is killed at the end.
 *
 * Daemon A ("moon") initiates; daemon B ("sun") answers. Two connections join them:
 *   one: 127.0.0.1 <-> 127.0.0.1, brought up with `pqike up one`
 *   two: 127.0.0.2 <-> 127.0.0.2, start_action start on A
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from '../../src/daemon/control.js';
import type { SaView } from '../../src/daemon/listing.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const PSK_ONE = 'daemon-test-psk-one-0123456789abcdef';
const PSK_TWO = 'daemon-test-psk-two-fedcba9876543210';

interface Side {
  readonly me: 'moon' | 'sun';
  readonly port: number;
  readonly remotePort: number;
  readonly socket: string;
  readonly metrics?: number;
  readonly twoEsp: string;
  readonly extra?: string;
}

function config(s: Side): string {
  const [lts, rts] = s.me === 'moon' ? ['10.1.0.0/16', '10.2.0.0/16'] : ['10.2.0.0/16', '10.1.0.0/16'];
  const peer = s.me === 'moon' ? 'sun' : 'moon';
  return `secrets: secrets.yaml
port: ${s.port}
log:
  level: ${s.me === 'moon' ? 'debug' : 'info'}
  format: ${s.me === 'moon' ? 'json' : 'auto'}
control:
  socket: ${s.socket}
${s.metrics === undefined ? '' : `metrics:\n  listen: 127.0.0.1:${s.metrics}\n`}data_plane: fake
connections:
  one:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${s.remotePort}
    local_id: ${s.me}-one.example.org
    remote_id: ${peer}-one.example.org
    psk: one
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
    children:
      net:
        local_ts: [${lts}]
        remote_ts: [${rts}]
        esp_proposals: [aes256gcm16-x25519-ke1_mlkem768]
  two:
    local_addrs: 127.0.0.2
    remote_addrs: 127.0.0.2
    remote_port: ${s.remotePort}
    local_id: ${s.me}-two.example.org
    remote_id: ${peer}-two.example.org
    psk: two
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
    children:
      lan:
        local_ts: [${lts.replace('.0.0/16', '.5.0/24')}]
        remote_ts: [${rts.replace('.0.0/16', '.5.0/24')}]
        esp_proposals: [${s.twoEsp}]
${s.me === 'moon' ? '        start_action: start\n' : ''}${s.extra ?? ''}`;
}

/** IKE SPIs and Child SA SPIs of a listing, to compare before/after. */
function spis(list: readonly SaView[], conn: string): string {
  return list
    .filter((s) => s.connection === conn)
    .map((s) => `${s.spiI}/${s.spiR}:${s.children.map((c) => `${c.spiIn}/${c.spiOut}`).join(',')}`)
    .sort()
    .join(' ');
}

test('pqike list-sas with no daemon says it is not running and exits 3', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-nodaemon-'));
  try {
    const socket = join(dir, 'pqike.sock');
    const r = await cli(['list-sas', '--socket', socket]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`the daemon is not running \\(no control socket at ${socket}\\)`));
    assert.match(r.stderr, /Start it with: pqike daemon -c/);
    const j = await cli(['list-sas', '--json', '--socket', socket]);
    assert.equal(j.code, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('two pqike daemons over 127.0.0.1 UDP', { timeout: 40_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-daemon-'));
  const base = 20_000 + 3 * Math.floor(Math.random() * 10_000);
  const ports = { a: base, b: base + 1, metrics: base + 2 };
  const sideA: Side = { me: 'moon', port: ports.a, remotePort: ports.b, socket: join(dir, 'a/run/pqike.sock'), metrics: ports.metrics, twoEsp: 'aes256gcm16-x25519-ke1_mlkem768' };
  const sideB: Side = { me: 'sun', port: ports.b, remotePort: ports.a, socket: join(dir, 'b/run/pqike.sock'), twoEsp: 'aes256gcm16-x25519-ke1_mlkem768, aes128gcm16' };
  const aConfig = join(dir, 'a.yaml');
  const keys = join(dir, 'keys/ikev2_decryption_table');
  let a: DaemonProc;
  let b: DaemonProc;
  /** SPIs of connection 'one' after `pqike up` / rekeys, to compare with later listings. */
  let oneSpis = '';

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  one: "${PSK_ONE}"\n  two: "${PSK_TWO}"\n`, { mode: 0o600 });
    writeFileSync(aConfig, config(sideA));
    writeFileSync(join(dir, 'b.yaml'), config(sideB));
    // The responder first, so that A's start action finds it listening.
    b = new DaemonProc('B', join(dir, 'b.yaml'), sideB.socket, join(dir, 'b.log'), join(dir, 'b.journal'));
    await b.ready();
    mkdirSync(dirname(keys));
    a = new DaemonProc('A', aConfig, sideA.socket, join(dir, 'a.log'), join(dir, 'a.journal'), ['--export-keys', keys]);
    await a.ready();
  });

  after(async () => {
    for (const d of [a, b]) if (d) await d.stop('SIGTERM').catch(() => d.child.kill('SIGKILL'));
    for (const d of [a, b]) if (d?.running) d.child.kill('SIGKILL');
    if (process.env['PQIKE_KEEP_TEST_DIR'] === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`daemon test files kept in ${dir}\n`);
  });

  it('creates its control socket with mode 0600 in a 0700 directory', () => {
    assert.equal(statSync(sideA.socket).mode & 0o777, 0o600);
    assert.ok(statSync(sideA.socket).isSocket());
    assert.equal(statSync(dirname(sideA.socket)).mode & 0o777, 0o700);
    assert.equal(statSync(sideB.socket).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(sideB.socket)).mode & 0o777, 0o700);
  });

  it('start_action start brings connection two up at start (both daemons list it)', async () => {
    const [sa] = await waitFor('two established on A', async () => {
      const l = await a.established('two');
      return l.length === 1 && l[0]?.children.length === 1 ? l : undefined;
    });
    assert.ok(sa);
    const [peer] = await waitFor('two established on B', async () => {
      const l = await b.established('two');
      return l.length === 1 && l[0]?.children.length === 1 ? l : undefined;
    });
    assert.ok(peer);
    assert.equal(sa.role, 'initiator');
    assert.equal(peer.role, 'responder');
    assert.equal(`${sa.spiI}/${sa.spiR}`, `${peer.spiI}/${peer.spiR}`);
    assert.equal(sa.children[0]?.spiIn, peer.children[0]?.spiOut);
    assert.equal(sa.localId, 'moon-two.example.org');
    assert.equal(sa.local, `127.0.0.2:${ports.a}`);
  });

  it('pqike up one: both daemons list its IKE SA and Child SA (list-sas --json)', async () => {
    const up = await cli(['up', 'one', '--socket', sideA.socket]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /connection 'one' established \(IKE SA #\d+\)/);
    const la = JSON.parse((await cli(['list-sas', '--json', '--socket', sideA.socket])).stdout) as SaView[];
    const mine = la.filter((s) => s.connection === 'one');
    assert.equal(mine.length, 1);
    const sa = mine[0];
    assert.ok(sa);
    assert.equal(sa.state, 'established');
    assert.equal(sa.role, 'initiator');
    assert.equal(sa.local, `127.0.0.1:${ports.a}`);
    assert.equal(sa.remote, `127.0.0.1:${ports.b}`);
    assert.equal(sa.remoteId, 'sun-one.example.org');
    assert.deepEqual(sa.keyExchanges, ['CURVE_25519', 'ML_KEM_768']);
    assert.equal(sa.children.length, 1);
    const child = sa.children[0];
    assert.ok(child);
    assert.equal(child.name, 'net');
    assert.equal(child.state, 'installed');
    assert.deepEqual(child.localTs, ['10.1.0.0/16']);
    assert.deepEqual(child.remoteTs, ['10.2.0.0/16']);

    const lbText = await waitFor('one listed on B', async () => {
      const r = await cli(['list-sas', '--json', '--socket', sideB.socket]);
      return (JSON.parse(r.stdout) as SaView[]).some((s) => s.connection === 'one' && s.children.length === 1) ? r.stdout : undefined;
    });
    const peer = (JSON.parse(lbText) as SaView[]).find((s) => s.connection === 'one');
    assert.ok(peer);
    assert.equal(peer.role, 'responder');
    assert.equal(`${peer.spiI}/${peer.spiR}`, `${sa.spiI}/${sa.spiR}`);
    assert.equal(peer.children[0]?.spiIn, child.spiOut);
    assert.equal(peer.children[0]?.spiOut, child.spiIn);
    assert.deepEqual(peer.children[0]?.localTs, ['10.2.0.0/16']);

    // The readable listing says the same.
    const text = await cli(['list-sas', '--socket', sideA.socket]);
    assert.match(text.stdout, new RegExp(`one #${sa.id}: ESTABLISHED .*\\[moon-one\\.example\\.org\\]\\.\\.\\..*\\[sun-one\\.example\\.org\\] \\(initiator\\)`));
    assert.match(text.stdout, new RegExp(`net: INSTALLED tunnel, SPIs ${child.spiIn}_i ${child.spiOut}_o`));
    oneSpis = spis(la, 'one');
    assert.ok(a.installedInbound().includes(child.spiIn), 'A installed the Child SA in its data plane');
    assert.ok(a.journalOps().some((o) => o.op === 'add-sa' && o.direction === 'out' && o.spi === child.spiOut), 'both directions');
    assert.ok(a.journalOps().some((o) => o.op === 'add-policies' && o.conn === 'one'), 'and its policies');
  });

  it('serves Prometheus metrics with the SA gauges and counters; pqike stats agrees', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    for (const line of [
      'pqike_ike_sas{state="established"} 2',
      'pqike_ike_sas{state="connecting"} 0',
      'pqike_child_sas 2',
      'pqike_ike_sas_established_total 2',
      'pqike_child_sas_established_total 2',
      'pqike_child_sa_rekeys_total 0',
      'pqike_handshake_seconds_count 2',
      'pqike_messages_total{exchange="IKE_INTERMEDIATE",direction="out",kind="request"} 2',
      '# TYPE pqike_ike_sas gauge',
      '# TYPE pqike_ike_sas_established_total counter',
      '# TYPE pqike_handshake_seconds histogram',
    ]) {
      assert.ok(body.split('\n').includes(line), `metrics lack '${line}':\n${body}`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${ports.metrics}/other`)).status, 404);
    const stats = await cli(['stats', '--json', '--socket', sideA.socket]);
    assert.equal(stats.code, 0);
    const s = JSON.parse(stats.stdout) as { ikeSasByState: Record<string, number>; childSas: number; ikeSasEstablishedTotal: number };
    assert.deepEqual(s.ikeSasByState, { established: 2 });
    assert.equal(s.childSas, 2);
    assert.equal(s.ikeSasEstablishedTotal, 2);
  });

  it('pqike rekey one: new IKE SPIs on both sides, the Child SA moves over unchanged', async () => {
    const before = (await a.established('one'))[0];
    assert.ok(before);
    const r = await cli(['rekey', 'one', '--socket', sideA.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rekeyed/);
    const after = await waitFor('one rekeyed on A', async () => {
      const l = await a.sas();
      const x = l.filter((s) => s.connection === 'one');
      return x.length === 1 && x[0]?.id !== before.id && x[0]?.state === 'established' ? x[0] : undefined;
    });
    assert.notEqual(`${after.spiI}/${after.spiR}`, `${before.spiI}/${before.spiR}`);
    assert.deepEqual(after.keyExchanges, ['CURVE_25519', 'ML_KEM_768']);
    assert.deepEqual(after.children.map((c) => c.spiIn), before.children.map((c) => c.spiIn));
    await waitFor('B lists the rekeyed IKE SA only', async () => {
      const l = (await b.sas()).filter((s) => s.connection === 'one');
      return l.length === 1 && l[0]?.spiI === after.spiI && l[0]?.children[0]?.spiOut === after.children[0]?.spiIn ? true : undefined;
    });
  });

  it('pqike rekey one --child SPI: a new Child SA replaces the old one on both sides and in the data plane', async () => {
    const sa = (await a.established('one'))[0];
    const old = sa?.children[0];
    assert.ok(sa && old);
    const r = await cli(['rekey', String(sa.id), '--child', old.spiIn, '--socket', sideA.socket]);
    assert.equal(r.code, 0, r.stderr);
    const now = await waitFor('new Child SA on A', async () => {
      const c = (await a.established('one'))[0]?.children ?? [];
      return c.length === 1 && c[0]?.spiIn !== old.spiIn ? c[0] : undefined;
    });
    assert.equal(now.rekeyOf, old.spiIn);
    assert.deepEqual(now.keyExchanges, ['CURVE_25519', 'ML_KEM_768'], 'the rekey ran the ESP proposal key exchanges (PFS)');
    await waitFor('B lists the new Child SA only', async () => {
      const c = (await b.established('one'))[0]?.children ?? [];
      return c.length === 1 && c[0]?.spiOut === now.spiIn ? true : undefined;
    });
    assert.ok(a.installedInbound().includes(now.spiIn));
    assert.ok(a.removedInbound().includes(old.spiIn));
    // Make-before-break (RFC 7296 §2.8): the new SAs went in before the replaced ones went out.
    const ops = a.journalOps();
    const at = (op: string, spi: string): number => ops.findIndex((o) => o.op === op && o.spi === spi);
    assert.ok(at('add-sa', now.spiIn) < at('del-sa', old.spiIn) && at('add-sa', now.spiOut) < at('del-sa', old.spiOut));
    const body = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.ok(body.includes('\npqike_child_sa_rekeys_total 1\n'), body);
    oneSpis = spis(await a.sas(), 'one');
  });

  it('pqike reload of a malformed file is refused with every problem listed; the tunnels stay up with the same SPIs', async () => {
    const beforeA = await a.sas();
    const beforeB = await b.sas();
    const good = readFileSync(aConfig, 'utf8');
    const bad = good.replace(`port: ${ports.a}`, `port: ${ports.a}\nlogg: {}`).replace('remote_port: ', 'remote_port: x');
    writeFileSync(aConfig, bad);
    try {
      const r = await cli(['reload', '--socket', sideA.socket]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /configuration not reloaded, nothing changed/);
      assert.match(r.stderr, new RegExp(`${aConfig}:3: unknown setting 'logg' in config \\(did you mean 'log'\\?\\)`));
      assert.match(r.stderr, new RegExp(`${aConfig}:\\d+: connections\\.one\\.remote_port: write a UDP port, e\\.g\\. 500`));
    } finally {
      writeFileSync(aConfig, good);
    }
    await new Promise((r) => setTimeout(r, 300));
    const afterA = await a.sas();
    const afterB = await b.sas();
    for (const conn of ['one', 'two']) {
      assert.equal(spis(afterA, conn), spis(beforeA, conn));
      assert.equal(spis(afterB, conn), spis(beforeB, conn));
    }
    assert.equal(spis(afterA, 'one'), oneSpis);
    assert.ok(a.logLines().some((l) => l['level'] === 'error' && String(l['msg']).startsWith('reload refused, nothing changed')));
  });

  it('a reload that changes connection two re-creates only its SAs (start_action start again); one keeps its SPIs', async () => {
    const beforeA = await a.sas();
    const beforeB = await b.sas();
    const oldTwo = beforeA.find((s) => s.connection === 'two');
    assert.ok(oldTwo);
    writeFileSync(aConfig, config({ ...sideA, twoEsp: 'aes128gcm16' }));
    const r = await cli(['reload', '--socket', sideA.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'reloaded: added [], changed [two], removed [], unchanged [one]\n');
    const two = await waitFor('two re-created on A', async () => {
      const l = await a.established('two');
      return l.length === 1 && l[0]?.id !== oldTwo.id && l[0]?.children.length === 1 ? l[0] : undefined;
    });
    assert.equal(two.children[0]?.encryption, 'AES_GCM_16-128');
    assert.notEqual(two.spiI, oldTwo.spiI);
    await waitFor('B has only the new two', async () => {
      const l = (await b.sas()).filter((s) => s.connection === 'two');
      return l.length === 1 && l[0]?.spiI === two.spiI && l[0]?.children.length === 1 ? true : undefined;
    });
    assert.equal(spis(await a.sas(), 'one'), spis(beforeA, 'one'));
    assert.equal(spis(await b.sas(), 'one'), spis(beforeB, 'one'));
    assert.ok(a.removedInbound().includes(oldTwo.children[0]?.spiIn ?? '-'), 'the old Child SA of two left the data plane');
    assert.ok(a.installedInbound().includes(two.children[0]?.spiIn ?? '-'));
    const conns = await cli(['list-conns', '--json', '--socket', sideA.socket]);
    const list = JSON.parse(conns.stdout) as { name: string; children: { espProposals: string[]; startAction: string }[] }[];
    const lan = list.find((c) => c.name === 'two')?.children[0];
    assert.deepEqual(lan?.espProposals, ['aes128gcm16']);
    assert.equal(lan?.startAction, 'start');
  });

  it('SIGHUP reloads the file (a connection added), leaving the tunnels alone', async () => {
    const beforeA = await a.sas();
    const extra = `  three:
    local_addrs: 127.0.0.3
    remote_addrs: 127.0.0.3
    remote_port: ${ports.b}
    local_id: moon-three.example.org
    psk: one
    children:
      c:
        local_ts: [10.1.9.0/24]
        remote_ts: [10.2.9.0/24]
`;
    writeFileSync(aConfig, config({ ...sideA, twoEsp: 'aes128gcm16', extra }));
    a.child.kill('SIGHUP');
    await waitFor('three known to A', async () => {
      const r = await request(sideA.socket, { cmd: 'list-conns', args: [], opts: {} });
      return r.ok && (r.data as { name: string }[]).some((c) => c.name === 'three') ? true : undefined;
    });
    assert.ok(a.running);
    const msgs = a.logLines().map((l) => String(l['msg']));
    assert.ok(msgs.includes('SIGHUP: reloading the configuration'));
    assert.ok(msgs.includes('reloaded: 1 added, 0 changed, 0 removed, 2 unchanged'));
    const afterA = await a.sas();
    for (const conn of ['one', 'two']) assert.equal(spis(afterA, conn), spis(beforeA, conn));
  });

  it('pqike down one deletes its IKE SA on both sides; two stays', async () => {
    const twoBefore = spis(await a.sas(), 'two');
    const r = await cli(['down', 'one', '--socket', sideA.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^deleted IKE SA\(s\) #\d+\n$/);
    assert.equal((await a.sas()).filter((s) => s.connection === 'one').length, 0);
    await waitFor('one gone on B', async () => ((await b.sas()).some((s) => s.connection === 'one') ? undefined : true));
    assert.equal(spis(await a.sas(), 'two'), twoBefore);
    const again = await cli(['down', 'one', '--socket', sideA.socket]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no IKE SA for 'one'/);
  });

  it('SIGTERM: A deletes its SAs (B sees them go), empties its data plane, removes its socket and exits 0', async () => {
    const twoA = (await a.sas()).find((s) => s.connection === 'two');
    assert.ok(twoA);
    const code = await a.stop('SIGTERM');
    assert.equal(code, 0);
    assert.equal(existsSync(sideA.socket), false, 'control socket removed');
    await waitFor('B has no SAs left', async () => ((await b.sas()).length === 0 ? true : undefined));
    assert.ok(
      b.logLines().some((l) => l['conn'] === 'two' && l['event'] === 'ike-down' && l['reason'] === 'deleted by peer'),
      'B logged the delete of two by its peer',
    );
    // The data plane journal: every installed SA and policy was removed again.
    const live = new Set<string>();
    for (const o of a.journalOps()) {
      const key = o.op.endsWith('-sa') ? `sa ${o.direction} ${o.spi}` : `${o.op.slice(4)} ${o.reqid}`;
      if (o.op.startsWith('add-')) live.add(key);
      if (o.op.startsWith('del-')) live.delete(key);
    }
    assert.deepEqual([...live], []);
    const tail = a.journalOps().slice(-3);
    assert.deepEqual(tail.map((o) => [o.op, o.conn]), [['del-sa', 'two'], ['del-sa', 'two'], ['del-policies', 'two']]);
    assert.ok(tail.some((o) => o.spi === twoA.children[0]?.spiIn));
    const msgs = a.logLines().map((l) => String(l['msg']));
    assert.ok(msgs.includes('shutting down: deleting 1 IKE SA(s)'));
    assert.equal(msgs.at(-1), 'stopped');
    const r = await cli(['list-sas', '--socket', sideA.socket]);
    assert.equal(r.code, 3);
  });

  it('--export-keys wrote ikev2_decryption_table and .esp_sa lines (mode 0600) for the SAs listed', () => {
    assert.equal(statSync(keys).mode & 0o777, 0o600);
    assert.equal(statSync(`${keys}.esp_sa`).mode & 0o777, 0o600);
    const ike = readFileSync(keys, 'utf8').trim().split('\n');
    // Per IKE SA a line after IKE_SA_INIT and one after IKE_INTERMEDIATE; rekeys add lines.
    assert.ok(ike.length >= 6, ike.join('\n'));
    for (const l of ike) assert.match(l, /^[0-9a-f]{16},[0-9a-f]{16},[0-9a-f]{72},[0-9a-f]{72},"AES-GCM-256 with 16 octet ICV \[RFC5282\]",,,"NONE \[RFC4306\]"$/);
    const [ispi, rspi] = (oneSpis.split(':')[0] ?? '').split('/');
    assert.ok(ike.some((l) => l.startsWith(`${ispi ?? '?'},${rspi ?? '?'},`)), 'the listed IKE SA of one has keys');
    const esp = readFileSync(`${keys}.esp_sa`, 'utf8').trim().split('\n');
    assert.ok(esp.length >= 8, esp.join('\n'));
    for (const l of esp) assert.match(l, /^"IPv4","127\.0\.0\.[12]","127\.0\.0\.[12]","0x[0-9a-f]{8}","AES-GCM \[RFC4106\]","0x[0-9a-f]+","ANY 128 bit authentication \[no checking\]","0x"$/);
    const childSpis = (oneSpis.split(':')[1] ?? '').split('/');
    for (const spi of childSpis) assert.ok(esp.some((l) => l.includes(`"0x${spi}"`)), `esp_sa has SPI ${spi}`);
  });

  it('logs are JSON lines with level, conn and sa, and carry no key material', () => {
    const logs = [readFileSync(join(dir, 'a.log'), 'utf8'), readFileSync(join(dir, 'b.log'), 'utf8')];
    for (const [i, text] of logs.entries()) {
      const lines = (i === 0 ? a : b).logLines();
      assert.ok(lines.length > 10);
      for (const l of lines) {
        assert.equal(typeof l['ts'], 'string');
        assert.ok(['debug', 'info', 'warn', 'error'].includes(String(l['level'])), JSON.stringify(l));
        assert.equal(typeof l['msg'], 'string');
        // Every engine event is tagged with its IKE SA and connection.
        if (l['event'] !== undefined) {
          assert.equal(typeof l['sa'], 'number', JSON.stringify(l));
          assert.ok(['one', 'two'].includes(String(l['conn'])), JSON.stringify(l));
        }
      }
      assert.ok(lines.some((l) => l['event'] === 'child-up' && l['conn'] === 'one'));
      assert.ok(lines.some((l) => l['event'] === 'ike-up' && l['conn'] === 'two'));
      if (i === 0) assert.ok(lines.some((l) => l['level'] === 'debug' && l['event'] === 'message'), 'A logs messages at debug');
      else assert.ok(!lines.some((l) => l['level'] === 'debug'), 'B (level info) logs no debug lines');
      // No key: not the exported IKE/ESP keys, not the PSKs.
      const secrets = [PSK_ONE, PSK_TWO];
      for (const l of readFileSync(keys, 'utf8').trim().split('\n')) secrets.push(...(l.split(',').slice(2, 4)));
      for (const l of readFileSync(`${keys}.esp_sa`, 'utf8').trim().split('\n')) secrets.push((l.split(',')[5] ?? '').replace(/"|0x/g, ''));
      assert.ok(secrets.length > 20);
      for (const s of secrets) {
        assert.ok(s.length >= 32, s);
        assert.equal(text.includes(s), false, `log ${i === 0 ? 'A' : 'B'} contains key material ${s}`);
      }
    }
  });
});
