/** `pqike daemon -c FILE`: run the gateway until SIGTERM (SIGHUP reloads the file). */
import type { PubkeyAuth } from '../daemon/config-pubkey.js';
import { formatIdentity } from '../engine/identity.js';
import { parseArgs } from 'node:util';
import { ConfigError } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { KeyExportError } from '../daemon/key-export.js';

export async function runDaemon(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, 'export-keys': { type: 'string' }, 'check': { type: 'boolean' } },
    strict: true,
  });
  const configPath = values.config ?? '/etc/pqike/pqike.yaml';
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      configPath,
      ...(values['export-keys'] === undefined ? {} : { exportKeys: values['export-keys'] }),
      isTty: process.stderr.isTTY === true,
      ...(process.env['PQIKE_DATAPLANE_JOURNAL'] ? { dataPlaneJournal: process.env['PQIKE_DATAPLANE_JOURNAL'] } : {}),
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pqike: configuration refused:\n${e.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return 2;
    }
    throw e;
  }
  if (values.check === true) {
    process.stdout.write(`${configPath}: configuration is valid (${daemon.configuration.connections.length} connections)\n`);
    for (const c of daemon.configuration.connections) {
      if (c.pubkey) process.stdout.write(`${await describeOwnChain(c.config.name, c.pubkey)}\n`);
    }
    return 0;
  }
  try {
    await daemon.start();
  } catch (e) {
    if (e instanceof KeyExportError) {
      process.stderr.write(`pqike: key export refused: ${e.message}\n`);
      return 2;
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
