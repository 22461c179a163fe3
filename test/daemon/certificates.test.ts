/**
 * Certificates through the daemon: `pqike pki` makes an ECDSA CA and an ML-DSA-65 CA and the
 * gateway certificates; two `pqike daemon` processes over 127.0.0.1 UDP authenticate with
 * `auth: pubkey` (certs, private_keys, cacerts) — ECDSA P-256, Ed25519, RSA-PSS and ML-DSA-65
 * (an ML-DSA chain end to end, with x25519+ML-KEM-768: post-quantum in key exchange and
 * authentication alike) — and `daemon --check` reports the chain, refuses a key that is not
 * the certificate's, a local_id the certificate does not name, and an encrypted key without a
 * passphrase. No root needed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProc, cli, waitFor } from './harness.js';

const TYPES = ['ecdsa-p256', 'ed25519', 'rsa-pss', 'ml-dsa-65'] as const;
type KeyKind = (typeof TYPES)[number];

async function pki(dir: string, ...args: string[]): Promise<void> {
  const r = await cli(['pki', ...args.map((a) => (a.endsWith('.pem') ? join(dir, a) : a))]);
  assert.equal(r.code, 0, `pqike pki ${args.join(' ')}: ${r.stderr}`);
}

function conn(me: 'moon' | 'sun', t: KeyKind, remotePort: number): string {
  const peer = me === 'moon' ? 'sun' : 'moon';
  const ca = t === 'ml-dsa-65' ? 'mldsaCa.pem' : 'caCert.pem';
  const [lts, rts] = me === 'moon' ? ['10.1.0.0/16', '10.2.0.0/16'] : ['10.2.0.0/16', '10.1.0.0/16'];
  const n = TYPES.indexOf(t);
  return `  c-${t}:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${remotePort}
    local_id: ${me}-${t}.example.org
    remote_id: ${peer}-${t}.example.org
    auth: pubkey
    certs: [${me}-${t}.cert.pem]
    private_keys: [${me}-${t}.key.pem]
    cacerts: [${ca}]
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
    children:
      net:
        local_ts: [${lts.replace('.0.0/16', `.${n}.0/24`)}]
        remote_ts: [${rts.replace('.0.0/16', `.${n}.0/24`)}]
        esp_proposals: [aes256gcm16]
`;
}

function config(me: 'moon' | 'sun', port: number, remotePort: number, socket: string): string {
  return `port: ${port}
log:
  level: debug
control:
  socket: ${socket}
data_plane: fake
connections:
${TYPES.map((t) => conn(me, t, remotePort)).join('')}`;
}

describe('two daemons authenticate with certificates made by pqike pki', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-certs-'));
  const base = 21_000 + 3 * Math.floor(Math.random() * 9_000);
  const sockA = join(dir, 'a/run/pqike.sock');
  const sockB = join(dir, 'b/run/pqike.sock');
  let a: DaemonProc;
  let b: DaemonProc;

  before(async () => {
    await pki(dir, '--gen', '--type', 'ecdsa-p256', '--out', 'caKey.pem');
    await pki(dir, '--self', '--in', 'caKey.pem', '--dn', 'C=CH, O=pqike, CN=pqike ECDSA CA', '--out', 'caCert.pem');
    await pki(dir, '--gen', '--type', 'ml-dsa-65', '--out', 'mldsaCaKey.pem');
    await pki(dir, '--self', '--in', 'mldsaCaKey.pem', '--dn', 'C=CH, O=pqike, CN=pqike ML-DSA CA', '--out', 'mldsaCa.pem');
    for (const t of TYPES) {
      for (const me of ['moon', 'sun']) {
        const [caCert, caKey] = t === 'ml-dsa-65' ? ['mldsaCa.pem', 'mldsaCaKey.pem'] : ['caCert.pem', 'caKey.pem'];
        await pki(dir, '--gen', '--type', t, '--out', `${me}-${t}.key.pem`);
        await pki(dir, '--issue', '--in', `${me}-${t}.key.pem`, '--cacert', caCert, '--cakey', caKey, '--dn', `C=CH, O=pqike, CN=${me}-${t}.example.org`, '--san', `${me}-${t}.example.org`, '--out', `${me}-${t}.cert.pem`);
      }
    }
    writeFileSync(join(dir, 'a.yaml'), config('moon', base, base + 1, sockA));
    writeFileSync(join(dir, 'b.yaml'), config('sun', base + 1, base, sockB));
    b = new DaemonProc('B', join(dir, 'b.yaml'), sockB, join(dir, 'b.log'), join(dir, 'b.journal'));
    await b.ready();
    a = new DaemonProc('A', join(dir, 'a.yaml'), sockA, join(dir, 'a.log'), join(dir, 'a.journal'));
    await a.ready();
  });

  after(async () => {
    for (const d of [a, b]) if (d) await d.stop('SIGTERM').catch(() => d.child.kill('SIGKILL'));
    if (process.env['PQIKE_KEEP_TEST_DIR'] === undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const t of TYPES) {
    it(`${t}: pqike up c-${t} authenticates both ends by certificate; both daemons list the IKE SA and Child SA`, async () => {
      const up = await cli(['up', `c-${t}`, '--socket', sockA], 60_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      const mine = (await a.established(`c-${t}`))[0];
      assert.ok(mine && mine.children.length === 1);
      assert.equal(mine.remoteId, `sun-${t}.example.org`);
      const peer = await waitFor(`c-${t} on B`, async () => (await b.established(`c-${t}`)).find((s) => s.children.length === 1));
      assert.equal(`${peer.spiI}/${peer.spiR}`, `${mine.spiI}/${mine.spiR}`);
      assert.equal(peer.remoteId, `moon-${t}.example.org`);
    });
  }

  it('daemon --check reports each connection\'s certificate and whether it chains to its own cacerts', async () => {
    const r = await cli(['daemon', '-c', join(dir, 'a.yaml'), '--check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /connection c-ml-dsa-65: ML-DSA-65 certificate "C=CH, O=pqike, CN=moon-ml-dsa-65\.example\.org", identity moon-ml-dsa-65\.example\.org; chain valid to "C=CH, O=pqike, CN=pqike ML-DSA CA"/);
    assert.match(r.stdout, /connection c-ed25519: Ed25519 certificate/);
  });

  it('daemon --check refuses a key that is not the certificate\'s, a local_id the certificate does not name, a key readable by others, and an encrypted key without a passphrase', async () => {
    const bad = (name: string, text: string): string => {
      const f = join(dir, name);
      writeFileSync(f, `port: ${base + 2}\ndata_plane: fake\ncontrol:\n  socket: ${join(dir, 'x.sock')}\nconnections:\n${text}`);
      return f;
    };
    const one = conn('moon', 'ecdsa-p256', 500);
    const mismatch = await cli(['daemon', '-c', bad('mismatch.yaml', one.replace('moon-ecdsa-p256.key.pem', 'moon-ed25519.key.pem')), '--check']);
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /none of them is the key of certificate "C=CH, O=pqike, CN=moon-ecdsa-p256\.example\.org"/);
    const wrongId = await cli(['daemon', '-c', bad('id.yaml', one.replace('local_id: moon-ecdsa-p256.example.org', 'local_id: venus.example.org')), '--check']);
    assert.equal(wrongId.code, 2);
    assert.match(wrongId.stderr, /does not name venus\.example\.org \(its subjectAltNames: moon-ecdsa-p256\.example\.org\)/);
    chmodSync(join(dir, 'moon-ed25519.key.pem'), 0o644);
    const open = await cli(['daemon', '-c', bad('open.yaml', conn('moon', 'ed25519', 500)), '--check']);
    chmodSync(join(dir, 'moon-ed25519.key.pem'), 0o600);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /is readable by others \(mode 644\); run: chmod 600/);
    const enc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pass phrase' }).toString();
    writeFileSync(join(dir, 'enc.key.pem'), enc, { mode: 0o600 });
    const encrypted = await cli(['daemon', '-c', bad('enc.yaml', one.replace('moon-ecdsa-p256.key.pem', 'enc.key.pem')), '--check']);
    assert.equal(encrypted.code, 2);
    assert.match(encrypted.stderr, /the private key is encrypted and no passphrase is configured for it; add private_key_passphrase/);
  });
});
