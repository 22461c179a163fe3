/**
 * `pqike --version`: the package version (from the package.json of the installed package,
 * found from this file: <pkg>/dist/src/cli/version.js → <pkg>/package.json, in a clone and in
 * an npm-installed tarball alike), the Node version and the ML-KEM and ML-DSA backends.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest package.json named pqike above this file. */
export function packageJsonPath(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: unknown }).name === 'pqike') return p;
      } catch {
        /* not ours */
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export function packageVersion(): string {
  const p = packageJsonPath();
  if (p === undefined) return 'unknown';
  const v = (JSON.parse(readFileSync(p, 'utf8')) as { version?: unknown }).version;
  return typeof v === 'string' ? v : 'unknown';
}

export interface VersionInfo {
  readonly version: string;
  readonly node: string;
  readonly mlkem: string;
  readonly mldsa: string;
}

export async function versionInfo(): Promise<VersionInfo> {
  const [{ mlkemBackend }, { mlDsaBackend }] = await Promise.all([import('../crypto/mlkem.js'), import('../crypto/signature-keys.js')]);
  return { version: packageVersion(), node: process.version, mlkem: mlkemBackend(), mldsa: mlDsaBackend() };
}

const backend = (b: string): string => (b === 'node' ? 'node (node:crypto, OpenSSL)' : b === 'noble' ? 'noble (@noble/post-quantum)' : b);

/** The first line is exactly `pqike <version>` (the packaging test reads it). */
export function formatVersion(v: VersionInfo): string {
  return `pqike ${v.version}\nNode ${v.node}\nML-KEM backend: ${backend(v.mlkem)}\nML-DSA backend: ${backend(v.mldsa)}\n`;
}
