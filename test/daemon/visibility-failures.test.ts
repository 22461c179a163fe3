/**
 * Two daemons in this process over 127.0.0.1 UDP: A initiates, B answers. Each failure is one
 * log line (the 'ike-failed' event, with no engine log line beside it), counted by its notify
 * and cause; retransmissions are debug the first time and info from the second on; IKE SA
 * rekeys are counted on both sides.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { request } from '../../src/daemon/control.js';
import type { ControlResponse } from '../../src/daemon/control.js';
import { JsonLines, metricValue, waitFor } from './harness.js';

const PSK = 'visibility-failures-psk-0123456789';

describe('failures once, retransmissions from the second, IKE SA rekeys counted', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-visfail-'));
  const base = 20_000 + 5 * Math.floor(Math.random() * 9_000);
  const ports = { a: base, b: base + 1, silent: base + 2, aMetrics: base + 3, bMetrics: base + 4 };
  const logA = new JsonLines();
  const logB = new JsonLines();
  let a: Daemon;
  let b: Daemon;
  let silent: dgram.Socket;

  const conn = (name: string, port: number, me: string, peer: string, psk: string): string => `  ${name}:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${port}
    local_id: ${me}.example.org
    remote_id: ${peer}.example.org
    psk: ${psk}
    proposals: [aes256gcm16-prfsha384-x25519]
    children:
      net:
        local_ts: [10.${me === 'moon' ? 1 : 2}.0.0/16]
        remote_ts: [10.${me === 'moon' ? 2 : 1}.0.0/16]
        esp_proposals: [aes256gcm16]
`;
  const cfg = (me: string, port: number, metrics: number, extra: string, conns: string): string =>
    `secrets: secrets.yaml\nport: ${port}\nlog:\n  level: info\n  format: json\ncontrol:\n  socket: ${join(dir, `${me}.sock`)}\nmetrics:\n  listen: 127.0.0.1:${metrics}\n${extra}data_plane: fake\nconnections:\n${conns}`;
  const ctl = (d: string, cmd: string, ...args: string[]): Promise<ControlResponse> => request(join(dir, `${d}.sock`), { cmd, args, opts: {} }, 40_000);
  const scrape = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  good: "${PSK}"\n  bad: "visibility-failures-WRONG-psk-01234"\n`, { mode: 0o600 });
    const limitsA = 'limits:\n  retransmit_timeout: 200ms\n  retransmit_tries: 3\n';
    writeFileSync(join(dir, 'a.yaml'), cfg('moon', ports.a, ports.aMetrics, limitsA, conn('good', ports.b, 'moon', 'sun', 'good') + conn('bad', ports.b, 'moon', 'sun', 'bad') + conn('silent', ports.silent, 'moon', 'sun', 'good')));
    writeFileSync(join(dir, 'b.yaml'), cfg('sun', ports.b, ports.bMetrics, '', conn('gw', ports.a, 'sun', 'moon', 'good')));
    silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(ports.silent, '127.0.0.1', () => resolve()));
    b = new Daemon({ configPath: join(dir, 'b.yaml'), logOut: logB });
    await b.start();
    a = new Daemon({ configPath: join(dir, 'a.yaml'), logOut: logA });
    await a.start();
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    silent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a failed authentication: one line on the initiator (ike-failed, AUTHENTICATION_FAILED), one refusal line on the responder; both counted', async () => {
    const fromA = logA.lines.length;
    const fromB = logB.lines.length;
    const r = await ctl('moon', 'up', 'bad');
    assert.equal(r.ok, false);
    await waitFor('B to drop the SA', async () => ((await b.listSas()).length === 0 ? true : undefined));
    const linesA = logA.lines.slice(fromA);
    const problemsA = linesA.filter((l) => l['level'] === 'warn' || l['level'] === 'error' || /fail/i.test(String(l['msg'])));
    assert.equal(problemsA.length, 1, JSON.stringify(linesA, null, 1));
    assert.equal(problemsA[0]?.['event'], 'ike-failed');
    assert.equal(problemsA[0]?.['notify'], 'AUTHENTICATION_FAILED');
    assert.equal(problemsA[0]?.['level'], 'warn');
    const linesB = logB.lines.slice(fromB);
    const refusedB = linesB.filter((l) => l['event'] === 'refused');
    assert.equal(refusedB.length, 1, JSON.stringify(linesB, null, 1));
    assert.equal(refusedB[0]?.['notify'], 'AUTHENTICATION_FAILED');
    assert.equal(refusedB[0]?.['exchange'], 'IKE_AUTH');
    // The responder's half-open SA failing with it is no second line at info.
    assert.deepEqual(linesB.filter((l) => l['event'] === 'ike-failed' || l['level'] === 'warn'), []);
    assert.equal(metricValue(await scrape(ports.aMetrics), 'pqike_ike_sa_failures_total{notify="AUTHENTICATION_FAILED",cause="notify"}'), 1);
    assert.equal(metricValue(await scrape(ports.bMetrics), 'pqike_refusals_total{exchange="IKE_AUTH",notify="AUTHENTICATION_FAILED"}'), 1);
  });

  it('a peer that never answers: retransmits 2 and 3 at info (not 1), then one failure line (cause timeout)', async () => {
    const from = logA.lines.length;
    const r = await ctl('moon', 'up', 'silent');
    assert.equal(r.ok, false);
    const lines = logA.lines.slice(from).filter((l) => l['conn'] === 'silent');
    const rt = lines.filter((l) => l['event'] === 'retransmit');
    assert.deepEqual(rt.map((l) => [l['level'], l['attempt'], l['exchange']]), [
      ['info', 2, 'IKE_SA_INIT'],
      ['info', 3, 'IKE_SA_INIT'],
    ]);
    assert.match(String(rt[0]?.['msg']), /retransmit 2 of IKE_SA_INIT request 0$/);
    const failed = lines.filter((l) => l['event'] === 'ike-failed');
    assert.equal(failed.length, 1, JSON.stringify(lines, null, 1));
    assert.equal(failed[0]?.['cause'], 'timeout');
    assert.equal(lines.filter((l) => /fail/i.test(String(l['msg']))).length, 1, JSON.stringify(lines, null, 1));
    const body = await scrape(ports.aMetrics);
    assert.equal(metricValue(body, 'pqike_ike_sa_failures_total{notify="none",cause="timeout"}'), 1, body);
    assert.equal(metricValue(body, 'pqike_retransmissions_total'), 3, body);
  });

  it('an IKE SA rekey is counted on both sides: pqike_ike_sa_rekeys_total 1', async () => {
    const up = await ctl('moon', 'up', 'good');
    assert.ok(up.ok, JSON.stringify(up));
    const rk = await ctl('moon', 'rekey', 'good');
    assert.ok(rk.ok, JSON.stringify(rk));
    await waitFor('B to count the rekey', async () => (metricValue(await scrape(ports.bMetrics), 'pqike_ike_sa_rekeys_total') === 1 ? true : undefined));
    assert.equal(metricValue(await scrape(ports.aMetrics), 'pqike_ike_sa_rekeys_total'), 1);
    const down = await ctl('moon', 'down', 'good');
    assert.ok(down.ok, JSON.stringify(down));
  });
});
