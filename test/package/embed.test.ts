/**
 * examples/embed.ts (the README's "Embedding the engine") runs: two engines on 127.0.0.1 UDP
 * sockets, each driven by the example's own receive/timer/drain loop, set up an IKE SA with
 * X25519 + ML-KEM-768 and a Child SA, agree on its keys and delete the IKE SA. In-process, no
 * root. The example imports 'pqike' and 'pqike/wire' as an embedder does; here they are
 * resolved through the package's `exports` to this build's modules (the example is transpiled
 * by TypeScript and its specifiers rewritten; test/package/pack.test.ts type-checks and runs it
 * against the installed package).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled tree this test belongs to (dist/, or another --outDir) and the repository. */
const built = resolve(here, '..', '..');
const root = resolve(built, '..');

/**
 * examples/embed.ts as JavaScript whose 'pqike' imports lead to this build: each specifier
 * through package.json's `exports` ('./dist/src/...' there, the same path under `built` here).
 */
function exampleModule(dir: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { default: string }> };
  const source = readFileSync(join(root, 'examples', 'embed.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  const rewritten = js.replace(/from '(pqike(?:\/[a-z]+)?)'/g, (_m, spec: string) => {
    const target = pkg.exports[spec === pkg.name ? '.' : `.${spec.slice(pkg.name.length)}`];
    const file = typeof target === 'string' ? target : target?.default;
    assert.ok(file?.startsWith('./dist/'), `exports of '${spec}'`);
    return `from '${pathToFileURL(join(built, file.slice('./dist/'.length))).href}'`;
  });
  assert.doesNotMatch(rewritten, /from 'pqike/, 'every pqike import rewritten');
  const out = join(dir, 'embed.mjs');
  writeFileSync(out, rewritten);
  return out;
}

test('examples/embed.ts: hybrid IKE SA and Child SA over UDP on 127.0.0.1, then deleted', { timeout: 60_000 }, async (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'log', (...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  });
  const dir = mkdtempSync(join(tmpdir(), 'pqike-embed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The example runs at its top level and throws if anything fails.
  await import(pathToFileURL(exampleModule(dir)).href);
  t.mock.restoreAll();
  const text = lines.join('\n');
  for (const peer of ['moon', 'sun']) {
    assert.match(text, new RegExp(`^${peer}: IKE SA #\\d+ up with \\S+: AES_GCM_16-256/.*, key exchanges \\S+ \\+ \\S+$`, 'm'), text);
    assert.match(text, new RegExp(`^${peer}: Child SA 'net' up, SPIs [0-9a-f]{8}_i [0-9a-f]{8}_o$`, 'm'), text);
    assert.match(text, new RegExp(`^${peer}: install ESP SA in spi [0-9a-f]{8}`, 'm'), text);
    assert.match(text, new RegExp(`^${peer}: IKE SA #\\d+ down`, 'm'), text);
  }
  assert.match(text, /^both peers derived the same Child SA keys$/m);
  assert.doesNotMatch(text, /failed|\[error\]/, text);
  for (const l of lines) console.log(`  ${l}`);
});

test("the README's 'Embedding the engine' code is an excerpt of examples/embed.ts", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Embedding the engine\n'));
  assert.ok(section.length > 30, 'the README has the section');
  const block = /```ts\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.ok(block !== undefined, 'with a TypeScript block');
  const example = new Set(readFileSync(join(root, 'examples', 'embed.ts'), 'utf8').split('\n').map((l) => l.trim()));
  const missing = block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== '...' && !example.has(l));
  assert.deepEqual(missing, [], 'README lines that are not in examples/embed.ts');
});
