#!/usr/bin/env node
// Long snapshot-fuzz run of the engine, outside CI (the CI slice is test/fuzz/structure-fuzz.test.ts).
//
// Every stream of test/fuzz/harness.ts — one exchange type and role each: IKE_SA_INIT,
// IKE_INTERMEDIATE (also fragmented), IKE_AUTH, CREATE_CHILD_SA (new Child SA, Child SA rekey,
// IKE SA rekey), IKE_FOLLOWUP_KE, INFORMATIONAL; the request as the responder sees it (.req)
// and the response as the initiator sees it (.resp) — gets variants 0, 1, 2, ... until it has
// --per-stream of them. Variant i of stream s is a pure function of (seed, s, i): byte mutations
// of the plaintext re-sealed with the live keys, of the raw datagram, or a structure-aware
// message from the payload grammar; each runs on a clone of the receiving engine's snapshot.
//
// Usage (after `npx tsc -p .`; any Node >= 20, the Node 24 in .node24 is about 1.5x faster):
//   node scripts/fuzz-long.mjs [options]
//     --per-stream N     variants per stream (default 10000000)
//     --per-exchange N   instead: at least N variants for each exchange type and role, split
//                        over the streams of that exchange and role (e.g. CREATE_CHILD_SA
//                        requests are six streams: new Child SA, rekeys, collisions, reverse)
//     --workers K        worker processes (default 2)
//     --seed S           run seed (default the harness's DEFAULT_SEED; must match to resume)
//     --progress FILE    progress file (default <tmpdir>/pqike-fuzz-long/progress.json);
//                        re-running with the same file continues where the last run stopped
//     --out DIR          where findings are written (default: the progress file's directory)
//     --streams a,b      only these streams (default all); --list prints them
//     --batch B          variants per work unit (default 20000)
//     --hang-ms MS       a worker silent this long is hung: killed, the batch bisected (default 60000)
//     --dist DIR         the compiled tree to fuzz (default <repo>/dist; copy it first if others
//                        rebuild dist/ while the run goes on)
//     --stack            keep stack traces in the workers (slower)
//     --max-minutes M    stop (resumably) after M minutes
//     --code LABEL       name of the code under test in the progress file (default: git commit)
//   node scripts/fuzz-long.mjs --replay FILE.json     run one saved reproducer again
//   node scripts/fuzz-long.mjs --regen STREAM INDEX [--seed S]   regenerate a variant and run it
//
// Progress (per stream: variants done, milliseconds, outcome counts) is saved every 10 s, and
// on SIGINT/SIGTERM (stop a background run with `kill -TERM $(cat <progress>.pid)`: the
// runner writes its process ID there, and refuses to start while another one runs on the same
// file); findings are saved as reproducers <out>/findings/<stream>-<index>-<kind>.json
// (seed, stream, index, variant kind, message, datagrams in hex; the first few of each class
// in each stream)
// and summarised by class in the progress file. A worker that stops reporting for --hang-ms or
// dies is replaced; its batch is re-run one variant at a time to pin the variant down, which is
// recorded as a 'hang' or 'crash' finding and skipped. Exit status 1 if there are findings.
import { fork } from 'node:child_process';

// RFC 7296 §3.1, RFC 9242 §3, RFC 9370 §3.2.
const EXCHANGE_NAMES = { 34: 'IKE_SA_INIT', 35: 'IKE_AUTH', 36: 'CREATE_CHILD_SA', 37: 'INFORMATIONAL', 43: 'IKE_INTERMEDIATE', 44: 'IKE_FOLLOWUP_KE' };
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

function parseArgs(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      o._.push(a);
      continue;
    }
    const key = a.slice(2);
    if (['stack', 'list', 'child'].includes(key)) o[key] = true;
    else if (key === 'regen') {
      o.regen = [argv[i + 1], argv[i + 2]];
      i += 2;
    } else o[key] = argv[++i];
  }
  return o;
}

const args = parseArgs(process.argv.slice(2));
const dist = resolve(args.dist ?? join(root, 'dist'));
const harnessUrl = pathToFileURL(join(dist, 'test', 'fuzz', 'harness.js')).href;

// ---- worker -------------------------------------------------------------------------------

if (args.child) {
  if (!args.stack) Error.stackTraceLimit = 0;
  const h = await import(harnessUrl);
  const inj = /^(hang|crash):([^:]+):(\d+)$/.exec(process.env.PQIKE_FUZZ_INJECT ?? '');
  const inject = inj ? { what: inj[1], stream: inj[2], index: Number(inj[3]) } : undefined;
  process.on('message', (m) => {
    if (m.cmd !== 'run') return;
    const [s] = h.streams([m.stream]);
    const stats = h.emptyStats();
    const beatEvery = m.careful ? 1 : 256;
    let last = performance.now();
    for (let i = m.start; i < m.end; i += beatEvery) {
      const end = Math.min(m.end, i + beatEvery);
      process.send({ cmd: 'beat', id: m.id, index: i });
      if (inject && inject.stream === m.stream && inject.index >= i && inject.index < end) {
        // Self-test of the watchdog (PQIKE_FUZZ_INJECT=hang:STREAM:INDEX or crash:STREAM:INDEX).
        h.runRange(s, m.seed, i, inject.index, (f) => process.send({ cmd: 'finding', id: m.id, finding: f }), stats);
        if (inject.what === 'crash') process.exit(70);
        for (;;);
      }
      h.runRange(s, m.seed, i, end, (f) => process.send({ cmd: 'finding', id: m.id, finding: f }), stats);
      const now = performance.now();
      if (now - last > 5000) {
        last = now;
        process.send({ cmd: 'beat', id: m.id, index: end });
      }
    }
    process.send({ cmd: 'done', id: m.id, stats });
  });
  process.on('disconnect', () => process.exit(0)); // the runner is gone
  process.send({ cmd: 'ready', node: process.version });
} else {
  await main();
}

// ---- parent -------------------------------------------------------------------------------

function gitDescribe() {
  try {
    const opts = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] };
    const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src'], opts).trim() !== '';
    return dirty ? `${commit}+dirty-src` : commit;
  } catch {
    return 'unknown';
  }
}

function fmt(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function saveJson(file, value) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 1));
  renameSync(`${file}.tmp`, file);
}

function printOutcome(o) {
  console.log(`findings: ${o.findings.length}; reached the handler: ${o.reached}; answered: ${o.answered}; re-checked: ${o.recheck}; outcome: ${o.outcome}; ${o.ms.toFixed(1)} ms`);
  for (const f of o.findings) console.log(`  ${f.kind}: ${f.message}`);
}

async function main() {
  const h = await import(harnessUrl);
  if (args.list) {
    for (const s of h.STREAMS) console.log(`${s.name.padEnd(28)} ${s.description}`);
    return;
  }
  if (args.replay) {
    const r = JSON.parse(readFileSync(args.replay, 'utf8'));
    console.log(`replaying ${r.stream} index ${r.index} (${r.variant}, seed ${r.seed}): ${r.kind}: ${r.message}`);
    printOutcome(h.replay(r.stream, r.datagrams, r.variant, r.seed, r.index));
    return;
  }
  if (args.regen) {
    const [name, idx] = args.regen;
    const seed = Number(args.seed ?? h.DEFAULT_SEED);
    const [s] = h.streams([name]);
    const v = h.makeVariant(s, seed, Number(idx));
    console.log(`${name} index ${idx} seed ${seed}: ${v.kind} ${v.note}`);
    for (const d of v.datagrams) console.log(Buffer.from(d).toString('hex'));
    printOutcome(h.runVariant(s, v, seed, Number(idx)));
    return;
  }

  const perStream = Number(args['per-stream'] ?? 1e7);
  const perExchange = args['per-exchange'] === undefined ? undefined : Number(args['per-exchange']);
  const workers = Number(args.workers ?? 2);
  let batch = Number(args.batch ?? 20000);
  const hangMs = Number(args['hang-ms'] ?? 60000);
  const progressFile = resolve(args.progress ?? join(tmpdir(), 'pqike-fuzz-long', 'progress.json'));
  const outDir = resolve(args.out ?? dirname(progressFile));
  const maxMs = args['max-minutes'] ? Number(args['max-minutes']) * 60000 : Infinity;
  const names = args.streams ? String(args.streams).split(',') : h.STREAMS.map((s) => s.name);
  for (const n of names) if (!h.STREAMS.some((s) => s.name === n)) throw new Error(`unknown stream ${n}; --list shows them`);

  // One runner per progress file: <progress>.pid holds the running one's process ID.
  const pidFile = `${progressFile}.pid`;
  if (existsSync(pidFile)) {
    const other = Number(readFileSync(pidFile, 'utf8'));
    let alive = false;
    try {
      process.kill(other, 0);
      alive = other !== process.pid;
    } catch {
      alive = false;
    }
    if (alive) throw new Error(`${progressFile} is in use by process ${other} (stop it with: kill -TERM ${other})`);
  }
  mkdirSync(dirname(pidFile), { recursive: true });
  writeFileSync(pidFile, String(process.pid));
  process.on('exit', () => {
    try {
      if (Number(readFileSync(pidFile, 'utf8')) === process.pid) rmSync(pidFile);
    } catch {
      // already gone
    }
  });

  let progress;
  if (existsSync(progressFile)) {
    progress = JSON.parse(readFileSync(progressFile, 'utf8'));
    const seed = args.seed === undefined ? progress.seed : Number(args.seed);
    if (seed !== progress.seed) throw new Error(`${progressFile} is for seed ${progress.seed}, not ${seed}: use another --progress file`);
    console.log(`resuming ${progressFile} (seed ${progress.seed})`);
  } else {
    progress = { version: 1, seed: Number(args.seed ?? h.DEFAULT_SEED), created: new Date().toISOString(), streams: {}, findings: {}, runs: [] };
  }
  if (progress.batch !== undefined && progress.batch !== batch) {
    if (args.batch !== undefined) throw new Error(`${progressFile} was made with --batch ${progress.batch}`);
    batch = progress.batch;
  }
  progress.batch = batch;
  progress.perStream = perStream;
  if (perExchange !== undefined) progress.perExchange = perExchange;
  // The exchange type and role a stream belongs to (what --per-exchange counts).
  const groupOf = (n) => {
    const d = h.STREAMS.find((s) => s.name === n);
    return `${EXCHANGE_NAMES[d.exchange] ?? d.exchange} ${d.response ? 'response' : 'request'}`;
  };
  const groupSize = (g) => names.filter((n) => groupOf(n) === g).length;
  // Each stream's target, a whole number of batches when split per exchange.
  const targets = new Map(
    names.map((n) => [n, perExchange === undefined ? perStream : Math.ceil(perExchange / groupSize(groupOf(n)) / batch) * batch]),
  );
  const target = (n) => targets.get(n);
  const run = { started: new Date().toISOString(), node: process.version, workers, code: args.code ?? gitDescribe(), wallMs: 0, variants: 0 };
  progress.runs.push(run);
  for (const n of names) {
    progress.streams[n] ??= { doneUpTo: 0, extra: [], variants: 0, ms: 0, reached: 0, answered: 0, rechecks: 0, findings: 0, byKind: {}, outcomes: {} };
  }
  const seed = progress.seed;

  // Work units: batches [start, start + batch); `doneUpTo` is the first batch start not done,
  // `extra` the done batch starts above it; batches in flight are simply done again after an
  // interruption.
  const inFlight = new Map(); // `${stream}:${start}` → true
  const isDone = (st, start) => start < st.doneUpTo || st.extra.includes(start);
  const markDone = (st, start) => {
    st.extra.push(start);
    st.extra.sort((a, b) => a - b);
    while (st.extra.length > 0 && st.extra[0] === st.doneUpTo) {
      st.extra.shift();
      st.doneUpTo += batch;
    }
    while (st.extra.includes(st.doneUpTo)) {
      st.extra = st.extra.filter((x) => x !== st.doneUpTo);
      st.doneUpTo += batch;
    }
  };
  const countDone = (n) => {
    const st = progress.streams[n];
    return Math.min(target(n), st.doneUpTo + st.extra.length * batch);
  };
  function nextUnit() {
    // The stream with the fewest variants done (and assigned) goes first: all advance together.
    let best;
    for (const n of names) {
      const st = progress.streams[n];
      let start = st.doneUpTo;
      while (start < target(n) && (isDone(st, start) || inFlight.has(`${n}:${start}`))) start += batch;
      if (start >= target(n)) continue;
      // Fraction of its target done: streams advance together whatever their targets.
      const load = (countDone(n) + [...inFlight.keys()].filter((k) => k.startsWith(`${n}:`)).length * batch) / target(n);
      if (!best || load < best.load) best = { stream: n, start, load };
    }
    return best && { stream: best.stream, start: best.start, end: Math.min(target(best.stream), best.start + batch) };
  }

  // Findings: classes by signature; the first few reproducers of each class in each stream
  // are written out.
  const KEEP = 3;
  function record(f) {
    const sig = h.signature(f);
    const c = (progress.findings[sig] ??= { kind: f.kind, count: 0, streams: {}, reproducers: [] });
    c.count++;
    c.streams[f.stream] = (c.streams[f.stream] ?? 0) + 1;
    progress.streams[f.stream].findings++;
    if (c.streams[f.stream] <= KEEP) {
      const file = join(outDir, 'findings', `${f.stream}-${f.index}-${f.kind}.json`);
      saveJson(file, { ...f, signature: sig, node: process.version, code: run.code, found: new Date().toISOString() });
      c.reproducers.push(file);
      console.log(`\nFINDING ${f.kind} in ${f.stream} #${f.index} (${f.variant}): ${f.message}\n  -> ${file}`);
    }
  }
  function recordHang(kind, stream, index, why) {
    const [s] = h.streams([stream]);
    const v = h.makeVariant(s, seed, index);
    record({ kind, stream, index, seed, variant: v.kind, message: why, datagrams: v.datagrams.map((d) => Buffer.from(d).toString('hex')) });
  }

  const t0 = Date.now();
  let stopping = false;
  let variantsThisRun = 0;
  const pool = [];
  const careful = []; // units to re-run one variant at a time (after a hang or a crash)
  let nextId = 1;

  function save() {
    run.wallMs = Date.now() - t0;
    run.variants = variantsThisRun;
    progress.updated = new Date().toISOString();
    saveJson(progressFile, progress);
  }

  function spawnWorker() {
    const execArgv = ['--max-old-space-size=2048'];
    const child = fork(fileURLToPath(import.meta.url), ['--child', '--dist', dist, ...(args.stack ? ['--stack'] : [])], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w = { child, unit: undefined, beat: Date.now(), index: 0, ready: false, dead: false };
    child.on('message', (m) => onMessage(w, m));
    child.on('exit', (code, signal) => onExit(w, code, signal));
    pool.push(w);
    return w;
  }

  function assign(w) {
    if (stopping || w.dead || !w.ready) return;
    let unit = careful.shift();
    if (!unit) unit = nextUnit();
    if (!unit) return;
    unit.id = nextId++;
    w.unit = unit;
    w.index = unit.start;
    w.beat = Date.now();
    if (!unit.careful) inFlight.set(`${unit.stream}:${unit.start}`, true);
    w.child.send({ cmd: 'run', id: unit.id, stream: unit.stream, seed, start: unit.from ?? unit.start, end: unit.end, careful: unit.careful === true });
  }

  function addStats(st, s) {
    st.variants += s.variants;
    st.ms += s.ms;
    st.reached += s.reached;
    st.answered += s.answered;
    st.rechecks += s.rechecks;
    st.unconfirmedSlow = (st.unconfirmedSlow ?? 0) + (s.unconfirmedSlow ?? 0);
    for (const [k, v] of Object.entries(s.byKind)) st.byKind[k] = (st.byKind[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.outcomes)) {
      if (k in st.outcomes || Object.keys(st.outcomes).length < 300) st.outcomes[k] = (st.outcomes[k] ?? 0) + v;
      else st.outcomes['(other)'] = (st.outcomes['(other)'] ?? 0) + v;
    }
  }

  function onMessage(w, m) {
    w.beat = Date.now();
    if (m.cmd === 'ready') {
      w.ready = true;
      assign(w);
    } else if (m.cmd === 'beat') w.index = m.index;
    else if (m.cmd === 'finding') record(m.finding);
    else if (m.cmd === 'done') {
      const u = w.unit;
      w.unit = undefined;
      const st = progress.streams[u.stream];
      addStats(st, m.stats);
      variantsThisRun += m.stats.variants;
      if (u.careful) {
        // The rest of a bisected batch: the whole batch is now done.
        u.parent.doneParts++;
      }
      if (!u.careful || u.parent.doneParts > 0) {
        const key = `${u.stream}:${u.start}`;
        inFlight.delete(key);
        markDone(st, u.start);
      }
      assign(w);
      maybeFinish();
    }
  }

  function onExit(w, code, signal) {
    w.dead = true;
    pool.splice(pool.indexOf(w), 1);
    if (!w.ready && !stopping) {
      // Not one variant ran: the harness itself does not start (a broken build?).
      console.error(`\na worker died before it was ready (exit ${code}, signal ${signal}): giving up`);
      process.exitCode = 2;
      stop('worker start-up failure');
      return;
    }
    const u = w.unit;
    if (u && !stopping) {
      const why = w.killedForHang ? `no progress for ${hangMs} ms (hang)` : `worker died (exit ${code}, signal ${signal})`;
      const kind = w.killedForHang ? 'hang' : 'crash';
      if (u.careful) {
        // One variant at a time: the one that was running is the culprit; skip it.
        recordHang(kind, u.stream, w.index, `${why} at this variant`);
        careful.unshift({ ...u, from: w.index + 1 });
      } else {
        console.log(`\nworker ${why} in ${u.stream} batch ${u.start}: re-running from ${w.index} one variant at a time`);
        careful.unshift({ stream: u.stream, start: u.start, from: w.index, end: u.end, careful: true, parent: { doneParts: 0 } });
      }
    }
    if (!stopping) assign(spawnWorker());
    maybeFinish();
  }

  function status() {
    const el = (Date.now() - t0) / 1000;
    let total = 0;
    let least = Infinity;
    for (const n of names) {
      const d = countDone(n);
      total += d;
      least = Math.min(least, d / target(n));
    }
    const classes = Object.keys(progress.findings).length;
    process.stdout.write(`${process.stdout.isTTY ? '\r' : ''}[${(el / 60).toFixed(1)} min] ${fmt(variantsThisRun)} variants this run (${fmt(Math.round(variantsThisRun / Math.max(1, el)))}/s), every stream >= ${(least * 100).toFixed(1)}% of its target, total ${fmt(total)}; finding classes: ${classes}${process.stdout.isTTY ? '   ' : '\n'}`);
  }

  function report() {
    console.log('\n\nstream                        variants   rate/s/worker  reached  answered  findings');
    for (const n of names) {
      const st = progress.streams[n];
      const rate = st.ms > 0 ? (st.variants / st.ms) * 1000 : 0;
      console.log(`${n.padEnd(28)} ${fmt(countDone(n)).padStart(9)} ${rate.toFixed(0).padStart(12)} ${((st.reached / Math.max(1, st.variants)) * 100).toFixed(0).padStart(7)}% ${((st.answered / Math.max(1, st.variants)) * 100).toFixed(0).padStart(8)}% ${String(st.findings).padStart(9)}`);
    }
    console.log('\nexchange and role              streams   variants  findings');
    for (const g of [...new Set(names.map(groupOf))]) {
      const ns = names.filter((n) => groupOf(n) === g);
      const v = ns.reduce((a, n) => a + countDone(n), 0);
      const f = ns.reduce((a, n) => a + progress.streams[n].findings, 0);
      console.log(`${g.padEnd(28)} ${String(ns.length).padStart(8)} ${fmt(v).padStart(10)} ${String(f).padStart(9)}`);
    }
    const fs = Object.entries(progress.findings);
    console.log(fs.length === 0 ? '\nno findings' : `\n${fs.length} finding class(es):`);
    for (const [sig, c] of fs) console.log(`  ${c.count}x ${sig}\n     streams: ${JSON.stringify(c.streams)}\n     e.g. ${c.reproducers[0] ?? ''}`);
  }

  let finished = false;
  function maybeFinish() {
    if (finished) return;
    const allDone = names.every((n) => countDone(n) >= target(n));
    const busy = pool.some((w) => w.unit !== undefined) || careful.length > 0;
    if ((allDone || stopping) && !busy) {
      finished = true;
      stopping = true;
      clearInterval(timer);
      save();
      for (const w of pool) w.child.kill();
      report();
      if (process.exitCode !== 2) process.exitCode = Object.keys(progress.findings).length > 0 ? 1 : 0;
    }
  }

  let ticks = 0;
  const timer = setInterval(() => {
    if (process.stdout.isTTY || ++ticks % 30 === 0) status();
    for (const w of pool) {
      if (w.unit && Date.now() - w.beat > hangMs && !w.killedForHang) {
        w.killedForHang = true;
        w.child.kill('SIGKILL');
      }
    }
    if (Date.now() - t0 > maxMs && !stopping) stop('time limit');
  }, 1000);
  const saver = setInterval(save, 10000);
  saver.unref();

  function stop(why) {
    if (stopping) return;
    stopping = true;
    console.log(`\nstopping (${why}); progress saved to ${progressFile}, re-run to continue`);
    // In-flight batches are redone next time; stop the workers now.
    for (const w of pool) {
      w.unit = undefined;
      w.child.kill();
    }
    inFlight.clear();
    careful.length = 0;
    maybeFinish();
  }
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  // Capture every stream here first: a harness that cannot start fails now, not in the workers.
  h.streams(names);
  const goal = perExchange === undefined ? `${fmt(perStream)} variants each` : `${fmt(perExchange)} variants per exchange type and role`;
  console.log(`fuzzing ${names.length} streams to ${goal}, seed ${seed}, ${workers} workers, batches of ${batch}, ${dist} (${run.code}), ${process.version}`);
  console.log(`progress: ${progressFile}; findings: ${join(outDir, 'findings')}`);
  for (let i = 0; i < workers; i++) spawnWorker();
  maybeFinish();
}
