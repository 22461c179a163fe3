/**
 * Cost of installing one Child SA in the kernel: ALLOCSPI for the inbound SPI, the inbound
 * and outbound ESP states (AES-256-GCM-16, tunnel mode) and the out/in/fwd policies, through
 * our XFRM netlink client (src/dataplane/xfrm/client.ts) versus `ip -batch -` with the same five
 * commands on stdin (keys off argv; `ip xfrm state add` per SA would put them in argv). Removal
 * too. Printed only.
 *
 * This machine's kernel has no ESP (NEWSA is refused), so the measurement runs under the stock
 * Debian 6.1 kernel in qemu (test/qemu/vm.ts): TCG emulation inflates every figure (system
 * calls and process start-up alike); compare within a run. Needs root and the qemu cache
 * (bash scripts/qemu-kernel.sh).
 *
 *   npx tsc -p . && node dist/bench/xfrm-install.js [--children N]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const GUEST_ENV = 'PQIKE_XFRM_BENCH_GUEST';
const LOCAL = '10.99.0.1';
const REMOTE = '10.99.0.2';
const REQID0 = 0x50710100;

interface Stats {
  readonly n: number;
  readonly medianUs: number;
  readonly p90Us: number;
  readonly meanUs: number;
}

function stats(us: number[]): Stats {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, medianUs: at(0.5), p90Us: at(0.9), meanUs: s.reduce((x, y) => x + y, 0) / Math.max(1, s.length) };
}

const nowUs = (): number => Number(process.hrtime.bigint()) / 1000;

async function guest(children: number): Promise<void> {
  const { XfrmClient } = await import('../src/dataplane/xfrm/client.js');
  const { parseTrafficSelector } = await import('../src/engine/traffic-selectors.js');
  type Spec = import('../src/engine/dataplane.js').EspSaSpec;
  type Pol = import('../src/engine/dataplane.js').PolicySpec;
  const c = new XfrmClient();
  const ts = (i: number, side: number): string => `10.${100 + side}.${i >> 8}.${i & 0xff}/32`;
  const sa = (reqid: number, direction: 'in' | 'out', spi: number, key: Uint8Array, i: number): Spec => ({
    connection: 'bench', child: 'c', reqid, direction, spi,
    src: { address: direction === 'in' ? REMOTE : LOCAL, port: 500 }, dst: { address: direction === 'in' ? LOCAL : REMOTE, port: 500 },
    encap: false, mode: 'tunnel', encr: { id: 20, keyBits: 256, key }, esn: false, replayWindow: direction === 'in' ? 128 : 0,
    localTs: [parseTrafficSelector(ts(i, 0))], remoteTs: [parseTrafficSelector(ts(i, 1))], limits: {},
  });
  const pol = (reqid: number, i: number): Pol => ({ connection: 'bench', child: 'c', reqid, mode: 'tunnel', local: LOCAL, remote: REMOTE, localTs: [parseTrafficSelector(ts(i, 0))], remoteTs: [parseTrafficSelector(ts(i, 1))] });

  // ---- netlink (ours)
  const nlAdd: number[] = [];
  const nlParts = { alloc: [] as number[], saIn: [] as number[], saOut: [] as number[], policies: [] as number[] };
  const nlDel: number[] = [];
  const made: { reqid: number; spiIn: number; spiOut: number; i: number }[] = [];
  for (let i = 0; i < children; i++) {
    const reqid = REQID0 + i;
    const kIn = randomBytes(36);
    const kOut = randomBytes(36);
    const spiOut = 0x10000000 + i;
    const t0 = nowUs();
    const spiIn = c.allocSpi(REMOTE, LOCAL, reqid);
    const t1 = nowUs();
    c.addSa(sa(reqid, 'in', spiIn, kIn, i));
    const t2 = nowUs();
    c.addSa(sa(reqid, 'out', spiOut, kOut, i));
    const t3 = nowUs();
    c.addPolicies(pol(reqid, i));
    const t4 = nowUs();
    kIn.fill(0);
    kOut.fill(0);
    nlAdd.push(t4 - t0);
    nlParts.alloc.push(t1 - t0);
    nlParts.saIn.push(t2 - t1);
    nlParts.saOut.push(t3 - t2);
    nlParts.policies.push(t4 - t3);
    made.push({ reqid, spiIn, spiOut, i });
  }
  const installed = { states: c.listStates({ onlyOurs: true }).length, policies: c.listPolicies({ onlyOurs: true }).length };
  for (const m of made) {
    const t0 = nowUs();
    c.delSa(m.spiIn, LOCAL, m.reqid);
    c.delSa(m.spiOut, REMOTE, m.reqid);
    c.delPolicies(pol(m.reqid, m.i));
    nlDel.push(nowUs() - t0);
  }

  // ---- ip -batch - (the same five commands per Child SA on stdin)
  const ipAdd: number[] = [];
  const ipDel: number[] = [];
  const ipErrors: string[] = [];
  const ip = (text: string): number => {
    const t0 = nowUs();
    const r = spawnSync('ip', ['-batch', '-'], { input: text, encoding: 'utf8' });
    const dt = nowUs() - t0;
    if (r.status !== 0 && ipErrors.length < 3) ipErrors.push(`${r.stderr}`.trim());
    return dt;
  };
  for (let i = 0; i < children; i++) {
    const reqid = REQID0 + children + i;
    const spiIn = 0x20000000 + i;
    const spiOut = 0x30000000 + i;
    const l = ts(i, 0);
    const r = ts(i, 1);
    const key = (): string => `0x${randomBytes(36).toString('hex')}`;
    const tmpl = (src: string, dst: string): string => `tmpl src ${src} dst ${dst} proto esp reqid ${reqid} mode tunnel`;
    ipAdd.push(
      ip(
        [
          `xfrm state add src ${REMOTE} dst ${LOCAL} proto esp spi ${spiIn} reqid ${reqid} mode tunnel replay-window 128 aead rfc4106(gcm(aes)) ${key()} 128 sel src ${r} dst ${l}`,
          `xfrm state add src ${LOCAL} dst ${REMOTE} proto esp spi ${spiOut} reqid ${reqid} mode tunnel aead rfc4106(gcm(aes)) ${key()} 128 sel src ${l} dst ${r}`,
          `xfrm policy add src ${l} dst ${r} dir out priority 375423 ${tmpl(LOCAL, REMOTE)}`,
          `xfrm policy add src ${r} dst ${l} dir in priority 375423 ${tmpl(REMOTE, LOCAL)}`,
          `xfrm policy add src ${r} dst ${l} dir fwd priority 375423 ${tmpl(REMOTE, LOCAL)}`,
          '',
        ].join('\n'),
      ),
    );
    ipDel.push(
      ip(
        [
          `xfrm state delete src ${REMOTE} dst ${LOCAL} proto esp spi ${spiIn}`,
          `xfrm state delete src ${LOCAL} dst ${REMOTE} proto esp spi ${spiOut}`,
          `xfrm policy delete src ${l} dst ${r} dir out`,
          `xfrm policy delete src ${r} dst ${l} dir in`,
          `xfrm policy delete src ${r} dst ${l} dir fwd`,
          '',
        ].join('\n'),
      ),
    );
  }
  // `ip` once, for the process start-up alone
  const ipNoop: number[] = [];
  for (let i = 0; i < Math.min(children, 50); i++) ipNoop.push(ip('\n'));
  const left = c.flushOurs();
  c.close();
  const result = {
    children,
    installedByNetlink: installed,
    netlink: { add: stats(nlAdd), alloc: stats(nlParts.alloc), saIn: stats(nlParts.saIn), saOut: stats(nlParts.saOut), policies: stats(nlParts.policies), del: stats(nlDel) },
    ipBatch: { add: stats(ipAdd), del: stats(ipDel), emptyBatch: stats(ipNoop), errors: ipErrors },
    leftAfter: left,
  };
  console.log(`@@bench ${JSON.stringify(result)}`);
}

async function host(): Promise<void> {
  const { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync, copyFileSync } = await import('node:fs');
  const { dirname, join, resolve } = await import('node:path');
  const { runInVm, shq } = await import('../test/qemu/vm.js');
  const { repoRoot } = await import('../test/qemu/setup.js');
  const i = process.argv.indexOf('--children');
  const children = i > 0 ? Number(process.argv[i + 1]) : 200;
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync('/var/tmp/pqike-xfrm-bench-');
  cpSync(resolve(here, '../src'), join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'bench'));
  const entry = join(dir, 'bench/xfrm-install.js');
  copyFileSync(fileURLToPath(import.meta.url), entry);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(repoRoot(), 'node_modules'), join(dir, 'node_modules'));
  try {
    const r = await runInVm(`${shq(process.execPath)} ${shq(entry)} --children ${children}`, { timeoutMs: 300_000, env: { [GUEST_ENV]: '1' } });
    const m = /^@@bench (.*)$/m.exec(r.output);
    if (!m) {
      console.error(`no result (code ${String(r.code)}):\n${r.output || r.console}`);
      process.exitCode = 1;
      return;
    }
    const res = JSON.parse(m[1] as string) as { children: number; installedByNetlink: unknown; netlink: Record<string, Stats>; ipBatch: Record<string, Stats> & { errors: string[] }; leftAfter: unknown };
    const f = (s: Stats | undefined): string => (s ? `median ${s.medianUs.toFixed(0)} µs, p90 ${s.p90Us.toFixed(0)} µs, mean ${s.meanUs.toFixed(0)} µs` : '-');
    console.log(`Child SA install (ALLOCSPI + 2 ESP states + out/in/fwd policies), ${res.children} children, Debian ${r.kver} under qemu TCG (figures inflated by emulation):`);
    console.log(`  our netlink, install:   ${f(res.netlink['add'])}`);
    console.log(`    ALLOCSPI ${f(res.netlink['alloc'])}`);
    console.log(`    SA in    ${f(res.netlink['saIn'])}`);
    console.log(`    SA out   ${f(res.netlink['saOut'])}`);
    console.log(`    policies ${f(res.netlink['policies'])}`);
    console.log(`  our netlink, removal:   ${f(res.netlink['del'])}`);
    console.log(`  ip -batch -, install:   ${f(res.ipBatch['add'])}`);
    console.log(`  ip -batch -, removal:   ${f(res.ipBatch['del'])}`);
    console.log(`  ip -batch - (empty):    ${f(res.ipBatch['emptyBatch'])}  (process start-up alone)`);
    const a = res.netlink['add'];
    const b = res.ipBatch['add'];
    if (a && b) console.log(`  ratio (median install): ip -batch / netlink = ${(b.medianUs / a.medianUs).toFixed(1)}x`);
    if (res.ipBatch.errors.length > 0) console.log(`  ip errors: ${res.ipBatch.errors.join(' | ')}`);
    console.log(`  netlink installed ${JSON.stringify(res.installedByNetlink)} before removal; flushOurs at the end: ${JSON.stringify(res.leftAfter)}; VM ${r.durationMs} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[GUEST_ENV]) {
  const i = process.argv.indexOf('--children');
  await guest(i > 0 ? Number(process.argv[i + 1]) : 200);
} else await host();
