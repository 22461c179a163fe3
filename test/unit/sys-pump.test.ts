/**
 * The packet pump over UDP sockets on 127.0.0.1 (no root needed): the worker reads with
 * recvmmsg and delivers to the main thread with the sender's address; main sends through the
 * worker (sendmmsg); packets injected by main reach a processor module inside the worker,
 * which forwards them without the main thread; messages reach the processor in order with
 * packets and its answers come back; counters; close stops the worker, closes what it owns,
 * and is prompt even while the worker sits in poll().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { PacketPump } from '../../src/dataplane/sys/pump.js';
import { openUdpSocket, localAddress } from '../../src/dataplane/sys/sockets.js';
import { libc } from '../../src/dataplane/sys/libc.js';
import type { SockAddr } from '../../src/dataplane/sys/sockaddr.js';

const FORWARD = fileURLToPath(new URL('../../src/dataplane/sys/forward-processor.js', import.meta.url));
const skip = process.platform !== 'linux' ? 'Linux only (koffi bindings to glibc)' : false;

async function peer(): Promise<{ s: dgram.Socket; port: number; got: Buffer[]; next: () => Promise<Buffer> }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const got: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  s.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else got.push(m);
  });
  return {
    s,
    port: s.address().port,
    got,
    next: () => {
      const b = got.shift();
      if (b) return Promise.resolve(b);
      return new Promise<Buffer>((r, j) => {
        const t = setTimeout(() => j(new Error('no datagram within 3 s')), 3000);
        waiters.push((m) => {
          clearTimeout(t);
          r(m);
        });
      });
    },
  };
}

function fdOpen(fd: number): boolean {
  return libc().fcntl(fd, 1 /* F_GETFD */, 0) >= 0;
}

test('pass-through: reads are delivered with their sender; main sends go out of the worker', { skip }, async () => {
  const fd = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  const me = localAddress(fd);
  const p = await peer();
  const seen: { data: string; port: string; from: SockAddr | null }[] = [];
  let batches = 0;
  let wake: () => void = () => {};
  const pump = await PacketPump.start({
    ports: [{ name: 'udp', kind: 'udp', fd, own: true }],
    onBatch: () => batches++,
    onPacket: (data, port, from) => {
      seen.push({ data: data.toString(), port, from });
      if (seen.length === 3) wake();
    },
  });
  try {
    const all = new Promise<void>((r) => (wake = r));
    for (const m of ['one', 'two', 'three']) p.s.send(m, me.port, '127.0.0.1');
    await all;
    assert.deepEqual(seen.map((s) => s.data), ['one', 'two', 'three']);
    for (const s of seen) {
      assert.equal(s.port, 'udp');
      assert.deepEqual(s.from, { address: '127.0.0.1', port: p.port });
    }
    assert.ok(batches >= 1 && batches <= 3);
    for (let i = 0; i < 100; i++) pump.send('udp', Buffer.from(`out ${i}`), { address: '127.0.0.1', port: p.port });
    for (let i = 0; i < 100; i++) assert.equal((await p.next()).toString(), `out ${i}`);
    const c = pump.counters()['udp'];
    assert.ok(c);
    assert.equal(c.rx, 3);
    assert.equal(c.rxBytes, 11);
    assert.equal(c.tx, 100);
  } finally {
    await pump.close();
    p.s.close();
  }
  assert.equal(fdOpen(fd), false, 'an owned fd is closed with the pump');
  await pump.close();
  assert.throws(() => pump.send('udp', Buffer.from('late')), /closed/);
});

test('a processor in the worker forwards injected packets and socket reads without the main thread; messages in order', { skip }, async () => {
  const inFd = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  const outFd = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  const inAddr = localAddress(inFd);
  const p = await peer();
  const q = await peer();
  const messages: unknown[] = [];
  const delivered: string[] = [];
  const pump = await PacketPump.start({
    ports: [
      { name: 'in', kind: 'udp', fd: inFd, own: true },
      { name: 'out', kind: 'udp', fd: outFd, own: true, read: false },
      { name: 'natt', kind: 'inject' },
    ],
    processor: { module: FORWARD, options: { routes: { in: { port: 'out', to: { address: '127.0.0.1', port: p.port } }, natt: { port: 'out', to: { address: '127.0.0.1', port: q.port } } } } },
    onPacket: (d) => delivered.push(d.toString()),
    onMessage: (m) => messages.push(m),
  });
  try {
    p.s.send('via socket', inAddr.port, '127.0.0.1');
    assert.equal((await p.next()).toString(), 'via socket');
    pump.inject('natt', Buffer.from('injected'), { address: '192.0.2.9', port: 4500 });
    assert.equal((await q.next()).toString(), 'injected');
    // Re-route 'in' to the main thread, in order with the packets injected around it.
    pump.inject('natt', Buffer.from('before'));
    pump.post({ op: 'route', from: 'in', to: 'deliver' });
    pump.post({ op: 'ping', id: 7 });
    assert.equal((await q.next()).toString(), 'before');
    p.s.send('to main', inAddr.port, '127.0.0.1');
    const deadline = Date.now() + 3000;
    while ((delivered.length === 0 || messages.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(delivered, ['to main']);
    assert.deepEqual(messages, [{ op: 'pong', id: 7, counts: { in: 1, natt: 2 } }]);
    assert.throws(() => pump.send('natt', Buffer.from('x')), /only takes inject/);
    assert.throws(() => pump.send('nope', Buffer.from('x')), /no port nope/);
  } finally {
    await pump.close();
    p.s.close();
    q.s.close();
  }
});

test('close is prompt while the worker blocks in poll(); fds it does not own stay open', { skip }, async () => {
  const fd = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  const pump = await PacketPump.start({ ports: [{ name: 'udp', kind: 'udp', fd }], tickMs: 60_000 });
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  await pump.close();
  assert.ok(performance.now() - t0 < 500, `close took ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(fdOpen(fd), true);
  libc().close(fd);
});

test('a processor module that cannot load fails start, and nothing is left running', { skip }, async () => {
  const fd = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  await assert.rejects(
    PacketPump.start({ ports: [{ name: 'udp', kind: 'udp', fd, own: true }], processor: { module: '/nonexistent/processor.js' } }),
    /nonexistent|Cannot find/,
  );
  assert.equal(fdOpen(fd), false);
});
