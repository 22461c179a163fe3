// Loaders for the strongSwan 6.0.6 reference vectors in test/vectors/data/strongswan-6.0.6/.
// Parses the key-schedule log extracts (keys-from-log-{moon,sun}.txt), the Wireshark key tables
// (ikev2_decryption_table, esp_sa) and the packet summary (exchanges.txt), and reads the IKE and
// ESP packets out of capture.pcap. Every parser is strict: anything unexpected throws, so a
// malformed or truncated vector file makes the tests fail instead of silently checking less.
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePcap } from '../helpers/pcap.js';
import { readPcapFrames, readIkeDatagrams, readEspPackets, type IkeDatagram, type EspPacket } from './pcap.js';

// ---------------------------------------------------------------------------------------------
// Locating the data (works from test/vectors/*.ts and from dist/test/vectors/*.js)

export function vectorDataRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, 'data'), resolve(here, '../../../test/vectors/data')];
  for (const c of candidates) if (existsSync(join(c, 'strongswan-6.0.6'))) return c;
  throw new Error(`vector data not found (looked in ${candidates.join(', ')})`);
}

export function vectorDir(folder: string): string {
  return join(vectorDataRoot(), 'strongswan-6.0.6', folder);
}

// ---------------------------------------------------------------------------------------------
// Hex helpers

export function fromHex(hex: string): Uint8Array {
  const h = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new Error(`bad hex: ${hex.slice(0, 40)}`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ---------------------------------------------------------------------------------------------
// keys-from-log-*.txt

export interface LogEntry {
  readonly lineNo: number;
  readonly group: string;   // IKE, ENC, CFG, CHD
  readonly ikeSa: number;   // unique id of the IKE SA: '<1>' and '<ike|1>' are both IKE SA 1
  readonly text: string;
  /** for value lines "label (n bytes): hex" */
  readonly label?: string;
  readonly value?: Uint8Array;
  /** the length strongSwan announced; larger than value.length when the line was cut */
  readonly declaredLength?: number;
}

/** strongSwan cuts one-line hex dumps after this many bytes */
export const LOG_DUMP_LIMIT = 1008;

const LINE_RE = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \[([A-Z]+)\] <(?:[^|>]*\|)?(\d+)> (.*)$/;
const VALUE_RE = /^(.*) \((\d+) bytes\):\s?([0-9a-f]*)$/;

export function parseLogEntries(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '') return;
    const m = LINE_RE.exec(line);
    if (!m) throw new Error(`key log line ${i + 1}: unrecognised: ${line.slice(0, 80)}`);
    const [, , group, sa, rest] = m as unknown as [string, string, string, string, string];
    const v = VALUE_RE.exec(rest);
    if (v) {
      const [, label, len, hex] = v as unknown as [string, string, string, string];
      const value = fromHex(hex);
      // strongSwan's single-line dumps stop after 1008 bytes (the IntAuth A|P chunks are longer);
      // a shorter value is kept as a prefix and flagged, anything else is an error.
      if (value.length > Number(len) || (value.length < Number(len) && value.length !== LOG_DUMP_LIMIT)) {
        throw new Error(`key log line ${i + 1}: '${label}' says ${len} bytes, has ${value.length}`);
      }
      out.push({ lineNo: i + 1, group, ikeSa: Number(sa), text: rest, label, value, declaredLength: Number(len) });
    } else {
      out.push({ lineNo: i + 1, group, ikeSa: Number(sa), text: rest });
    }
  });
  return out;
}

/** Key material of one "stage" of an IKE SA (after IKE_SA_INIT, after each IKE_INTERMEDIATE,
 *  or of an IKE SA created by rekeying). */
export interface KeyStage {
  readonly kind: 'init' | 'intermediate' | 'rekey';
  /** 0 after IKE_SA_INIT (or the rekey), n after the n-th IKE_INTERMEDIATE. */
  readonly index: number;
  readonly ikeSa: number;
  /** strongSwan label 'key exchange secret': the secret of the KE that completed this stage
   *  (IKE_SA_INIT: the DH secret; IKE_INTERMEDIATE n: that exchange's ML-KEM secret;
   *  rekey: SK(0), the secret of the KE payload of CREATE_CHILD_SA). */
  readonly keSecret: Uint8Array;
  /** 'additional key exchange secret': empty except for rekeys, where it is SK(1)|..|SK(n). */
  readonly additionalKeSecret: Uint8Array;
  /** Ni | Nr */
  readonly nonces: Uint8Array;
  readonly skeyseed: Uint8Array;
  readonly skD: Uint8Array; readonly skAi: Uint8Array; readonly skAr: Uint8Array;
  readonly skEi: Uint8Array; readonly skEr: Uint8Array;
  readonly skPi: Uint8Array; readonly skPr: Uint8Array;
  readonly lineNo: number;
}

/** One IntAuth step (RFC 9242 §3.3.2) as logged. */
export interface IntAuthLog {
  readonly ikeSa: number;
  /** message ID of the IKE_INTERMEDIATE exchange */
  readonly messageId: number;
  /** 'i': computed over the request (IntAuth_i), 'r': over the response (IntAuth_r) */
  readonly dir: 'i' | 'r';
  readonly prev: Uint8Array;
  /** the A|P octets as logged: only the first LOG_DUMP_LIMIT bytes when apLength is larger */
  readonly ap: Uint8Array;
  /** the full length of A|P that strongSwan fed into the prf */
  readonly apLength: number;
  readonly skP: Uint8Array;
  readonly result: Uint8Array;
  readonly lineNo: number;
}

/** One AUTH payload computation (RFC 7296 §2.15 + RFC 9242 §3.3.2) as logged. */
export interface AuthLog {
  readonly ikeSa: number;
  /** IDx' = ID payload body (ID type | RESERVED | data) */
  readonly idPrime: Uint8Array;
  readonly skP: Uint8Array;
  readonly octets: Uint8Array;
  readonly psk: Uint8Array;
  readonly prfPskKeyPad: Uint8Array;
  readonly auth: Uint8Array;
  readonly lineNo: number;
}

export interface ChildLog {
  readonly ikeSa: number;
  readonly keSecret: Uint8Array | undefined;
  readonly additionalKeSecret: Uint8Array | undefined;
  /** the prf+ seed: Ni|Nr, or SK(0)|Ni|Nr|SK(1)|..|SK(n) */
  readonly seed: Uint8Array;
  readonly encrI: Uint8Array; readonly encrR: Uint8Array;
  readonly integI: Uint8Array; readonly integR: Uint8Array;
  /** SPIs from "CHILD_SA ... established with SPIs <in>_i <out>_o" of the logging side */
  readonly spiIn: number; readonly spiOut: number;
  readonly lineNo: number;
}

export interface IkeSaLog {
  readonly ikeSa: number;
  readonly proposals: string[];
  readonly stages: KeyStage[];
  readonly intAuth: IntAuthLog[];
  readonly auth: AuthLog[];
  readonly children: ChildLog[];
}

export interface KeyLog {
  readonly entries: LogEntry[];
  /** by IKE SA unique id, ascending */
  readonly sas: IkeSaLog[];
  sa(id: number): IkeSaLog;
}

type RecKind = 'stage' | 'child' | 'intauth' | 'auth';
interface Rec { kind: RecKind; ikeSa: number; lineNo: number; fields: Map<string, Uint8Array>; lengths: Map<string, number>; msg: MsgEvent | undefined; spis?: [number, number] }
interface MsgEvent { exchange: string; dir: 'request' | 'response'; mid: number; generated: boolean }

const MSG_RE = /^(generating|parsed) (\S+) (request|response) (\d+) \[/;
const SPI_RE = /CHILD_SA \S+ established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o/;
const PROPOSAL_RE = /^selected proposal: (.*)$/;

const STAGE_LABELS: Record<string, string> = {
  'key exchange secret': 'ke', 'additional key exchange secret': 'ake', 'nonces': 'nonces',
  'SKEYSEED': 'skeyseed', 'Sk_d secret': 'skD', 'Sk_ai secret': 'skAi', 'Sk_ar secret': 'skAr',
  'Sk_ei secret': 'skEi', 'Sk_er secret': 'skEr', 'Sk_pi secret': 'skPi', 'Sk_pr secret': 'skPr',
};
const CHILD_LABELS: Record<string, string> = {
  'key exchange secret': 'ke', 'additional key exchange secret': 'ake', 'seed': 'seed',
  'encryption initiator key': 'encrI', 'encryption responder key': 'encrR',
  'integrity initiator key': 'integI', 'integrity responder key': 'integR',
};
const INTAUTH_LABELS: Record<string, string> = {
  'IntAuth_N-1': 'prev', 'IntAuth_A|P': 'ap', 'SK_p': 'skP', 'IntAuth_N = prf(Sk_px, data)': 'result',
};
const AUTH_LABELS: Record<string, string> = {
  "IDx'": 'id', 'SK_p': 'skP', "octets = message + nonce + prf(Sk_px, IDx') + IntAuth": 'octets',
  'secret': 'psk', 'prf(secret, keypad)': 'prfKeyPad', 'AUTH = prf(prf(secret, keypad), octets)': 'auth',
};

function need(rec: Rec, key: string, allowPrefix = false): Uint8Array {
  const v = rec.fields.get(key);
  if (v === undefined) throw new Error(`key log line ${rec.lineNo}: ${rec.kind} record lacks '${key}'`);
  if (!allowPrefix && rec.lengths.get(key) !== v.length) throw new Error(`key log line ${rec.lineNo}: '${key}' was cut in the log`);
  return v;
}
function opt(rec: Rec, key: string): Uint8Array | undefined {
  return rec.fields.has(key) ? need(rec, key) : undefined;
}

export function parseKeyLog(text: string): KeyLog {
  const entries = parseLogEntries(text);
  const recs: Rec[] = [];
  const lastMsg = new Map<number, MsgEvent>();
  const sawInit = new Set<number>();
  const proposals = new Map<number, string[]>();
  let lastMsgAny: MsgEvent | undefined;
  let cur: Rec | undefined;

  const start = (kind: RecKind, e: LogEntry): Rec => {
    cur = { kind, ikeSa: e.ikeSa, lineNo: e.lineNo, fields: new Map(), lengths: new Map(), msg: lastMsg.get(e.ikeSa) ?? lastMsgAny };
    recs.push(cur);
    return cur;
  };
  const add = (rec: Rec | undefined, table: Record<string, string>, e: LogEntry): void => {
    const key = table[e.label!];
    if (rec === undefined || key === undefined || rec.fields.has(key) || rec.ikeSa !== e.ikeSa) {
      throw new Error(`key log line ${e.lineNo}: unexpected value '${e.label}' here`);
    }
    set(rec, key, e);
  };
  const set = (rec: Rec, key: string, e: LogEntry): void => {
    rec.fields.set(key, e.value!);
    rec.lengths.set(key, e.declaredLength!);
  };

  for (const e of entries) {
    if (e.label === undefined) {
      const m = MSG_RE.exec(e.text);
      if (m) {
        const ev: MsgEvent = { generated: m[1] === 'generating', exchange: m[2]!, dir: m[3] as 'request' | 'response', mid: Number(m[4]) };
        lastMsg.set(e.ikeSa, ev);
        lastMsgAny = ev;
        if (ev.exchange === 'IKE_SA_INIT') sawInit.add(e.ikeSa);
        continue;
      }
      const s = SPI_RE.exec(e.text);
      if (s) {
        const spis: [number, number] = [parseInt(s[1]!, 16), parseInt(s[2]!, 16)];
        // "inbound ... established" and "outbound ... established" both name the same pair
        const child = [...recs].reverse().find((r) => r.kind === 'child' && r.ikeSa === e.ikeSa);
        if (!child) throw new Error(`key log line ${e.lineNo}: CHILD_SA established before any Child SA keys`);
        if (child.spis && (child.spis[0] !== spis[0] || child.spis[1] !== spis[1])) {
          throw new Error(`key log line ${e.lineNo}: CHILD_SA SPIs differ from an earlier line for the same keys`);
        }
        child.spis = spis;
        continue;
      }
      const p = PROPOSAL_RE.exec(e.text);
      if (p) {
        const list = proposals.get(e.ikeSa) ?? [];
        list.push(p[1]!);
        proposals.set(e.ikeSa, list);
      }
      continue;
    }
    const label = e.label;
    if (e.group === 'IKE' && label === 'key exchange secret') { set(start('stage', e), 'ke', e); continue; }
    if (e.group === 'CHD' && label === 'key exchange secret') { set(start('child', e), 'ke', e); continue; }
    if (e.group === 'CHD' && label === 'seed') {
      if (cur?.kind === 'child' && !cur.fields.has('seed')) set(cur, 'seed', e);
      else set(start('child', e), 'seed', e);
      continue;
    }
    if (label === 'IntAuth_N-1') { set(start('intauth', e), 'prev', e); continue; }
    if (label === "IDx'") { set(start('auth', e), 'id', e); continue; }
    const table = cur?.kind === 'stage' ? STAGE_LABELS : cur?.kind === 'child' ? CHILD_LABELS
      : cur?.kind === 'intauth' ? INTAUTH_LABELS : AUTH_LABELS;
    add(cur, table, e);
  }

  const byId = new Map<number, IkeSaLog>();
  const sa = (id: number): IkeSaLog => {
    let s = byId.get(id);
    if (!s) {
      s = { ikeSa: id, proposals: proposals.get(id) ?? [], stages: [], intAuth: [], auth: [], children: [] };
      byId.set(id, s);
    }
    return s;
  };
  const empty = new Uint8Array(0);
  for (const r of recs) {
    const s = sa(r.ikeSa);
    switch (r.kind) {
      case 'stage': {
        const index = s.stages.length;
        s.stages.push({
          kind: !sawInit.has(r.ikeSa) ? 'rekey' : index === 0 ? 'init' : 'intermediate',
          index, ikeSa: r.ikeSa, lineNo: r.lineNo,
          keSecret: need(r, 'ke'), additionalKeSecret: need(r, 'ake'), nonces: need(r, 'nonces'),
          skeyseed: need(r, 'skeyseed'), skD: need(r, 'skD'), skAi: opt(r, 'skAi') ?? empty,
          skAr: opt(r, 'skAr') ?? empty, skEi: need(r, 'skEi'), skEr: need(r, 'skEr'),
          skPi: need(r, 'skPi'), skPr: need(r, 'skPr'),
        });
        break;
      }
      case 'intauth': {
        if (!r.msg || r.msg.exchange !== 'IKE_INTERMEDIATE') throw new Error(`key log line ${r.lineNo}: IntAuth outside IKE_INTERMEDIATE`);
        s.intAuth.push({
          ikeSa: r.ikeSa, lineNo: r.lineNo, messageId: r.msg.mid, dir: r.msg.dir === 'request' ? 'i' : 'r',
          prev: need(r, 'prev'), ap: need(r, 'ap', true), apLength: r.lengths.get('ap')!, skP: need(r, 'skP'), result: need(r, 'result'),
        });
        break;
      }
      case 'auth':
        s.auth.push({
          ikeSa: r.ikeSa, lineNo: r.lineNo, idPrime: need(r, 'id'), skP: need(r, 'skP'), octets: need(r, 'octets'),
          psk: need(r, 'psk'), prfPskKeyPad: need(r, 'prfKeyPad'), auth: need(r, 'auth'),
        });
        break;
      case 'child': {
        if (!r.spis) throw new Error(`key log line ${r.lineNo}: Child SA keys without an 'established with SPIs' line`);
        s.children.push({
          ikeSa: r.ikeSa, lineNo: r.lineNo, keSecret: opt(r, 'ke'), additionalKeSecret: opt(r, 'ake'),
          seed: need(r, 'seed'), encrI: need(r, 'encrI'), encrR: need(r, 'encrR'),
          integI: opt(r, 'integI') ?? empty, integR: opt(r, 'integR') ?? empty,
          spiIn: r.spis[0], spiOut: r.spis[1],
        });
        break;
      }
    }
  }
  const sas = [...byId.values()].sort((a, b) => a.ikeSa - b.ikeSa);
  return {
    entries, sas,
    sa(id: number): IkeSaLog {
      const s = byId.get(id);
      if (!s) throw new Error(`key log has no IKE SA ${id}`);
      return s;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Wireshark key tables

export interface DecryptionTableRow {
  readonly spiI: Uint8Array; readonly spiR: Uint8Array;
  readonly skEi: Uint8Array; readonly skEr: Uint8Array;
  readonly encr: string; readonly skAi: Uint8Array; readonly skAr: Uint8Array; readonly integ: string;
}

/** Splits one CSV line (fields optionally in double quotes, no escaped quotes). */
function csv(line: string): string[] {
  const out: string[] = [];
  const re = /("([^"]*)"|[^,]*)(,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    out.push(m[2] ?? m[1]!);
    if (m[3] === '') break;
  }
  return out;
}

export function parseDecryptionTable(text: string): DecryptionTableRow[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    const f = csv(l.trim());
    if (f.length !== 8) throw new Error(`ikev2_decryption_table line ${i + 1}: ${f.length} fields`);
    return {
      spiI: fromHex(f[0]!), spiR: fromHex(f[1]!), skEi: fromHex(f[2]!), skEr: fromHex(f[3]!),
      encr: f[4]!, skAi: fromHex(f[5]!), skAr: fromHex(f[6]!), integ: f[7]!,
    };
  });
}

export interface EspSaRow {
  readonly src: string; readonly dst: string; readonly spi: number;
  readonly encr: string; readonly encrKey: Uint8Array; readonly integ: string; readonly integKey: Uint8Array;
}

export function parseEspSa(text: string): EspSaRow[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    const f = csv(l.trim());
    if (f.length !== 8 || f[0] !== 'IPv4') throw new Error(`esp_sa line ${i + 1}: unexpected format`);
    return {
      src: f[1]!, dst: f[2]!, spi: parseInt(f[3]!, 16), encr: f[4]!, encrKey: fromHex(f[5]!), integ: f[6]!, integKey: fromHex(f[7]!),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// exchanges.txt

export interface ExchangeLine {
  readonly frame: number;
  readonly src: string; readonly dst: string;
  readonly kind: 'IKE' | 'ESP';
  readonly exchange?: string;
  readonly response?: boolean;
  readonly messageId?: number;
  readonly spiI?: string; readonly spiR?: string;
  readonly espSpi?: number;
  readonly length: number;
  readonly fragment?: { number: number; total: number };
}

const EXCH_RE = /^\s*(\d+)\s+[\d.]+\s+(\S+) -> (\S+)\s+(\S+)\s+(.*)$/;
const IKE_REST_RE = /^(request|response)\s+mid=(\d+) spi=([0-9a-f]{16})_i\/([0-9a-f]{16})_r len=(\d+)(?: \[fragment (\d+)\/(\d+)\])?$/;
const ESP_REST_RE = /^spi=0x([0-9a-f]{8}) len=(\d+)$/;

export function parseExchanges(text: string): ExchangeLine[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    const m = EXCH_RE.exec(l);
    if (!m) throw new Error(`exchanges.txt line ${i + 1}: unrecognised`);
    const [, frame, src, dst, what, rest] = m as unknown as [string, string, string, string, string, string];
    if (what === 'ESP') {
      const e = ESP_REST_RE.exec(rest);
      if (!e) throw new Error(`exchanges.txt line ${i + 1}: bad ESP line`);
      return { frame: Number(frame), src, dst, kind: 'ESP', espSpi: parseInt(e[1]!, 16), length: Number(e[2]) };
    }
    const k = IKE_REST_RE.exec(rest.trim());
    if (!k) throw new Error(`exchanges.txt line ${i + 1}: bad IKE line`);
    const line: ExchangeLine = {
      frame: Number(frame), src, dst, kind: 'IKE', exchange: what, response: k[1] === 'response',
      messageId: Number(k[2]), spiI: k[3]!, spiR: k[4]!, length: Number(k[5]),
      ...(k[6] !== undefined ? { fragment: { number: Number(k[6]), total: Number(k[7]) } } : {}),
    };
    return line;
  });
}

// ---------------------------------------------------------------------------------------------
// A whole vector folder

export interface VectorSet {
  readonly folder: string;
  readonly dir: string;
  readonly moon: KeyLog;
  readonly sun: KeyLog;
  /** IKE messages, read with the project's test/helpers/pcap.ts */
  readonly ike: IkeDatagram[];
  /** the same, read with this suite's own reader (test/vectors/pcap.ts), for cross-checking */
  readonly ikeOwnReader: IkeDatagram[];
  /** ESP packets (IP protocol 50; test/helpers/pcap.ts only returns UDP) */
  readonly esp: EspPacket[];
  readonly exchanges: ExchangeLine[];
  readonly decryptionTable: DecryptionTableRow[];
  readonly espSa: EspSaRow[];
  readonly psk: Uint8Array;
}

/** IKE datagrams via test/helpers/pcap.ts; frame lengths (not reported by it) from our reader. */
function ikeViaHelper(pcap: Uint8Array): IkeDatagram[] {
  const frameLength = new Map(readPcapFrames(pcap).map((f) => [f.frame, f.data.length]));
  return parsePcap(pcap).flatMap((p) => {
    if (p.kind !== 'ike' || p.ike === undefined) return [];
    const len = frameLength.get(p.frame);
    if (len === undefined) throw new Error(`pcap: helper reports frame ${p.frame} that does not exist`);
    return [{ frame: p.frame, frameLength: len, time: p.ts, src: p.srcIp, dst: p.dstIp, bytes: p.ike }];
  });
}

export const ORACLE_PSK = new TextEncoder().encode('strongswan-oracle-psk-0123456789');

export function loadVectorSet(folder: string): VectorSet {
  const dir = vectorDir(folder);
  const txt = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const pcap = new Uint8Array(readFileSync(join(dir, 'capture.pcap')));
  return {
    folder, dir,
    moon: parseKeyLog(txt('keys-from-log-moon.txt')),
    sun: parseKeyLog(txt('keys-from-log-sun.txt')),
    ike: ikeViaHelper(pcap),
    ikeOwnReader: readIkeDatagrams(pcap),
    esp: readEspPackets(pcap),
    exchanges: parseExchanges(txt('exchanges.txt')),
    decryptionTable: parseDecryptionTable(txt('ikev2_decryption_table')),
    espSa: parseEspSa(txt('esp_sa')),
    psk: ORACLE_PSK,
  };
}
