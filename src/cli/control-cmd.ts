/**
 * `pqike up|down|rekey|list-sas|list-conns|reload|stats`: talk to the running daemon over
 * its control socket; readable listings, or `--json` for scripts.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET } from '../daemon/config.js';
import { DaemonNotRunning, request } from '../daemon/control.js';
import type { SaView } from '../daemon/listing.js';
import { UsageError } from './connection-args.js';

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

export async function runControl(command: string, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, socket: { type: 'string' }, child: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const socket = values.socket ?? process.env['PQIKE_SOCKET'] ?? DEFAULT_SOCKET;
  if ((command === 'up' || command === 'down' || command === 'rekey') && positionals.length !== 1) {
    throw new UsageError(`usage: pqike ${command} ${command === 'up' ? '<connection>' : command === 'down' ? '<connection|IKE SA number>' : '<IKE SA number|connection> [--child SPI]'}`);
  }
  let res;
  try {
    res = await request(socket, { cmd: command, args: positionals, opts: values.child === undefined ? {} : { child: values.child } });
  } catch (e) {
    if (e instanceof DaemonNotRunning) {
      process.stderr.write(`pqike: the daemon is not running (no control socket at ${socket}).\n  Start it with: pqike daemon -c /etc/pqike/pqike.yaml   (or set PQIKE_SOCKET / --socket)\n`);
      return 3;
    }
    throw e;
  }
  if (!res.ok) {
    process.stderr.write(`pqike ${command}: ${res.error}\n`);
    return 1;
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
    return 0;
  }
  switch (command) {
    case 'list-sas':
      process.stdout.write(formatListing(res.data as SaView[]));
      break;
    case 'list-conns':
      process.stdout.write(formatConns(res.data as ConnSummary[]));
      break;
    case 'up': {
      const d = res.data as { sa: number; listing: SaView[] };
      process.stdout.write(`connection '${positionals[0] ?? ''}' established (IKE SA #${d.sa})\n${formatListing(d.listing)}`);
      break;
    }
    case 'down': {
      const d = res.data as { deleted: number[]; cancelledAttempt?: boolean };
      process.stdout.write(d.deleted.length > 0 ? `deleted IKE SA(s) ${d.deleted.map((n) => `#${n}`).join(', ')}\n` : 'no IKE SA; the pending attempt was cancelled\n');
      break;
    }
    case 'reload': {
      const d = res.data as Record<string, string[]>;
      process.stdout.write(`reloaded: added [${(d['added'] ?? []).join(', ')}], changed [${(d['changed'] ?? []).join(', ')}], removed [${(d['removed'] ?? []).join(', ')}], unchanged [${(d['unchanged'] ?? []).join(', ')}]\n`);
      if ((d['needRestart'] ?? []).length > 0) process.stdout.write(`not applied until a restart: ${(d['needRestart'] ?? []).join(', ')}\n`);
      break;
    }
    case 'rekey':
      process.stdout.write(`rekeyed\n`);
      break;
    default:
      process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
  }
  return 0;
}
