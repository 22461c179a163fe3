/**
 * The probe against in-process responders (no sockets): what it reports matches what the
 * responder is configured to accept, and it never gets past IKE_SA_INIT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/engine/engine.js';
import { parseIdentity } from '../../src/engine/identity.js';
import { parseProposals } from '../../src/engine/proposal-string.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { formatReport, runProbe } from '../../src/probe/probe.js';
import type { ProbeTransport } from '../../src/probe/probe.js';
import { ExchangeType, KeMethodId } from '../../src/wire/constants.js';
import { decodeMessage } from '../../src/wire/index.js';

const EPS = { local: { address: '192.0.2.9', port: 500 }, remote: { address: '192.0.2.2', port: 500 } };

function responder(proposals: string[], cookieThreshold = 1_000_000): { send: ProbeTransport; exchanges: number[] } {
  const engine = new IkeEngine({ cookieThreshold });
  engine.addConnection({
    name: 'r',
    localAddress: '192.0.2.2',
    remoteAddress: '%any',
    localId: parseIdentity('sun.example.org'),
    psk: new TextEncoder().encode('probe-test-psk-0123456789'),
    ikeProposals: parseProposals(proposals, 'ike'),
    children: [{ name: 'c', espProposals: parseProposals(['aes256gcm16'], 'esp'), localTs: [parseTrafficSelector('10.0.0.0/8')], remoteTs: [parseTrafficSelector('0.0.0.0/0')], mode: 'tunnel' }],
  });
  const exchanges: number[] = [];
  const send: ProbeTransport = async (req) => {
    exchanges.push(decodeMessage(req).header.exchangeType);
    engine.receive(req, EPS.local, EPS.remote, 0);
    const out = engine.drain().find((o) => o.kind === 'send');
    return out?.kind === 'send' ? out.data : undefined;
  };
  return { send, exchanges };
}

const noWait = { sleep: async (): Promise<void> => undefined };

test('a hybrid responder: ADDKE methods, ML-KEM as the only KE, classic methods, notifies', async () => {
  const r = responder(['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_mlkem1024', 'aes128-sha256-ecp256', 'aes256gcm16-prfsha384-mlkem1024']);
  const report = await runProbe('192.0.2.2:500', r.send, EPS, noWait);
  const ke = Object.fromEntries(report.keMethods.map((k) => [k.id, k.verdict]));
  assert.equal(ke[KeMethodId.ECP256], 'accepted');
  assert.equal(ke[KeMethodId.MLKEM1024], 'accepted');
  assert.equal(ke[KeMethodId.CURVE25519], 'refused', 'x25519 only with an additional exchange');
  assert.equal(ke[KeMethodId.MODP2048], 'refused');
  const add = Object.fromEntries(report.additional.map((k) => [k.id, k.verdict]));
  assert.deepEqual(add, { [KeMethodId.MLKEM512]: 'refused', [KeMethodId.MLKEM768]: 'accepted', [KeMethodId.MLKEM1024]: 'accepted' });
  assert.equal(report.readiness, 'hybrid');
  assert.equal(report.intermediate, true);
  assert.equal(report.fragmentation, true);
  assert.equal(report.childless, true);
  assert.deepEqual(report.signatureHashes, ['SHA2_256', 'SHA2_384', 'SHA2_512', 'IDENTITY']);
  assert.ok(r.exchanges.every((e) => e === ExchangeType.IKE_SA_INIT), 'only IKE_SA_INIT requests');
  assert.match(formatReport(report), /post-quantum ready/);
});

test('a classic responder is reported as not post-quantum ready; its preferred suite is shown', async () => {
  const r = responder(['aes256gcm16-prfsha384-x25519', 'aes128-sha256-modp2048']);
  const report = await runProbe('192.0.2.2:500', r.send, EPS, noWait);
  assert.equal(report.readiness, 'classic');
  assert.ok(report.additional.every((a) => a.verdict === 'refused'));
  assert.equal(report.preferred?.ke, 'CURVE_25519', "strongSwan's name");
  assert.equal(report.preferred?.encr, 'AES_GCM_16_256');
  assert.equal(report.intermediate, false);
  assert.deepEqual(report.keMethods.filter((k) => k.verdict === 'accepted').map((k) => k.id).sort((a, b) => a - b), [KeMethodId.MODP2048, KeMethodId.CURVE25519]);
});

test('ML-KEM only in Transform Type 4: partly post-quantum', async () => {
  const r = responder(['aes256gcm16-prfsha384-mlkem768']);
  const report = await runProbe('192.0.2.2:500', r.send, EPS, noWait);
  assert.equal(report.readiness, 'pq-only');
});

test('no answer: unreachable, after one request', async () => {
  const report = await runProbe('192.0.2.99:500', async () => undefined, EPS, noWait);
  assert.equal(report.answered, false);
  assert.equal(report.readiness, 'unreachable');
  assert.equal(report.requests, 1);
});

test('the probe paces its requests (default 3 per second)', async () => {
  const r = responder(['aes256gcm16-prfsha384-x25519']);
  const waits: number[] = [];
  const report = await runProbe('x', r.send, EPS, { sleep: async (ms) => void waits.push(ms) });
  assert.equal(waits.length, report.requests - 1);
  assert.ok(waits.every((w) => Math.abs(w - 1000 / 3) < 1));
});

test('a responder under load asks for a COOKIE: the probe repeats the same request with it (RFC 7296 §2.6)', async () => {
  const r = responder(['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519'], 0);
  const report = await runProbe('192.0.2.2:500', r.send, EPS, noWait);
  assert.equal(report.readiness, 'hybrid');
  assert.equal(report.keMethods.find((k) => k.id === KeMethodId.CURVE25519)?.verdict, 'accepted');
  assert.equal(report.requests, 2 * (1 + 11 + 3 + 1), 'every probe needed its cookie round');
});
