/** "Did you mean …?" for mistyped verbs, options, connection and algorithm names. */
import { KE_KEYWORDS, ProposalSyntaxError } from '../engine/proposal-string.js';

/** Edit distance with transpositions (optimal string alignment): `mlkem786` is 1 from `mlkem768`. */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      const row = d[i];
      if (row) row[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The closest candidates (at most 3), or none when nothing is close. */
export function closest(word: string, candidates: Iterable<string>): string[] {
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  const scored: [string, number][] = [];
  for (const c of new Set(candidates)) {
    const lc = c.toLowerCase();
    const dist = distance(w, lc);
    // A prefix that is long enough counts too: `list` → list-sas, list-conns.
    const score = dist <= limit ? dist : w.length >= 3 && lc.startsWith(w) ? limit : Infinity;
    if (score !== Infinity) scored.push([c, score]);
  }
  scored.sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]));
  const best = scored[0]?.[1];
  return scored.filter(([, s]) => s === best || s <= 1).slice(0, 3).map(([c]) => c);
}

/** ` (did you mean 'x'?)`, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>, quote = "'"): string {
  const c = closest(word, candidates);
  if (c.length === 0) return '';
  return ` (did you mean ${c.map((x) => `${quote}${x}${quote}`).join(' or ')}?)`;
}

/**
 * The keywords of strongSwan's proposal syntax that src/engine/proposal-string.ts accepts
 * besides the key exchange methods (a test parses each of them).
 */
export const ALGORITHM_KEYWORDS: readonly string[] = [
  'aes128', 'aes192', 'aes256', 'aes128gcm16', 'aes192gcm16', 'aes256gcm16', 'aes128gcm128', 'aes256gcm128', 'aes128gcm', 'aes256gcm', 'chacha20poly1305',
  'sha256', 'sha384', 'sha512', 'sha2_256', 'sha2_384', 'sha2_512', 'prfsha256', 'prfsha384', 'prfsha512', 'esn', 'noesn',
];

const KE_NAMES = Object.keys(KE_KEYWORDS);

/** A proposal error with a suggestion for the mistyped algorithm, if one is close. */
export function proposalHint(e: ProposalSyntaxError): string {
  return `${e.message}${algorithmHint(e.message)}`;
}

/** The suggestion for an "unknown algorithm"/"unknown key exchange method" message ('' if none). */
export function algorithmHint(message: string): string {
  const ke = /unknown key exchange method '([^']*)' in '(ke\d)_/.exec(message);
  if (ke) {
    const c = closest(ke[1] ?? '', KE_NAMES);
    return c.length === 0 ? '' : ` (did you mean ${c.map((x) => `'${ke[2] ?? ''}_${x}'`).join(' or ')}?)`;
  }
  const alg = /unknown algorithm '([^']*)'/.exec(message);
  if (!alg) return '';
  const token = alg[1] ?? '';
  // `ke1mlkem768`, `ke1-mlkem768`: an ADDKE written without its underscore.
  const glued = /^ke([1-7])_?(.+)$/.exec(token);
  if (glued && KE_KEYWORDS[glued[2] ?? ''] !== undefined) return ` (did you mean 'ke${glued[1] ?? ''}_${glued[2] ?? ''}'?)`;
  return didYouMean(token, [...ALGORITHM_KEYWORDS, ...KE_NAMES.filter((k) => k !== 'none')]);
}

export { ProposalSyntaxError };
