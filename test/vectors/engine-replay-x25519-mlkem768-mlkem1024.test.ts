// The real engine replays strongSwan 6.0.6's aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024
// (PSK) exchange as initiator (moon) and as responder (sun): two IKE_INTERMEDIATE exchanges (the
// second fragmented both ways); Child SA and IKE SA rekeys with two IKE_FOLLOWUP_KE each.
// See engine-replay.ts.
import { engineReplaySuite } from './engine-replay.js';
import { KeMethodId } from '../../src/wire/constants.js';

engineReplaySuite({
  folder: 'psk-x25519-mlkem768-mlkem1024',
  keMethods: [KeMethodId.CURVE25519, KeMethodId.MLKEM768, KeMethodId.MLKEM1024],
});
