// strongSwan 6.0.6 reference exchange: aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024
// (PSK), two IKE_INTERMEDIATE exchanges (the second one fragmented in both directions); Child SA
// and IKE SA rekeys with two IKE_FOLLOWUP_KE each.
import { strongswanSuite, KeMethodId } from './strongswan-suite.js';

strongswanSuite({
  folder: 'psk-x25519-mlkem768-mlkem1024',
  keMethods: [KeMethodId.CURVE25519, KeMethodId.MLKEM768, KeMethodId.MLKEM1024],
});
