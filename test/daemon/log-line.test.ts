/**
 * The daemon's JSON log line (logger.ts jsonLine, event-format.ts eventLogLine) is made by
 * joining JSON texts and by one loop over an event's fields; these tests hold it to the plain
 * object form it replaced: the same object, key for key, for any fields, and the same text
 * and fields for every event an engine reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLine, Logger } from '../../src/daemon/logger.js';
import type { LogContext, LogLevel } from '../../src/daemon/logger.js';
import { eventLogLine, eventToJson, formatEvent } from '../../src/daemon/event-format.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { BenchPair, pump } from '../../bench/inprocess.js';

/** What a line was before: one object, the fields spread last. */
function objectForm(ts: string, level: LogLevel, ctx: LogContext, msg: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ ts, level, ...(ctx.conn === undefined ? {} : { conn: ctx.conn }), ...(ctx.sa === undefined ? {} : { sa: ctx.sa }), msg, ...fields });
}

/** A small seeded generator (xorshift32), so a failure names its case. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

test('jsonLine: the same text as the object form, for fields with and without the line\'s own keys', () => {
  const keys = ['ts', 'level', 'conn', 'sa', 'msg', 'event', 'child', 'x', 'notLogged', '"q"', 'é'];
  const values: unknown[] = [1, 'a"b\\c\n', undefined, null, [1, 'x'], { a: { b: 2 } }, true, 'ünï'];
  const next = rng(13);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  for (let i = 0; i < 2000; i++) {
    const fields: Record<string, unknown> = {};
    const n = Math.floor(next() * 5);
    for (let j = 0; j < n; j++) fields[pick(keys)] = pick(values);
    const ctx: LogContext = { ...(next() < 0.5 ? { conn: pick(['bench', 'a "b"', '']) } : {}), ...(next() < 0.5 ? { sa: Math.floor(next() * 1e6) } : {}) };
    const msg = pick(['IKE SA #1 established', 'quote " and \\ and \u2028', '']);
    const ts = new Date(1_700_000_000_000 + i).toISOString();
    assert.equal(jsonLine(ts, 'info', ctx, msg, fields), objectForm(ts, 'info', ctx, msg, fields), `case ${i}: ${JSON.stringify({ ctx, fields })}`);
  }
});

test('Logger: one timestamp text per millisecond of its clock, a new one when the clock moves', () => {
  const lines: string[] = [];
  let now = 1_700_000_000_000;
  const logger = new Logger({ write: (t: string) => lines.push(t) }, 'info', 'json', () => new Date(now));
  logger.info('a');
  logger.info('b');
  now += 1;
  logger.info('c');
  const ts = lines.map((l) => (JSON.parse(l) as { ts: string }).ts);
  assert.deepEqual(ts, ['2023-11-14T22:13:20.000Z', '2023-11-14T22:13:20.000Z', '2023-11-14T22:13:20.001Z']);
});

/** Every event of a hybrid handshake on both sides, and hand-made ones of every other kind. */
function events(): EngineEvent[] {
  const pair = new BenchPair('aes128-sha256-x25519-mlkem768', Buffer.from('pqike-log-line-test-psk-0123456789'));
  pair.i.initiate('bench', 0, { local: { address: '192.0.2.1', port: 500 }, remote: { address: '192.0.2.2', port: 500 } });
  const got = pump(pair);
  const all: EngineEvent[] = [...got.r, ...got.i];
  const up = all.find((e): e is Extract<EngineEvent, { type: 'child-up' }> => e.type === 'child-up');
  const ike = all.find((e): e is Extract<EngineEvent, { type: 'ike-up' }> => e.type === 'ike-up');
  assert.ok(up && ike, 'the handshake brought a Child SA up');
  return [
    ...all,
    { ...up, child: { ...up.child, rekeyOf: 0x1234, integ: 12, ppk: 'ppk-1', keMethods: [31, 36] } },
    { type: 'child-down', sa: up.sa, child: up.child, reason: 'deleted by the peer' },
    { type: 'ike-rekeyed', sa: 9, old: ike.sa, ike: ike.ike },
    { type: 'ike-keys', sa: 9, stage: 'rekey', local: ike.ike.local, remote: ike.ike.remote, spiI: ike.ike.spiI, spiR: ike.ike.spiR, encr: { id: 20, keyBits: 256 }, integ: 0, skEi: Buffer.alloc(32, 1), skEr: Buffer.alloc(32, 2), skAi: Buffer.alloc(0), skAr: Buffer.alloc(0) },
    { type: 'ike-failed', sa: 9, reason: 'refused', notify: 24, restart: { attempt: 2, inMs: 1500 } },
    { type: 'child-failed', sa: 9, child: 'net', rekey: true, reason: 'refused', notify: 14 },
    { type: 'refused', peer: { address: '192.0.2.9', port: 500 }, exchange: 34, notify: 14, reason: 'no proposal', received: 'IKE:A', configured: 'IKE:B' },
    { type: 'retransmit', sa: 9, attempt: 1, exchange: 35, messageId: 1 },
    { type: 'trap', connection: 'bench', child: 'net', reason: 'dpd' },
    { type: 'log', level: 'warn', sa: 9, message: 'a "quoted" word' },
    { type: 'ike-down', sa: 9, reason: 'deleted' },
  ];
}

test('eventLogLine: formatEvent\'s text and eventToJson\'s fields (event for type, no sa), for every kind of event', () => {
  const seen = new Set<string>();
  for (const e of events()) {
    seen.add(e.type);
    const line = eventLogLine(e);
    assert.equal(line.text, formatEvent(e), e.type);
    if (e.type === 'log') {
      assert.deepEqual(line.fields, {});
      continue;
    }
    const { type, sa: _sa, ...rest } = eventToJson(e);
    assert.equal(JSON.stringify(line.fields), JSON.stringify({ event: type, ...rest }), e.type);
  }
  for (const t of ['message', 'ike-up', 'child-up', 'child-down', 'ike-keys', 'refused', 'log']) assert.ok(seen.has(t), `covered: ${t}`);
});

test('eventLogLine and eventToJson never carry key material', () => {
  for (const e of events()) {
    const text = JSON.stringify(eventLogLine(e).fields) + JSON.stringify(eventToJson(e));
    assert.doesNotMatch(text, /"sk[EA][ir]"|"keys"/, e.type);
  }
});
