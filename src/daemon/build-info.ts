/**
 * What is running: pqike's version (from its package.json), Node's, and the ML-KEM backend
 * (Node's own ML-KEM from OpenSSL 3.5, or @noble/post-quantum), for the metrics' build info
 * and anything else that reports it.
 */
import { readFileSync } from 'node:fs';
import { mlkemBackend } from '../crypto/mlkem.js';

export interface BuildInfo {
  readonly version: string;
  readonly node: string;
  readonly mlkem: string;
}

let cached: BuildInfo | undefined;

/** The package's version: package.json three levels up from the compiled file (dist/src/daemon/). */
function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'pqike' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

export function buildInfo(): BuildInfo {
  let mlkem: string;
  try {
    mlkem = mlkemBackend();
  } catch {
    mlkem = 'unavailable';
  }
  cached ??= { version: packageVersion(), node: process.version, mlkem };
  return cached;
}
