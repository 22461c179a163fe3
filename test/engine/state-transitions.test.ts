/**
 * The IKE SA state machine (ike-sa.ts transition(), the one place the state changes): every
 * change is an 'ike-state' event, in the order RFC 7296 / RFC 9370 give, and nothing else
 * changes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import type { EngineEvent } from '../../src/engine/types.js';

function states(ev: readonly EngineEvent[]): string[] {
  return ev.flatMap((e) => (e.type === 'ike-state' ? [`#${e.sa} ${e.from}>${e.to}`] : []));
}

test('a hybrid IKE SA goes connecting > intermediate > authenticating > established on both sides; its rekey makes a new established SA and the old one rekeyed, then deleted', () => {
  const pair = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024'] });
  const ids = pair.establish();
  const path = [`#${ids.i} connecting>intermediate`, `#${ids.i} intermediate>authenticating`, `#${ids.i} authenticating>established`];
  assert.deepEqual(states(pair.eventsI), path);
  assert.deepEqual(states(pair.eventsR), path.map((p) => p.replace(`#${ids.i}`, `#${ids.r}`)));
  const mark = pair.eventsI.length;
  assert.ok(pair.i.rekeyIke(ids.i, pair.now));
  pair.run();
  const [next] = pair.i.list();
  assert.ok(next);
  assert.deepEqual(states(pair.eventsI.slice(mark)), [`#${next.id} connecting>established`, `#${ids.i} established>rekeyed`, `#${ids.i} rekeyed>deleted`]);
});

test('a classic IKE SA skips intermediate; a failed authentication ends in failed', () => {
  const ok = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'] });
  const ids = ok.establish();
  assert.deepEqual(states(ok.eventsI), [`#${ids.i} connecting>authenticating`, `#${ids.i} authenticating>established`]);
  const bad = new EnginePair({ ikeI: ['aes256gcm16-prfsha384-x25519'], pskR: 'another-psk-of-enough-length-0123' });
  bad.initiate();
  bad.run();
  assert.deepEqual(states(bad.eventsR).map((s) => s.replace(/^#\d+ /, '')), ['connecting>authenticating', 'authenticating>failed']);
  assert.deepEqual(states(bad.eventsI).map((s) => s.replace(/^#\d+ /, '')), ['connecting>authenticating', 'authenticating>failed']);
});
