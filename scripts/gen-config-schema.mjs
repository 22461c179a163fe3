#!/usr/bin/env node
// Writes schema/pqike.schema.json and schema/pqike-secrets.schema.json from the configuration
// description (src/daemon/config-schema.ts) through the compiled generator. Run after a build:
//
//   npx tsc -p . && node scripts/gen-config-schema.mjs          # write the files
//   node scripts/gen-config-schema.mjs --check                   # exit 1 if they differ
//   node scripts/gen-config-schema.mjs --dist dist-other         # another tsc output directory
//
// test/unit/config-schema.test.ts fails while the checked-in files differ from the generator's.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const distAt = args.indexOf('--dist');
const dist = resolve(root, distAt >= 0 ? (args[distAt + 1] ?? 'dist') : 'dist');
const generator = join(dist, 'src/daemon/config-json-schema.js');
if (!existsSync(generator)) {
  console.error(`gen-config-schema: ${generator} is missing; build first (npx tsc -p .)`);
  process.exit(2);
}
const { schemaFiles } = await import(pathToFileURL(generator).href);
let stale = 0;
for (const { path, text } of schemaFiles()) {
  const file = join(root, path);
  const now = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (now === text) {
    console.log(`${path}: up to date`);
    continue;
  }
  if (check) {
    console.error(`${path}: differs from the description; run node scripts/gen-config-schema.mjs`);
    stale++;
    continue;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`${path}: written`);
}
process.exit(stale > 0 ? 1 : 0);
