/**
 * Key export onto a disk that fills up: daemon A answers IKE with --export-keys on a 64 KiB
 * tmpfs that is full but for one page, while daemon B runs IKE_SA_INITs with a PSK A does not
 * know (keys are exported right after IKE_SA_INIT, before any authentication). A must stay up,
 * log the failure once at error level, count it in its metrics and `pqike stats`, and still
 * bring up an IKE SA with a peer that knows the PSK. Needs root (mount); skipped otherwise.
 * And a key file that is not safely ours (a symlink, mode 0644) stops the daemon at start-up.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../../src/daemon/control.js';
import { isRoot, skipOrFail } from '../interop/netns.js';
import { DaemonProc, cli, waitFor } from './harness.js';

const SKIP = isRoot() ? false : skipOrFail('the full-disk key export test needs root (mount -t tmpfs)');

/** Fill the file system at `dir` but for one page (4 KiB). */
function fillButOnePage(dir: string): void {
  const reserve = join(dir, 'reserve');
  writeFileSync(reserve, Buffer.alloc(4096));
  const fd = openSync(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 0x55);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  unlinkSync(reserve);
}

describe('key export to a file system that fills up', { skip: SKIP, timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-keysfull-'));
  const mnt = join(dir, 'keys');
  const keys = join(mnt, 'ikev2_decryption_table');
  const base = 20_000 + 3 * Math.floor(Math.random() * 10_000);
  const ports = { a: base, b: base + 1, metrics: base + 2 };
  const limits = 'limits:\n  cookie_threshold: 100000\n  cookie_threshold_ip: 100000\n  block_threshold: 100000\n  auth_failures_before_backoff: 100000\n';
  let a: DaemonProc;
  let b: DaemonProc;
  let mounted = false;

  const conn = (name: string, port: number, me: string, peer: string, psk: string): string => `  ${name}:
    local_addrs: 127.0.0.1
    remote_addrs: 127.0.0.1
    remote_port: ${port}
    local_id: ${me}.example.org
    remote_id: ${peer}.example.org
    psk: ${psk}
    children:
      net:
        local_ts: [10.${me === 'sun' ? 2 : 1}.0.0/16]
        remote_ts: [10.${me === 'sun' ? 1 : 2}.0.0/16]
`;

  before(async () => {
    writeFileSync(join(dir, 'secrets.yaml'), 'psk:\n  good: "key-export-full-good-psk-0123456789"\n  bad: "key-export-full-WRONG-psk-0123456789"\n', { mode: 0o600 });
    writeFileSync(join(dir, 'a.yaml'), `secrets: secrets.yaml\nport: ${ports.a}\nlog:\n  level: info\n  format: json\ncontrol:\n  socket: ${join(dir, 'a/pqike.sock')}\nmetrics:\n  listen: 127.0.0.1:${ports.metrics}\n${limits}data_plane: fake\nconnections:\n${conn('gw', ports.b, 'sun', 'moon', 'good')}`);
    writeFileSync(join(dir, 'b.yaml'), `secrets: secrets.yaml\nport: ${ports.b}\nlog:\n  level: info\n  format: json\ncontrol:\n  socket: ${join(dir, 'b/pqike.sock')}\ndata_plane: fake\nconnections:\n${conn('good', ports.a, 'moon', 'sun', 'good')}${conn('bad', ports.a, 'moon', 'sun', 'bad')}`);
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    mounted = true;
    fillButOnePage(mnt);
    a = new DaemonProc('A', join(dir, 'a.yaml'), join(dir, 'a/pqike.sock'), join(dir, 'a.log'), join(dir, 'a.journal'), ['--export-keys', keys]);
    await a.ready();
    b = new DaemonProc('B', join(dir, 'b.yaml'), join(dir, 'b/pqike.sock'), join(dir, 'b.log'), join(dir, 'b.journal'));
    await b.ready();
  });

  after(async () => {
    try {
      for (const d of [a, b]) if (d) await d.stop('SIGTERM').catch(() => d.child.kill('SIGKILL'));
      for (const d of [a, b]) if (d?.running) d.child.kill('SIGKILL');
    } finally {
      if (mounted) spawnSync('umount', [mnt]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const exportErrors = (): Record<string, unknown>[] => a.logLines().filter((l) => l['level'] === 'error' && String(l['msg']).startsWith('key export stopped'));

  it('a peer without the PSK fills the disk with IKE_SA_INITs: A stays up, logs once, counts it; a good peer still gets its SA', async () => {
    // Each failed IKE_AUTH leaves two key lines (after IKE_SA_INIT and IKE_INTERMEDIATE).
    let attempts = 0;
    while (exportErrors().length === 0) {
      assert.ok(attempts++ < 60, `no export failure after ${attempts} IKE SAs:\n${readFileSync(join(dir, 'a.log'), 'utf8')}`);
      const r = await request(b.socket, { cmd: 'up', args: ['bad'], opts: {} }, 5000).catch((e: unknown) => ({ ok: false, error: String(e) }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(a.running, `A exited (${String(a.exitCode)}) after ${attempts} IKE SAs:\n${readFileSync(join(dir, 'a.log'), 'utf8')}`);
      assert.equal(r.ok, false, 'B cannot authenticate with the wrong PSK');
    }
    assert.ok(attempts > 1, 'some keys were exported before the disk was full');
    // More of them after the failure change nothing.
    for (let i = 0; i < 5; i++) assert.equal((await request(b.socket, { cmd: 'up', args: ['bad'], opts: {} }, 20_000)).ok, false);
    assert.ok(a.running);
    const errs = exportErrors();
    assert.equal(errs.length, 1, JSON.stringify(errs));
    assert.match(String(errs[0]?.['msg']), new RegExp(`^key export stopped: cannot write to ${keys} \\(ENOSPC: no space left on device, write\\); no more keys are exported until a restart$`));
    const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.ok(metrics.split('\n').includes('pqike_key_export_failures_total 1'), metrics);
    const stats = await request(a.socket, { cmd: 'stats', args: [], opts: {} });
    assert.ok(stats.ok);
    assert.equal((stats.data as { keyExportFailuresTotal: number }).keyExportFailuresTotal, 1);
    // The peer that knows the PSK still gets its IKE SA and Child SA.
    const up = await request(b.socket, { cmd: 'up', args: ['good'], opts: {} }, 20_000);
    assert.ok(up.ok, JSON.stringify(up));
    await waitFor('the good SA on A', async () => {
      const r = await request(a.socket, { cmd: 'list-sas', args: [], opts: {} });
      return r.ok && (r.data as { state: string; children: unknown[] }[]).some((s) => s.state === 'established' && s.children.length === 1) ? true : undefined;
    });
    assert.ok(a.running);
  });
});

test('pqike daemon refuses to start with a key file that is a symlink or readable by others, saying what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-keysrefused-'));
  try {
    writeFileSync(join(dir, 'secrets.yaml'), 'psk:\n  k: "key-export-refused-psk-0123456789"\n', { mode: 0o600 });
    const socket = join(dir, 'run/pqike.sock');
    writeFileSync(join(dir, 'pqike.yaml'), `secrets: secrets.yaml\nport: ${50_000 + Math.floor(Math.random() * 10_000)}\ncontrol:\n  socket: ${socket}\ndata_plane: fake\nconnections:\n  c:\n    local_addrs: 127.0.0.1\n    remote_addrs: 127.0.0.1\n    psk: k\n`);
    writeFileSync(join(dir, 'target'), 'not for keys\n', { mode: 0o600 });
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    const link = await cli(['daemon', '-c', join(dir, 'pqike.yaml'), '--export-keys', join(dir, 'link')]);
    assert.equal(link.code, 2, link.stderr);
    assert.equal(link.stderr, `pqike: key export refused: key file ${join(dir, 'link')} is a symbolic link, which is never followed; remove it (rm ${join(dir, 'link')}) or export to another path\n`);
    writeFileSync(join(dir, 'open'), '', { mode: 0o644 });
    const open = await cli(['daemon', '-c', join(dir, 'pqike.yaml'), '--export-keys', join(dir, 'open')]);
    assert.equal(open.code, 2, open.stderr);
    assert.match(open.stderr, /has mode 0644, so others may read the keys; run chmod 600 /);
    assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'not for keys\n');
    assert.equal(existsSync(socket), false, 'nothing was started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
