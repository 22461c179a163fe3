/**
 * `pqike probe <address>`: a post-quantum readiness report of an IKEv2 responder. On a
 * terminal it says which offer it is waiting for, and when it retransmits.
 */
import { isIP } from 'node:net';
import { parseDuration as parseConfigDuration } from '../daemon/config.js';
import { decodeMessage } from '../wire/index.js';
import { KeMethodId, NotifyType, PayloadType, TransformType, nameOf } from '../wire/constants.js';
import { keMethodName } from '../engine/describe.js';
import { formatReport, runProbe } from '../probe/probe.js';
import type { ProbeTransport } from '../probe/probe.js';
import { udpProbe } from '../probe/udp.js';
import { UsageError } from './connection-args.js';
import { progressFor } from './progress.js';
import type { Progress } from './progress.js';
import { EXIT } from './verbs.js';
import type { Parsed } from './verbs.js';

/** What an IKE_SA_INIT request of the probe offers: its KE method and ADDKE1 methods. */
function describeOffer(request: Uint8Array): string {
  try {
    const m = decodeMessage(request);
    let ke = '';
    const add = new Set<string>();
    for (const p of m.payloads) {
      if (p.type === PayloadType.KE) ke = keMethodName(p.method);
      if (p.type === PayloadType.SA) {
        for (const pr of p.proposals) for (const t of pr.transforms) if (t.type === TransformType.ADDKE1) add.add(keMethodName(t.id));
      }
    }
    return `${ke}${add.size > 0 ? ` + ADDKE1 ${[...add].join('/')}` : ''}`;
  } catch {
    return 'IKE_SA_INIT';
  }
}

/** An answer: accepted, or refused with which notify. */
function describeAnswer(answer: Uint8Array): string {
  try {
    const m = decodeMessage(answer);
    for (const p of m.payloads) if (p.type === PayloadType.NOTIFY && p.notifyType < 16384) return `refused with ${nameOf(NotifyType, p.notifyType)}`;
    return m.payloads.some((p) => p.type === PayloadType.SA) ? `accepted (${answer.length} B)` : `answered (${answer.length} B)`;
  } catch {
    return `answered (${answer.length} B, not parsed)`;
  }
}

/** The transport with progress lines: each request, and the retransmission after `timeoutMs`. */
function withProgress(send: ProbeTransport, p: Progress, timeoutMs: number): ProbeTransport {
  let n = 0;
  return async (request) => {
    n++;
    p.line(`request ${n}: offering ${describeOffer(request)}`);
    const t = setTimeout(() => p.line(`request ${n}: no answer after ${timeoutMs / 1000} s, retransmitting`), timeoutMs);
    try {
      const answer = await send(request);
      p.line(`request ${n}: ${answer === undefined ? 'no answer' : describeAnswer(answer)}`);
      return answer;
    } finally {
      clearTimeout(t);
    }
  };
}

export async function runProbeCommand({ values, positionals }: Parsed): Promise<number> {
  const target = positionals[0] ?? '';
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(target);
  const address = isIP(target) ? target : m?.[1] ?? target;
  if (isIP(address) === 0) throw new UsageError(`pqike probe: '${address}' is not an IP address (write 192.0.2.2, 192.0.2.2:4500 or [2001:db8::2]:500)`);
  const portText = typeof values['port'] === 'string' ? values['port'] : isIP(target) ? undefined : m?.[2];
  const port = Number(portText ?? 500);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535) || (portText !== undefined && !/^\d+$/.test(portText))) throw new UsageError(`pqike probe: port ${portText ?? ''}: write 1..65535`);
  const rateText = typeof values['rate'] === 'string' ? values['rate'] : '3';
  const rate = Number(rateText);
  // Polite: never more than a few requests per second.
  if (!(rate > 0 && rate <= 5)) throw new UsageError(`pqike probe: --rate ${rateText}: must be more than 0 and at most 5 requests per second`);
  const timeoutText = typeof values['timeout'] === 'string' ? values['timeout'] : undefined;
  // A bare number is milliseconds (as before), otherwise a duration: 2s, 500ms.
  const timeoutMs = timeoutText === undefined ? 2000 : /^\d+$/.test(timeoutText) ? Number(timeoutText) : parseConfigDuration(timeoutText);
  if (timeoutMs === undefined || !(timeoutMs > 0)) throw new UsageError(`pqike probe: --timeout ${timeoutText ?? ''}: a duration, e.g. 2s or 500ms`);
  const progress = progressFor(values);
  const name = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  progress.line(`probing ${name} with IKE_SA_INIT requests (at most ${rate} per second)`);
  const transport = await udpProbe(address, port, timeoutMs);
  try {
    const send = progress.enabled ? withProgress(transport.send, progress, timeoutMs) : transport.send;
    const report = await runProbe(name, send, transport.endpoints, { ratePerSecond: rate });
    process.stdout.write(values['json'] === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.answered ? EXIT.ok : EXIT.failed;
  } finally {
    await transport.close();
  }
}
