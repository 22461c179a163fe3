/**
 * The metrics' label values are bounded: what a peer chooses (notify types, exchange types)
 * becomes an IANA name we know or 'other', never one series per number. And the counters the
 * operator asked for (issue 12): refusals by notify, cookies, IKE SA rekeys, failures by notify
 * and cause, drops, half-open SAs, build info, process and event-loop metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/daemon/metrics.js';
import { RefusalLogBudget, eventLogLevel } from '../../src/daemon/visibility.js';
import { ExchangeType, NotifyType } from '../../src/wire/constants.js';
import type { EngineEvent, IkeSaInfo } from '../../src/engine/types.js';

const census = { states: { established: 1 }, childSas: 0 };
const peer = { address: '192.0.2.1', port: 500 };

/** The series of one metric: its label sets. */
function series(body: string, name: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('a peer sending 1000 different unknown notify and exchange types makes one "other" series each, not 1000', () => {
  const m = new Metrics(() => 0);
  for (let i = 0; i < 1000; i++) {
    // An initiator's IKE SA failed on the peer's error notify (an unknown one each time).
    m.onEvent({ type: 'ike-failed', sa: i, reason: `IKE_SA_INIT failed: UNKNOWN(${9000 + i})`, notify: 9000 + i });
    // Authenticated messages with exchange types nobody registered.
    m.onEvent({ type: 'message', sa: 1, direction: 'in', exchange: 100 + i, response: false, messageId: i, sizes: [80], payloads: [] });
    m.onEvent({ type: 'refused', sa: 1, peer, exchange: 100 + i, notify: NotifyType.INVALID_SYNTAX, reason: 'not allowed' });
  }
  m.onEvent({ type: 'ike-failed', sa: 2000, reason: 'AUTH', notify: NotifyType.AUTHENTICATION_FAILED });
  const body = m.render(census, undefined, { halfOpen: 0, drops: { parse: 0 } });
  assert.deepEqual(series(body, 'pqike_ike_sa_failures_total'), [
    'pqike_ike_sa_failures_total{notify="other",cause="notify"} 1000',
    'pqike_ike_sa_failures_total{notify="AUTHENTICATION_FAILED",cause="notify"} 1',
  ]);
  assert.deepEqual(series(body, 'pqike_messages_total'), ['pqike_messages_total{exchange="other",direction="in",kind="request"} 1000']);
  assert.deepEqual(series(body, 'pqike_refusals_total'), ['pqike_refusals_total{exchange="other",notify="INVALID_SYNTAX"} 1000']);
  // Every label value of every series comes from a fixed set: no digits from the peer.
  for (const line of body.split('\n').filter((l) => l.startsWith('pqike_'))) {
    // (Histogram buckets' `le` are ours.)
    const labels = (/\{(.*)\}/.exec(line)?.[1] ?? '').replace(/le="[^"]*"/, '');
    assert.doesNotMatch(labels, /UNKNOWN|="\d+"/, line);
  }
});

test('refusals by exchange and notify, cookies, IKE SA rekeys, failures by cause, drops, half-open SAs and build info', () => {
  const m = new Metrics(() => 0);
  const ike = { id: 2, connection: 'gw', keMethods: [31] } as unknown as IkeSaInfo;
  const events: EngineEvent[] = [
    { type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.NO_PROPOSAL_CHOSEN, reason: 'no acceptable proposal' },
    { type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.INVALID_KE_PAYLOAD, reason: 'another method' },
    { type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.COOKIE, reason: 'under load' },
    { type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.COOKIE, reason: 'under load' },
    { type: 'refused', sa: 1, peer, exchange: ExchangeType.IKE_AUTH, notify: NotifyType.AUTHENTICATION_FAILED, reason: 'bad AUTH' },
    { type: 'ike-rekeyed', old: 1, sa: 2, ike },
    { type: 'ike-failed', sa: 3, reason: 'no response', cause: 'timeout' },
    { type: 'ike-failed', sa: 4, reason: 'half-open SA timed out', cause: 'half-open-timeout', halfOpen: true },
    { type: 'ike-failed', sa: 5, reason: 'something else' },
  ];
  for (const e of events) m.onEvent(e);
  const body = m.render(census, undefined, { halfOpen: 7, drops: { parse: 3, icv: 2 } });
  for (const line of [
    'pqike_refusals_total{exchange="IKE_SA_INIT",notify="NO_PROPOSAL_CHOSEN"} 1',
    'pqike_refusals_total{exchange="IKE_SA_INIT",notify="INVALID_KE_PAYLOAD"} 1',
    'pqike_refusals_total{exchange="IKE_SA_INIT",notify="COOKIE"} 2',
    'pqike_refusals_total{exchange="IKE_AUTH",notify="AUTHENTICATION_FAILED"} 1',
    'pqike_cookies_sent_total 2',
    'pqike_ike_sa_rekeys_total 1',
    'pqike_ike_sa_failures_total{notify="none",cause="timeout"} 1',
    'pqike_ike_sa_failures_total{notify="none",cause="half-open-timeout"} 1',
    'pqike_ike_sa_failures_total{notify="none",cause="other"} 1',
    'pqike_half_open_ike_sas 7',
    'pqike_dropped_messages_total{reason="parse"} 3',
    'pqike_dropped_messages_total{reason="icv"} 2',
    '# TYPE pqike_build_info gauge',
    '# TYPE process_cpu_seconds_total counter',
    '# TYPE process_resident_memory_bytes gauge',
    '# TYPE nodejs_heap_size_used_bytes gauge',
  ]) {
    assert.ok(body.split('\n').includes(line), `metrics lack '${line}':\n${body}`);
  }
  assert.match(body, new RegExp(`^pqike_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node="${process.version.replace(/\./g, '\\.')}",mlkem="(node|noble)"\\} 1$`, 'm'));
  const s = m.snapshot(census, undefined, { halfOpen: 7, drops: { parse: 3 } });
  assert.equal(s['ikeSaRekeysTotal'], 1);
  assert.equal(s['cookiesSentTotal'], 2);
  assert.equal(s['halfOpenIkeSas'], 7);
  assert.deepEqual(s['refusalsByNotify'], { NO_PROPOSAL_CHOSEN: 1, INVALID_KE_PAYLOAD: 1, COOKIE: 2, AUTHENTICATION_FAILED: 1 });
  assert.deepEqual(s['failuresByNotify'], { none: 3 });
});

test('the event-loop metrics are there once the endpoint serves, and a scrape is cheap', async () => {
  const m = new Metrics();
  const server = await m.serve('127.0.0.1', 0, () => census);
  try {
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => setTimeout(r, 50));
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds', 'process_open_fds', 'nodejs_version_info']) {
      assert.match(body, new RegExp(`^# TYPE ${name} gauge$`, 'm'), name);
    }
    assert.match(body, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    // A figure for the report, not a timed assertion: the cost of one scrape's rendering.
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) m.render(census, undefined, { halfOpen: 0, drops: {} });
    process.stderr.write(`metrics: one render takes ${(Number(process.hrtime.bigint() - t0) / 200 / 1000).toFixed(0)} µs\n`);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('retransmissions: debug for the first, info from the second on; failures of half-open SAs at debug, others warn', () => {
  const rt = (attempt: number): EngineEvent => ({ type: 'retransmit', sa: 1, exchange: ExchangeType.IKE_SA_INIT, messageId: 0, attempt });
  assert.deepEqual([1, 2, 3, 5].map((a) => eventLogLevel(rt(a))), ['debug', 'info', 'info', 'info']);
  assert.equal(eventLogLevel({ type: 'ike-failed', sa: 1, reason: 'x', halfOpen: true }), 'debug');
  assert.equal(eventLogLevel({ type: 'ike-failed', sa: 1, reason: 'x' }), 'warn');
  assert.equal(eventLogLevel({ type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.COOKIE, reason: 'x' }), 'info');
});

test('a flood of refusals writes a few lines per notify type and says how many it left out', () => {
  const budget = new RefusalLogBudget(10, 10_000);
  const cookie: Extract<EngineEvent, { type: 'refused' }> = { type: 'refused', peer, exchange: ExchangeType.IKE_SA_INIT, notify: NotifyType.COOKIE, reason: 'x' };
  const npc = { ...cookie, notify: NotifyType.NO_PROPOSAL_CHOSEN };
  let written = 0;
  for (let i = 0; i < 1000; i++) if (budget.admit(cookie, i).write) written++;
  assert.equal(written, 10);
  // Another notify type has its own budget.
  assert.deepEqual(budget.admit(npc, 1000), { write: true, skipped: 0 });
  // The next window: the first line says how many were left out.
  assert.deepEqual(budget.admit(cookie, 10_000), { write: true, skipped: 990 });
  assert.deepEqual(budget.admit(cookie, 10_001), { write: true, skipped: 0 });
  // Unknown notify numbers share one budget (the table stays bounded).
  const other = new RefusalLogBudget(1, 10_000);
  let unknown = 0;
  for (let i = 0; i < 100; i++) if (other.admit({ ...cookie, notify: 9000 + i }, 0).write) unknown++;
  assert.equal(unknown, 1);
});
