/**
 * IKE_AUTH waiting for work outside the sans-I/O engine: the peer's certificate path, which
 * pkijs validates asynchronously (src/auth/trust-store.ts). The SA keeps the request (its
 * Message ID taken and unanswered, RFC 7296 §2.1-2.2) and the way to resume; the engine hands
 * the query to the host (IkeEngine.drainTrust) and resumes the SA when it is settled; a
 * validation that does not come back in time fails the SA.
 */
import type { TrustQuery } from '../auth/trust-store.js';
import { ExchangeType, NotifyType } from '../wire/constants.js';
import type { SettingUp } from './ike-sa.js';

/** How long IKE_AUTH waits for a certificate validation before it gives up (trustExpired). */
export const TRUST_WAIT_MS = 10_000;

/**
 * The validation did not come back in time (a host that runs no queries, one that hangs): the
 * IKE SA fails, and a responder answers the waiting request with AUTHENTICATION_FAILED.
 */
export function trustExpired(sa: SettingUp, now: number): void {
  const wait = sa.setup.trustWait;
  if (!wait || wait.until > now) return;
  sa.setup.trustWait = undefined;
  const why = `the peer's certificates were not validated within ${TRUST_WAIT_MS / 1000} s`;
  if (!sa.isInitiator) sa.refuse(ExchangeType.IKE_AUTH, wait.messageId, NotifyType.AUTHENTICATION_FAILED, why, {});
  sa.fail(why, NotifyType.AUTHENTICATION_FAILED);
}

/**
 * Wait for a certificate path to be validated outside the engine (trust-store.ts), then run
 * `resume` again: the verdict is cached by then. A retransmitted request is not answered
 * meanwhile (its Message ID is in progress, RFC 7296 §2.1), and the initiator sends nothing.
 */
export function awaitTrust(sa: SettingUp, messageId: number, query: TrustQuery, resume: (now: number) => void): void {
  sa.setup.trustWait = { query, messageId, resume, until: sa.host.now + TRUST_WAIT_MS };
  sa.log('debug', `IKE_AUTH waits for the peer's certificates to be validated`);
  sa.host.awaitTrust(sa, query);
}

