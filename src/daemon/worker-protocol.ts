/**
 * The messages between the daemon's main thread (worker-pool.ts) and its engine workers
 * (engine-worker.ts). Everything here survives the structured clone of postMessage: plain
 * objects, strings, numbers, Uint8Arrays.
 */
import type { Endpoint, EngineEvent, EngineOutput, IkeSaInfo, SaCensus, SaFilter, SaListing } from '../engine/types.js';
import type { DataPlaneCommand, ExpireKind } from '../engine/dataplane.js';
import type { DropReason } from '../engine/drops.js';

export interface WorkerInit {
  readonly configPath: string;
  readonly index: number;
  readonly count: number;
  readonly exportKeys: boolean;
  /** One Int32: the half-open IKE SAs of every worker (shard.ts SharedCount). */
  readonly halfOpen: SharedArrayBuffer;
}

/** A datagram read by the main thread, for the worker that holds (or will hold) its IKE SA. */
export interface Inbound {
  readonly data: Uint8Array;
  readonly from: Endpoint;
  readonly local: Endpoint;
}

/** Calls the main thread makes; `Answers` gives each one's result. */
export type Call =
  | { readonly op: 'initiate'; readonly connection: string; readonly local: Endpoint; readonly remote: Endpoint }
  | { readonly op: 'terminate'; readonly id: number }
  | { readonly op: 'rekeyIke'; readonly id: number }
  | { readonly op: 'rekeyChild'; readonly id: number; readonly spiIn: number }
  | { readonly op: 'trap'; readonly connection: string; readonly children: readonly string[] }
  | { readonly op: 'list'; readonly filter?: SaFilter }
  | { readonly op: 'describe'; readonly filter?: SaFilter }
  | { readonly op: 'restartPending'; readonly connection: string }
  | { readonly op: 'cancelRestarts'; readonly connection: string }
  /** Read the file again and add these connections if their fingerprints match the main thread's (`replace`: their running SAs take them over). */
  | { readonly op: 'addConnections'; readonly conns: readonly { readonly name: string; readonly fingerprint: string }[]; readonly replace?: boolean }
  | { readonly op: 'removeConnection'; readonly name: string }
  | { readonly op: 'expire'; readonly spi: number; readonly direction: 'in' | 'out'; readonly kind: ExpireKind; readonly peer?: string }
  | { readonly op: 'acquire'; readonly reqid: number }
  | { readonly op: 'dataPlaneFailed'; readonly cmd: DataPlaneCommand; readonly error: string }
  | { readonly op: 'stats' };

export interface Stats {
  readonly census: SaCensus;
  readonly halfOpen: number;
  readonly drops: Readonly<Record<DropReason, number>>;
}

export interface Answers {
  initiate: number;
  terminate: null;
  rekeyIke: boolean;
  rekeyChild: boolean;
  trap: null;
  list: IkeSaInfo[];
  describe: SaListing[];
  restartPending: boolean;
  cancelRestarts: null;
  addConnections: null;
  removeConnection: null;
  expire: null;
  acquire: null;
  dataPlaneFailed: null;
  stats: Stats;
}

export type ToWorker =
  | { readonly t: 'in'; readonly batch: readonly Inbound[] }
  /** `seq` 0: no answer wanted. */
  | { readonly t: 'call'; readonly seq: number; readonly call: Call }
  | { readonly t: 'stop' };

/** What one flush of a worker's engine produced, in order (engine-loop.ts). */
export type OutItem =
  | { readonly k: 'cmd'; readonly cmd: DataPlaneCommand }
  | { readonly k: 'send'; readonly out: Extract<EngineOutput, { kind: 'send' }> }
  | { readonly k: 'event'; readonly event: EngineEvent; readonly conn?: string };

export type FromWorker =
  | { readonly t: 'out'; readonly items: readonly OutItem[] }
  | { readonly t: 'answer'; readonly seq: number; readonly value?: unknown; readonly error?: string }
  | { readonly t: 'stats'; readonly stats: Stats }
  | { readonly t: 'ready' };
