/**
 * A fresh PPK in running tunnels (RFC 9867 §3.2, `ppk_rekey`), as an operator does it: two
 * `pqike daemon` processes over 127.0.0.1 with an SA protected by PPK A (mixed in
 * IKE_INTERMEDIATE); PPK B is added to both secrets files and both daemons reload — the tunnel
 * stays up with the same SPIs (a reload that changes only PPKs hands them to the running SAs);
 * the next Child SA rekey and IKE SA rekey take PPK B, and list-sas names it. No root needed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SaView } from '../../src/daemon/listing.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const PPK_A = `0x${'5e'.repeat(32)}`;
const PPK_B = `0x${'3c'.repeat(32)}`;

function config(me: 'moon' | 'sun', port: number, remotePort: number, socket: string): string {
  const [lts, rts] = me === 'moon' ? ['10.1.0.0/16', '10.2.0.0/16'] : ['10.2.0.0/16', '10.1.0.0/16'];
  return `secrets: ${me}-secrets.yaml
port: ${port}
control:
  socket: ${socket}
data_plane: fake
connections:
  c:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${remotePort}
    local_id: ${me}.example.org
    remote_id: ${me === 'moon' ? 'sun' : 'moon'}.example.org
    psk: c
    ppk_id: ppk-a
    ppk_required: true
    ppk_intermediate: true
    ppk_rekey: yes
    proposals: [aes256gcm16-prfsha384-x25519-ke1_mlkem768]
    children:
      net:
        local_ts: [${lts}]
        remote_ts: [${rts}]
        esp_proposals: [aes256gcm16-x25519-ke1_mlkem768]
`;
}

const secrets = (ppks: string): string => `psk:\n  c: "pqike-ppk-reload-psk-0123456789abcdef"\nppk:\n${ppks}`;

describe('a fresh PPK through pqike reload and a rekey (RFC 9867 §3.2)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-ppk-reload-'));
  const base = 21_000 + 2 * Math.floor(Math.random() * 10_000);
  const sockets = { moon: join(dir, 'moon.sock'), sun: join(dir, 'sun.sock') };
  let moon: DaemonProc;
  let sun: DaemonProc;
  const json = async (side: 'moon' | 'sun'): Promise<SaView[]> => JSON.parse((await cli(['list-sas', '--json', '--socket', sockets[side]])).stdout) as SaView[];

  before(async () => {
    for (const me of ['moon', 'sun'] as const) {
      writeFileSync(join(dir, `${me}-secrets.yaml`), secrets(`  ppk-a: "${PPK_A}"\n`), { mode: 0o600 });
      writeFileSync(join(dir, `${me}.yaml`), config(me, me === 'moon' ? base : base + 1, me === 'moon' ? base + 1 : base, sockets[me]));
    }
    sun = new DaemonProc('sun', join(dir, 'sun.yaml'), sockets.sun, join(dir, 'sun.log'), join(dir, 'sun.journal'));
    await sun.ready();
    moon = new DaemonProc('moon', join(dir, 'moon.yaml'), sockets.moon, join(dir, 'moon.log'), join(dir, 'moon.journal'));
    await moon.ready();
  });

  after(async () => {
    for (const d of [moon, sun]) if (d) await d.stop('SIGTERM').catch(() => d.child.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tunnel stays up through the reload, and the next rekeys mix PPK B in', async () => {
    const up = await cli(['up', 'c', '--socket', sockets.moon]);
    assert.equal(up.code, 0, up.stderr);
    const [first] = await json('moon');
    assert.ok(first);
    assert.deepEqual([first.ppk, first.ppkExchange], ['ppk-a', 'IKE_INTERMEDIATE']);

    for (const me of ['moon', 'sun'] as const) {
      writeFileSync(join(dir, `${me}-secrets.yaml`), secrets(`  ppk-a: "${PPK_A}"\n  ppk-b: "${PPK_B}"\n`), { mode: 0o600 });
      const r = await cli(['reload', '--socket', sockets[me]]);
      assert.equal(r.stdout, 'reloaded: added [], changed [], removed [], unchanged [], new PPKs for running SAs [c]\n', r.stderr);
    }
    const same = await json('moon');
    assert.deepEqual(same.map((s) => [s.id, s.spiI, s.spiR, s.children.map((c) => c.spiIn)]), [[first.id, first.spiI, first.spiR, first.children.map((c) => c.spiIn)]], 'same IKE SA and Child SA after the reload');

    const child = first.children[0];
    assert.ok(child);
    const rc = await cli(['rekey', String(first.id), '--child', child.spiIn, '--socket', sockets.moon]);
    assert.equal(rc.code, 0, rc.stderr);
    const afterChild = await waitFor('the rekeyed Child SA on both sides', async () => {
      const [m] = await json('moon');
      const [s] = await json('sun');
      const mc = m?.children.find((c) => c.rekeyOf === child.spiIn);
      const sc = s?.children.find((c) => c.spiOut === mc?.spiIn);
      return mc && sc ? { m: m, mc, sc } : undefined;
    });
    assert.deepEqual([afterChild.mc.ppk, afterChild.sc.ppk], ['ppk-b', 'ppk-b']);
    assert.equal(afterChild.m.ppk, 'ppk-a', 'the IKE SA keeps PPK A until it is rekeyed');

    const ri = await cli(['rekey', String(first.id), '--socket', sockets.moon]);
    assert.equal(ri.code, 0, ri.stderr);
    const rekeyed = await waitFor('the new IKE SA on both sides', async () => {
      const m = (await json('moon')).find((s) => s.id !== first.id && s.state === 'established');
      const s = (await json('sun')).find((x) => x.spiI === m?.spiI && x.state === 'established');
      return m && s ? [m, s] : undefined;
    });
    for (const s of rekeyed) assert.deepEqual([s.ppk, s.ppkExchange], ['ppk-b', 'CREATE_CHILD_SA']);
    // The logs name the PPK (never the key) where it was mixed in.
    for (const me of ['moon', 'sun'] as const) {
      const log = readFileSync(join(dir, `${me}.log`), 'utf8');
      assert.match(log, /established \(\w+\) .* PPK ppk-a \(IKE_INTERMEDIATE\)/, me);
      assert.match(log, /fresh PPK ppk-b \(RFC 9867\)/, me);
      assert.match(log, /rekeyed into #\d+ .* PPK ppk-b \(CREATE_CHILD_SA\)/, me);
      assert.ok(!log.includes('3c'.repeat(16)) && !log.includes('5e'.repeat(16)), `${me}: no PPK value in the log`);
    }
  });
});
