/**
 * `pqike demo --netns` (root, Linux): the real thing on this host in two throwaway network
 * namespaces — two pqike daemons (data_plane: auto: the kernel's ESP where it has it, our
 * userspace ESP otherwise), a hybrid tunnel between them, a ping and a TCP transfer through it,
 * the ESP packets counted on the wire (a raw socket in the responder's namespace sees each
 * one), the daemons' own counters beside them; then everything is torn down (daemons stopped,
 * namespaces deleted, the temporary directory with its secrets removed), also on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../daemon/control.js';
import type { SaView } from '../daemon/listing.js';

export interface NetnsDemoOptions {
  readonly proposal: string;
  readonly esp: string;
  readonly print: (line: string) => void;
}

const NET = { a: '10.201.0.1', b: '10.201.0.2', innerA: '10.201.1.1', innerB: '10.201.2.1' } as const;

function sh(args: readonly string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8', timeout: 30_000, ...(input === undefined ? {} : { input }) });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function must(args: readonly string[]): string {
  const r = sh(args);
  if (!r.ok) throw new Error(`${args.join(' ')}: ${r.out}`);
  return r.out;
}

function config(me: 'a' | 'b', socket: string, o: NetnsDemoOptions): string {
  const [local, remote, lnet, rnet] = me === 'a' ? [NET.a, NET.b, '10.201.1.0/24', '10.201.2.0/24'] : [NET.b, NET.a, '10.201.2.0/24', '10.201.1.0/24'];
  return `secrets: secrets.yaml
log:
  level: info
  format: json
control:
  socket: ${socket}
data_plane: auto
userspace:
  tun: pqdemo-${me}
connections:
  demo:
    local_addrs: ${local}
    remote_addrs: ${remote}
    local_id: ${me}.demo.pqike
    remote_id: ${me === 'a' ? 'b' : 'a'}.demo.pqike
    psk: demo
    proposals: [${o.proposal}]
    children:
      net:
        local_ts: [${lnet}]
        remote_ts: [${rnet}]
        esp_proposals: [${o.esp}]
`;
}

/** A command in a namespace; resolves with its exit code and output. */
function inNs(ns: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

function pingCommand(): string[] | undefined {
  for (const p of ['/usr/bin/ping', '/bin/ping']) if (sh(['test', '-x', p]).ok) return [p];
  for (const b of ['/bin/busybox', '/usr/bin/busybox']) if (sh(['test', '-x', b]).ok) return [b, 'ping'];
  return undefined;
}

/**
 * ESP packets arriving in `ns` (IP protocol 50), counted by a raw socket opened there: every
 * inbound ESP packet is delivered to raw sockets too, before the ESP layer takes it.
 */
async function espCounter(ns: string): Promise<{ stop(): number }> {
  const { inNetns } = await import('../dataplane/sys/netns.js');
  const { openEspSocket, recvDatagram } = await import('../dataplane/sys/sockets.js');
  const { closeFd } = await import('../dataplane/sys/libc.js');
  const fd = inNetns(ns, () => openEspSocket({ family: 4, rcvbuf: 8 * 1024 * 1024 }));
  const buf = new Uint8Array(2048);
  let n = 0;
  const drain = (): void => {
    while (recvDatagram(fd, buf)) n++;
  };
  const timer = setInterval(drain, 20);
  return {
    stop: () => {
      clearInterval(timer);
      drain();
      closeFd(fd);
      return n;
    },
  };
}

export async function runNetnsDemo(o: NetnsDemoOptions): Promise<boolean> {
  const print = o.print;
  if (process.platform !== 'linux') throw new Error('pqike demo --netns needs Linux (network namespaces)');
  if (process.getuid?.() !== 0) throw new Error('pqike demo --netns needs root (it creates network namespaces); `npm start` runs the in-process demo without');
  const id = `${process.pid.toString(36)}`;
  const ns = { a: `pqike-demo-${id}-a`, b: `pqike-demo-${id}-b` };
  const dir = mkdtempSync(join(tmpdir(), 'pqike-demo-'));
  const daemons: ChildProcess[] = [];
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGTERM');
  };
  const onSignal = (): void => {
    cleanup();
    print('interrupted: tearing down');
  };
  process.once('SIGINT', onSignal);
  try {
    print(`namespaces ${ns.a} and ${ns.b}, veth ${NET.a} <-> ${NET.b}; tunnel 10.201.1.0/24 <-> 10.201.2.0/24`);
    must(['ip', 'netns', 'add', ns.a]);
    must(['ip', 'netns', 'add', ns.b]);
    must(['ip', 'link', 'add', `pqd${id}a`, 'netns', ns.a, 'type', 'veth', 'peer', 'name', `pqd${id}b`, 'netns', ns.b]);
    for (const [n, dev, addr, inner] of [[ns.a, `pqd${id}a`, NET.a, NET.innerA], [ns.b, `pqd${id}b`, NET.b, NET.innerB]] as const) {
      must(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
      must(['ip', '-n', n, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      must(['ip', '-n', n, 'addr', 'add', `${inner}/32`, 'dev', 'lo']);
      must(['ip', '-n', n, 'link', 'set', dev, 'up']);
    }
    // A fresh PSK for this run only, in a 0600 file that goes with the directory.
    writeFileSync(join(dir, 'secrets.yaml'), `psk:\n  demo: "0x${randomBytes(32).toString('hex')}"\n`, { mode: 0o600 });
    const sockets = { a: join(dir, 'a', 'pqike.sock'), b: join(dir, 'b', 'pqike.sock') };
    for (const me of ['a', 'b'] as const) {
      writeFileSync(join(dir, `${me}.yaml`), config(me, sockets[me], o));
      const log = join(dir, `${me}.log`);
      const d = spawn('ip', ['netns', 'exec', ns[me], process.execPath, process.argv[1] ?? '', 'daemon', '-c', join(dir, `${me}.yaml`)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let text = '';
      d.stderr?.on('data', (b: Buffer) => {
        text += b.toString();
        writeFileSync(log, text);
      });
      daemons.push(d);
      const t0 = Date.now();
      while (!/control socket/.test(text)) {
        if (d.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`daemon ${me} did not start:\n${text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const plane = /"msg":"(data plane: [^"]*)"/.exec(text)?.[1];
      print(`daemon ${me}: ${plane ?? 'started'}`);
    }
    const esp = await espCounter(ns.b);
    const up = await request(sockets.a, { cmd: 'up', args: ['demo'], opts: {} }, 30_000);
    if (!up.ok) throw new Error(`pqike up failed: ${up.error}`);
    const [sa] = await listSas(sockets.a);
    print(`IKE SA up: ${sa?.suite ?? '?'}, key exchanges ${sa?.keyExchanges.join(' + ') ?? '?'}; Child SA ${sa?.children[0]?.spiIn ?? '?'}_i ${sa?.children[0]?.spiOut ?? '?'}_o ${sa?.children[0]?.encryption ?? ''}`);
    const ping = pingCommand();
    let pinged = true;
    if (ping) {
      const p = await inNs(ns.a, [...ping, '-c', '5', '-i', '0.2', '-I', NET.innerA, NET.innerB], 30_000);
      const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(p.out);
      pinged = m !== null && m[1] === m[2];
      print(`ping ${NET.innerA} -> ${NET.innerB}: ${m ? `${m[2]}/${m[1]} answered` : p.out}`);
    } else print('ping: no ping on this host (iputils-ping or busybox), skipped');
    const size = 8 * 1024 * 1024;
    const data = randomBytes(size);
    const want = createHash('sha256').update(data).digest('hex');
    const t0 = process.hrtime.bigint();
    const got = await tcpThrough(ns, dir, data);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    print(`TCP ${NET.innerA} -> ${NET.innerB}: ${size / 1048576} MiB in ${ms.toFixed(0)} ms (${((size * 8) / (ms * 1000)).toFixed(0)} Mbit/s incl. start-up), SHA-256 ${got === want ? 'matches' : 'DIFFERS'}`);
    await new Promise((r) => setTimeout(r, 1200)); // the userspace plane reports its counters once a second
    const onWire = esp.stop();
    const [after] = await listSas(sockets.b);
    const ch = after?.children[0];
    print(`ESP packets seen arriving at ${NET.b}: ${onWire}; responder's Child SA counted ${ch?.packetsIn ?? '-'} packets / ${ch?.bytesIn ?? '-'} bytes in, ${ch?.packetsOut ?? '-'} packets out`);
    const ok = pinged && got === want && onWire > 0;
    print(ok ? 'demo passed: traffic went through ESP between the two daemons' : 'demo FAILED');
    return ok;
  } finally {
    process.off('SIGINT', onSignal);
    cleanup();
    await Promise.all(daemons.map((d) => (d.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => d.once('exit', () => r())))));
    for (const n of [ns.a, ns.b]) sh(['ip', 'netns', 'del', n]);
    rmSync(dir, { recursive: true, force: true });
    print('torn down: daemons stopped, namespaces and temporary files removed');
  }
}

async function listSas(socket: string): Promise<SaView[]> {
  const r = await request(socket, { cmd: 'list-sas', args: [], opts: {} });
  return r.ok ? (r.data as SaView[]) : [];
}

/** A TCP transfer from A's inner address to B's, both ends in node processes in the namespaces. */
async function tcpThrough(ns: { a: string; b: string }, dir: string, data: Buffer): Promise<string> {
  const file = join(dir, 'payload');
  writeFileSync(file, data, { mode: 0o600 });
  const port = 45_000 + Math.floor(Math.random() * 5000);
  const server = `const n=require('net'),c=require('crypto');const h=c.createHash('sha256');const s=n.createServer(k=>{k.on('data',b=>h.update(b));k.on('end',()=>{console.log(h.digest('hex'));s.close()})});s.listen(${port},'${NET.innerB}',()=>console.log('LISTENING'))`;
  const srv = spawn('ip', ['netns', 'exec', ns.b, process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  srv.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const t0 = Date.now();
  while (!out.includes('LISTENING')) {
    if (srv.exitCode !== null || Date.now() - t0 > 10_000) throw new Error('TCP receiver did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const client = `const n=require('net'),f=require('fs');const k=n.connect({port:${port},host:'${NET.innerB}',localAddress:'${NET.innerA}'},()=>k.end(f.readFileSync(process.argv[1])));k.on('error',e=>{console.error(e.message);process.exit(1)})`;
  const c = await inNs(ns.a, [process.execPath, '-e', client, file], 120_000);
  if (c.code !== 0) throw new Error(`TCP sender: ${c.out}`);
  await new Promise<void>((r) => (srv.exitCode !== null ? r() : srv.once('exit', () => r())));
  return out.replace('LISTENING', '').trim();
}
