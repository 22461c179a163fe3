/** `pqike probe <address>`: a post-quantum readiness report of an IKEv2 responder. */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { formatReport, runProbe } from '../probe/probe.js';
import { udpProbe } from '../probe/udp.js';
import { UsageError } from './connection-args.js';

export async function runProbeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, json: { type: 'boolean' }, rate: { type: 'string' }, timeout: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const target = positionals[0];
  if (positionals.length !== 1 || target === undefined) throw new UsageError('usage: pqike probe <address> [--port 500] [--json] [--rate 3]');
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(target);
  const address = isIP(target) ? target : m?.[1] ?? target;
  const port = Number(values.port ?? (isIP(target) ? undefined : m?.[2]) ?? 500);
  if (isIP(address) === 0) throw new UsageError(`'${address}' is not an IP address`);
  const rate = Number(values.rate ?? 3);
  // Polite: never more than a few requests per second.
  if (!(rate > 0 && rate <= 5)) throw new UsageError('--rate must be between 0 and 5 requests per second');
  const transport = await udpProbe(address, port, Number(values.timeout ?? 2000));
  try {
    const report = await runProbe(`${address.includes(':') ? `[${address}]` : address}:${port}`, transport.send, transport.endpoints, { ratePerSecond: rate });
    process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.answered ? 0 : 1;
  } finally {
    await transport.close();
  }
}
