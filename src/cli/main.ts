#!/usr/bin/env node
/** The `pqike` command. */
import { parseArgs } from 'node:util';
import { CONNECTION_OPTIONS, UsageError, fragmentSizeArg } from './connection-args.js';
import { DEMO_ESP, DEMO_PROPOSAL, runDemo } from './demo.js';
import { runInitiator, runResponder } from './peer.js';
import { runDaemon } from './daemon-cmd.js';
import { runProbeCommand } from './probe-cmd.js';
import { PKI_HELP, runPkiCommand } from './pki-cmd.js';
const DEMO_CERT_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'ed448', 'rsa', 'rsa-pss', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const;
import { CONTROL_CLIENT_COMMANDS, runControl } from './control-cmd.js';
import type { PeerArgs } from './peer.js';
import { ProposalSyntaxError } from '../engine/proposal-string.js';

const HELP = `pqike — IKEv2 with RFC 9370 hybrid (post-quantum) key exchanges

Usage:
  pqike demo [--proposal P] [--esp P] [--fragment-size N] [--no-rekey] [--certs TYPE] [--ppk]
  pqike demo --netns [--proposal P] [--esp P]   (root: two daemons in network namespaces, real ESP)
      Two peers in this process over 127.0.0.1 UDP set up an IKE SA and a Child SA, then
      rekey the Child SA and the IKE SA, showing every exchange. --certs ml-dsa-65 (or
      ecdsa-p256, ed25519, rsa-pss, ml-dsa-44, ml-dsa-87, ...): certificates from a throwaway
      CA instead of a PSK — ML-KEM in the key exchange, ML-DSA in the authentication.
      --ppk: a post-quantum preshared key mixed into the keys as well, in IKE_INTERMEDIATE (RFC 9867).
      Defaults: --proposal ${DEMO_PROPOSAL} --esp ${DEMO_ESP}
  pqike initiate --local ADDR --remote ADDR --psk-file F [options]
      Set up one IKE SA + Child SA with a peer; exit 0 when it is up (with --stay: run until
      the IKE SA is deleted, exit 0, or fails, exit 1).
  pqike respond --local ADDR --psk-file F [options]
      Answer IKE SAs until killed (or --count N are up).

Gateway:
  pqike daemon -c /etc/pqike/pqike.yaml [--export-keys FILE] [--check]
      Run the gateway (SIGTERM: delete all SAs and stop; SIGHUP: reload). --check only
      validates the file. See examples/pqike.yaml.
  pqike up <conn>                 bring a connection up and wait for its Child SA
  pqike down <conn|IKE SA #>      delete its IKE SA(s)
  pqike rekey <IKE SA #|conn> [--child SPI]   rekey the IKE SA, or one Child SA
  pqike list-sas | list-conns | stats [--json]
  pqike reload                    apply configuration changes; unchanged tunnels stay up
      These talk to the daemon over /run/pqike/pqike.sock (--socket or PQIKE_SOCKET).
  pqike probe <address>[:port] [--json] [--rate N]
      Ask an IKEv2 responder, with IKE_SA_INIT only (no credentials; nothing completed;
      at most N requests per second, default 3), which key exchange methods, RFC 9370
      additional key exchanges, IKE_INTERMEDIATE, fragmentation and signature hashes it
      accepts, and print a post-quantum readiness report.

Certificates (auth: pubkey in pqike.yaml):
  ${PKI_HELP}

Proposals use strongSwan's syntax: ENCR-[PRF-]INTEG/PRF-KE[-keN_KE...], e.g.
  aes256gcm16-prfsha384-x25519-ke1_mlkem768          X25519, then ML-KEM-768 in IKE_INTERMEDIATE
  aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_none  the same, ADDKE optional
  aes128-sha256-ecp256                                classic
  aes256gcm16-prfsha384-mlkem768                      ML-KEM alone in IKE_SA_INIT
  Encryption: aes128 aes256 (CBC) aes128gcm16 aes256gcm16 chacha20poly1305
  Integrity/PRF: sha256 sha384 sha512, prfsha256 prfsha384 prfsha512
  Key exchange: modp2048 modp3072 modp4096 ecp256 ecp384 ecp521 x25519 x448
                mlkem512 mlkem768 mlkem1024, keN_<method> for ADDKE N (1..7), keN_none

Connection options (initiate/respond):
  --local ADDR --remote ADDR   addresses (respond: --remote defaults to %any)
  --port N --remote-port N     UDP ports (default 500)
  --local-id ID --remote-id ID identities: host name, address, user@host, keyid:#hex
  --psk-file FILE              pre-shared key (file content, at least 16 octets; never on
                               the command line)
  --ike P --esp P              proposals (repeat to offer several)
  --local-ts TS --remote-ts TS traffic selectors, e.g. 10.1.0.0/16 (repeatable)
  --mode tunnel|transport      Child SA mode (default tunnel)
  --fragment-size N            largest IKE fragment datagram, 576..65535 (default 1280)
  --no-fragmentation           do not offer IKE fragmentation
  --rekey-time DURATION        rekey the Child SA this long after it is created (e.g. 1h)
  --ike-rekey-time DURATION    rekey the IKE SA this long after it is created (e.g. 4h)
  --dpd-delay DURATION         liveness check after this long without a message from the peer
  --retransmit-timeout DURATION  first retransmission (default 1s, doubling each time)
  --retransmit-tries N         retransmissions before the peer counts as dead (default 5)
  --json                       events as JSON lines
  --export-keys FILE           write IKE keys (every key stage) to FILE and ESP keys to
                               FILE.esp_sa in Wireshark's ikev2_decryption_table / esp_sa
                               formats (debugging only: anyone with FILE reads the traffic)
  --timeout DURATION           initiate: give up if not up within it (default 15s);
                               respond: exit after it
  --delete-after               (initiate) delete the IKE SA once it is up
  --stay                       (initiate) keep running once the Child SA is up
  --count N                    (respond) exit after N Child SAs
  --control                    read commands from stdin, one a line, for the latest IKE SA
                               (followed through rekeys); end of input = quit:
                                 rekey-child [SPI]   rekey the newest Child SA (or the one
                                                     with this inbound SPI, hex)
                                 delete-child [SPI]  delete it
                                 rekey-ike           rekey the IKE SA
                                 delete-ike          delete the IKE SA
                                 dpd                 liveness check (empty INFORMATIONAL)
                                 quit                exit without deleting anything
                               each command is answered with a 'control' line (ok or error)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 1 : 0;
  }
  if (command === 'demo') {
    const { values } = parseArgs({
      args: rest,
      options: { proposal: { type: 'string' }, esp: { type: 'string' }, 'fragment-size': { type: 'string' }, 'no-rekey': { type: 'boolean' }, netns: { type: 'boolean' }, certs: { type: 'string' }, ppk: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.netns === true) {
      const { runNetnsDemo } = await import('./demo-netns.js');
      const print = (l: string): void => void process.stdout.write(`${l}\n`);
      try {
        return (await runNetnsDemo({ proposal: values.proposal ?? DEMO_PROPOSAL, esp: values.esp ?? DEMO_ESP, print })) ? 0 : 1;
      } catch (e) {
        process.stderr.write(`pqike demo --netns: ${e instanceof Error ? e.message : String(e)}\n`);
        return 1;
      }
    }
    if (values.certs !== undefined && !(DEMO_CERT_TYPES as readonly string[]).includes(values.certs)) throw new UsageError(`--certs: write one of ${DEMO_CERT_TYPES.join(', ')}`);
    const ok = await runDemo({
      ...(values.certs === undefined ? {} : { certs: values.certs as (typeof DEMO_CERT_TYPES)[number] }),
      ...(values.ppk === true ? { ppk: true } : {}),
      proposal: values.proposal ?? DEMO_PROPOSAL,
      esp: values.esp ?? DEMO_ESP,
      rekey: values['no-rekey'] !== true,
      ...(values['fragment-size'] === undefined ? {} : { fragmentSize: fragmentSizeArg(values['fragment-size']) }),
      print: (l) => process.stdout.write(`${l}\n`),
    });
    return ok ? 0 : 1;
  }
  if (command === 'daemon') return runDaemon(rest);
  if (command === 'probe') return runProbeCommand(rest);
  if (command === 'pki') return runPkiCommand(rest);
  if ((CONTROL_CLIENT_COMMANDS as readonly string[]).includes(command)) return runControl(command, rest);
  if (command === 'initiate' || command === 'respond') {
    const { values } = parseArgs({
      args: rest,
      options: {
        ...CONNECTION_OPTIONS,
        count: { type: 'string' },
        'delete-after': { type: 'boolean' },
        verbose: { type: 'boolean' },
        stay: { type: 'boolean' },
        control: { type: 'boolean' },
        'retransmit-timeout': { type: 'string' },
        'retransmit-tries': { type: 'string' },
      },
      strict: true,
    });
    const a: PeerArgs = values;
    return command === 'initiate' ? runInitiator(a) : runResponder(a);
  }
  process.stderr.write(`pqike: unknown command '${command}' (try pqike --help)\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError || e instanceof ProposalSyntaxError || (e instanceof Error && e.name.endsWith('Error') && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`pqike: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`pqike: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
