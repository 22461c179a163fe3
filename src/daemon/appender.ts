/**
 * Appending lines to a file opened once (so that running out of file descriptors later cannot
 * stop it), from event handlers that must never throw: the first failed write (disk full, EIO,
 * ...) closes the file and is reported once; later appends do nothing.
 */
import { closeSync, writeSync } from 'node:fs';

export type WriteFn = (fd: number, data: Uint8Array) => number;

export class Appender {
  private fd: number | undefined;

  constructor(
    fd: number,
    /** Told once, with the error of the failed write. */
    private readonly onFailure: (error: unknown) => void,
    private readonly write: WriteFn = (f, data) => writeSync(f, data),
  ) {
    this.fd = fd;
  }

  /** False once a write failed, or after close(). */
  get active(): boolean {
    return this.fd !== undefined;
  }

  /** Write all of `text` (a short write is continued); never throws. */
  append(text: string): void {
    const fd = this.fd;
    if (fd === undefined) return;
    const data = Buffer.from(text, 'utf8');
    try {
      for (let off = 0; off < data.length; ) {
        const n = this.write(fd, data.subarray(off));
        if (n <= 0) throw new Error('nothing written');
        off += n;
      }
    } catch (e) {
      this.close();
      this.onFailure(e);
    }
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {
      /* nothing left to do with it */
    }
  }
}
