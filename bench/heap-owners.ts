/**
 * What each object of one class holds in a V8 heap snapshot, by property path:
 * `node dist/bench/heap-owners.js FILE [--class IkeSa] [--depth 3] [--top 50]`.
 *
 * Every object of the class (IkeSa: the daemon's IKE SAs) claims what it reaches through its
 * own properties (not through `host`, `connection`, hidden classes or code, nor through another
 * object of the class), each node once, first come first served; the self sizes are summed by
 * the path of property names that reached them (element indices as []), truncated at --depth,
 * and divided by the number of objects of the class: bytes per SA by what holds them. What is
 * shared between SAs is claimed by the first and shows up divided by N, i.e. as nearly nothing.
 * The rest of the heap's growth per SA (the engine's and the daemon's tables) is not under the
 * SAs: bench/heap-top.ts shows it by kind.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  options: { class: { type: 'string' }, depth: { type: 'string' }, top: { type: 'string' }, skip: { type: 'string', multiple: true } },
  allowPositionals: true,
  strict: true,
});

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly (readonly string[] | string)[];
      readonly edge_fields: readonly string[];
      readonly edge_types: readonly (readonly string[] | string)[];
    };
  };
  readonly nodes: readonly number[];
  readonly edges: readonly number[];
  readonly strings: readonly string[];
}

const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: heap-owners FILE [--class IkeSa] [--depth 3] [--top 50] [--skip PROP]...\n');
  process.exit(2);
}
const cls = opt.class ?? 'IkeSa';
const maxDepth = Number(opt.depth ?? 3);
const top = Number(opt.top ?? 50);
const skip = new Set(['host', 'connection', 'map', '__proto__', 'constructor', ...(opt.skip ?? [])]);

const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const m = s.snapshot.meta;
const nodeTypes = m.node_types[0];
const edgeTypes = m.edge_types[0];
if (!Array.isArray(nodeTypes) || !Array.isArray(edgeTypes)) throw new Error('unexpected snapshot format');
const NF = m.node_fields.length;
const EF = m.edge_fields.length;
const nType = m.node_fields.indexOf('type');
const nName = m.node_fields.indexOf('name');
const nSize = m.node_fields.indexOf('self_size');
const nEdges = m.node_fields.indexOf('edge_count');
const eType = m.edge_fields.indexOf('type');
const eName = m.edge_fields.indexOf('name_or_index');
const eTo = m.edge_fields.indexOf('to_node');
const nodes = s.nodes;
const edges = s.edges;
const count = nodes.length / NF;
const firstEdge = new Int32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += (nodes[i * NF + nEdges] ?? 0) * EF;
  firstEdge[i + 1] = e;
}
const typeOf = (i: number): string => nodeTypes[nodes[i * NF + nType] ?? 0] ?? '?';
const nameOf = (i: number): string => s.strings[nodes[i * NF + nName] ?? 0] ?? '?';
const sizeOf = (i: number): number => nodes[i * NF + nSize] ?? 0;

const owners: number[] = [];
for (let i = 0; i < count; i++) if (typeOf(i) === 'object' && nameOf(i) === cls) owners.push(i);
if (owners.length === 0) throw new Error(`no object of class ${cls}`);
const isOwner = new Uint8Array(count);
for (const o of owners) isOwner[o] = 1;
const claimed = new Uint8Array(count);
const STOP = new Set(['code', 'hidden', 'object shape', 'synthetic']);
const byPath = new Map<string, { size: number; count: number }>();
let ownSelf = 0;

for (const o of owners) {
  ownSelf += sizeOf(o);
  const queue: { node: number; path: string; depth: number }[] = [];
  for (let e = firstEdge[o] ?? 0; e < (firstEdge[o + 1] ?? 0); e += EF) {
    const et = edgeTypes[edges[e + eType] ?? 0];
    if (et === 'weak' || et === 'shortcut') continue;
    const name = et === 'element' ? '[]' : String(s.strings[edges[e + eName] ?? 0] ?? '?');
    if (skip.has(name)) continue;
    queue.push({ node: (edges[e + eTo] ?? 0) / NF, path: name, depth: 1 });
  }
  for (let q = 0; q < queue.length; q++) {
    const { node, path, depth } = queue[q] as { node: number; path: string; depth: number };
    if (claimed[node] || isOwner[node] || STOP.has(typeOf(node))) continue;
    claimed[node] = 1;
    const key = `${path}  <${typeOf(node)} ${typeOf(node) === 'string' ? '' : nameOf(node).slice(0, 30)}>`;
    const g = byPath.get(key);
    if (g) {
      g.size += sizeOf(node);
      g.count++;
    } else byPath.set(key, { size: sizeOf(node), count: 1 });
    for (let e = firstEdge[node] ?? 0; e < (firstEdge[node + 1] ?? 0); e += EF) {
      const et = edgeTypes[edges[e + eType] ?? 0];
      if (et === 'weak' || et === 'shortcut') continue;
      const name = et === 'element' ? '[]' : et === 'hidden' || et === 'internal' ? `(${String(s.strings[edges[e + eName] ?? 0] ?? '?')})` : String(s.strings[edges[e + eName] ?? 0] ?? '?');
      if (skip.has(name)) continue;
      queue.push({ node: (edges[e + eTo] ?? 0) / NF, path: depth < maxDepth ? `${path}.${name}` : path, depth: depth + 1 });
    }
  }
}

const n = owners.length;
const rows = [...byPath].sort((a, b) => b[1].size - a[1].size);
const total = rows.reduce((t, [, g]) => t + g.size, 0);
process.stdout.write(`${n} ${cls} objects: ${(ownSelf / n).toFixed(0)} B each themselves, ${(total / n).toFixed(0)} B more reached through their properties (per object)\n`);
for (const [k, g] of rows.slice(0, top)) process.stdout.write(`${(g.size / n).toFixed(1).padStart(8)} B ${(g.count / n).toFixed(2).padStart(6)} x  ${k}\n`);
