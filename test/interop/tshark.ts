/**
 * tshark dissection of captures made by the interop tests.
 */
import { run } from './netns.js';

// editcap ships with tshark (wireshark-common).

export interface DissectOptions {
  /** Wireshark preferences, passed as `-o name:value` (e.g. { 'udp.try_heuristic_first': 'TRUE' }). */
  readonly prefs?: Readonly<Record<string, string>>;
  /**
   * UAT tables, passed as `-o uat:<table>:"f1","f2",...` per row, e.g.
   * { ikev2_decryption_table: [[spii, spir, sk_ei, sk_er, encAlg, sk_ai, sk_ar, integAlg]] }.
   */
  readonly uat?: Readonly<Record<string, ReadonlyArray<readonly string[]>>>;
  /** Display filter (-Y). */
  readonly displayFilter?: string;
  /** -d decode-as rules, e.g. ['udp.port==5000,isakmp']. */
  readonly decodeAs?: readonly string[];
  /** Verbose packet details (-V). Default true. */
  readonly verbose?: boolean;
  /** Include hex dump (-x). Default false. */
  readonly hex?: boolean;
  readonly extraArgs?: readonly string[];
  readonly timeoutMs?: number;
}

export interface Dissection {
  /** tshark stdout (packet details with -V). */
  readonly text: string;
  /** tshark stderr, minus the "Running as user root" banner. */
  readonly stderr: string;
  /** Number of frames dissected. */
  readonly frames: number;
  readonly args: readonly string[];
}

function uatRow(fields: readonly string[]): string {
  return fields.map((f) => `"${f.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');
}

/** Run `tshark -r pcapPath -V -o ...` and return its text. Throws if tshark fails. */
export async function dissect(pcapPath: string, opts: DissectOptions = {}): Promise<Dissection> {
  const args: string[] = ['-r', pcapPath, '-n'];
  if (opts.verbose ?? true) args.push('-V');
  if (opts.hex) args.push('-x');
  for (const [k, v] of Object.entries(opts.prefs ?? {})) args.push('-o', `${k}:${v}`);
  for (const [table, rows] of Object.entries(opts.uat ?? {})) {
    for (const row of rows) args.push('-o', `uat:${table}:${uatRow(row)}`);
  }
  for (const d of opts.decodeAs ?? []) args.push('-d', d);
  if (opts.displayFilter) args.push('-Y', opts.displayFilter);
  args.push(...(opts.extraArgs ?? []));
  const r = await run('tshark', args, { timeoutMs: opts.timeoutMs ?? 60_000 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => !/^Running as user "root"/.test(l) && l.trim() !== '')
    .join('\n');
  const frames = (r.stdout.match(/^Frame \d+: /gm) ?? []).length;
  return { text: r.stdout, stderr, frames, args };
}

/** Copy pcapPath to outPath with every packet cut to snaplen bytes (`editcap -s`), e.g. to test malformed detection. */
export async function truncateCapture(pcapPath: string, outPath: string, snaplen: number): Promise<string> {
  await run('editcap', ['-s', String(snaplen), pcapPath, outPath]);
  return outPath;
}

/** One-line-per-packet summary (`tshark -r file`), handy for diagnostics. */
export async function summary(pcapPath: string): Promise<string> {
  const r = await run('tshark', ['-r', pcapPath, '-n'], { timeoutMs: 60_000 });
  return r.stdout;
}

/** Markers tshark prints for packets it could not dissect cleanly. */
export const MALFORMED_PATTERNS: readonly RegExp[] = [
  /\[Malformed Packet/,
  /Expert Info \(Error/,
  /Expert Info \(Warning\/Malformed\)/,
  /\[Packet size limited during capture/,
  /Dissector bug/i,
  /\[BoundError/,
  /\[ReportedBoundError/,
  /Exception occurred/i,
  /\[Unreassembled Packet/,
];

/** Lines of the dissection that match a malformed-packet marker (with frame numbers). */
export function findMalformed(text: string): string[] {
  const hits: string[] = [];
  let frame = '?';
  for (const line of text.split('\n')) {
    const f = /^Frame (\d+): /.exec(line);
    if (f) frame = f[1] as string;
    if (MALFORMED_PATTERNS.some((p) => p.test(line))) hits.push(`frame ${frame}: ${line.trim()}`);
  }
  return hits;
}

/** Throw if tshark flagged any packet as malformed / erroneous. */
export function assertNoMalformed(text: string): void {
  const hits = findMalformed(text);
  if (hits.length > 0) {
    throw new Error(`tshark reported ${hits.length} problem(s):\n${hits.slice(0, 50).join('\n')}`);
  }
}
