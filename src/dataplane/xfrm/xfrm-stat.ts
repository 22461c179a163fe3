/**
 * The kernel's XFRM drop counters of this network namespace: /proc/net/xfrm_stat (one
 * "XfrmInNoStates 3" line per counter; Documentation/networking/xfrm_proc.rst). The file exists
 * only with CONFIG_XFRM_STATISTICS; without it there is nothing cheap to read, and drops are {}.
 *
 * The counters are per namespace, not per daemon: another IPsec daemon's drops are counted too.
 */
import { readFileSync } from 'node:fs';

export const XFRM_STAT_PATH = '/proc/net/xfrm_stat';

/** Counter name → value; lines that are not "Name <digits>" are skipped. */
export function parseXfrmStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Xfrm\w+)\s+(\d+)\s*$/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** This namespace's counters ({} when the kernel has no CONFIG_XFRM_STATISTICS). */
export function readXfrmStat(path = XFRM_STAT_PATH): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  return parseXfrmStat(text);
}
