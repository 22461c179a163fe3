/**
 * Deadlines of many IKE SAs in a binary min-heap with lazy invalidation: rescheduling pushes
 * a new entry and leaves the old one to be skipped when it surfaces, so the engine finds its
 * next deadline in O(log n) however many SAs it holds.
 */
interface Entry<T> {
  readonly at: number;
  readonly item: T;
}

export class TimerHeap<T> {
  private heap: Entry<T>[] = [];
  /** The deadline each item is currently scheduled for; entries that disagree are stale. */
  private current = new Map<T, number>();

  /** Set the item's deadline (undefined: none). */
  schedule(item: T, at: number | undefined): void {
    if (at === undefined) {
      this.current.delete(item);
      return;
    }
    if (this.current.get(item) === at) return;
    this.current.set(item, at);
    this.push({ at, item });
  }

  remove(item: T): void {
    this.current.delete(item);
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
      if (!top || top.at > now) return out;
      this.pop();
      this.current.delete(top.item);
      out.push(top.item);
    }
  }

  get size(): number {
    return this.current.size;
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || this.current.get(top.item) === top.at) return;
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
