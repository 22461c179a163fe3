/**
 * The pqike daemon with `data_plane: kernel` protecting real traffic, under the stock Debian 6.1
 * kernel in qemu (this machine's kernel has XFRM but no ESP). One boot; two namespaces joined by
 * veth: a (10.99.0.1) runs pqike daemon A, b (10.99.0.2, 10.99.0.3) runs pqike daemon B, later
 * strongSwan's charon (kernel-netlink), later libreswan's pluto. Tunnel mode between inner
 * addresses on lo; the routes to the remote subnets (with a source inside the local selectors)
 * are added by the script, as neither pqike plane's kernel side nor this test's peers need more.
 *
 * A guest program (this file, run with PQIKE_KP_GUEST=orchestrate) drives everything over the
 * daemons' control sockets (the `pqike` CLI costs ~5 s of node start-up per call under TCG; it
 * is called once, for `list-sas --json`) and prints one JSON result; the host test asserts:
 *
 * 1. pqike ↔ pqike, aes256gcm16-prfsha384-x25519-ke1_mlkem768 (Child SA
 *    aes256gcm16-x25519-ke1_mlkem768): 20 pings, 0 lost; 4 MiB over TCP, sha256 equal; our SAs
 *    and policies in `ip xfrm` with reqids 0x507xxxxx; list-sas counts bytes/packets both ways.
 * 2. Rekeys under a 20/s ping: a Child SA rekey then an IKE SA rekey, no ping lost; a
 *    connection whose child has rekey_bytes 262144 (A only) carries 1 MiB: the kernel's soft
 *    EXPIRE makes A rekey it, the new SPI carries the rest (its counters > 0, the old gone).
 * 3. Nothing of ours in `ip xfrm state`/`policy` after `pqike down`, after SIGTERM, after kill -9
 *    plus a restart (the restart's flush), while another daemon's state and policy (reqid 1,
 *    installed with `ip xfrm` first) stay.
 * 4. pqike ↔ strongSwan 5.9.8 charon (kernel-netlink), both directions, ping across. Proposal
 *    aes256gcm16-prfsha384-x25519 / aes256gcm16: Debian 12's strongSwan 5.9.8 has neither
 *    ML-KEM (the `ml` plugin came with 6.0) nor RFC 9370's additional key exchanges.
 * 5. pqike ↔ libreswan 4.10 (pluto, no RFC 9370 either), both directions: classic proposal,
 *    ping across; start_action trap (added to A by a reload): a ping to the trapped subnet
 *    brings the tunnel up through the kernel's ACQUIRE (the first echo requests may be lost,
 *    the last ones pass).
 *
 * 6. NAT: A's second address 10.97.0.2 behind namespace m (nft masquerade out to 10.98.0.1),
 *    B on 10.98.0.2, both added by reloads: NAT detected, IKE moves to 4500, the Child SA is
 *    ESP in UDP through the kernel (UDP_ENCAP on the plane's NAT-T sockets), ping across.
 *    (masquerade keeps the free source port 4500: the NAT changes the address only.)
 * 7. The final SIGTERM leaves nothing of ours in either namespace.
 *
 * About 190-250 s on this loaded 2-CPU machine (boot 8 s). PQIKE_KP_CONSOLE=FILE copies the guest
 * console live; PQIKE_KP_KEEP=1 keeps the share (daemon logs, result.json) for post-mortems.
 *
 * Skips when not root or when the VM cannot be prepared, except with CI=true, where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildView, SaView } from '../../src/daemon/listing.js';

const GUEST_ENV = 'PQIKE_KP_GUEST';
// A hang guard, not a timing check: about 3× the 203 s the guest takes on these machines.
const VM_TIMEOUT_MS = 660_000;

const A = '10.99.0.1';
const B = '10.99.0.2';
const B2 = '10.99.0.3';
/** Inner addresses (on lo) and selectors per connection. */
const NET = { a: '10.99.1.1', b: '10.99.2.1', aTs: '10.99.1.0/24', bTs: '10.99.2.0/24' };
const BYTES = { a: '10.99.11.1', b: '10.99.12.1', aTs: '10.99.11.0/24', bTs: '10.99.12.0/24' };
const TRAP = { a: '10.99.21.1', b: '10.99.22.1', aTs: '10.99.21.0/24', bTs: '10.99.22.0/24' };
/** charon initiates from B2 to A's responder connection rw. */
const RW = { a: '10.99.4.1', b: '10.99.3.1', aTs: '10.99.4.0/24', bTs: '10.99.3.0/24' };
/** NAT: A's second address 10.97.0.2 behind namespace m (nft masquerade to 10.98.0.1), B's 10.98.0.2. */
const NAT = { a: '10.99.31.1', b: '10.99.32.1', aTs: '10.99.31.0/24', bTs: '10.99.32.0/24', aOuter: '10.97.0.2', mIn: '10.97.0.1', mOut: '10.98.0.1', bOuter: '10.98.0.2' };

const HYBRID = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
const HYBRID_ESP = 'aes256gcm16-x25519-ke1_mlkem768';
const CLASSIC = 'aes256gcm16-prfsha384-x25519';
const REKEY_BYTES = 262_144;
const XFER_BYTES = 4 * 1024 * 1024;
const XFER_BYTES_REKEY = 1024 * 1024;
const OUR_FIRST = 0x50700000;
const OUR_LAST = 0x507fffff;
const PSK_NAME = 'k';

/** Guest paths (the guest's /tmp is its own tmpfs). */
const G = '/tmp/kp';
const side = (n: 'a' | 'b') => ({ ns: n, dir: `${G}/${n}`, conf: `${G}/${n}/pqike.yaml`, sock: `${G}/${n}/run/pqike.sock` });

/* ------------------------------------------------------------------------ */
/* Configurations                                                           */
/* ------------------------------------------------------------------------ */

interface ConnSpec {
  readonly name: string;
  readonly local: string;
  readonly remote: string;
  readonly localId: string;
  readonly remoteId: string;
  readonly proposals: readonly string[];
  readonly esp: readonly string[];
  readonly localTs: string;
  readonly remoteTs: string;
  readonly child?: string;
}

function conn(c: ConnSpec): string {
  return `  ${c.name}:
    local_addrs: ${c.local}
    remote_addrs: '${c.remote}'
    local_id: ${c.localId}
    remote_id: ${c.remoteId}
    psk: ${PSK_NAME}
    proposals: [${c.proposals.join(', ')}]
    children:
      ${c.name}:
        local_ts: [${c.localTs}]
        remote_ts: [${c.remoteTs}]
        esp_proposals: [${c.esp.join(', ')}]
${c.child ? c.child.replace(/^/gm, '        ') + '\n' : ''}`;
}

function daemonConfig(me: 'a' | 'b', withTrap: boolean, withNat = false): string {
  const s = side(me);
  const head = `secrets: ${s.dir}/secrets.yaml
log:
  level: debug
  format: json
control:
  socket: ${s.sock}
data_plane: kernel
connections:
`;
  const pair = (name: string, ids: [string, string], ts: typeof NET, child?: string, proposals: readonly string[] = [HYBRID], esp: readonly string[] = [HYBRID_ESP]): string =>
    me === 'a'
      ? conn({ name, local: A, remote: B, localId: ids[0], remoteId: ids[1], proposals, esp, localTs: ts.aTs, remoteTs: ts.bTs, ...(child ? { child } : {}) })
      : conn({ name, local: B, remote: A, localId: ids[1], remoteId: ids[0], proposals, esp, localTs: ts.bTs, remoteTs: ts.aTs });
  let text = head + pair('net', ['moon.pqike.test', 'sun.pqike.test'], NET) + pair('bytes', ['moonb.pqike.test', 'sunb.pqike.test'], BYTES, `rekey_bytes: ${REKEY_BYTES}`);
  // B answers trap's IKE SA from the start; A gets the trap by a reload (section 5)
  if (me === 'b' || withTrap) text += pair('trap', ['moont.pqike.test', 'sunt.pqike.test'], TRAP, me === 'a' ? 'start_action: trap' : undefined);
  if (withNat) {
    text +=
      me === 'a'
        ? conn({ name: 'nat', local: NAT.aOuter, remote: NAT.bOuter, localId: 'moonn.pqike.test', remoteId: 'sunn.pqike.test', proposals: [HYBRID], esp: [HYBRID_ESP], localTs: NAT.aTs, remoteTs: NAT.bTs })
        : conn({ name: 'nat', local: NAT.bOuter, remote: '%any', localId: 'sunn.pqike.test', remoteId: 'moonn.pqike.test', proposals: [HYBRID], esp: [HYBRID_ESP], localTs: NAT.bTs, remoteTs: NAT.aTs });
  }
  if (me === 'a') {
    // the classic peers: charon and pluto answer as sun.pqike.test on B; charon initiates to rw from B2
    text += conn({ name: 'classic', local: A, remote: B, localId: 'moon.pqike.test', remoteId: 'sun.pqike.test', proposals: [CLASSIC], esp: ['aes256gcm16'], localTs: NET.aTs, remoteTs: NET.bTs });
    text += conn({ name: 'rw', local: A, remote: '%any', localId: 'moon.pqike.test', remoteId: 'rw.pqike.test', proposals: [CLASSIC], esp: ['aes256gcm16'], localTs: RW.aTs, remoteTs: RW.bTs });
  }
  return text;
}

/* ------------------------------------------------------------------------ */
/* Guest side                                                               */
/* ------------------------------------------------------------------------ */

interface RunResult {
  readonly code: number | null;
  readonly out: string;
}

function sh(cmd: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const c = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const uptime = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const log = (m: string): void => console.log(`@@kp ${uptime().toFixed(2)} ${m}`);

/** One control request (src/daemon/control.ts: a JSON line, a JSON answer). */
function ctl(sock: string, cmd: string, args: readonly string[] = [], opts: Record<string, string> = {}, timeoutMs = 45_000): Promise<{ ok: boolean; data?: unknown; error?: string }> {
  return new Promise((resolve) => {
    const s = createConnection(sock);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, error: `control ${cmd} timed out` });
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ cmd, args, opts }) + '\n'));
    s.on('data', (d: string) => (buf += d));
    s.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `control ${cmd}: ${e.message}` });
    });
    s.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as { ok: boolean; data?: unknown; error?: string });
      } catch {
        resolve({ ok: false, error: `control ${cmd}: not JSON: ${buf}` });
      }
    });
  });
}

interface Daemon {
  readonly ns: 'a' | 'b';
  pid?: number;
  exited?: Promise<number | string | null>;
}

/** Start pqike daemon in its namespace (ip netns exec execs node: the pid is the daemon's). */
async function startDaemon(d: Daemon, cli: string): Promise<void> {
  const s = side(d.ns);
  const logFile = join(process.env['PQIKE_VM_OUT'] ?? G, `daemon-${d.ns}.log`);
  appendFileSync(logFile, `=== start at ${uptime()} ===\n`);
  const c = spawn('ip', ['netns', 'exec', d.ns, process.execPath, cli, 'daemon', '-c', s.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout.on('data', (b: Buffer) => appendFileSync(logFile, b));
  c.stderr.on('data', (b: Buffer) => appendFileSync(logFile, b));
  d.pid = c.pid;
  d.exited = new Promise((resolve) => c.on('exit', (code, sig) => resolve(code ?? sig)));
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    const gone = await Promise.race([d.exited, sleep(250).then(() => 'running' as const)]);
    if (gone !== 'running') throw new Error(`daemon ${d.ns} exited (${String(gone)}) before its control socket answered`);
    if (existsSync(s.sock) && (await ctl(s.sock, 'list-conns', [], {}, 5000)).ok) return;
  }
  throw new Error(`daemon ${d.ns}: no control socket after 90 s`);
}

async function signalDaemon(d: Daemon, sig: NodeJS.Signals): Promise<number | string | null> {
  if (d.pid === undefined || !d.exited) throw new Error(`daemon ${d.ns} not running`);
  process.kill(d.pid, sig);
  const r = await Promise.race([d.exited, sleep(30_000).then(() => 'still running after 30 s')]);
  d.pid = undefined;
  return r;
}

interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly seqs: number[];
  readonly out: string;
}

async function ping(ns: string, src: string, dst: string, count: number, interval: number, quiet = true): Promise<PingResult> {
  const r = await sh(`ip netns exec ${ns} busybox ping ${quiet ? '-q ' : ''}-c ${count} -i ${interval} -W 3 -I ${src} ${dst}`, (count * interval + 30) * 1000);
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(r.out);
  const seqs = [...r.out.matchAll(/seq=(\d+)/g)].map((x) => Number(x[1]));
  return { sent: m ? Number(m[1]) : -1, received: m ? Number(m[2]) : -1, seqs, out: r.out.slice(-2000) };
}

/** TCP transfer src → dst:port between the namespaces, both ends hashing (helper processes). */
async function transfer(entry: string, from: { ns: string; addr: string }, to: { ns: string; addr: string }, port: number, bytes: number): Promise<Record<string, unknown>> {
  const sink = spawn('ip', ['netns', 'exec', to.ns, process.execPath, entry, 'sink', to.addr, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [GUEST_ENV]: 'xfer' } });
  let sinkOut = '';
  sink.stdout.setEncoding('utf8').on('data', (d: string) => (sinkOut += d));
  sink.stderr.setEncoding('utf8').on('data', (d: string) => (sinkOut += d));
  const sinkDone = new Promise<void>((r) => sink.on('close', () => r()));
  const until = Date.now() + 30_000;
  while (!sinkOut.includes('listening') && Date.now() < until) await sleep(100);
  const t0 = Date.now();
  const src = await sh(`ip netns exec ${from.ns} env ${GUEST_ENV}=xfer ${process.execPath} ${entry} source ${from.addr} ${to.addr} ${port} ${bytes}`, 180_000).catch((e: unknown) => ({ code: -1, out: String(e) }));
  const timer = setTimeout(() => sink.kill('SIGKILL'), 30_000);
  await sinkDone;
  clearTimeout(timer);
  const parse = (s: string): Record<string, unknown> => {
    const m = /^@@xfer (.*)$/m.exec(s);
    return m ? (JSON.parse(m[1] as string) as Record<string, unknown>) : { raw: s.slice(-1500) };
  };
  return { source: parse(src.out), sink: parse(sinkOut), wallMs: Date.now() - t0 };
}

/** `ip xfrm state` and `policy` of a namespace, with the reqids found in each. */
async function xfrm(ns: string): Promise<{ state: string; policy: string; stateReqids: number[]; policyReqids: number[] }> {
  const st = await sh(`ip -n ${ns} -s xfrm state`);
  const po = await sh(`ip -n ${ns} xfrm policy`);
  const reqids = (t: string): number[] => [...t.matchAll(/\breqid (\d+)/g)].map((m) => Number(m[1]));
  return { state: st.out, policy: po.out, stateReqids: reqids(st.out), policyReqids: reqids(po.out) };
}

async function guestMain(): Promise<void> {
  const entry = fileURLToPath(import.meta.url);
  const root = join(dirname(entry), '../..');
  const cli = join(root, 'src/cli/main.js');
  const out: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const step = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    log(`step ${name}`);
    try {
      out[name] = await fn();
    } catch (e) {
      errors[name] = e instanceof Error ? (e.stack ?? e.message) : String(e);
      log(`step ${name} FAILED: ${errors[name]}`);
    }
  };
  const sa = side('a');
  const sb = side('b');
  const da: Daemon = { ns: 'a' };
  const db: Daemon = { ns: 'b' };
  // the PSK (random per run) comes in the environment, goes into 0600 files: never argv or a log
  const psk = process.env['PQIKE_KP_PSK'] ?? '';
  for (const s of [sa, sb]) {
    mkdirSync(`${s.dir}/run`, { recursive: true, mode: 0o700 });
    writeFileSync(`${s.dir}/secrets.yaml`, `psk:\n  ${PSK_NAME}: "${psk}"\n`, { mode: 0o600 });
  }
  writeFileSync(sa.conf, daemonConfig('a', false));
  writeFileSync(sb.conf, daemonConfig('b', false));
  const listSas = async (s: { sock: string }): Promise<SaView[]> => {
    const r = await ctl(s.sock, 'list-sas');
    if (!r.ok) throw new Error(`list-sas: ${r.error ?? ''}`);
    return r.data as SaView[];
  };
  const up = async (conn: string): Promise<unknown> => {
    const t0 = Date.now();
    const r = await ctl(sa.sock, 'up', [conn]);
    if (!r.ok) throw new Error(`up ${conn}: ${r.error ?? ''}`);
    return { ms: Date.now() - t0, data: r.data };
  };
  const down = async (conn: string): Promise<unknown> => {
    const r = await ctl(sa.sock, 'down', [conn]);
    if (!r.ok) throw new Error(`down ${conn}: ${r.error ?? ''}`);
    return r.data;
  };
  const both = async (): Promise<{ a: Awaited<ReturnType<typeof xfrm>>; b: Awaited<ReturnType<typeof xfrm>> }> => ({ a: await xfrm('a'), b: await xfrm('b') });

  await step('start', async () => {
    const t0 = Date.now();
    await Promise.all([startDaemon(da, cli), startDaemon(db, cli)]);
    return { ms: Date.now() - t0 };
  });
  const result = (): void => {
    writeFileSync(join(process.env['PQIKE_VM_OUT'] ?? G, 'result.json'), JSON.stringify({ steps: out, errors }));
    console.log(`@@kp-result ${Object.keys(out).length} steps, ${Object.keys(errors).length} failed: ${Object.keys(errors).join(' ')}`);
  };
  if (errors['start']) return result();

  // 1. pqike <-> pqike, hybrid
  await step('up-net', () => up('net'));
  await step('ping-net', () => ping('a', NET.a, NET.b, 20, 0.1));
  await step('xfer-net', () => transfer(entry, { ns: 'a', addr: NET.a }, { ns: 'b', addr: NET.b }, 5001, XFER_BYTES));
  await step('xfrm-net', both);
  await step('cli-list-sas', async () => {
    const r = await sh(`ip netns exec a ${process.execPath} ${cli} list-sas --json --socket ${sa.sock}`);
    return r;
  });
  await step('sas-b-net', () => listSas(sb));

  // 2. rekeys under a 20/s ping
  await step('rekey-under-ping', async () => {
    const before = (await listSas(sa)).find((x) => x.connection === 'net');
    const child = before?.children[0];
    if (!before || !child) throw new Error('no IKE SA/Child SA of net');
    const pinging = ping('a', NET.a, NET.b, 240, 0.05);
    await sleep(2500);
    const t0 = Date.now();
    const rc = await ctl(sa.sock, 'rekey', ['net'], { child: child.spiIn });
    const childMs = Date.now() - t0;
    await sleep(1500);
    const t1 = Date.now();
    const ri = await ctl(sa.sock, 'rekey', ['net']);
    const ikeMs = Date.now() - t1;
    const p = await pinging;
    const after = await listSas(sa);
    const afterB = await listSas(sb);
    return { before, rekeyChild: rc, childMs, rekeyIke: ri, ikeMs, ping: p, after, afterB, xfrm: await both() };
  });
  await step('rekey-bytes', async () => {
    await up('bytes');
    const before = (await listSas(sa)).find((x) => x.connection === 'bytes');
    const x = await transfer(entry, { ns: 'a', addr: BYTES.a }, { ns: 'b', addr: BYTES.b }, 5002, XFER_BYTES_REKEY);
    // a few packets after the transfer: on whichever SA the last rekey made
    await sleep(1000);
    const p = await ping('a', BYTES.a, BYTES.b, 5, 0.2);
    const after = (await listSas(sa)).find((s) => s.connection === 'bytes');
    return { before, xfer: x, ping: p, after, xfrm: await xfrm('a') };
  });

  // 3. cleanup: down, SIGTERM, kill -9 + restart
  await step('down', async () => {
    const d1 = await down('net');
    const d2 = await down('bytes');
    await sleep(500);
    return { down: [d1, d2], xfrm: await both(), sasA: await listSas(sa), sasB: await listSas(sb) };
  });
  await step('sigterm', async () => {
    await up('net');
    const with_ = await both();
    const [ea, eb] = await Promise.all([signalDaemon(da, 'SIGTERM'), signalDaemon(db, 'SIGTERM')]);
    return { before: with_, exit: { a: ea, b: eb }, xfrm: await both() };
  });
  await step('kill9-restart', async () => {
    await Promise.all([startDaemon(da, cli), startDaemon(db, cli)]);
    await up('net');
    const [ea, eb] = await Promise.all([signalDaemon(da, 'SIGKILL'), signalDaemon(db, 'SIGKILL')]);
    const left = await both();
    await Promise.all([startDaemon(da, cli), startDaemon(db, cli)]);
    await sleep(300);
    return { exit: { a: ea, b: eb }, left, xfrm: await both() };
  });

  // 4. strongSwan charon (kernel-netlink) in b instead of pqike B
  await step('charon', async () => {
    await signalDaemon(db, 'SIGTERM');
    const started = await sh(`bash ${root}/kp/charon-start.sh`, 60_000);
    if (started.code !== 0) throw new Error(`charon did not start: ${started.out}`);
    const version = await sh('/usr/lib/ipsec/charon --version; ls /usr/lib/ipsec/plugins');
    const res: Record<string, unknown> = { version: version.out };
    res['up'] = await up('classic');
    res['ping'] = await ping('a', NET.a, NET.b, 10, 0.2);
    res['sasA'] = await listSas(sa);
    res['swanctl'] = (await sh(`bash ${root}/kp/swanctl.sh --list-sas`)).out;
    res['xfrmB'] = await xfrm('b');
    res['down'] = await down('classic');
    res['initiate'] = await sh(`bash ${root}/kp/swanctl.sh --initiate --child rwnet --timeout 60`, 90_000);
    res['ping2'] = await ping('b', RW.b, RW.a, 10, 0.2);
    res['sasA2'] = await listSas(sa);
    res['terminate'] = await sh(`bash ${root}/kp/swanctl.sh --terminate --ike topq --timeout 30`, 40_000);
    await sleep(500);
    res['xfrmAfter'] = await both();
    res['stop'] = await sh(`kill $(cat /tmp/charon-b/charon.pid); sleep 1; ip -n b xfrm state; ip -n b xfrm policy`);
    return res;
  });

  // 5. libreswan pluto in b; then pqike B again for trap
  await step('pluto', async () => {
    // pluto's updown adds its own route to A's subnet (leftsourceip)
    await sh(`ip -n b route del ${NET.aTs}; ip -n b route del ${RW.aTs}`);
    const started = await sh(`bash ${root}/kp/pluto-start.sh`, 90_000);
    if (started.code !== 0) throw new Error(`pluto did not start: ${started.out}`);
    const res: Record<string, unknown> = {};
    res['up'] = await up('classic');
    res['routesB'] = (await sh(`ip -n b route; ip -n b route replace ${NET.aTs} via ${A} src ${NET.b}`)).out;
    res['ping'] = await ping('a', NET.a, NET.b, 10, 0.2);
    res['sasA'] = await listSas(sa);
    res['traffic'] = (await sh(`bash ${root}/kp/whack.sh --trafficstatus`)).out;
    res['down'] = await down('classic');
    res['initiate'] = await sh(`bash ${root}/kp/whack.sh --initiate --name topq`, 60_000);
    res['routesB2'] = (await sh(`ip -n b route replace ${RW.aTs} via ${A} src ${RW.b}`)).out;
    res['ping2'] = await ping('b', RW.b, RW.a, 10, 0.2);
    res['sasA2'] = await listSas(sa);
    const rw = (res['sasA2'] as SaView[]).find((x) => x.connection === 'rw');
    res['down2'] = rw ? await ctl(sa.sock, 'down', [String(rw.id)]) : 'no rw SA';
    await sleep(500);
    res['xfrmAfter'] = await both();
    res['stop'] = await sh(`bash ${root}/kp/whack.sh --shutdown; sleep 1; kill $(cat /tmp/pluto-b/pluto.pid) 2>/dev/null; true`);
    return res;
  });
  await step('trap', async () => {
    await sh(`ip -n b xfrm state flush; ip -n b xfrm policy flush; ip -n b route replace ${NET.aTs} via ${A} src ${NET.b}`);
    await sh(`bash ${root}/kp/foreign.sh b`);
    await startDaemon(db, cli);
    writeFileSync(sa.conf, daemonConfig('a', true));
    const reload = await ctl(sa.sock, 'reload');
    await sleep(500);
    const policies = await xfrm('a');
    const p = await ping('a', TRAP.a, TRAP.b, 60, 0.25, false);
    const sas = await listSas(sa);
    return { reload, policies, ping: p, sas };
  });
  await step('nat', async () => {
    const setup = await sh(
      [
        'ip netns add m',
        'ip link add vetham netns a type veth peer name vethma netns m',
        'ip link add vethmb netns m type veth peer name vethbm netns b',
        `ip -n a addr add ${NAT.aOuter}/24 dev vetham`,
        `ip -n m addr add ${NAT.mIn}/24 dev vethma`,
        `ip -n m addr add ${NAT.mOut}/24 dev vethmb`,
        `ip -n b addr add ${NAT.bOuter}/24 dev vethbm`,
        'for l in "a vetham" "m vethma" "m vethmb" "b vethbm" "m lo"; do set -- $l; ip -n $1 link set $2 up; done',
        `ip -n a addr add ${NAT.a}/32 dev lo`,
        `ip -n b addr add ${NAT.b}/32 dev lo`,
        `ip -n a route add ${NAT.bOuter}/32 via ${NAT.mIn}`,
        `ip -n a route add ${NAT.bTs} via ${NAT.mIn} src ${NAT.a}`,
        `ip -n b route add ${NAT.aTs} via ${NAT.mOut} src ${NAT.b}`,
        'ip netns exec m sysctl -qw net.ipv4.ip_forward=1',
        `ip netns exec m nft -f - <<'EOF'
table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "vethmb" masquerade
  }
}
EOF`,
        'ip netns exec m nft list ruleset',
      ].join('\n'),
    );
    writeFileSync(sb.conf, daemonConfig('b', false, true));
    writeFileSync(sa.conf, daemonConfig('a', true, true));
    const reloadB = await ctl(sb.sock, 'reload');
    const reloadA = await ctl(sa.sock, 'reload');
    const upNat = await ctl(sa.sock, 'up', ['nat']);
    const p = await ping('a', NAT.a, NAT.b, 20, 0.1);
    const sasA = await listSas(sa);
    const sasB = await listSas(sb);
    return { setup, reloadA, reloadB, up: upNat, ping: p, sasA, sasB, xfrmB: await xfrm('b'), conntrack: (await sh('ip netns exec m cat /proc/net/nf_conntrack 2>/dev/null | grep udp')).out };
  });
  await step('final', async () => {
    const [ea, eb] = await Promise.all([signalDaemon(da, 'SIGTERM'), signalDaemon(db, 'SIGTERM')]);
    return { exit: { a: ea, b: eb }, xfrm: await both() };
  });
  result();
  for (const d of [da, db]) if (d.pid !== undefined) process.kill(d.pid, 'SIGKILL');
  process.exit(0);
}

/** The transfer helper: `sink ADDR PORT` / `source FROM TO PORT BYTES`; prints @@xfer JSON. */
async function xferMain(): Promise<void> {
  const [mode, a1, a2, a3, a4] = process.argv.slice(2);
  if (mode === 'sink') {
    const h = createHash('sha256');
    let n = 0;
    await new Promise<void>((resolve) => {
      const srv = createServer((s) => {
        const t0 = Date.now();
        s.on('data', (d: Buffer) => {
          h.update(d);
          n += d.length;
        });
        s.on('end', () => {
          console.log(`@@xfer ${JSON.stringify({ bytes: n, sha256: h.digest('hex'), ms: Date.now() - t0 })}`);
          s.end();
          srv.close();
          resolve();
        });
        s.on('error', (e) => console.log(`@@xfer ${JSON.stringify({ error: e.message, bytes: n })}`));
      });
      srv.listen(Number(a2), a1, () => console.log('listening'));
    });
    return;
  }
  const total = Number(a4);
  const h = createHash('sha256');
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const s = createConnection({ host: a2 as string, port: Number(a3), localAddress: a1 as string }, () => {
      let sent = 0;
      const more = (): void => {
        while (sent < total) {
          const chunk = randomBytes(Math.min(65536, total - sent));
          h.update(chunk);
          sent += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', more);
            return;
          }
        }
        s.end();
      };
      more();
    });
    s.on('close', () => resolve());
    s.on('error', (e) => {
      console.log(`@@xfer ${JSON.stringify({ error: e.message })}`);
      resolve();
    });
  });
  console.log(`@@xfer ${JSON.stringify({ bytes: total, sha256: h.digest('hex'), ms: Date.now() - t0 })}`);
}

/* ------------------------------------------------------------------------ */
/* Host side                                                                */
/* ------------------------------------------------------------------------ */

async function hostTest(): Promise<void> {
  const { cpSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const { plutoVmPreconditions } = await import('./daemon-pluto.js');
  const { repoRoot } = await import('./setup.js');
  const { runInVm, shq, DEFAULT_VM_MODULES } = await import('./vm.js');
  const { charonStartSnippet, guestCharonPaths, swanctlCmd, lastSection, netnsPairSnippet, parseSections, parseXfrmState, section } = await import('./guest.js');
  const { guestPlutoPaths, plutoStartSnippet, whackCmd, parseTrafficStatus } = await import('./libreswan.js');

  // The pluto VM's preconditions, and charon on the host (the guest runs it too).
  const preconditions = (): Promise<string | null> => plutoVmPreconditions([], '', [['/usr/lib/ipsec/charon', 'strongswan-charon']]);

  const PEER_PSK = randomBytes(24).toString('base64url');

  /** dist/src and this file copied for the guest (a concurrent tsc must not hand it half-written modules), plus the peers' start scripts. */
  function snapshot(): { dir: string; entry: string } {
    const here = dirname(fileURLToPath(import.meta.url));
    const dir = mkdtempSync('/var/tmp/pqike-kp-');
    cpSync(resolve(here, '../../src'), join(dir, 'src'), { recursive: true });
    mkdirSync(join(dir, 'test/qemu'), { recursive: true });
    const entry = join(dir, 'test/qemu/kernel-plane.test.js');
    copyFileSync(fileURLToPath(import.meta.url), entry);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(join(repoRoot(), 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'kp'));
    const cp = guestCharonPaths({ ns: 'b' });
    const charon = charonStartSnippet({
      ns: 'b',
      conns: [
        { name: 'pq', localAddrs: B, remoteAddrs: A, localId: 'sun.pqike.test', remoteId: 'moon.pqike.test', psk: PEER_PSK, ikeProposals: [CLASSIC], espProposals: ['aes256gcm16'], childName: 'net', localTs: NET.bTs, remoteTs: NET.aTs },
        { name: 'topq', localAddrs: B2, remoteAddrs: A, localId: 'rw.pqike.test', remoteId: 'moon.pqike.test', psk: PEER_PSK, ikeProposals: [CLASSIC], espProposals: ['aes256gcm16'], childName: 'rwnet', localTs: RW.bTs, remoteTs: RW.aTs },
      ],
    });
    writeFileSync(join(dir, 'kp/charon-start.sh'), `set -u\n${charon}`, { mode: 0o600 });
    writeFileSync(join(dir, 'kp/swanctl.sh'), `${swanctlCmd(cp, '"$@"')}\n`);
    const pp = guestPlutoPaths({ ns: 'b' });
    const pluto = plutoStartSnippet({
      ns: 'b',
      conns: [
        { name: 'pq', left: B, right: A, leftId: '@sun.pqike.test', rightId: '@moon.pqike.test', leftSubnet: NET.bTs, rightSubnet: NET.aTs, leftSourceIp: NET.b, ike: 'aes_gcm256-sha2_384;dh31', esp: 'aes_gcm256', auto: 'add' },
        // pluto initiates to A's rw from B2; rekey=no: no revival after pqike's delete
        { name: 'topq', left: B2, right: A, leftId: '@rw.pqike.test', rightId: '@moon.pqike.test', leftSubnet: RW.bTs, rightSubnet: RW.aTs, leftSourceIp: RW.b, ike: 'aes_gcm256-sha2_384;dh31', esp: 'aes_gcm256', auto: 'add', extra: ['rekey=no'] },
      ],
      secrets: [
        { localId: '@sun.pqike.test', remoteId: '@moon.pqike.test', psk: PEER_PSK },
        { localId: '@rw.pqike.test', remoteId: '@moon.pqike.test', psk: PEER_PSK },
      ],
    });
    writeFileSync(join(dir, 'kp/pluto-start.sh'), `set -u\n${pluto}`, { mode: 0o600 });
    writeFileSync(join(dir, 'kp/whack.sh'), `${whackCmd(pp, '"$@"')}\n`);
    // another daemon's state and policy (reqid 1): through ip -batch on stdin, the dummy key off argv
    writeFileSync(
      join(dir, 'kp/foreign.sh'),
      `ns=$1; me=$([ "$ns" = a ] && echo ${A} || echo ${B})
ip -n "$ns" -batch - <<EOF
xfrm state add src $me dst 10.99.0.9 proto esp spi 0x7777 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x${'ab'.repeat(20)} 128
xfrm policy add src 10.88.0.0/16 dst 10.89.0.0/16 dir out tmpl src $me dst 10.99.0.9 proto esp reqid 1 mode tunnel
EOF
`,
    );
    return { dir, entry };
  }

  const skip = await preconditions();
  if (skip) {
    test('kernel data plane under qemu: pqike daemons protect traffic', (t) => t.skip(skip));
    return;
  }

  test('kernel data plane under qemu (Debian 6.1): the pqike daemon protects traffic with pqike, strongSwan and libreswan peers', { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
    const snap = snapshot();
    const route = (ns: string, to: string, via: string, src: string): string => `ip -n ${ns} route add ${to} via ${via} src ${src}`;
    const script = [
      'set -u',
      'stamp() { echo "@@stamp $1 $(cut -d" " -f1 /proc/uptime)"; }',
      'stamp start',
      netnsPairSnippet(),
      `ip -n b addr add ${B2}/24 dev vethb`,
      // (netnsPairSnippet put NET's inner addresses on lo already)
      ...[BYTES, TRAP, RW].flatMap((n) => [`ip -n a addr add ${n.a}/32 dev lo`, `ip -n b addr add ${n.b}/32 dev lo`]),
      ...[NET, BYTES, TRAP].flatMap((n) => [route('a', n.bTs, B, n.a), route('b', n.aTs, A, n.b)]),
      route('a', RW.bTs, B2, RW.a),
      route('b', RW.aTs, A, RW.b),
      `bash ${snap.dir}/kp/foreign.sh a`,
      `bash ${snap.dir}/kp/foreign.sh b`,
      'stamp setup',
      section('guest', `${shq(process.execPath)} ${shq(snap.entry)}`),
      'stamp guest',
      `cp /tmp/charon-b/charon.log $PQIKE_VM_OUT/charon.log 2>/dev/null; cp /tmp/pluto-b/pluto.log $PQIKE_VM_OUT/pluto.log 2>/dev/null; true`,
    ].join('\n');
    // PQIKE_KP_CONSOLE=FILE: a live copy of the guest console (debugging)
    const consoleCopy = process.env['PQIKE_KP_CONSOLE'];
    let r: Awaited<ReturnType<typeof runInVm>>;
    try {
      r = await runInVm(script, { timeoutMs: VM_TIMEOUT_MS, memoryMb: 1536, keepDir: true, env: { [GUEST_ENV]: 'orchestrate', PQIKE_KP_PSK: PEER_PSK }, modules: [...DEFAULT_VM_MODULES, 'nf_tables', 'nft_chain_nat', 'nft_masq'], ...(consoleCopy ? { onOutput: (d: string) => appendFileSync(consoleCopy, d) } : {}) });
    } finally {
      rmSync(snap.dir, { recursive: true, force: true });
    }
    const read = (f: string): string => (existsSync(join(r.outDir, f)) ? readFileSync(join(r.outDir, f), 'utf8') : '');
    const logs = { a: read('daemon-a.log'), b: read('daemon-b.log'), charon: read('charon.log'), pluto: read('pluto.log') };
    const resultText = read('result.json');
    if (!process.env['PQIKE_KP_KEEP']) rmSync(r.dir, { recursive: true, force: true });
    else t.diagnostic(`kept ${r.dir}`);
    const stamps = Object.fromEntries([...r.output.matchAll(/^@@stamp (\S+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
    t.diagnostic(`VM ${r.kver}: total ${r.durationMs} ms, boot ${String(r.bootMs)} ms; guest uptime stamps ${JSON.stringify(stamps)}`);
    const progress = [...r.output.matchAll(/^@@kp (\S+) (step \S+.*)$/gm)].map((m) => `${m[1] as string} ${(m[2] as string).slice(0, 120)}`);
    t.diagnostic(`guest steps (uptime s): ${progress.join(' | ')}`);
    const tail = (s: string, n = 8000): string => s.slice(-n);
    const ctx = `VM: code=${String(r.code)} timedOut=${r.timedOut} ${r.durationMs} ms\n--- output ---\n${tail(r.output || r.console, 20000)}\n--- daemon a ---\n${tail(logs.a)}\n--- daemon b ---\n${tail(logs.b)}`;
    assert.equal(r.timedOut, false, `VM timed out\n${ctx}`);
    assert.equal(r.code, 0, `guest script failed\n${ctx}`);
    const secs = parseSections(r.output);
    assert.match(lastSection(secs, 'guest').text, /^@@kp-result /m, `no result from the guest program\n${ctx}`);
    assert.ok(resultText, `no result.json from the guest program\n${ctx}`);
    const res = JSON.parse(resultText) as { steps: Record<string, unknown>; errors: Record<string, string> };
    const step = <T>(n: string): T => {
      if (res.errors[n]) assert.fail(`guest step ${n} failed: ${res.errors[n]}\n${ctx}`);
      return (res.steps[n] ?? assert.fail(`step ${n} missing\n${ctx}`)) as T;
    };
    type X = { state: string; policy: string; stateReqids: number[]; policyReqids: number[] };
    const ours = (n: number): boolean => n >= OUR_FIRST && n <= OUR_LAST;
    const hex = (n: number): string => `0x${n.toString(16)}`;
    const nothingOurs = (x: X, what: string): void => {
      assert.deepEqual(x.stateReqids.filter(ours).map(hex), [], `${what}: states of ours left\n${x.state}`);
      assert.deepEqual(x.policyReqids.filter(ours).map(hex), [], `${what}: policies of ours left\n${x.policy}`);
    };
    const foreignStays = (x: X, what: string): void => {
      assert.ok(x.stateReqids.includes(1) && /spi 0x00007777/.test(x.state), `${what}: the other daemon's state (reqid 1) must stay\n${x.state}`);
      assert.ok(x.policyReqids.includes(1) && /src 10\.88\.0\.0\/16 dst 10\.89\.0\.0\/16/.test(x.policy), `${what}: the other daemon's policy (reqid 1) must stay\n${x.policy}`);
    };
    type P = { sent: number; received: number; seqs: number[]; out: string };
    const figures: string[] = [];

    await t.test('1. pqike ↔ pqike, x25519 + ke1_mlkem768, tunnel mode: ping, a 4 MiB TCP transfer, our SAs in ip xfrm, list-sas counters', () => {
      const upNet = step<{ ms: number }>('up-net');
      const p = step<P>('ping-net');
      assert.equal(p.sent, 20, p.out);
      assert.equal(p.received, 20, `ping ${NET.a} -> ${NET.b} through the tunnel: ${p.sent - p.received} of 20 lost\n${p.out}`);
      const x = step<{ source: { bytes: number; sha256: string; ms: number }; sink: { bytes: number; sha256: string; ms: number } }>('xfer-net');
      assert.equal(x.sink.bytes, XFER_BYTES, `the sink got ${String(x.sink.bytes)} of ${XFER_BYTES} octets: ${JSON.stringify(x)}`);
      assert.equal(x.sink.sha256, x.source.sha256, `sha256 differs: ${JSON.stringify(x)}`);
      figures.push(`up ${upNet.ms} ms; ping 20/20; ${XFER_BYTES} B in ${x.source.ms} ms (${((XFER_BYTES * 8) / x.source.ms / 1000).toFixed(1)} Mbit/s)`);
      const xf = step<{ a: X; b: X }>('xfrm-net');
      for (const [n, v] of Object.entries(xf)) {
        const esp = parseXfrmState(v.state).filter((s) => s.proto === 'esp' && s.spi !== '0x00007777');
        assert.equal(esp.length, 2, `${n}: two ESP SAs of ours\n${v.state}`);
        for (const s of esp) {
          assert.equal(s.mode, 'tunnel');
          assert.ok(s.algs.some((a) => a.startsWith('aead rfc4106(gcm(aes))')), JSON.stringify(s));
          assert.ok((s.packets ?? 0) > 0, `${n}: SA ${s.spi} carried nothing\n${v.state}`);
        }
        const ourState = v.stateReqids.filter(ours);
        assert.equal(ourState.length, 2, `${n}: our reqids in ip xfrm state\n${v.state}`);
        assert.ok(v.policyReqids.filter(ours).length >= 3, `${n}: out/in/fwd policies with our reqid\n${v.policy}`);
        for (const dir of ['out', 'in', 'fwd']) assert.match(v.policy, new RegExp(`dir ${dir} `), v.policy);
      }
      const cli = step<{ code: number; out: string }>('cli-list-sas');
      assert.equal(cli.code, 0, cli.out);
      const list = JSON.parse(cli.out) as SaView[];
      const net = list.find((s) => s.connection === 'net');
      assert.ok(net, cli.out);
      assert.deepEqual(net.keyExchanges, ['CURVE_25519', 'ML_KEM_768']);
      const ch = net.children[0];
      assert.ok(ch, cli.out);
      for (const k of ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut'] as const) assert.ok((ch[k] ?? 0) > 0, `pqike list-sas --json: ${k} must be > 0: ${JSON.stringify(ch)}`);
      assert.ok((ch.bytesOut ?? 0) >= XFER_BYTES, `bytesOut ${String(ch.bytesOut)} covers the transfer`);
      // the same SPIs as the kernel's states
      const aEsp = parseXfrmState(xf.a.state).map((s) => s.spi.replace(/^0x/, ''));
      assert.ok(aEsp.includes(ch.spiIn) && aEsp.includes(ch.spiOut), `list-sas SPIs ${ch.spiIn}/${ch.spiOut} vs ip xfrm state ${aEsp.join(' ')}`);
      const bNet = step<SaView[]>('sas-b-net').find((s) => s.connection === 'net')?.children[0];
      assert.ok(bNet && (bNet.bytesIn ?? 0) >= XFER_BYTES, `B's inbound counter: ${JSON.stringify(bNet)}`);
    });

    await t.test('2. rekeys under traffic: Child SA and IKE SA rekeys lose no ping at 20/s; rekey_bytes rekeys through the kernel soft EXPIRE', () => {
      const rk = step<{ before: SaView; rekeyChild: { ok: boolean; error?: string }; childMs: number; rekeyIke: { ok: boolean; error?: string }; ikeMs: number; ping: P; after: SaView[]; afterB: SaView[]; xfrm: { a: X; b: X } }>('rekey-under-ping');
      assert.equal(rk.rekeyChild.ok, true, `pqike rekey --child: ${JSON.stringify(rk.rekeyChild)}`);
      assert.equal(rk.rekeyIke.ok, true, `pqike rekey (IKE SA): ${JSON.stringify(rk.rekeyIke)}`);
      assert.equal(rk.ping.sent, 240, rk.ping.out);
      assert.equal(rk.ping.received, rk.ping.sent, `pings lost across the rekeys: ${rk.ping.sent - rk.ping.received} of ${rk.ping.sent}\n${rk.ping.out}`);
      figures.push(`rekey under ping: Child SA ${rk.childMs} ms, IKE SA ${rk.ikeMs} ms, ping ${rk.ping.received}/${rk.ping.sent} at 20/s`);
      const net = rk.after.find((s) => s.connection === 'net');
      assert.ok(net, JSON.stringify(rk.after));
      assert.notEqual(net.id, rk.before.id, 'a new IKE SA after the IKE SA rekey');
      assert.notEqual(`${net.spiI}_${net.spiR}`, `${rk.before.spiI}_${rk.before.spiR}`);
      assert.equal(net.children.length, 1, JSON.stringify(net.children));
      const ch = net.children[0] as ChildView;
      const old = rk.before.children[0] as ChildView;
      assert.notEqual(ch.spiIn, old.spiIn);
      assert.equal(ch.rekeyOf, old.spiIn, JSON.stringify(ch));
      assert.ok((ch.packetsIn ?? 0) > 0 && (ch.packetsOut ?? 0) > 0, `the new Child SA carries the ping: ${JSON.stringify(ch)}`);
      const aSpis = parseXfrmState(rk.xfrm.a.state).map((s) => s.spi.replace(/^0x/, ''));
      assert.ok(!aSpis.includes(old.spiIn) && !aSpis.includes(old.spiOut), `the replaced SAs are gone: ${aSpis.join(' ')}`);
      assert.ok(aSpis.includes(ch.spiIn) && aSpis.includes(ch.spiOut), aSpis.join(' '));

      const rb = step<{ before: SaView; xfer: { source: { bytes: number; sha256: string; ms: number }; sink: { bytes: number; sha256: string } }; ping: P; after: SaView; xfrm: X }>('rekey-bytes');
      assert.equal(rb.ping.received, rb.ping.sent, `ping after the byte-lifetime rekeys: ${rb.ping.out}`);
      assert.equal(rb.xfer.sink.bytes, XFER_BYTES_REKEY, JSON.stringify(rb.xfer));
      assert.equal(rb.xfer.sink.sha256, rb.xfer.source.sha256, `sha256 across the byte-lifetime rekeys: ${JSON.stringify(rb.xfer)}`);
      const first = rb.before.children[0] as ChildView;
      const now = rb.after.children[0] as ChildView;
      assert.ok(now, JSON.stringify(rb.after));
      assert.notEqual(now.spiOut, first.spiOut, `a new outbound SPI after ${XFER_BYTES_REKEY} octets with rekey_bytes ${REKEY_BYTES}: ${JSON.stringify(rb.after)}`);
      assert.ok(now.rekeyOf !== undefined, JSON.stringify(now));
      assert.ok((now.packetsOut ?? 0) >= 5 && (now.packetsIn ?? 0) >= 5, `the new SPI took over: ${JSON.stringify(now)}`);
      const softs = [...logs.a.matchAll(/soft EXPIRE of outbound SA (0x[0-9a-f]+) \((\d+) bytes/g)].map((m) => ({ spi: m[1] as string, bytes: Number(m[2]) }));
      assert.ok(softs.some((x) => x.spi === `0x${first.spiOut}` && x.bytes >= REKEY_BYTES), `the kernel's soft EXPIRE of ${first.spiOut} in daemon A's log: ${JSON.stringify(softs)}`);
      // every SA a rekey made before the last one carried rekey_bytes too (its own soft EXPIRE)
      const made = [...logs.a.matchAll(/Child SA 'bytes' tunnel: SPIs [0-9a-f]+_i ([0-9a-f]+)_o, .*\(rekeyed /g)].map((m) => `0x${m[1] as string}`);
      assert.ok(made.length >= 1 && made.at(-1) === `0x${now.spiOut}`, `rekeys of 'bytes' in A's log: ${made.join(' ')}`);
      for (const spi of made.slice(0, -1)) assert.ok(softs.some((x) => x.spi === spi), `SA ${spi} from a rekey carried ${REKEY_BYTES} octets (soft EXPIRE): ${JSON.stringify(softs)}`);
      const aSpis2 = parseXfrmState(rb.xfrm.state).map((s) => s.spi.replace(/^0x/, ''));
      assert.ok(!aSpis2.includes(first.spiOut), `the first outbound SA is gone: ${aSpis2.join(' ')}`);
      figures.push(`rekey_bytes ${REKEY_BYTES}: ${XFER_BYTES_REKEY} B in ${rb.xfer.source.ms} ms, ${softs.length} soft EXPIRE(s) of outbound SAs (${softs.map((x) => `${x.spi}@${x.bytes}B`).join(', ')}), ${made.length} rekey(s), SPI out ${first.spiOut} -> ${now.spiOut}`);
    });

    await t.test('3. nothing of ours in ip xfrm after pqike down, SIGTERM, kill -9 + restart; another daemon\'s entries (reqid 1) stay', () => {
      const d = step<{ xfrm: { a: X; b: X }; sasA: SaView[] }>('down');
      assert.deepEqual(d.sasA, []);
      for (const [n, v] of Object.entries(d.xfrm)) {
        nothingOurs(v, `after pqike down (${n})`);
        foreignStays(v, `after pqike down (${n})`);
      }
      const s = step<{ before: { a: X }; exit: { a: unknown; b: unknown }; xfrm: { a: X; b: X } }>('sigterm');
      assert.ok(s.before.a.stateReqids.some(ours), 'the tunnel was up before SIGTERM');
      assert.deepEqual(s.exit, { a: 0, b: 0 }, 'both daemons exit 0 on SIGTERM');
      for (const [n, v] of Object.entries(s.xfrm)) {
        nothingOurs(v, `after SIGTERM (${n})`);
        foreignStays(v, `after SIGTERM (${n})`);
      }
      const k = step<{ exit: { a: unknown; b: unknown }; left: { a: X; b: X }; xfrm: { a: X; b: X } }>('kill9-restart');
      assert.deepEqual(k.exit, { a: 'SIGKILL', b: 'SIGKILL' });
      for (const [n, v] of Object.entries(k.left)) assert.ok(v.stateReqids.filter(ours).length >= 2 && v.policyReqids.some(ours), `${n}: kill -9 left our SAs behind (what the restart must remove)\n${v.state}`);
      for (const [n, v] of Object.entries(k.xfrm)) {
        nothingOurs(v, `after kill -9 and a restart (${n})`);
        foreignStays(v, `after kill -9 and a restart (${n})`);
      }
      for (const [n, l] of Object.entries({ a: logs.a, b: logs.b })) assert.match(l, /removed \d+ SA\(s\) and \d+ policies of ours left by an earlier run/, `daemon ${n} logs the flush at start`);
    });

    await t.test('4. pqike ↔ strongSwan 5.9.8 charon (kernel-netlink) both directions, classic proposal (no ML-KEM, no RFC 9370 in 5.9.8): ping across', () => {
      const c = step<Record<string, unknown>>('charon');
      assert.match(c['version'] as string, /strongSwan 5\.9\./);
      assert.doesNotMatch(c['version'] as string, /libstrongswan-ml\.so/, "Debian 12's strongSwan has no ml plugin (ML-KEM)");
      const p = c['ping'] as P;
      assert.equal(p.received, p.sent, `pqike -> charon tunnel: ping ${p.received}/${p.sent}\n${p.out}`);
      assert.equal(p.sent, 10);
      const sw = c['swanctl'] as string;
      assert.match(sw, /pq: #\d+, ESTABLISHED, IKEv2/, sw);
      assert.match(sw, /net: #\d+, reqid \d+, INSTALLED, TUNNEL, ESP:AES_GCM_16-256/, sw);
      const bx = c['xfrmB'] as X;
      assert.ok(parseXfrmState(bx.state).filter((s) => s.proto === 'esp' && s.spi !== '0x00007777').length === 2, `charon's SAs in b's kernel\n${bx.state}`);
      const init = c['initiate'] as { code: number; out: string };
      assert.equal(init.code, 0, `swanctl --initiate: ${init.out}`);
      const p2 = c['ping2'] as P;
      assert.equal(p2.received, p2.sent, `charon -> pqike tunnel: ping ${p2.received}/${p2.sent}\n${p2.out}`);
      const rw = (c['sasA2'] as SaView[]).find((s) => s.connection === 'rw');
      assert.ok(rw && rw.children[0] && (rw.children[0].packetsIn ?? 0) > 0, JSON.stringify(c['sasA2']));
      nothingOurs((c['xfrmAfter'] as { a: X }).a, 'pqike A after the charon tunnels ended');
      figures.push(`charon: pqike-initiated ping ${p.received}/${p.sent}, charon-initiated ping ${p2.received}/${p2.sent}`);
    });

    await t.test('5. pqike ↔ libreswan 4.10 (pluto, classic proposal) both directions: ping across; start_action trap: the kernel ACQUIRE brings the tunnel up', () => {
      const l = step<Record<string, unknown>>('pluto');
      const p = l['ping'] as P;
      assert.equal(p.received, p.sent, `pqike -> pluto tunnel: ping ${p.received}/${p.sent}\n${p.out}\n${String(l['routesB'])}`);
      const ts = parseTrafficStatus(l['traffic'] as string).filter((x) => x.conn === 'pq');
      assert.equal(ts.length, 1, l['traffic'] as string);
      assert.ok((ts[0]?.inBytes ?? 0) > 0 && (ts[0]?.outBytes ?? 0) > 0, l['traffic'] as string);
      const init = l['initiate'] as { code: number; out: string };
      assert.equal(init.code, 0, `whack --initiate: ${init.out}`);
      const p2 = l['ping2'] as P;
      assert.equal(p2.received, p2.sent, `pluto -> pqike tunnel: ping ${p2.received}/${p2.sent}\n${p2.out}`);
      const rw = (l['sasA2'] as SaView[]).find((s) => s.connection === 'rw');
      assert.ok(rw && rw.children[0] && (rw.children[0].packetsIn ?? 0) > 0, JSON.stringify(l['sasA2']));
      nothingOurs((l['xfrmAfter'] as { a: X }).a, 'pqike A after the pluto tunnels ended');
      const tr = step<{ reload: { ok: boolean }; policies: X; ping: P; sas: SaView[] }>('trap');
      assert.equal(tr.reload.ok, true, JSON.stringify(tr.reload));
      assert.match(tr.policies.policy, new RegExp(`src ${TRAP.aTs.replace(/\./g, '\\.')} dst ${TRAP.bTs.replace(/\./g, '\\.')}`), `the trap policy\n${tr.policies.policy}`);
      assert.ok(tr.ping.received > 0, `no echo reply through the trapped tunnel\n${tr.ping.out}`);
      const last = [...Array(5).keys()].map((i) => tr.ping.sent - 5 + i);
      for (const s of last) assert.ok(tr.ping.seqs.includes(s), `the last pings pass once the tunnel is up: seq ${s} missing (${tr.ping.seqs.join(',')})`);
      const sa = tr.sas.find((x) => x.connection === 'trap');
      assert.ok(sa && sa.state === 'established' && sa.children[0]?.state === 'installed', JSON.stringify(tr.sas));
      assert.match(logs.a, /ACQUIRE reqid 0x507/, "daemon A logs the kernel's ACQUIRE");
      figures.push(`pluto: pqike-initiated ping ${p.received}/${p.sent}, pluto-initiated ${p2.received}/${p2.sent}; trap: ${tr.ping.received}/${tr.ping.sent} echo replies, first at seq ${String(tr.ping.seqs[0])} (0.25 s apart)`);
    });

    await t.test('6. NAT (nft masquerade in a middle namespace): the tunnel moves to UDP 4500 with the kernel\'s ESP in UDP, ping across', () => {
      const n = step<{ setup: { code: number; out: string }; reloadA: { ok: boolean }; reloadB: { ok: boolean }; up: { ok: boolean; error?: string }; ping: P; sasA: SaView[]; sasB: SaView[]; xfrmB: X; conntrack: string }>('nat');
      assert.equal(n.setup.code, 0, `NAT setup: ${n.setup.out}`);
      assert.ok(n.reloadA.ok && n.reloadB.ok, JSON.stringify([n.reloadA, n.reloadB]));
      assert.equal(n.up.ok, true, `pqike up nat: ${JSON.stringify(n.up)}`);
      assert.equal(n.ping.received, n.ping.sent, `ping through the NAT: ${n.ping.received}/${n.ping.sent}\n${n.ping.out}`);
      const a = n.sasA.find((x) => x.connection === 'nat');
      const b = n.sasB.find((x) => x.connection === 'nat');
      assert.ok(a && b, JSON.stringify(n.sasA));
      assert.equal((a as unknown as { remote: string }).remote, `${NAT.bOuter}:4500`, JSON.stringify(a));
      assert.match((b as unknown as { remote: string }).remote, new RegExp(`^${NAT.mOut.replace(/\./g, '\\.')}:\\d+$`), `B sees A as the NAT's address: ${JSON.stringify(b)}`);
      assert.equal((a.children[0] as unknown as { encap: boolean }).encap, true, JSON.stringify(a.children[0]));
      assert.match(n.xfrmB.state, /encap type espinudp sport 4500 dport \d+/, `B's states encapsulated\n${n.xfrmB.state}`);
      figures.push(`NAT: ping ${n.ping.received}/${n.ping.sent}, B sees ${(b as unknown as { remote: string }).remote}`);
    });

    await t.test('7. final SIGTERM: nothing of ours left in either namespace', () => {
      const f = step<{ exit: unknown; xfrm: { a: X; b: X } }>('final');
      for (const [n, v] of Object.entries(f.xfrm)) {
        nothingOurs(v, `after the final SIGTERM (${n})`);
        foreignStays(v, `after the final SIGTERM (${n})`);
      }
    });
    t.diagnostic(`figures: ${figures.join('; ')}`);
  });
}

const mode = process.env[GUEST_ENV];
if (mode === 'orchestrate') await guestMain();
else if (mode === 'xfer') await xferMain();
else await hostTest();
