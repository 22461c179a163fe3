/**
 * The daemon's log output: the lines of one event-loop turn go out in one write.
 *
 * process.stderr is synchronous on Linux for files, pipes and the journal's socket, so a line
 * written as it is made costs one write(2) each; a loaded responder makes several lines per
 * IKE SA, each turn of the loop handles several datagrams, and those system calls were the
 * largest part of what the log cost per SA (bench/responder-compare.js --cpu-prof). charon's
 * file logger buffers through stdio the same way unless told `flush_line`.
 *
 * Lines are kept in order and go out when the turn's I/O is done (setImmediate), as soon as
 * MAX_PENDING_CHARS are waiting, and on flush(): the daemon flushes when it stops and at
 * process exit (also after an uncaught exception), so no line of a crash is lost.
 */

/** What a line is written to: process.stderr, or a test's collector. */
export interface LineSink {
  write(text: string): unknown;
}

/** Characters (UTF-16 code units; octets for the ASCII lines the log makes) waiting that make a write at once, before the turn's end. */
export const MAX_PENDING_CHARS = 64 * 1024;

export class TurnBatchedOutput implements LineSink {
  private pending: string[] = [];
  private size = 0;
  private scheduled = false;
  private readonly onExit = (): void => this.flush();

  constructor(
    private readonly out: LineSink,
    /** Runs `f` once this turn's I/O callbacks are done; unref'd, so it never keeps the process up. */
    private readonly schedule: (f: () => void) => void = (f) => setImmediate(f).unref(),
    private readonly maxPending = MAX_PENDING_CHARS,
  ) {}

  write(text: string): boolean {
    this.pending.push(text);
    this.size += text.length;
    if (this.size >= this.maxPending) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    return true;
  }

  /** Write what is waiting, now. */
  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join('');
    this.pending = [];
    this.size = 0;
    this.out.write(text);
  }

  /** Flush at process exit (the 'exit' event comes after an uncaught exception too). */
  flushAtExit(): () => void {
    process.on('exit', this.onExit);
    return () => {
      process.off('exit', this.onExit);
    };
  }
}
