/**
 * The explicit key-export option: IKE and ESP keys in Wireshark's `ikev2_decryption_table`
 * and `esp_sa` formats, one line per key stage (RFC 9370 changes the keys of one SPI pair
 * after every IKE_INTERMEDIATE, Wireshark keeps one line per SPI pair: a later line replaces an
 * earlier one when loaded).
 *
 * The files hold every SK_e/SK_a (RFC 7296 §2.14) and ESP key: they are written only to a file
 * created here with mode 0600 or to an existing regular file of ours that nobody else may read,
 * never through a symbolic link, and kept open, so that running out of file descriptors later
 * cannot stop the export. A failed write never throws: it is reported once and exporting stops.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from 'node:fs';
import { Appender } from './appender.js';
import type { WriteFn } from './appender.js';
import { EncrId, IntegId } from '../wire/constants.js';
import type { ChildSaInfo, EngineEvent } from '../engine/types.js';
import { hex } from '../engine/util.js';

type IkeKeys = Extract<EngineEvent, { type: 'ike-keys' }>;


/** Wireshark's names for IKEv2 SK ciphers (packet-isakmp.c UAT); undefined if it has none. */
function ikeEncrName(id: number, keyBits: number | undefined): string | undefined {
  if (id === EncrId.AES_CBC) return `AES-CBC-${keyBits ?? 128} [RFC3602]`;
  const icv = id === EncrId.AES_GCM_8 ? 8 : id === EncrId.AES_GCM_12 ? 12 : id === EncrId.AES_GCM_16 ? 16 : undefined;
  if (icv !== undefined) return `AES-GCM-${keyBits ?? 128} with ${icv} octet ICV [RFC5282]`;
  return undefined;
}

function ikeIntegName(id: number): string | undefined {
  switch (id) {
    case IntegId.NONE:
      return 'NONE [RFC4306]';
    case IntegId.HMAC_SHA2_256_128:
      return 'HMAC_SHA2_256_128 [RFC4868]';
    case IntegId.HMAC_SHA2_384_192:
      return 'HMAC_SHA2_384_192 [RFC4868]';
    case IntegId.HMAC_SHA2_512_256:
      return 'HMAC_SHA2_512_256 [RFC4868]';
    default:
      return undefined;
  }
}

/** One `ikev2_decryption_table` line: SPIi,SPIr,SK_ei,SK_er,"encr",SK_ai,SK_ar,"integ". */
export function ikeDecryptionLine(k: IkeKeys): string | undefined {
  const encr = ikeEncrName(k.encr.id, k.encr.keyBits);
  const integ = ikeIntegName(k.integ);
  if (!encr || !integ) return undefined;
  return [k.spiI, k.spiR, hex(k.skEi), hex(k.skEr), `"${encr}"`, hex(k.skAi), hex(k.skAr), `"${integ}"`].join(',');
}

function espNames(c: ChildSaInfo): { encr: string; integ: string } | undefined {
  if (c.encr.id === EncrId.AES_GCM_16) return { encr: 'AES-GCM [RFC4106]', integ: 'ANY 128 bit authentication [no checking]' };
  if (c.encr.id === EncrId.AES_CBC) {
    const integ = c.integ === IntegId.HMAC_SHA2_256_128 ? 'HMAC-SHA-256-128 [RFC4868]' : c.integ === IntegId.HMAC_SHA2_384_192 ? 'HMAC-SHA-384-192 [RFC4868]' : c.integ === IntegId.HMAC_SHA2_512_256 ? 'HMAC-SHA-512-256 [RFC4868]' : undefined;
    return integ ? { encr: 'AES-CBC [RFC3602]', integ } : undefined;
  }
  return undefined;
}

/**
 * The two `esp_sa` lines of a Child SA (one per direction): "IPv4","src","dst","0xSPI",
 * "encr","0xkey","integ","0xkey". `local`/`remote` are the IKE (tunnel) addresses.
 */
export function espSaLines(c: ChildSaInfo, local: string, remote: string): string[] {
  const names = espNames(c);
  if (!names) return [];
  const family = local.includes(':') ? 'IPv6' : 'IPv4';
  // RFC 7296 §2.17: the first keys protect traffic from the exchange initiator.
  const outKeys = c.initiator ? { e: c.keys.encrI, a: c.keys.integI } : { e: c.keys.encrR, a: c.keys.integR };
  const inKeys = c.initiator ? { e: c.keys.encrR, a: c.keys.integR } : { e: c.keys.encrI, a: c.keys.integI };
  const line = (src: string, dst: string, spi: number, k: { e: Uint8Array; a: Uint8Array }): string =>
    [`"${family}"`, `"${src}"`, `"${dst}"`, `"0x${spi.toString(16).padStart(8, '0')}"`, `"${names.encr}"`, `"0x${hex(k.e)}"`, `"${names.integ}"`, `"0x${hex(k.a)}"`].join(',');
  return [line(local, remote, c.spiOut, outKeys), line(remote, local, c.spiIn, inKeys)];
}

/** A key file that cannot be used safely; refused before anything is exported. */
export class KeyExportError extends Error {
  override readonly name = 'KeyExportError';
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Open `path` for appending keys: a new file (O_CREAT|O_EXCL|O_NOFOLLOW, then fchmod 0600 so the
 * umask does not matter), or an existing one that fstat shows to be a regular file of the
 * effective uid with no group/other permission bits and no other hard link. Anything else is
 * refused with what to do.
 */
export function openKeyFile(path: string): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
  try {
    const fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fchmodSync(fd, 0o600);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyExportError(`cannot create the key file ${path} (${errorText(e)})`);
  }
  // It exists. O_NONBLOCK: a FIFO without a reader must not hang the start (it fails, ENXIO).
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new KeyExportError(`key file ${path} is a symbolic link, which is never followed; remove it (rm ${path}) or export to another path`);
    if (code === 'ENXIO' || code === 'EISDIR') throw new KeyExportError(`key file ${path} is not a regular file; export to another path`);
    throw new KeyExportError(`cannot open the key file ${path} (${errorText(e)})`);
  }
  const st = fstatSync(fd);
  const euid = process.geteuid?.();
  const problem = !st.isFile()
    ? `is not a regular file; export to another path`
    : euid !== undefined && st.uid !== euid
      ? `belongs to uid ${st.uid}, not to this process (uid ${euid}); remove it (rm ${path}) or export to another path`
      : (st.mode & 0o077) !== 0
        ? `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, so others may read the keys; run chmod 600 ${path} (or remove it) first`
        : st.nlink !== 1
          ? `has ${st.nlink} hard links, so the keys would also land in another file; remove it (rm ${path}) or export to another path`
          : undefined;
  if (problem !== undefined) {
    closeSync(fd);
    throw new KeyExportError(`key file ${path} ${problem}`);
  }
  return fd;
}

export interface KeyExporterOptions {
  /** Told once, when a write fails (disk full, EIO, ...); nothing is exported after it. */
  readonly onFailure?: (message: string) => void;
  /** The write call (fs.writeSync); tests pass a failing one. */
  readonly write?: WriteFn;
}

/** Appends key lines to `<path>` (IKE) and `<path>.esp_sa` (ESP), both opened by openKeyFile. */
export class KeyExporter {
  private readonly ike: Appender;
  private readonly esp: Appender;

  /** Throws KeyExportError if either file cannot be used safely. */
  constructor(path: string, opts: KeyExporterOptions = {}) {
    const ikeFd = openKeyFile(path);
    let espFd: number;
    try {
      espFd = openKeyFile(`${path}.esp_sa`);
    } catch (e) {
      closeSync(ikeFd);
      throw e;
    }
    // One failure stops both: a later line would follow a partial one.
    const failed = (file: string) => (e: unknown): void => {
      this.close();
      opts.onFailure?.(`key export stopped: cannot write to ${file} (${errorText(e)}); no more keys are exported until a restart`);
    };
    this.ike = new Appender(ikeFd, failed(path), opts.write);
    this.esp = new Appender(espFd, failed(`${path}.esp_sa`), opts.write);
  }

  /** False once a write failed (or after close). */
  get active(): boolean {
    return this.ike.active && this.esp.active;
  }

  /** Feed every engine event; writes the ones that carry keys. Never throws. */
  onEvent(e: EngineEvent, local: string, remote: string): void {
    if (!this.active) return;
    if (e.type === 'ike-keys') {
      const line = ikeDecryptionLine(e);
      // A UAT comment marks the key stage that has the PPK in it (RFC 9867); Wireshark skips it.
      const mark =
        e.stage === 'ppk' ? `# IKE SA #${e.sa}: keys with the post-quantum preshared key mixed in (RFC 9867)\n`
        : e.stage === 'ppk-rekey' ? `# IKE SA #${e.sa}: keys of a rekey with a fresh post-quantum preshared key (RFC 9867 §3.2)\n`
        : '';
      if (line) this.ike.append(`${mark}${line}\n`);
    } else if (e.type === 'child-up') {
      const lines = espSaLines(e.child, local, remote);
      const mark = e.child.ppk === undefined ? '' : `# Child SA ${e.child.name}: keys with the fresh post-quantum preshared key ${e.child.ppk} (RFC 9867 §3.2)\n`;
      if (lines.length > 0) this.esp.append(`${mark}${lines.join('\n')}\n`);
    }
  }

  close(): void {
    this.ike.close();
    this.esp.close();
  }
}
