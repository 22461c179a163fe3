/**
 * Embedding the pqike engine: the whole sans-I/O loop on a node:dgram socket, no UdpDriver.
 *
 * The engine never reads a socket, a clock or a timer. Its owner does three things, and after
 * each of them takes back what the engine produced (`drain()`: datagrams to send and events;
 * `drainDataPlane()`: ESP states and policies to install):
 *
 *   1. a datagram arrives            -> engine.receive(data, from, to, now)
 *   2. the engine's deadline is due  -> engine.tick(now), then arm the timer for nextDeadline()
 *   3. you want something            -> engine.initiate(...), rekeyIke(...), terminate(...), ...
 *
 * Two peers, "moon" and "sun", run here in one process on 127.0.0.1 (no root): moon sets up an
 * IKE SA with X25519 + ML-KEM-768 (RFC 9370) and a Child SA, both sides print their events,
 * then moon deletes the IKE SA and the program exits. A gateway has one such peer, bound to
 * UDP 500 (and 4500 for NAT traversal: see UdpDriver for the non-ESP marker of RFC 3948).
 *
 * Run it in a clone after `npm run build` (the 'pqike' imports are the package's own exports,
 * dist/src), or in a project that installed pqike: `node embed.ts` on Node ≥ 22.18 (type
 * stripping: the example uses only erasable TypeScript), or compiled with tsc (module NodeNext).
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import {
  IkeEngine, parseIdentity, parseProposals, parseTrafficSelector,
  type ConnectionConfig, type DataPlaneCommand, type Endpoint, type EngineEvent,
} from 'pqike';
import { KeMethodId, nameOf } from 'pqike/wire';

/** The engine's clock: monotonic milliseconds (a wall-clock step must not move its deadlines). */
const now = (): number => performance.now();

/** One IKE endpoint: an engine, its UDP socket, and the loop that drives the engine. */
class Peer {
  readonly engine = new IkeEngine();
  private timer: NodeJS.Timeout | undefined;
  readonly name: string;
  readonly local: Endpoint;
  private readonly socket: dgram.Socket;
  private readonly onEvent: (e: EngineEvent) => void;

  private constructor(name: string, socket: dgram.Socket, local: Endpoint, onEvent: (e: EngineEvent) => void) {
    this.name = name;
    this.socket = socket;
    this.local = local;
    this.onEvent = onEvent;
    // 1. Every datagram goes to the engine, with both endpoints and the time.
    socket.on('message', (data, rinfo) => {
      this.engine.receive(data, { address: rinfo.address, port: rinfo.port }, this.local, now());
      this.flush();
    });
  }

  static async bind(name: string, address: string, onEvent: (e: EngineEvent) => void): Promise<Peer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => resolve()); // port 0: any free port; a gateway binds 500
    });
    return new Peer(name, socket, { address, port: socket.address().port }, onEvent);
  }

  /** 3. Commands: run one at the current time, then send what it produced. */
  run<T>(command: (engine: IkeEngine, t: number) => T): T {
    const result = command(this.engine, now());
    this.flush();
    return result;
  }

  /**
   * After every input: the data plane commands (first, so that an inbound ESP SA is installed
   * before the message that lets the peer use it leaves), then the datagrams and events; again
   * while handling them made more. Then re-arm the timer.
   */
  private flush(): void {
    for (;;) {
      const commands = this.engine.drainDataPlane();
      for (const cmd of commands) this.install(cmd);
      const outputs = this.engine.drain();
      if (commands.length === 0 && outputs.length === 0) break;
      for (const out of outputs) {
        if (out.kind === 'send') {
          if (!out.keepalive) this.socket.send(out.data, out.to.port, out.to.address); // keepalives: NAT-T port only
        } else {
          this.onEvent(out.event);
        }
      }
    }
    // Certificates (auth: certificateAuthenticator + trustedPeerAuthenticator) are validated
    // asynchronously: run each query the engine waits for and hand the result back.
    for (const query of this.engine.drainTrust()) {
      void query.run().then(() => this.run((engine, t) => engine.trustSettled(query, t)));
    }
    this.arm();
  }

  /** 2. One timer, for the engine's next deadline (retransmissions, lifetimes, liveness checks). */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.engine.nextDeadline();
    if (at === undefined) return;
    this.timer = setTimeout(() => this.run((engine, t) => engine.tick(t)), Math.max(0, at - now()));
  }

  /**
   * What a data plane does with the engine's commands: here, print them. A real one installs
   * the ESP SAs and policies (the kernel's XFRM, or userspace ESP) and reports failures with
   * engine.dataPlaneFailed(cmd, reason, now), usage with engine.usage(), expiries with engine.expire().
   */
  private install(cmd: DataPlaneCommand): void {
    if (cmd.op === 'add-sa') console.log(`${this.name}: install ESP SA ${cmd.sa.direction} spi ${cmd.sa.spi.toString(16).padStart(8, '0')} ${cmd.sa.src.address} -> ${cmd.sa.dst.address}`);
    else if (cmd.op === 'del-sa') console.log(`${this.name}: remove ESP SA ${cmd.direction} spi ${cmd.spi.toString(16).padStart(8, '0')}`);
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Resolves when `pred` holds for an event seen by `on`; rejects on a failure or after `ms`. */
function waitFor(seen: { peer: string; e: EngineEvent }[], pred: (x: { peer: string; e: EngineEvent }) => boolean, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = now();
    const poll = (): void => {
      const failed = seen.find((x) => x.e.type === 'ike-failed');
      if (failed && failed.e.type === 'ike-failed') reject(new Error(`${failed.peer}: ${failed.e.reason}`));
      else if (seen.some(pred)) resolve();
      else if (now() - started > ms) reject(new Error('timed out'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

// ---- the two peers' configuration (what pqike.yaml would say) ---------------------------

const psk = new TextEncoder().encode('an example pre-shared key, not for production');
const ike = parseProposals(['aes256gcm16-prfsha384-x25519-ke1_mlkem768'], 'ike');
const esp = parseProposals(['aes256gcm16-x25519-ke1_mlkem768'], 'esp');
const connection = (name: string, local: string, remote: string, localNet: string, remoteNet: string): ConnectionConfig => ({
  name,
  localAddress: '127.0.0.1',
  remoteAddress: '127.0.0.1',
  localId: parseIdentity(local),
  remoteId: parseIdentity(remote),
  psk,
  ikeProposals: ike,
  children: [{ name: 'net', espProposals: esp, localTs: [parseTrafficSelector(localNet)], remoteTs: [parseTrafficSelector(remoteNet)], mode: 'tunnel' }],
});

// ---- the event handler: what an application does with the engine's events ---------------

const seen: { peer: string; e: EngineEvent }[] = [];
const handler = (peer: string) => (e: EngineEvent): void => {
  seen.push({ peer, e });
  switch (e.type) {
    case 'ike-up':
      console.log(`${peer}: IKE SA #${e.sa} up with ${e.ike.remoteId}: ${e.ike.suite ?? ''}, key exchanges ${e.ike.keMethods.map((m) => nameOf(KeMethodId, m)).join(' + ')}`);
      break;
    case 'child-up':
      console.log(`${peer}: Child SA '${e.child.name}' up, SPIs ${e.child.spiIn.toString(16).padStart(8, '0')}_i ${e.child.spiOut.toString(16).padStart(8, '0')}_o`);
      break;
    case 'ike-down':
      console.log(`${peer}: IKE SA #${e.sa} down (${e.reason})`);
      break;
    case 'ike-failed':
      console.log(`${peer}: IKE SA #${e.sa} failed: ${e.reason}`);
      break;
    case 'log':
      if (e.level === 'warn' || e.level === 'error') console.log(`${peer}: [${e.level}] ${e.message}`);
      break;
    default:
      break; // 'message', 'ike-state', 'retransmit', 'child-down', 'ike-rekeyed', ...
  }
};

const moon = await Peer.bind('moon', '127.0.0.1', handler('moon'));
const sun = await Peer.bind('sun', '127.0.0.1', handler('sun'));
try {
  moon.engine.addConnection(connection('moon', 'moon.example.org', 'sun.example.org', '10.1.0.0/16', '10.2.0.0/16'));
  sun.engine.addConnection(connection('sun', 'sun.example.org', 'moon.example.org', '10.2.0.0/16', '10.1.0.0/16'));

  const sa = moon.run((engine, t) => engine.initiate('moon', t, { local: moon.local, remote: sun.local }));
  await waitFor(seen, (x) => x.peer === 'sun' && x.e.type === 'child-up', 10_000);
  await waitFor(seen, (x) => x.peer === 'moon' && x.e.type === 'child-up', 10_000);

  const keys = (peer: string): string => {
    const up = seen.find((x) => x.peer === peer && x.e.type === 'child-up');
    return up && up.e.type === 'child-up' ? Buffer.from(up.e.child.keys.encrI).toString('hex') : '';
  };
  if (keys('moon') === '' || keys('moon') !== keys('sun')) throw new Error('the Child SA keys differ');
  console.log('both peers derived the same Child SA keys');

  moon.run((engine, t) => engine.terminate(sa, t)); // an INFORMATIONAL with a Delete payload
  await waitFor(seen, (x) => x.peer === 'sun' && x.e.type === 'ike-down', 10_000);
  await waitFor(seen, (x) => x.peer === 'moon' && x.e.type === 'ike-down', 10_000);
} finally {
  await moon.close();
  await sun.close();
}
