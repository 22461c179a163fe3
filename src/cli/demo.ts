/**
 * `pqike demo`: two peers in one process over 127.0.0.1 UDP establish a hybrid IKE SA and
 * the first Child SA, printing each exchange, the chosen transforms, message sizes, AUTH
 * verification on both sides, the Child SA SPIs and the time taken. No root needed.
 */
import { performance } from 'node:perf_hooks';
import { IkeEngine } from '../engine/engine.js';
import { parseIdentity } from '../engine/identity.js';
import { parseProposals } from '../engine/proposal-string.js';
import { parseTrafficSelector } from '../engine/traffic-selectors.js';
import type { ConnectionConfig, EngineEvent, IkeSaInfo, ChildSaInfo } from '../engine/types.js';
import { mlkemBackend } from '../crypto/mlkem.js';
import { UdpDriver } from '../io/udp-driver.js';
import { KeMethodId, nameOf } from '../wire/constants.js';
import { formatChild, formatMessage, notifyName } from './format.js';

export interface DemoOptions {
  readonly proposal: string;
  readonly esp: string;
  readonly fragmentSize?: number;
  readonly print: (line: string) => void;
}

export const DEMO_PROPOSAL = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';

function conns(o: DemoOptions, psk: Uint8Array): { i: ConnectionConfig; r: ConnectionConfig } {
  const frag = o.fragmentSize === undefined ? {} : { fragmentSize: o.fragmentSize };
  const ike = parseProposals([o.proposal], 'ike');
  const esp = parseProposals([o.esp], 'esp');
  const base = { localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', psk, ikeProposals: ike, ...frag };
  return {
    i: {
      ...base,
      name: 'moon',
      localId: parseIdentity('moon.pqike.test'),
      remoteId: parseIdentity('sun.pqike.test'),
      children: [{ name: 'net', espProposals: esp, localTs: [parseTrafficSelector('10.1.0.0/16')], remoteTs: [parseTrafficSelector('10.2.0.0/16')], mode: 'tunnel' }],
    },
    r: {
      ...base,
      name: 'sun',
      localId: parseIdentity('sun.pqike.test'),
      remoteId: parseIdentity('moon.pqike.test'),
      children: [{ name: 'net', espProposals: esp, localTs: [parseTrafficSelector('10.2.0.0/16')], remoteTs: [parseTrafficSelector('10.1.0.0/16')], mode: 'tunnel' }],
    },
  };
}

/** Run the demo; resolves true when both sides have the IKE SA and the Child SA. */
export async function runDemo(o: DemoOptions): Promise<boolean> {
  const p = o.print;
  const psk = new TextEncoder().encode('pqike-demo-psk-not-for-production');
  const c = conns(o, psk);
  const ikeUp: { i?: IkeSaInfo; r?: IkeSaInfo } = {};
  const childUp: { i?: ChildSaInfo; r?: ChildSaInfo } = {};
  const failures: string[] = [];
  let bytes = 0;
  let messages = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const check = (): void => {
    if ((ikeUp.i && ikeUp.r && childUp.i && childUp.r) || failures.length > 0) finish();
  };
  const handler = (side: 'i' | 'r') => (e: EngineEvent): void => {
    if (e.type === 'message' && side === 'i') {
      p(`  ${formatMessage(e)}`);
      messages += e.sizes.length;
      bytes += e.sizes.reduce((a, b) => a + b, 0);
    } else if (e.type === 'ike-up') ikeUp[side] = e.sa;
    else if (e.type === 'child-up') childUp[side] = e.child;
    else if (e.type === 'ike-failed') failures.push(`${side === 'i' ? 'initiator' : 'responder'}: ${e.reason}${e.notify === undefined ? '' : ` (${notifyName(e.notify)})`}`);
    else if (e.type === 'log' && (e.level === 'error' || e.level === 'warn')) p(`  [${side === 'i' ? 'initiator' : 'responder'} ${e.level}] ${e.message}`);
    check();
  };
  const ei = new IkeEngine();
  const er = new IkeEngine();
  ei.addConnection(c.i);
  er.addConnection(c.r);
  const di = new UdpDriver(ei, { address: '127.0.0.1', port: 0, onEvent: handler('i') });
  const dr = new UdpDriver(er, { address: '127.0.0.1', port: 0, onEvent: handler('r') });
  const li = await di.start();
  const lr = await dr.start();
  p(`pqike demo: IKEv2 with RFC 9370 additional key exchanges, two peers over UDP on 127.0.0.1`);
  p(`  Node ${process.version}, ML-KEM backend: ${mlkemBackend()}`);
  p(`  IKE proposal: ${o.proposal}`);
  p(`  ESP proposal: ${o.esp}`);
  p(`  initiator moon.pqike.test @ ${li.address}:${li.port}  ->  responder sun.pqike.test @ ${lr.address}:${lr.port}`);
  p('');
  const t0 = performance.now();
  di.initiate('moon', lr);
  const timeout = setTimeout(() => {
    failures.push('timed out after 10 s');
    finish();
  }, 10000);
  await done;
  const ms = performance.now() - t0;
  clearTimeout(timeout);
  await di.close();
  await dr.close();
  p('');
  if (failures.length > 0 || !ikeUp.i || !ikeUp.r) {
    for (const f of failures) p(`FAILED ${f}`);
    return false;
  }
  p(`  selected IKE suite: ${ikeUp.i.suite ?? ''}`);
  p(`  key exchanges mixed into the keys: ${ikeUp.i.keMethods.map((m) => nameOf(KeMethodId, m)).join(' + ')}`);
  p(`  AUTH verified: initiator checked the responder's AUTH (${ikeUp.i.remoteId}), responder checked the initiator's AUTH (${ikeUp.r.remoteId})`);
  if (childUp.i) p(`  initiator ${formatChild(childUp.i)}`);
  if (childUp.r) p(`  responder ${formatChild(childUp.r)}`);
  const same = childUp.i && childUp.r && Buffer.compare(Buffer.from(childUp.i.keys.encrI), Buffer.from(childUp.r.keys.encrI)) === 0;
  p(`  Child SA keys agree on both sides: ${same ? 'yes' : 'NO'}`);
  p(`  established in ${ms.toFixed(1)} ms: ${messages} datagrams, ${bytes} bytes on the wire`);
  return same === true;
}
