#!/usr/bin/env node
// Test runner for pqike (plain JS, no dependencies). Run after `tsc -p .`.
//
// 1. All compiled tests (dist/test/**/*.test.js) with the current node: the in-process ones
//    (dist/test/{unit,vectors,engine,fuzz}: a virtual clock, no peers, no fixed ports; the few
//    that touch the kernel use namespaces named by their pid and sockets on port 0) as many
//    files at a time as the machine has processors, then the others serially
//    (--test-concurrency=1: interop tests share machine resources).
// 2. If PQIKE_NODE22 is set, or .node22/node_modules/node/bin/node exists, the in-process
//    tests (dist/test/{unit,vectors,engine}/**) again with that node (Node 22, the LTS most
//    installations run), also as many at a time as there are processors.
// 3. If PQIKE_NODE24 is set, or .node24/node_modules/node/bin/node exists, the
//    non-interop tests (dist/test/{unit,vectors,engine}/**, as in 2) and then, serially, the
//    userspace data plane's daemon tests again with that node.
//
// Every run uses the TAP reporter. Their output is passed through, except each
// run's closing summary block, which is held back; at the end the runner
// prints which Node versions ran what, then one summary block in node's own
// format (`# tests`, `# pass`, `# fail`, ...) with the counts of all runs
// added up, so those are the last lines. Just before it, every failed test
// is listed again (its path of subtest names, location, failure type and the
// first lines of its error), because a CI log is often read from its tail.
// Exit status is non-zero if any run failed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const distTest = join(root, 'dist', 'test');
const SECOND_PASS_DIRS = ['unit', 'vectors', 'engine'];
// Test files that share nothing with each other (see 1. above), so several can run at once (one process per file).
const IN_PROCESS_DIRS = [...SECOND_PASS_DIRS, 'fuzz'];
const CONCURRENCY = Math.max(1, availableParallelism());
// And, of the interop tests, the daemons carrying traffic on the userspace data plane: koffi,
// worker threads and native ML-KEM behave differently on Node 24 (the daemons run on the node
// that runs the test).
const SECOND_PASS_INTEROP = ['interop/userspace-plane.test.js', 'interop/demo-netns.test.js'];
const SUMMARY_KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];
const SUMMARY_RE = new RegExp(`^# (${SUMMARY_KEYS.join('|')}) (\\d+(?:\\.\\d+)?)\\s*$`);

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

function nodeVersion(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Run node --test, streaming output but holding back the top-level summary block. */
function runNodeTest(bin, files, label, concurrency = 1) {
  return new Promise((resolvePromise) => {
    const args = ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=tap', ...files];
    console.log(`[run-tests] ${label}: ${bin} ${args.slice(0, 3).join(' ')} <${files.length} files>`);
    const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const summary = {};
    const failures = [];
    const names = []; // the `# Subtest:` names open at each nesting level (4 spaces per level)
    let failing = null; // the failure whose YAML block is being read
    let held = [];
    let buf = '';
    const onLine = (line) => {
      collectFailure(line);
      const m = SUMMARY_RE.exec(line);
      if (m) {
        summary[m[1]] = Number(m[2]);
        held.push(line);
        return;
      }
      // A summary-looking block followed by more output was not the final one.
      if (held.length > 0) {
        for (const h of held) process.stdout.write(h + '\n');
        held = [];
      }
      process.stdout.write(line + '\n');
    };
    function collectFailure(line) {
      const indent = line.length - line.trimStart().length;
      const level = Math.floor(indent / 4);
      const body = line.trimStart();
      if (failing) {
        if (body === '...' && indent === failing.indent + 2) {
          if (failing.type !== 'subtestsFailed') failures.push(failing);
          failing = null;
        } else {
          const y = line.slice(failing.indent + 2);
          const type = /^failureType: '?([^']*)'?$/.exec(y);
          if (type) failing.type = type[1];
          failing.yaml.push(y);
        }
        return;
      }
      const sub = /^# Subtest: (.*)$/.exec(body);
      if (sub) {
        names.length = level;
        names[level] = sub[1];
        return;
      }
      const bad = /^not ok \d+ - (.*?)(?: # .*)?$/.exec(body);
      if (bad) {
        const path = [...names.slice(0, level), bad[1]];
        failing = { indent, path, yaml: [], type: '' };
        return;
      }
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.on('error', (err) => {
      console.log(`[run-tests] ${label}: cannot start ${bin}: ${err.message}`);
      resolvePromise({ label, code: 1, summary: {}, failures: [] });
    });
    child.on('close', (code, signal) => {
      if (buf) onLine(buf);
      if (signal) console.log(`[run-tests] ${label}: killed by ${signal}`);
      resolvePromise({ label, code: code ?? 1, summary, failures: failures.map(describeFailure) });
    });
  });
}

/** A failed test in a few lines: its path of names, then location, failure type and error from its YAML block. */
function describeFailure(f) {
  const out = [`not ok: ${f.path.join(' > ')}`];
  let inError = false;
  let errorLines = 0;
  for (const y of f.yaml) {
    const key = /^(\w+): ?(.*)$/.exec(y);
    if (key) {
      inError = key[1] === 'error';
      if (key[1] === 'location' || key[1] === 'failureType' || key[1] === 'code') out.push(`  ${key[1]}: ${key[2]}`);
      else if (inError && key[2] && !/^[|>]-?$/.test(key[2])) out.push(`  error: ${key[2]}`);
      continue;
    }
    if (inError && errorLines < 6 && y.trim() !== '') {
      out.push(`  ${y.trim()}`.slice(0, 300));
      errorLines++;
    }
  }
  return out;
}

const allFiles = findTests(distTest);
if (allFiles.length === 0) {
  console.log(`[run-tests] no test files under ${relative(root, distTest)} (did tsc run?)`);
  process.exit(1);
}
const inProcess = (f) => IN_PROCESS_DIRS.some((d) => f.startsWith(join(distTest, d) + sep));
const secondFiles = SECOND_PASS_DIRS.flatMap((d) => findTests(join(distTest, d)));
const secondInterop = SECOND_PASS_INTEROP.map((f) => join(distTest, f)).filter((f) => existsSync(f));

const results = [];
const ran = [];
const here = process.execPath;
const hereVersion = process.version;
const firstInProcess = allFiles.filter(inProcess);
const firstSerial = allFiles.filter((f) => !inProcess(f));
// (node --test without files would look for tests itself: a group that is empty is not run.)
if (firstInProcess.length > 0) results.push(await runNodeTest(here, firstInProcess, `node ${hereVersion}, in-process tests, ${CONCURRENCY} at a time`, CONCURRENCY));
if (firstSerial.length > 0) results.push(await runNodeTest(here, firstSerial, `node ${hereVersion}, the other tests, one at a time`));
ran.push(`node ${hereVersion}: all ${allFiles.length} test files (${firstInProcess.length} in-process, ${CONCURRENCY} at a time)`);

/** The other Node versions: their in-process tests (and, on 24, the userspace data plane) once more. */
const OTHER_NODES = [
  { major: 22, env: 'PQIKE_NODE22', files: secondFiles, serial: [], what: SECOND_PASS_DIRS.join(', ') },
  { major: 24, env: 'PQIKE_NODE24', files: secondFiles, serial: secondInterop, what: [...SECOND_PASS_DIRS, ...SECOND_PASS_INTEROP].join(', ') },
];
for (const other of OTHER_NODES) {
  const defaultBin = join(root, `.node${other.major}`, 'node_modules', 'node', 'bin', 'node');
  const bin = process.env[other.env] || (existsSync(defaultBin) ? defaultBin : null);
  if (!bin) {
    ran.push(`Node ${other.major}: not configured (set ${other.env} or install into .node${other.major})`);
    continue;
  }
  const v = nodeVersion(bin);
  if (!v) {
    console.log(`[run-tests] Node ${other.major} (${bin}) does not run`);
    results.push({ label: `node ${other.major} ${bin}`, code: 1, summary: {} });
    ran.push(`${bin}: FAILED TO START`);
  } else if (other.files.length === 0 && other.serial.length === 0) {
    ran.push(`node ${v}: skipped (no tests under dist/test/{${SECOND_PASS_DIRS.join(',')}})`);
  } else {
    if (!v.startsWith(`v${other.major}.`)) console.log(`[run-tests] note: ${other.env} (${bin}) is Node ${v}, not ${other.major}`);
    if (other.files.length > 0) results.push(await runNodeTest(bin, other.files, `node ${v}, ${SECOND_PASS_DIRS.join(', ')}, ${CONCURRENCY} at a time`, CONCURRENCY));
    if (other.serial.length > 0) results.push(await runNodeTest(bin, other.serial, `node ${v}, ${SECOND_PASS_INTEROP.join(', ')}`));
    ran.push(`node ${v}: ${other.files.length + other.serial.length} test files (${other.what})`);
  }
}

console.log('');
console.log('[run-tests] Node versions that ran:');
for (const r of ran) console.log(`[run-tests]   ${r}`);
for (const r of results) {
  const s = r.summary;
  console.log(`[run-tests]   ${r.label}: exit ${r.code}, pass ${s.pass ?? '?'}, fail ${s.fail ?? '?'}, skipped ${s.skipped ?? '?'}`);
}
const failed = results.filter((r) => r.code !== 0);
const failedTests = results.flatMap((r) => (r.failures ?? []).map((lines) => ({ label: r.label, lines })));
if (failedTests.length > 0) {
  console.log(`[run-tests] failed tests (${failedTests.length}):`);
  for (const f of failedTests.slice(0, 12)) {
    console.log(`[run-tests] ${f.label}:`);
    for (const l of f.lines) console.log(`[run-tests]   ${l}`);
  }
  if (failedTests.length > 12) console.log(`[run-tests] … and ${failedTests.length - 12} more (listed above as not ok)`);
}
const total = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, 0]));
for (const r of results) for (const k of SUMMARY_KEYS) total[k] += r.summary[k] ?? 0;
// A run that died without a summary still has to show up as a failure.
const missing = results.filter((r) => r.code !== 0 && !(r.summary.fail > 0)).length;
total.fail += missing;
total.tests += missing;
console.log(failed.length ? `[run-tests] FAILED: ${failed.map((r) => r.label).join('; ')}` : '[run-tests] all runs passed');
for (const k of SUMMARY_KEYS) {
  const v = k === 'duration_ms' ? Number(total[k].toFixed(3)) : total[k];
  console.log(`# ${k} ${v}`);
}
process.exit(failed.length ? 1 : 0);
