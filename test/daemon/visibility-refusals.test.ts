/**
 * A responder daemon (in this process, over real UDP on 127.0.0.1) says what it refuses: a
 * refused proposal, a refused key exchange method and a COOKIE challenge each make exactly one
 * log line, saying what was received and what is configured as strongSwan does, and one
 * increment of pqike_refusals_total (and pqike_cookies_sent_total); a datagram it cannot
 * parse is counted, not logged. One IKE_SA_INIT request at a time is sent from a socket of
 * the test (built by an engine), so that no retransmission adds a second refusal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { IkeEngine } from '../../src/engine/engine.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { NotifyType } from '../../src/wire/constants.js';
import { JsonLines, metricValue, waitFor } from './harness.js';

const PSK = 'visibility-refusals-psk-0123456789';

/** A responder daemon on `port` with metrics on `metrics`, logging JSON at info into `log`. */
function responderConfig(dir: string, port: number, metrics: number, limits: string): string {
  return `secrets: secrets.yaml
port: ${port}
log:
  level: info
  format: json
control:
  socket: ${join(dir, `${port}.sock`)}
metrics:
  listen: 127.0.0.1:${metrics}
${limits}data_plane: fake
connections:
  gw:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    local_id: sun.example.org
    remote_id: moon.example.org
    psk: k
    proposals: [aes256gcm16-prfsha384-x25519]
    children:
      net:
        local_ts: [10.2.0.0/16]
        remote_ts: [10.1.0.0/16]
`;
}

/** An initiator's IKE_SA_INIT request for `proposal`, sent once from `sock` to the daemon; resolves with the answer. */
async function askOnce(sock: dgram.Socket, port: number, proposal: string): Promise<Uint8Array> {
  const e = new IkeEngine({});
  e.addConnection({
    name: 'probe',
    localAddress: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    localId: parseIdentity('moon.example.org'),
    psk: new TextEncoder().encode(PSK),
    ikeProposals: parseProposals([proposal], 'ike'),
    children: [],
  });
  e.initiate('probe', 0, { local: { address: '127.0.0.1', port: sock.address().port }, remote: { address: '127.0.0.1', port } });
  const request = e.drain().find((o) => o.kind === 'send');
  assert.ok(request?.kind === 'send');
  const answer = new Promise<Uint8Array>((resolve) => sock.once('message', (m) => resolve(new Uint8Array(m))));
  sock.send(request.data, port, '127.0.0.1');
  return answer;
}

/** The notify type of a stateless IKE_SA_INIT answer (its one payload, a Notify: RFC 7296 §3.10). */
function answerNotify(a: Uint8Array): number {
  return ((a[28 + 6] ?? 0) << 8) | (a[28 + 7] ?? 0);
}

describe('a responder daemon logs and counts every refusal once', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-visibility-'));
  const base = 20_000 + 5 * Math.floor(Math.random() * 9_000);
  const ports = { plain: base, plainMetrics: base + 1, loaded: base + 2, loadedMetrics: base + 3 };
  const logPlain = new JsonLines();
  const logLoaded = new JsonLines();
  let plain: Daemon;
  let loaded: Daemon;
  let sock: dgram.Socket;
  const scrape = async (metricsPort: number): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  k: "${PSK}"\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'plain.yaml'), responderConfig(dir, ports.plain, ports.plainMetrics, ''));
    // Cookies once one SA is half-open (RFC 7296 §2.6), and half-open SAs that stay for the test.
    writeFileSync(join(dir, 'loaded.yaml'), responderConfig(dir, ports.loaded, ports.loadedMetrics, 'limits:\n  cookie_threshold: 1\n  half_open_timeout: 60s\n'));
    plain = new Daemon({ configPath: join(dir, 'plain.yaml'), logOut: logPlain });
    await plain.start();
    loaded = new Daemon({ configPath: join(dir, 'loaded.yaml'), logOut: logLoaded });
    await loaded.start();
    sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  });

  after(async () => {
    sock?.close();
    await plain?.stop();
    await loaded?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a refused proposal: one info line with the proposals received and configured (strongSwan\'s names), pqike_refusals_total{NO_PROPOSAL_CHOSEN} 1', async () => {
    const before = logPlain.lines.length;
    const answer = await askOnce(sock, ports.plain, 'aes128-sha256-ecp256');
    assert.equal(answerNotify(answer), NotifyType.NO_PROPOSAL_CHOSEN);
    await waitFor('the line', () => (logPlain.lines.length > before ? true : undefined));
    const lines = logPlain.lines.slice(before);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [l] = lines;
    assert.ok(l);
    assert.equal(l['level'], 'info');
    assert.equal(l['event'], 'refused');
    assert.equal(l['notify'], 'NO_PROPOSAL_CHOSEN');
    assert.equal(l['exchange'], 'IKE_SA_INIT');
    assert.equal(
      l['msg'],
      `IKE_SA_INIT from 127.0.0.1:${sock.address().port} refused with NO_PROPOSAL_CHOSEN: no acceptable proposal; received proposals: IKE:AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256; configured proposals: gw: IKE:AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519`,
    );
    const body = await scrape(ports.plainMetrics);
    assert.equal(metricValue(body, 'pqike_refusals_total{exchange="IKE_SA_INIT",notify="NO_PROPOSAL_CHOSEN"}'), 1, body);
  });

  it('a refused key exchange method: one info line (received ECP_256, configured CURVE_25519), pqike_refusals_total{INVALID_KE_PAYLOAD} 1', async () => {
    const before = logPlain.lines.length;
    const answer = await askOnce(sock, ports.plain, 'aes256gcm16-prfsha384-ecp256-x25519');
    assert.equal(answerNotify(answer), NotifyType.INVALID_KE_PAYLOAD);
    await waitFor('the line', () => (logPlain.lines.length > before ? true : undefined));
    const lines = logPlain.lines.slice(before);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]?.['notify'], 'INVALID_KE_PAYLOAD');
    assert.match(String(lines[0]?.['msg']), /refused with INVALID_KE_PAYLOAD: the chosen proposal needs another key exchange method; received KE ECP_256; configured CURVE_25519$/);
    const body = await scrape(ports.plainMetrics);
    assert.equal(metricValue(body, 'pqike_refusals_total{exchange="IKE_SA_INIT",notify="INVALID_KE_PAYLOAD"}'), 1, body);
    assert.equal(metricValue(body, 'pqike_refusals_total{exchange="IKE_SA_INIT",notify="NO_PROPOSAL_CHOSEN"}'), 1, 'the earlier one, not counted again');
    assert.equal(metricValue(body, 'pqike_cookies_sent_total'), 0);
  });

  it('a datagram that is not IKE: no line, pqike_dropped_messages_total{reason="parse"} 1', async () => {
    const before = logPlain.lines.length;
    sock.send(new Uint8Array(60).fill(0x41), ports.plain, '127.0.0.1');
    await waitFor('the drop to be counted', async () => (metricValue(await scrape(ports.plainMetrics), 'pqike_dropped_messages_total{reason="parse"}') === 1 ? true : undefined));
    assert.equal(logPlain.lines.length, before);
  });

  it('a COOKIE challenge: one info line, pqike_cookies_sent_total 1 and pqike_refusals_total{COOKIE} 1; the half-open SA in pqike_half_open_ike_sas', async () => {
    // The first request makes a half-open SA, which reaches cookie_threshold 1.
    const first = await askOnce(sock, ports.loaded, 'aes256gcm16-prfsha384-x25519');
    assert.notEqual(answerNotify(first), NotifyType.COOKIE);
    // Through the control verb, as with engine workers (where the daemon has no engine of its own).
    await waitFor('the half-open SA', async () => {
      const r = await loaded.handle({ cmd: 'stats', args: [], opts: {} });
      return r.ok && (r.data as { halfOpenIkeSas?: number }).halfOpenIkeSas === 1 ? true : undefined;
    });
    const before = logLoaded.lines.length;
    const answer = await askOnce(sock, ports.loaded, 'aes256gcm16-prfsha384-x25519');
    assert.equal(answerNotify(answer), NotifyType.COOKIE);
    await waitFor('the line', () => (logLoaded.lines.length > before ? true : undefined));
    const lines = logLoaded.lines.slice(before);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]?.['level'], 'info');
    assert.equal(lines[0]?.['notify'], 'COOKIE');
    assert.match(String(lines[0]?.['msg']), /^IKE_SA_INIT from 127\.0\.0\.1:\d+ refused with COOKIE: under load/);
    const body = await scrape(ports.loadedMetrics);
    assert.equal(metricValue(body, 'pqike_cookies_sent_total'), 1, body);
    assert.equal(metricValue(body, 'pqike_refusals_total{exchange="IKE_SA_INIT",notify="COOKIE"}'), 1, body);
    assert.equal(metricValue(body, 'pqike_half_open_ike_sas'), 1, body);
  });

  it('the scrape carries the build info and the process and event-loop metrics', async () => {
    const body = await scrape(ports.plainMetrics);
    assert.match(body, /^pqike_build_info\{version="[^"]+",node="v\d+\.\d+\.\d+",mlkem="(node|noble)"\} 1$/m);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.match(body, new RegExp(`^${name} [0-9.e+-]+$`, 'm'), name);
    }
  });
});
