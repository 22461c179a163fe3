/**
 * Summarise a V8 .cpuprofile (node --cpu-prof): self time per function (top N), and
 * inclusive time for functions whose name or URL matches --focus.
 * Usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top N] [--focus REGEX]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string' }, focus: { type: 'string' } },
  allowPositionals: true,
});
const top = Number(values.top ?? 25);

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    const id = prof.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  }
  const key = (n: ProfileNode): string => {
    const f = n.callFrame;
    const url = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    self.set(key(n), (self.get(key(n)) ?? 0) + us);
    // Inclusive: each distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cn = byId.get(cur);
      if (!cn) break;
      const k = key(cn);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  process.stdout.write(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled\n  self time:\n`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
  if (values.focus !== undefined) {
    const re = new RegExp(values.focus);
    process.stdout.write('  inclusive time (focus):\n');
    for (const [k, us] of [...incl].filter(([k]) => re.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`  ${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
    }
  }
}
