/**
 * The system calls of the userspace ESP plane against a real kernel, in network namespaces
 * made by the test (root): a TUN device with an address and routes (rtnetlink), read and
 * written through the packet pump (busybox ping answered by the pump); multi-queue; raw ESP
 * sockets (IPv4 and IPv6, protocol 50) between two namespaces, seen by a second raw socket, the
 * pump and tshark; the NAT-T socket with UDP_ENCAP_ESPINUDP adopted by node:dgram still
 * receiving and sending IKE (non-ESP marker) while the kernel takes ESP and keepalives, and
 * without the option the userspace hand-off (ESP from dgram into the pump, out of the same
 * socket); a clean shutdown leaves no interface behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POLLIN, libc } from '../../src/dataplane/sys/libc.js';
import { inNetns } from '../../src/dataplane/sys/netns.js';
import { PacketPump } from '../../src/dataplane/sys/pump.js';
import { Rtnl } from '../../src/dataplane/sys/rtnl.js';
import { ipv6Text, type SockAddr } from '../../src/dataplane/sys/sockaddr.js';
import { openEspSocket, openUdpSocket, recvDatagram, sendDatagram, stripIpv4Header } from '../../src/dataplane/sys/sockets.js';
import { TunDevice, tunRead } from '../../src/dataplane/sys/tun.js';
import { adoptDgram, classifyNatt, openNattFd, udpEncapOf } from '../../src/dataplane/sys/natt-socket.js';
import { interopSkipReason, nsExec, run, sleep, startCapture, withNetnsPair, type NetnsPair } from './netns.js';

const skip = interopSkipReason(['ip', 'busybox', 'dumpcap', 'tshark']) ?? false;
const FORWARD = fileURLToPath(new URL('../../src/dataplane/sys/forward-processor.js', import.meta.url));
const PAIR = { innerA: null, innerB: null } as const;

/* ---- small packet builders ---- */

function csum(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (b.length % 2) s += (b[b.length - 1] ?? 0) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function v4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** An ICMP echo reply for an IPv4 echo request (addresses swapped), or null if it is none. */
function echoReply(req: Uint8Array): Buffer | null {
  if (req.length < 28 || (req[0] ?? 0) >> 4 !== 4 || req[9] !== 1) return null;
  const ihl = ((req[0] ?? 0) & 15) * 4;
  if (req[ihl] !== 8) return null;
  const r = Buffer.from(req);
  r.set(req.subarray(16, 20), 12);
  r.set(req.subarray(12, 16), 16);
  r.writeUInt16BE(0, 10);
  r.writeUInt16BE(csum(r.subarray(0, ihl)), 10);
  r[ihl] = 0;
  r.writeUInt16BE(0, ihl + 2);
  r.writeUInt16BE(csum(r.subarray(ihl)), ihl + 2);
  return r;
}

/** An IPv4 UDP packet (UDP checksum 0: none, allowed for IPv4). */
function udp4(src: string, sport: number, dst: string, dport: number, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.writeUInt16BE(csum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  p.set(payload, 28);
  return p;
}

function esp(spi: number, seq: number, len: number): Buffer {
  const b = Buffer.alloc(len, 0x5c);
  b.writeUInt32BE(spi, 0);
  b.writeUInt32BE(seq, 4);
  return b;
}

/** Wait until fd is readable, then receive one datagram (throws after timeoutMs). */
function recvWithin(fd: number, buf: Uint8Array, timeoutMs: number): { length: number; from: SockAddr } {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = recvDatagram(fd, buf);
    if (r) return r;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`nothing received on fd ${fd} within ${timeoutMs} ms`);
    libc().poll(pfd, 1, Math.min(left, 100));
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(10);
  }
}

async function linkNames(ns: string): Promise<string[]> {
  const r = await run('ip', ['-n', ns, '-j', 'link', 'show']);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

/** A TUN pqike0 in A: MTU 1400, 10.98.0.1/32 + fd00:98::1/128, routes 10.97.0.0/24 and fd00:97::/64 into it. */
function tunInA(pair: NetnsPair): { tun: TunDevice; nl: Rtnl } {
  return inNetns(pair.a.ns, () => {
    const tun = TunDevice.open({ name: 'pqike0' });
    const nl = new Rtnl();
    nl.setMtu(tun.name, 1400);
    nl.setUp(tun.name);
    nl.addAddress(tun.name, '10.98.0.1/32');
    nl.addAddress(tun.name, 'fd00:98::1/128');
    nl.addRoute({ dst: '10.97.0.0/24', dev: tun.name });
    nl.addRoute({ dst: 'fd00:97::/64', dev: tun.name });
    return { tun, nl };
  });
}

test('TUN in a namespace: rtnetlink config; ping into the route is read by the pump and answered through it; pump writes reach the kernel; route removal; no interface after shutdown', { skip, timeout: 60_000 }, async () => {
  await withNetnsPair(async (pair) => {
    const { tun, nl } = tunInA(pair);
    const link = await run('ip', ['-n', pair.a.ns, '-d', '-j', 'link', 'show', 'pqike0']);
    const info = (JSON.parse(link.stdout) as { mtu: number; flags: string[]; linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean } } }[])[0];
    assert.equal(info?.mtu, 1400);
    assert.ok(info?.flags.includes('UP'), JSON.stringify(info));
    assert.equal(info?.linkinfo?.info_kind, 'tun');
    const routes = await run('ip', ['-n', pair.a.ns, 'route', 'show', 'dev', 'pqike0']);
    assert.match(routes.stdout, /^10\.97\.0\.0\/24 proto static scope link/m);
    const routes6 = await run('ip', ['-n', pair.a.ns, '-6', 'route', 'show', 'dev', 'pqike0']);
    assert.match(routes6.stdout, /^fd00:97::\/64 proto static/m);

    const seen: Buffer[] = [];
    let pump: PacketPump | undefined = await PacketPump.start({
      ports: [{ name: 'tun', kind: 'tun', fd: tun.fds[0] ?? -1 }],
      onPacket: (pkt, port) => {
        assert.equal(port, 'tun');
        seen.push(Buffer.from(pkt));
        const reply = echoReply(pkt);
        if (reply && v4(pkt, 16) === '10.97.0.5') pump?.send('tun', reply);
      },
    });
    try {
      // The kernel routes the echo requests into pqike0; the pump reads them and writes the
      // replies back into the TUN, where the kernel hands them to ping.
      const ping = await nsExec(pair.a.ns, 'busybox', ['ping', '-c', '3', '-W', '2', '10.97.0.5'], { allowFail: true });
      assert.equal(ping.code, 0, `ping through the pump failed:\n${ping.stdout}\n${ping.stderr}`);
      assert.match(ping.stdout, /3 packets transmitted, 3 packets received/);
      const requests = seen.filter((p) => p[9] === 1 && v4(p, 16) === '10.97.0.5');
      assert.equal(requests.length, 3);
      assert.equal(v4(requests[0] ?? Buffer.alloc(20), 12), '10.98.0.1', 'source: the TUN address');

      // IPv6 into the other route.
      const u6 = inNetns(pair.a.ns, () => openUdpSocket({ family: 6 }));
      try {
        sendDatagram(u6, Buffer.from('over ipv6'), { address: 'fd00:97::5', port: 9 });
      } finally {
        libc().close(u6);
      }
      await waitFor('the IPv6 datagram', () => seen.some((p) => (p[0] ?? 0) >> 4 === 6 && p[6] === 17));
      const p6 = seen.find((p) => (p[0] ?? 0) >> 4 === 6 && p[6] === 17) ?? Buffer.alloc(48);
      assert.equal(ipv6Text(p6, 24), 'fd00:97::5');
      assert.equal(p6.subarray(48).toString(), 'over ipv6');

      // A packet the pump writes appears on the kernel side: UDP to a socket on the TUN address.
      const rx = inNetns(pair.a.ns, () => openUdpSocket({ bind: { address: '10.98.0.1', port: 7001 } }));
      try {
        pump.send('tun', udp4('10.97.0.5', 4242, '10.98.0.1', 7001, Buffer.from('from the pump')));
        pump.flush(); // recvWithin blocks this thread: the microtask that would flush cannot run
        const buf = Buffer.alloc(2048);
        const got = recvWithin(rx, buf, 3000);
        assert.equal(buf.subarray(0, got.length).toString(), 'from the pump');
        assert.deepEqual(got.from, { address: '10.97.0.5', port: 4242 });
      } finally {
        libc().close(rx);
      }
      const c = pump.counters()['tun'];
      assert.ok(c && c.rx >= 4 && c.tx === 4, JSON.stringify(c));

      // Route removal: the traffic selector's route goes, ping has no route.
      nl.deleteRoute({ dst: '10.97.0.0/24', dev: tun.name });
      assert.doesNotMatch((await run('ip', ['-n', pair.a.ns, 'route'])).stdout, /10\.97\.0\.0/);
      const gone = await nsExec(pair.a.ns, 'busybox', ['ping', '-c', '1', '-W', '1', '10.97.0.5'], { allowFail: true });
      assert.notEqual(gone.code, 0);
    } finally {
      await pump.close();
      pump = undefined;
      tun.close();
      nl.close();
    }
    assert.deepEqual(await linkNames(pair.a.ns), ['lo', pair.a.ifname], 'closing the TUN removed pqike0');
    assert.doesNotMatch((await run('ip', ['-n', pair.a.ns, '-6', 'route'])).stdout, /pqike0/);
  }, PAIR);
});

test('multi-queue TUN: one fd per queue, flows spread over the queues by hash', { skip, timeout: 30_000 }, async () => {
  await withNetnsPair(async (pair) => {
    const { tun, nl } = inNetns(pair.a.ns, () => {
      const t = TunDevice.open({ name: 'pqmq%d', queues: 2 });
      const n = new Rtnl();
      n.setUp(t.name);
      n.addAddress(t.name, '10.98.1.1/32');
      n.addRoute({ dst: '10.97.1.0/24', dev: t.name });
      return { tun: t, nl: n };
    });
    try {
      assert.match(tun.name, /^pqmq\d+$/);
      assert.equal(tun.fds.length, 2);
      const d = await run('ip', ['-n', pair.a.ns, '-d', 'link', 'show', tun.name]);
      assert.match(d.stdout, /multi_queue/);
      const s = inNetns(pair.a.ns, () => openUdpSocket({}));
      for (let i = 0; i < 64; i++) sendDatagram(s, Buffer.from(`flow ${i}`), { address: `10.97.1.${1 + i}`, port: 1000 + i });
      libc().close(s);
      await sleep(100);
      const buf = Buffer.alloc(2048);
      const perQueue = tun.fds.map((fd) => {
        let n = 0;
        for (let len = tunRead(fd, buf); len > 0; len = tunRead(fd, buf)) if ((buf[0] ?? 0) >> 4 === 4 && buf[9] === 17) n++;
        return n; // IPv4 UDP only: the kernel also sends IPv6 router solicitations
      });
      assert.equal((perQueue[0] ?? 0) + (perQueue[1] ?? 0), 64, `per queue ${perQueue.join('/')}`);
      assert.ok(perQueue.every((n) => n > 0), `64 flows all on one queue: ${perQueue.join('/')}`);
    } finally {
      tun.close();
      nl.close();
    }
    assert.deepEqual(await linkNames(pair.a.ns), ['lo', pair.a.ifname]);
  }, PAIR);
});

test('raw ESP sockets, IPv4 and IPv6: A sends protocol 50, B receives it on a raw socket (header stripped) and through the pump, answers through the pump; tshark sees the SPIs', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-sys-esp-'));
  try {
    await withNetnsPair(async (pair) => {
      await run('ip', ['-n', pair.a.ns, 'addr', 'add', 'fd00:99::1/64', 'dev', pair.a.ifname, 'nodad']);
      await run('ip', ['-n', pair.b.ns, 'addr', 'add', 'fd00:99::2/64', 'dev', pair.b.ifname, 'nodad']);
      const cap = await startCapture(pair.b.ns, pair.b.ifname, join(dir, 'esp.pcap'), { filter: 'ip proto 50 or ip6 proto 50' });
      // dumpcap says "Capturing on" a moment before its filter sees packets (a loaded CI
      // machine missed the first one): give it that moment.
      await sleep(500);
      const a4 = inNetns(pair.a.ns, () => openEspSocket({ bind: { address: pair.a.addr, port: 0 } }));
      const a6 = inNetns(pair.a.ns, () => openEspSocket({ bind: { address: 'fd00:99::1', port: 0 } }));
      const b4 = inNetns(pair.b.ns, () => openEspSocket({ bind: { address: pair.b.addr, port: 0 } }));
      const b6 = inNetns(pair.b.ns, () => openEspSocket({ bind: { address: 'fd00:99::2', port: 0 } }));
      const buf = Buffer.alloc(4096);
      try {
        // A second raw socket as the receiver: IPv4 comes with its header, IPv6 without.
        const p4 = esp(0x0badcafe, 1, 60);
        sendDatagram(a4, p4, { address: pair.b.addr, port: 0 });
        const r4 = recvWithin(b4, buf, 3000);
        const s4 = stripIpv4Header(buf, r4.length);
        assert.ok(s4, 'an IPv4 header for ESP');
        assert.deepEqual(Buffer.from(s4.esp), p4);
        assert.equal(s4.src, pair.a.addr);
        assert.equal(r4.from.address, pair.a.addr);
        const p6 = esp(0x0badcaf6, 1, 60);
        sendDatagram(a6, p6, { address: 'fd00:99::2', port: 0 });
        const r6 = recvWithin(b6, buf, 3000);
        assert.deepEqual(buf.subarray(0, r6.length), p6);
        assert.equal(r6.from.address, 'fd00:99::1');

        // The pump on B's raw sockets: delivers ESP (IPv4 header stripped) with the source, and sends.
        const got: { data: Buffer; port: string; from: SockAddr | null }[] = [];
        const pump = await PacketPump.start({
          ports: [
            { name: 'esp4', kind: 'esp4', fd: b4 },
            { name: 'esp6', kind: 'esp6', fd: b6 },
          ],
          onPacket: (data, port, from) => got.push({ data: Buffer.from(data), port, from }),
        });
        try {
          sendDatagram(a4, esp(0x0badcafe, 2, 100), { address: pair.b.addr, port: 0 });
          sendDatagram(a6, esp(0x0badcaf6, 2, 100), { address: 'fd00:99::2', port: 0 });
          await waitFor('two ESP packets at the pump', () => got.length >= 2);
          const g4 = got.find((g) => g.port === 'esp4');
          const g6 = got.find((g) => g.port === 'esp6');
          assert.deepEqual(g4?.data, esp(0x0badcafe, 2, 100));
          assert.deepEqual(g4?.from, { address: pair.a.addr, port: 0 });
          assert.deepEqual(g6?.data, esp(0x0badcaf6, 2, 100));
          assert.deepEqual(g6?.from, { address: 'fd00:99::1', port: 0 });
          pump.send('esp4', esp(0xfeed0004, 1, 80), { address: pair.a.addr, port: 0 });
          pump.send('esp6', esp(0xfeed0006, 1, 80), { address: 'fd00:99::1', port: 0 });
          pump.flush();
          const back4 = recvWithin(a4, buf, 3000);
          assert.deepEqual(Buffer.from(stripIpv4Header(buf, back4.length)?.esp ?? []), esp(0xfeed0004, 1, 80));
          const back6 = recvWithin(a6, buf, 3000);
          assert.deepEqual(buf.subarray(0, back6.length), esp(0xfeed0006, 1, 80));
        } finally {
          await pump.close();
        }
      } finally {
        for (const fd of [a4, a6, b4, b6]) libc().close(fd);
      }
      const res = await cap.stop({ minPackets: 6 });
      const t = await run('tshark', ['-r', res.pcapPath, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'esp.spi', '-e', 'esp.sequence']);
      const lines = t.stdout.trim().split('\n').map((l) => l.split('\t'));
      const spis = lines.map((l) => l[2]);
      for (const spi of ['0x0badcafe', '0x0badcaf6', '0xfeed0004', '0xfeed0006']) assert.ok(spis.includes(spi), `tshark: no ESP with SPI ${spi} in\n${t.stdout}`);
      assert.ok(lines.some((l) => l[0] === pair.a.addr && l[2] === '0x0badcafe' && l[3] === '1'), t.stdout);
      assert.ok(lines.some((l) => l[1] === 'fd00:99::2' && l[2] === '0xfeed0006'), t.stdout);
    }, PAIR);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A node:dgram socket in namespace ns, bound to address:port (made through koffi, adopted). */
async function dgramIn(ns: string, address: string, port: number): Promise<dgram.Socket> {
  const fd = inNetns(ns, () => openUdpSocket({ bind: { address, port } }));
  return adoptDgram(fd, 4);
}

function collect(s: dgram.Socket): { msgs: { data: Buffer; port: number; address: string }[] } {
  const box = { msgs: [] as { data: Buffer; port: number; address: string }[] };
  s.on('message', (m, r) => box.msgs.push({ data: m, port: r.port, address: r.address }));
  return box;
}

function ike(n: number): Buffer {
  // Non-ESP marker + an IKE header's worth of octets (SPIi, SPIr zero, next payload, version 2.0, IKE_SA_INIT).
  const b = Buffer.alloc(4 + 28);
  b.writeUInt32BE(0x11223344, 4);
  b.writeUInt32BE(n, 8);
  b[4 + 16] = 33;
  b[4 + 17] = 0x20;
  b[4 + 18] = 34;
  b.writeUInt32BE(28, 4 + 24);
  return b;
}

test('UDP_ENCAP_ESPINUDP on a koffi socket adopted by node:dgram: IKE with the non-ESP marker still arrives untouched and goes out; the kernel takes ESP and keepalives', { skip, timeout: 30_000 }, async () => {
  await withNetnsPair(async (pair) => {
    const fd = inNetns(pair.b.ns, () => openNattFd({ address: pair.b.addr, port: 4500, kernelEncap: true }));
    assert.equal(udpEncapOf(fd), 2, 'UDP_ENCAP reads back as ESPINUDP');
    const natt = await adoptDgram(fd, 4);
    const peer = await dgramIn(pair.a.ns, pair.a.addr, 4500);
    try {
      assert.deepEqual(natt.address(), { address: pair.b.addr, family: 'IPv4', port: 4500 });
      const atB = collect(natt);
      const atA = collect(peer);
      peer.send(ike(1), 4500, pair.b.addr);
      peer.send(Buffer.of(0xff), 4500, pair.b.addr);
      peer.send(esp(0x01020304, 1, 64), 4500, pair.b.addr);
      peer.send(ike(2), 4500, pair.b.addr);
      await waitFor('two IKE datagrams at B', () => atB.msgs.length >= 2);
      await sleep(200);
      assert.deepEqual(atB.msgs.map((m) => m.data), [ike(1), ike(2)], 'only IKE reaches the socket, marker included');
      assert.equal(atB.msgs[0]?.port, 4500);
      assert.equal(classifyNatt(atB.msgs[0]?.data ?? Buffer.alloc(0)), 'ike');
      natt.send(ike(3), 4500, pair.a.addr);
      await waitFor('the answer at A', () => atA.msgs.length >= 1);
      assert.deepEqual(atA.msgs[0]?.data, ike(3));
      assert.equal(atA.msgs[0]?.port, 4500, 'sent from 4500');
    } finally {
      natt.close();
      peer.close();
    }
  }, PAIR);
});

test('without UDP_ENCAP (userspace plane): ESP and keepalives reach node:dgram, ESP is injected into the pump and sent from the same 4500 socket by the worker', { skip, timeout: 30_000 }, async () => {
  await withNetnsPair(async (pair) => {
    const fd = inNetns(pair.b.ns, () => openNattFd({ address: pair.b.addr, port: 4500 }));
    assert.equal(udpEncapOf(fd), 0);
    const natt = await adoptDgram(fd, 4);
    const peer = await dgramIn(pair.a.ns, pair.a.addr, 4500);
    // The worker sends ESP in UDP through the dgram socket's fd (send only: dgram reads it).
    const pump = await PacketPump.start({
      ports: [
        { name: 'natt-in', kind: 'inject' },
        { name: 'natt', kind: 'udp', fd, read: false },
      ],
      processor: { module: FORWARD, options: { routes: { 'natt-in': { port: 'natt', to: { address: pair.a.addr, port: 4500 } } } } },
    });
    const kinds: string[] = [];
    const ikeSeen: Buffer[] = [];
    // The hand-off the UdpDriver needs (see the report): IKE to the engine, ESP to the plane.
    natt.on('message', (m, r) => {
      const k = classifyNatt(m);
      kinds.push(k);
      if (k === 'ike') ikeSeen.push(m.subarray(4));
      else if (k === 'esp') pump.inject('natt-in', m, { address: r.address, port: r.port });
    });
    const atA = collect(peer);
    try {
      peer.send(ike(1), 4500, pair.b.addr);
      peer.send(Buffer.of(0xff), 4500, pair.b.addr);
      peer.send(esp(0x01020304, 7, 64), 4500, pair.b.addr);
      await waitFor('three datagrams at B', () => kinds.length >= 3);
      assert.deepEqual(kinds, ['ike', 'keepalive', 'esp']);
      assert.deepEqual(ikeSeen, [ike(1).subarray(4)]);
      await waitFor('the ESP forwarded by the worker at A', () => atA.msgs.length >= 1);
      assert.deepEqual(atA.msgs[0]?.data, esp(0x01020304, 7, 64));
      assert.equal(atA.msgs[0]?.port, 4500, 'the worker sent from the NAT-T socket itself');
      const c = pump.counters();
      assert.equal(c['natt-in']?.rx, 1);
      assert.equal(c['natt']?.tx, 1);
    } finally {
      await pump.close();
      natt.close();
      peer.close();
    }
  }, PAIR);
});
