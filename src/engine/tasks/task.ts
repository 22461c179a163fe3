/**
 * Tasks: one concern of the IKE exchanges each (NAT detection, fragmentation support, the
 * Child SA of IKE_AUTH, a Configuration payload, …), with a build and a process step per role.
 * An exchange is the sum of the tasks registered for it (tasks/index.ts), run in registration
 * order, which is also the order of their payloads in the message: the exchange's core (SA, KE
 * and Nonce of IKE_SA_INIT; ID and AUTH of IKE_AUTH) comes first, then each task adds its part.
 * A new extension is a new task file and one line in the registry.
 *
 *   initiator: buildRequest → (response arrives) → processResponse → completed
 *   responder: processRequest → buildResponse → (response sent) → completed
 *
 * The shape follows strongSwan's libcharon task manager (src/libcharon/sa/ikev2/tasks/);
 * the code is our own.
 */
import type { Payload, TrafficSelector } from '../../wire/types.js';
import type { IkeSa } from '../ike-sa.js';

/** One run of an exchange as its tasks see it; tasks may leave word here for those after them. */
export interface TaskExchange {
  readonly sa: IkeSa;
  readonly exchange: number;
  readonly now: number;
  /**
   * IKE_AUTH: traffic selectors for the exchange's Child SA in place of the configured ones
   * (RFC 7296 §2.9, §3.15: the address a Configuration payload assigned). `local` and
   * `remote` are from this end's point of view.
   */
  localTs?: readonly TrafficSelector[];
  remoteTs?: readonly TrafficSelector[];
  /**
   * IKE_AUTH: an error notify that stands in for the exchange's Child SA, which is then not
   * created (RFC 7296 §3.10.1, e.g. INTERNAL_ADDRESS_FAILURE), and why; the IKE SA is still set up.
   */
  childRefusal?: { readonly notify: number; readonly reason: string };
}

export interface Task {
  readonly name: string;
  /** The exchange types (wire/constants ExchangeType) the task takes part in. */
  readonly exchanges: readonly number[];
  /** Initiator: add our payloads to the request. */
  buildRequest?(x: TaskExchange, out: Payload[]): void;
  /** Responder: read the request (the responder's state is set up from here on). */
  processRequest?(x: TaskExchange, request: readonly Payload[]): void;
  /** Responder: add our payloads to the response. */
  buildResponse?(x: TaskExchange, request: readonly Payload[], out: Payload[]): void;
  /** Initiator: read the response. */
  processResponse?(x: TaskExchange, response: readonly Payload[]): void;
  /** Both: the exchange is complete (IKE_AUTH: the IKE SA is established and announced). */
  completed?(x: TaskExchange): void;
  /** The IKE SA ended for good (not replaced by a rekey): give back what it held. */
  ended?(sa: IkeSa): void;
  /**
   * Traffic selectors the task fixes for every Child SA of this IKE SA, CREATE_CHILD_SA ones
   * included (RFC 7296 §2.9): a virtual IP is the client's own side on the client and the
   * peer's side on the gateway. From this end's point of view.
   */
  selectors?(sa: IkeSa): { readonly local?: readonly TrafficSelector[]; readonly remote?: readonly TrafficSelector[] } | undefined;
}

/**
 * A task's state on one IKE SA, typed by the slot. The slots of an IKE SA move to the SA that
 * replaces it by a rekey (RFC 7296 §2.18: what was negotiated for the IKE SA stays).
 */
export class TaskSlot<T> {
  constructor(readonly name: string) {}

  get(sa: IkeSa): T | undefined {
    return sa.slots.get(this) as T | undefined;
  }

  set(sa: IkeSa, value: T): void {
    sa.slotsForWrite().set(this, value);
  }

  delete(sa: IkeSa): T | undefined {
    const v = this.get(sa);
    sa.deleteSlot(this);
    return v;
  }
}
