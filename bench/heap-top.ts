/**
 * What a V8 heap snapshot holds, by kind: `node dist/bench/heap-top.js FILE [--per N] [--top K]
 * [--base FILE]`. Sums the self sizes of the snapshot's nodes by type and name (objects by
 * constructor, strings, arrays, closures by function name, compiled code, ...) and prints the
 * largest K groups with their counts; with --per N also per unit (per SA, when the snapshot was
 * taken with N SAs up: bench/scale.js --snapshot); with --base, the difference from another
 * snapshot (e.g. the same daemon idle), which is what the N units added.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  options: { per: { type: 'string' }, top: { type: 'string' }, base: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: readonly string[]; readonly node_types: readonly (readonly string[] | string)[] } };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

interface Group {
  count: number;
  size: number;
}

function groups(file: string): Map<string, Group> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  if (!Array.isArray(types)) throw new Error('unexpected snapshot format');
  const stride = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const out = new Map<string, Group>();
  for (let i = 0; i < s.nodes.length; i += stride) {
    const type = types[s.nodes[i + fType] ?? 0] ?? '?';
    const size = s.nodes[i + fSize] ?? 0;
    let name: string;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number') name = '';
    else if (type === 'code') name = '(code)';
    else {
      name = s.strings[s.nodes[i + fName] ?? 0] ?? '?';
      if (name.length > 60) name = `${name.slice(0, 57)}...`;
    }
    const key = `${type} ${name}`.trim();
    const g = out.get(key);
    if (g) {
      g.count++;
      g.size += size;
    } else out.set(key, { count: 1, size });
  }
  return out;
}

const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: heap-top FILE [--per N] [--top K] [--base FILE]\n');
  process.exit(2);
}
const per = Number(opt.per ?? 1);
const top = Number(opt.top ?? 40);
const g = groups(file);
const base = opt.base === undefined ? undefined : groups(opt.base);
const rows = [...g].map(([k, v]) => {
  const b = base?.get(k);
  return { k, count: v.count - (b?.count ?? 0), size: v.size - (b?.size ?? 0) };
});
const total = rows.reduce((n, r) => n + r.size, 0);
rows.sort((a, b) => b.size - a.size);
process.stdout.write(`${file}${base ? ` less ${opt.base}` : ''}: ${total} B self size in all${per !== 1 ? `, ${(total / per).toFixed(0)} B per unit (${per})` : ''}\n`);
for (const r of rows.slice(0, top)) {
  process.stdout.write(`${(r.size / per).toFixed(1).padStart(9)} B ${(r.count / per).toFixed(2).padStart(7)} x  ${r.k}\n`);
}
