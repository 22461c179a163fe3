/**
 * The daemon's configuration: the shipped example loads, and every kind of mistake is refused
 * with "file:line: message" naming the right line and what to write instead; a file with
 * several mistakes gets all of them reported at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseDuration } from '../../src/daemon/config.js';
import { formatSelector } from '../../src/engine/traffic-selectors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

/** A temp dir with a 0600 secrets file (keys `k` and `k2`); removed after the test. */
function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secrets.yaml'), 'psk:\n  k: "a-long-random-test-key-0123456789"\n  k2: "0x00112233445566778899aabbccddeeff"\n', { mode: 0o600 });
  chmodSync(join(dir, 'secrets.yaml'), 0o600);
  return dir;
}

/** The problems loadConfig reports for `text`, or [] if it loads. */
function problems(dir: string, text: string, name = 'pqike.yaml'): { file: string; list: readonly string[] } {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    loadConfig(file);
    return { file, list: [] };
  } catch (e) {
    if (e instanceof ConfigError) return { file, list: e.problems };
    throw e;
  }
}

const GOOD = `secrets: secrets.yaml
connections:
  gw:
    local_addrs: 192.0.2.1
    remote_addrs: 192.0.2.2
    local_id: moon.example.org
    remote_id: sun.example.org
    psk: k
    proposals:
      - aes256gcm16-prfsha384-x25519-ke1_mlkem768
      - aes256gcm16-prfsha384-x25519
    dpd_delay: 30s
    children:
      net:
        local_ts: [10.1.0.0/16]
        remote_ts:
          - 10.2.0.0/16
        esp_proposals: [aes256gcm16]
        start_action: start
`;

/** GOOD with line `lineNo` (1-based) replaced by `replacement` (which may span lines). */
function withLine(lineNo: number, replacement: string): string {
  const lines = GOOD.split('\n');
  lines[lineNo - 1] = replacement;
  return lines.join('\n');
}

test('examples/pqike.yaml loads (copied with its secrets file at mode 0600), and pqike daemon --check accepts it', (t) => {
  const dir = tempDir(t);
  copyFileSync(join(ROOT, 'examples/pqike.yaml'), join(dir, 'pqike.yaml'));
  copyFileSync(join(ROOT, 'examples/secrets.yaml'), join(dir, 'secrets.yaml'));
  chmodSync(join(dir, 'secrets.yaml'), 0o600); // a git checkout leaves it 0644
  const cfg = loadConfig(join(dir, 'pqike.yaml'));
  assert.deepEqual(cfg.connections.map((c) => c.config.name), ['site-b', 'roadwarriors']);
  const siteB = cfg.connections[0];
  assert.ok(siteB);
  assert.equal(siteB.config.remoteAddress, '192.0.2.2');
  assert.equal(siteB.config.dpdDelayMs, 30_000);
  assert.equal(siteB.config.ikeRekeyTimeMs, 4 * 3_600_000);
  assert.deepEqual(siteB.config.ikeProposals.map((p) => p.text), ['aes256gcm16-prfsha384-x25519-ke1_mlkem768', 'aes256gcm16-prfsha384-x25519']);
  assert.equal(siteB.startActions.get('net'), 'start');
  assert.equal(Buffer.from(siteB.config.psk ?? '').toString(), 'replace-with-a-long-random-string-0123456789');
  assert.equal(cfg.control.socket, '/run/pqike/pqike.sock');
  assert.equal(cfg.port, 500);
  assert.equal(cfg.connections[1]?.config.remoteAddress, '%any');

  const r = spawnSync(process.execPath, [CLI, 'daemon', '--check', '-c', join(dir, 'pqike.yaml')], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration is valid \(2 connections\)/);
});

test('pqike daemon --check -c examples/pqike.yaml exits 0 in the repository (secrets file made 0600 first)', () => {
  // A fresh clone has examples/secrets.yaml at 0644, which the daemon rightly refuses.
  chmodSync(join(ROOT, 'examples/secrets.yaml'), 0o600);
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--check', '-c', 'examples/pqike.yaml'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid/);
});

test('the reference config of this table loads', (t) => {
  const dir = tempDir(t);
  assert.deepEqual(problems(dir, GOOD).list, []);
});

test('keyingtries, retry delays, dpd_action and close_action reach the engine configuration; left out, the engine defaults apply', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, GOOD.replace('    dpd_delay: 30s\n', '    dpd_delay: 30s\n    keyingtries: 0\n    retry_delay: 5s\n    retry_delay_max: 2m\n').replace('        start_action: start\n', '        start_action: start\n        dpd_action: restart\n        close_action: trap\n'));
  const c = loadConfig(file).connections[0]?.config;
  assert.ok(c);
  assert.equal(c.keyingTries, 0);
  assert.equal(c.retryDelayMs, 5000);
  assert.equal(c.retryDelayMaxMs, 120_000);
  assert.equal(c.remotePort, 500);
  assert.equal(c.children[0]?.dpdAction, 'restart');
  assert.equal(c.children[0]?.closeAction, 'trap');
  writeFileSync(file, GOOD);
  const d = loadConfig(file).connections[0]?.config;
  assert.equal(d?.keyingTries, undefined);
  assert.equal(d?.retryDelayMs, undefined);
  assert.equal(d?.children[0]?.dpdAction, 'clear');
  assert.equal(d?.children[0]?.closeAction, 'none');
});

interface Case {
  readonly name: string;
  readonly text: string;
  /** The line a problem must name. */
  readonly line: number;
  /** What the message must say (the fault and what to write instead). */
  readonly says: readonly RegExp[];
}

const CASES: readonly Case[] = [
  { name: 'unknown key, with a "did you mean"', text: withLine(5, '    remote_adrs: 192.0.2.2'), line: 5, says: [/unknown setting 'remote_adrs'/, /did you mean 'remote_addrs'\?/] },
  { name: 'unknown top-level key', text: GOOD.replace('\nconnections:', '\nconections:'), line: 2, says: [/unknown setting 'conections'/, /did you mean 'connections'\?/] },
  { name: 'unknown child key', text: withLine(19, '        start_acton: start'), line: 19, says: [/'start_acton'/, /did you mean 'start_action'/] },
  { name: 'bad address', text: withLine(5, '    remote_addrs: 192.0.2.300'), line: 5, says: [/'192\.0\.2\.300' is not an IPv4 or IPv6 address/, /write e\.g\. remote_addrs: 192\.0\.2\.2/] },
  { name: 'two addresses', text: withLine(4, '    local_addrs: [192.0.2.1, 192.0.2.3]'), line: 4, says: [/one address per connection/, /write local_addrs: 192\.0\.2\.1/] },
  { name: 'bad IKE proposal (second list item)', text: withLine(11, '      - aes256gcm16-prfsha384-x25519-ke1_mlkem769'), line: 11, says: [/proposals: .*mlkem769/, /e\.g\. aes256gcm16-prfsha384-x25519-ke1_mlkem768/] },
  { name: 'bad ESP proposal', text: withLine(18, '        esp_proposals: [aes256gcm17]'), line: 18, says: [/esp_proposals: .*aes256gcm17/, /e\.g\. aes256gcm16-x25519-ke1_mlkem768/] },
  { name: 'bad duration', text: withLine(12, '    dpd_delay: 30 seconds'), line: 12, says: [/dpd_delay: '30 seconds' is not a duration/, /write e\.g\. 30s, 10m, 4h/] },
  { name: 'bad child duration', text: withLine(19, '        rekey_time: 1 hour'), line: 19, says: [/children\.net\.rekey_time: '1 hour' is not a duration/, /write e\.g\. 30s/] },
  { name: 'bad traffic selector (flow list)', text: withLine(15, '        local_ts: [10.1.0.0/33]'), line: 15, says: [/local_ts: .*10\.1\.0\.0\/33/, /write a subnet, e\.g\. 10\.1\.0\.0\/16/] },
  { name: 'bad traffic selector (block list item)', text: withLine(17, '          - 10.2.0.300/16'), line: 17, says: [/remote_ts: .*10\.2\.0\.300/, /write a subnet, e\.g\. 10\.2\.0\.0\/16/] },
  { name: 'psk names no key of the secrets file', text: withLine(8, '    psk: nosuch'), line: 8, says: [/psk: no key 'nosuch' in the secrets file/, /add under psk: nosuch: "a long random string"/] },
  { name: 'psk missing (points at the connection name)', text: withLine(8, '    auth: psk'), line: 3, says: [/connections\.gw needs psk: <name of a key in the secrets file>/] },
  { name: 'child without local_ts (points at the child name)', text: withLine(15, '        mode: tunnel'), line: 14, says: [/children\.net needs local_ts, e\.g\. local_ts: \[10\.1\.0\.0\/16\]/] },
  { name: 'bad start_action', text: withLine(19, '        start_action: begin'), line: 19, says: [/start_action: write none, start or trap/] },
  { name: 'bad dpd_action', text: withLine(19, '        dpd_action: reconnect'), line: 19, says: [/dpd_action: write clear, trap or restart \(when the peer is found dead\)/] },
  { name: 'bad close_action', text: withLine(19, '        close_action: restart'), line: 19, says: [/close_action: write none, trap or start/] },
  { name: 'bad keyingtries', text: withLine(12, '    keyingtries: -1'), line: 12, says: [/keyingtries: write how many attempts to make, e\.g\. 3, or 0 to keep trying for ever/] },
  { name: 'retry_delay of 0', text: withLine(12, '    retry_delay: 0'), line: 12, says: [/a retry delay must be longer than 0, e\.g\. 2s/] },
  { name: 'bad retry_delay_max', text: withLine(12, '    retry_delay_max: soon'), line: 12, says: [/retry_delay_max: 'soon' is not a duration/] },
  { name: 'YAML syntax error (bad indentation)', text: withLine(6, '   local_id: moon.example.org'), line: 6, says: [/YAML: /] },
  { name: 'YAML syntax error (unclosed flow list)', text: withLine(15, '        local_ts: [10.1.0.0/16\n        remote_ts: [10.2.0.0/16]'), line: 16, says: [/YAML: /] },
  { name: 'duplicate key', text: withLine(7, '    remote_id: sun.example.org\n    remote_id: sun2.example.org'), line: 8, says: [/YAML: Map keys must be unique/, /remove or rename one of them/] },
  { name: 'tab indentation', text: withLine(7, '\tremote_id: sun.example.org'), line: 7, says: [/YAML: Tabs/, /indent with spaces/] },
  { name: 'wrong type: yes/no', text: withLine(12, '    fragmentation: maybe'), line: 12, says: [/fragmentation must be yes or no/] },
  { name: 'wrong type: list for a single value', text: withLine(6, '    local_id: [moon.example.org, sun.example.org]'), line: 6, says: [/local_id must be a single value, e\.g\. local_id: moon\.example\.org/] },
  { name: 'wrong type: mapping for a list', text: withLine(9, '    proposals: {a: b}').split('\n').filter((_, i) => i !== 9 && i !== 10).join('\n'), line: 9, says: [/proposals must be a value or a list, e\.g\. proposals: \[/] },
  { name: 'wrong type: list for a mapping', text: `${GOOD.split('\n').slice(0, 12).join('\n')}\n    children: [net]\n`, line: 13, says: [/children must be a mapping/] },
  { name: 'wrong type: port', text: `port: five hundred\n${GOOD}`, line: 1, says: [/port: write the local UDP port for IKE, e\.g\. 500/] },
  { name: 'wrong type: remote_port', text: withLine(12, '    remote_port: 5OO'), line: 12, says: [/remote_port: write a UDP port, e\.g\. 500/] },
  { name: 'wrong type: fragment_size', text: withLine(12, '    fragment_size: 100'), line: 12, says: [/fragment_size: write a datagram size between 576 and 65535/] },
  { name: 'wrong type: log section', text: `log: debug\n${GOOD}`, line: 1, says: [/log must be a mapping/] },
  { name: 'bad metrics.listen', text: `metrics:\n  listen: localhost:9464\n${GOOD}`, line: 2, says: [/metrics\.listen: write address:port on this host, e\.g\. 127\.0\.0\.1:9464/] },
  { name: 'limits: zero', text: `limits:\n  cookie_threshold: 0\n${GOOD}`, line: 2, says: [/limits\.cookie_threshold: '0' is not allowed; write a whole number of at least 1, e\.g\. cookie_threshold: 30, or leave it out for the default/] },
  { name: 'limits: not a whole number', text: `limits:\n  block_threshold: 5\n  max_child_sas: 1.5\n${GOOD}`, line: 3, says: [/limits\.max_child_sas: '1\.5' is not allowed; write a whole number of at least 1, e\.g\. max_child_sas: 64/] },
  { name: 'limits: negative', text: `limits:\n  init_limit_half_open: -5\n${GOOD}`, line: 2, says: [/limits\.init_limit_half_open: '-5' is not allowed; write a whole number of at least 1/] },
  { name: 'limits: bad duration', text: `limits:\n  half_open_timeout: soon\n${GOOD}`, line: 2, says: [/limits\.half_open_timeout: 'soon' is not allowed; write a duration of at least 1ms, e\.g\. half_open_timeout: 30s/] },
  { name: 'limits: zero duration', text: `limits:\n  cookie_lifetime: 0\n${GOOD}`, line: 2, says: [/limits\.cookie_lifetime: '0' is not allowed; write a duration of at least 1ms, e\.g\. cookie_lifetime: 60s/] },
  { name: 'limits: unknown key', text: `limits:\n  cookie_treshold: 10\n${GOOD}`, line: 2, says: [/unknown setting 'cookie_treshold' in config\.limits \(did you mean 'cookie_threshold'\?\)/] },
  { name: 'limits: not a mapping', text: `limits: 5\n${GOOD}`, line: 1, says: [/config\.limits must be a mapping/] },
  { name: 'fragment_size: not a number', text: withLine(12, '    fragment_size: 1280x'), line: 12, says: [/fragment_size: write a datagram size between 576 and 65535/] },
  { name: 'data_plane per connection (it is one for the daemon)', text: withLine(12, '    data_plane: kernel'), line: 12, says: [/data_plane: the data plane is one for the whole daemon now; move it to the top level/] },
  { name: 'data_plane: unknown', text: `data_plane: xfrm\n${GOOD}`, line: 1, says: [/data_plane/, /auto/, /kernel/, /userspace/, /fake/] },
  { name: 'userspace.tun: too long', text: `userspace:\n  tun: a-name-far-too-long\n${GOOD}`, line: 2, says: [/userspace\.tun: write a network device name of up to 15/] },
  { name: 'userspace.mtu: too small', text: `userspace:\n  mtu: 200\n${GOOD}`, line: 2, says: [/userspace\.mtu: write the TUN device MTU in octets, 576\.\.9000/] },
];

for (const c of CASES) {
  test(`refused: ${c.name}`, (t) => {
    const dir = tempDir(t);
    const { file, list } = problems(dir, c.text);
    assert.ok(list.length > 0, `expected ${c.name} to be refused`);
    const hit = list.find((p) => p.startsWith(`${file}:${c.line}: `) && c.says.every((re) => re.test(p)));
    assert.ok(hit, `expected ${file}:${c.line}: ${c.says.join(' ')}, got:\n${list.join('\n')}`);
  });
}

test('a secrets file readable by others (0644) is refused once, with the chmod to run', (t) => {
  const dir = tempDir(t);
  const secrets = join(dir, 'secrets.yaml');
  chmodSync(secrets, 0o644);
  const { list } = problems(dir, GOOD);
  assert.deepEqual(list, [`${secrets}: secrets file is readable by others (mode 644); run: chmod 600 ${secrets}`]);
});

test('secrets file problems name the secrets file and line; a missing one says so', (t) => {
  const dir = tempDir(t);
  const secrets = join(dir, 'secrets.yaml');
  writeFileSync(secrets, 'psk:\n  k: "a-long-random-test-key-0123456789"\n  empty:\n  k: "again-a-long-random-test-key"\n', { mode: 0o600 });
  const dup = problems(dir, GOOD).list;
  assert.equal(dup.length, 2, dup.join('\n'));
  assert.equal(dup[0], `${secrets}:3: psk 'empty' needs a value, e.g. empty: "a long random string"`);
  assert.match(dup[1] ?? '', new RegExp(`^${secrets}:4: YAML: Map keys must be unique .*remove or rename one of them`));

  writeFileSync(secrets, 'psk:\n  k: "a-long-random-test-key-0123456789"\n  empty:\n', { mode: 0o600 });
  const empty = problems(dir, GOOD).list;
  assert.deepEqual(empty, [`${secrets}:3: psk 'empty' needs a value, e.g. empty: "a long random string"`]);

  rmSync(secrets);
  const missing = problems(dir, GOOD).list;
  assert.equal(missing.length, 1);
  assert.match(missing[0] ?? '', new RegExp(`^${secrets}: cannot read the secrets file`));

  const none = problems(dir, GOOD.replace('secrets: secrets.yaml\n', '')).list;
  assert.equal(none.length, 1);
  assert.match(none[0] ?? '', /:7: connections\.gw\.psk: no secrets file is configured; add at the top: secrets: secrets\.yaml/);
});

test('every problem of a file with many is reported at once, each at its own line', (t) => {
  const dir = tempDir(t);
  const text = `secrets: secrets.yaml
port: 99999
log:
  levle: debug
connections:
  a:
    remote_addrs: 192.0.2.999
    local_id: moon.example.org
    psk: nosuch
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem769]
    dpd_delay: soon
    children:
      net:
        local_ts: [10.1.0.0/99]
        remote_ts: [10.2.0.0/16]
        mode: tunel
  b:
    local_addrs: 192.0.2.1
    remote_addrs: 192.0.2.2
    local_id: moon.example.org
    psk: k2
`;
  const { file, list } = problems(dir, text);
  const want: [number, RegExp][] = [
    [2, /port: write the local UDP port/],
    [4, /unknown setting 'levle' .*did you mean 'level'/],
    [7, /remote_addrs: '192\.0\.2\.999' is not an IPv4 or IPv6 address/],
    [9, /no key 'nosuch' in the secrets file/],
    [10, /proposals: .*mlkem769/],
    [11, /dpd_delay: 'soon' is not a duration/],
    [14, /local_ts: .*10\.1\.0\.0\/99/],
    [16, /mode: write tunnel or transport/],
  ];
  for (const [line, re] of want) {
    assert.ok(list.some((p) => p.startsWith(`${file}:${line}: `) && re.test(p)), `missing ${file}:${line}: ${re}\nin:\n${list.join('\n')}`);
  }
  assert.equal(list.length, want.length, list.join('\n'));
  // In line order, whatever order they were found in.
  assert.deepEqual(list.map((p) => Number(p.slice(file.length + 1).split(':')[0])), want.map(([line]) => line));

  // pqike daemon --check prints them all and exits 2.
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--check', '-c', file], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /configuration refused/);
  for (const p of list) assert.ok(r.stderr.includes(p), `--check did not print: ${p}`);
});

test('durations: units, plain seconds and off', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('4h'), 14_400_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('45'), 45_000);
  assert.equal(parseDuration('off'), 0);
  assert.equal(parseDuration('4 hours'), undefined);
});

test('data_plane: auto by default, each choice and the userspace section reach the daemon configuration', (t) => {
  const dir = tempDir(t);
  const load = (text: string) => {
    writeFileSync(join(dir, 'dp.yaml'), text);
    return loadConfig(join(dir, 'dp.yaml'));
  };
  const d = load(GOOD);
  assert.equal(d.dataPlane, 'auto');
  assert.deepEqual(d.userspace, { tun: 'pqike0', mtu: 1400 });
  for (const k of ['kernel', 'userspace', 'fake'] as const) assert.equal(load(`data_plane: ${k}\n${GOOD}`).dataPlane, k);
  assert.deepEqual(load(`data_plane: userspace\nuserspace:\n  tun: vpn7\n  mtu: 1280\n${GOOD}`).userspace, { tun: 'vpn7', mtu: 1280 });
});

test('control.socket, metrics, export_keys and secrets resolve relative to the config file', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, `control:\n  socket: run/ctl.sock\nmetrics:\n  listen: 127.0.0.1:9464\nexport_keys: keys/ike\nport: 5000\n${GOOD}`);
  const cfg = loadConfig(file);
  assert.equal(cfg.control.socket, join(dir, 'run/ctl.sock'));
  assert.deepEqual(cfg.metrics, { host: '127.0.0.1', port: 9464 });
  assert.equal(cfg.exportKeys, join(dir, 'keys/ike'));
  assert.equal(cfg.port, 5000);
  assert.equal(Buffer.from(cfg.connections[0]?.config.psk ?? new Uint8Array()).toString(), 'a-long-random-test-key-0123456789');
});

test('limits: every setting maps to its engine option; none given = {} (the engine defaults)', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, `limits:
  cookie_threshold: 10
  cookie_threshold_ip: 2
  block_threshold: 4
  init_limit_half_open: 1000
  half_open_timeout: 5s
  cookie_lifetime: 2m
  max_child_sas: 16
  auth_failures_before_backoff: 7
  retransmit_timeout: 500ms
  retransmit_tries: 3
  init_limit_job_load: 64
${GOOD}`);
  assert.deepEqual(loadConfig(file).limits, {
    cookieThreshold: 10,
    cookieThresholdIp: 2,
    blockThreshold: 4,
    halfOpenLimit: 1000,
    halfOpenTimeoutMs: 5000,
    cookieSecretLifetimeMs: 120_000,
    maxChildSas: 16,
    authFailuresBeforeBackoff: 7,
    retransmitTimeoutMs: 500,
    retransmitTries: 3,
    admissionQueue: 64,
  });
  writeFileSync(file, `limits:\n  half_open_timeout: 500ms\n${GOOD}`);
  assert.deepEqual(loadConfig(file).limits, { halfOpenTimeoutMs: 500 });
  writeFileSync(file, GOOD);
  assert.deepEqual(loadConfig(file).limits, {});
});

test('a PSK shorter than 16 octets is refused at its line in the secrets file (RFC 7296 §2.15), with how to make a good one', (t) => {
  const dir = tempDir(t);
  const secrets = join(dir, 'secrets.yaml');
  writeFileSync(secrets, 'psk:\n  k: "x"\n  k2: "0x00112233445566778899aabbccddee"\n  k3: "fifteen-octets!"\n  k4: "sixteen-octets!!"\n', { mode: 0o600 });
  const { list } = problems(dir, GOOD);
  assert.deepEqual(list, [
    `${secrets}:2: psk 'k' is 1 octet long; a pre-shared key must be as hard to guess as a key (RFC 7296 §2.15): use at least 16 octets, better 32 random ones, e.g. openssl rand -base64 33`,
    `${secrets}:3: psk 'k2' is 15 octets long; a pre-shared key must be as hard to guess as a key (RFC 7296 §2.15): use at least 16 octets, better 32 random ones, e.g. openssl rand -base64 33`,
    `${secrets}:4: psk 'k3' is 15 octets long; a pre-shared key must be as hard to guess as a key (RFC 7296 §2.15): use at least 16 octets, better 32 random ones, e.g. openssl rand -base64 33`,
  ]);
  // 16 octets is enough (k4), as GOOD's 16-octet hex key k2 shows.
  writeFileSync(secrets, 'psk:\n  k: "sixteen-octets!!"\n', { mode: 0o600 });
  assert.deepEqual(problems(dir, GOOD).list, []);
});

const SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;

test('examples/pqike.service: the settings a deployment relies on, and systemd-analyze verify accepts it', { skip: SYSTEMD_ANALYZE ? false : 'systemd-analyze not installed' }, (t) => {
  const unit = readFileSync(join(ROOT, 'examples/pqike.service'), 'utf8');
  for (const line of [
    'Type=simple',
    'ExecStart=/usr/local/bin/pqike daemon -c /etc/pqike/pqike.yaml',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillSignal=SIGTERM',
    'RuntimeDirectory=pqike',
    'RuntimeDirectoryMode=0700',
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'DevicePolicy=closed',
    'DeviceAllow=/dev/net/tun rw',
  ]) {
    assert.ok(unit.split('\n').includes(line), `pqike.service lacks '${line}'`);
  }
  // verify checks that the commands exist: point them at a stand-in for the installed binary.
  const dir = mkdtempSync(join(tmpdir(), 'pqike-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'pqike'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(dir, 'pqike.service'), unit.replaceAll('/usr/local/bin/pqike', join(dir, 'pqike')));
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'pqike.service')], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(r.stderr.trim(), '', r.stderr);
});

test('pools and vips: a gateway leases from named pools (remote_ts defaults to the pool), a client asks for any address (local_ts defaults to 0.0.0.0/0); mistakes name their line', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'vip.yaml');
  writeFileSync(file, `secrets: secrets.yaml
pools:
  rw:
    addrs: 10.3.0.0/24
    dns: [10.3.0.53]
connections:
  gw:
    local_addrs: 192.0.2.1
    remote_addrs: '%any'
    local_id: gw.example.org
    psk: k
    pools: [rw]
    children:
      net:
        local_ts: [10.1.0.0/16]
  road:
    remote_addrs: 192.0.2.1
    local_id: carol.example.org
    psk: k
    vips: [0.0.0.0]
    children:
      net:
        remote_ts: [10.1.0.0/16]
`);
  const c = loadConfig(file);
  const gw = c.connections.find((x) => x.config.name === 'gw')?.config;
  const road = c.connections.find((x) => x.config.name === 'road')?.config;
  assert.ok(gw && road);
  assert.deepEqual(gw.pools?.map((p) => [p.name, p.addrs, p.dns, p.size]), [['rw', '10.3.0.0/24', ['10.3.0.53'], 254]]);
  assert.deepEqual(gw.children[0]?.remoteTs.map(formatSelector), ['10.3.0.0/24']);
  assert.deepEqual(road.vips, ['0.0.0.0']);
  assert.deepEqual(road.children[0]?.localTs.map(formatSelector), ['0.0.0.0/0']);
  // A reload with the same pool definition keeps the pool (and its leases) …
  assert.equal(loadConfig(file).connections.find((x) => x.config.name === 'gw')?.config.pools?.[0], gw.pools?.[0]);
  // … and one with other DNS servers shares the leases, so no address goes out twice.
  const held = gw.pools?.[0]?.lease('carol');
  writeFileSync(file, readFileSync(file, 'utf8').replace('dns: [10.3.0.53]', 'dns: [10.3.0.54]'));
  const again = loadConfig(file).connections.find((x) => x.config.name === 'gw')?.config.pools?.[0];
  assert.ok(again && again !== gw.pools?.[0]);
  assert.deepEqual(again.dns, ['10.3.0.54']);
  assert.equal(held, '10.3.0.1');
  assert.equal(again.lease('dave'), '10.3.0.2');
  const bad = problems(dir, `secrets: secrets.yaml
pools:
  rw:
    addrs: 10.3.0.0/33
connections:
  gw:
    local_addrs: 192.0.2.1
    psk: k
    local_id: gw.example.org
    pools: [rw, nope]
    vips: [banana]
    children:
      net:
        local_ts: [10.1.0.0/16]
        remote_ts: [10.2.0.0/16]
`);
  assert.equal(bad.list.length, 3, bad.list.join('\n'));
  assert.match(bad.list[0] ?? '', /:4: pools\.rw: pool 'rw': bad prefix length/);
  assert.match(bad.list[1] ?? '', /:10: connections\.gw\.pools: no pool 'nope'/);
  assert.match(bad.list[2] ?? '', /:11: connections\.gw\.vips: 'banana' is not an address/);
});

test('PPKs (RFC 8784): ppk: in the secrets file, ppk_id and ppk_required per connection reach the engine; a short PPK and an unknown ppk_id are refused with what to write', (t) => {
  const dir = tempDir(t);
  const secrets = join(dir, 'secrets.yaml');
  const good = '0x' + 'ab'.repeat(32);
  writeFileSync(secrets, `psk:\n  k: "a-long-random-test-key-0123456789"\nppk:\n  site-ppk: "${good}"\n  other: "${'cd'.repeat(20)}"\n`, { mode: 0o600 });
  const file = join(dir, 'pqike.yaml');
  writeFileSync(file, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_id: site-ppk\n    ppk_required: true\n'));
  const c = loadConfig(file).connections[0]?.config;
  assert.ok(c?.ppk);
  assert.equal(Buffer.from(c.ppk.id ?? []).toString('latin1'), '\x02site-ppk', 'PPK_ID_FIXED and the id');
  assert.equal(c.ppk.required, true);
  assert.deepEqual(Buffer.from(c.ppk.keys.get(Buffer.from('\x02site-ppk', 'latin1').toString('hex')) ?? []), Buffer.from('ab'.repeat(32), 'hex'));
  writeFileSync(secrets, `psk:\n  k: "a-long-random-test-key-0123456789"\nppk:\n  site-ppk: "0x${'ab'.repeat(16)}"\n`, { mode: 0o600 });
  const short = problems(dir, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_id: site-ppk\n')).list;
  assert.equal(short.length, 1, short.join('\n'));
  assert.match(short[0] ?? '', new RegExp(`^${secrets}:4: ppk 'site-ppk' has 16 octets; a PPK needs at least 256 bits \\(RFC 8784 §3\\)`));
  writeFileSync(secrets, `psk:\n  k: "a-long-random-test-key-0123456789"\nppk:\n  site-ppk: "${good}"\n`, { mode: 0o600 });
  const unknown = problems(dir, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_id: nope\n')).list;
  assert.equal(unknown.length, 1, unknown.join('\n'));
  assert.match(unknown[0] ?? '', /connections\.gw\.ppk_id: no 'nope' under ppk: in the secrets file/);
  // ppk_intermediate (RFC 9867) goes with a ppk_id; alone it says nothing about which PPK.
  writeFileSync(file, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_id: site-ppk\n    ppk_intermediate: true\n'));
  assert.equal(loadConfig(file).connections[0]?.config.ppk?.intermediate, true);
  const alone = problems(dir, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_intermediate: true\n')).list;
  assert.equal(alone.length, 1, alone.join('\n'));
  assert.match(alone[0] ?? '', /connections\.gw\.ppk_intermediate: set ppk_id \(or ppk_required\) as well/);
  // Without ppk_id or ppk_required the connection uses no PPK.
  writeFileSync(file, GOOD);
  assert.equal(loadConfig(file).connections[0]?.config.ppk, undefined);
  // ppk_rekey (RFC 9867 §3.2): every PPK of the secrets file for CREATE_CHILD_SA, also without a ppk_id.
  writeFileSync(file, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_rekey: require\n'));
  const rekey = loadConfig(file).connections[0];
  assert.equal(rekey?.config.ppk?.rekey, 'require');
  assert.equal(rekey?.config.ppk?.required, false);
  assert.equal(rekey?.config.ppk?.keys.size, 1);
  const wrong = problems(dir, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_rekey: always\n')).list;
  assert.equal(wrong.length, 1, wrong.join('\n'));
  assert.match(wrong[0] ?? '', /ppk_rekey/);
  // A new PPK in the secrets file: a new fingerprint, the same shape (reload hands it to the running SAs).
  writeFileSync(secrets, `psk:\n  k: "a-long-random-test-key-0123456789"\nppk:\n  site-ppk: "${good}"\n  fresh: "0x${'ef'.repeat(32)}"\n`, { mode: 0o600 });
  writeFileSync(file, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_rekey: require\n'));
  const fresh = loadConfig(file).connections[0];
  assert.ok(rekey && fresh);
  assert.notEqual(fresh.fingerprint, rekey.fingerprint);
  assert.equal(fresh.shape, rekey.shape);
  writeFileSync(file, GOOD.replace('    psk: k\n', '    psk: k\n    ppk_rekey: yes\n'));
  assert.notEqual(loadConfig(file).connections[0]?.shape, fresh.shape, 'another ppk_rekey is another shape');
});
