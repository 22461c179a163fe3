/**
 * Routes for remote traffic selectors: rtnetlink (src/dataplane/sys/rtnl.ts) against spawning
 * `ip route add/del`, in a namespace with a TUN device. Root.
 *
 *   node dist/bench/sys-route.js [--count 200]
 */
import { spawnSync } from 'node:child_process';
import { inNetns } from '../src/dataplane/sys/netns.js';
import { Rtnl } from '../src/dataplane/sys/rtnl.js';
import { TunDevice } from '../src/dataplane/sys/tun.js';
import { cleanupStaleNamespaces, createNetnsPair, isRoot, run } from '../test/interop/netns.js';

const i = process.argv.indexOf('--count');
const COUNT = i > 0 ? Number(process.argv[i + 1]) : 200;

if (!isRoot()) throw new Error('sys-route needs root');
await cleanupStaleNamespaces();
const pair = await createNetnsPair({ innerA: null, innerB: null });
try {
  const { tun, nl } = inNetns(pair.a.ns, () => {
    const t = TunDevice.open({ name: 'pqr0' });
    const n = new Rtnl();
    n.setUp(t.name);
    return { tun: t, nl: n };
  });
  const dst = (k: number): string => `10.${100 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}/32`;
  let t0 = performance.now();
  for (let k = 0; k < COUNT; k++) nl.addRoute({ dst: dst(k), dev: tun.name });
  const nlAdd = (performance.now() - t0) / COUNT;
  t0 = performance.now();
  for (let k = 0; k < COUNT; k++) nl.deleteRoute({ dst: dst(k), dev: tun.name });
  const nlDel = (performance.now() - t0) / COUNT;
  // The same through ip(8), as a daemon would run it (spawnSync: blocks like the netlink call, for longer).
  t0 = performance.now();
  for (let k = 0; k < COUNT; k++) spawnSync('ip', ['-n', pair.a.ns, 'route', 'add', dst(k), 'dev', tun.name]);
  const ipAdd = (performance.now() - t0) / COUNT;
  t0 = performance.now();
  for (let k = 0; k < COUNT; k++) spawnSync('ip', ['-n', pair.a.ns, 'route', 'del', dst(k), 'dev', tun.name]);
  const ipDel = (performance.now() - t0) / COUNT;
  t0 = performance.now();
  for (let k = 0; k < COUNT; k++) await run('ip', ['-n', pair.a.ns, 'route', 'add', dst(k), 'dev', tun.name]);
  const ipAsync = (performance.now() - t0) / COUNT;
  const left = (await run('ip', ['-n', pair.a.ns, 'route', 'show', 'dev', tun.name])).stdout.trim().split('\n').length;
  console.log(`# sys-route: ${COUNT} host routes into ${tun.name}, node ${process.version}`);
  console.log(`rtnetlink   add ${(nlAdd * 1000).toFixed(1)} us/route, del ${(nlDel * 1000).toFixed(1)} us/route`);
  console.log(`ip (spawnSync) add ${ipAdd.toFixed(2)} ms/route, del ${ipDel.toFixed(2)} ms/route`);
  console.log(`ip (spawn, awaited) add ${ipAsync.toFixed(2)} ms/route; ${left} routes listed after`);
  nl.close();
  tun.close();
} finally {
  await pair.destroy();
}
