/** Userspace ESP (RFC 4303, RFC 3948): pure packet logic for the TUN-based data plane. */
export {
  createEspSa, EspInboundSa, EspOutboundSa, NextHeader, DEFAULT_ESP_REPLAY_WINDOW, DEFAULT_SEQ_SOFT_MARGIN,
  ESP_DROP_REASONS, ESP_REFUSALS,
  type EspCounters, type EspDropReason, type EspOpenResult, type EspOutboundOptions, type EspRefusal,
  type EspSaEvent, type EspSaOptions, type EspSaParams, type EspSealResult,
} from './sa.js';
export { ReplayWindow, MAX_REPLAY_WINDOW, REPLAY_DUPLICATE, REPLAY_TOO_OLD } from './replay.js';
export { espTransform, ESP_HEADER_LENGTH, type EspTransform, type EspTransformSpec } from './transform.js';
export { classifyUdp4500, espSpi, NAT_KEEPALIVE, NON_ESP_MARKER, UDP_ENCAP_PORT, type Udp4500Kind } from './udp-encap.js';
