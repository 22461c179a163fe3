/**
 * A pump processor without crypto: forwards each packet from one port to another inside the
 * worker (TUN -> UDP, ESP socket -> TUN, ...), or delivers it to the main thread. Used by the
 * benchmark (the path the ESP processor will take, minus ESP) and the tests; it also shows the
 * shape of a real processor: options at start, updates as messages (here: routes), events posted.
 *
 * Messages: { op: 'route', from, to: { port, to? } | 'deliver' } replaces a route;
 * { op: 'ping', id } is answered with { op: 'pong', id, counts }.
 */
import type { PacketProcessor, PreparedAddr, ProcessorFactory, PumpContext } from './pump-api.js';
import type { SockAddr } from './sockaddr.js';

export type ForwardTarget = { readonly port: string; readonly to?: SockAddr } | 'deliver' | 'drop';

export interface ForwardOptions {
  /** Port name -> target. Ports not listed deliver to the main thread. */
  readonly routes?: Readonly<Record<string, ForwardTarget>>;
}

interface Route {
  readonly port: string;
  readonly to: PreparedAddr | null;
}

export const createProcessor: ProcessorFactory = (options: unknown, ctx: PumpContext): PacketProcessor => {
  const opts = (options ?? {}) as ForwardOptions;
  const routes = new Map<string, Route | 'deliver' | 'drop'>();
  const counts: Record<string, number> = {};
  const set = (from: string, t: ForwardTarget): void => {
    routes.set(from, t === 'deliver' || t === 'drop' ? t : { port: t.port, to: t.to ? ctx.address(t.to) : null });
  };
  for (const [from, t] of Object.entries(opts.routes ?? {})) set(from, t);
  return {
    onPacket(data, src, cx) {
      const r = routes.get(src.port) ?? 'deliver';
      counts[src.port] = (counts[src.port] ?? 0) + 1;
      if (r === 'drop') return;
      if (r === 'deliver') cx.deliver(data, src);
      else cx.send(r.port, data, r.to);
    },
    onMessage(m, cx) {
      const msg = m as { op?: string; from?: string; to?: ForwardTarget; id?: number };
      if (msg.op === 'route' && msg.from && msg.to) set(msg.from, msg.to);
      else if (msg.op === 'ping') cx.post({ op: 'pong', id: msg.id, counts: { ...counts } });
    },
  };
};

export default createProcessor;
