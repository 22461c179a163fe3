/**
 * Userspace ESP throughput on one core (src/dataplane/esp): seal (outbound, into a reused
 * buffer as a driver would) and open (inbound: replay check, integrity, decryption, trailer
 * and inner header checks) per algorithm, for 1400- and 64-octet inner packets. Mbit/s counts
 * inner-packet octets; rates are per CPU-second of the process (see rate()). Prints figures
 * only, no assertions.
 *
 *   node dist/bench/esp.js [--ms <per figure, default 1000>] [--only <label substring>]
 *   .node24/node_modules/node/bin/node dist/bench/esp.js
 *
 * The last table measures node:crypto itself, for the choices made in transform.ts: a cipher
 * object per packet with a raw Buffer key vs a KeyObject, and one CBC stream vs a cipher per
 * packet.
 */
import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import os from 'node:os';
import { EspInboundSa, EspOutboundSa, type EspSaParams } from '../src/dataplane/esp/index.js';

interface Alg { readonly label: string; readonly encr: number; readonly keyBits?: number; readonly encrKey: number; readonly integ?: number; readonly integKey?: number }

const ALGS: readonly Alg[] = [
  { label: 'aes128gcm16', encr: 20, keyBits: 128, encrKey: 20 },
  { label: 'aes256gcm16', encr: 20, keyBits: 256, encrKey: 36 },
  { label: 'aes256gcm8', encr: 18, keyBits: 256, encrKey: 36 },
  { label: 'chacha20poly1305', encr: 28, encrKey: 36 },
  { label: 'aes128-sha256', encr: 12, keyBits: 128, encrKey: 16, integ: 12, integKey: 32 },
  { label: 'aes256-sha256', encr: 12, keyBits: 256, encrKey: 32, integ: 12, integKey: 32 },
  { label: 'aes256-sha384', encr: 12, keyBits: 256, encrKey: 32, integ: 13, integKey: 48 },
  { label: 'aes256-sha512', encr: 12, keyBits: 256, encrKey: 32, integ: 14, integKey: 64 },
  { label: 'null-sha256', encr: 11, encrKey: 0, integ: 12, integKey: 32 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const MS = Number(arg('--ms') ?? 1000);
const ONLY = arg('--only');

function spec(a: Alg, esn: boolean): EspSaParams {
  return {
    spi: 0xc0ffee01, mode: 'tunnel',
    encr: { id: a.encr, ...(a.keyBits !== undefined ? { keyBits: a.keyBits } : {}), key: randomBytes(a.encrKey) },
    ...(a.integ !== undefined ? { integ: { id: a.integ, key: randomBytes(a.integKey ?? 0) } } : {}),
    esn, replayWindow: 1024, limits: {},
  };
}

function ipv4(n: number): Uint8Array {
  const b = new Uint8Array(randomBytes(n));
  b[0] = 0x45; b[2] = n >> 8; b[3] = n & 0xff; b[9] = 17;
  return b;
}

/**
 * Operations per second of `step(i)` on one core: the median of BATCHES batches of about
 * MS / BATCHES ms each, after a warm-up. Each batch is timed in CPU time of this process
 * (process.cpuUsage: user + system, all its threads, so GC helpers count against us), not in
 * wall-clock time: on a shared machine the figure is then what one core does, not how much
 * of a core the scheduler happened to give us. The wall-clock share is reported at the end.
 */
const BATCHES = 5;
let cpuTotal = 0;
let wallTotal = 0;
function rate(step: (i: number) => void): number {
  const warm = performance.now() + MS / 4;
  let i = 0;
  while (performance.now() < warm) for (let k = 0; k < 64; k++) step(i++);
  const rates: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let n = 0;
    let t = t0;
    while (t - t0 < MS / BATCHES) {
      for (let k = 0; k < 128; k++) step(i++);
      n += 128;
      t = performance.now();
    }
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    cpuTotal += cpuMs;
    wallTotal += t - t0;
    rates.push((n * 1000) / cpuMs);
  }
  rates.sort((x, y) => x - y);
  return rates[BATCHES >> 1]!;
}

function fmt(pps: number, size: number): string {
  return `${(pps * size * 8 / 1e6).toFixed(0).padStart(6)} Mbit/s ${(pps / 1000).toFixed(0).padStart(5)} kpps`;
}

function benchAlg(a: Alg, size: number, esn: boolean): { seal: number; open: number } {
  const p = spec(a, esn);
  const inner = ipv4(size);
  const out = new EspOutboundSa(p);
  const buf = new Uint8Array(out.sealedLength(size) + 64);
  const seal = rate(() => {
    out.sealInto(inner, buf, 0);
  });
  // Open: packets sealed beforehand with consecutive sequence numbers, a fresh inbound SA
  // whenever they are used up (the replay window would drop a second round).
  const sealer = new EspOutboundSa(p);
  const POOL = 4096;
  const pool: Uint8Array[] = [];
  for (let i = 0; i < POOL; i++) {
    const r = sealer.seal(inner);
    if (!r.ok) throw new Error(r.reason);
    pool.push(r.packet);
  }
  let inb = new EspInboundSa(p);
  let failures = 0;
  const open = rate((i) => {
    const k = i % POOL;
    if (k === 0 && i > 0) inb = new EspInboundSa(p);
    if (!inb.open(pool[k]!).ok) failures++;
  });
  if (failures > 0) throw new Error(`${a.label}: ${failures} packets failed to open`);
  return { seal, open };
}

function baselines(): void {
  console.log('\nnode:crypto baselines (per packet, 1400 / 64 octets):');
  const raw = randomBytes(32);
  const ko = createSecretKey(raw);
  const nonce = randomBytes(12);
  for (const size of [1400, 64]) {
    const pt = randomBytes(size);
    const aad = randomBytes(8);
    for (const [label, key] of [['gcm256 cipher per packet, Buffer key', raw], ['gcm256 cipher per packet, KeyObject', ko]] as const) {
      const r = rate((i) => {
        nonce.writeUInt32BE(i >>> 0, 8);
        const c = createCipheriv('aes-256-gcm', key, nonce);
        c.setAAD(aad);
        c.update(pt);
        c.final();
        c.getAuthTag();
      });
      console.log(`  ${label.padEnd(44)} ${String(size).padStart(4)} B ${fmt(r, size)}`);
    }
    const padded = randomBytes(Math.ceil(size / 16) * 16 + 16);
    const iv = randomBytes(16);
    const perPacket = rate(() => {
      const c = createCipheriv('aes-256-cbc', ko, iv).setAutoPadding(false);
      c.update(padded);
      c.final();
    });
    console.log(`  ${'cbc256 cipher per packet, KeyObject'.padEnd(44)} ${String(size).padStart(4)} B ${fmt(perPacket, size)}`);
    const stream = createCipheriv('aes-256-cbc', ko, iv).setAutoPadding(false);
    const streamed = rate(() => {
      stream.update(padded);
    });
    console.log(`  ${'cbc256 one continuing stream'.padEnd(44)} ${String(size).padStart(4)} B ${fmt(streamed, size)}`);
  }
}

function main(): void {
  console.log(`ESP on one core: Node ${process.versions.node}, OpenSSL ${process.versions.openssl}, median of ${BATCHES} batches in ${MS} ms per figure, per CPU-second; Mbit/s of inner packets`);
  console.log(`${'algorithm'.padEnd(22)} ${'size'.padStart(5)}   ${'seal'.padEnd(27)}   open`);
  for (const a of ALGS) {
    if (ONLY !== undefined && !a.label.includes(ONLY)) continue;
    for (const esn of [false, true]) {
      if (esn && a.encr !== 20 && a.encr !== 12) continue;
      for (const size of [1400, 64]) {
        const r = benchAlg(a, size, esn);
        const name = `${a.label}${esn ? ' esn' : ''}`;
        console.log(`${name.padEnd(22)} ${String(size).padStart(5)}   ${fmt(r.seal, size)}   ${fmt(r.open, size)}`);
      }
    }
  }
  if (ONLY === undefined) baselines();
  console.log(`\n(figures per CPU-second of this process; it ran ${(100 * cpuTotal / wallTotal).toFixed(0)} % of the wall-clock time, load average ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} CPUs)`);
}

main();
