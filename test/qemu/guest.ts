/**
 * Shell snippets for scripts run inside the qemu guest (runInVm), and parsers
 * for what they print. Nothing here runs commands on the host.
 *
 * - sections: `section(name, cmd)` prints the command's output between
 *   markers; `parseSections(output)` splits a VmResult.output by them.
 * - namespaces: `netnsPairSnippet()` makes two namespaces joined by veth with
 *   the same addresses as test/interop/netns.ts (A 10.99.0.1/24 + 10.99.1.1/32
 *   on lo, B 10.99.0.2/24 + 10.99.2.1/32 on lo).
 * - strongSwan: `charonStartSnippet()` writes strongswan.conf/swanctl.conf
 *   (rendered by test/interop/strongswan.ts) and starts charon in a namespace
 *   with kernel-netlink as its IPsec backend: the guest kernel has ESP.
 * - XFRM: `parseXfrmState()` for `ip -s xfrm state` output.
 */
import { DEFAULT_CHARON_PLUGINS, charonPaths, renderStrongswanConf, renderSwanctlConf, type CharonPaths, type SwanctlConnParams } from '../interop/strongswan.js';
import { shq } from './vm.js';

/* ------------------------------------------------------------------------- */
/* Sections                                                                  */
/* ------------------------------------------------------------------------- */

const SECTION_BEGIN = '@@pqike-section-begin';
const SECTION_END = '@@pqike-section-end';

/** Run `cmd` (shell text) with its output (stdout+stderr) marked as section `name`; the snippet does not fail. */
export function section(name: string, cmd: string): string {
  if (!/^[\w.:-]+$/.test(name)) throw new Error(`bad section name ${JSON.stringify(name)}`);
  return `echo ${SECTION_BEGIN} ${name}\n{ ${cmd}\n} 2>&1; echo "${SECTION_END} ${name} $?"\n`;
}

export interface Section {
  readonly text: string;
  /** Exit status of the section's command (null if the end marker is missing). */
  readonly code: number | null;
}

/** Sections of a guest output; a name used more than once keeps all, in order. */
export function parseSections(output: string): Map<string, Section[]> {
  const out = new Map<string, Section[]>();
  const lines = output.replace(/\r/g, '').split('\n');
  let cur: { name: string; lines: string[] } | null = null;
  const push = (name: string, s: Section): void => {
    const list = out.get(name) ?? [];
    list.push(s);
    out.set(name, list);
  };
  for (const line of lines) {
    const b = new RegExp(`^${SECTION_BEGIN} (\\S+)$`).exec(line);
    if (b) {
      if (cur) push(cur.name, { text: cur.lines.join('\n'), code: null });
      cur = { name: b[1] as string, lines: [] };
      continue;
    }
    const e = new RegExp(`^${SECTION_END} (\\S+) (\\d+)$`).exec(line);
    if (e && cur && cur.name === e[1]) {
      push(cur.name, { text: cur.lines.join('\n'), code: Number(e[2]) });
      cur = null;
      continue;
    }
    cur?.lines.push(line);
  }
  if (cur) push(cur.name, { text: cur.lines.join('\n'), code: null });
  return out;
}

/** The last section called name (throws if none). */
export function lastSection(sections: Map<string, Section[]>, name: string): Section {
  const list = sections.get(name);
  const s = list?.[list.length - 1];
  if (!s) throw new Error(`no section ${name} in the guest output (have: ${[...sections.keys()].join(', ')})`);
  return s;
}

/* ------------------------------------------------------------------------- */
/* Files, waiting                                                            */
/* ------------------------------------------------------------------------- */

/** Write content to path (parent directories created) with a quoted heredoc: no expansion. */
export function writeFileSnippet(path: string, content: string, mode = '0644'): string {
  let delim = 'PQIKE_EOF';
  while (content.includes(delim)) delim += '_';
  const body = content.endsWith('\n') ? content : content + '\n';
  return `mkdir -p "$(dirname ${shq(path)})"\ncat >${shq(path)} <<'${delim}'\n${body}${delim}\nchmod ${mode} ${shq(path)}\n`;
}

/**
 * Poll the shell condition `cond` every 0.1 s for up to timeoutS seconds;
 * on timeout print `what` and run `onTimeout` (default: `exit 1`; `break` to go on).
 */
export function waitForSnippet(cond: string, timeoutS: number, what: string, onTimeout = 'exit 1'): string {
  const n = Math.max(1, Math.round(timeoutS * 10));
  return `i=0; until ${cond}; do i=$((i+1)); if [ $i -ge ${n} ]; then echo ${shq(`timeout (${timeoutS} s): ${what}`)}; ${onTimeout}; fi; sleep 0.1; done\n`;
}

/* ------------------------------------------------------------------------- */
/* Namespaces                                                                */
/* ------------------------------------------------------------------------- */

export interface GuestNsEnd {
  readonly ns: string;
  readonly ifname: string;
  readonly addr: string;
  readonly prefixLen: number;
  /** /32 on lo (for tunnel-mode traffic selectors), or null. */
  readonly innerAddr: string | null;
}

export interface GuestNetnsPair {
  readonly a: GuestNsEnd;
  readonly b: GuestNsEnd;
}

/** The default guest pair: namespaces `a` and `b`, veth `vetha`/`vethb`. */
export function guestNetnsPair(opts: Partial<{ nsA: string; nsB: string; innerA: string | null; innerB: string | null }> = {}): GuestNetnsPair {
  return {
    a: { ns: opts.nsA ?? 'a', ifname: 'vetha', addr: '10.99.0.1', prefixLen: 24, innerAddr: opts.innerA === undefined ? '10.99.1.1' : opts.innerA },
    b: { ns: opts.nsB ?? 'b', ifname: 'vethb', addr: '10.99.0.2', prefixLen: 24, innerAddr: opts.innerB === undefined ? '10.99.2.1' : opts.innerB },
  };
}

/** Create the pair (namespaces, veth, addresses, lo up). The guest is throwaway: no cleanup needed. */
export function netnsPairSnippet(pair: GuestNetnsPair = guestNetnsPair()): string {
  const lines = [
    `ip netns add ${pair.a.ns}`,
    `ip netns add ${pair.b.ns}`,
    `ip link add ${pair.a.ifname} netns ${pair.a.ns} type veth peer name ${pair.b.ifname} netns ${pair.b.ns}`,
  ];
  for (const e of [pair.a, pair.b]) {
    lines.push(`ip -n ${e.ns} link set lo up`);
    lines.push(`ip -n ${e.ns} addr add ${e.addr}/${e.prefixLen} dev ${e.ifname}`);
    if (e.innerAddr) lines.push(`ip -n ${e.ns} addr add ${e.innerAddr}/32 dev lo`);
    lines.push(`ip -n ${e.ns} link set ${e.ifname} up`);
  }
  return lines.join('\n') + '\n';
}

/* ------------------------------------------------------------------------- */
/* strongSwan (charon with kernel-netlink)                                   */
/* ------------------------------------------------------------------------- */

/** charon plugins for a kernel with ESP: kernel-netlink does IPsec (no kernel-libipsec). */
export const KERNEL_NETLINK_CHARON_PLUGINS: readonly string[] = DEFAULT_CHARON_PLUGINS.filter((p) => p !== 'kernel-libipsec');

export interface GuestCharonOptions {
  readonly ns: string;
  /** Guest directory for this instance (default /tmp/charon-NS). */
  readonly dir?: string;
  readonly conns: readonly SwanctlConnParams[];
  readonly plugins?: readonly string[];
  readonly logLevels?: Readonly<Record<string, number>>;
  readonly extraCharonConf?: string;
  readonly charonPath?: string;
  /** Seconds to wait for the vici socket. Default 20. */
  readonly startTimeoutS?: number;
}

export function guestCharonPaths(opts: Pick<GuestCharonOptions, 'ns' | 'dir'>): CharonPaths {
  return charonPaths(opts.dir ?? `/tmp/charon-${opts.ns}`);
}

/** `swanctl ARGS` against the instance (runs outside the namespace: the vici socket is a file). */
export function swanctlCmd(paths: CharonPaths, args: string): string {
  return `STRONGSWAN_CONF=${shq(paths.strongswanConf)} swanctl ${args} --uri ${shq(paths.viciUri)}`;
}

/**
 * Write the configs, start charon in the namespace (background, pid in
 * DIR/charon.pid), wait for vici and load swanctl.conf. Exits the script (1)
 * when charon does not come up.
 */
export function charonStartSnippet(opts: GuestCharonOptions): string {
  const paths = guestCharonPaths(opts);
  const charon = opts.charonPath ?? '/usr/lib/ipsec/charon';
  const conf = renderStrongswanConf(paths, {
    plugins: opts.plugins ?? KERNEL_NETLINK_CHARON_PLUGINS,
    ...(opts.logLevels ? { logLevels: opts.logLevels } : { logLevels: { default: 1, ike: 2, cfg: 2, net: 1, knl: 2 } }),
    ...(opts.extraCharonConf !== undefined ? { extraCharonConf: opts.extraCharonConf } : {}),
  });
  const dir = shq(paths.dir);
  return [
    `mkdir -p ${dir}/run ${dir}/swanctl`,
    writeFileSnippet(paths.strongswanConf, conf),
    writeFileSnippet(paths.swanctlConf, renderSwanctlConf(opts.conns)),
    `ip netns exec ${opts.ns} env STRONGSWAN_CONF=${shq(paths.strongswanConf)} ${shq(charon)} >${dir}/charon.stdout 2>&1 &`,
    `echo $! >${dir}/charon.pid`,
    waitForSnippet(
      `${swanctlCmd(paths, '--version --daemon')} >/dev/null 2>&1`,
      opts.startTimeoutS ?? 20,
      `charon in ${opts.ns} did not open its vici socket`,
      `cat ${dir}/charon.stdout ${shq(paths.logPath)}; exit 1`,
    ),
    `${swanctlCmd(paths, `--load-all --file ${shq(paths.swanctlConf)}`)} || { cat ${shq(paths.logPath)}; exit 1; }`,
    '',
  ].join('\n');
}

/* ------------------------------------------------------------------------- */
/* XFRM                                                                      */
/* ------------------------------------------------------------------------- */

export interface XfrmSa {
  readonly src: string;
  readonly dst: string;
  readonly proto: string;
  /** SPI as printed (0x...). */
  readonly spi: string;
  readonly mode: string;
  /** Algorithm lines (`aead rfc4106(gcm(aes)) ...`, `enc cbc(aes) ...`, `auth-trunc ...`). */
  readonly algs: readonly string[];
  /** Encapsulation (e.g. `espinudp 4500 4500`), or null. */
  readonly encap: string | null;
  /** From `ip -s`: lifetime current bytes/packets (null without -s). */
  readonly bytes: number | null;
  readonly packets: number | null;
}

/** Parse `ip [-s] xfrm state` output. */
export function parseXfrmState(text: string): XfrmSa[] {
  const sas: XfrmSa[] = [];
  const blocks = text.replace(/\r/g, '').split(/^(?=src \S+ dst \S+)/m);
  for (const block of blocks) {
    const head = /^src (\S+) dst (\S+)\s*\n\s*proto (\S+) spi (0x[0-9a-f]+)(?:.*?\bmode (\S+))?/m.exec(block);
    if (!head) continue;
    const algs = [...block.matchAll(/^\s*((?:aead|enc|auth|auth-trunc|comp) .*)$/gm)].map((m) => (m[1] as string).trim());
    const encap = /^\s*encap type (\S+) sport (\d+) dport (\d+)/m.exec(block);
    const cur = /lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)/m.exec(block);
    sas.push({
      src: head[1] as string,
      dst: head[2] as string,
      proto: head[3] as string,
      spi: head[4] as string,
      mode: head[5] ?? '',
      algs,
      encap: encap ? `${encap[1]} ${encap[2]} ${encap[3]}` : null,
      bytes: cur ? Number(cur[1]) : null,
      packets: cur ? Number(cur[2]) : null,
    });
  }
  return sas;
}
