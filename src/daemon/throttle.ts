/**
 * A log call for errors that can repeat in a flood (accept failing with EMFILE for every new
 * connection): the first one is passed on, then at most one per interval, with the number of
 * the ones left out in between.
 */
export function throttled(log: (message: string) => void, intervalMs = 60_000, now: () => number = Date.now): (message: string) => void {
  let last: number | undefined;
  let skipped = 0;
  return (message) => {
    const t = now();
    if (last !== undefined && t - last < intervalMs) {
      skipped++;
      return;
    }
    last = t;
    log(skipped > 0 ? `${message} (${skipped} more since the last one not logged)` : message);
    skipped = 0;
  };
}
