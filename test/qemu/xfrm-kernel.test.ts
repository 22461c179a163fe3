/**
 * XfrmClient against a kernel with ESP: the stock Debian 6.1 kernel under qemu (this machine's
 * kernel has XFRM but no ESP), two namespaces a (10.99.0.1, inner 10.99.1.1 and 10.99.1.2) and
 * b (10.99.0.2, inner 10.99.2.1 and 10.99.2.2) joined by veth.
 *
 * One node process in the guest (this file, run with PQIKE_XFRM_QEMU_GUEST=1) opens a client in
 * each namespace (setns between the two socket opens: a netlink socket belongs to the
 * namespace it was created in) and:
 *
 * 1. allocates the inbound SPIs (ALLOCSPI), installs both ends of a tunnel-mode AES-256-GCM-16
 *    SA pair (fixed test keys; UPDSA over the larval SAs) and the policies (out/in/fwd);
 *    pings 10.99.1.1 → 10.99.2.1 through it; usage() must equal `ip -s xfrm state`'s counters;
 *    the outbound SA's soft byte limit (150) makes the kernel send a soft EXPIRE;
 * 2. a second tunnel, 10.99.1.2 ↔ 10.99.2.2: ChaCha20-Poly1305, ESN with a 4096-packet window,
 *    ESP in UDP 4500 ↔ 4500 (UDP_ENCAP_ESPINUDP sockets opened through koffi), ping through it;
 * 3. a trap (10.99.1.1 → 10.99.3.0/24, no SA): a ping raises ACQUIRE with its reqid;
 * 4. CBC + HMAC-SHA-256/384/512, AES-GCM-8/12 over IPv6 and a transport-mode SA are accepted
 *    and read back (GETSA: the kernel's names, ICV/truncation lengths and our keys);
 * 5. an allocSpi() never completed expires (net.core.xfrm_acq_expires = 2 in a): hard EXPIRE,
 *    larval;
 * 6. flushOurs() in both: nothing of ours left (`ip xfrm state` / `policy`), while a state and
 *    a policy added by `ip` with reqid 1 (another daemon's) survive in a.
 *
 * Skips when not root; when the VM cannot be prepared it skips, except with CI=true, where it
 * fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import type { EspSaSpec, PolicySpec } from '../../src/engine/dataplane.js';
import { parseTrafficSelector } from '../../src/engine/traffic-selectors.js';
import { XfrmClient, type XfrmEvent } from '../../src/dataplane/xfrm/client.js';
import { NetlinkSocket, NetlinkSubscription } from '../../src/dataplane/sys/netlink.js';
import { NLM_F_DUMP } from '../../src/dataplane/sys/netlink-codec.js';
import { XfrmGroup, XfrmMsg, XfrmStateFlag, groupBit } from '../../src/dataplane/xfrm/constants.js';
import { encodeUsersaId } from '../../src/dataplane/xfrm/messages.js';
import type { VmResult } from './vm.js';
import type { Section, XfrmSa } from './guest.js';

const GUEST_ENV = 'PQIKE_XFRM_QEMU_GUEST';
const VM_TIMEOUT_MS = 150_000;
const A = '10.99.0.1';
const B = '10.99.0.2';
const R_MAIN = 0x50710001;
const R_ENCAP = 0x50710002;
const R_TRAP = 0x50710003;
const R_MISC = 0x50710004;
const R_LARVAL = 0x50710005;
const SOFT_BYTES = 150;

/** Fixed test keys: AES-256-GCM key | salt (36 octets) per direction, ChaCha20 key | salt. */
const key = (fill: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (fill + i) & 0xff);
const K_AB = key(0x11, 36);
const K_BA = key(0x51, 36);
const K_CC_AB = key(0x91, 36);
const K_CC_BA = key(0xc1, 36);

/* ------------------------------------------------------------------------ */
/* Guest side                                                               */
/* ------------------------------------------------------------------------ */

interface GuestResult {
  steps: Record<string, unknown>;
  errors: Record<string, string>;
}

function sa(over: Partial<EspSaSpec> & Pick<EspSaSpec, 'direction' | 'spi' | 'src' | 'dst' | 'encr' | 'reqid'>): EspSaSpec {
  return {
    connection: 'qemu',
    child: 'c',
    encap: false,
    mode: 'tunnel',
    esn: false,
    replayWindow: over.direction === 'in' ? 128 : 0,
    localTs: [],
    remoteTs: [],
    limits: {},
    ...over,
  };
}

function policy(reqid: number, local: string, remote: string, localTs: string, remoteTs: string): PolicySpec {
  return { connection: 'qemu', child: 'c', reqid, mode: 'tunnel', local, remote, localTs: [parseTrafficSelector(localTs)], remoteTs: [parseTrafficSelector(remoteTs)] };
}

async function guestMain(): Promise<void> {
  const libc = koffi.load('libc.so.6');
  const setns = libc.func('int setns(int fd, int nstype)') as unknown as (fd: number, t: number) => number;
  const socket = libc.func('int socket(int, int, int)') as unknown as (a: number, b: number, c: number) => number;
  const bind = libc.func('int bind(int, const void *, unsigned int)') as unknown as (fd: number, a: Uint8Array, l: number) => number;
  const setsockopt = libc.func('int setsockopt(int, int, int, const void *, unsigned int)') as unknown as (fd: number, l: number, n: number, v: Uint8Array, len: number) => number;
  const enter = (ns: string): void => {
    const fd = openSync(`/run/netns/${ns}`, 'r');
    try {
      if (setns(fd, 0x40000000) !== 0) throw new Error(`setns ${ns}: errno ${koffi.errno()}`);
    } finally {
      closeSync(fd);
    }
  };
  /** A UDP socket on 0.0.0.0:4500 with UDP_ENCAP_ESPINUDP: the kernel takes ESP in UDP from it. */
  const encapSocket = (): number => {
    const fd = socket(2, 2, 0);
    const sin = new Uint8Array(16);
    sin[0] = 2;
    sin[2] = 4500 >> 8;
    sin[3] = 4500 & 0xff;
    if (bind(fd, sin, 16) !== 0) throw new Error(`bind 4500: errno ${koffi.errno()}`);
    if (setsockopt(fd, 17, 100, Uint8Array.of(2, 0, 0, 0), 4) !== 0) throw new Error(`UDP_ENCAP: errno ${koffi.errno()}`);
    return fd;
  };
  const sh = (cmd: string): { code: number | null; out: string } => {
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const res: GuestResult = { steps: {}, errors: {} };
  const step = async (name: string, fn: () => unknown): Promise<void> => {
    try {
      res.steps[name] = await fn();
    } catch (e) {
      res.errors[name] = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    }
  };
  const evA: XfrmEvent[] = [];
  const evB: XfrmEvent[] = [];
  const raw: { type: number; hex: string }[] = [];

  enter('a');
  const ca = new XfrmClient();
  const subA = ca.subscribe((e) => evA.push(e), { onError: (e) => (res.errors['subA'] = e.message) });
  const rawA = new NetlinkSubscription({ protocol: 6, groups: groupBit(XfrmGroup.ACQUIRE) | groupBit(XfrmGroup.EXPIRE) }, { onMessage: (m) => raw.push({ type: m.type, hex: hex(m.payload) }) });
  const encapA = encapSocket();
  const rawSock = new NetlinkSocket({ protocol: 6 });
  enter('b');
  const cb = new XfrmClient();
  const subB = cb.subscribe((e) => evB.push(e), { onError: (e) => (res.errors['subB'] = e.message) });
  const encapB = encapSocket();
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const gcm = (k: Uint8Array): EspSaSpec['encr'] => ({ id: 20, keyBits: 256, key: k });

  // 5 first (it takes the longest): a larval SA that nobody completes.
  let larvalSpi = 0;
  await step('larval-alloc', () => (larvalSpi = ca.allocSpi(B, A, R_LARVAL)));

  // 1. the main tunnel
  let spiAB = 0;
  let spiBA = 0;
  await step('alloc', () => {
    spiAB = cb.allocSpi(A, B, R_MAIN);
    spiBA = ca.allocSpi(B, A, R_MAIN);
    const again = cb.allocSpi(A, B, R_MAIN); // a second larval SA for the same tuple: its own SPI
    cb.delSa(again, B);
    return { spiAB, spiBA, again, larvalB: cb.getSa(spiAB, B)?.info };
  });
  await step('install', () => {
    ca.addSa(sa({ direction: 'out', reqid: R_MAIN, spi: spiAB, src: { address: A, port: 500 }, dst: { address: B, port: 500 }, encr: gcm(K_AB), limits: { softBytes: SOFT_BYTES } }));
    ca.addSa(sa({ direction: 'in', reqid: R_MAIN, spi: spiBA, src: { address: B, port: 500 }, dst: { address: A, port: 500 }, encr: gcm(K_BA) }));
    cb.addSa(sa({ direction: 'in', reqid: R_MAIN, spi: spiAB, src: { address: A, port: 500 }, dst: { address: B, port: 500 }, encr: gcm(K_AB) }));
    cb.addSa(sa({ direction: 'out', reqid: R_MAIN, spi: spiBA, src: { address: B, port: 500 }, dst: { address: A, port: 500 }, encr: gcm(K_BA) }));
    ca.addPolicies(policy(R_MAIN, A, B, '10.99.1.1/32', '10.99.2.1/32'));
    cb.addPolicies(policy(R_MAIN, B, A, '10.99.2.1/32', '10.99.1.1/32'));
    const st = ca.getSa(spiAB, B);
    return { key: st?.aead ? hex(st.aead.key) : null, name: st?.aead?.name, icv: st?.aead?.icvBits, softBytes: st ? String(st.info.lft.softByteLimit) : null };
  });
  await step('ping', () => sh('ip netns exec a /bin/busybox ping -c 3 -i 0.2 -W 3 -I 10.99.1.1 10.99.2.1'));
  await sleep(300);
  await step('usage', () => ({
    aOut: ca.usage(spiAB, B),
    aIn: ca.usage(spiBA, A),
    bIn: cb.usage(spiAB, B),
    bOut: cb.usage(spiBA, A),
    xfrmA: sh('ip -n a -s xfrm state').out,
    xfrmB: sh('ip -n b -s xfrm state').out,
    policiesA: sh('ip -n a xfrm policy').out,
  }));

  // 2. ChaCha20-Poly1305, ESN, 4096-packet window, ESP in UDP
  const SPI_CC_AB = 0xcc00ab01;
  const SPI_CC_BA = 0xcc00ba01;
  await step('encap-install', () => {
    const base = { reqid: R_ENCAP, esn: true, encap: true } as const;
    const ab = { src: { address: A, port: 4500 }, dst: { address: B, port: 4500 } };
    const ba = { src: { address: B, port: 4500 }, dst: { address: A, port: 4500 } };
    ca.addSa(sa({ ...base, ...ab, direction: 'out', spi: SPI_CC_AB, encr: { id: 28, key: K_CC_AB } }));
    ca.addSa(sa({ ...base, ...ba, direction: 'in', spi: SPI_CC_BA, encr: { id: 28, key: K_CC_BA }, replayWindow: 4096 }));
    cb.addSa(sa({ ...base, ...ab, direction: 'in', spi: SPI_CC_AB, encr: { id: 28, key: K_CC_AB }, replayWindow: 4096 }));
    cb.addSa(sa({ ...base, ...ba, direction: 'out', spi: SPI_CC_BA, encr: { id: 28, key: K_CC_BA } }));
    ca.addPolicies(policy(R_ENCAP, A, B, '10.99.1.2/32', '10.99.2.2/32'));
    cb.addPolicies(policy(R_ENCAP, B, A, '10.99.2.2/32', '10.99.1.2/32'));
    const inB = cb.getSa(SPI_CC_AB, B);
    const outA = ca.getSa(SPI_CC_AB, B);
    // the raw GETSA reply (a kernel fixture for the unit tests: test keys only)
    const rawReply = rawSock.request(XfrmMsg.GETSA, 0, [encodeUsersaId({ daddr: A, spi: SPI_CC_BA, family: 2, proto: 50 })])[0];
    return {
      inB: inB && { flags: inB.info.flags, replayWindow: inB.info.replayWindow, esn: inB.replayEsn, encap: inB.encap, aead: inB.aead && { name: inB.aead.name, icv: inB.aead.icvBits, key: hex(inB.aead.key) } },
      outA: outA && { flags: outA.info.flags, esn: outA.replayEsn },
      esnFlag: XfrmStateFlag.ESN,
      rawGetsaInA: rawReply ? hex(rawReply.payload) : null,
    };
  });
  await step('encap-ping', () => sh('ip netns exec a /bin/busybox ping -c 2 -i 0.2 -W 3 -I 10.99.1.2 10.99.2.2'));
  await step('encap-usage', () => ({ aOut: ca.usage(SPI_CC_AB, B), bIn: cb.usage(SPI_CC_AB, B), bOut: cb.usage(SPI_CC_BA, A), aIn: ca.usage(SPI_CC_BA, A), xfrmB: sh('ip -n b -s xfrm state').out }));

  // 3. a trap
  await step('trap', async () => {
    ca.addTrap(policy(R_TRAP, A, B, '10.99.1.1/32', '10.99.3.0/24'));
    const p = sh('ip netns exec a /bin/busybox ping -c 1 -W 1 -I 10.99.1.1 10.99.3.1');
    await sleep(300);
    return { ping: p, policies: sh('ip -n a xfrm policy').out };
  });

  // 4. other algorithms, IPv6, transport mode
  await step('algorithms', () => {
    const out: Record<string, unknown> = {};
    const integs = [
      { id: 12, n: 32 },
      { id: 13, n: 48 },
      { id: 14, n: 64 },
    ];
    integs.forEach((g, i) => {
      const spi = 0x3000 + i;
      cb.addSa(sa({ direction: 'in', reqid: R_MISC, spi, src: { address: A, port: 500 }, dst: { address: B, port: 500 }, encr: { id: 12, keyBits: 128, key: key(i, 16) }, integ: { id: g.id, key: key(0x40 + i, g.n) } }));
      const st = cb.getSa(spi, B);
      out[`integ${g.id}`] = st && { crypt: st.crypt?.name, cryptBits: st.crypt?.keyBits, auth: st.authTrunc?.name, trunc: st.authTrunc?.truncBits, authKey: st.authTrunc ? hex(st.authTrunc.key) : null };
    });
    [18, 19].forEach((id, i) => {
      const spi = 0x6000 + i;
      cb.addSa(sa({ direction: 'in', reqid: R_MISC, spi, src: { address: '2001:db8::1', port: 500 }, dst: { address: '2001:db8::2', port: 500 }, encr: { id, keyBits: 128, key: key(0x70, 20) } }));
      const st = cb.getSa(spi, '2001:db8::2');
      out[`v6gcm${id}`] = st && { name: st.aead?.name, icv: st.aead?.icvBits, family: st.info.family, saddr: st.info.saddr, daddr: st.info.daddr };
    });
    cb.addSa(sa({ direction: 'out', reqid: R_MISC, spi: 0x7000, mode: 'transport', src: { address: B, port: 500 }, dst: { address: A, port: 500 }, encr: gcm(K_BA) }));
    out['transport'] = cb.getSa(0x7000, A)?.info.mode;
    out['xfrmB'] = sh('ip -n b xfrm state').out;
    out['delSa'] = cb.delSa(0x3000, B);
    out['delSaAgain'] = cb.delSa(0x3000, B);
    out['gone'] = cb.getSa(0x3000, B) === undefined;
    return out;
  });

  // 5. wait for the larval SA to expire (acq_expires 2 s in a)
  await step('larval-expire', async () => {
    for (let i = 0; i < 50 && !evA.some((e) => e.type === 'expire' && e.larval && e.spi === larvalSpi); i++) await sleep(100);
    return { larvalSpi };
  });

  await step('cost', () => {
    const n = 200;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) ca.usage(spiAB, B);
    const usageUs = Number(process.hrtime.bigint() - t0) / n / 1000;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) rawSock.request(XfrmMsg.GETPOLICY, NLM_F_DUMP, []);
    return { usageUs, policyDumpUs: Number(process.hrtime.bigint() - t1) / n / 1000 };
  });

  await step('events', () => ({ a: evA, b: evB, raw }));

  // 6. flush
  await step('flush', () => ({ a: ca.flushOurs(), b: cb.flushOurs() }));
  await sleep(100);
  await subA.close();
  await subB.close();
  await rawA.close();
  rawSock.close();
  ca.close();
  cb.close();
  void encapA;
  void encapB;
  process.stdout.write(`@@xfrm-result ${JSON.stringify(res, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v))}\n`);
  // Nothing should keep the process alive now; if something does, that is a finding, not a hang.
  setTimeout(() => {
    process.stderr.write('guest program still alive 2 s after its result: exiting\n');
    process.exit(3);
  }, 2000).unref();
}

/* ------------------------------------------------------------------------ */
/* Host side                                                                */
/* ------------------------------------------------------------------------ */

async function hostTest(): Promise<void> {
  const { existsSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync, mkdirSync } = await import('node:fs');
  const { dirname, join, resolve } = await import('node:path');
  const { isRoot, skipOrFail, which } = await import('../interop/netns.js');
  const { prepareKernel, repoRoot } = await import('./setup.js');
  const { runInVm, shq, DEFAULT_VM_MODULES } = await import('./vm.js');
  const { lastSection, netnsPairSnippet, parseSections, parseXfrmState, section } = await import('./guest.js');

  async function preconditions(): Promise<string | null> {
    if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail('the qemu harness needs x86-64 Linux');
    if (!isRoot()) return skipOrFail('the qemu harness needs root (apt-get, 9p export of /)');
    const problems: string[] = [];
    if (!existsSync('/bin/busybox')) problems.push('/bin/busybox missing (busybox-static)');
    if (problems.length === 0) {
      try {
        await prepareKernel();
      } catch (err) {
        problems.push(`kernel cache: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!which('qemu-system-x86_64')) problems.push('qemu-system-x86_64 missing');
    }
    if (problems.length === 0) return null;
    return skipOrFail(`${problems.join('; ')} (bash scripts/qemu-kernel.sh as root; or run .ci/run)`);
  }

  /** dist/src and this file copied for the guest (a concurrent tsc must not hand it half-written modules). */
  function snapshot(): { dir: string; entry: string } {
    const here = dirname(fileURLToPath(import.meta.url));
    const dir = mkdtempSync('/var/tmp/pqike-xfrm-');
    cpSync(resolve(here, '../../src'), join(dir, 'src'), { recursive: true });
    mkdirSync(join(dir, 'test/qemu'), { recursive: true });
    const entry = join(dir, 'test/qemu/xfrm-kernel.test.js');
    copyFileSync(fileURLToPath(import.meta.url), entry);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(join(repoRoot(), 'node_modules'), join(dir, 'node_modules'));
    return { dir, entry };
  }

  const skip = await preconditions();
  if (skip) {
    test('XfrmClient on a kernel with ESP (qemu)', (t) => t.skip(skip));
    return;
  }

  test('XfrmClient on a kernel with ESP (qemu): SAs, policies, traffic, counters, EXPIRE, ACQUIRE, ESN, UDP encapsulation, flushOurs', { timeout: 240_000 }, async (t) => {
    const snap = snapshot();
    const script = [
      'set -u',
      'stamp() { echo "@@stamp $1 $(cut -d" " -f1 /proc/uptime)"; }',
      'stamp start',
      netnsPairSnippet(),
      'ip -n a addr add 10.99.1.2/32 dev lo',
      'ip -n b addr add 10.99.2.2/32 dev lo',
      `ip -n a route add 10.99.2.0/24 via ${B}`,
      `ip -n a route add 10.99.3.0/24 via ${B}`,
      `ip -n b route add 10.99.1.0/24 via ${A}`,
      'ip -n a addr add 2001:db8::1/64 dev vetha nodad',
      'ip -n b addr add 2001:db8::2/64 dev vethb nodad',
      'ip netns exec a sysctl -qw net.core.xfrm_acq_expires=2',
      // another daemon's entries (reqid 1): flushOurs must leave them
      `ip -n a xfrm state add src ${A} dst 10.99.0.9 proto esp spi 0x7777 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x${'ab'.repeat(20)} 128`,
      `ip -n a xfrm policy add src 10.88.0.0/16 dst 10.89.0.0/16 dir out tmpl src ${A} dst 10.99.0.9 proto esp reqid 1 mode tunnel`,
      'stamp setup',
      section('guest', `${shq(process.execPath)} ${shq(snap.entry)}`),
      'stamp guest',
      section('after-a-state', 'ip -n a xfrm state'),
      section('after-a-policy', 'ip -n a xfrm policy'),
      section('after-b-state', 'ip -n b xfrm state'),
      section('after-b-policy', 'ip -n b xfrm policy'),
    ].join('\n');
    let r: VmResult;
    try {
      r = await runInVm(script, { timeoutMs: VM_TIMEOUT_MS, memoryMb: 1024, env: { [GUEST_ENV]: '1' }, modules: [...DEFAULT_VM_MODULES, 'cbc', 'sha256_generic'] });
    } finally {
      rmSync(snap.dir, { recursive: true, force: true });
    }
    const stamps = Object.fromEntries([...r.output.matchAll(/^@@stamp (\S+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
    t.diagnostic(`VM ${r.kver}: total ${r.durationMs} ms, boot ${String(r.bootMs)} ms; guest uptime stamps ${JSON.stringify(stamps)}`);
    const ctx = `VM: code=${String(r.code)} timedOut=${r.timedOut} ${r.durationMs} ms\n--- output ---\n${r.output || r.console}`;
    assert.equal(r.timedOut, false, `VM timed out\n${ctx}`);
    assert.equal(r.code, 0, `guest script failed\n${ctx}`);
    const secs = parseSections(r.output);
    const get = (name: string): Section => lastSection(secs, name);
    const line = /^@@xfrm-result (.*)$/m.exec(get('guest').text);
    assert.ok(line?.[1], `no result from the guest program\n${ctx}`);
    const res = JSON.parse(line[1]) as GuestResult;
    assert.deepEqual(res.errors, {}, `guest steps failed\n${ctx}`);
    const s = res.steps as Record<string, Record<string, unknown>>;
    const step = (n: string): Record<string, unknown> => s[n] ?? assert.fail(`step ${n} missing`);
    const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

    // ALLOCSPI: SPIs in range, a larval SA with our reqid, a second allocation its own SPI
    const alloc = step('alloc') as { spiAB: number; spiBA: number; again: number; larvalB: { reqid: number; mode: number; spi: number } };
    for (const spi of [alloc.spiAB, alloc.spiBA, alloc.again]) assert.ok(spi >= 0x100, `SPI ${spi}`);
    assert.notEqual(alloc.again, alloc.spiAB);
    assert.equal(alloc.larvalB.reqid, R_MAIN);
    assert.equal(alloc.larvalB.spi, alloc.spiAB);

    // the installed SA holds our key
    const inst = step('install') as { key: string; name: string; icv: number; softBytes: string };
    assert.equal(inst.key, hexOf(K_AB));
    assert.equal(inst.name, 'rfc4106(gcm(aes))');
    assert.equal(inst.icv, 128);
    assert.equal(inst.softBytes, String(SOFT_BYTES));

    // traffic through the tunnel, counted by the kernel and by usage() alike
    const ping = step('ping') as { code: number; out: string };
    assert.equal(ping.code, 0, `ping through the tunnel failed: ${ping.out}\n${ctx}`);
    assert.match(ping.out, /3 packets received/);
    const usage = step('usage') as Record<string, { bytes: number; packets: number } | string>;
    const xa = parseXfrmState(usage['xfrmA'] as string);
    const xb = parseXfrmState(usage['xfrmB'] as string);
    const spiHex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
    const find = (list: XfrmSa[], spi: number): XfrmSa => list.find((x) => x.spi === spiHex(spi)) ?? assert.fail(`SPI ${spiHex(spi)} not in ip xfrm state\n${JSON.stringify(list)}`);
    for (const [k, list, spi] of [['aOut', xa, alloc.spiAB], ['aIn', xa, alloc.spiBA], ['bIn', xb, alloc.spiAB], ['bOut', xb, alloc.spiBA]] as const) {
      const u = usage[k] as { bytes: number; packets: number };
      const x = find(list, spi);
      assert.equal(u.packets, 3, `${k}: ${JSON.stringify(u)}`);
      assert.equal(u.packets, x.packets, `${k}: usage() vs ip -s xfrm state`);
      assert.equal(u.bytes, x.bytes, `${k}: usage() vs ip -s xfrm state`);
      assert.ok(x.algs.some((a) => a.startsWith('aead rfc4106(gcm(aes))')), JSON.stringify(x));
      assert.equal(x.mode, 'tunnel');
    }
    const polA = usage['policiesA'] as string;
    for (const dir of ['out', 'in', 'fwd']) assert.match(polA, new RegExp(`dir ${dir} priority \\d+`), polA);

    // events: soft EXPIRE of a's outbound SA, ACQUIRE of the trap, the larval SA's hard EXPIRE
    const ev = step('events') as { a: XfrmEvent[]; b: XfrmEvent[]; raw: { type: number; hex: string }[] };
    const soft = ev.a.find((e) => e.type === 'expire' && e.spi === alloc.spiAB);
    assert.ok(soft && soft.type === 'expire', `no EXPIRE for the soft byte limit: ${JSON.stringify(ev.a)}`);
    assert.equal(soft.hard, false);
    assert.equal(soft.reqid, R_MAIN);
    assert.equal(soft.ours, true);
    assert.ok(soft.bytes >= SOFT_BYTES, JSON.stringify(soft));
    const acq = ev.a.find((e) => e.type === 'acquire');
    assert.ok(acq && acq.type === 'acquire', `no ACQUIRE: ${JSON.stringify(ev.a)}`);
    assert.equal(acq.reqid, R_TRAP);
    assert.equal(acq.dir, 'out');
    assert.deepEqual([acq.saddr, acq.daddr], [A, B]);
    assert.ok(acq.src && acq.dst);
    // (byte strings arrive as hex: see the guest's JSON replacer)
    assert.equal(acq.src.startAddr as unknown as string, '0a630101');
    assert.equal(acq.dst.startAddr as unknown as string, '0a630301');
    assert.equal(acq.dst.endAddr as unknown as string, '0a630301');
    const larval = (step('larval-expire') as { larvalSpi: number }).larvalSpi;
    const lx = ev.a.find((e) => e.type === 'expire' && e.spi === larval);
    assert.ok(lx && lx.type === 'expire' && lx.hard && lx.larval, `no hard EXPIRE of the larval SA ${larval}: ${JSON.stringify(ev.a)}`);
    t.diagnostic(`raw events: ${JSON.stringify(ev.raw.slice(0, 3))}`);

    // ChaCha20-Poly1305 + ESN 4096 + ESP in UDP
    const enc = step('encap-install') as { inB: { flags: number; replayWindow: number; esn: { bmpLen: number; replayWindow: number }; encap: { type: number; sport: number; dport: number }; aead: { name: string; icv: number; key: string } }; outA: { flags: number; esn: { replayWindow: number } }; esnFlag: number; rawGetsaInA: string };
    assert.equal(enc.inB.flags & enc.esnFlag, enc.esnFlag);
    assert.equal(enc.inB.replayWindow, 0);
    assert.deepEqual([enc.inB.esn.bmpLen, enc.inB.esn.replayWindow], [128, 4096]);
    assert.deepEqual([enc.inB.encap.type, enc.inB.encap.sport, enc.inB.encap.dport], [2, 4500, 4500]);
    assert.deepEqual([enc.inB.aead.name, enc.inB.aead.icv, enc.inB.aead.key], ['rfc7539esp(chacha20,poly1305)', 128, hexOf(K_CC_AB)]);
    assert.equal(enc.outA.esn.replayWindow, 1);
    t.diagnostic(`raw GETSA reply (ChaCha20, ESN, encap): ${enc.rawGetsaInA}`);
    const eping = step('encap-ping') as { code: number; out: string };
    assert.equal(eping.code, 0, `ping through the UDP-encapsulated ESN tunnel failed: ${eping.out}\n${ctx}`);
    const eu = step('encap-usage') as Record<string, { bytes: number; packets: number } | string>;
    for (const k of ['aOut', 'bIn', 'bOut', 'aIn']) assert.equal((eu[k] as { packets: number }).packets, 2, `${k}: ${JSON.stringify(eu)}`);
    const ccB = find(parseXfrmState(eu['xfrmB'] as string), 0xcc00ab01);
    assert.equal(ccB.encap, 'espinudp 4500 4500');

    // trap policy present, ping dropped
    const trap = step('trap') as { ping: { code: number }; policies: string };
    assert.notEqual(trap.ping.code, 0);
    assert.match(trap.policies, /dst 10\.99\.3\.0\/24/);

    // algorithms
    const alg = step('algorithms') as Record<string, unknown>;
    assert.deepEqual(alg['integ12'], { crypt: 'cbc(aes)', cryptBits: 128, auth: 'hmac(sha256)', trunc: 128, authKey: hexOf(key(0x40, 32)) });
    assert.deepEqual(alg['integ13'], { crypt: 'cbc(aes)', cryptBits: 128, auth: 'hmac(sha384)', trunc: 192, authKey: hexOf(key(0x41, 48)) });
    assert.deepEqual(alg['integ14'], { crypt: 'cbc(aes)', cryptBits: 128, auth: 'hmac(sha512)', trunc: 256, authKey: hexOf(key(0x42, 64)) });
    assert.deepEqual(alg['v6gcm18'], { name: 'rfc4106(gcm(aes))', icv: 64, family: 10, saddr: '2001:db8::1', daddr: '2001:db8::2' });
    assert.deepEqual(alg['v6gcm19'], { name: 'rfc4106(gcm(aes))', icv: 96, family: 10, saddr: '2001:db8::1', daddr: '2001:db8::2' });
    assert.equal(alg['transport'], 0);
    assert.deepEqual([alg['delSa'], alg['delSaAgain'], alg['gone']], [true, false, true]);

    const cost = step('cost') as { usageUs: number; policyDumpUs: number };
    t.diagnostic(`netlink cost in the TCG guest: usage() ${cost.usageUs.toFixed(1)} µs, policy dump ${cost.policyDumpUs.toFixed(1)} µs`);

    // flushOurs: only the other daemon's state and policy remain
    const flush = step('flush') as { a: { states: number; policies: number }; b: { states: number; policies: number } };
    assert.ok(flush.a.states >= 4 && flush.a.policies >= 7, JSON.stringify(flush));
    const aState = parseXfrmState(get('after-a-state').text);
    assert.deepEqual(aState.map((x) => x.spi), ['0x00007777'], get('after-a-state').text);
    const aPol = get('after-a-policy').text;
    assert.match(aPol, /src 10\.88\.0\.0\/16 dst 10\.89\.0\.0\/16/);
    assert.equal((aPol.match(/^src /gm) ?? []).length, 1, aPol);
    assert.match(aPol, /reqid 1 mode tunnel/);
    assert.equal(get('after-b-state').text.trim(), '');
    assert.equal(get('after-b-policy').text.trim(), '');
  });
}

if (process.env[GUEST_ENV]) await guestMain();
else await hostTest();
