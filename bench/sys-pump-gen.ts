/**
 * Traffic helper for bench/sys-pump*.ts, run inside a namespace (`ip netns exec NS node
 * dist/bench/sys-pump-gen.js MODE ...`); prints one JSON line when done.
 *
 *   flood DST PORT SIZE SECONDS   UDP datagrams making SIZE-octet IPv4 packets, as fast as
 *                                 sendmmsg goes (batches of 32), for SECONDS; reports sent.
 *   echo PORT REPLY_ADDR REPLY_PORT   answer each datagram with its last 8 octets, sent to
 *                                 REPLY_ADDR:REPLY_PORT (the pinger), until stdin closes.
 *   ping DST PORT SIZE COUNT LPORT    COUNT ping-pongs (one in flight) to DST:PORT from port
 *                                 LPORT, reports round-trip percentiles in microseconds.
 *
 * Bounded: every mode stops by itself (flood: SECONDS; ping: COUNT or 1 s per lost reply;
 * echo: stdin closed or 120 s). Addresses are the benchmark's namespaces only.
 */
import dgram from 'node:dgram';
import { MmsgBatch } from '../src/dataplane/sys/mmsg.js';
import { openUdpSocket } from '../src/dataplane/sys/sockets.js';

const [mode, ...args] = process.argv.slice(2);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function flood(dst: string, port: number, size: number, seconds: number): Promise<void> {
  const fd = openUdpSocket({ connect: { address: dst, port }, nonBlocking: false, sndbuf: 4 << 20 });
  const batch = new MmsgBatch(32, 2048);
  const payload = Buffer.alloc(size - 28, 0xab);
  for (let i = 0; i < 32; i++) batch.set(i, payload, null);
  let sent = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let k = 0; k < 64; k++) sent += batch.send(fd, 32, 0);
  }
  const dt = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ mode: 'flood', sent, seconds: dt, pps: sent / dt })}\n`);
}

async function echo(port: number, replyAddr: string, replyPort: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(port, '0.0.0.0', () => r()));
  let n = 0;
  s.on('message', (m) => {
    n++;
    s.send(m.subarray(m.length - 8), replyPort, replyAddr);
  });
  process.stdout.write(`${JSON.stringify({ mode: 'echo', ready: true })}\n`);
  const stop = (): void => {
    s.close();
    process.stdout.write(`${JSON.stringify({ mode: 'echo', echoed: n })}\n`);
    process.exit(0);
  };
  process.stdin.on('end', stop).on('close', stop).resume();
  setTimeout(stop, 120_000).unref();
}

async function ping(dst: string, port: number, size: number, count: number, lport: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(lport, '0.0.0.0', () => r()));
  const payload = Buffer.alloc(size - 28, 0x5a);
  const rtts: number[] = [];
  let lost = 0;
  for (let seq = 0; seq < count; seq++) {
    payload.writeUInt32BE(seq, payload.length - 4);
    const t0 = process.hrtime.bigint();
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        s.off('message', onMsg);
        resolve(false);
      }, 1000);
      const onMsg = (m: Buffer): void => {
        if (m.length >= 4 && m.readUInt32BE(m.length - 4) === seq) {
          clearTimeout(timer);
          s.off('message', onMsg);
          resolve(true);
        }
      };
      s.on('message', onMsg);
      s.send(payload, port, dst);
    });
    if (got) rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
    else lost++;
  }
  s.close();
  const sorted = rtts.slice(200).sort((a, b) => a - b); // the first 200: warm-up
  process.stdout.write(
    `${JSON.stringify({ mode: 'ping', count, lost, p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99), min: sorted[0] ?? NaN })}\n`,
  );
}

const num = (i: number): number => Number(args[i]);
if (mode === 'flood') await flood(args[0] ?? '', num(1), num(2), num(3));
else if (mode === 'echo') await echo(num(0), args[1] ?? '', num(2));
else if (mode === 'ping') await ping(args[0] ?? '', num(1), num(2), num(3), num(4));
else {
  process.stderr.write('usage: sys-pump-gen flood|echo|ping ...\n');
  process.exit(2);
}
