/**
 * NAT keepalives (RFC 3948 §2.3, §4; RFC 7296 §2.23): a host behind a NAT sends a one-octet
 * 0xFF datagram from its NAT-T port to the peer whenever it has sent nothing there for a while,
 * so that the NAT keeps the mapping that the peer's IKE and ESP in UDP come back through. The
 * interval is strongSwan's default (keep_alive = 20 s); the peer drops the datagram (the kernel
 * eats it on a UDP_ENCAP socket).
 */
import type { IkeSa } from './ike-sa.js';

export const NAT_KEEPALIVE_MS = 20_000;

/** The one octet of a NAT keepalive. */
export const NAT_KEEPALIVE = new Uint8Array([0xff]);

/** When the SA's next keepalive is due (undefined: none needed — not behind a NAT, not up). */
export function keepaliveDue(sa: IkeSa): number | undefined {
  if (!sa.natLocal || sa.state !== 'established') return undefined;
  return sa.lastSentAt + NAT_KEEPALIVE_MS;
}

/** Send a keepalive if one is due. */
export function runKeepalive(sa: IkeSa, now: number): void {
  const due = keepaliveDue(sa);
  if (due === undefined || due > now) return;
  sa.host.emit({ kind: 'send', from: sa.local, to: sa.remote, data: NAT_KEEPALIVE, keepalive: true });
  sa.lastSentAt = now;
}
