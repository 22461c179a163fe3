/**
 * The `pqike` command line as a user meets it: every verb answers --help (and `pqike help
 * <verb>`) with exit 0; `--version`; bad input of every kind (unknown verbs and options,
 * missing and extra arguments, bad values, mistyped algorithms) exits 2 with a message that
 * says what to write, with "did you mean" where something is close; docs/cli.md describes every
 * verb and option. No daemon, no network: each case is refused before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseProposal } from '../../src/engine/proposal-string.js';
import { ALGORITHM_KEYWORDS, algorithmHint, closest, distance } from '../../src/cli/suggest.js';
import { VERBS, VERB_NAMES } from '../../src/cli/verbs.js';
import { progressFor } from '../../src/cli/progress.js';
import { formatStats } from '../../src/cli/control-cmd.js';
import { formatRecord } from '../../src/cli/log-cmd.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../../src/cli/main.js');
const ROOT = resolve(HERE, '../../..');

function run(args: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every verb answers --help, -h and `pqike help <verb>` with its usage, exit 0', () => {
  for (const v of VERBS) {
    const a = run([v.name, '--help']);
    assert.equal(a.status, 0, `${v.name} --help: ${a.stderr}`);
    assert.ok(a.stdout.startsWith(`Usage: pqike ${v.name}`), `${v.name} --help:\n${a.stdout}`);
    assert.equal(a.stderr, '');
    for (const k of Object.keys(v.options)) assert.ok(a.stdout.includes(`--${k}`), `${v.name} --help names --${k}`);
    assert.match(a.stdout, /Exit codes: 0 success; .*2 usage error/s);
    assert.equal(run([v.name, '-h']).stdout, a.stdout);
    assert.equal(run(['help', v.name]).stdout, a.stdout);
  }
  // --help wins over anything else on the line, even what would be an error.
  const up = run(['up', '--bogus', '--help']);
  assert.equal(up.status, 0);
  const top = run(['--help']);
  assert.equal(top.status, 0);
  for (const v of VERB_NAMES) assert.match(top.stdout, new RegExp(`^  ${v} +\\S`, 'm'), `pqike --help lists ${v}`);
  assert.match(top.stdout, /^ {2}2 {2}usage error/m);
  assert.match(run(['help', 'exit-codes']).stdout, /^ {2}3 {2}the daemon is not running/m);
});

test('pqike --version: first line `pqike <package.json version>`, then Node and the ML-KEM and ML-DSA backends', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['--version'], ['version'], ['-V']]) {
    const r = run(args);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `pqike ${pkg.version}`);
    assert.equal(lines[1], `Node ${process.version}`);
    assert.match(lines[2] ?? '', /^ML-KEM backend: (node|noble) /);
    assert.match(lines[3] ?? '', /^ML-DSA backend: (node|noble) /);
  }
  const forced = run(['--version'], { PQIKE_MLKEM_BACKEND: 'noble', PQIKE_MLDSA_BACKEND: 'noble' });
  assert.match(forced.stdout, /ML-KEM backend: noble \(@noble\/post-quantum\)\nML-DSA backend: noble/);
  const j = JSON.parse(run(['version', '--json']).stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(j), ['version', 'node', 'mlkem', 'mldsa']);
  assert.equal(j['version'], pkg.version);
});

test('bad input of every kind: exit 2 and a message that says what to write', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-usage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const psk = join(dir, 'psk');
  writeFileSync(psk, 'a-long-random-test-key-0123456789', { mode: 0o600 });
  const sock = join(dir, 'none.sock');
  const peer = ['--local', '127.0.0.1', '--remote', '127.0.0.1', '--psk-file', psk, '--port', '0', '--timeout', '1s'];
  const cases: [args: string[], stderr: RegExp][] = [
    // Verbs
    [[], /^pqike — IKEv2/],
    [['lsit-sas'], /^pqike: unknown command 'lsit-sas' \(did you mean 'list-sas'\?\); see pqike --help$/m],
    [['list'], /unknown command 'list' \(did you mean 'list-conns' or 'list-sas'\?\)/],
    [['stauts'], /unknown command 'stauts' \(did you mean 'stats'\?\)/],
    [['initate'], /did you mean 'initiate'\?/],
    [['frobnicate'], /^pqike: unknown command 'frobnicate'; see pqike --help$/m],
    [['help', 'lgo'], /unknown command 'lgo' \(did you mean 'log'\?\)/],
    [['--bogus'], /unknown option '--bogus' before the verb/],
    [['--version', 'extra'], /unexpected argument 'extra'/],
    // Options
    [['up', 'site-b', '--sockt', sock], /^pqike up: unknown option '--sockt' \(did you mean --socket\?\); see pqike up --help$/m],
    [['list-sas', '--jsn'], /unknown option '--jsn' \(did you mean --json\?\)/],
    [['stats', '--json=yes'], /^pqike stats: --json takes no value$/m],
    [['up', 'x', '--socket'], /^pqike up: --socket needs a value \(PATH\)$/m],
    [['up', 'x', '--socket='], /^pqike up: --socket needs a value \(PATH\)$/m],
    [['rekey', '1', '--child'], /--child needs a value \(NAME\|SPI\)/],
    [['probe', '192.0.2.1', '-x'], /unknown option '-x'/],
    [['daemon', '--conf', 'x.yaml'], /unknown option '--conf' \(did you mean --config\?\)/],
    [['pki', '--isue'], /unknown option '--isue' \(did you mean --issue\?\)/],
    [['demo', '--no-rekeys'], /did you mean --no-rekey\?/],
    // Arguments
    [['up'], /^pqike up: missing <connection>; usage: pqike up <connection> \[options\]$/m],
    [['down'], /^pqike down: missing <connection \| IKE SA number>/m],
    [['rekey', '--socket', sock], /^pqike rekey: missing <IKE SA number \| connection>/m],
    [['up', 'a', 'b'], /^pqike up: unexpected argument 'b'; usage: pqike up <connection>/m],
    [['reload', 'now'], /^pqike reload: unexpected argument 'now' \(it takes no arguments\)/m],
    [['stats', 'x'], /unexpected argument 'x' \(it takes no arguments\)/],
    [['list-sas', 'a', 'b'], /unexpected argument 'b'/],
    [['probe'], /^pqike probe: missing <address>\[:port\]/m],
    [['demo', 'now'], /unexpected argument 'now'/],
    // Values
    [['log', '--level', 'loud', '--socket', sock], /^pqike log: --level loud: write one of debug, info, warn, error$/m],
    [['log', '--sa', 'x', '--socket', sock], /^pqike log: --sa x: an IKE SA number/m],
    [['probe', 'gateway.example'], /^pqike probe: 'gateway.example' is not an IP address/m],
    [['probe', '192.0.2.1', '--rate', '50'], /--rate 50: must be more than 0 and at most 5/],
    [['probe', '192.0.2.1', '--port', '70000'], /port 70000: write 1..65535/],
    [['probe', '192.0.2.1', '--timeout', 'soon'], /--timeout soon: a duration/],
    [['demo', '--certs', 'dsa'], /--certs: write one of ecdsa-p256/],
    [['demo', '--fragment-size', '60'], /--fragment-size 60: write a datagram size between 576 and 65535/],
    [['pki', '--gen', '--type', 'ed2559', '--out', join(dir, 'k.pem')], /--type ed2559: write one of .* \(did you mean 'ed25519'\?\)/],
    [['pki', '--gen', '--self', '--out', join(dir, 'k.pem')], /one of --gen, --self, --issue, --crl, --print at a time/],
    [['pki'], /pqike pki: say what to do/],
    [['initiate', ...peer, '--mode', 'tunel'], /^pqike: --mode tunel: write tunnel or transport$/m],
    [['initiate', ...peer, '--remote-port', 'x'], /^pqike: --remote-port x: write a UDP port, 0..65535$/m],
    [['respond', ...peer, '--count', '0'], /--count 0: a positive whole number/],
    [['initiate', ...peer, '--retransmit-tries', '1.5'], /--retransmit-tries 1.5: a whole number/],
    [['initiate', ...peer, '--rekey-time', 'often'], /^pqike: bad duration 'often' \(e.g. 10s, 500ms, 4h\)$/m],
    [['initiate', '--local', '127.0.0.1', '--remote', '127.0.0.1', '--psk-file', join(dir, 'missing')], /^pqike: --psk-file .*missing: no such file$/m],
    [['initiate', '--local', '127.0.0.1', '--psk-file', psk], /^pqike: --remote ADDRESS is required$/m],
    [['initiate', ...peer, '--local-ts', '10.1.0.0/33'], /bad prefix length in '10.1.0.0\/33'/],
    [['initiate', ...peer, '--local-id', 'keyid:#xyz'], /KEY_ID 'keyid:#xyz' must be hex bytes/],
    // Algorithm names: did you mean
    [['demo', '--proposal', 'aes256gcm16-prfsha384-x25519-ke1_mlkem786'], /^pqike: unknown key exchange method 'mlkem786' in 'ke1_mlkem786' \(did you mean 'ke1_mlkem768'\?\)$/m],
    [['demo', '--proposal', 'aes256gcm16-prfsha384-mlkem786'], /unknown algorithm 'mlkem786' in proposal 'aes256gcm16-prfsha384-mlkem786' \(did you mean 'mlkem768'\?\)/],
    [['demo', '--esp', 'aes256gmc16'], /unknown algorithm 'aes256gmc16' .*\(did you mean 'aes256gcm16'\?\)/],
    [['demo', '--proposal', 'aes256gcm16-prfsha348-x25519'], /did you mean 'prfsha384'\?/],
    [['demo', '--proposal', 'aes256gcm16-prfsha384-x25519-ke1mlkem768'], /unknown algorithm 'ke1mlkem768' .*\(did you mean 'ke1_mlkem768'\?\)/],
    [['initiate', ...peer, '--ike', 'aes256gcm16-prfsha384-x2519'], /unknown algorithm 'x2519' .*\(did you mean 'x25519'\?\)/],
    [['initiate', ...peer, '--esp', 'aes256gcm16-prfsha384'], /'prfsha384' is an IKE PRF, not valid in an ESP proposal/],
  ];
  for (const [args, stderr] of cases) {
    const r = run(args);
    const what = `pqike ${args.join(' ')}`;
    assert.equal(r.status, 2, `${what}: exit ${String(r.status)}\n${r.stderr}${r.stdout}`);
    assert.match(r.stderr, stderr, what);
    assert.equal(r.stdout, '', `${what} prints nothing on stdout`);
  }
});

test('the control verbs without a daemon: exit 3 and how to start it (usage is checked first)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-nod-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'pqike.sock');
  for (const args of [['up', 'x'], ['down', '#3'], ['rekey', '1', '--child', 'net'], ['list-sas'], ['list-sas', 'x'], ['list-conns', '--json'], ['reload'], ['stats'], ['log'], ['log', 'x', '--level', 'debug']]) {
    const r = run([...args, '--socket', sock]);
    assert.equal(r.status, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /the daemon is not running \(no control socket at .*\)\.\n {2}Start it with: pqike daemon -c/);
  }
  const env = run(['stats'], { PQIKE_SOCKET: sock });
  assert.equal(env.status, 3);
  assert.ok(env.stderr.includes(sock));
});

test('docs/cli.md describes every verb and every option, and has the exit code table', () => {
  const doc = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
  const sections = new Map(doc.split(/^### /m).slice(1).map((s) => [/^pqike (\S+)/.exec(s)?.[1] ?? '', s]));
  for (const v of VERBS) {
    const s = sections.get(v.name);
    assert.ok(s, `docs/cli.md has a section "### pqike ${v.name}"`);
    // initiate and respond share their option table, after the respond section.
    const text = v.name === 'initiate' ? `${s}${sections.get('respond') ?? ''}` : s;
    for (const k of Object.keys(v.options)) assert.ok(text.includes(`--${k}`), `docs/cli.md: pqike ${v.name} --${k}`);
  }
  for (const code of [0, 1, 2, 3, 4]) assert.match(doc, new RegExp(`^\\| ${code} +\\| \\S`, 'm'), `exit code ${code} in docs/cli.md`);
});

test('suggestions: edit distance with transpositions; the algorithm keywords are the parser\'s', () => {
  assert.equal(distance('mlkem786', 'mlkem768'), 1);
  assert.equal(distance('lsit-sas', 'list-sas'), 1);
  assert.equal(distance('abc', 'abc'), 0);
  assert.deepEqual(closest('mlkem786', ['mlkem512', 'mlkem768', 'mlkem1024']), ['mlkem768']);
  assert.deepEqual(closest('zzzzzz', ['up', 'down']), []);
  assert.equal(algorithmHint("unknown algorithm 'mlkem786' in proposal 'x'"), " (did you mean 'mlkem768'?)");
  assert.equal(algorithmHint('something else'), '');
  // Every keyword the suggestions offer is one the proposal parser takes.
  for (const k of ALGORITHM_KEYWORDS) {
    const text = /gcm|chacha/.test(k) ? `${k}-prfsha256-x25519` : /^(aes|esn|noesn)/.test(k) ? (k.includes('esn') ? `aes256gcm16-${k}` : `${k}-sha256-x25519`) : k.startsWith('prf') ? `aes256gcm16-${k}-x25519` : `aes256-${k}-x25519`;
    assert.doesNotThrow(() => parseProposal(text, k.includes('esn') ? 'esp' : 'ike'), `${k} in ${text}`);
  }
});

test('progress lines: only on a terminal by default; --progress forces them, --no-progress and --json turn them off', () => {
  const stream = (isTTY: boolean): NodeJS.WriteStream & { text: string } => {
    const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true; } };
    return s as unknown as NodeJS.WriteStream & { text: string };
  };
  const cases: [values: Record<string, boolean>, tty: boolean, shown: boolean][] = [
    [{}, true, true],
    [{}, false, false],
    [{ progress: true }, false, true],
    [{ 'no-progress': true }, true, false],
    [{ json: true }, true, false],
    [{ json: true, progress: true }, false, false],
  ];
  for (const [values, tty, shown] of cases) {
    const out = stream(tty);
    const p = progressFor(values, out);
    p.line('IKE SA #1: retransmit 1 of IKE_SA_INIT request 0');
    assert.equal(p.enabled, shown, JSON.stringify({ values, tty }));
    if (shown) assert.match(out.text, /^ +0\.\ds {2}IKE SA #1: retransmit 1 of IKE_SA_INIT request 0\n$/);
    else assert.equal(out.text, '');
  }
});

test('stats and log records as text', () => {
  assert.equal(
    formatStats({ ikeSasByState: { established: 2 }, childSas: 2, exchanges: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 }, failuresByNotify: {} }),
    'IKE SAs by state: established 2\nChild SAs: 2\nExchanges:\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n  f: 6\n  g: 7\nFailures by notify: none\n',
  );
  assert.equal(formatRecord({ ts: '2026-12-02T06:00:00.000Z', level: 'warn', conn: 'site-b', sa: 3, msg: 'IKE SA #3 failed' }), '2026-12-02T06:00:00.000Z WARN  <site-b|3> IKE SA #3 failed');
  assert.equal(formatRecord({ ts: '2026-12-02T06:00:00.000Z', level: 'info', msg: 'reloaded' }), '2026-12-02T06:00:00.000Z INFO  reloaded');
});
