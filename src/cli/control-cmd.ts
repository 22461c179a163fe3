/**
 * `pqike up|down|rekey|list-sas|list-conns|reload|stats`: talk to the running daemon over
 * its control socket (docs/control-protocol.md); readable text, or `--json` for scripts.
 * `up` and `down` show on a terminal what happens meanwhile (the daemon's log of that
 * connection, with every message and retransmission).
 */
import { DEFAULT_SOCKET } from '../daemon/config.js';
import { DaemonNotRunning, request, streamLog } from '../daemon/control.js';
import type { ControlResponse, LogStream } from '../daemon/control.js';
import type { SaView } from '../daemon/listing.js';
import { progressFor } from './progress.js';
import type { Progress } from './progress.js';
import { didYouMean } from './suggest.js';
import { EXIT } from './verbs.js';
import type { Parsed, Values } from './verbs.js';

export const CONTROL_CLIENT_COMMANDS = ['up', 'down', 'rekey', 'list-sas', 'list-conns', 'reload', 'stats'] as const;

function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const kes = (list: readonly string[]): string => (list.length === 0 ? 'none (keys from SK_d)' : list.join(' + '));

/** `N bytes_i (P pkts), M bytes_o (Q pkts)` as swanctl prints them, and drops where there were any. */
function traffic(c: SaView['children'][number]): string {
  if (c.bytesIn === null && c.bytesOut === null) return 'traffic: not counted by this data plane';
  const drops = Object.entries(c.drops ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  return `${c.bytesIn ?? 0} bytes_i (${c.packetsIn ?? 0} pkts), ${c.bytesOut ?? 0} bytes_o (${c.packetsOut ?? 0} pkts)${drops.length ? `, dropped: ${drops.join(', ')}` : ''}`;
}

/** The text form of `pqike list-sas`. */
export function formatListing(list: readonly SaView[]): string {
  if (list.length === 0) return 'no IKE SAs\n';
  const out: string[] = [];
  for (const s of list) {
    out.push(`${s.connection} #${s.id}: ${s.state.toUpperCase()}${s.establishedForMs === undefined ? '' : ` ${duration(s.establishedForMs)} ago`}, ${s.local}[${s.localId}]...${s.remote}[${s.remoteId}] (${s.role})`);
    out.push(`  IKE SPIs ${s.spiI}_i ${s.spiR}_r, ${s.suite ?? '-'}`);
    out.push(`  key exchanges: ${kes(s.keyExchanges)}${s.ppk === undefined ? '' : ` + PPK ${s.ppk}${s.ppkExchange === 'IKE_INTERMEDIATE' ? ' (in IKE_INTERMEDIATE, RFC 9867)' : ''}`}; rekey in ${duration(s.rekeyInMs)}, expires in ${duration(s.expireInMs)}`);
    for (const c of s.children) {
      out.push(`  ${c.name}: ${c.state.toUpperCase()} ${c.mode}${c.encap ? ' (UDP-encapsulated)' : ''}, SPIs ${c.spiIn}_i ${c.spiOut}_o, ${c.encryption}${c.integrity ? `/${c.integrity}` : ''}`);
      out.push(`    key exchanges: ${kes(c.keyExchanges)}; ${traffic(c)}; rekey in ${duration(c.rekeyInMs)}, expires in ${duration(c.expireInMs)}`);
      out.push(`    ${c.localTs.join(',')} === ${c.remoteTs.join(',')}`);
    }
  }
  return `${out.join('\n')}\n`;
}

interface ConnSummary {
  name: string;
  local: string;
  remote: string;
  localId: string;
  remoteId: string;
  proposals: string[];
  children: { name: string; localTs: string[]; remoteTs: string[]; espProposals: string[]; mode: string; startAction: string }[];
}

function formatConns(list: readonly ConnSummary[]): string {
  if (list.length === 0) return 'no connections\n';
  const out: string[] = [];
  for (const c of list) {
    out.push(`${c.name}: ${c.local}[${c.localId}]...${c.remote}[${c.remoteId}]`);
    out.push(`  IKE proposals: ${c.proposals.join(', ')}`);
    for (const ch of c.children) {
      out.push(`  ${ch.name}: ${ch.mode}, start_action ${ch.startAction}, ESP proposals: ${ch.espProposals.join(', ')}`);
      out.push(`    ${ch.localTs.join(',')} === ${ch.remoteTs.join(',')}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** `ikeSasByState` → `IKE SAs by state`. */
function label(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(' ');
  const fix: Record<string, string> = { ike: 'IKE', sas: 'SAs', sa: 'SA', child: 'Child', esp: 'ESP', icv: 'ICV', kes: 'KEs' };
  const s = words.map((w) => fix[w] ?? w).join(' ');
  return `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}`;
}

function scalar(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The text form of `pqike stats`: one line per counter, small groups on one line. */
export function formatStats(data: unknown, indent = ''): string {
  if (typeof data !== 'object' || data === null) return `${indent}${scalar(data)}\n`;
  const out: string[] = [];
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    const name = indent === '' ? label(k) : k;
    if (typeof v !== 'object' || v === null) {
      out.push(`${indent}${name}: ${scalar(v)}`);
      continue;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) out.push(`${indent}${name}: none`);
    else if (entries.every(([, x]) => typeof x !== 'object' || x === null) && entries.length <= 6) out.push(`${indent}${name}: ${entries.map(([a, x]) => `${a} ${scalar(x)}`).join(', ')}`);
    else out.push(`${indent}${name}:`, formatStats(v, `${indent}  `).trimEnd());
  }
  return `${out.join('\n')}\n`;
}

export function socketOf(values: Values): string {
  const s = values['socket'];
  return typeof s === 'string' ? s : process.env['PQIKE_SOCKET'] ?? DEFAULT_SOCKET;
}

export function noDaemon(socket: string): number {
  process.stderr.write(`pqike: the daemon is not running (no control socket at ${socket}).\n  Start it with: pqike daemon -c /etc/pqike/pqike.yaml   (or set PQIKE_SOCKET / --socket)\n`);
  return EXIT.noDaemon;
}

/** The configured connection names, for "did you mean" (empty if the daemon does not say). */
export async function connectionNames(socket: string): Promise<string[]> {
  try {
    const r = await request(socket, { cmd: 'list-conns', args: [], opts: {} }, 5000);
    return r.ok && Array.isArray(r.data) ? (r.data as ConnSummary[]).map((c) => c.name) : [];
  } catch {
    return [];
  }
}

export async function unknownConnection(socket: string, command: string, name: string): Promise<number> {
  const names = await connectionNames(socket);
  process.stderr.write(`pqike ${command}: no connection '${name}'${didYouMean(name, names)} (configured: ${names.join(', ') || 'none'})\n`);
  return EXIT.failed;
}

/** The daemon's log of what a command is waiting for, as progress lines; undefined without progress. */
async function follow(socket: string, p: Progress, filter: { conn?: string; sa?: number }): Promise<LogStream | undefined> {
  if (!p.enabled) return undefined;
  const s = streamLog(socket, { ...filter, level: 'debug' }, (r) => {
    const n = r['sa'];
    const msg = r['event'] === 'ike-state' ? `state ${String(r['from'])} → ${String(r['to'])}` : r.msg;
    p.line(`${typeof n === 'number' && !msg.includes(`IKE SA #${n}`) ? `#${n} ` : ''}${msg}`);
  });
  try {
    await s.ready;
    return s;
  } catch {
    // No daemon (the request says so), or the log streams are busy: no progress, same result.
    s.close();
    return undefined;
  }
}

export async function runControl(command: string, parsed: Parsed): Promise<number> {
  const { values, positionals } = parsed;
  const socket = socketOf(values);
  const target = positionals[0];
  const json = values['json'] === true;
  const child = typeof values['child'] === 'string' ? values['child'] : undefined;
  const progress = progressFor(values);
  let stream: LogStream | undefined;
  let res: ControlResponse;
  try {
    if (command === 'up' || command === 'down') {
      const sa = target !== undefined && /^#?\d+$/.test(target) ? Number(target.replace('#', '')) : undefined;
      stream = await follow(socket, progress, sa === undefined ? { ...(target === undefined ? {} : { conn: target }) } : { sa });
      if (command === 'up') progress.line(`bringing up '${target ?? ''}' ...`);
    }
    const args = command === 'list-conns' ? [] : positionals;
    res = await request(socket, { cmd: command, args: [...args], opts: child === undefined ? {} : { child } });
  } catch (e) {
    stream?.close();
    if (e instanceof DaemonNotRunning) return noDaemon(socket);
    throw e;
  }
  if (stream) {
    // The last lines of the log may still be on their way.
    await new Promise((r) => setTimeout(r, 100));
    stream.close();
  }
  if (!res.ok) {
    if ((command === 'up' || command === 'down') && target !== undefined && /^no (connection|IKE SA for) '/.test(res.error) && !/^#?\d+$/.test(target)) {
      const names = await connectionNames(socket);
      if (!names.includes(target)) return unknownConnection(socket, command, target);
    }
    process.stderr.write(`pqike ${command}: ${res.error}\n`);
    return EXIT.failed;
  }
  let data = res.data;
  if (command === 'list-conns' && target !== undefined) {
    const list = (data as ConnSummary[]).filter((c) => c.name === target);
    if (list.length === 0) return unknownConnection(socket, command, target);
    data = list;
  }
  if (command === 'list-sas' && target !== undefined && (data as SaView[]).length === 0) {
    const names = await connectionNames(socket);
    if (!names.includes(target)) return unknownConnection(socket, command, target);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(text(command, target, data));
  return EXIT.ok;
}

function text(command: string, target: string | undefined, data: unknown): string {
  switch (command) {
    case 'list-sas':
      return target !== undefined && (data as SaView[]).length === 0 ? `no IKE SAs of '${target}'\n` : formatListing(data as SaView[]);
    case 'list-conns':
      return formatConns(data as ConnSummary[]);
    case 'up': {
      const d = data as { sa: number; listing: SaView[] };
      return `connection '${target ?? ''}' established (IKE SA #${d.sa})\n${formatListing(d.listing)}`;
    }
    case 'down': {
      const d = data as { deleted: number[]; cancelledAttempt?: boolean };
      return d.deleted.length > 0 ? `deleted IKE SA(s) ${d.deleted.map((n) => `#${n}`).join(', ')}\n` : 'no IKE SA; the pending attempt was cancelled\n';
    }
    case 'reload': {
      const d = data as Record<string, string[]>;
      const list = (k: string): string => (d[k] ?? []).join(', ');
      return `reloaded: added [${list('added')}], changed [${list('changed')}], removed [${list('removed')}], unchanged [${list('unchanged')}]${(d['ppkRefreshed'] ?? []).length > 0 ? `, new PPKs for running SAs [${list('ppkRefreshed')}]` : ''}\n${(d['needRestart'] ?? []).length > 0 ? `not applied until a restart: ${list('needRestart')}\n` : ''}`;
    }
    case 'rekey': {
      const d = (data ?? {}) as { sa?: number; old?: number | string; child?: string; spiIn?: string };
      if (typeof d.old === 'number') return d.sa === undefined ? `IKE SA #${d.old} rekeyed\n` : `IKE SA #${d.old} rekeyed into IKE SA #${d.sa}\n`;
      if (typeof d.old === 'string') return `Child SA${d.child === undefined ? '' : ` '${d.child}'`} of IKE SA #${d.sa ?? '?'} rekeyed: ${d.spiIn === undefined ? '' : `${d.spiIn}_i replaces `}${d.old}_i\n`;
      return 'rekeyed\n';
    }
    case 'stats':
      return formatStats(data);
    default:
      return `${JSON.stringify(data, null, 2)}\n`;
  }
}
