#!/usr/bin/env node
/**
 * The `pqike` command. The verbs, their arguments and options are in verbs.ts (parsed with
 * node:util parseArgs, strict); each verb's module is loaded only when it runs. Exit codes:
 * 0 success, 1 failure, 2 usage error, 3 no daemon, 4 timed out (docs/cli.md).
 */
import { IdentityError } from '../engine/identity.js';
import { ProposalSyntaxError } from '../engine/proposal-string.js';
import { TrafficSelectorError } from '../engine/traffic-selectors.js';
import { UsageError } from './connection-args.js';
import type { PeerArgs } from './peer.js';
import { proposalHint } from './suggest.js';
import { DEMO_CERT_TYPES, EXIT, EXIT_CODES_HELP, VERB_NAMES, mainHelp, parseVerb, unknownVerb, verb, verbHelp, wantsHelp } from './verbs.js';
import type { Parsed } from './verbs.js';

const out = (s: string): void => void process.stdout.write(s);

async function version(json: boolean): Promise<number> {
  const { formatVersion, versionInfo } = await import('./version.js');
  const v = await versionInfo();
  out(json ? `${JSON.stringify(v, null, 2)}\n` : formatVersion(v));
  return EXIT.ok;
}

function help(topic: string | undefined): number {
  if (topic === undefined) out(mainHelp());
  else if (topic === 'exit-codes') out(EXIT_CODES_HELP);
  else {
    const v = verb(topic);
    if (!v) throw unknownVerb(topic);
    out(verbHelp(v));
  }
  return EXIT.ok;
}

const str = (p: Parsed, k: string): string | undefined => {
  const v = p.values[k];
  return typeof v === 'string' ? v : undefined;
};

async function demo(p: Parsed): Promise<number> {
  const { DEMO_ESP, DEMO_PROPOSAL, runDemo } = await import('./demo.js');
  const { fragmentSizeArg } = await import('./connection-args.js');
  const proposal = str(p, 'proposal') ?? DEMO_PROPOSAL;
  const esp = str(p, 'esp') ?? DEMO_ESP;
  // A mistyped algorithm is a usage error before anything starts.
  const { parseProposal } = await import('../engine/proposal-string.js');
  parseProposal(proposal, 'ike');
  parseProposal(esp, 'esp');
  if (p.values['netns'] === true && p.values['json'] === true) throw new UsageError('--json: not with --netns (whose steps are commands in two namespaces); leave out one of them');
  if (p.values['netns'] === true) {
    const { runNetnsDemo } = await import('./demo-netns.js');
    const print = (l: string): void => out(`${l}\n`);
    try {
      return (await runNetnsDemo({ proposal, esp, print })) ? EXIT.ok : EXIT.failed;
    } catch (e) {
      process.stderr.write(`pqike demo --netns: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT.failed;
    }
  }
  const certs = str(p, 'certs');
  if (certs !== undefined && !(DEMO_CERT_TYPES as readonly string[]).includes(certs)) throw new UsageError(`--certs: write one of ${DEMO_CERT_TYPES.join(', ')}`);
  const fragment = str(p, 'fragment-size');
  const ok = await runDemo({
    ...(certs === undefined ? {} : { certs: certs as (typeof DEMO_CERT_TYPES)[number] }),
    ...(p.values['ppk'] === true ? { ppk: true } : {}),
    proposal,
    esp,
    rekey: p.values['no-rekey'] !== true,
    ...(fragment === undefined ? {} : { fragmentSize: fragmentSizeArg(fragment) }),
    print: (l) => out(`${l}\n`),
    ...(p.values['json'] === true ? { json: (r: unknown) => out(`${JSON.stringify(r)}\n`) } : {}),
  });
  return ok ? EXIT.ok : EXIT.failed;
}

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(mainHelp());
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h') return help(undefined);
  if (first === '--version' || first === '-V') {
    if (rest.some((a) => a !== '--json')) throw new UsageError(`pqike --version: unexpected argument '${rest.find((a) => a !== '--json') ?? ''}'`, true);
    return version(rest.includes('--json'));
  }
  const v = verb(first);
  if (!v) {
    if (first.startsWith('-')) throw new UsageError(`unknown option '${first}' before the verb; see pqike --help (verbs: ${VERB_NAMES.join(', ')})`, true);
    throw unknownVerb(first);
  }
  if (wantsHelp(rest)) {
    out(verbHelp(v));
    return EXIT.ok;
  }
  const p = parseVerb(v, rest);
  switch (v.name) {
    case 'help':
      return help(p.positionals[0]);
    case 'version':
      return version(p.values['json'] === true);
    case 'demo':
      return demo(p);
    case 'daemon':
      return (await import('./daemon-cmd.js')).runDaemon(p);
    case 'probe':
      return (await import('./probe-cmd.js')).runProbeCommand(p);
    case 'pki':
      return (await import('./pki-cmd.js')).runPkiCommand(p);
    case 'log':
      return (await import('./log-cmd.js')).runLog(p);
    case 'initiate':
    case 'respond': {
      const { runInitiator, runResponder } = await import('./peer.js');
      // The values are those verbs.ts declares for these verbs: PeerArgs' fields and types.
      const a = p.values as PeerArgs;
      return v.name === 'initiate' ? runInitiator(a) : runResponder(a);
    }
    default: {
      const { CONTROL_CLIENT_COMMANDS, runControl } = await import('./control-cmd.js');
      if (!(CONTROL_CLIENT_COMMANDS as readonly string[]).includes(v.name)) throw new Error(`pqike ${v.name}: not implemented`);
      return runControl(v.name, p);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof ProposalSyntaxError) {
      process.stderr.write(`pqike: ${proposalHint(e)}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    if (e instanceof UsageError || e instanceof TrafficSelectorError || e instanceof IdentityError) {
      // `pqike up: missing <connection>` names its verb already.
      process.stderr.write(`${e.message.startsWith('pqike') ? '' : 'pqike: '}${e.message}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    process.stderr.write(`pqike: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.failed;
  },
);
