/** `pqike daemon -c FILE`: run the gateway until SIGTERM (SIGHUP reloads the file). */
import type { PubkeyAuth } from '../daemon/config-pubkey.js';
import { formatIdentity } from '../engine/identity.js';
import { ConfigError } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { KeyExportError } from '../daemon/key-export.js';
import { algorithmHint } from './suggest.js';
import { EXIT } from './verbs.js';
import type { Parsed } from './verbs.js';

export async function runDaemon({ values }: Parsed): Promise<number> {
  const configPath = typeof values['config'] === 'string' ? values['config'] : '/etc/pqike/pqike.yaml';
  const exportKeys = typeof values['export-keys'] === 'string' ? values['export-keys'] : undefined;
  const json = values['json'] === true;
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      configPath,
      ...(exportKeys === undefined ? {} : { exportKeys }),
      isTty: process.stderr.isTTY === true,
      ...(process.env['PQIKE_DATAPLANE_JOURNAL'] ? { dataPlaneJournal: process.env['PQIKE_DATAPLANE_JOURNAL'] } : {}),
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      // A mistyped algorithm in a proposal gets the closest name.
      const problems = e.problems.map((p) => `${p}${algorithmHint(p)}`);
      if (json && values['check'] === true) process.stdout.write(`${JSON.stringify({ config: configPath, valid: false, problems }, null, 2)}\n`);
      process.stderr.write(`pqike: configuration refused:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  if (values['check'] === true) {
    const chains: string[] = [];
    for (const c of daemon.configuration.connections) if (c.pubkey) chains.push(await describeOwnChain(c.config.name, c.pubkey));
    const conns = daemon.configuration.connections.map((c) => c.config.name);
    if (json) process.stdout.write(`${JSON.stringify({ config: configPath, valid: true, connections: conns, certificates: chains }, null, 2)}\n`);
    else process.stdout.write(`${configPath}: configuration is valid (${conns.length} connections)\n${chains.map((l) => `${l}\n`).join('')}`);
    return EXIT.ok;
  }
  try {
    await daemon.start();
  } catch (e) {
    if (e instanceof KeyExportError) {
      process.stderr.write(`pqike: key export refused: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGHUP', hup);
      // A SIGHUP during shutdown must not kill the process before the deletes are out.
      process.on('SIGHUP', () => daemon.logger.info('SIGHUP ignored: shutting down'));
      daemon.stop().then(resolve, resolve);
    };
    const hup = (): void => {
      daemon.logger.info('SIGHUP: reloading the configuration');
      void daemon.reload();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    process.on('SIGHUP', hup);
  });
  return 0;
}

/**
 * `--check` for auth: pubkey: our certificate, and whether it chains to the CAs we trust
 * ourselves (it need not: the peer may trust another CA; then it says so, not an error).
 */
async function describeOwnChain(name: string, p: PubkeyAuth): Promise<string> {
  const v = await p.trust.validate(p.chain);
  const head = `connection ${name}: ${p.auth.local.describe}, identity ${formatIdentity(p.localId)}`;
  if (v.ok) return `${head}; chain valid to "${v.path[v.path.length - 1] ?? ''}" until ${v.validUntil.toISOString()}`;
  return `${head}; not validated against this connection's own cacerts (${v.reason}); the peer must trust its issuer`;
}
