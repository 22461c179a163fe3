/**
 * The engine's clock in the drivers: monotonic milliseconds (performance.now()), which a wall
 * clock step (NTP, an operator's `date -s`) cannot move backwards or forwards, so no
 * retransmission, lifetime or liveness deadline jumps with it. Only differences of its values
 * mean anything; the engine never shows them as dates.
 */
export function monotonicMs(): number {
  return performance.now();
}
