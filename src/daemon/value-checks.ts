/**
 * Checks of values that both the configuration file and the `pqike initiate|respond` options
 * take, so that both accept and refuse the same things with the same advice.
 */

/** RFC 7296 §2.15: a PSK must be as hard to guess as a key; shorter ones are refused. */
export const MIN_PSK_OCTETS = 16;

/** undefined if `psk` is long enough, else what is wrong and what to write instead. */
export function pskProblem(psk: Uint8Array): string | undefined {
  if (psk.length >= MIN_PSK_OCTETS) return undefined;
  return `is ${psk.length} octet${psk.length === 1 ? '' : 's'} long; a pre-shared key must be as hard to guess as a key (RFC 7296 §2.15): use at least ${MIN_PSK_OCTETS} octets, better 32 random ones, e.g. openssl rand -base64 33`;
}

/**
 * The largest IKE datagram we send when fragmenting (RFC 7383 §2.5.1): at least 576, what
 * every IPv4 host must accept (RFC 791), at most a UDP datagram.
 */
export const FRAGMENT_SIZE_MIN = 576;
export const FRAGMENT_SIZE_MAX = 65535;
export const FRAGMENT_SIZE_ADVICE = `write a datagram size between ${FRAGMENT_SIZE_MIN} and ${FRAGMENT_SIZE_MAX} (1280 fits IPv6 and IPv4 paths)`;

/** The fragment size in `text` (decimal digits), or undefined if it is not one or out of range. */
export function parseFragmentSize(text: string): number | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text);
  return n >= FRAGMENT_SIZE_MIN && n <= FRAGMENT_SIZE_MAX ? n : undefined;
}
