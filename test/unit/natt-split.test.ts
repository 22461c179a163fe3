/**
 * natt-split.ts on this kernel: two sockets on one UDP port (SO_REUSEPORT), the split program
 * attached — datagrams whose first word is zero (IKE's non-ESP marker) and short ones
 * (keepalives) reach the first socket, everything else (ESP in UDP) the second; with the second
 * closed, all reach the first. Loopback only, no privileges needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachSplit, splitProgram } from '../../src/dataplane/sys/natt-split.js';
import { openNattFd } from '../../src/dataplane/sys/natt-socket.js';
import { localAddress, openUdpSocket, recvDatagram, sendDatagram } from '../../src/dataplane/sys/sockets.js';
import { closeFd } from '../../src/dataplane/sys/libc.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function drain(fd: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(2048);
  for (let r = recvDatagram(fd, buf); r; r = recvDatagram(fd, buf)) out.push(buf.slice(0, r.length));
  return out;
}

test('the split program: four instructions, ld [0] / jeq 0 / ret 0 / ret 1', () => {
  const p = splitProgram();
  assert.equal(p.length, 32);
  const v = new DataView(p.buffer);
  assert.deepEqual([0, 1, 2, 3].map((i) => v.getUint16(i * 8, true)), [0x20, 0x15, 0x06, 0x06]);
  assert.deepEqual([2, 3].map((i) => v.getUint32(i * 8 + 4, true)), [0, 1]);
});

test('one port, two sockets: IKE and keepalives to the first, ESP in UDP to the second; the second gone, all to the first', { skip: process.platform !== 'linux' ? 'Linux only' : false }, async () => {
  const first = openNattFd({ address: '127.0.0.1', port: 0, reuseport: true });
  const port = localAddress(first).port;
  let second: number | undefined = openNattFd({ address: '127.0.0.1', port, reuseport: true });
  attachSplit(second);
  const tx = openUdpSocket({ bind: { address: '127.0.0.1', port: 0 } });
  const to = { address: '127.0.0.1', port };
  try {
    const ike = (i: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0x11, i, 0, 0, 0, 0, 0, 0]);
    const esp = (i: number): Uint8Array => Uint8Array.from([0xc0, 0xff, 0xee, i + 1, 0, 0, 0, i, 9, 9, 9, 9]);
    // One source port: without the program, the hash would send all of them to one socket.
    for (let i = 0; i < 50; i++) {
      sendDatagram(tx, ike(i), to);
      sendDatagram(tx, esp(i), to);
    }
    sendDatagram(tx, Uint8Array.of(0xff), to); // a NAT keepalive
    await sleep(50);
    const a = drain(first);
    const b = drain(second);
    assert.equal(a.length, 51, 'the 50 IKE datagrams and the keepalive reach the first socket');
    assert.ok(a.every((d) => d.length === 1 || (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0)));
    assert.equal(b.length, 50, 'the 50 ESP datagrams reach the second');
    assert.ok(b.every((d) => d[0] === 0xc0));
    closeFd(second);
    second = undefined;
    for (let i = 0; i < 10; i++) sendDatagram(tx, esp(i), to);
    await sleep(50);
    assert.equal(drain(first).length, 10, 'without the second socket, ESP reaches the first (the slow path)');
  } finally {
    closeFd(first);
    closeFd(tx);
    if (second !== undefined) closeFd(second);
  }
});
