import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import type { ChildSaInfo, EngineEvent } from '../../src/engine/types.js';
import { ExchangeType } from '../../src/wire/constants.js';

function childUp(events: EngineEvent[]): ChildSaInfo | undefined {
  for (const e of events) if (e.type === 'child-up') return e.child;
  return undefined;
}

function exchanges(events: EngineEvent[]): string[] {
  return events.filter((e) => e.type === 'message' && e.direction === 'out').map((e) => (e.type === 'message' ? `${e.exchange}${e.response ? 'r' : 'q'}` : ''));
}

for (const proposal of [
  'aes256gcm16-prfsha384-x25519',
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768',
  'aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024',
  'aes256gcm16-prfsha384-mlkem768',
  'aes128-sha256-ecp256-ke1_mlkem512',
  'chacha20poly1305-prfsha512-modp2048-ke3_mlkem1024',
]) {
  test(`two engines establish an IKE SA and Child SA: ${proposal}`, () => {
    const pair = new EnginePair({ ikeI: [proposal] });
    pair.initiate();
    pair.run();
    assert.deepEqual(pair.errors(), []);
    const upI = pair.eventsI.find((e) => e.type === 'ike-up');
    const upR = pair.eventsR.find((e) => e.type === 'ike-up');
    assert.ok(upI && upR, `IKE SA up on both sides: ${JSON.stringify(pair.eventsI.filter((e) => e.type === 'ike-failed' || e.type === 'log'))}`);
    const ci = childUp(pair.eventsI);
    const cr = childUp(pair.eventsR);
    assert.ok(ci && cr);
    assert.deepEqual(ci.keys, cr.keys);
    assert.equal(ci.spiIn, cr.spiOut);
    assert.equal(ci.spiOut, cr.spiIn);
    const addke = (proposal.match(/ke\d_/g) ?? []).length;
    const inter = exchanges(pair.eventsI).filter((x) => x === `${ExchangeType.IKE_INTERMEDIATE}q`).length;
    assert.equal(inter, addke, 'one IKE_INTERMEDIATE per ADDKE');
  });
}
