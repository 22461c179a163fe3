/**
 * Traffic through a tunnel between two namespaces, for data plane tests: busybox ping from an
 * inner address, and a TCP transfer (node on both ends) whose SHA-256 the receiver reports —
 * optionally paced so that it is still running while rekeys happen.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsExec, startInNs } from './netns.js';

export interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly text: string;
}

/** `count` pings every `intervalS` from `from` (an address of namespace `ns`) to `to`. */
export async function ping(ns: string, from: string, to: string, count: number, intervalS: number): Promise<PingResult> {
  const r = await nsExec(ns, 'busybox', ['ping', '-q', '-c', String(count), '-i', String(intervalS), '-W', '2', '-I', from, to], { allowFail: true, timeoutMs: 20_000 + count * intervalS * 2000 });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
  assert.ok(m, `ping output: ${r.stdout}${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]), text: r.stdout };
}

export interface TransferEnd {
  readonly ns: string;
  readonly addr: string;
}

/**
 * Send `data` over TCP from `from` to `to`; resolves with the SHA-256 the receiver computed.
 * `paceMs`: write 64 KiB every paceMs instead of all at once (a transfer that lasts).
 */
export async function transfer(dir: string, from: TransferEnd, to: TransferEnd, data: Buffer, paceMs = 0): Promise<string> {
  const file = join(dir, `payload-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, data);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const host = to.addr.includes(':') ? `[${to.addr}]` : to.addr;
  const server = `const n=require('net'),c=require('crypto');const h=c.createHash('sha256');const s=n.createServer(k=>{k.on('data',b=>h.update(b));k.on('end',()=>{console.log('SHA '+h.digest('hex'));s.close()})});s.listen(${port},'${to.addr}',()=>console.log('LISTENING'))`;
  const srv = await startInNs(to.ns, process.execPath, ['-e', server], { readyPattern: /LISTENING/ });
  const client =
    `const n=require('net'),f=require('fs');const d=f.readFileSync(process.argv[1]);const pace=${paceMs};` +
    `const k=n.connect({port:${port},host:'${to.addr}',localAddress:'${from.addr}'},()=>{if(!pace){k.end(d);return}let o=0;const t=setInterval(()=>{k.write(d.subarray(o,o+65536));o+=65536;if(o>=d.length){clearInterval(t);k.end()}},pace)});` +
    `k.on('error',e=>{console.error(e.message);process.exit(1)})`;
  const r = await nsExec(from.ns, process.execPath, ['-e', client, file], { allowFail: true, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `TCP client ${from.addr} -> ${host}:${port}: ${r.stderr}`);
  await srv.waitForOutput(/SHA [0-9a-f]{64}/, 60_000);
  await srv.stop();
  return /SHA ([0-9a-f]{64})/.exec(srv.output())?.[1] ?? '';
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The last lines of a log file, for failure messages. */
export const tail = (file: string, n = 30): string => readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');

/**
 * UDP datagrams the kernel of namespace `ns` dropped because a socket's receive buffer was
 * full (/proc/net/snmp, Udp RcvbufErrors; the namespace's own counters): ESP in UDP lost at a
 * receiver that reads more slowly than the sender sends, which no ESP counter sees.
 */
export async function udpReceiveDrops(ns: string): Promise<number> {
  const r = await nsExec(ns, 'cat', ['/proc/net/snmp']);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Udp: '));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/));
  const i = names?.indexOf('RcvbufErrors') ?? -1;
  const v = i > 0 ? Number(values?.[i]) : NaN;
  assert.ok(Number.isFinite(v), `Udp RcvbufErrors in ${ns}: ${lines.join(' / ')}`);
  return v;
}
