/**
 * Create sockets and TUN devices inside another network namespace from this process.
 *
 * A socket (and a TUN device: its queue's socket is made at open) belongs to the namespace its
 * creating thread was in at creation, for its whole life; setns(CLONE_NEWNET) moves only the
 * calling thread. `inNetns` therefore switches this thread, runs a synchronous function (no
 * event-loop turn happens in between, so nothing else on this thread is created there by
 * accident) and switches back. Node's other threads (libuv's pool, workers) are not moved.
 * The fds made inside stay usable from every thread and from node:dgram ({ fd }).
 *
 * Production runs the daemon in its own namespace and needs none of this; the tests and
 * benchmarks use it to put both ends of a path in their own namespaces from one process.
 */
import { CLONE_NEWNET, O_CLOEXEC, O_RDONLY, check, closeFd, libc } from './libc.js';

/** Path of a named namespace (`ip netns add NAME`). */
export function netnsPath(name: string): string {
  if (name.includes('/')) return name;
  return `/run/netns/${name}`;
}

/** Run fn with this thread in namespace `ns` (a name under /run/netns or a path); always switches back. */
export function inNetns<T>(ns: string, fn: () => T): T {
  const c = libc();
  const home = check(c.open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC, 0), 'open', '/proc/thread-self/ns/net');
  let target = -1;
  try {
    target = check(c.open(netnsPath(ns), O_RDONLY | O_CLOEXEC, 0), 'open', netnsPath(ns));
    check(c.setns(target, CLONE_NEWNET), 'setns', ns);
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('inNetns needs a synchronous function (an await would run other code in the namespace)');
      return result;
    } finally {
      check(c.setns(home, CLONE_NEWNET), 'setns', 'back to the original namespace');
    }
  } finally {
    closeFd(target);
    closeFd(home);
  }
}
