/**
 * Run a shell script as root inside a stock Debian kernel under qemu (TCG).
 *
 * Why: this machine's kernel has XFRM but no ESP, so daemons that need kernel
 * ESP (libreswan's pluto; charon with kernel-netlink) cannot install Child
 * SAs here. The VM boots the kernel prepared by setup.ts (a Debian
 * linux-image-6.1.0-*-amd64 package) and sees the host's own files:
 *
 * - stage 1 (initramfs /init, busybox): loads virtio/9p/overlay, mounts the
 *   host root `/` over virtio-9p read-only as the lower layer of an overlay
 *   whose upper layer is a tmpfs, mounts /proc /sys /dev /dev/pts /dev/shm
 *   /tmp /run and the per-run share (9p, writable) at /run/pqike-vm, then
 *   switch_root's into stage 2 there;
 * - stage 2 (stage2.sh written by runInVm): binds the kernel's module tree to
 *   /lib/modules/KVER and the cache's unpacked libreswan over
 *   /usr/libexec/ipsec and /usr/sbin/ipsec (so `ipsec …` is libreswan's in the
 *   guest; on the host the package would conflict with strongSwan's), blacklists the SIMD crypto modules, brings lo up,
 *   `modprobe`s `opts.modules`, prints `PQIKE-VM-BEGIN`, runs the script with
 *   bash in `opts.cwd` (default: the host's cwd), prints `PQIKE-VM-END <code>`,
 *   writes the code to the share and powers off.
 *
 * So node, ip, strongSwan, libreswan and the repository (dist/) are the
 * host's files; writes inside the guest land in its tmpfs and vanish. Files
 * the script writes to $PQIKE_VM_OUT (= /run/pqike-vm/out) reach the host
 * (VmResult.outDir, with keepDir). No network device (`-nic none`): tests use
 * namespaces + veth inside the guest.
 *
 * Output comes over the serial console (qemu stdio), kernel messages are
 * quietened (loglevel=1). qemu is always SIGKILLed on timeout and when this
 * process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareKernel, repoRoot, type KernelCache } from './setup.js';

/** Modules loaded in stage 2 by default: IPsec (XFRM netlink, ESP, generic crypto), veth, tun. */
export const DEFAULT_VM_MODULES: readonly string[] = [
  'xfrm_user',
  'esp4',
  'esp6',
  'veth',
  'tun',
  'authenc',
  'echainiv',
  'seqiv',
  'gcm',
  'ghash_generic',
  'ctr',
  'sha512_generic',
  'chacha20poly1305',
];

/**
 * Modules that must not be loaded: SIMD crypto drivers, each ~9 s to load
 * (self-tests) under emulation and no faster afterwards. They are
 * blacklisted for modprobe (so crypto-* aliases fall back to the generic C
 * code) and refused by the kernel (module_blacklist=).
 */
export const BLACKLISTED_MODULES: readonly string[] = [
  'aesni_intel',
  'ghash_clmulni_intel',
  'sha1_ssse3',
  'sha256_ssse3',
  'sha512_ssse3',
  'crc32c_intel',
  'crc32_pclmul',
  'crct10dif_pclmul',
  'polyval_clmulni',
  'chacha_x86_64',
  'poly1305_x86_64',
  'curve25519_x86_64',
  'blake2s_x86_64',
  'blake2b_x86_64',
  'camellia_aesni_avx2',
  'camellia_aesni_avx_x86_64',
  'serpent_avx2',
  'serpent_avx_x86_64',
  'serpent_sse2_x86_64',
  'twofish_avx_x86_64',
  'cast5_avx_x86_64',
  'cast6_avx_x86_64',
  'sm4_aesni_avx2_x86_64',
  'sm4_aesni_avx_x86_64',
  'aria_aesni_avx_x86_64',
  'nhpoly1305_avx2',
  'nhpoly1305_sse2',
  'des3_ede_x86_64',
];

export interface VmOptions {
  /** qemu is SIGKILLed after this long (boot included). */
  readonly timeoutMs: number;
  /** Guest memory. Default 1024. */
  readonly memoryMb?: number;
  /** Virtual CPUs (multi-threaded TCG). Default 2. */
  readonly cpus?: number;
  /** Modules to modprobe before the script runs. Default DEFAULT_VM_MODULES. */
  readonly modules?: readonly string[];
  /** Environment variables for the script. */
  readonly env?: Readonly<Record<string, string>>;
  /** Directory the script starts in (a host path; the guest sees the host's files). Default process.cwd(). */
  readonly cwd?: string;
  /** Keep the per-run share directory (script, stage2, out/) for post-mortems. Default false. */
  readonly keepDir?: boolean;
  /** Called with each chunk of console output as it arrives. */
  readonly onOutput?: (chunk: string) => void;
  /** Size of the tmpfs upper layer, as for mount -o size=. Default 50%. */
  readonly upperSize?: string;
  /** Extra kernel command line words. */
  readonly extraKernelArgs?: readonly string[];
}

export interface VmResult {
  /** Exit status of the script; null when it did not finish (timeout, crash, boot failure). */
  readonly code: number | null;
  /** Script output (stdout and stderr interleaved, \r removed), between the BEGIN and END markers. */
  readonly output: string;
  /** Everything qemu's serial console printed (boot, stage 1/2 messages, markers). */
  readonly console: string;
  /** From starting qemu until qemu exited. */
  readonly durationMs: number;
  /** From starting qemu until the script started (PQIKE-VM-BEGIN); null when it never did. */
  readonly bootMs: number | null;
  readonly timedOut: boolean;
  /** The per-run share directory on the host (removed unless keepDir). */
  readonly dir: string;
  /** $PQIKE_VM_OUT of the guest on the host: DIR/out (removed unless keepDir). */
  readonly outDir: string;
  /** Kernel release that ran. */
  readonly kver: string;
}

export const BEGIN_MARKER = 'PQIKE-VM-BEGIN';
export const END_MARKER = 'PQIKE-VM-END';
/** Where the share is mounted in the guest. */
export const GUEST_SHARE = '/run/pqike-vm';

/** Single-quote a string for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function renderStage2(kernel: KernelCache, opts: VmOptions): string {
  const modules = opts.modules ?? DEFAULT_VM_MODULES;
  const env = Object.entries(opts.env ?? {})
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${JSON.stringify(k)}`);
      return `export ${k}=${shq(v)}`;
    })
    .join('\n');
  const cwd = opts.cwd ?? process.cwd();
  return `#!/bin/sh
# pqike qemu harness, stage 2 (generated by test/qemu/vm.ts)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
V=${GUEST_SHARE}
export PQIKE_VM=1 PQIKE_VM_OUT=$V/out PQIKE_VM_KVER=${shq(kernel.kver)}
mkdir -p $V/out
hostname pqike-vm
mkdir -p /lib/modules/${kernel.kver}
mount --bind ${shq(kernel.moddir)} /lib/modules/${kernel.kver} || echo "PQIKE-VM: cannot bind the module tree"
mkdir -p /etc/modprobe.d
for m in ${BLACKLISTED_MODULES.join(' ')}; do echo "blacklist $m"; done >/etc/modprobe.d/pqike-qemu-blacklist.conf
# libreswan from the cache (not installed on the host: it conflicts with strongSwan's packages)
L=${shq(kernel.libreswan)}
if [ -x "$L/usr/libexec/ipsec/pluto" ]; then
  mkdir -p /usr/libexec/ipsec /etc/ipsec.d /var/lib/ipsec/nss
  mount --bind "$L/usr/libexec/ipsec" /usr/libexec/ipsec
  [ -e /usr/sbin/ipsec ] || : >/usr/sbin/ipsec
  mount --bind "$L/usr/sbin/ipsec" /usr/sbin/ipsec
fi
# The guest's /tmp is a fresh tmpfs: a checkout under the host's /tmp (CI clones anywhere)
# would vanish behind it. A non-recursive bind of / still shows the overlay (host files)
# under it; bind such paths back from there.
for p in ${[...new Set([repoRoot(), cwd])].map(shq).join(' ')}; do
  case "$p" in
    /tmp/*)
      mkdir -p /run/rootview
      mountpoint -q /run/rootview || mount --bind / /run/rootview
      mkdir -p "$p" && mount --bind "/run/rootview$p" "$p" || echo "PQIKE-VM: cannot bind $p"
      ;;
  esac
done
ip link set lo up
${modules.length > 0 ? `modprobe -a ${modules.map(shq).join(' ')} || echo "PQIKE-VM: modprobe failed"` : ''}
${env}
echo "${BEGIN_MARKER} $(cut -d' ' -f1 /proc/uptime)"
cd ${shq(cwd)} || cd /
bash $V/script.sh </dev/null 2>&1
rc=$?
echo "${END_MARKER} $rc"
echo $rc >$V/status
sync
/bin/busybox poweroff -f 2>/dev/null
echo o >/proc/sysrq-trigger
while :; do /bin/busybox sleep 1; done
`;
}

const liveQemus = new Set<ChildProcess>();
let exitHandlerInstalled = false;
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const q of liveQemus) q.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const q of liveQemus) q.kill('SIGKILL');
      process.kill(process.pid, sig);
    });
  }
}

/** qemu command line for one run (exported for tests and debugging). */
export function qemuArgs(kernel: KernelCache, dir: string, opts: VmOptions): string[] {
  const append = [
    'console=ttyS0',
    'quiet',
    'loglevel=1',
    'panic=-1',
    'cryptomgr.notests=1',
    'mitigations=off',
    'tsc=reliable',
    'no_timer_check',
    `module_blacklist=${BLACKLISTED_MODULES.join(',')}`,
    `pqike.upper=${opts.upperSize ?? '50%'}`,
    ...(opts.extraKernelArgs ?? []),
  ].join(' ');
  return [
    '-machine', 'q35',
    '-accel', 'tcg',
    '-m', String(opts.memoryMb ?? 1024),
    '-smp', String(opts.cpus ?? 2),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
    '-nic', 'none',
    '-kernel', kernel.vmlinux,
    '-initrd', kernel.initramfs,
    '-append', append,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${dir},mount_tag=pqvm,security_model=none,multidevs=remap`,
    '-device', 'virtio-rng-pci',
  ];
}

/** Split console text at the markers. */
export function parseConsole(consoleText: string): { output: string; code: number | null; begun: boolean } {
  const text = consoleText.replace(/\r/g, '');
  const b = new RegExp(`^${BEGIN_MARKER} .*$`, 'm').exec(text);
  if (!b) return { output: '', code: null, begun: false };
  const rest = text.slice(b.index + b[0].length + 1);
  const e = new RegExp(`^${END_MARKER} (\\d+)$`, 'm').exec(rest);
  if (!e) return { output: rest, code: null, begun: true };
  return { output: rest.slice(0, e.index), code: Number(e[1]), begun: true };
}

/**
 * Boot the VM, run `script` (bash) as root inside, and return its exit code
 * and output. Prepares the kernel cache first (setup.ts) if needed.
 */
export async function runInVm(script: string, opts: VmOptions): Promise<VmResult> {
  const { kernel } = await prepareKernel();
  installExitHandler();
  const dir = mkdtempSync(join(tmpdir(), 'pqike-vm-'));
  const outDir = join(dir, 'out');
  mkdirSync(outDir);
  writeFileSync(join(dir, 'stage2.sh'), renderStage2(kernel, opts), { mode: 0o755 });
  writeFileSync(join(dir, 'script.sh'), script, { mode: 0o755 });
  const started = Date.now();
  let consoleText = '';
  let bootMs: number | null = null;
  let timedOut = false;
  const child = spawn('qemu-system-x86_64', qemuArgs(kernel, dir, opts), { stdio: ['ignore', 'pipe', 'pipe'] });
  liveQemus.add(child);
  const onData = (d: string): void => {
    consoleText += d;
    if (bootMs === null && consoleText.includes(BEGIN_MARKER)) bootMs = Date.now() - started;
    opts.onOutput?.(d);
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  try {
    await new Promise<void>((resolvePromise, reject) => {
      child.on('error', reject);
      child.on('close', () => resolvePromise());
    });
  } finally {
    clearTimeout(timer);
    liveQemus.delete(child);
  }
  const durationMs = Date.now() - started;
  const parsed = parseConsole(consoleText);
  let code = parsed.code;
  const statusPath = join(dir, 'status');
  if (code === null && existsSync(statusPath)) {
    const n = Number(readFileSync(statusPath, 'utf8').trim());
    if (Number.isInteger(n)) code = n;
  }
  if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  return {
    code,
    output: parsed.output,
    console: consoleText.replace(/\r/g, ''),
    durationMs,
    bootMs,
    timedOut,
    dir,
    outDir,
    kver: kernel.kver,
  };
}

/** Like runInVm, but throws (with the console text) unless the script exited 0. */
export async function runInVmOrThrow(script: string, opts: VmOptions): Promise<VmResult> {
  const r = await runInVm(script, opts);
  if (r.code !== 0) {
    throw new Error(
      `script in VM ${r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exited ${String(r.code)}`}` +
        ` (${r.durationMs} ms)\n--- console ---\n${r.console}`,
    );
  }
  return r;
}
