/**
 * The control verbs against two real daemons over 127.0.0.1 UDP (data_plane: fake, no root):
 * `pqike log` streaming one connection or all (debug records while the daemon's file logs at
 * info; the stream ends when the daemon stops), `up` with progress (the exchanges as they
 * happen) and without (not a terminal), `list-sas <conn>`, "did you mean" for connection
 * names, `rekey` saying what replaced what (IKE SA number, Child SA by name or SPI), `stats` as
 * text, `down` with progress.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../../src/daemon/control.js';
import type { SaView } from '../../src/daemon/listing.js';
import { CLI, cli as cliWithin } from './harness.js';
import type { CliResult } from './harness.js';

const cli = (args: readonly string[]): Promise<CliResult> => cliWithin(args, 40_000);

const PSK = 'cli-control-test-psk-0123456789abcdef';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A command that runs until stopped (`pqike log`, a daemon): its output so far and its exit. */
class Running {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exit: Promise<number | null>;
  constructor(args: readonly string[], logFile?: string) {
    const fd = logFile === undefined ? undefined : openSync(logFile, 'a');
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', fd ?? 'pipe'] });
    if (fd !== undefined) closeSync(fd);
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exit = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function config(me: 'moon' | 'sun', port: number, remotePort: number, socket: string): string {
  const [lts, rts] = me === 'moon' ? ['10.1', '10.2'] : ['10.2', '10.1'];
  const peer = me === 'moon' ? 'sun' : 'moon';
  const conn = (name: string, addr: string): string => `  ${name}:
    local_addrs: ${addr}
    remote_addrs: ${addr}
    remote_port: ${remotePort}
    local_id: ${me}-${name}.example.org
    remote_id: ${peer}-${name}.example.org
    psk: k
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
    children:
      net:
        local_ts: [${lts}.${name === 'one' ? 1 : 2}.0/24]
        remote_ts: [${rts}.${name === 'one' ? 1 : 2}.0/24]
        esp_proposals: [aes256gcm16]
`;
  return `secrets: secrets.yaml
port: ${port}
log:
  level: info
  format: json
control:
  socket: ${socket}
data_plane: fake
connections:
${conn('one', '127.0.0.1')}${conn('two', '127.0.0.2')}`;
}

describe('pqike control verbs against two daemons', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-cli-'));
  const base = 21_000 + 2 * Math.floor(Math.random() * 10_000);
  const sockA = join(dir, 'a/pqike.sock');
  const sockB = join(dir, 'b/pqike.sock');
  let a: Running;
  let b: Running;
  let logAll: Running;
  let logOne: Running;
  const ready = async (sock: string, d: Running): Promise<void> => {
    await until(`${sock} answers`, async () => {
      if (d.child.exitCode !== null) throw new Error(`daemon exited: ${readFileSync(join(dir, sock === sockA ? 'a.log' : 'b.log'), 'utf8')}`);
      try {
        return (await request(sock, { cmd: 'list-conns', args: [], opts: {} }, 2000)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  };
  const sas = async (): Promise<SaView[]> => {
    const r = await request(sockA, { cmd: 'list-sas', args: [], opts: {} });
    assert.ok(r.ok);
    return r.data as SaView[];
  };

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'a.yaml'), config('moon', base, base + 1, sockA));
    writeFileSync(join(dir, 'b.yaml'), config('sun', base + 1, base, sockB));
    b = new Running(['daemon', '-c', join(dir, 'b.yaml')], join(dir, 'b.log'));
    a = new Running(['daemon', '-c', join(dir, 'a.yaml')], join(dir, 'a.log'));
    await ready(sockB, b);
    await ready(sockA, a);
  });

  after(async () => {
    for (const p of [logAll, logOne, a, b]) {
      if (p && p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
        await p.exit;
        clearTimeout(t);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('pqike log streams the log of all connections (--json, --level debug) and of one (text)', async () => {
    logAll = new Running(['log', '--json', '--level', 'debug', '--socket', sockA]);
    logOne = new Running(['log', 'one', '--socket', sockA]);
    // Subscribed: the daemon counts them (a record of a reload reaches the all-connections one).
    await until('both log streams subscribed', async () => {
      await request(sockA, { cmd: 'reload', args: [], opts: {} });
      return logAll.stdout.includes('reloaded:') ? true : undefined;
    });
    // The other one started at the same time; give it a moment to subscribe as well.
    await sleep(500);
    assert.equal(logOne.child.exitCode, null, logOne.stderr);
    assert.equal(logOne.stdout, '', 'a connection\'s stream leaves out the daemon-wide records');
  });

  it('pqike up --progress shows the exchanges as they happen, then the IKE SA', async () => {
    const up = await cli(['up', 'one', '--progress', '--socket', sockA]);
    assert.equal(up.code, 0, up.stderr);
    const lines = up.stdout.split('\n');
    assert.match(lines[0] ?? '', /^ +\d+\.\ds {2}bringing up 'one' \.\.\.$/);
    assert.ok(lines.some((l) => /^ +\d+\.\ds {2}#\d+ initiating IKE SA to 127\.0\.0\.1$/.test(l)), up.stdout);
    for (const x of [/#\d+ → IKE_SA_INIT +request +#0/, /#\d+ ← IKE_SA_INIT +response #0/, /#\d+ → IKE_INTERMEDIATE/, /#\d+ ← IKE_AUTH +response #2/, /IKE SA #\d+ established \(initiator\)/]) {
      assert.ok(lines.some((l) => x.test(l)), `${String(x)} in\n${up.stdout}`);
    }
    assert.match(up.stdout, /^connection 'one' established \(IKE SA #\d+\)\none #\d+: ESTABLISHED/m);
  });

  it('pqike up without a terminal: the result only', async () => {
    const up = await cli(['up', 'two', '--socket', sockA]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^connection 'two' established \(IKE SA #\d+\)\ntwo #\d+: ESTABLISHED/);
  });

  it('the log streams saw it: every message at debug for all; info lines of one only for `log one`', async () => {
    await until('the debug stream has the IKE_AUTH of two', () => (/"conn":"two".*IKE_AUTH/.test(logAll.stdout) ? true : undefined));
    const records = logAll.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.some((r) => r['level'] === 'debug' && r['event'] === 'message' && r['conn'] === 'one'));
    assert.ok(records.some((r) => r['event'] === 'ike-up' && r['conn'] === 'two'));
    await until('log one has its ike-up', () => (/IKE SA #\d+ established/.test(logOne.stdout) ? true : undefined));
    for (const l of logOne.stdout.trim().split('\n')) assert.match(l, /^\d{4}-\d\d-\d\dT\S+ (INFO |WARN |ERROR) <one\|\d*> /, l);
    assert.doesNotMatch(logOne.stdout, /<two\|/);
    // The daemon's own file stays at its level (info): the debug subscriber does not leak into it.
    const file = readFileSync(join(dir, 'a.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string });
    assert.ok(file.length > 0 && file.every((r) => r.level !== 'debug'));
  });

  it('pqike list-sas <conn> lists that connection only; an unknown one is an error with a suggestion', async () => {
    const one = await cli(['list-sas', 'one', '--socket', sockA]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^one #\d+: ESTABLISHED/);
    assert.doesNotMatch(one.stdout, /^two #/m);
    const two = JSON.parse((await cli(['list-sas', 'two', '--json', '--socket', sockA])).stdout) as SaView[];
    assert.deepEqual(two.map((s) => s.connection), ['two']);
    const typo = await cli(['list-sas', 'onee', '--socket', sockA]);
    assert.equal(typo.code, 1);
    assert.equal(typo.stderr, "pqike list-sas: no connection 'onee' (did you mean 'one'?) (configured: one, two)\n");
    const upTypo = await cli(['up', 'tow', '--socket', sockA]);
    assert.equal(upTypo.code, 1);
    assert.match(upTypo.stderr, /^pqike up: no connection 'tow' \(did you mean 'two'\?\)/);
    const logTypo = await cli(['log', 'tw0', '--socket', sockA]);
    assert.equal(logTypo.code, 1);
    assert.match(logTypo.stderr, /^pqike log: no connection 'tw0' \(did you mean 'two'\?\)/);
    const conns = await cli(['list-conns', 'two', '--socket', sockA]);
    assert.match(conns.stdout, /^two: 127\.0\.0\.2/);
    assert.doesNotMatch(conns.stdout, /^one:/m);
  });

  it('pqike rekey <conn> says the new IKE SA number', async () => {
    const before = (await sas()).find((s) => s.connection === 'one');
    assert.ok(before);
    const r = await cli(['rekey', 'one', '--socket', sockA]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^IKE SA #(\d+) rekeyed into IKE SA #(\d+)$/.exec(r.stdout.trim());
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), before.id);
    const now = (await sas()).filter((s) => s.connection === 'one' && s.state === 'established');
    assert.deepEqual(now.map((s) => s.id), [Number(m[2])]);
  });

  it('pqike rekey --child <name> rekeys that Child SA and says the new SPI; --child SPI still works', async () => {
    const sa = (await sas()).find((s) => s.connection === 'one' && s.state === 'established');
    const old = sa?.children[0];
    assert.ok(sa && old);
    const r = await cli(['rekey', String(sa.id), '--child', 'net', '--socket', sockA]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^Child SA 'net' of IKE SA #(\d+) rekeyed: ([0-9a-f]{8})_i replaces ([0-9a-f]{8})_i$/.exec(r.stdout.trim());
    assert.ok(m, r.stdout);
    assert.equal(m[3], old.spiIn);
    const listed = await until('the new Child SA listed', async () => (await sas()).find((s) => s.id === sa.id)?.children.find((c) => c.spiIn === m[2]));
    assert.equal(listed.rekeyOf, old.spiIn);
    const j = await cli(['rekey', 'one', '--child', `${listed.spiIn}_i`, '--json', '--socket', sockA]);
    assert.equal(j.code, 0, j.stderr);
    const d = JSON.parse(j.stdout) as { sa: number; child: string; spiIn: string; old: string };
    assert.equal(d.old, listed.spiIn);
    assert.equal(d.child, 'net');
    assert.notEqual(d.spiIn, listed.spiIn);
    const bad = await cli(['rekey', 'one', '--child', 'lan', '--socket', sockA]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pqike rekey: IKE SA #\d+ has no Child SA 'lan' \(its Child SAs: net; or give the inbound SPI\)/);
  });

  it('pqike stats is text by default, JSON with --json', async () => {
    const t = await cli(['stats', '--socket', sockA]);
    assert.equal(t.code, 0, t.stderr);
    assert.doesNotMatch(t.stdout, /^\{/);
    assert.match(t.stdout, /^IKE SAs by state: .*established 2/m);
    assert.match(t.stdout, /^Child SAs: 2$/m);
    const j = JSON.parse((await cli(['stats', '--json', '--socket', sockA])).stdout) as { childSas: number };
    assert.equal(j.childSas, 2);
  });

  it('pqike down --progress shows the delete; pqike log ends (exit 1) when the daemon stops, and Ctrl-C ends it with 0', async () => {
    const down = await cli(['down', 'two', '--progress', '--socket', sockA]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /#\d+ → INFORMATIONAL +request/);
    assert.match(down.stdout, /^deleted IKE SA\(s\) #\d+$/m);
    logOne.child.kill('SIGINT');
    assert.equal(await logOne.exit, 0);
    a.child.kill('SIGTERM');
    assert.equal(await a.exit, 0);
    assert.equal(await logAll.exit, 1);
    assert.match(logAll.stderr, /the daemon closed the log stream/);
  });
});
