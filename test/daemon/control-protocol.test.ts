/**
 * The control protocol (docs/control-protocol.md) and its code are one: the document's command
 * table is parsed and compared with the commands the server accepts (CONTROL_COMMANDS, with
 * their args and opts), the ones the daemon's handle() carries out, and the ones the pqike
 * client sends; then the protocol itself over a real Unix socket: versions, error codes, and
 * the streaming `log` request with its filters, its bound on subscribers and its drops for a
 * client that does not read.
 */
import { after, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { CONTROL_COMMANDS, CONTROL_PROTOCOL_VERSION, request, serveControl, streamLog } from '../../src/daemon/control.js';
import type { ControlRequest, ControlResponse } from '../../src/daemon/control.js';
import { HubLogger, LogHub, MAX_LOG_SUBSCRIBERS } from '../../src/daemon/log-stream.js';
import type { LogRecord } from '../../src/daemon/log-stream.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { CONTROL_CLIENT_COMMANDS } from '../../src/cli/control-cmd.js';
import { VERB_NAMES } from '../../src/cli/verbs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC = join(ROOT, 'docs/control-protocol.md');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DocCommand {
  readonly cmd: string;
  readonly args: string;
  readonly opts: string[];
}

/** The rows of the table under "## Commands": cells split on unescaped `|`. */
function docCommands(): DocCommand[] {
  const text = readFileSync(DOC, 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Commands\n'));
  assert.ok(section, 'docs/control-protocol.md has a "## Commands" section');
  const rows: DocCommand[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.slice(1, line.lastIndexOf('|')).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
    const m = /^`([a-z-]+)`$/.exec(cells[0] ?? '');
    if (!m?.[1]) continue;
    const code = (c: string): string[] => [...c.matchAll(/`([^`]*)`/g)].map((x) => x[1] ?? '');
    rows.push({ cmd: m[1], args: code(cells[1] ?? '').join(' '), opts: code(cells[2] ?? '') });
  }
  return rows;
}

test('docs/control-protocol.md lists exactly the commands the server accepts, with their args and opts', () => {
  const doc = docCommands();
  assert.ok(doc.length >= 8, `commands found in the document: ${doc.map((d) => d.cmd).join(', ')}`);
  assert.deepEqual(doc.map((d) => d.cmd).sort(), Object.keys(CONTROL_COMMANDS).sort());
  for (const d of doc) {
    const spec = CONTROL_COMMANDS[d.cmd];
    assert.ok(spec);
    assert.equal(d.args, spec.args, `args of ${d.cmd}`);
    assert.deepEqual(d.opts.sort(), [...spec.opts].sort(), `opts of ${d.cmd}`);
  }
  const text = readFileSync(DOC, 'utf8');
  assert.match(text, new RegExp(`^# The pqike control protocol, version ${CONTROL_PROTOCOL_VERSION}$`, 'm'));
  for (const code of ['malformed', 'too-large', 'busy', 'unsupported-version', 'unknown-command', 'bad-request', 'too-many-subscribers', 'failed']) {
    assert.match(text, new RegExp(`^\\| \`${code}\` +\\|`, 'm'), `error code ${code} documented`);
  }
});

test('the pqike client sends every documented command, each is a verb, and no other', () => {
  const client = [...CONTROL_CLIENT_COMMANDS, 'log'].sort();
  assert.deepEqual(client, docCommands().map((d) => d.cmd).sort());
  for (const c of client) assert.ok(VERB_NAMES.includes(c), `pqike ${c} is a verb`);
});

describe('the daemon carries out every documented command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-proto-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secrets.yaml'), 'psk:\n  one: "control-protocol-test-psk-0123456789"\n', { mode: 0o600 });
  writeFileSync(
    join(dir, 'pqike.yaml'),
    `secrets: secrets.yaml
port: 40500
control:
  socket: ${join(dir, 'run/pqike.sock')}
data_plane: fake
connections:
  one:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    local_id: moon.example.org
    remote_id: sun.example.org
    psk: one
    children:
      net:
        local_ts: [10.1.0.0/16]
        remote_ts: [10.2.0.0/16]
`,
  );
  const log = new PassThrough();
  log.resume();
  const daemon = new Daemon({ configPath: join(dir, 'pqike.yaml'), logOut: log });

  it('handle() knows each command of the table (stream commands are the socket layer\'s)', async () => {
    const unknown = (r: ControlResponse): boolean => !r.ok && /unknown command/.test(r.error);
    for (const [cmd, spec] of Object.entries(CONTROL_COMMANDS)) {
      if (spec.stream === true) continue;
      const r = await daemon.handle({ cmd, args: [], opts: {} });
      assert.equal(unknown(r), false, `${cmd}: ${JSON.stringify(r)}`);
    }
    assert.equal(unknown(await daemon.handle({ cmd: 'no-such-command', args: [], opts: {} })), true, 'handle() does refuse what it does not know');
    const conns = await daemon.handle({ cmd: 'list-conns', args: [], opts: {} });
    assert.ok(conns.ok && Array.isArray(conns.data) && conns.data.length === 1);
    const none = await daemon.handle({ cmd: 'list-sas', args: ['one'], opts: {} });
    assert.deepEqual(none, { ok: true, data: [] });
  });

  it('its logger feeds the log hub, at the levels the subscribers ask for', () => {
    const got: LogRecord[] = [];
    assert.equal(daemon.logHub.wants('debug'), false);
    const sub = daemon.logHub.subscribe({ level: 'debug', conn: 'one' }, { backlog: () => 0, write: (l) => void got.push(JSON.parse(l) as LogRecord) });
    assert.ok(sub);
    assert.equal(daemon.logger.enabled('debug'), true, 'a debug subscriber makes debug records');
    daemon.logger.debug('for one', { conn: 'one', sa: 7 }, { event: 'x' });
    daemon.logger.info('for another', { conn: 'two' });
    daemon.logHub.unsubscribe(sub);
    assert.equal(daemon.logger.enabled('debug'), false);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.msg, 'for one');
    assert.equal(got[0]?.['sa'], 7);
    assert.equal(got[0]?.['event'], 'x');
  });
});

/** Send raw text and return the daemon's one response line (parsed). */
function raw(path: string, text: string): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const s = createConnection(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(text));
    s.on('data', (c: string) => (buf += c));
    s.on('end', () => {
      try {
        resolvePromise(JSON.parse(buf) as Record<string, unknown>);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    s.on('error', reject);
  });
}

describe('the protocol over a Unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-proto-sock-'));
  const path = join(dir, 'run/pqike.sock');
  const hub = new LogHub(3, 16 * 1024);
  const sink = new PassThrough();
  sink.resume();
  const logger = new HubLogger(hub, sink, 'info', 'json');
  const seen: ControlRequest[] = [];
  let server: Server;
  const ready = serveControl(
    path,
    async (req) => {
      seen.push(req);
      if (req.cmd === 'reload') throw new Error('boom');
      if (req.cmd === 'up') return { ok: false, error: `no connection '${req.args[0] ?? ''}'` };
      return { ok: true, data: { cmd: req.cmd, args: req.args } };
    },
    { logHub: hub },
  ).then((s) => (server = s));
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers with "v": 1, to requests with and without a version', async () => {
    await ready;
    assert.deepEqual(await raw(path, '{"cmd":"stats"}\n'), { v: 1, ok: true, data: { cmd: 'stats', args: [] } });
    assert.deepEqual(await raw(path, '{"v":1,"cmd":"list-sas","args":["one",7]}\n'), { v: 1, ok: true, data: { cmd: 'list-sas', args: ['one'] } });
    // The client sends the version.
    const r = await request(path, { cmd: 'list-conns', args: [], opts: {} });
    assert.deepEqual(r, { v: 1, ok: true, data: { cmd: 'list-conns', args: [] } });
    assert.equal(seen.at(-1)?.v, 1);
  });

  it('refuses other versions, malformed and unknown requests with a code, and says why', async () => {
    await ready;
    const cases: [string, string, RegExp][] = [
      ['{"v":2,"cmd":"stats"}\n', 'unsupported-version', /unsupported control protocol version 2: this daemon speaks version 1/],
      ['{"v":"1","cmd":"stats"}\n', 'unsupported-version', /version "1"/],
      ['not json\n', 'malformed', /not JSON/],
      ['[1,2]\n', 'malformed', /not a JSON object/],
      ['{"args":[]}\n', 'malformed', /no "cmd"/],
      ['{"cmd":"lst-sas"}\n', 'unknown-command', /unknown command 'lst-sas' \(commands: up, down, rekey, list-sas, list-conns, reload, stats, log\)/],
      ['{"cmd":"toString"}\n', 'unknown-command', /unknown command 'toString'/],
      ['{"cmd":"up","args":["x"]}\n', 'failed', /no connection 'x'/],
      ['{"cmd":"reload"}\n', 'failed', /^boom$/],
      ['{"cmd":"log","opts":{"level":"loud"}}\n', 'bad-request', /level must be one of debug, info, warn, error/],
      ['{"cmd":"log","opts":{"sa":"x"}}\n', 'bad-request', /sa must be an IKE SA number/],
      [`${'x'.repeat(70 * 1024)}\n`, 'too-large', /request too large/],
    ];
    for (const [text, code, message] of cases) {
      const r = await raw(path, text);
      assert.equal(r['v'], 1, text.slice(0, 40));
      assert.equal(r['ok'], false, text.slice(0, 40));
      assert.equal(r['code'], code, text.slice(0, 40));
      assert.match(String(r['error']), message, text.slice(0, 40));
    }
  });

  it('the client refuses an answer of another version and takes one without a version', async () => {
    const p2 = join(dir, 'future.sock');
    const answers = ['{"v":2,"ok":true,"data":1}\n', '{"ok":true,"data":1}\n'];
    const fake = createServer((s) => {
      s.resume();
      s.end(answers.shift() ?? '');
    });
    await new Promise<void>((r) => fake.listen(p2, () => r()));
    try {
      await assert.rejects(request(p2, { cmd: 'stats', args: [], opts: {} }), /the daemon speaks control protocol version 2, this pqike 1/);
      assert.deepEqual(await request(p2, { cmd: 'stats', args: [], opts: {} }), { ok: true, data: 1 });
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });

  it('log: a subscriber gets the records of its connection and level, as JSON lines, until it closes', async () => {
    await ready;
    const got: LogRecord[] = [];
    const s = streamLog(path, { conn: 'one', level: 'info' }, (r) => got.push(r));
    await s.ready;
    assert.equal(hub.size, 1);
    logger.debug('too low', { conn: 'one' });
    logger.info('mine', { conn: 'one', sa: 3 }, { event: 'ike-up' });
    logger.warn('not mine', { conn: 'two' });
    logger.error('no connection');
    logger.warn('mine too', { conn: 'one' });
    await waitUntil(() => got.length >= 2);
    assert.deepEqual(got.map((r) => [r.level, r.msg, r['conn'], r['sa'] ?? null]), [['info', 'mine', 'one', 3], ['warn', 'mine too', 'one', null]]);
    assert.equal(got[0]?.['event'], 'ike-up');
    assert.match(got[0]?.ts ?? '', /^\d{4}-\d\d-\d\dT/);
    s.close();
    await waitUntil(() => hub.size === 0);
    assert.equal(await s.ended, false, 'ended by the client');
  });

  it(`log: at most ${3} (MAX_LOG_SUBSCRIBERS ${MAX_LOG_SUBSCRIBERS} in the daemon) subscribers; one more is told so`, async () => {
    await ready;
    const streams = [0, 1, 2].map(() => streamLog(path, {}, () => undefined));
    await Promise.all(streams.map((x) => x.ready));
    const r = await raw(path, '{"v":1,"cmd":"log"}\n');
    assert.equal(r['code'], 'too-many-subscribers');
    for (const x of streams) x.close();
    await waitUntil(() => hub.size === 0);
    const again = streamLog(path, {}, () => undefined);
    await again.ready;
    again.close();
    await waitUntil(() => hub.size === 0);
  });

  it('log: a subscriber that does not read loses records (counted, then told), the daemon never waits', async () => {
    await ready;
    // A raw client that subscribes and then stops reading.
    const s: Socket = createConnection(path);
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write('{"v":1,"cmd":"log","opts":{"level":"debug"}}\n');
    await waitUntil(() => hub.size === 1);
    s.pause();
    const sub = [...(hub as unknown as { subs: Set<{ dropped: number; delivered: number }> }).subs][0];
    assert.ok(sub);
    const started = performance.now();
    const line = 'x'.repeat(500);
    for (let i = 0; i < 20_000; i++) logger.info(`${i} ${line}`);
    const ms = performance.now() - started;
    assert.ok(sub.dropped > 0, 'records were dropped');
    assert.ok(sub.delivered < 20_000);
    assert.equal(sub.dropped + sub.delivered, 20_000);
    assert.ok(ms < 5000, `publishing took ${ms} ms`);
    // It reads again: everything it was given, then the count of what it missed.
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (buf += c));
    s.resume();
    await waitUntil(() => buf.split('\n').length - 2 >= sub.delivered);
    logger.info('after the gap');
    await waitUntil(() => buf.includes('after the gap'));
    const lines = buf.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const notice = lines.find((l) => typeof l['dropped'] === 'number');
    assert.ok(notice, 'told how many were dropped');
    assert.equal(notice['dropped'], sub.dropped);
    assert.match(String(notice['msg']), /log record\(s\) dropped: this client did not read fast enough/);
    assert.equal(lines.at(-1)?.['msg'], 'after the gap');
    s.destroy();
    await waitUntil(() => hub.size === 0);
  });

  it('closing the server ends the log streams (the daemon stops without waiting for them)', async () => {
    await ready;
    const p3 = join(dir, 'closing/pqike.sock');
    const h = new LogHub();
    const srv = await serveControl(p3, async () => ({ ok: true, data: null }), { logHub: h });
    const s = streamLog(p3, {}, () => undefined);
    await s.ready;
    const started = Date.now();
    await new Promise<void>((r) => srv.close(() => r()));
    assert.ok(Date.now() - started < 3000);
    assert.equal(await s.ended, true, 'ended by the daemon');
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
