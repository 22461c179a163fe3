/**
 * Deadlines of many IKE SAs in a binary min-heap with lazy invalidation: rescheduling pushes
 * a new entry and leaves the old one to be skipped when it surfaces, so the engine finds its
 * next deadline in O(log n) however many SAs it holds. An entry left behind lets go of its
 * item at once (a removed SA and all it holds is not kept until its old deadline), and when
 * such empty entries outnumber the live ones the heap is rebuilt: it never holds more than
 * about twice the items scheduled, however fast SAs come and go (a flood's half-open SAs, each
 * replaced long before its deadline).
 */

/** Empty entries tolerated beyond the live ones before a rebuild (amortises its O(n log n)). */
const COMPACT_SLACK = 64;

interface Entry<T> {
  readonly at: number;
  /** undefined: rescheduled or removed since (stale). */
  item: T | undefined;
}

export class TimerHeap<T> {
  private heap: Entry<T>[] = [];
  /** The live entry of each scheduled item. */
  private current = new Map<T, Entry<T>>();

  /** Set the item's deadline (undefined: none). */
  schedule(item: T, at: number | undefined): void {
    const old = this.current.get(item);
    if (at === undefined) {
      this.remove(item);
      return;
    }
    if (old?.at === at) return;
    if (old) old.item = undefined;
    const e: Entry<T> = { at, item };
    this.current.set(item, e);
    this.push(e);
    this.compactIfStale();
  }

  remove(item: T): void {
    const e = this.current.get(item);
    if (!e) return;
    e.item = undefined;
    this.current.delete(item);
    this.compactIfStale();
  }

  /** The earliest live deadline. */
  peek(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** Remove and return the items due at `now`. */
  popDue(now: number): T[] {
    const out: T[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now || top.item === undefined) return out;
      this.pop();
      this.current.delete(top.item);
      out.push(top.item);
    }
  }

  get size(): number {
    return this.current.size;
  }

  /** Entries in the heap, stale ones included (bounded by about twice size). */
  get entries(): number {
    return this.heap.length;
  }

  private compactIfStale(): void {
    if (this.heap.length <= 2 * this.current.size + COMPACT_SLACK) return;
    // A sorted array is a valid min-heap.
    this.heap = this.heap.filter((e) => e.item !== undefined).sort((a, b) => a.at - b.at);
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.item !== undefined) return;
      this.pop();
    }
  }

  private push(e: Entry<T>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!parent || parent.at <= e.at) break;
      h[i] = parent;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      const le = h[l];
      const re = h[r];
      if (le && le.at < mAt) {
        m = l;
        mAt = le.at;
      }
      if (re && re.at < mAt) m = r;
      if (m === i) break;
      const child = h[m];
      if (!child) break;
      h[i] = child;
      i = m;
    }
    h[i] = last;
  }
}
