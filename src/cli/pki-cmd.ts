/**
 * `pqike pki`: a test CA, gateway certificates and CRLs for the demo, the tests and a first
 * deployment, in the spirit of strongSwan's `pki` (src/auth/pki.ts does the work):
 *
 *   pqike pki --gen --type ed25519 --out moonKey.pem
 *   pqike pki --self --in caKey.pem --dn "C=CH, O=pqike, CN=pqike CA" --out caCert.pem
 *   pqike pki --issue --in moonKey.pem --cacert caCert.pem --cakey caKey.pem \
 *             --dn "C=CH, O=pqike, CN=moon.example.org" --san moon.example.org --out moonCert.pem
 *   pqike pki --crl --cacert caCert.pem --cakey caKey.pem [--revoke cert.pem ...] --out ca.crl
 *   pqike pki --print moonCert.pem
 *
 * A private key is written 0600 into a new file, never through a symlink (O_EXCL|O_NOFOLLOW).
 */
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { issueCertificate, issueCrl, serialOf } from '../auth/pki.js';
import { keyTypeName } from '../auth/pubkey.js';
import { parseCertificate } from '../auth/x509.js';
import type { ParsedCertificate } from '../auth/x509.js';
import { generatePrivateKey, loadPrivateKey, pemBlocks, toPem } from '../crypto/signature-keys.js';
import type { PrivateSignatureKey, SignatureKeyType } from '../crypto/signature-keys.js';
import { UsageError } from './connection-args.js';
import { didYouMean } from './suggest.js';
import type { Parsed } from './verbs.js';

const TYPES: readonly SignatureKeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'ed448', 'rsa', 'rsa-pss', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'];

export const PKI_HELP = `pqike pki --gen --type T --out KEY          a private key (T: ${TYPES.join(' ')})
  pqike pki --self --in KEY --dn DN [--lifetime DAYS] --out CERT    a self-signed CA certificate
  pqike pki --issue --in KEY --cacert CERT --cakey KEY --dn DN [--san NAME ...] [--ca] --out CERT
  pqike pki --crl --cacert CERT --cakey KEY [--revoke CERT ...] --out CRL
  pqike pki --print CERT`;

/** Write a new file: 0600 for keys, never through a symlink, never over an existing file. */
function writeNew(path: string, text: string, mode: number): void {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function readKey(path: string): PrivateSignatureKey {
  return loadPrivateKey(readFileSync(path, 'utf8'));
}

function readCert(path: string): ParsedCertificate {
  const text = readFileSync(path);
  const der = text.includes('-----BEGIN') ? pemBlocks(text.toString('latin1'), 'CERTIFICATE')[0] : Uint8Array.from(text);
  const c = parseCertificate(der ?? new Uint8Array(0));
  if (typeof c === 'string') throw new UsageError(`${path}: ${c}`);
  return c;
}

function describe(c: ParsedCertificate): string {
  const names = [...c.altNames.dns, ...c.altNames.ip, ...c.altNames.email];
  return [
    `subject:  "${c.subject}"`,
    `issuer:   "${c.issuer}"`,
    `validity: ${c.notBefore.toISOString()} .. ${c.notAfter.toISOString()}`,
    `key:      ${keyTypeName(c.publicKey().type)}`,
    `altNames: ${names.join(', ') || '-'}`,
    `flags:    ${c.isCa ? 'CA' : 'end entity'}${c.keyUsage ? ` keyUsage:${c.keyUsage.digitalSignature ? ' digitalSignature' : ''}${c.keyUsage.keyCertSign ? ' keyCertSign' : ''}` : ''}`,
    '',
  ].join('\n');
}

/** The certificate's fields for --print --json. */
function describeJson(c: ParsedCertificate): Record<string, unknown> {
  return {
    subject: c.subject,
    issuer: c.issuer,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    key: keyTypeName(c.publicKey().type),
    altNames: { dns: c.altNames.dns, ip: c.altNames.ip, email: c.altNames.email },
    ca: c.isCa,
    ...(c.keyUsage ? { keyUsage: { digitalSignature: c.keyUsage.digitalSignature, keyCertSign: c.keyUsage.keyCertSign } } : {}),
  };
}

export function runPkiCommand({ values }: Parsed): number {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const list = (k: string): string[] => {
    const v = values[k];
    return Array.isArray(v) ? v : [];
  };
  const json = values['json'] === true;
  const need = (v: string | undefined, what: string): string => {
    if (v === undefined) throw new UsageError(`pqike pki: ${what}\n${PKI_HELP}`);
    return v;
  };
  const actions = ['gen', 'self', 'issue', 'crl', 'print'].filter((k) => values[k] !== undefined && values[k] !== false);
  if (actions.length > 1) throw new UsageError(`pqike pki: one of --gen, --self, --issue, --crl, --print at a time (not ${actions.map((a) => `--${a}`).join(' and ')})`);
  const printPath = str('print');
  if (printPath !== undefined) {
    const c = readCert(printPath);
    process.stdout.write(json ? `${JSON.stringify(describeJson(c), null, 2)}\n` : describe(c));
    return 0;
  }
  const wrote = (out: string, what: string): number => {
    process.stdout.write(json ? `${JSON.stringify({ wrote: out, what })}\n` : `${what} written to ${out}\n`);
    return 0;
  };
  if (actions.length === 0) throw new UsageError(`pqike pki: say what to do\n${PKI_HELP}`);
  const out = need(str('out'), '--out FILE is needed');
  const lifetime = str('lifetime');
  const days = Number(lifetime ?? (values['self'] === true ? 3650 : 1095));
  if (!(days > 0)) throw new UsageError(`pqike pki: --lifetime ${lifetime ?? ''}: a number of days`);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  if (values['gen'] === true) {
    const type = need(str('type'), `--type is needed: ${TYPES.join(', ')}`) as SignatureKeyType;
    if (!TYPES.includes(type)) throw new UsageError(`pqike pki: --type ${type}: write one of ${TYPES.join(', ')}${didYouMean(type, TYPES)}`);
    writeNew(out, toPem(generatePrivateKey(type), 'PRIVATE KEY'), 0o600);
    return wrote(out, `${type} private key`);
  }
  if (values['self'] === true) {
    const key = readKey(need(str('in'), '--in KEY is needed'));
    const der = issueCertificate({ subject: need(str('dn'), '--dn is needed'), publicKey: key.publicKey.spki, signer: key, ca: true, notBefore, notAfter });
    writeNew(out, toPem(der, 'CERTIFICATE'), 0o644);
    return wrote(out, 'self-signed CA certificate');
  }
  const caCert = readCert(need(str('cacert'), '--cacert is needed'));
  const caKey = readKey(need(str('cakey'), '--cakey is needed'));
  if (values['issue'] === true) {
    const key = readKey(need(str('in'), '--in KEY is needed (the subject\'s private key)'));
    const der = issueCertificate({ subject: need(str('dn'), '--dn is needed'), publicKey: key.publicKey.spki, signer: caKey, issuer: caCert, ca: values['ca'] === true, altNames: list('san'), notBefore, notAfter });
    writeNew(out, toPem(der, 'CERTIFICATE'), 0o644);
    return wrote(out, 'certificate');
  }
  const revoked = list('revoke').map((f) => serialOf(readCert(f)));
  writeNew(out, toPem(issueCrl({ issuer: caCert, signer: caKey, revoked }), 'X509 CRL'), 0o644);
  return wrote(out, 'CRL');
}
