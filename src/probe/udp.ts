/** A UDP transport for the probe: one request at a time, answer matched by SPI, bounded waits. */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { ProbeEndpoints, ProbeTransport } from './probe.js';

export interface UdpProbe {
  readonly send: ProbeTransport;
  readonly endpoints: ProbeEndpoints;
  close(): Promise<void>;
}

/** Connect a UDP socket to the responder; each request is retransmitted once after `timeoutMs`. */
export async function udpProbe(address: string, port: number, timeoutMs = 2000): Promise<UdpProbe> {
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const local = socket.address();
  let pending: { spi: string; resolve: (b: Uint8Array | undefined) => void } | undefined;
  socket.on('message', (msg) => {
    if (!pending || msg.length < 8 || msg.subarray(0, 8).toString('hex') !== pending.spi) return;
    const p = pending;
    pending = undefined;
    p.resolve(msg);
  });
  socket.on('error', () => undefined);
  const send: ProbeTransport = (request) =>
    new Promise((resolve) => {
      const spi = Buffer.from(request.subarray(0, 8)).toString('hex');
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = (b: Uint8Array | undefined): void => {
        if (timer) clearTimeout(timer);
        pending = undefined;
        resolve(b);
      };
      const attempt = (): void => {
        tries++;
        socket.send(request);
        timer = setTimeout(() => (tries < 2 ? attempt() : finish(undefined)), timeoutMs);
      };
      pending = { spi, resolve: finish };
      attempt();
    });
  return {
    send,
    endpoints: { local: { address: local.address, port: local.port }, remote: { address, port } },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
