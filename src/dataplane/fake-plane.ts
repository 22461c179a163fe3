/**
 * The recording fake data plane (`data_plane: fake`): it keeps what it would have installed
 * (for tests, and to negotiate without protecting traffic), with no key material, optionally
 * journals each command, and counts nothing.
 */
import { hex32 } from '../engine/util.js';
import { openSync } from 'node:fs';
import { Appender } from '../daemon/appender.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import type { DataPlaneCommand, PolicySpec } from '../engine/dataplane.js';
import type { TrafficSelector } from '../wire/types.js';
import type { DataPlane } from './plane-api.js';

export interface InstalledSa {
  readonly conn: string;
  readonly child: string;
  readonly direction: 'in' | 'out';
  readonly spi: string;
  readonly reqid: number;
  readonly src: string;
  readonly dst: string;
  readonly mode: string;
  readonly encap: boolean;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
}

/**
 * What is kept of an SA: the command's fields without keys; selectors as they came (shared with
 * the engine's), made text only when asked for (installed(), the journal), not per SA.
 */
interface KeptSa extends Omit<InstalledSa, 'spi' | 'localTs' | 'remoteTs'> {
  readonly spi: number;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
}

function saView(k: KeptSa): InstalledSa {
  return { ...k, spi: hex32(k.spi), localTs: k.localTs.map(formatSelector), remoteTs: k.remoteTs.map(formatSelector) };
}

function policyView(p: PolicySpec): object {
  return { conn: p.connection, child: p.child, reqid: p.reqid, mode: p.mode, local: p.local, remote: p.remote, localTs: p.localTs.map(formatSelector), remoteTs: p.remoteTs.map(formatSelector) };
}

export class RecordingDataPlane implements DataPlane {
  readonly kind = 'fake';
  private readonly sas = new Map<string, KeptSa>();
  private readonly policies = new Map<number, PolicySpec>();
  private readonly traps = new Map<number, PolicySpec>();

  private readonly journal?: Appender;

  /**
   * `journal`: optional file receiving one JSON line per command (for tests), opened now and
   * kept open; a failure to open or write it is reported once and never thrown.
   */
  constructor(journal?: string, onJournalFailure: (message: string) => void = () => undefined) {
    if (journal === undefined) return;
    const failed = (e: unknown): void => onJournalFailure(`data plane journal ${journal} stopped: ${e instanceof Error ? e.message : String(e)}`);
    try {
      this.journal = new Appender(openSync(journal, 'a'), failed);
    } catch (e) {
      failed(e);
    }
  }

  /** One journal line; `data` is only made when there is a journal. */
  private note(op: string, data: () => object): void {
    this.journal?.append(`${JSON.stringify({ op, ...data() })}\n`);
  }

  apply(cmd: DataPlaneCommand): undefined {
    switch (cmd.op) {
      case 'add-sa': {
        const a = cmd.sa;
        const sa: KeptSa = {
          conn: a.connection,
          child: a.child,
          direction: a.direction,
          spi: a.spi,
          reqid: a.reqid,
          src: a.src.address,
          dst: a.dst.address,
          mode: a.mode,
          encap: a.encap,
          localTs: a.localTs,
          remoteTs: a.remoteTs,
        };
        this.sas.set(`${a.direction}/${a.spi}`, sa);
        this.note(cmd.op, () => saView(sa));
        return undefined;
      }
      case 'del-sa': {
        const sa = this.sas.get(`${cmd.direction}/${cmd.spi}`);
        this.sas.delete(`${cmd.direction}/${cmd.spi}`);
        this.note(cmd.op, () => ({ conn: sa?.conn, direction: cmd.direction, spi: hex32(cmd.spi), reqid: cmd.reqid }));
        return undefined;
      }
      case 'update-sa': {
        const sa = this.sas.get(`out/${cmd.sa.spi}`);
        if (sa) this.sas.set(`out/${cmd.sa.spi}`, { ...sa, dst: cmd.sa.dst.address });
        this.note(cmd.op, () => ({ conn: cmd.sa.connection, spi: hex32(cmd.sa.spi), reqid: cmd.sa.reqid, from: cmd.oldDst, to: `${cmd.sa.dst.address}:${cmd.sa.dst.port}` }));
        return undefined;
      }
      case 'add-policies':
      case 'add-trap':
        (cmd.op === 'add-trap' ? this.traps : this.policies).set(cmd.policy.reqid, cmd.policy);
        this.note(cmd.op, () => policyView(cmd.policy));
        return undefined;
      case 'del-policies':
      case 'del-trap':
        (cmd.op === 'del-trap' ? this.traps : this.policies).delete(cmd.policy.reqid);
        this.note(cmd.op, () => policyView(cmd.policy));
        return undefined;
      default:
        // A command of an extension: recorded as it came.
        this.note((cmd as { op: string }).op, () => cmd);
        return undefined;
    }
  }

  installed(): readonly InstalledSa[] {
    return [...this.sas.values()].map(saView);
  }

  async start(): Promise<void> {
    // Nothing to set up.
  }

  usage(): undefined {
    return undefined;
  }

  drops(): Record<string, number> {
    return {};
  }

  async close(): Promise<void> {
    for (const sa of this.sas.values()) this.note('del-sa', () => ({ conn: sa.conn, direction: sa.direction, spi: hex32(sa.spi), reqid: sa.reqid }));
    this.sas.clear();
    for (const p of this.policies.values()) this.note('del-policies', () => policyView(p));
    this.policies.clear();
    for (const p of this.traps.values()) this.note('del-trap', () => policyView(p));
    this.traps.clear();
    this.journal?.close();
  }
}
