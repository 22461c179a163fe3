/**
 * The JSON Schemas of pqike.yaml and of the secrets file (schema/*.schema.json) and the
 * description they and the validator are made from (src/daemon/config-schema.ts): the
 * checked-in schemas are what the generator makes now; every example file names its schema
 * in a yaml-language-server modeline and is valid against it; every key the schema has is
 * accepted by the validator with the description's example (and valid in the schema), a key
 * the schema lacks is refused by both, and values the validator refuses are refused by the
 * schema as well. The schema is checked by a small validator of exactly the JSON Schema
 * keywords the generator writes (a keyword it does not know fails the test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parse, parseDocument, stringify } from 'yaml';
import { ConfigError, Problems, Section, loadConfig } from '../../src/daemon/config.js';
import { CHILD, CONFIG_FILE, CONNECTION, SECRETS_FILE } from '../../src/daemon/config-schema.js';
import type { SectionSpec } from '../../src/daemon/config-schema.js';
import { configJsonSchema, schemaFiles, secretsJsonSchema } from '../../src/daemon/config-json-schema.js';
import type { JsonSchema } from '../../src/daemon/config-json-schema.js';
import { isMap } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

// ---- a validator of the JSON Schema subset the generator writes ----

/** Keywords that constrain (the validator below implements each) and those that only annotate. */
const CHECKED = new Set(['type', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'properties', 'additionalProperties', 'propertyNames', 'required', 'anyOf', 'items', 'maxItems', 'not']);
const ANNOTATIONS = new Set(['$schema', '$comment', 'title', 'description', 'default', 'examples', 'enumDescriptions', 'deprecationMessage']);

function keywordsUsed(s: JsonSchema, out = new Set<string>()): Set<string> {
  for (const [k, v] of Object.entries(s)) {
    out.add(k);
    if (k === 'properties') for (const sub of Object.values(v as Record<string, JsonSchema>)) keywordsUsed(sub, out);
    else if (k === 'anyOf') for (const sub of v as JsonSchema[]) keywordsUsed(sub, out);
    else if ((k === 'additionalProperties' && typeof v === 'object') || k === 'items' || k === 'not' || k === 'propertyNames') keywordsUsed(v as JsonSchema, out);
  }
  return out;
}

function typeOf(v: unknown): string[] {
  if (v === null) return ['null'];
  if (Array.isArray(v)) return ['array'];
  if (typeof v === 'number') return Number.isInteger(v) ? ['number', 'integer'] : ['number'];
  return [typeof v];
}

/** Problems of `v` against `s`, as "path: what" lines; [] if valid. */
function validate(s: JsonSchema, v: unknown, path = '$'): string[] {
  const out: string[] = [];
  if (s.type !== undefined) {
    const want = Array.isArray(s.type) ? s.type : [s.type];
    if (!typeOf(v).some((t) => want.includes(t))) return [`${path}: ${JSON.stringify(v)} is not ${want.join('/')}`];
  }
  if (s.enum && !s.enum.some((e) => e === v)) out.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof v === 'string' && s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) out.push(`${path}: '${v}' does not match ${s.pattern}`);
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.push(`${path}: ${v} < ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) out.push(`${path}: ${v} > ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) out.push(`${path}: ${v} <= ${s.exclusiveMinimum}`);
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems) out.push(`${path}: more than ${s.maxItems} items`);
    if (s.items) v.forEach((item, i) => out.push(...validate(s.items as JsonSchema, item, `${path}[${i}]`)));
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) out.push(`${path}: '${r}' is required`);
    for (const [k, sub] of Object.entries(o)) {
      if (s.propertyNames) out.push(...validate(s.propertyNames, k, `${path}.${k} (name)`));
      const known = s.properties?.[k];
      if (known) out.push(...validate(known, sub, `${path}.${k}`));
      else if (s.additionalProperties === false) out.push(`${path}: '${k}' is not allowed`);
      else if (typeof s.additionalProperties === 'object') out.push(...validate(s.additionalProperties, sub, `${path}.${k}`));
    }
  }
  if (s.anyOf && !s.anyOf.some((sub) => validate(sub, v, path).length === 0)) out.push(`${path}: matches none of anyOf`);
  if (s.not && validate(s.not, v, path).length === 0) out.push(`${path}: not allowed${s.deprecationMessage ? ` (${s.deprecationMessage})` : ''}`);
  return out;
}

test('the schema uses only the keywords the test validator implements (so the checks below mean what they say)', () => {
  for (const schema of [configJsonSchema(), secretsJsonSchema()]) {
    const unknown = [...keywordsUsed(schema)].filter((k) => !CHECKED.has(k) && !ANNOTATIONS.has(k));
    assert.deepEqual(unknown, []);
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#', 'draft-07: the YAML language server supports draft 7 and below');
  }
});

test('schema/*.schema.json are what the generator makes from the description (run node scripts/gen-config-schema.mjs after a change)', () => {
  for (const { path, text } of schemaFiles()) {
    const checkedIn = readFileSync(join(ROOT, path), 'utf8');
    assert.ok(checkedIn === text, `${path} differs from the description in src/daemon/config-schema.ts; run: npx tsc -p . && node scripts/gen-config-schema.mjs`);
  }
});

const SCHEMAS: Record<string, JsonSchema> = { 'pqike.schema.json': configJsonSchema(), 'pqike-secrets.schema.json': secretsJsonSchema() };

test('every examples/*.yaml names its schema in a yaml-language-server modeline and is valid against it', () => {
  const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('pqike.yaml') && files.includes('secrets.yaml'), files.join(', '));
  for (const f of files) {
    const text = readFileSync(join(ROOT, 'examples', f), 'utf8');
    const m = /^# yaml-language-server: \$schema=\.\.\/schema\/([\w.-]+)$/m.exec(text.split('\n')[0] ?? '');
    assert.ok(m, `examples/${f}: the first line must be # yaml-language-server: $schema=../schema/<file>`);
    const name = m[1] ?? '';
    const schema = SCHEMAS[name];
    assert.ok(schema, `examples/${f} names ${name}, which the generator does not make`);
    readFileSync(join(ROOT, 'schema', name), 'utf8');
    assert.deepEqual(validate(schema, parse(text)), [], `examples/${f}`);
  }
});

// ---- the schema and the validator accept the same keys ----

const GOOD = {
  secrets: 'secrets.yaml',
  connections: {
    gw: {
      local_addrs: '192.0.2.1',
      remote_addrs: '192.0.2.2',
      local_id: 'moon.example.org',
      remote_id: 'sun.example.org',
      psk: 'site-b',
      children: { net: { local_ts: ['10.1.0.0/16'], remote_ts: ['10.2.0.0/16'] } },
    },
  },
};
type Doc = Record<string, unknown>;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-schema-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secrets = join(dir, 'secrets.yaml');
  writeFileSync(secrets, stringify({ psk: { 'site-b': 'a-long-random-test-key-0123456789', roadwarriors: 'another-long-random-test-key-0123' }, ppk: { 'site-b-ppk': `0x${'ab'.repeat(32)}` }, passphrase: { 'moon-key': 'secret passphrase' } }));
  chmodSync(secrets, 0o600);
  return dir;
}

function problemsOf(dir: string, doc: Doc): readonly string[] {
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, stringify(doc));
  try {
    loadConfig(file);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** Every key of the description with its path from the top of the file ('*' for a map's entry). */
function keyPaths(spec: SectionSpec, at: readonly string[] = []): { path: string[]; example: unknown; kind: string; pubkey: boolean }[] {
  return spec.keys.flatMap((k) => {
    const path = [...at, k.key];
    if (k.kind.type === 'section') return keyPaths(k.kind.section, path);
    if (k.kind.type === 'map' && k.kind.values.type === 'section') return keyPaths(k.kind.values.section, [...path, '*']);
    return [{ path, example: k.example, kind: k.kind.type, pubkey: k.pubkey === true }];
  });
}

/** The schema's key paths, walked the same way. */
function schemaPaths(s: JsonSchema, at: readonly string[] = []): string[] {
  return Object.entries(s.properties ?? {}).flatMap(([k, sub]) => {
    const path = [...at, k];
    if (sub.properties) return schemaPaths(sub, path);
    if (typeof sub.additionalProperties === 'object' && sub.additionalProperties.properties) return schemaPaths(sub.additionalProperties, [...path, '*']);
    return [path.join('.')];
  });
}

test('the description and the schemas list the same keys, every key with a description and (for values) an example', () => {
  const described = keyPaths(CONFIG_FILE).map((k) => k.path.join('.'));
  assert.deepEqual(schemaPaths(configJsonSchema()), described);
  assert.deepEqual(schemaPaths(secretsJsonSchema()), keyPaths(SECRETS_FILE).map((k) => k.path.join('.')));
  assert.equal(new Set(described).size, described.length);
  for (const k of keyPaths(CONFIG_FILE)) {
    if (k.kind !== 'map' && k.kind !== 'moved') assert.notEqual(k.example, undefined, `${k.path.join('.')} has no example`);
  }
  const walk = (s: SectionSpec): void => {
    for (const k of s.keys) {
      assert.ok(k.description.length > 10, `${k.key}: no description`);
      if (k.kind.type === 'section') walk(k.kind.section);
      if (k.kind.type === 'map' && k.kind.values.type === 'section') walk(k.kind.values.section);
    }
  };
  walk(CONFIG_FILE);
  walk(SECRETS_FILE);
  // The sections the validator reads are the ones described.
  assert.ok(schemaPaths(configJsonSchema()).includes('connections.*.children.*.rekey_bytes'));
  assert.equal(CONNECTION.keys.find((k) => k.key === 'children')?.kind.type, 'map');
  assert.ok(CHILD.keys.some((k) => k.key === 'esp_proposals'));
});

/** `doc` with the key at `path` set to `value` ('*' is the first entry of a map, made if missing). */
function withKey(doc: Doc, path: readonly string[], value: unknown): Doc {
  const copy = structuredClone(doc);
  let at: Doc = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i] === '*' ? (Object.keys(at)[0] ?? 'x') : (path[i] ?? '');
    at[seg] ??= {};
    at = at[seg] as Doc;
  }
  at[path.at(-1) ?? ''] = value;
  return copy;
}

test('every key of the schema, set to its example, is accepted by the validator and valid in the schema', (t) => {
  const dir = tempDir(t);
  const schema = configJsonSchema();
  assert.deepEqual(problemsOf(dir, GOOD), []);
  assert.deepEqual(validate(schema, GOOD), []);
  for (const k of keyPaths(CONFIG_FILE)) {
    const name = k.path.join('.');
    if (k.kind === 'moved') {
      const doc = withKey(GOOD, k.path, 'kernel');
      assert.ok(problemsOf(dir, doc).some((p) => /move it to the top level/.test(p)), name);
      assert.ok(validate(schema, doc).some((p) => /not allowed/.test(p)), `${name}: the schema should refuse it too`);
      continue;
    }
    // What an example names must exist: the pool rw (with its addresses), the PPK for RFC 9867.
    const withPool = withKey(withKey(GOOD, ['pools', 'rw', 'addrs'], '10.3.0.0/24'), ['connections', 'gw', 'pools'], ['rw']);
    let doc = withKey(k.path[0] === 'pools' || name === 'connections.*.pools' ? withPool : GOOD, k.path, k.example);
    if (name === 'connections.*.ppk_intermediate') doc = withKey(doc, ['connections', 'gw', 'ppk_id'], 'site-b-ppk');
    assert.deepEqual(validate(schema, doc), [], `${name}: ${JSON.stringify(k.example)} in the schema`);
    if (k.pubkey) {
      // Certificates are not made here: what is left must be about the files, not the keys.
      const list = problemsOf(dir, withKey(doc, ['connections', 'gw', 'auth'], 'pubkey'));
      assert.ok(list.length > 0 && list.every((p) => !/unknown setting|must be a|only with auth/.test(p)), `${name}:\n${list.join('\n')}`);
      continue;
    }
    assert.deepEqual(problemsOf(dir, doc), [], `${name}: ${JSON.stringify(k.example)}`);
  }
});

test('a key the schema lacks is refused by the validator ("did you mean") and by the schema, in every section', (t) => {
  const dir = tempDir(t);
  const schema = configJsonSchema();
  const sections: string[][] = [[], ['log'], ['control'], ['metrics'], ['limits'], ['userspace'], ['connections', 'gw'], ['connections', 'gw', 'children', 'net'], ['pools', 'rw']];
  for (const at of sections) {
    let doc = withKey(GOOD, [...at, 'rekey_tme'], '1h');
    if (at[0] === 'pools') doc = withKey(doc, ['pools', 'rw', 'addrs'], '10.3.0.0/24');
    const list = problemsOf(dir, doc);
    assert.ok(list.some((p) => /unknown setting 'rekey_tme'/.test(p)), `${at.join('.')}: ${list.join('\n')}`);
    assert.ok(validate(schema, doc).some((p) => /'rekey_tme' is not allowed/.test(p)), at.join('.'));
  }
});

test('the validator reads only described keys, each through the accessor of its kind', () => {
  const lines = new LineCounter();
  const doc = parseDocument('rekey_time: 1h\nmode: tunnel\n', { lineCounter: lines });
  assert.ok(isMap(doc.contents));
  const s = new Section(CHILD, doc.contents, 'child', new Problems('f', lines));
  assert.throws(() => s.string('nosuch'), /configuration description: no key 'nosuch'/);
  assert.throws(() => s.bool('rekey_time'), /described as duration, read as bool/);
  assert.equal(s.string('rekey_time'), '1h');
  assert.equal(s.choice('mode'), 'tunnel');
});

interface Bad {
  readonly name: string;
  readonly path: readonly string[];
  readonly value: unknown;
}

const BAD: readonly Bad[] = [
  { name: 'an unknown enum word', path: ['connections', 'gw', 'children', 'net', 'start_action'], value: 'begin' },
  { name: 'dpd_action', path: ['connections', 'gw', 'children', 'net', 'dpd_action'], value: 'reconnect' },
  { name: 'mode', path: ['connections', 'gw', 'children', 'net', 'mode'], value: 'tunel' },
  { name: 'data_plane', path: ['data_plane'], value: 'xfrm' },
  { name: 'log level', path: ['log', 'level'], value: 'verbose' },
  { name: 'auth', path: ['connections', 'gw', 'auth'], value: 'cert' },
  { name: 'childless', path: ['connections', 'gw', 'childless'], value: 'yes' },
  { name: 'a duration in words', path: ['connections', 'gw', 'dpd_delay'], value: '30 seconds' },
  { name: 'a zero retry delay', path: ['connections', 'gw', 'retry_delay'], value: 0 },
  { name: 'a limits duration of 0', path: ['limits', 'cookie_lifetime'], value: 'off' },
  { name: 'a limits count of 0', path: ['limits', 'cookie_threshold'], value: 0 },
  { name: 'a port out of range', path: ['port'], value: 99999 },
  { name: 'a remote port out of range', path: ['connections', 'gw', 'remote_port'], value: 0 },
  { name: 'a negative keyingtries', path: ['connections', 'gw', 'keyingtries'], value: -1 },
  { name: 'a fragment size too small', path: ['connections', 'gw', 'fragment_size'], value: 100 },
  { name: 'an MTU too large', path: ['userspace', 'mtu'], value: 65000 },
  { name: 'a TUN name too long', path: ['userspace', 'tun'], value: 'a-name-far-too-long' },
  { name: 'a yes/no that is neither', path: ['connections', 'gw', 'fragmentation'], value: 'maybe' },
  { name: 'a list for a single value', path: ['connections', 'gw', 'local_id'], value: ['a.example', 'b.example'] },
  { name: 'two local addresses', path: ['connections', 'gw', 'local_addrs'], value: ['192.0.2.1', '192.0.2.3'] },
  { name: 'a mapping for a list', path: ['connections', 'gw', 'proposals'], value: { a: 'b' } },
  { name: 'a list for a section', path: ['connections', 'gw', 'children'], value: ['net'] },
  { name: 'a bad connection name', path: ['connections', 'g w'], value: { remote_addrs: '192.0.2.2', psk: 'site-b', local_id: 'a.example' } },
  { name: 'a bad metrics.listen', path: ['metrics', 'listen'], value: 'localhost' },
];

for (const b of BAD) {
  test(`refused by the validator and by the schema: ${b.name}`, (t) => {
    const dir = tempDir(t);
    const doc = withKey(GOOD, b.path, b.value);
    assert.ok(problemsOf(dir, doc).length > 0, 'the validator accepts it');
    assert.ok(validate(configJsonSchema(), doc).length > 0, 'the schema accepts it');
  });
}

test('the secrets schema: the example secrets are valid, an unknown section and a bad PPK_ID are refused, as by the validator', (t) => {
  const schema = secretsJsonSchema();
  assert.deepEqual(validate(schema, { psk: { a: 'x'.repeat(20) }, ppk: { 'id-1': `0x${'ab'.repeat(32)}` }, passphrase: { k: 'p' } }), []);
  assert.ok(validate(schema, { psks: { a: 'b' } }).length > 0);
  assert.ok(validate(schema, { ppk: { 'bad id!': `0x${'ab'.repeat(32)}` } }).length > 0);
  const dir = tempDir(t);
  writeFileSync(join(dir, 'secrets.yaml'), stringify({ psks: { 'site-b': 'a-long-random-test-key-0123456789' } }));
  const list = problemsOf(dir, GOOD);
  assert.ok(list.some((p) => /unknown setting 'psks' in secrets \(did you mean 'psk'\?\)/.test(p)), list.join('\n'));
});

test('docs/config-side-by-side.md: every pqike.yaml and secrets.yaml block is valid against its schema, and the PSK ones load', (t) => {
  const doc = readFileSync(join(ROOT, 'docs/config-side-by-side.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const configs = blocks.filter((b) => b.startsWith('# pqike.yaml'));
  const secrets = blocks.filter((b) => b.startsWith('# secrets.yaml'));
  assert.ok(configs.length >= 5 && secrets.length >= 2, `${configs.length} pqike.yaml and ${secrets.length} secrets.yaml blocks`);
  assert.deepEqual(blocks.filter((b) => !configs.includes(b) && !secrets.includes(b)).map((b) => b.split('\n')[0]), ['# yaml-language-server: $schema=../schema/pqike.schema.json'], 'each yaml block says which file it is');
  for (const b of secrets) assert.deepEqual(validate(secretsJsonSchema(), parse(b)), [], b);
  for (const b of configs) assert.deepEqual(validate(configJsonSchema(), parse(b)), [], b);
  // All the secrets blocks in one file; each PSK configuration loads with it.
  const dir = mkdtempSync(join(tmpdir(), 'pqike-doc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const merged: Record<string, Record<string, unknown>> = {};
  for (const b of secrets) for (const [k, v] of Object.entries(parse(b) as Record<string, Record<string, unknown>>)) merged[k] = { ...merged[k], ...v };
  writeFileSync(join(dir, 'secrets.yaml'), stringify(merged), { mode: 0o600 });
  let loaded = 0;
  for (const b of configs.filter((c) => !/auth: pubkey/.test(c))) {
    writeFileSync(join(dir, 'pqike.yaml'), b);
    try {
      loadConfig(join(dir, 'pqike.yaml'));
      loaded++;
    } catch (e) {
      assert.fail(`${e instanceof ConfigError ? e.problems.join('\n') : String(e)}\nin:\n${b}`);
    }
  }
  assert.ok(loaded >= 4, `${loaded} loaded`);
});

test('the defaults the schema shows are the ones a file that leaves the keys out gets', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, stringify(GOOD));
  const cfg = loadConfig(file);
  const schema = configJsonSchema();
  const top = schema.properties ?? {};
  const conn = (top['connections']?.additionalProperties as JsonSchema).properties ?? {};
  const child = ((conn['children']?.additionalProperties as JsonSchema).properties ?? {});
  const sub = (section: string, key: string): unknown => top[section]?.properties?.[key]?.default;
  assert.equal(sub('log', 'level'), cfg.log.level);
  assert.equal(sub('log', 'format'), cfg.log.format);
  assert.equal(sub('control', 'socket'), cfg.control.socket);
  assert.equal(top['port']?.default, cfg.port);
  assert.equal(top['data_plane']?.default, cfg.dataPlane);
  assert.equal(sub('userspace', 'tun'), cfg.userspace.tun);
  assert.equal(sub('userspace', 'mtu'), cfg.userspace.mtu);
  const c = cfg.connections[0]?.config;
  const ch = c?.children[0];
  assert.ok(c && ch);
  assert.equal(conn['remote_port']?.default, c.remotePort);
  assert.equal(conn['fragmentation']?.default, c.fragmentation);
  assert.equal(conn['childless']?.default, c.childless);
  assert.equal(conn['auth']?.default, 'psk');
  assert.ok(c.psk && !c.auth, 'psk authentication');
  assert.equal(child['mode']?.default, ch.mode);
  assert.equal(child['dpd_action']?.default, ch.dpdAction);
  assert.equal(child['close_action']?.default, ch.closeAction);
  assert.equal(child['start_action']?.default, cfg.connections[0]?.startActions.get('net'));
  // Lifetimes the engine applies, as the descriptions say: 4h and 1h, +10 %, 10 %.
  assert.match(conn['rekey_time']?.description ?? '', /Default: 4h\./);
  assert.equal(c.ikeRekeyTimeMs, 4 * 3_600_000);
  assert.match(child['rekey_time']?.description ?? '', /Default: 1h\./);
  assert.equal(ch.rekeyTimeMs, 3_600_000);
  assert.equal(ch.lifeTimeMs, 3_960_000);
  assert.equal(ch.randTimeMs, 360_000);
});
