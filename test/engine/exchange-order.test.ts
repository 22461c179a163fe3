// Order enforcement (RFC 9370 §2.2.3, RFC 9242 §3): the responder refuses IKE_AUTH while
// additional key exchanges are still pending, with INVALID_SYNTAX, and the SA fails.
//
// How the misbehaving initiator is made: an on-path attacker edits the unprotected
// IKE_SA_INIT response and deletes ADDKE transforms from the responder's choice. The
// initiator offered those types with NONE as well (`keN_…-keN_none`), so it takes the edited
// answer as "NONE chosen" and goes to IKE_AUTH early — exactly an initiator that skips
// IKE_INTERMEDIATE, built only from wire edits (no engine internals). The responder, which
// did select the ADDKE methods, still has them pending when IKE_AUTH arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnginePair } from '../helpers/engine-pair.js';
import { failures, isMessage, logs, rewrite, sentExchanges, ups } from '../helpers/engine-wire.js';
import { ExchangeType, NotifyType, PayloadType, TransformType } from '../../src/wire/index.js';
import type { Payload } from '../../src/wire/index.js';

/** Filter that removes transform types `drop` from the responder's IKE_SA_INIT SA payload. */
function stripFromInitResponse(pair: EnginePair, drop: readonly number[]): () => number {
  let edits = 0;
  pair.filter = (d) => {
    if (d.from !== 'r' || !isMessage(d.data, ExchangeType.IKE_SA_INIT, true)) return d.data;
    return rewrite(d.data, (ps) =>
      ps.map((p): Payload => {
        if (p.type !== PayloadType.SA) return p;
        edits++;
        return { ...p, proposals: p.proposals.map((pr) => ({ ...pr, transforms: pr.transforms.filter((t) => !drop.includes(t.type)) })) };
      }),
    );
  };
  return () => edits;
}

test('order: IKE_AUTH before the only IKE_INTERMEDIATE round is refused with INVALID_SYNTAX', () => {
  const pair = new EnginePair({
    ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none'],
    ikeR: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768'],
  });
  const edits = stripFromInitResponse(pair, [TransformType.ADDKE1]);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.equal(edits(), 1);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q', 'IKE_AUTH q'], 'the initiator skipped IKE_INTERMEDIATE');
  assert.deepEqual(sentExchanges(pair.eventsR), ['IKE_SA_INIT r', 'IKE_AUTH r']);
  const fr = failures(pair.eventsR);
  assert.equal(fr.length, 1, logs(pair.eventsR));
  assert.equal(fr[0]?.notify, NotifyType.INVALID_SYNTAX);
  assert.match(fr[0]?.reason ?? '', /IKE_AUTH before 1 additional key exchange/);
  // The refusal is a protected response the initiator can read: it fails with notify 7.
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.INVALID_SYNTAX);
  assert.deepEqual(ups(pair.eventsI), []);
  assert.deepEqual(ups(pair.eventsR), []);
  assert.deepEqual(pair.r.list(), []);
  assert.equal(pair.r.nextDeadline(), undefined, 'no half-open SA left behind');
});

test('order: IKE_AUTH after the first of two IKE_INTERMEDIATE rounds is refused too', () => {
  const pair = new EnginePair({
    ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024-ke2_none'],
    ikeR: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024'],
  });
  stripFromInitResponse(pair, [TransformType.ADDKE2]);
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q', 'IKE_INTERMEDIATE q', 'IKE_AUTH q']);
  const fr = failures(pair.eventsR);
  assert.equal(fr[0]?.notify, NotifyType.INVALID_SYNTAX, logs(pair.eventsR));
  assert.match(fr[0]?.reason ?? '', /IKE_AUTH before 1 additional key exchange/);
  assert.equal(failures(pair.eventsI)[0]?.notify, NotifyType.INVALID_SYNTAX);
  assert.deepEqual(pair.r.list(), []);
});

test('order: the untouched handshake with the same configuration runs both rounds and comes up', () => {
  const pair = new EnginePair({
    ikeI: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024-ke2_none'],
    ikeR: ['aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024'],
  });
  pair.initiate();
  pair.run();
  assert.deepEqual(pair.errors(), []);
  assert.deepEqual(sentExchanges(pair.eventsI), ['IKE_SA_INIT q', 'IKE_INTERMEDIATE q', 'IKE_INTERMEDIATE q', 'IKE_AUTH q']);
  assert.ok(ups(pair.eventsI)[0] && ups(pair.eventsR)[0]);
});
