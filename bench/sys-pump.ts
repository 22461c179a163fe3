/**
 * Throughput of the PacketPump (src/dataplane/sys/pump.ts) without crypto, one stream:
 *
 *   generator in namespace A --UDP--> route 10.97.0.0/24 --> TUN pqb0 (A) --> pump worker
 *   (forward-processor: the IP packet as the payload of a UDP datagram, as ESP in UDP would
 *   carry it) --> UDP socket in A --veth--> namespace B (sink socket, never read)
 *
 * Paths:
 *   worker   forwarding in the worker (the ESP plane's path: no main-thread crossing)
 *   main     the pump delivers to the main thread (onPacket), which sends back through it
 *   worker-connected  as worker, out of a connected UDP socket (no destination per packet)
 *
 * Packets/s are counted at B's veth over the generator's run; Mbit/s are of the IP packets
 * read from the TUN (64 or 1400 octets). The generator (one process, sendmmsg) offers more
 * than the pump takes; the surplus is dropped at the TUN queue (reported). 2-core machines:
 * the generator takes one core, the pump (and B's receive path, run in the sender's softirq)
 * the other.
 *
 *   node dist/bench/sys-pump.js [--seconds 5] [--sizes 64,1400] [--paths worker,main] [--runs 3]
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeFd } from '../src/dataplane/sys/libc.js';
import { inNetns } from '../src/dataplane/sys/netns.js';
import { PacketPump } from '../src/dataplane/sys/pump.js';
import { Rtnl } from '../src/dataplane/sys/rtnl.js';
import { openUdpSocket } from '../src/dataplane/sys/sockets.js';
import { TunDevice } from '../src/dataplane/sys/tun.js';
import { cleanupStaleNamespaces, createNetnsPair, isRoot, run, sleep } from '../test/interop/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const GEN = join(here, 'sys-pump-gen.js');
const FORWARD = join(here, '../src/dataplane/sys/forward-processor.js');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const SECONDS = Number(arg('seconds', '5'));
const SIZES = arg('sizes', '64,1400').split(',').map(Number);
const PATHS = arg('paths', 'worker,worker-connected,main').split(',') as ('worker' | 'worker-connected' | 'main')[];
const RUNS = Number(arg('runs', '3'));
const SINK_PORT = 5556;

async function rxPackets(ns: string, dev: string): Promise<{ rx: number; txDropped: number }> {
  const r = await run('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev]);
  const s = (JSON.parse(r.stdout) as { stats64: { rx: { packets: number }; tx: { dropped: number } } }[])[0]?.stats64;
  return { rx: s?.rx.packets ?? 0, txDropped: s?.tx.dropped ?? 0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('sys-pump needs root (network namespaces, TUN)');
  await cleanupStaleNamespaces();
  const pair = await createNetnsPair({ innerA: null, innerB: null });
  const fds: number[] = [];
  let tun: TunDevice | undefined;
  try {
    const made = inNetns(pair.a.ns, () => {
      const t = TunDevice.open({ name: 'pqb0' });
      const nl = new Rtnl();
      nl.setUp(t.name);
      nl.addAddress(t.name, '10.98.0.1/32');
      nl.addRoute({ dst: '10.97.0.0/24', dev: t.name });
      nl.close();
      return {
        t,
        out: openUdpSocket({ bind: { address: pair.a.addr, port: 0 }, sndbuf: 4 << 20 }),
        outConnected: openUdpSocket({ connect: { address: pair.b.addr, port: SINK_PORT }, sndbuf: 4 << 20 }),
      };
    });
    tun = made.t;
    fds.push(made.out, made.outConnected);
    fds.push(inNetns(pair.b.ns, () => openUdpSocket({ bind: { address: pair.b.addr, port: SINK_PORT }, rcvbuf: 1 << 20 })));
    const sink = { address: pair.b.addr, port: SINK_PORT };
    console.log(`# sys-pump: node ${process.version}, ${RUNS} runs of ${SECONDS} s per case (median shown), TUN ${tun.name} -> pump -> UDP -> B`);
    for (const size of SIZES) {
      for (const path of PATHS) {
        const results: { pps: number; offered: number; drops: number }[] = [];
        for (let r = 0; r < RUNS; r++) {
          const pump: PacketPump = await PacketPump.start({
            ports: [
              { name: 'tun', kind: 'tun', fd: tun.fds[0] ?? -1 },
              { name: 'out', kind: 'udp', fd: path === 'worker-connected' ? made.outConnected : made.out, read: false },
            ],
            ...(path === 'main'
              ? { onPacket: (pkt: Buffer) => pump.send('out', pkt, sink) }
              : { processor: { module: FORWARD, options: { routes: { tun: path === 'worker' ? { port: 'out', to: sink } : { port: 'out' } } } } }),
          });
          await sleep(100);
          const b0 = await rxPackets(pair.b.ns, pair.b.ifname);
          const t0 = await rxPackets(pair.a.ns, tun.name);
          const g = await run('ip', ['netns', 'exec', pair.a.ns, process.execPath, GEN, 'flood', '10.97.0.5', '9', String(size), String(SECONDS)], {
            timeoutMs: (SECONDS + 30) * 1000,
          });
          await sleep(200);
          const b1 = await rxPackets(pair.b.ns, pair.b.ifname);
          const t1 = await rxPackets(pair.a.ns, tun.name);
          await pump.close();
          const gen = JSON.parse(g.stdout.trim().split('\n').pop() ?? '{}') as { seconds: number; pps: number };
          results.push({ pps: (b1.rx - b0.rx) / gen.seconds, offered: gen.pps, drops: t1.txDropped - t0.txDropped });
        }
        const pps = median(results.map((x) => x.pps));
        console.log(
          `size ${String(size).padStart(4)}  path ${path.padEnd(6)}  ${(pps / 1000).toFixed(1).padStart(6)} kpps  ` +
            `${((pps * size * 8) / 1e6).toFixed(0).padStart(5)} Mbit/s   runs: ${results.map((x) => (x.pps / 1000).toFixed(0)).join('/')} kpps, ` +
            `offered ${results.map((x) => (x.offered / 1000).toFixed(0)).join('/')} kpps`,
        );
      }
    }
  } finally {
    for (const fd of fds) closeFd(fd);
    tun?.close();
    await pair.destroy();
  }
}

await main();
