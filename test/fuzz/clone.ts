/**
 * A generic deep clone for snapshots of engine state: each fuzz variant starts from a copy
 * of the same receiving engine, so the SA does not have to be built again per variant.
 *
 * - prototypes are preserved (class instances stay instances, getters and methods work);
 * - Maps, Sets, arrays and objects are copied, keys of Maps and Sets too;
 * - functions are shared (closures then still see the objects they captured: the engine's
 *   closures only reach the host's random source and crypto, which hold no SA state);
 * - Uint8Arrays (and every other ArrayBuffer view), ArrayBuffers and KeyObjects are treated
 *   as immutable and shared: the engine replaces byte arrays, it never writes into them
 *   (nor uses one as a WeakMap key);
 * - frozen objects, and objects listed in `shared` (e.g. the connection configurations,
 *   which the engine only reads), are shared;
 * - cycles and shared references are preserved with a memo map (which the caller may pass in
 *   to find the copy of a particular object afterwards);
 * - WeakMaps and WeakSets cannot be enumerated: the copy gets the entries whose keys are
 *   reachable from the cloned value (the only keys the copy can ever look up), found by
 *   testing every object the clone visited (byte arrays aside), until no new one turns up;
 * - an object with non-enumerable or symbol-keyed own properties is copied descriptor by
 *   descriptor; otherwise property by property (an own accessor is then read and copied as
 *   a value: engine objects have none, class getters live on the prototypes).
 */
import { KeyObject } from 'node:crypto';

export interface CloneOptions {
  /** Objects to share rather than copy (with everything they reach). */
  readonly shared?: WeakSet<object>;
  /** Original → copy; pass a map to look copies up afterwards. */
  readonly memo?: Map<object, unknown>;
}

export function deepClone<T>(value: T, opts: CloneOptions = {}): T {
  const memo = opts.memo ?? new Map<object, unknown>();
  const shared = opts.shared;

  const sharedSeen: object[] = [];
  const weak: { from: WeakMap<object, unknown> | WeakSet<object>; to: WeakMap<object, unknown> | WeakSet<object> }[] = [];
  const copy = (x: unknown): unknown => {
    if (x === null || typeof x !== 'object') return x; // primitives; functions are shared
    const seen = memo.get(x);
    if (seen !== undefined) return seen;
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer || x instanceof KeyObject || shared?.has(x) || Object.isFrozen(x)) {
      if (!ArrayBuffer.isView(x)) sharedSeen.push(x); // a possible key of a WeakMap (byte arrays are not taken as keys)
      return x;
    }
    if (Array.isArray(x)) {
      const out: unknown[] = new Array(x.length);
      memo.set(x, out);
      for (let i = 0; i < x.length; i++) out[i] = copy(x[i]);
      return out;
    }
    if (x instanceof Map) {
      const out = new Map();
      memo.set(x, out);
      for (const [k, v] of x) out.set(copy(k), copy(v));
      return out;
    }
    if (x instanceof Set) {
      const out = new Set();
      memo.set(x, out);
      for (const v of x) out.add(copy(v));
      return out;
    }
    if (x instanceof WeakMap || x instanceof WeakSet) {
      const ctor = (Object.getPrototypeOf(x) as { constructor: new () => WeakMap<object, unknown> | WeakSet<object> }).constructor;
      const fresh = new ctor();
      memo.set(x, fresh);
      weak.push({ from: x, to: fresh });
      return fresh;
    }
    if (x instanceof Promise) throw new TypeError('deepClone: cannot copy a Promise');
    const out = Object.create(Object.getPrototypeOf(x) as object | null) as Record<string | symbol, unknown>;
    memo.set(x, out);
    const src = x as Record<string | symbol, unknown>;
    const keys = Object.keys(src);
    if (Object.getOwnPropertyNames(src).length === keys.length && Object.getOwnPropertySymbols(src).length === 0) {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        out[key] = copy(src[key]);
      }
    } else {
      for (const key of Reflect.ownKeys(src)) {
        const d = Object.getOwnPropertyDescriptor(src, key) as PropertyDescriptor;
        if ('value' in d) d.value = copy(d.value);
        Object.defineProperty(out, key, d);
      }
    }
    return out;
  };

  const result = copy(value) as T;
  // Fill the weak collections: every visited object may be a key; copying a value may visit
  // more (Map iteration sees entries added while it runs).
  if (weak.length > 0) {
    let shared = 0;
    for (let grew = true; grew; ) {
      grew = false;
      const before = memo.size;
      for (const [k, kc] of memo) {
        for (const w of weak) {
          if (!w.from.has(k)) continue;
          if (w.from instanceof WeakMap) (w.to as WeakMap<object, unknown>).set(kc as object, copy(w.from.get(k)));
          else (w.to as WeakSet<object>).add(kc as object);
        }
      }
      for (; shared < sharedSeen.length; shared++) {
        const k = sharedSeen[shared] as object;
        for (const w of weak) {
          if (!w.from.has(k)) continue;
          if (w.from instanceof WeakMap) (w.to as WeakMap<object, unknown>).set(k, copy(w.from.get(k)));
          else (w.to as WeakSet<object>).add(k);
        }
      }
      if (memo.size !== before || shared < sharedSeen.length) grew = true;
    }
  }
  return result;
}

/** Every object reachable from `roots` (for CloneOptions.shared). */
export function reachable(...roots: unknown[]): WeakSet<object> {
  const out = new WeakSet<object>();
  const stack: unknown[] = [...roots];
  while (stack.length > 0) {
    const x = stack.pop();
    if (x === null || typeof x !== 'object' || out.has(x)) continue;
    out.add(x);
    if (ArrayBuffer.isView(x)) continue;
    if (x instanceof Map) for (const [k, v] of x) stack.push(k, v);
    else if (x instanceof Set) for (const v of x) stack.push(v);
    else for (const key of Reflect.ownKeys(x)) stack.push((x as Record<string | symbol, unknown>)[key]);
  }
  return out;
}
