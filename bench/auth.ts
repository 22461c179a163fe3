/**
 * Authentication benchmark (`node dist/bench/auth.js [--seconds S] [--runs N] [--json]`): IKE
 * SAs per second between two engines in this process (sequential handshakes, first Child SA
 * in IKE_AUTH, x25519+ML-KEM-768) and the octets and datagrams of one handshake, for PSK and
 * for certificates of each key type: ECDSA P-256, Ed25519, RSA-PSS (3072), ML-DSA-65 (an
 * ML-DSA chain: CA and end entity, fragmented at 1280). Certificate paths are validated once
 * and cached (src/auth/trust-store.ts), as a gateway does for peers it sees again; the cost of
 * one uncached validation is printed beside. Medians of the runs; the ML-DSA backend (native
 * or noble) is printed, compare Node versions in one sitting.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Authenticator } from '../src/auth/authenticator.js';
import { issueCertificate } from '../src/auth/pki.js';
import { certificateAuthenticator, trustedPeerAuthenticator } from '../src/auth/pubkey.js';
import { TrustStore } from '../src/auth/trust-store.js';
import { parseCertificate } from '../src/auth/x509.js';
import { generatePrivateKey, loadPrivateKey, mlDsaBackend } from '../src/crypto/signature-keys.js';
import type { SignatureKeyType } from '../src/crypto/signature-keys.js';
import { median } from './common.js';
import { BenchPair, emptyWire } from './inprocess.js';

export const AUTH_PROPOSAL = 'aes256gcm16-prfsha384-x25519-ke1_mlkem768';
const PSK = new TextEncoder().encode('pqike-bench-psk-0123456789abcdef');

type Side = { local: Authenticator; remote: Authenticator };

function certSides(type: SignatureKeyType): { i: Side; r: Side; store: TrustStore; chain: Uint8Array[] } {
  const caKey = loadPrivateKey(generatePrivateKey(type));
  const caDer = issueCertificate({ subject: `CN=bench ${type} CA`, publicKey: caKey.publicKey.spki, signer: caKey, ca: true });
  const ca = parseCertificate(caDer);
  if (typeof ca === 'string') throw new Error(ca);
  const side = (host: string): { local: Authenticator; der: Uint8Array } => {
    const key = loadPrivateKey(generatePrivateKey(type));
    const der = issueCertificate({ subject: `CN=${host}`, publicKey: key.publicKey.spki, signer: caKey, issuer: ca, altNames: [host] });
    return { local: certificateAuthenticator({ key, certificates: [der] }), der };
  };
  const i = side('initiator.bench.pqike');
  const r = side('responder.bench.pqike');
  const storeI = new TrustStore({ anchors: [caDer] });
  const storeR = new TrustStore({ anchors: [caDer] });
  return { i: { local: i.local, remote: trustedPeerAuthenticator(storeI) }, r: { local: r.local, remote: trustedPeerAuthenticator(storeR) }, store: new TrustStore({ anchors: [caDer] }), chain: [i.der] };
}

/** The first handshake runs the (asynchronous) path validations; afterwards they are cached. */
async function warm(pair: BenchPair): Promise<void> {
  pair.i.initiate('bench', pair.now, { local: { address: '192.0.2.1', port: 500 }, remote: { address: '192.0.2.2', port: 500 } });
  for (let round = 0; round < 20; round++) {
    for (let step = 0; step < 50; step++) {
      const outI = pair.i.drain();
      const outR = pair.r.drain();
      if (outI.length === 0 && outR.length === 0) break;
      for (const o of outI) if (o.kind === 'send') pair.r.receive(o.data, { address: '192.0.2.1', port: 500 }, { address: '192.0.2.2', port: 500 }, pair.now);
      for (const o of outR) if (o.kind === 'send') pair.i.receive(o.data, { address: '192.0.2.2', port: 500 }, { address: '192.0.2.1', port: 500 }, pair.now);
    }
    const qs = [...pair.i.drainTrust().map((q) => ({ e: pair.i, q })), ...pair.r.drainTrust().map((q) => ({ e: pair.r, q }))];
    if (qs.length === 0) return;
    for (const { e, q } of qs) {
      await q.run();
      e.trustSettled(q, pair.now);
    }
  }
}

export interface AuthRow {
  readonly auth: string;
  readonly rates: number[];
  readonly median: number;
  readonly bytes: number;
  readonly datagrams: number;
  readonly validateMs?: number;
}

async function measure(auth: string, runs: number, runMs: number, make: () => BenchPair, validate?: () => Promise<unknown>): Promise<AuthRow> {
  let pair = make();
  await warm(pair);
  const wire = emptyWire();
  pair.handshake(wire);
  const rates: number[] = [];
  for (let r = -1; r < runs; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < (r < 0 ? Math.min(300, runMs) : runMs)) {
      pair.handshake();
      if (++n % 256 === 0) pair = make();
      t = performance.now();
    }
    if (r >= 0) rates.push((n * 1000) / (t - t0));
  }
  let validateMs: number | undefined;
  if (validate) {
    const times: number[] = [];
    for (let k = 0; k < 15; k++) {
      const t0 = performance.now();
      await validate();
      times.push(performance.now() - t0);
    }
    validateMs = median(times);
  }
  return { auth, rates, median: median(rates), bytes: wire.bytes, datagrams: wire.datagrams, ...(validateMs === undefined ? {} : { validateMs }) };
}

/** One row per authentication: PSK, then certificates of each key type. */
export async function authRows(runs: number, runMs: number): Promise<AuthRow[]> {
  const rows: AuthRow[] = [];
  rows.push(await measure('psk', runs, runMs, () => new BenchPair(AUTH_PROPOSAL, PSK)));
  for (const type of ['ecdsa-p256', 'ed25519', 'rsa-pss', 'ml-dsa-65'] as const) {
    const s = certSides(type);
    // The same authenticators (and trust caches) for every pair: the peer is seen again.
    rows.push(await measure(type, runs, runMs, () => new BenchPair(AUTH_PROPOSAL, PSK, {}, undefined, { i: s.i, r: s.r }), () => s.store.validate(s.chain)));
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: opt } = parseArgs({ options: { seconds: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const runMs = Number(opt.seconds ?? 1) * 1000;
  const runs = Number(opt.runs ?? 5);
  const rows = await authRows(runs, runMs);
  if (opt.json === true) process.stdout.write(`${JSON.stringify({ node: process.version, mlDsa: mlDsaBackend(), proposal: AUTH_PROPOSAL, rows }, null, 2)}\n`);
  else {
    process.stdout.write(`pqike authentication, ${AUTH_PROPOSAL}, Node ${process.version}, ML-DSA backend ${mlDsaBackend()}; ${runs} runs of ${runMs} ms, medians\n`);
    process.stdout.write(`${'auth'.padEnd(12)}${'SAs/s'.padStart(9)}${'bytes'.padStart(9)}${'datagrams'.padStart(11)}${'validate ms (uncached)'.padStart(25)}\n`);
    for (const r of rows) process.stdout.write(`${r.auth.padEnd(12)}${r.median.toFixed(0).padStart(9)}${String(r.bytes).padStart(9)}${String(r.datagrams).padStart(11)}${(r.validateMs === undefined ? '-' : r.validateMs.toFixed(2)).padStart(25)}\n`);
  }
}
