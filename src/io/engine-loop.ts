/**
 * The turns of an IkeEngine under a real clock, whatever carries its datagrams (UDP sockets in
 * udp-driver.ts, a worker thread's port in src/daemon/engine-worker.ts): what the engine
 * produced goes out once per turn of the event loop (setImmediate), after everything read in
 * that turn; one timer is armed for the engine's next deadline; certificate paths are
 * validated asynchronously and handed back.
 *
 * An engine with an admission queue (EngineOptions.admissionQueue) runs new IKE SAs' key
 * exchanges in that turn, for a little time when the turn read a full batch (the sockets are
 * not drained: libuv reads at most 32 datagrams per socket per turn) and for longer when it did
 * not: under a flood the sockets are read first, so the kernel's receive queue stays short and
 * the messages of existing SAs are neither dropped nor delayed behind it (RFC 8019 §4).
 */
import type { IkeEngine } from '../engine/engine.js';
import type { EngineEvent, EngineOutput } from '../engine/types.js';
import type { DataPlaneCommand } from '../engine/dataplane.js';

/** Where the engine's outputs go, in the order it made them. */
export interface LoopSink {
  /** Data plane commands, applied before the datagrams of the same flush are sent. */
  dataPlane?(cmd: DataPlaneCommand): void;
  event?(e: EngineEvent): void;
  send(out: Extract<EngineOutput, { kind: 'send' }>): void;
  /** After a flush handed out everything (a sink that batches sends its batch now). */
  flushed?(): void;
}

/** Time per event-loop turn for queued IKE_SA_INIT requests: after a turn that read a full batch, and otherwise. */
const ADMIT_BUDGET_BUSY_MS = 0.5;
const ADMIT_BUDGET_IDLE_MS = 5;
/** libuv's datagrams per socket and turn (uv__udp_recvmsg): a turn that read this many left more behind. */
export const READ_BATCH = 32;

export class EngineLoop {
  private timer?: NodeJS.Timeout;
  private turn?: NodeJS.Immediate;
  /** Datagrams read since the last turn. */
  private readsThisTurn = 0;
  private running = true;

  constructor(
    readonly engine: IkeEngine,
    private readonly sink: LoopSink,
    readonly now: () => number,
  ) {}

  /** A datagram for the engine, read now. */
  receive(data: Uint8Array, from: { address: string; port: number }, local: { address: string; port: number }): void {
    this.engine.receive(data, from, local, this.now());
    this.received();
  }

  /** Run an engine command at the current time and send what it produces. */
  apply<T>(command: (engine: IkeEngine, now: number) => T): T {
    const result = command(this.engine, this.now());
    this.flush();
    return result;
  }

  /**
   * Apply the engine's data plane commands, then send what it produced and report its events;
   * again while handling them made more (a command that failed goes back into the engine).
   * Then re-arm the timer.
   */
  flush(): void {
    for (let round = 0; round < 8; round++) {
      const commands = this.engine.drainDataPlane();
      for (const cmd of commands) this.sink.dataPlane?.(cmd);
      const outputs = this.engine.drain();
      if (commands.length === 0 && outputs.length === 0) break;
      for (const out of outputs) {
        if (out.kind === 'event') this.sink.event?.(out.event);
        else this.sink.send(out);
      }
    }
    this.sink.flushed?.();
    this.runTrust();
    this.arm();
  }

  /**
   * Certificate paths the engine waits for (IkeEngine.drainTrust): pkijs validates them
   * asynchronously; each result goes back with trustSettled(), and what it lets the engine
   * send is flushed.
   */
  private runTrust(): void {
    for (const q of this.engine.drainTrust()) {
      void q.run().then(() => {
        if (!this.running) return;
        this.engine.trustSettled(q, this.now());
        this.flush();
      });
    }
  }

  /** Count a datagram read; one turn after this one's reads: queued admissions within the budget, then flush. */
  received(count = 1): void {
    this.readsThisTurn += count;
    this.schedule();
  }

  private schedule(): void {
    this.turn ??= setImmediate(() => {
      this.turn = undefined;
      if (!this.running) return;
      const busy = this.readsThisTurn >= READ_BATCH;
      this.readsThisTurn = 0;
      const budget = busy ? ADMIT_BUDGET_BUSY_MS : ADMIT_BUDGET_IDLE_MS;
      const start = performance.now();
      try {
        // At least one per turn: a queue that never moves would hold every new peer off.
        do this.engine.admitPending(this.now(), 1);
        while (this.engine.pendingAdmissions > 0 && performance.now() - start < budget);
        this.flush();
      } finally {
        // Even if an event handler threw in flush(): the queue keeps moving.
        if (this.engine.pendingAdmissions > 0) this.schedule();
      }
    });
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.engine.nextDeadline();
    if (at === undefined || !this.running) return;
    this.timer = setTimeout(() => {
      this.engine.tick(this.now());
      this.flush();
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  /** What this turn's datagrams produced still goes out (a response, a data plane command); then nothing more runs. */
  stop(): void {
    if (this.turn) {
      clearImmediate(this.turn);
      this.turn = undefined;
      this.flush();
    }
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
