/**
 * Trust in a peer's certificates (RFC 7296 §3.6, RFC 4945 §5): a set of trust anchors (the
 * configured CA certificates) and CRLs, the path validation of RFC 5280 §6 done by pkijs's
 * CertificateChainValidationEngine (name chaining, validity, basicConstraints, keyUsage of
 * the CAs, policies, CRLs), and what IKE asks beyond it: the end-entity key usage (RFC 4945
 * §5.1.3.2), a bound on the chain's length, and precise reasons for logs.
 *
 * pkijs is asynchronous and the engine is not: a chain is validated outside the engine (a
 * TrustQuery the host runs) and the verdict kept in a bounded cache, from which the engine
 * reads it synchronously when it processes the message again. A cached verdict is re-checked
 * against the clock: a chain valid yesterday may have expired today.
 */
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { parseCertificate, pkiCrypto } from './x509.js';
import type { ParsedCertificate } from './x509.js';

/** The peer's chain: at most this many CERT payloads are looked at (RFC 7296 §3.6 puts no limit; strongSwan's default is 7 intermediates). */
export const MAX_PEER_CERTS = 8;
/** Certificates on a path beyond the end entity, up to and including the anchor. */
export const MAX_PATH_DEPTH = 6;

export type ChainVerdict =
  | { readonly ok: true; readonly leaf: ParsedCertificate; readonly path: readonly string[]; readonly validFrom: Date; readonly validUntil: Date }
  | { readonly ok: false; readonly reason: string };

/** Work the host runs for the engine (pkijs is asynchronous); `key` names the chain. */
export interface TrustQuery {
  readonly key: string;
  run(): Promise<void>;
}

export interface TrustStoreOptions {
  /** Trust anchors, DER. */
  readonly anchors: readonly Uint8Array[];
  /** CRLs, DER (RFC 5280 §5). */
  readonly crls?: readonly Uint8Array[];
  /** Wall-clock time for validity checks (tests move it). */
  readonly clock?: () => Date;
  readonly cacheSize?: number;
}

const CACHE_SIZE = 256;
/** A refusal is believed this long before the chain is validated again (a "not yet valid" one may become valid). */
const NEGATIVE_TTL_MS = 60_000;
let storeCount = 0;

/**
 * Extensions an end-entity certificate may mark critical (RFC 5280 §4.2: a certificate with a
 * critical extension we do not process MUST be refused; pkijs checks this for CAs only).
 */
const KNOWN_CRITICAL = new Set([
  '2.5.29.14', '2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.30', '2.5.29.32', '2.5.29.35', '2.5.29.36', '2.5.29.37', '2.5.29.54',
]);

/**
 * extendedKeyUsage purposes that admit IKE (RFC 4945 §5.1.3.12: a critical EKU without one of
 * them is refused): any, serverAuth, clientAuth, ipsecEndSystem/Tunnel/User, ipsecIKE.
 */
const IKE_PURPOSES = new Set(['2.5.29.37.0', '1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.5', '1.3.6.1.5.5.7.3.6', '1.3.6.1.5.5.7.3.7', '1.3.6.1.5.5.7.3.17']);

export class TrustStore {
  readonly anchors: readonly ParsedCertificate[];
  private readonly crls: pkijs.CertificateRevocationList[];
  private readonly clock: () => Date;
  private readonly cache = new Map<string, { readonly v: ChainVerdict; readonly until?: number }>();
  private readonly cacheSize: number;
  private readonly running = new Map<string, TrustQuery>();
  /** Names this store in query keys: the engine waits per (store, chain), never on another store's verdict. */
  private readonly id = `store${++storeCount}`;

  constructor(opts: TrustStoreOptions) {
    const anchors: ParsedCertificate[] = [];
    for (const der of opts.anchors) {
      const c = parseCertificate(der);
      if (typeof c === 'string') throw new Error(`CA certificate: ${c}`);
      anchors.push(c);
    }
    this.anchors = anchors;
    this.crls = (opts.crls ?? []).map((der) => {
      try {
        return pkijs.CertificateRevocationList.fromBER(der);
      } catch {
        throw new Error('a CRL does not parse');
      }
    });
    this.clock = opts.clock ?? (() => new Date());
    this.cacheSize = opts.cacheSize ?? CACHE_SIZE;
  }

  /** CERTREQ data (RFC 7296 §3.7): the SHA-1 of each anchor's SubjectPublicKeyInfo, concatenated. */
  caKeyHashes(): Uint8Array {
    return Buffer.concat(this.anchors.map((a) => createHash('sha1').update(a.spki).digest()));
  }

  /** Which of a CERTREQ's 20-octet hashes name none of our anchors (for a log line). */
  static hashes(data: Uint8Array): string[] {
    const out: string[] = [];
    for (let i = 0; i + 20 <= data.length; i += 20) out.push(Buffer.from(data.subarray(i, i + 20)).toString('hex'));
    return out;
  }

  /** The cache key of a chain as received, in this store. */
  keyOf(certs: readonly Uint8Array[]): string {
    return `${this.id}:${TrustStore.chainKey(certs)}`;
  }

  static chainKey(certs: readonly Uint8Array[]): string {
    const h = createHash('sha256');
    for (const c of certs) h.update(Buffer.from(Uint32Array.of(c.length).buffer)).update(c);
    return h.digest('hex');
  }

  /** The verdict for a chain if it is known, checked against the clock. */
  verdict(certs: readonly Uint8Array[]): ChainVerdict | undefined {
    const key = this.keyOf(certs);
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    const now = this.clock();
    this.cache.delete(key);
    if (entry.until !== undefined && now.getTime() > entry.until) return undefined;
    this.cache.set(key, entry);
    const v = entry.v;
    if (!v.ok) return v;
    if (now < v.validFrom) return { ok: false, reason: `certificate path not yet valid (until ${v.validFrom.toISOString()})` };
    if (now > v.validUntil) return { ok: false, reason: `certificate path expired at ${v.validUntil.toISOString()}` };
    return v;
  }

  /** The work that makes verdict(certs) known; one query per chain however many SAs wait for it. */
  query(certs: readonly Uint8Array[]): TrustQuery {
    const key = this.keyOf(certs);
    const running = this.running.get(key);
    if (running) return running;
    const q: TrustQuery = {
      key,
      run: async () => {
        try {
          this.remember(key, await this.validate(certs));
        } catch (e) {
          this.remember(key, { ok: false, reason: `certificate validation failed: ${e instanceof Error ? e.message : String(e)}` });
        } finally {
          this.running.delete(key);
        }
      },
    };
    this.running.set(key, q);
    return q;
  }

  private remember(key: string, v: ChainVerdict): void {
    this.cache.set(key, v.ok ? { v } : { v, until: this.clock().getTime() + NEGATIVE_TTL_MS });
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /**
   * Revocation by our CRLs (RFC 5280 §6.3), checked here for every certificate on the path
   * below the anchor: a CRL of its issuer whose signature verifies with the issuer's key. A
   * CRL past its nextUpdate still revokes what it lists (pkijs would skip it, and a stale CRL
   * must not bring revoked certificates back).
   */
  private async revokedOnPath(path: readonly ParsedCertificate[], pki: readonly pkijs.Certificate[]): Promise<string | undefined> {
    for (let i = 0; i + 1 < pki.length; i++) {
      const cert = pki[i] as pkijs.Certificate;
      const issuer = pki[i + 1] as pkijs.Certificate;
      for (const crl of this.crls) {
        if (!crl.issuer.isEqual(cert.issuer)) continue;
        let genuine = false;
        try {
          genuine = await crl.verify({ issuerCertificate: issuer }, pkiCrypto);
        } catch {
          genuine = false;
        }
        if (genuine && crl.isCertificateRevoked(cert)) return `certificate "${path[i]?.subject ?? ''}" is revoked by a CRL of "${path[i + 1]?.subject ?? ''}"`;
      }
    }
    return undefined;
  }

  /** RFC 5280 §6 path validation of the peer's chain (end entity first) to one of our anchors. */
  async validate(certs: readonly Uint8Array[]): Promise<ChainVerdict> {
    if (certs.length === 0) return { ok: false, reason: 'the peer sent no certificate' };
    if (certs.length > MAX_PEER_CERTS) return { ok: false, reason: `the peer sent ${certs.length} certificates, more than ${MAX_PEER_CERTS}` };
    const parsed: ParsedCertificate[] = [];
    for (const [i, der] of certs.entries()) {
      const c = parseCertificate(der);
      if (typeof c === 'string') return { ok: false, reason: `certificate ${i + 1} of the peer: ${c}` };
      parsed.push(c);
    }
    const leaf = parsed[0] as ParsedCertificate;
    const now = this.clock();
    // The end entity's own checks first, for a precise reason (pkijs says only "not yet valid or expired").
    if (now < leaf.notBefore) return { ok: false, reason: `certificate "${leaf.subject}" is not valid before ${leaf.notBefore.toISOString()}` };
    if (now > leaf.notAfter) return { ok: false, reason: `certificate "${leaf.subject}" expired at ${leaf.notAfter.toISOString()}` };
    if (leaf.keyUsage && !leaf.keyUsage.digitalSignature && !leaf.keyUsage.nonRepudiation) return { ok: false, reason: `certificate "${leaf.subject}" may not sign (keyUsage has neither digitalSignature nor nonRepudiation, RFC 4945 §5.1.3.2)` };
    const unknownCritical = leaf.pki.extensions?.find((e) => e.critical && !KNOWN_CRITICAL.has(e.extnID));
    if (unknownCritical) return { ok: false, reason: `certificate "${leaf.subject}" has a critical extension we do not process (${unknownCritical.extnID}, RFC 5280 §4.2)` };
    const eku = leaf.pki.extensions?.find((e) => e.extnID === '2.5.29.37');
    if (eku?.critical) {
      const purposes = eku.parsedValue instanceof pkijs.ExtKeyUsage ? eku.parsedValue.keyPurposes : [];
      if (!purposes.some((k) => IKE_PURPOSES.has(k))) return { ok: false, reason: `certificate "${leaf.subject}" is for other purposes (critical extendedKeyUsage ${purposes.join(', ')}, RFC 4945 §5.1.3.12)` };
    }
    if (this.anchors.length === 0) return { ok: false, reason: 'no CA certificate is configured to trust the peer by' };
    // pkijs builds every path recursively: a loop of certificates issuing each other would not
    // end. Each issuer search is one step; a path longer than MAX_PATH_DEPTH is refused.
    let steps = 0;
    const findIssuer = (cert: pkijs.Certificate, engine: pkijs.CertificateChainValidationEngine, crypto?: pkijs.ICryptoEngine): Promise<pkijs.Certificate[]> => {
      if (++steps > MAX_PATH_DEPTH * MAX_PEER_CERTS) throw new Error(`the certificates loop or the path is longer than ${MAX_PATH_DEPTH}`);
      return engine.defaultFindIssuer(cert, engine, crypto);
    };
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: this.anchors.map((a) => a.pki),
      // The end entity goes last: pkijs takes the last certificate as the one to validate.
      certs: [...parsed.slice(1).reverse().map((c) => c.pki), leaf.pki],
      crls: this.crls,
      checkDate: now,
      findIssuer,
    });
    const r = await engine.verify({ passedWhenNotRevValues: true }, pkiCrypto);
    if (!r.result) return { ok: false, reason: `certificate "${leaf.subject}" is not trusted: ${untrustedWhy(r.resultMessage)}` };
    const path = r.certificatePath ?? [];
    const named = path.map((c) => parseCertificate(new Uint8Array(c.toSchema().toBER()))).filter((c): c is ParsedCertificate => typeof c !== 'string');
    if (named.length !== path.length) return { ok: false, reason: 'a certificate on the path does not parse' };
    if (named.length > MAX_PATH_DEPTH + 1) return { ok: false, reason: `the certificate path has ${named.length} certificates, more than ${MAX_PATH_DEPTH + 1}` };
    const pathLen = pathLenViolation(named);
    if (pathLen) return { ok: false, reason: pathLen };
    const revoked = await this.revokedOnPath(named, path);
    if (revoked) return { ok: false, reason: revoked };
    const validFrom = new Date(Math.max(...named.map((c) => c.notBefore.getTime())));
    const validUntil = new Date(Math.min(...named.map((c) => c.notAfter.getTime())));
    return { ok: true, leaf, path: named.map((c) => c.subject), validFrom, validUntil };
  }
}

/**
 * basicConstraints pathLenConstraint (RFC 5280 §4.2.1.9, §6.1.4 (l)-(m)), which pkijs parses
 * but does not enforce: a CA with pathLen N may have at most N non-self-issued CAs below it on
 * the path. `path` is end entity first, anchor last.
 */
function pathLenViolation(path: readonly ParsedCertificate[]): string | undefined {
  for (let i = path.length - 1; i >= 1; i--) {
    const ca = path[i] as ParsedCertificate;
    const bc = ca.pki.extensions?.find((e) => e.extnID === '2.5.29.19')?.parsedValue;
    const limit = bc instanceof pkijs.BasicConstraints && typeof bc.pathLenConstraint === 'number' ? bc.pathLenConstraint : undefined;
    if (limit === undefined) continue;
    // CAs between this one and the end entity, not counting self-issued ones.
    const below = path.slice(1, i).filter((c) => c.subject !== c.issuer).length;
    if (below > limit) return `CA "${ca.subject}" allows ${limit} CA(s) below it (pathLenConstraint), the path has ${below}`;
  }
  return undefined;
}

/** pkijs's messages, said as an operator reads them. */
function untrustedWhy(message: string): string {
  if (/No valid certificate paths found|Unable to find certificate path/.test(message)) return 'no path to a configured CA certificate';
  if (/revoked/.test(message)) return 'revoked by a CRL';
  if (/not yet valid or expired/.test(message)) return 'a certificate on the path is outside its validity';
  return message;
}
