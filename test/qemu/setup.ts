/**
 * Kernel cache for the qemu harness: a stock Debian 6.1 kernel (which has ESP,
 * unlike this machine's kernel), its module tree, an uncompressed vmlinux, a
 * busybox initramfs and an unpacked libreswan package. The work is done by scripts/qemu-kernel.sh (idempotent;
 * installs missing Debian packages and downloads the kernel package only when
 * run as root); this module runs it once per process and parses its manifest.
 *
 * Cache directory: $PQIKE_QEMU_CACHE, default /var/cache/pqike-qemu.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_QEMU_CACHE = '/var/cache/pqike-qemu';

export interface KernelCache {
  /** Cache directory. */
  readonly cache: string;
  /** Kernel release, e.g. 6.1.0-56-amd64. */
  readonly kver: string;
  /** Debian package it came from, e.g. linux-image-6.1.0-56-amd64. */
  readonly pkg: string;
  /** Uncompressed kernel (ELF with a PVH entry note; qemu -kernel boots it). */
  readonly vmlinux: string;
  /** Stage-1 initramfs (newc cpio, uncompressed). */
  readonly initramfs: string;
  /** Module tree of the kernel (depmod done): CACHE/kernel/lib/modules/KVER. */
  readonly moddir: string;
  /**
   * Unpacked libreswan package (CACHE/libreswan). Not installed on the host:
   * Debian's libreswan conflicts with strongswan-charon; the guest bind-mounts it.
   */
  readonly libreswan: string;
  /** e.g. 4.10 */
  readonly libreswanVersion: string;
}

export function qemuCacheDir(): string {
  return process.env['PQIKE_QEMU_CACHE'] || DEFAULT_QEMU_CACHE;
}

/** Repository root (this file is dist/test/qemu/setup.js or test/qemu/setup.ts). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error(`repository root not found above ${fileURLToPath(import.meta.url)}`);
}

export function kernelScriptPath(): string {
  return join(repoRoot(), 'scripts', 'qemu-kernel.sh');
}

/** Parse manifest.env (KEY=value lines) into a KernelCache. */
export function parseManifest(text: string): KernelCache {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1] as string, m[2] as string);
  }
  const get = (k: string): string => {
    const v = kv.get(k);
    if (!v) throw new Error(`qemu kernel manifest lacks ${k}: ${JSON.stringify(text)}`);
    return v;
  };
  return {
    cache: get('CACHE'),
    kver: get('KVER'),
    pkg: get('PKG'),
    vmlinux: get('VMLINUX'),
    initramfs: get('INITRAMFS'),
    moddir: get('MODDIR'),
    libreswan: get('LIBRESWAN'),
    libreswanVersion: get('LIBRESWAN_VERSION'),
  };
}

export interface PrepareResult {
  readonly kernel: KernelCache;
  /** What the script logged (stderr). */
  readonly log: string;
  readonly durationMs: number;
}

let pending: Promise<PrepareResult> | null = null;

/**
 * Make sure the cache is complete (runs scripts/qemu-kernel.sh; quick when it
 * already is). Memoised per process; a failure is not memoised.
 */
export function prepareKernel(opts: { timeoutMs?: number } = {}): Promise<PrepareResult> {
  if (!pending) {
    pending = runScript(opts.timeoutMs ?? 300_000);
    pending.catch(() => {
      pending = null;
    });
  }
  return pending;
}

function runScript(timeoutMs: number): Promise<PrepareResult> {
  const started = Date.now();
  const script = kernelScriptPath();
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], {
      env: { ...process.env, PQIKE_QEMU_CACHE: qemuCacheDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${script} failed (code=${String(code)} signal=${String(signal)}):\n${err.trim()}`));
        return;
      }
      try {
        resolvePromise({ kernel: parseManifest(out), log: err, durationMs: Date.now() - started });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** Run as a script (`node dist/test/qemu/setup.js`): prepare the cache and print the manifest. */
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  prepareKernel()
    .then((r) => {
      process.stderr.write(r.log);
      console.log(JSON.stringify({ ...r.kernel, durationMs: r.durationMs }, null, 2));
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    });
}
