/**
 * `auth: pubkey` in pqike.yaml, as swanctl users know it: `certs` (our certificate, then any
 * intermediates: files or PEM blocks, end entity first), `private_keys` (the key of our
 * certificate, chosen among them by its public key), `cacerts` (the trust anchors for the
 * peer), `crls`, and `private_key_passphrase` (a name in the secrets file's `passphrase:`
 * section, for an encrypted key). Without `local_id`, our identity is the certificate's subject
 * DN (strongSwan's default); with one, the certificate must name it (RFC 4945 §3.1).
 * A key file must not be readable by others. Paths are relative to the configuration file.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Authenticator } from '../auth/authenticator.js';
import { certificateAuthenticator, trustedPeerAuthenticator } from '../auth/pubkey.js';
import { TrustStore } from '../auth/trust-store.js';
import { certificateNames, parseCertificate } from '../auth/x509.js';
import { CryptoError } from '../crypto/errors.js';
import { loadPrivateKey, pemBlocks } from '../crypto/signature-keys.js';
import type { PrivateSignatureKey } from '../crypto/signature-keys.js';
import { dnIdentity, formatIdentity } from '../engine/identity.js';
import type { Identity } from '../engine/identity.js';
import type { Problems, Section } from './config.js';
import { CONNECTION } from './config-schema.js';

export interface PubkeyAuth {
  readonly auth: { readonly local: Authenticator; readonly remote: Authenticator };
  /** The identity to use: the configured one, else our certificate's subject. */
  readonly localId: Identity;
  /** Our chain, for `daemon --check` (validated against our own CAs where they issued it). */
  readonly chain: readonly Uint8Array[];
  readonly trust: TrustStore;
}

/** DER blocks of one label from PEM files (or one DER file). */
function readBlocks(path: string, label: string): Uint8Array[] | string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    return `cannot read ${path} (${e instanceof Error ? e.message : String(e)})`;
  }
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const blocks = pemBlocks(text, label);
    return blocks.length > 0 ? blocks : `${path} has no "${label}" PEM block`;
  }
  return [Uint8Array.from(data)];
}

export function pubkeyAuthFrom(s: Section, base: string, passphrases: ReadonlyMap<string, string> | undefined, localId: Identity | undefined, p: Problems): PubkeyAuth | undefined {
  const before = p.list.length;
  const files = (key: string): string[] => (s.strings(key) ?? []).map((f) => resolve(base, f));
  const certFiles = files('certs');
  const keyFiles = files('private_keys');
  const caFiles = files('cacerts');
  const crlFiles = files('crls');
  const passName = s.string('private_key_passphrase');
  if (certFiles.length === 0) p.at(s.anchor, `${s.path}: auth: pubkey needs certs: <our certificate file> (PEM or DER)`);
  if (keyFiles.length === 0) p.at(s.anchor, `${s.path}: auth: pubkey needs private_keys: <the key of that certificate> (PEM, mode 0600)`);
  if (caFiles.length === 0) p.at(s.anchor, `${s.path}: auth: pubkey needs cacerts: <the CA certificate(s) the peer's certificate must chain to>`);
  const chain: Uint8Array[] = [];
  for (const f of certFiles) {
    const b = readBlocks(f, 'CERTIFICATE');
    if (typeof b === 'string') p.at(s.node_('certs'), `${s.path}.certs: ${b}`);
    else chain.push(...b);
  }
  const anchors: Uint8Array[] = [];
  for (const f of caFiles) {
    const b = readBlocks(f, 'CERTIFICATE');
    if (typeof b === 'string') p.at(s.node_('cacerts'), `${s.path}.cacerts: ${b}`);
    else anchors.push(...b);
  }
  const crls: Uint8Array[] = [];
  for (const f of crlFiles) {
    const b = readBlocks(f, 'X509 CRL');
    if (typeof b === 'string') p.at(s.node_('crls'), `${s.path}.crls: ${b}`);
    else crls.push(...b);
  }
  const passphrase = passName === undefined ? undefined : passphrases?.get(passName);
  if (passName !== undefined && passphrase === undefined) p.at(s.node_('private_key_passphrase'), `${s.path}.private_key_passphrase: no '${passName}' under passphrase: in the secrets file`);
  const keys: PrivateSignatureKey[] = [];
  for (const f of keyFiles) {
    try {
      const st = statSync(f);
      if ((st.mode & 0o077) !== 0) {
        p.at(s.node_('private_keys'), `${s.path}.private_keys: ${f} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${f}`);
        continue;
      }
      keys.push(loadPrivateKey(readFileSync(f, 'utf8'), passphrase === undefined ? {} : { passphrase }));
    } catch (e) {
      const why = e instanceof CryptoError ? e.message : e instanceof Error ? e.message : String(e);
      const hint = /encrypted and no passphrase/.test(why) ? `; add private_key_passphrase: <name>, and the passphrase under passphrase: in the secrets file` : '';
      p.at(s.node_('private_keys'), `${s.path}.private_keys: ${f}: ${why}${hint}`);
    }
  }
  if (p.list.length > before) return undefined;
  const leaf = parseCertificate(chain[0] ?? new Uint8Array(0));
  if (typeof leaf === 'string') {
    p.at(s.node_('certs'), `${s.path}.certs: ${leaf}`);
    return undefined;
  }
  const key = keys.find((k) => Buffer.compare(Buffer.from(k.publicKey.spki), Buffer.from(leaf.spki)) === 0);
  if (!key) {
    p.at(s.node_('private_keys'), `${s.path}.private_keys: none of them is the key of certificate "${leaf.subject}"`);
    return undefined;
  }
  const id = localId ?? dnIdentity(leaf.subjectDer);
  if (!id) {
    p.at(s.node_('certs'), `${s.path}.certs: the certificate's subject cannot serve as our identity; set local_id to a name in its subjectAltName`);
    return undefined;
  }
  if (localId && !certificateNames(leaf, localId)) {
    p.at(s.node_('local_id'), `${s.path}.local_id: certificate "${leaf.subject}" does not name ${formatIdentity(localId)} (its subjectAltNames: ${[...leaf.altNames.dns, ...leaf.altNames.ip, ...leaf.altNames.email].join(', ') || 'none'}); the peer would refuse it`);
    return undefined;
  }
  // Our own id as a DN must be sent as DER: the certificate's subject.
  const localIdentity = id.kind === 'dn' ? (dnIdentity(leaf.subjectDer) ?? id) : id;
  let trust: TrustStore;
  try {
    trust = new TrustStore({ anchors, crls });
  } catch (e) {
    p.at(s.node_('cacerts'), `${s.path}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
  return {
    auth: { local: certificateAuthenticator({ key, certificates: chain }), remote: trustedPeerAuthenticator(trust) },
    localId: localIdentity,
    chain,
    trust,
  };
}

/** Keys of the connection section that auth: pubkey reads (marked `pubkey` in the description). */
export const PUBKEY_KEYS: readonly string[] = CONNECTION.keys.filter((k) => k.pubkey).map((k) => k.key);
