/**
 * Running the registered tasks (tasks/index.ts) of one exchange, in registration order.
 * The exchange code calls these at its fixed points; see tasks/task.ts for the sequence.
 */
import type { Payload, TrafficSelector } from '../../wire/types.js';
import type { IkeSa } from '../ike-sa.js';
import { TASKS } from './index.js';
import type { Task, TaskExchange } from './task.js';

/** The tasks of each exchange type, worked out once (every IKE_SA_INIT of a flood asks). */
const byExchange = new Map<number, readonly Task[]>();

function active(exchange: number): readonly Task[] {
  let list = byExchange.get(exchange);
  if (list === undefined) byExchange.set(exchange, (list = TASKS.filter((t) => t.exchanges.includes(exchange))));
  return list;
}

export function buildRequest(x: TaskExchange, out: Payload[]): void {
  for (const t of active(x.exchange)) t.buildRequest?.(x, out);
}

export function processRequest(x: TaskExchange, request: readonly Payload[]): void {
  for (const t of active(x.exchange)) t.processRequest?.(x, request);
}

export function buildResponse(x: TaskExchange, request: readonly Payload[], out: Payload[]): void {
  for (const t of active(x.exchange)) t.buildResponse?.(x, request, out);
}

export function processResponse(x: TaskExchange, response: readonly Payload[]): void {
  for (const t of active(x.exchange)) t.processResponse?.(x, response);
}

export function completed(x: TaskExchange): void {
  for (const t of active(x.exchange)) t.completed?.(x);
}

/** The traffic selectors the tasks fix for the Child SAs of this IKE SA (the first task that fixes one side wins). */
export function selectors(sa: IkeSa): { local?: readonly TrafficSelector[]; remote?: readonly TrafficSelector[] } {
  const out: { local?: readonly TrafficSelector[]; remote?: readonly TrafficSelector[] } = {};
  for (const t of TASKS) {
    const s = t.selectors?.(sa);
    if (s?.local && !out.local) out.local = s.local;
    if (s?.remote && !out.remote) out.remote = s.remote;
  }
  return out;
}

/** The IKE SA is gone for good: every task gives back what it held for it. */
export function ended(sa: IkeSa): void {
  for (const t of TASKS) t.ended?.(sa);
}
