/**
 * `pqike demo`: two peers in one process over 127.0.0.1 UDP establish a hybrid IKE SA and
 * the first Child SA, then rekey the Child SA and the IKE SA with IKE_FOLLOWUP_KE (RFC 9370
 * §2.2.4), printing each exchange, the chosen transforms, message sizes, AUTH verification
 * on both sides, the Child SA SPIs and the time taken. No root needed.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fixedPpkId } from '../engine/ppk.js';
import { IkeEngine } from '../engine/engine.js';
import { parseIdentity } from '../engine/identity.js';
import { parseProposals } from '../engine/proposal-string.js';
import { parseTrafficSelector } from '../engine/traffic-selectors.js';
import type { ConnectionConfig, EngineEvent, IkeSaInfo, ChildSaInfo } from '../engine/types.js';
import { mlkemBackend } from '../crypto/mlkem.js';
import { generatePrivateKey, loadPrivateKey, mlDsaBackend } from '../crypto/signature-keys.js';
import type { SignatureKeyType } from '../crypto/signature-keys.js';
import { issueCertificate } from '../auth/pki.js';
import { certificateAuthenticator, trustedPeerAuthenticator } from '../auth/pubkey.js';
import { TrustStore } from '../auth/trust-store.js';
import { parseCertificate } from '../auth/x509.js';
import { UdpDriver } from '../io/udp-driver.js';
import { keMethodName } from '../engine/describe.js';
import { eventToJson, formatChild, formatMessage, notifyName } from '../daemon/event-format.js';

export interface DemoOptions {
  readonly proposal: string;
  readonly esp: string;
  readonly fragmentSize?: number;
  /** Also rekey the Child SA and the IKE SA. Default true. */
  readonly rekey?: boolean;
  /** Authenticate with certificates of this key type from a throwaway CA (RFC 7427), not the PSK. */
  readonly certs?: SignatureKeyType;
  /** Mix a post-quantum preshared key into the keys (RFC 8784), required on both sides. */
  readonly ppk?: boolean;
  readonly print: (line: string) => void;
  /** Instead of the text: one JSON object at the end (what was set up, every message, each step's figures). */
  readonly json?: (report: DemoReport) => void;
}

/** What `pqike demo --json` prints: the same facts as the text, for scripts. */
export interface DemoReport {
  ok: boolean;
  node: string;
  mlkemBackend: string;
  proposal: string;
  esp: string;
  authentication: string;
  messages: Record<string, unknown>[];
  steps: Record<string, unknown>[];
  failure?: string;
}

export const DEMO_PROPOSAL = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
const DEMO_PPK_ID = 'pqike-demo-ppk';
const DEMO_FRESH_PPK_ID = 'pqike-demo-fresh-ppk';
export const DEMO_ESP = 'aes256gcm16-x25519-ke1_mlkem768';

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

/**
 * A throwaway CA of `type` and a certificate each for moon and sun (src/auth/pki.ts), made
 * in memory: RFC 7427 signatures both ways, ML-DSA included.
 */
function demoCertificates(type: SignatureKeyType): { i: ConnectionConfig['auth']; r: ConnectionConfig['auth'] } {
  const caKey = loadPrivateKey(generatePrivateKey(type));
  const caDer = issueCertificate({ subject: `C=CH, O=pqike, CN=pqike demo ${type} CA`, publicKey: caKey.publicKey.spki, signer: caKey, ca: true });
  const ca = parseCertificate(caDer);
  if (typeof ca === 'string') throw new Error(ca);
  const side = (host: string): NonNullable<ConnectionConfig['auth']> => {
    const key = loadPrivateKey(generatePrivateKey(type));
    const der = issueCertificate({ subject: `C=CH, O=pqike, CN=${host}`, publicKey: key.publicKey.spki, signer: caKey, issuer: ca, altNames: [host] });
    return { local: certificateAuthenticator({ key, certificates: [der] }), remote: trustedPeerAuthenticator(new TrustStore({ anchors: [caDer] })) };
  };
  return { i: side('moon.pqike.test'), r: side('sun.pqike.test') };
}

/** Collects events of both sides and lets the demo wait for a condition on them. */
class Watch {
  readonly events: { side: 'i' | 'r'; e: EngineEvent }[] = [];
  private waiters: { pred: () => boolean; resolve: (ok: boolean) => void }[] = [];

  push(side: 'i' | 'r', e: EngineEvent): void {
    this.events.push({ side, e });
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve(true);
      return false;
    });
  }

  find<T extends EngineEvent['type']>(side: 'i' | 'r', type: T, pred: (e: Extract<EngineEvent, { type: T }>) => boolean = () => true, from = 0): Extract<EngineEvent, { type: T }> | undefined {
    for (const x of this.events.slice(from)) {
      if (x.side === side && x.e.type === type && pred(x.e as Extract<EngineEvent, { type: T }>)) return x.e as Extract<EngineEvent, { type: T }>;
    }
    return undefined;
  }

  failure(): string | undefined {
    const f = this.events.find((x) => x.e.type === 'ike-failed');
    return f && f.e.type === 'ike-failed' ? `${f.side === 'i' ? 'initiator' : 'responder'}: ${f.e.reason}${f.e.notify === undefined ? '' : ` (${notifyName(f.e.notify)})`}` : undefined;
  }

  until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred() || this.failure()) return Promise.resolve(pred());
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push({ pred: () => pred() || this.failure() !== undefined, resolve: (ok) => {
        clearTimeout(timer);
        resolve(ok && this.failure() === undefined);
      } });
    });
  }
}

function sameKeys(a: ChildSaInfo | undefined, b: ChildSaInfo | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(Buffer.from(a.keys.encrI), Buffer.from(b.keys.encrI)) === 0 && Buffer.compare(Buffer.from(a.keys.encrR), Buffer.from(b.keys.encrR)) === 0;
}

/** Run the demo; resolves true when every step completed with both sides agreeing. */
export async function runDemo(o: DemoOptions): Promise<boolean> {
  const report: DemoReport = { ok: false, node: process.version, mlkemBackend: mlkemBackend(), proposal: o.proposal, esp: o.esp, authentication: o.certs ?? 'psk', messages: [], steps: [] };
  const p = o.json ? (): void => undefined : o.print;
  const step = (s: Record<string, unknown>): void => void report.steps.push(s);
  const psk = new TextEncoder().encode('pqike-demo-psk-not-for-production');
  const plain = conns(o, psk);
  const auth = o.certs ? demoCertificates(o.certs) : undefined;
  const withAuth = auth ? { i: { ...plain.i, auth: auth.i }, r: { ...plain.r, auth: auth.r } } : plain;
  // Random 256-bit PPKs, known to both: the first required by both and mixed in IKE_INTERMEDIATE
  // (RFC 9867 §3.1); the second a fresh one, given to both after the IKE SA is up (as a reload
  // of the secrets does) and mixed in by the rekeys (RFC 9867 §3.2, ppk_rekey).
  const ppkEntry = (id: string): [string, Uint8Array] => [Buffer.from(fixedPpkId(id)).toString('hex'), Uint8Array.from(randomBytes(32))];
  const first = ppkEntry(DEMO_PPK_ID);
  const ppk = o.ppk ? { id: fixedPpkId(DEMO_PPK_ID), required: true, intermediate: true, rekey: 'yes' as const, keys: new Map([first]) } : undefined;
  const freshPpk = ppk ? { ...ppk, keys: new Map([first, ppkEntry(DEMO_FRESH_PPK_ID)]) } : undefined;
  const c = ppk ? { i: { ...withAuth.i, ppk }, r: { ...withAuth.r, ppk } } : withAuth;
  const watch = new Watch();
  let bytes = 0;
  let messages = 0;
  const handler = (side: 'i' | 'r') => (e: EngineEvent): void => {
    if (e.type === 'message' && side === 'i') {
      p(`  ${formatMessage(e)}`);
      report.messages.push(eventToJson(e) as Record<string, unknown>);
      messages += e.sizes.length;
      bytes += e.sizes.reduce((a, b) => a + b, 0);
    } else if (e.type === 'log' && (e.level === 'error' || e.level === 'warn')) p(`  [${side === 'i' ? 'initiator' : 'responder'} ${e.level}] ${e.message}`);
    watch.push(side, e);
  };
  const ei = new IkeEngine();
  const er = new IkeEngine();
  ei.addConnection(c.i);
  er.addConnection(c.r);
  const di = new UdpDriver(ei, { address: '127.0.0.1', port: 0, onEvent: handler('i') });
  const dr = new UdpDriver(er, { address: '127.0.0.1', port: 0, onEvent: handler('r') });
  const li = await di.start();
  const lr = await dr.start();
  const finish = async (ok: boolean): Promise<boolean> => {
    await di.close();
    await dr.close();
    const f = watch.failure();
    if (f) p(`FAILED ${f}`);
    report.ok = ok && f === undefined;
    if (f) report.failure = f;
    o.json?.(report);
    return report.ok;
  };
  p(`pqike demo: IKEv2 with RFC 9370 additional key exchanges, two peers over UDP on 127.0.0.1`);
  p(`  Node ${process.version}, ML-KEM backend: ${mlkemBackend()}${o.certs?.startsWith('ml-dsa') ? `, ML-DSA backend: ${mlDsaBackend()}` : ''}`);
  p(`  authentication: ${auth ? `${c.i.auth?.local.describe ?? ''} <-> ${c.r.auth?.local.describe ?? ''}, from one throwaway CA` : 'pre-shared key'}`);
  p(`  IKE proposal: ${o.proposal}`);
  p(`  ESP proposal: ${o.esp}`);
  p(`  initiator moon.pqike.test @ ${li.address}:${li.port}  ->  responder sun.pqike.test @ ${lr.address}:${lr.port}`);
  p('');
  p('1. IKE SA and first Child SA (IKE_SA_INIT, IKE_INTERMEDIATE per additional key exchange, IKE_AUTH)');
  let t0 = performance.now();
  const saId = di.initiate('moon', lr);
  const up = await watch.until(() => watch.find('i', 'child-up') !== undefined && watch.find('r', 'child-up') !== undefined, 10000);
  let ms = performance.now() - t0;
  const ikeI: IkeSaInfo | undefined = watch.find('i', 'ike-up')?.ike;
  const ikeR: IkeSaInfo | undefined = watch.find('r', 'ike-up')?.ike;
  if (!up || !ikeI || !ikeR) return finish(false);
  const childI = watch.find('i', 'child-up')?.child;
  const childR = watch.find('r', 'child-up')?.child;
  p('');
  p(`  selected IKE suite: ${ikeI.suite ?? ''}`);
  p(`  key exchanges mixed into the keys: ${ikeI.keMethods.map(keMethodName).join(' + ')}${ikeI.ppk === undefined ? '' : `, and the post-quantum preshared key '${ikeI.ppk}' (${ikeI.ppkExchange === 'IKE_INTERMEDIATE' ? 'RFC 9867, in IKE_INTERMEDIATE: IKE_AUTH was protected by it' : 'RFC 8784, in IKE_AUTH'}; responder: ${ikeR.ppk === ikeI.ppk && ikeR.ppkExchange === ikeI.ppkExchange ? 'the same' : 'NOT the same'})`}`);
  if (o.ppk && (ikeI.ppk !== DEMO_PPK_ID || ikeR.ppk !== DEMO_PPK_ID || ikeI.ppkExchange !== 'IKE_INTERMEDIATE' || ikeR.ppkExchange !== 'IKE_INTERMEDIATE')) return finish(false);
  p(`  AUTH verified: initiator checked the responder's AUTH (${ikeI.remoteId}), responder checked the initiator's AUTH (${ikeR.remoteId})`);
  if (childI) p(`  initiator ${formatChild(childI)}`);
  if (childR) p(`  responder ${formatChild(childR)}`);
  const firstOk = sameKeys(childI, childR);
  p(`  Child SA keys agree on both sides: ${firstOk ? 'yes' : 'NO'}`);
  p(`  established in ${ms.toFixed(1)} ms: ${messages} datagrams, ${bytes} bytes on the wire`);
  step({ step: 'ike-sa-and-child-sa', ms, datagrams: messages, bytes, suite: ikeI.suite, keyExchanges: ikeI.keMethods.map(keMethodName), ...(ikeI.ppk === undefined ? {} : { ppk: ikeI.ppk, ppkExchange: ikeI.ppkExchange }), childKeysAgree: firstOk, spiI: ikeI.spiI, spiR: ikeI.spiR });
  if (!firstOk || !childI) return finish(false);
  if (o.rekey === false) return finish(true);

  p('');
  if (freshPpk) {
    // What `pqike reload` does with a secrets file that only gained a PPK: the running SAs take it.
    for (const [e, side] of [[ei, c.i], [er, c.r]] as const) e.replaceConnection({ ...side, ppk: freshPpk });
    p(`a fresh PPK '${DEMO_FRESH_PPK_ID}' given to both sides (as pqike reload of the secrets does; the IKE SA stays)`);
  }
  p('2. Child SA rekey (CREATE_CHILD_SA, then IKE_FOLLOWUP_KE per additional key exchange)');
  let mark = watch.events.length;
  t0 = performance.now();
  di.apply((e, now) => e.rekeyChild(saId, childI.spiIn, now));
  const isNew = (x: { child: ChildSaInfo }): boolean => x.child.rekeyOf !== undefined;
  const rekeyed = await watch.until(
    () => watch.find('i', 'child-up', isNew, mark) !== undefined && watch.find('r', 'child-up', isNew, mark) !== undefined && watch.find('r', 'child-down', () => true, mark) !== undefined && watch.find('i', 'child-down', () => true, mark) !== undefined,
    10000,
  );
  ms = performance.now() - t0;
  const newI = watch.find('i', 'child-up', isNew, mark)?.child;
  const newR = watch.find('r', 'child-up', isNew, mark)?.child;
  if (!rekeyed || !newI) return finish(false);
  p(`  new ${formatChild(newI)}`);
  p(`  its keys mix ${newI.keMethods.map(keMethodName).join(' + ')}${newI.ppk === undefined ? '' : ` and the fresh PPK '${newI.ppk}' (RFC 9867 §3.2: SK_d' = prf+(PPK, SK_d))`}; both sides agree: ${sameKeys(newI, newR) ? 'yes' : 'NO'}; old SA ${childI.spiIn.toString(16).padStart(8, '0')}_i deleted`);
  p(`  done in ${ms.toFixed(1)} ms`);
  step({ step: 'child-sa-rekey', ms, keyExchanges: newI.keMethods.map(keMethodName), keysAgree: sameKeys(newI, newR) });
  if (!sameKeys(newI, newR) || (o.ppk && (newI.ppk !== DEMO_FRESH_PPK_ID || newR?.ppk !== DEMO_FRESH_PPK_ID))) return finish(false);

  p('');
  p('3. IKE SA rekey (CREATE_CHILD_SA, then IKE_FOLLOWUP_KE per additional key exchange)');
  mark = watch.events.length;
  t0 = performance.now();
  di.apply((e, now) => e.rekeyIke(saId, now));
  const ikeRekeyed = await watch.until(
    () => watch.find('i', 'ike-rekeyed', () => true, mark) !== undefined && watch.find('r', 'ike-rekeyed', () => true, mark) !== undefined && watch.find('r', 'ike-down', () => true, mark) !== undefined && watch.find('i', 'ike-down', () => true, mark) !== undefined,
    10000,
  );
  ms = performance.now() - t0;
  const ri = watch.find('i', 'ike-rekeyed', () => true, mark);
  const rr = watch.find('r', 'ike-rekeyed', () => true, mark);
  if (!ikeRekeyed || !ri || !rr) return finish(false);
  p(`  new IKE SA ${ri.ike.spiI}_i ${ri.ike.spiR}_r, ${ri.ike.suite ?? ''}`);
  const ppkText = ri.ike.ppk === undefined ? '' : ri.ike.ppkExchange === 'CREATE_CHILD_SA' ? ` and the fresh PPK '${ri.ike.ppk}' (RFC 9867 §3.2)` : ` (and through SK_d the PPK '${ri.ike.ppk}')`;
  p(`  key exchanges of the new IKE SA: ${ri.ike.keMethods.map(keMethodName).join(' + ')}${ppkText}; same SPIs on both sides: ${ri.ike.spiI === rr.ike.spiI && ri.ike.spiR === rr.ike.spiR ? 'yes' : 'NO'}`);
  p(`  Child SAs moved to it: ${ei.children(ri.sa).length}; old IKE SA deleted`);
  p(`  done in ${ms.toFixed(1)} ms; in all ${messages} datagrams, ${bytes} bytes`);
  step({ step: 'ike-sa-rekey', ms, keyExchanges: ri.ike.keMethods.map(keMethodName), sameSpis: ri.ike.spiI === rr.ike.spiI && ri.ike.spiR === rr.ike.spiR, datagramsInAll: messages, bytesInAll: bytes });
  return finish(ri.ike.spiI === rr.ike.spiI && (!o.ppk || (ri.ike.ppk === DEMO_FRESH_PPK_ID && rr.ike.ppk === DEMO_FRESH_PPK_ID)));
}
