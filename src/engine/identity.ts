/**
 * IKE identities (RFC 7296 §3.5): the ID types we configure and match — FQDN, IPv4, IPv6,
 * RFC822 (email), KEY_ID and DER_ASN1_DN (a certificate's subject, RFC 4945 §3.1.5) — and
 * their ID payload encoding.
 */
import { isIP } from 'node:net';
import { nameTextOfDer, normalizeDn } from '../auth/x509.js';
import { IdType } from '../wire/constants.js';
import { addressToBytes, bytesToAddress } from './address.js';

export type IdentityKind = 'fqdn' | 'ipv4' | 'ipv6' | 'email' | 'keyid' | 'dn';

export interface Identity {
  readonly kind: IdentityKind;
  /** Text form: host name, address, email address, hex for KEY_ID, "C=.., O=.., CN=.." for a DN. */
  readonly value: string;
  /** A DN's DER (the Name of RFC 5280 §4.1.2.4), which is what the ID payload carries. */
  readonly der?: Uint8Array;
}

/** A DN identity from a Name's DER (a certificate's subject). */
export function dnIdentity(der: Uint8Array): Identity | undefined {
  const value = nameTextOfDer(der);
  return value === undefined ? undefined : { kind: 'dn', value, der: Uint8Array.from(der) };
}

export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

/**
 * Parse an identity the way strongSwan's `id =` does: an address is an IP ID, `a@b` is RFC822,
 * `@host` or `fqdn:host` is an FQDN, `keyid:hex` is a KEY_ID, anything else is an FQDN.
 */
export function parseIdentity(text: string): Identity {
  const t = text.trim();
  if (t.length === 0) throw new IdentityError('empty identity');
  if (t.startsWith('keyid:')) {
    const hex = t.slice(6).replace(/^#/, '');
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new IdentityError(`KEY_ID '${t}' must be hex bytes, e.g. keyid:#0a0b`);
    return { kind: 'keyid', value: hex.toLowerCase() };
  }
  if (t.startsWith('fqdn:')) return { kind: 'fqdn', value: t.slice(5) };
  if (t.startsWith('@')) return { kind: 'fqdn', value: t.slice(1) };
  if (t.startsWith('email:')) return { kind: 'email', value: t.slice(6) };
  // "C=CH, O=pqike, CN=moon": a DN, as strongSwan writes one (matched against a certificate's subject).
  if (/^[A-Za-z][A-Za-z0-9.]*\s*=/.test(t)) return { kind: 'dn', value: normalizeDn(t) };
  const ip = isIP(t);
  if (ip === 4) return { kind: 'ipv4', value: t };
  if (ip === 6) return { kind: 'ipv6', value: bytesToAddress(addressToBytes(t)) };
  if (t.includes('@')) return { kind: 'email', value: t };
  return { kind: 'fqdn', value: t };
}

export function identityToPayloadData(id: Identity): { idType: number; data: Uint8Array } {
  switch (id.kind) {
    case 'fqdn':
      return { idType: IdType.FQDN, data: new TextEncoder().encode(id.value) };
    case 'email':
      return { idType: IdType.RFC822_ADDR, data: new TextEncoder().encode(id.value) };
    case 'ipv4':
      return { idType: IdType.IPV4_ADDR, data: addressToBytes(id.value) };
    case 'ipv6':
      return { idType: IdType.IPV6_ADDR, data: addressToBytes(id.value) };
    case 'keyid':
      return { idType: IdType.KEY_ID, data: Uint8Array.from(Buffer.from(id.value, 'hex')) };
    case 'dn':
      if (!id.der) throw new IdentityError(`the DN identity "${id.value}" is sent as a certificate's subject: configure the certificate`);
      return { idType: IdType.DER_ASN1_DN, data: id.der };
  }
}

/** Decode a received ID payload; undefined for ID types we do not match on (e.g. DN). */
export function identityFromPayload(idType: number, data: Uint8Array): Identity | undefined {
  switch (idType) {
    case IdType.FQDN:
      return { kind: 'fqdn', value: new TextDecoder().decode(data) };
    case IdType.RFC822_ADDR:
      return { kind: 'email', value: new TextDecoder().decode(data) };
    case IdType.IPV4_ADDR:
      return data.length === 4 ? { kind: 'ipv4', value: bytesToAddress(data) } : undefined;
    case IdType.IPV6_ADDR:
      return data.length === 16 ? { kind: 'ipv6', value: bytesToAddress(data) } : undefined;
    case IdType.KEY_ID:
      return { kind: 'keyid', value: Buffer.from(data).toString('hex') };
    case IdType.DER_ASN1_DN:
      return dnIdentity(data);
    default:
      return undefined;
  }
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'fqdn' || a.kind === 'email') return a.value.toLowerCase() === b.value.toLowerCase();
  if (a.kind === 'dn') return normalizeDn(a.value) === normalizeDn(b.value);
  return a.value === b.value;
}

export function formatIdentity(id: Identity): string {
  return id.kind === 'keyid' ? `keyid:${id.value}` : id.value;
}
