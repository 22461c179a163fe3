/**
 * Where Child SAs go once keyed. The kernel (XFRM) and userspace ESP data planes come with the
 * data-plane work; until then the daemon uses a recording fake that keeps what it would have
 * installed, so tests and `pqike list-sas` can see it. No key material is recorded.
 */
import { hex32 } from '../engine/util.js';
import { openSync } from 'node:fs';
import { Appender } from './appender.js';
import { formatSelector } from '../engine/traffic-selectors.js';
import type { ChildSaInfo, Endpoint } from '../engine/types.js';

export interface InstalledSa {
  readonly conn: string;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly local: string;
  readonly remote: string;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly mode: string;
  readonly encap: boolean;
}

export interface DataPlane {
  readonly kind: string;
  install(conn: string, child: ChildSaInfo, local: Endpoint, remote: Endpoint): void;
  remove(child: ChildSaInfo): void;
  /** start_action trap: policies that would start the connection on matching traffic. */
  trap(conn: string, child: string, localTs: readonly string[], remoteTs: readonly string[]): void;
  untrap(conn: string): void;
  installed(): readonly InstalledSa[];
  /** Bytes/packets per inbound SPI, where the data plane counts them. */
  usage(spiIn: number): { bytes: number; packets: number } | undefined;
  close(): void;
}


export class RecordingDataPlane implements DataPlane {
  readonly kind = 'fake';
  private readonly sas = new Map<number, InstalledSa>();
  private readonly traps = new Map<string, { child: string; localTs: readonly string[]; remoteTs: readonly string[] }[]>();

  private readonly journal?: Appender;

  /**
   * `journal`: optional file receiving one JSON line per operation (for tests), opened now and
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

  private note(op: string, data: object): void {
    this.journal?.append(`${JSON.stringify({ op, ...data })}\n`);
  }

  install(conn: string, child: ChildSaInfo, local: Endpoint, remote: Endpoint): void {
    const sa: InstalledSa = {
      conn,
      spiIn: hex32(child.spiIn),
      spiOut: hex32(child.spiOut),
      local: local.address,
      remote: remote.address,
      localTs: child.localTs.map(formatSelector),
      remoteTs: child.remoteTs.map(formatSelector),
      mode: child.mode,
      encap: child.encap,
    };
    this.sas.set(child.spiIn, sa);
    this.note('install', sa);
  }

  remove(child: ChildSaInfo): void {
    const sa = this.sas.get(child.spiIn);
    if (!sa) return;
    this.sas.delete(child.spiIn);
    this.note('remove', { conn: sa.conn, spiIn: sa.spiIn, spiOut: sa.spiOut });
  }

  trap(conn: string, child: string, localTs: readonly string[], remoteTs: readonly string[]): void {
    const list = this.traps.get(conn) ?? [];
    list.push({ child, localTs, remoteTs });
    this.traps.set(conn, list);
    this.note('trap', { conn, child, localTs, remoteTs });
  }

  untrap(conn: string): void {
    if (this.traps.delete(conn)) this.note('untrap', { conn });
  }

  installed(): readonly InstalledSa[] {
    return [...this.sas.values()];
  }

  usage(): undefined {
    return undefined;
  }

  close(): void {
    for (const sa of this.sas.values()) this.note('remove', { conn: sa.conn, spiIn: sa.spiIn, spiOut: sa.spiOut });
    this.sas.clear();
    for (const conn of [...this.traps.keys()]) this.untrap(conn);
    this.journal?.close();
  }
}
