/**
 * scanInitRequest: the quick look at a new IKE_SA_INIT request that lets a responder under
 * load answer COOKIE without decoding it (RFC 7296 §2.6). It must find the SPI, the Nonce and
 * a leading COOKIE of real requests, and refuse (undefined: the full path decides) anything
 * whose payload chain does not add up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IkeEngine } from '../../src/engine/engine.js';
import { connections } from '../helpers/engine-pair.js';
import { rewrite } from '../helpers/engine-wire.js';
import { scanInitRequest } from '../../src/wire/scan.js';
import { NotifyType, PayloadType, decodeMessage } from '../../src/wire/index.js';
import { seed } from './wire-arbitraries.js';

function request(): Uint8Array {
  const e = new IkeEngine();
  e.addConnection(connections().initiator);
  e.initiate('moon', 0);
  const o = e.drain().find((x) => x.kind === 'send');
  assert.ok(o && o.kind === 'send');
  return o.data;
}

test('scanInitRequest finds the SPI and Nonce of a real request, and a COOKIE only when it comes first', () => {
  const req = request();
  const m = decodeMessage(req);
  const nonce = m.payloads.find((p) => p.type === PayloadType.NONCE);
  assert.ok(nonce && nonce.type === PayloadType.NONCE);
  const s = scanInitRequest(req);
  assert.ok(s);
  assert.deepEqual(Buffer.from(s.spiI), Buffer.from(m.header.spiI));
  assert.deepEqual(Buffer.from(s.nonce), Buffer.from(nonce.data));
  assert.equal(s.cookie, undefined);
  const cookie = Uint8Array.of(1, 2, 3, 4, 5);
  const n = { type: PayloadType.NOTIFY, critical: false, protocolId: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: cookie } as const;
  assert.deepEqual(Buffer.from(scanInitRequest(rewrite(req, (ps) => [n, ...ps]))?.cookie ?? []), Buffer.from(cookie));
  assert.equal(scanInitRequest(rewrite(req, (ps) => [...ps, n]))?.cookie, undefined, 'a COOKIE later in the message is not one (RFC 7296 §2.6)');
});

test('scanInitRequest refuses what is not a well-formed new IKE_SA_INIT request (every truncation, and random mutations, never throw)', () => {
  const req = request();
  for (let len = 0; len < req.length; len++) assert.equal(scanInitRequest(req.subarray(0, len)), undefined, `truncated to ${len}`);
  const withSpiR = Uint8Array.from(req);
  withSpiR[9] = 1;
  assert.equal(scanInitRequest(withSpiR), undefined, 'a responder SPI');
  const response = Uint8Array.from(req);
  response[19] = 0x20;
  assert.equal(scanInitRequest(response), undefined, 'a response');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: req.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const m = Uint8Array.from(req);
      m[at] = v;
      const s = scanInitRequest(m);
      if (s) assert.ok(s.nonce.length >= 16 && s.nonce.length <= 256);
    }),
    { seed, numRuns: 2000 },
  );
});
