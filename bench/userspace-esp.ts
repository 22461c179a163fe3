/**
 * The userspace ESP data plane against strongSwan's kernel-libipsec, through a real tunnel
 * (`node dist/bench/userspace-esp.js`, as root): on one topology — two network namespaces over
 * a veth pair (10.99.0.1 | 10.99.0.2), the tunnel 10.99.1.0/24 <-> 10.99.2.0/24 between the
 * inner addresses 10.99.1.1 / 10.99.2.1 on lo, IKE aes256gcm16-prfsha384-x25519 (classic:
 * strongSwan 5.9.8 has no ML-KEM; the ESP path does not depend on it), ESP AES-256-GCM-16 —
 *
 *   pqike      two pqike daemons, `data_plane: userspace` (TUN + the pump's worker thread),
 *              plain ESP (IP protocol 50): no NAT between them;
 *   pqike-udp  the same, forced into ESP in UDP (RFC 3948, port 4500): pqike has no setting
 *              to force encapsulation, so an nftables rule in A's namespace SNATs A's
 *              IKE_SA_INIT from port 500 to 1500 — the NAT detection hashes then differ on
 *              both sides, IKE floats to 4500 (not NATed) and both encapsulate ESP. Nothing
 *              of the data path crosses the NAT rule: like for like with kernel-libipsec;
 *   charon     two strongSwan charon instances (Debian 5.9.8, kernel-libipsec: its own
 *              userspace ESP on a TUN device ipsec0), one per namespace, A initiating.
 *              kernel-libipsec fakes a NAT, so its ESP is always UDP-encapsulated.
 *
 * For each, in a fresh namespace pair with fresh daemons every round (configurations
 * alternate: pqike, pqike-udp, charon, pqike, ...):
 *   1. TCP: one stream 10.99.1.1 -> 10.99.2.1 for --tcp-seconds (node sender and receiver,
 *      both in this file); goodput measured at the receiver (first to last octet). Also the
 *      CPU seconds each side's daemon used meanwhile (/proc/PID/stat, all threads).
 *   2. UDP: 64-octet payloads offered as fast as one sender can (sendmmsg, batches of 32, a
 *      blocking socket) for --udp-seconds; packets/s the sender's kernel accepted, packets/s
 *      the receiver (recvmmsg, 8 MiB buffer) got, and the delivered fraction; plus the drops
 *      (/proc/net/udp, raw: full receive buffer) on the receiving application's socket
 *      (rxSockDrop) and on B's sockets that take the tunnel's packets in (tunSockDrop: UDP
 *      4500 — the daemon's or charon's — and raw ESP), and at A's TUN device (tunDropA:
 *      tx_dropped, what the data plane did not read in time), to tell where packets were lost.
 * Prints every round, then medians and the ratios pqike/charon and pqike-udp/charon, the
 * machine's load averages and nproc. Figures only: nothing is asserted. Alternating rounds
 * is what makes the configurations compare on a busy machine; runs of other sittings do not.
 *
 *   npm run bench:dataplane              (builds into dist/, then runs; root)
 *   npx tsc -p . --outDir dist-bench && node dist-bench/bench/userspace-esp.js [options]
 *
 * Needs root, charon + swanctl with kernel-libipsec (as test/interop/strongswan.ts), nft,
 * busybox, /dev/net/tun. No iperf3: the traffic tools are below.
 *
 * Options (defaults in brackets):
 *   --rounds N          rounds of each configuration [3]
 *   --tcp-seconds S     length of the TCP stream [8]
 *   --udp-seconds S     length of the UDP flood [4]
 *   --only LIST         configurations to run, comma-separated [pqike,pqike-udp,charon]
 *   --cpu-prof DIR      run the pqike daemons with --cpu-prof into DIR (main thread and the
 *                       pump worker each write a .cpuprofile when the daemon stops; see
 *                       bench/cpuprofile-top.ts). The profiler costs the daemons time: figures
 *                       of such a run are not comparable
 *   --json FILE         also write the rounds and the summary as JSON
 *
 * Helper modes (this file run inside a namespace by the benchmark itself):
 *   tcp-recv ADDR PORT | tcp-send SRC DST PORT SECONDS |
 *   udp-recv ADDR PORT MAXSECONDS | udp-send SRC DST PORT SIZE SECONDS
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './common.js';

const SELF = fileURLToPath(import.meta.url);
const IKE = 'aes256gcm16-prfsha384-x25519';
const ESP = 'aes256gcm16';
const A_IN = '10.99.1.1';
const B_IN = '10.99.2.1';
const PAYLOAD = 64;

/* ------------------------------------------------------------------------- */
/* Helper modes (inside a namespace)                                         */
/* ------------------------------------------------------------------------- */

const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

function tcpRecv(addr: string, port: number): void {
  let bytes = 0;
  let first = 0;
  let last = 0;
  const srv = net.createServer((k) => {
    k.on('data', (b: Buffer) => {
      const now = performance.now();
      if (bytes === 0) first = now;
      bytes += b.length;
      last = now;
    });
    k.on('end', () => {
      out({ bytes, seconds: (last - first) / 1000 });
      srv.close();
    });
    k.on('error', (e) => {
      out({ error: e.message, bytes, seconds: (last - first) / 1000 });
      process.exit(1);
    });
  });
  srv.listen(port, addr, () => out({ listening: true }));
  setTimeout(() => process.exit(3), 120_000).unref();
}

function tcpSend(src: string, dst: string, port: number, seconds: number): void {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const k = net.connect({ port, host: dst, localAddress: src }, () => {
    const end = performance.now() + seconds * 1000;
    let sent = 0;
    const pump = (): void => {
      while (performance.now() < end) {
        sent += chunk.length;
        if (!k.write(chunk)) {
          k.once('drain', pump);
          return;
        }
      }
      k.end(() => out({ sent }));
    };
    pump();
  });
  k.setNoDelay(false);
  k.on('error', (e) => {
    out({ error: e.message });
    process.exit(1);
  });
  setTimeout(() => {
    out({ error: 'timeout' });
    process.exit(2);
  }, (seconds + 30) * 1000).unref();
}

async function udpRecv(addr: string, port: number, maxSeconds: number): Promise<void> {
  const { openUdpSocket } = await import('../src/dataplane/sys/sockets.js');
  const { MmsgBatch } = await import('../src/dataplane/sys/mmsg.js');
  const { libc, POLLIN, closeFd } = await import('../src/dataplane/sys/libc.js');
  const fd = openUdpSocket({ bind: { address: addr, port }, rcvbuf: 8 << 20 });
  const batch = new MmsgBatch(64, 2048);
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  out({ listening: true });
  let received = 0;
  let first = 0;
  let last = 0;
  const started = performance.now();
  const c = libc();
  for (;;) {
    const now = performance.now();
    if (now - started > maxSeconds * 1000) break;
    if (received > 0 && now - last > 1000) break; // a second of silence after the flood
    c.poll(pfd, 1, 100);
    for (;;) {
      const n = batch.recv(fd, 64);
      if (n === 0) break;
      const t = performance.now();
      if (received === 0) first = t;
      received += n;
      last = t;
    }
  }
  const drops = socketDrops(readFileSync('/proc/net/udp', 'utf8'), port);
  closeFd(fd);
  out({ received, drops, seconds: (last - first) / 1000 });
}

/** The drops column of the sockets of /proc/net/{udp,raw} whose local port (raw: protocol) is `port`. */
function socketDrops(table: string, port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || !f[1]?.endsWith(`:${hex}`)) continue;
    n += Number(f[f.length - 1]);
  }
  return n;
}

async function udpSend(src: string, dst: string, port: number, size: number, seconds: number): Promise<void> {
  const { openUdpSocket } = await import('../src/dataplane/sys/sockets.js');
  const { MmsgBatch } = await import('../src/dataplane/sys/mmsg.js');
  const fd = openUdpSocket({ bind: { address: src, port: 0 }, connect: { address: dst, port }, nonBlocking: false, sndbuf: 4 << 20 });
  const batch = new MmsgBatch(32, 2048);
  const payload = Buffer.alloc(size, 0xab);
  for (let i = 0; i < 32; i++) batch.set(i, payload, null);
  let sent = 0;
  let calls = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 16; k++) {
      sent += batch.send(fd, 32, 0);
      calls++;
    }
  }
  const dt = (performance.now() - t0) / 1000;
  out({ sent, calls, seconds: dt });
}

/* ------------------------------------------------------------------------- */
/* The benchmark                                                             */
/* ------------------------------------------------------------------------- */

type ConfigName = 'pqike' | 'pqike-udp' | 'charon';

interface RoundResult {
  readonly config: ConfigName;
  readonly round: number;
  /** What the ESP packets were: 'ESP' (protocol 50) or 'ESP-in-UDP' (RFC 3948). */
  readonly transport: string;
  readonly tcpMbps: number;
  readonly tcpBytes: number;
  readonly tcpSeconds: number;
  /** CPU seconds of A's and B's daemon during the TCP stream. */
  readonly cpuA: number;
  readonly cpuB: number;
  readonly udpSentPps: number;
  readonly udpDeliveredPps: number;
  readonly udpDeliveredFraction: number;
  readonly udpSent: number;
  readonly udpReceived: number;
  /** Packets dropped for a full buffer: on the receiving application's socket, on the tunnel's sockets in B (4500 / raw ESP) during the flood. */
  readonly udpRxSocketDrops: number;
  readonly udpTunnelSocketDrops: number;
  /** Packets dropped at A's TUN device during the flood (the data plane did not read them in time). */
  readonly udpTunDropA: number;
  readonly error?: string;
}

interface Opts {
  readonly rounds: number;
  readonly tcpSeconds: number;
  readonly udpSeconds: number;
  readonly only: readonly ConfigName[];
  readonly cpuProf?: string;
  readonly json?: string;
}

function parseOpts(argv: readonly string[]): Opts {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = (get('--only') ?? 'pqike,pqike-udp,charon').split(',').map((s) => s.trim()) as ConfigName[];
  for (const c of only) if (!['pqike', 'pqike-udp', 'charon'].includes(c)) throw new Error(`--only: unknown configuration ${c}`);
  const cpuProf = get('--cpu-prof');
  const json = get('--json');
  return {
    rounds: Number(get('--rounds') ?? 3),
    tcpSeconds: Number(get('--tcp-seconds') ?? 8),
    udpSeconds: Number(get('--udp-seconds') ?? 4),
    only,
    ...(cpuProf ? { cpuProf } : {}),
    ...(json ? { json } : {}),
  };
}

/** The harness (test/interop), loaded only in the orchestrator: helper modes need none of it. */
async function harness() {
  const netns = await import('../test/interop/netns.js');
  const daemons = await import('../test/interop/daemons.js');
  const traffic = await import('../test/interop/traffic.js');
  const swan = await import('../test/interop/strongswan.js');
  return { ...netns, ...daemons, ...traffic, ...swan };
}
type Harness = Awaited<ReturnType<typeof harness>>;

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 100; // USER_HZ on Linux
    return (Number(f[11]) + Number(f[12])) / tick;
  } catch {
    return NaN;
  }
}

/** tx_dropped of the TUN devices (link type none: pqike0, ipsec0) in `ns`: packets the kernel routed into the device that its reader had not taken yet (ring full). */
async function tunTxDropped(h: Harness, ns: string): Promise<number> {
  const r = await h.run('ip', ['-n', ns, '-j', '-s', 'link', 'show']);
  const links = JSON.parse(r.stdout) as Array<{ link_type?: string; stats64?: { tx?: { dropped?: number } } }>;
  return links.filter((l) => l.link_type === 'none').reduce((n, l) => n + (l.stats64?.tx?.dropped ?? 0), 0);
}

/** Drops on the sockets that receive the tunnel's packets in `ns`: UDP port 4500 (ESP in UDP) and raw ESP (protocol 50). */
async function tunnelSocketDrops(h: Harness, ns: string): Promise<number> {
  const udp = await h.nsExec(ns, 'cat', ['/proc/net/udp']);
  const raw = await h.nsExec(ns, 'cat', ['/proc/net/raw']);
  return socketDrops(udp.stdout, 4500) + socketDrops(raw.stdout, 50);
}

function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  return JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
}

interface Tunnel {
  readonly a: string;
  readonly b: string;
  readonly pidA: number;
  readonly pidB: number;
  readonly transport: string;
}

/** The two measurements through a tunnel that is up. */
async function measure(h: Harness, o: Opts, t: Tunnel): Promise<Omit<RoundResult, 'config' | 'round' | 'transport'>> {
  const node = process.execPath;
  // A check first: a tunnel that does not carry a ping is reported, not measured.
  const p = await h.ping(t.a, A_IN, B_IN, 3, 0.2);
  if (p.received === 0) throw new Error(`no ping through the tunnel: ${p.text}`);

  // 1. One TCP stream A -> B.
  const port = 40000 + Math.floor(Math.random() * 20000);
  const rx = await h.startInNs(t.b, node, [SELF, 'tcp-recv', B_IN, String(port)], { readyPattern: /listening/ });
  const cpu0 = [cpuSeconds(t.pidA), cpuSeconds(t.pidB)];
  const tx = await h.nsExec(t.a, node, [SELF, 'tcp-send', A_IN, B_IN, String(port), String(o.tcpSeconds)], { allowFail: true, timeoutMs: (o.tcpSeconds + 40) * 1000 });
  await rx.waitForOutput(/"bytes"/, 30_000);
  const cpu1 = [cpuSeconds(t.pidA), cpuSeconds(t.pidB)];
  await rx.stop();
  const tcp = lastJson(rx.output());
  if (tx.code !== 0) throw new Error(`TCP sender: ${tx.stdout}${tx.stderr}`);
  const tcpBytes = Number(tcp['bytes']);
  const tcpSeconds = Number(tcp['seconds']);

  // 2. Small UDP packets, as fast as one sender can.
  const uport = 40000 + Math.floor(Math.random() * 20000);
  const tdrop0 = await tunnelSocketDrops(h, t.b);
  const tun0 = await tunTxDropped(h, t.a);
  const urx = await h.startInNs(t.b, node, [SELF, 'udp-recv', B_IN, String(uport), String(o.udpSeconds + 20)], { readyPattern: /listening/ });
  const utx = await h.nsExec(t.a, node, [SELF, 'udp-send', A_IN, B_IN, String(uport), String(PAYLOAD), String(o.udpSeconds)], { allowFail: true, timeoutMs: (o.udpSeconds + 30) * 1000 });
  await urx.waitForOutput(/"received"/, 30_000);
  await urx.stop();
  const tdrop1 = await tunnelSocketDrops(h, t.b);
  const tun1 = await tunTxDropped(h, t.a);
  if (utx.code !== 0) throw new Error(`UDP sender: ${utx.stdout}${utx.stderr}`);
  const us = lastJson(utx.stdout);
  const ur = lastJson(urx.output());
  const sent = Number(us['sent']);
  const secs = Number(us['seconds']);
  const received = Number(ur['received']);
  return {
    tcpMbps: (tcpBytes * 8) / tcpSeconds / 1e6,
    tcpBytes,
    tcpSeconds,
    cpuA: cpu1[0]! - cpu0[0]!,
    cpuB: cpu1[1]! - cpu0[1]!,
    udpSentPps: sent / secs,
    udpDeliveredPps: received / secs,
    udpDeliveredFraction: sent > 0 ? received / sent : NaN,
    udpSent: sent,
    udpReceived: received,
    udpRxSocketDrops: Number(ur['drops']),
    udpTunnelSocketDrops: tdrop1 - tdrop0,
    udpTunDropA: tun1 - tun0,
  };
}

/** An nftables rule in A: IKE_SA_INIT leaves from port 1500 instead of 500, so both sides see a NAT. */
const FAKE_NAT = (addr: string): string => `table ip pqike_bench_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    udp sport 500 snat to ${addr}:1500
  }
}
`;

async function roundPqike(h: Harness, o: Opts, encap: boolean): Promise<Omit<RoundResult, 'config' | 'round'>> {
  let result: Omit<RoundResult, 'config' | 'round'> | undefined;
  // --cpu-prof is refused in NODE_OPTIONS, and the harness starts the daemons with
  // process.execPath: for the daemons' start only, that is a wrapper adding --cpu-prof.
  const realNode = process.execPath;
  if (o.cpuProf) {
    mkdirSync(o.cpuProf, { recursive: true });
    const wrapper = join(o.cpuProf, 'node-cpu-prof.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec '${realNode}' --cpu-prof --cpu-prof-dir='${o.cpuProf}' "$@"\n`, { mode: 0o755 });
    process.execPath = wrapper;
  }
  const restoreEnv = (): void => {
    process.execPath = realNode;
  };
  try {
    await h.withDaemonPair(
      {
        top: 'data_plane: userspace',
        proposals: [IKE],
        espProposals: [ESP],
        ...(encap
          ? {
              makePair: async () => {
                const pair = await h.createNetnsPair();
                await h.run('ip', ['netns', 'exec', pair.a.ns, 'nft', '-f', '-'], { input: FAKE_NAT(pair.a.addr) });
                return pair;
              },
            }
          : {}),
      },
      async (d) => {
        restoreEnv();
        const up = await h.pqike(d.a, 'up', 'tun');
        if (up.code !== 0) throw new Error(`pqike up: ${up.stdout}${up.stderr}\n${h.tail(d.a.log)}`);
        const [sa] = await h.listSas(d.a);
        const child = sa?.children[0] as (NonNullable<typeof sa>["children"][number] & { encap?: boolean }) | undefined;
        if (!child) throw new Error(`no Child SA: ${JSON.stringify(sa)}`);
        const transport = child.encap ? 'ESP-in-UDP' : 'ESP';
        if (child.encap !== encap) throw new Error(`wanted ${encap ? 'ESP in UDP' : 'plain ESP'}, the Child SA has encap=${String(child.encap)}`);
        const m = await measure(h, o, { a: d.pair.a.ns, b: d.pair.b.ns, pidA: d.a.process.pid, pidB: d.b.process.pid, transport });
        result = { transport, ...m };
      },
    );
  } finally {
    restoreEnv();
  }
  if (!result) throw new Error('no result');
  return result;
}

async function roundCharon(h: Harness, o: Opts): Promise<Omit<RoundResult, 'config' | 'round'>> {
  const psk = 'pqike-bench-userspace-esp-psk-0123456789';
  return h.withNetnsPair(async (pair) => {
    const conn = (me: typeof pair.a, peer: typeof pair.a, meId: string, peerId: string) => ({
      name: 'pq',
      localAddrs: me.addr,
      remoteAddrs: peer.addr,
      localId: meId,
      remoteId: peerId,
      psk,
      ikeProposals: [IKE],
      espProposals: [ESP],
      childName: 'net',
      localTs: `${(me.innerAddr ?? '').split('.').slice(0, 3).join('.')}.0/24`,
      remoteTs: `${(peer.innerAddr ?? '').split('.').slice(0, 3).join('.')}.0/24`,
    });
    const logLevels = { default: 0, ike: 1, cfg: 0, net: 0, esp: 0 };
    const ca = await h.Charon.start({ ns: pair.a.ns, name: 'bench-a', removeDirOnStop: true, logLevels });
    try {
      const cb = await h.Charon.start({ ns: pair.b.ns, name: 'bench-b', removeDirOnStop: true, logLevels });
      try {
        await ca.loadConfig([conn(pair.a, pair.b, 'moon.pqike.test', 'sun.pqike.test')]);
        await cb.loadConfig([conn(pair.b, pair.a, 'sun.pqike.test', 'moon.pqike.test')]);
        await ca.initiate('net', { ike: 'pq', timeoutMs: 20_000 });
        const sa = await ca.waitForSa('pq', 10_000, { child: 'net' });
        await cb.waitForSa('pq', 10_000, { child: 'net' });
        const child = sa.children.find((c) => c.name === 'net');
        const transport = child?.raw['encap'] === 'yes' ? 'ESP-in-UDP' : 'ESP';
        const m = await measure(h, o, { a: pair.a.ns, b: pair.b.ns, pidA: ca.proc.pid, pidB: cb.proc.pid, transport });
        return { transport, ...m };
      } finally {
        await cb.stop();
      }
    } finally {
      await ca.stop();
    }
  });
}

const LABEL: Record<ConfigName, string> = {
  pqike: 'a  pqike userspace',
  'pqike-udp': "a' pqike userspace",
  charon: 'b  charon libipsec',
};

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toString() : 'n/a');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const h = await harness();
  const why = h.charonSkipReason(['nft', 'busybox']);
  if (why) throw new Error(`cannot run: ${why}`);
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const load0 = os.loadavg();
  const iperf3 = h.which('iperf3');
  console.log(`userspace ESP bench: node ${process.version}, nproc ${nproc}, loadavg at start ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`IKE ${IKE}, ESP ${ESP}; TCP ${o.tcpSeconds} s, UDP ${PAYLOAD}-octet payloads for ${o.udpSeconds} s; ${o.rounds} rounds of ${o.only.join(', ')}, alternating`);
  console.log(`traffic: node TCP sender/receiver and sendmmsg/recvmmsg UDP in this file (iperf3 ${iperf3 ? `at ${iperf3}, not used` : 'not installed'})`);
  const results: RoundResult[] = [];
  const head = `${'round'.padEnd(5)} ${'configuration'.padEnd(20)} ${'transport'.padEnd(11)} ${'TCP Mbit/s'.padStart(10)} ${'cpuA s'.padStart(6)} ${'cpuB s'.padStart(6)} ${'UDP sent/s'.padStart(10)} ${'deliv/s'.padStart(9)} ${'deliv'.padStart(6)} ${'rxSockDrop'.padStart(10)} ${'tunSockDrop'.padStart(11)} ${'tunDropA'.padStart(9)}`;
  console.log(head);
  for (let round = 1; round <= o.rounds; round++) {
    for (const config of o.only) {
      let r: RoundResult;
      try {
        const m = config === 'charon' ? await roundCharon(h, o) : await roundPqike(h, o, config === 'pqike-udp');
        r = { config, round, ...m };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        r = { config, round, transport: '?', tcpMbps: NaN, tcpBytes: NaN, tcpSeconds: NaN, cpuA: NaN, cpuB: NaN, udpSentPps: NaN, udpDeliveredPps: NaN, udpDeliveredFraction: NaN, udpSent: NaN, udpReceived: NaN, udpRxSocketDrops: NaN, udpTunnelSocketDrops: NaN, udpTunDropA: NaN, error: msg };
      }
      results.push(r);
      console.log(
        `${String(round).padEnd(5)} ${LABEL[config].padEnd(20)} ${r.transport.padEnd(11)} ${f1(r.tcpMbps).padStart(10)} ${f1(r.cpuA).padStart(6)} ${f1(r.cpuB).padStart(6)} ${f0(r.udpSentPps).padStart(10)} ${f0(r.udpDeliveredPps).padStart(9)} ${f3(r.udpDeliveredFraction).padStart(6)} ${f0(r.udpRxSocketDrops).padStart(10)} ${f0(r.udpTunnelSocketDrops).padStart(11)} ${f0(r.udpTunDropA).padStart(9)}` +
          (r.error ? `  ERROR: ${r.error.split('\n')[0]}` : ''),
      );
      if (r.error) console.error(r.error);
    }
  }
  const load1 = os.loadavg();
  type Metric = { key: keyof RoundResult; label: string; fmt: (x: number) => string };
  const metrics: Metric[] = [
    { key: 'tcpMbps', label: 'TCP goodput, Mbit/s', fmt: f1 },
    { key: 'udpSentPps', label: 'UDP 64 B sent, pkt/s', fmt: f0 },
    { key: 'udpDeliveredPps', label: 'UDP 64 B delivered, pkt/s', fmt: f0 },
    { key: 'udpDeliveredFraction', label: 'UDP delivered fraction', fmt: f3 },
    { key: 'cpuA', label: 'CPU s sender side (TCP)', fmt: f1 },
    { key: 'cpuB', label: 'CPU s receiver side (TCP)', fmt: f1 },
  ];
  const med = (c: ConfigName, k: keyof RoundResult): number => median(results.filter((r) => r.config === c && !r.error).map((r) => r[k] as number));
  const transports = (c: ConfigName): string => [...new Set(results.filter((r) => r.config === c && !r.error).map((r) => r.transport))].join('/') || '?';
  console.log('');
  console.log(`medians of ${o.rounds} rounds`);
  const cols = o.only.map((c) => `${LABEL[c]} (${transports(c)})`);
  const hasB = o.only.includes('charon');
  const ratios = hasB ? o.only.filter((c) => c !== 'charon').map((c) => (c === 'pqike' ? 'a/b' : "a'/b")) : [];
  console.log(`${'metric'.padEnd(27)} ${cols.map((c) => c.padStart(32)).join(' ')} ${ratios.map((r) => r.padStart(7)).join(' ')}`);
  const summary: Record<string, Record<string, number>> = {};
  for (const m of metrics) {
    const vals = o.only.map((c) => med(c, m.key));
    const rs = hasB ? o.only.filter((c) => c !== 'charon').map((c) => ratio(med(c, m.key), med('charon', m.key))) : [];
    summary[m.key] = Object.fromEntries(o.only.map((c, i) => [c, vals[i] as number]));
    console.log(`${m.label.padEnd(27)} ${vals.map((v) => m.fmt(v).padStart(32)).join(' ')} ${rs.map((r) => r.padStart(7)).join(' ')}`);
  }
  console.log('');
  console.log(`nproc ${nproc}; loadavg at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log("transport: a = pqike as configured (no NAT: plain ESP, IP protocol 50); a' = pqike forced into ESP in UDP/4500 by a SNAT of IKE_SA_INIT's port 500 in A (NAT detected both sides); b = kernel-libipsec, which always UDP-encapsulates (it fakes NAT detection)");
  if (!iperf3) console.log('iperf3: not installed (not needed: the traffic tools are in this file)');
  if (o.json) writeFileSync(o.json, JSON.stringify({ nproc, load0, load1, node: process.version, opts: o, results, summary }, null, 2));
}

const [mode, ...rest] = process.argv.slice(2);
const num = (i: number): number => Number(rest[i]);
if (mode === 'tcp-recv') tcpRecv(rest[0] ?? '', num(1));
else if (mode === 'tcp-send') tcpSend(rest[0] ?? '', rest[1] ?? '', num(2), num(3));
else if (mode === 'udp-recv') await udpRecv(rest[0] ?? '', num(1), num(2));
else if (mode === 'udp-send') await udpSend(rest[0] ?? '', rest[1] ?? '', num(2), num(3), num(4));
else await main();
