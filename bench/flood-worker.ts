/**
 * Flood worker of bench/flood.ts: IKE_SA_INIT requests from many loopback source addresses
 * (one UDP socket per address and port), as fast as it can, that ANSWER COOKIEs.
 *
 * Every request has a fresh SPIi and nonce, a valid X25519 public value (the same one every
 * time: the responder only needs it to be valid) and the hybrid proposal with
 * INTERMEDIATE_EXCHANGE_SUPPORTED, so a responder that admits it computes its X25519 share and
 * SKEYSEED and keeps a half-open IKE SA waiting for IKE_INTERMEDIATE. When the answer is a
 * COOKIE, the same request goes back from the same address and port with the COOKIE first
 * (RFC 7296 §2.6). Nothing more: the flooder has no PSK and never sends IKE_INTERMEDIATE or
 * IKE_AUTH. Every source socket keeps at most `window` requests waiting for an answer (0: no
 * bound), each forgotten after `timeoutMs` ± 50 % without one.
 *
 * Forked by bench/flood.ts; the configuration arrives over IPC, the counters go back every
 * second and at the end.
 */
import dgram from 'node:dgram';
import { generateKeyPairSync, randomFillSync } from 'node:crypto';
import { encodeMessage } from '../src/wire/message.js';
import { ExchangeType, KeMethodId, NotifyType, PayloadType } from '../src/wire/constants.js';
import type { Payload } from '../src/wire/types.js';
import { parseProposals } from '../src/engine/proposal-string.js';
import { buildProposals } from '../src/engine/proposal-select.js';
import { notify } from '../src/engine/payloads.js';
import { exitWithParent } from './common.js';

export interface FloodWorkerConfig {
  readonly type: 'config';
  readonly worker: number;
  readonly target: { readonly address: string; readonly port: number };
  /** Source addresses of this worker, each with `portsPerAddress` sockets. */
  readonly addresses: readonly string[];
  readonly portsPerAddress: number;
  readonly proposal: string;
  /** Requests per source socket waiting for an answer at most; 0 = unbounded. */
  readonly window: number;
  /**
   * A request without an answer after this long (± 50 %, at random, so that the requests of all
   * sockets do not time out together and the flood does not come in waves) is forgotten: its
   * window slot is free again.
   */
  readonly timeoutMs: number;
  /** Fresh requests per second from this worker; 0 = as fast as it can. */
  readonly rate: number;
}

export interface FloodCounters {
  /** Fresh IKE_SA_INIT requests (new SPIi and nonce). */
  sent: number;
  /** Requests sent again with the COOKIE the responder asked for. */
  cookieAnswers: number;
  cookiesReceived: number;
  /** COOKIEs in answer to a request that already carried one. */
  cookiesAgain: number;
  /** IKE_SA_INIT responses with SA/KE/Nr: a half-open SA on the responder. */
  saResponses: number;
  /** Other error notifies, by type. */
  errors: Record<string, number>;
  /** No answer within timeoutMs: before any COOKIE / after answering one. */
  timeoutsFresh: number;
  timeoutsCookie: number;
  /** Answers for requests already forgotten (or not ours). */
  stray: number;
  sendErrors: number;
  sockets: number;
  addresses: number;
}

export type ToFloodWorker = FloodWorkerConfig | { readonly type: 'start' } | { readonly type: 'stop' } | { readonly type: 'exit' };
export type FromFloodWorker =
  | { readonly type: 'ready'; readonly worker: number; readonly sockets: number; readonly bindMs: number }
  | { readonly type: 'stats'; readonly worker: number; readonly at: number; readonly final: boolean; readonly counters: FloodCounters }
  | { readonly type: 'error'; readonly worker: number; readonly message: string };

const IKE_HEADER = 28;
const MAX_COOKIE_ROUNDS = 3;
const BATCH = 256;

interface Pending {
  readonly sock: number;
  /** The request without a COOKIE. */
  readonly base: Buffer;
  /** When it is forgotten without an answer (performance.now()). */
  deadline: number;
  cookieRounds: number;
}

/** Deadlines in 10 ms buckets: bucket number → SPIs whose request is due then. */
const WHEEL_MS = 10;
const wheel = new Map<number, bigint[]>();
let wheelAt = -1;

function schedule(spi: bigint, p: Pending, now: number): void {
  if (!cfg) return;
  p.deadline = now + cfg.timeoutMs * (0.5 + Math.random());
  const b = Math.floor(p.deadline / WHEEL_MS);
  const list = wheel.get(b);
  if (list) list.push(spi);
  else wheel.set(b, [spi]);
}

exitWithParent();

let cfg: FloodWorkerConfig | undefined;
const sockets: dgram.Socket[] = [];
let inflight = new Int32Array(0);
const pending = new Map<bigint, Pending>();
let running = false;
let stopped = false;
let cursor = 0;
let started = 0;
let template = Buffer.alloc(0);
let nonceOffset = 0;
const NONCE_LENGTH = 32;
const c: FloodCounters = {
  sent: 0,
  cookieAnswers: 0,
  cookiesReceived: 0,
  cookiesAgain: 0,
  saResponses: 0,
  errors: {},
  timeoutsFresh: 0,
  timeoutsCookie: 0,
  stray: 0,
  sendErrors: 0,
  sockets: 0,
  addresses: 0,
};

// Random bytes for SPIs and nonces, drawn from a pool refilled in large blocks.
const pool = Buffer.allocUnsafe(1 << 16);
let poolAt = pool.length;
function randomInto(dst: Buffer, offset: number, n: number): void {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  pool.copy(dst, offset, poolAt, poolAt + n);
  poolAt += n;
}

/** The IKE_SA_INIT request of a hybrid initiator, without NAT detection (no NAT is claimed). */
function buildTemplate(proposal: string): void {
  const { publicKey } = generateKeyPairSync('x25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const pub = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  if (pub.length !== 32) throw new Error('X25519 public value is not 32 octets');
  const marker = new Uint8Array(NONCE_LENGTH).fill(0xa5);
  const specs = parseProposals([proposal], 'ike');
  const payloads: Payload[] = [
    { type: PayloadType.SA, critical: false, proposals: buildProposals(specs, { spi: new Uint8Array(0) }) },
    { type: PayloadType.KE, critical: false, method: KeMethodId.CURVE25519, data: pub },
    { type: PayloadType.NONCE, critical: false, data: marker },
    notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
    notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, Uint8Array.of(0, 2, 0, 3, 0, 4)),
    notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED),
  ];
  const bytes = encodeMessage(
    { spiI: new Uint8Array(8).fill(1), spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0 },
    payloads,
  );
  template = Buffer.from(bytes);
  nonceOffset = template.indexOf(Buffer.from(marker));
  if (nonceOffset < IKE_HEADER) throw new Error('nonce not found in the request template');
}

/** RFC 7296 §2.6: the same request with N(COOKIE) as the first payload. */
function withCookie(base: Buffer, cookie: Buffer): Buffer {
  const n = 8 + cookie.length;
  const out = Buffer.allocUnsafe(base.length + n);
  base.copy(out, 0, 0, IKE_HEADER);
  out[16] = PayloadType.NOTIFY;
  out.writeUInt32BE(base.length + n, 24);
  out[IKE_HEADER] = base[16] ?? PayloadType.SA;
  out[IKE_HEADER + 1] = 0;
  out.writeUInt16BE(n, IKE_HEADER + 2);
  out[IKE_HEADER + 4] = 0; // Protocol ID
  out[IKE_HEADER + 5] = 0; // SPI Size
  out.writeUInt16BE(NotifyType.COOKIE, IKE_HEADER + 6);
  cookie.copy(out, IKE_HEADER + 8);
  base.copy(out, IKE_HEADER + n, IKE_HEADER);
  return out;
}

function send(sock: number, data: Buffer): void {
  const s = sockets[sock];
  if (!s || !cfg) return;
  try {
    s.send(data, cfg.target.port, cfg.target.address);
  } catch {
    c.sendErrors++;
  }
}

function sendFresh(sock: number, now: number): void {
  const b = Buffer.from(template);
  randomInto(b, 0, 8);
  if (b.readBigUInt64BE(0) === 0n) b[7] = 1;
  randomInto(b, nonceOffset, NONCE_LENGTH);
  const spi = b.readBigUInt64BE(0);
  const p: Pending = { sock, base: b, deadline: 0, cookieRounds: 0 };
  pending.set(spi, p);
  schedule(spi, p, now);
  inflight[sock] = (inflight[sock] ?? 0) + 1;
  c.sent++;
  send(sock, b);
}

function finish(spi: bigint, p: Pending): void {
  pending.delete(spi);
  inflight[p.sock] = (inflight[p.sock] ?? 1) - 1;
}

function onMessage(sock: number, msg: Buffer): void {
  if (msg.length < IKE_HEADER || msg[18] !== ExchangeType.IKE_SA_INIT || ((msg[19] ?? 0) & 0x20) === 0) {
    c.stray++;
    return;
  }
  const spi = msg.readBigUInt64BE(0);
  const p = pending.get(spi);
  if (!p || p.sock !== sock) {
    c.stray++;
    return;
  }
  const first = msg[16];
  if (first === PayloadType.NOTIFY && msg.length >= IKE_HEADER + 8) {
    const len = msg.readUInt16BE(IKE_HEADER + 2);
    const spiSize = msg[IKE_HEADER + 5] ?? 0;
    const type = msg.readUInt16BE(IKE_HEADER + 6);
    if (type === NotifyType.COOKIE) {
      c.cookiesReceived++;
      if (p.cookieRounds > 0) c.cookiesAgain++;
      if (p.cookieRounds >= MAX_COOKIE_ROUNDS || stopped) {
        finish(spi, p);
        return;
      }
      const cookie = Buffer.from(msg.subarray(IKE_HEADER + 8 + spiSize, IKE_HEADER + Math.max(len, 8 + spiSize)));
      p.cookieRounds++;
      schedule(spi, p, performance.now());
      c.cookieAnswers++;
      send(sock, withCookie(p.base, cookie));
      return;
    }
    c.errors[String(type)] = (c.errors[String(type)] ?? 0) + 1;
    finish(spi, p);
    return;
  }
  if (first === PayloadType.SA) c.saResponses++;
  else c.errors[`first payload ${String(first)}`] = (c.errors[`first payload ${String(first)}`] ?? 0) + 1;
  finish(spi, p);
}

function sweep(now: number): void {
  const until = Math.floor(now / WHEEL_MS);
  if (wheelAt < 0) wheelAt = until;
  for (; wheelAt <= until; wheelAt++) {
    const list = wheel.get(wheelAt);
    if (!list) continue;
    wheel.delete(wheelAt);
    for (const spi of list) {
      const p = pending.get(spi);
      // Answered meanwhile, or sent again (with a cookie) with a later deadline.
      if (!p || p.deadline > now + WHEEL_MS) continue;
      if (p.cookieRounds > 0) c.timeoutsCookie++;
      else c.timeoutsFresh++;
      finish(spi, p);
    }
  }
}

/** Send fresh requests into free window slots, round-robin over the sockets, in batches. */
function pump(): void {
  if (!running || !cfg) return;
  const now = performance.now();
  sweep(now);
  let budget = BATCH;
  if (cfg.rate > 0) budget = Math.min(BATCH, Math.floor(((now - started) * cfg.rate) / 1000) - c.sent);
  let sent = 0;
  const n = sockets.length;
  for (let tried = 0; tried < n && sent < budget; tried++) {
    const s = cursor;
    cursor = (cursor + 1) % n;
    if (cfg.window > 0 && (inflight[s] ?? 0) >= cfg.window) continue;
    sendFresh(s, now);
    sent++;
  }
  // Let the answers in between batches; wait a little when every window is full or the rate is reached.
  if (sent > 0 && (cfg.rate === 0 || sent === budget)) setImmediate(pump);
  else setTimeout(pump, 1);
}

function report(final: boolean): void {
  if (!cfg || !process.send) return;
  const msg: FromFloodWorker = { type: 'stats', worker: cfg.worker, at: Date.now(), final, counters: { ...c, errors: { ...c.errors } } };
  process.send(msg);
}

async function bindAll(config: FloodWorkerConfig): Promise<void> {
  const t0 = performance.now();
  for (const address of config.addresses) {
    for (let k = 0; k < config.portsPerAddress; k++) {
      const i = sockets.length;
      const s = dgram.createSocket({ type: 'udp4' });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, address, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('message', (m) => onMessage(i, m));
      s.on('error', () => c.sendErrors++);
      sockets.push(s);
    }
  }
  inflight = new Int32Array(sockets.length);
  c.sockets = sockets.length;
  c.addresses = config.addresses.length;
  process.send?.({ type: 'ready', worker: config.worker, sockets: sockets.length, bindMs: Math.round(performance.now() - t0) } satisfies FromFloodWorker);
}

process.on('message', (m: ToFloodWorker) => {
  switch (m.type) {
    case 'config':
      cfg = m;
      try {
        buildTemplate(m.proposal);
      } catch (e) {
        process.send?.({ type: 'error', worker: m.worker, message: String(e) } satisfies FromFloodWorker);
        return;
      }
      bindAll(m).catch((e: unknown) => process.send?.({ type: 'error', worker: m.worker, message: e instanceof Error ? e.message : String(e) } satisfies FromFloodWorker));
      break;
    case 'start':
      running = true;
      started = performance.now();
      setInterval(() => report(false), 250).unref();
      pump();
      break;
    case 'stop':
      // No new requests, no more cookie answers; the counters are final once the last answers are in.
      running = false;
      stopped = true;
      setTimeout(() => report(true), 300);
      break;
    case 'exit':
      for (const s of sockets) s.close();
      process.exit(0);
  }
});
