// strongSwan 6.0.6 reference exchange: aes256gcm16-prfsha384-x25519-ke1_mlkem768 (PSK),
// one IKE_INTERMEDIATE; Child SA and IKE SA rekeys with one IKE_FOLLOWUP_KE each.
import { strongswanSuite, KeMethodId } from './strongswan-suite.js';

strongswanSuite({
  folder: 'psk-x25519-mlkem768',
  keMethods: [KeMethodId.CURVE25519, KeMethodId.MLKEM768],
});
