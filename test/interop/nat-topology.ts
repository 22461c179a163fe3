/**
 * Three namespaces for NAT traversal tests: A behind a NAT router R, B outside.
 *
 *   A (10.98.1.2, inner 10.99.1.1 on lo) --veth-- R (10.98.1.1 | 10.99.0.1) --veth-- B (10.99.0.2, inner 10.99.2.1 on lo)
 *
 * R forwards and masquerades what leaves towards B (nft, table `pqike_nat`): B sees A as
 * 10.99.0.1 with ports R picks. `remap()` moves the mapping as a NAT that reboots or expires
 * it would: masquerade into another port range, conntrack flushed. The pair object is a
 * NetnsPair (a = A, b = B) so that the daemon helpers take it as it is; destroy() removes R too.
 */
import { randomBytes } from 'node:crypto';
import { NS_PREFIX, NetnsPair, run } from './netns.js';

const RULES = (range: string): string => `table ip pqike_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "out0" meta l4proto udp masquerade to :${range}
    oifname "out0" masquerade
  }
}
`;

export class NatTopology extends NetnsPair {
  constructor(
    id: string,
    a: NetnsPair['a'],
    b: NetnsPair['b'],
    readonly router: string,
  ) {
    super(id, a, b);
  }

  /** Rewrite the NAT: new UDP source ports (from `range`), every mapping forgotten. */
  async remap(range: string): Promise<void> {
    await nft(this.router, `flush table ip pqike_nat\n${RULES(range)}`);
    await run('ip', ['netns', 'exec', this.router, 'conntrack', '-F'], { allowFail: true });
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    await run('ip', ['netns', 'del', this.router], { allowFail: true });
  }
}

async function nft(ns: string, script: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
}

export async function createNatTopology(): Promise<NatTopology> {
  const id = `nat${process.pid}-${randomBytes(2).toString('hex')}`;
  const A = `${NS_PREFIX}${id}-a`;
  const R = `${NS_PREFIX}${id}-r`;
  const B = `${NS_PREFIX}${id}-b`;
  const tag = randomBytes(3).toString('hex');
  const t = new NatTopology(
    id,
    { ns: A, ifname: 'lan0', addr: '10.98.1.2', prefixLen: 24, innerAddr: '10.99.1.1' },
    { ns: B, ifname: 'wan0', addr: '10.99.0.2', prefixLen: 24, innerAddr: '10.99.2.1' },
    R,
  );
  const ip = (...args: string[]): Promise<unknown> => run('ip', args);
  try {
    for (const ns of [A, R, B]) {
      await ip('netns', 'add', ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // veth names are per namespace; the temporary ones in the root namespace carry a tag.
    await ip('link', 'add', `pa${tag}`, 'netns', A, 'type', 'veth', 'peer', 'name', `pr${tag}`, 'netns', R);
    await ip('link', 'add', `pb${tag}`, 'netns', B, 'type', 'veth', 'peer', 'name', `ps${tag}`, 'netns', R);
    await ip('-n', A, 'link', 'set', `pa${tag}`, 'name', 'lan0');
    await ip('-n', R, 'link', 'set', `pr${tag}`, 'name', 'in0');
    await ip('-n', B, 'link', 'set', `pb${tag}`, 'name', 'wan0');
    await ip('-n', R, 'link', 'set', `ps${tag}`, 'name', 'out0');
    await ip('-n', A, 'addr', 'add', '10.98.1.2/24', 'dev', 'lan0');
    await ip('-n', R, 'addr', 'add', '10.98.1.1/24', 'dev', 'in0');
    await ip('-n', R, 'addr', 'add', '10.99.0.1/24', 'dev', 'out0');
    await ip('-n', B, 'addr', 'add', '10.99.0.2/24', 'dev', 'wan0');
    await ip('-n', A, 'addr', 'add', '10.99.1.1/32', 'dev', 'lo');
    await ip('-n', B, 'addr', 'add', '10.99.2.1/32', 'dev', 'lo');
    for (const [ns, dev] of [[A, 'lan0'], [R, 'in0'], [R, 'out0'], [B, 'wan0']] as const) await ip('-n', ns, 'link', 'set', dev, 'up');
    // A reaches B through R; B has no route to A's network (only the NAT's address).
    await ip('-n', A, 'route', 'add', 'default', 'via', '10.98.1.1');
    await run('ip', ['netns', 'exec', R, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await nft(R, RULES('20000-20999'));
  } catch (e) {
    await t.destroy();
    throw e;
  }
  return t;
}
