/**
 * A map keyed by bigint that keeps its keys in order: a treap (random
 * priorities, split / merge), so insert, delete, get, floor and ceiling take
 * O(log n) expected time. The sim's host address space and DART use it to
 * resolve an address to the range that holds it, where a linear scan made
 * 16k DMA registrations take seconds (issue 14).
 *
 * Optionally each node carries a weight (`weightOf(value)`), and every
 * subtree the largest weight in it, so {@link OrderedMap.firstFit} finds the
 * lowest key whose weight is at least a bound in O(log n): the DART's
 * first-fit search over free IOVA intervals (weight = interval length).
 */

interface TreapNode<V> {
  key: bigint;
  value: V;
  priority: number;
  /** Largest weight in this subtree (0n without a weight function). */
  max: bigint;
  left: TreapNode<V> | null;
  right: TreapNode<V> | null;
}

/** @internal An ordered map with bigint keys. */
export class OrderedMap<V> {
  #root: TreapNode<V> | null = null;
  #size = 0;
  readonly #weightOf: ((value: V) => bigint) | undefined;

  /** @param weightOf per-value weight for {@link firstFit}; omit when not needed. */
  constructor(weightOf?: (value: V) => bigint) {
    this.#weightOf = weightOf;
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value at `key`, if any. */
  get(key: bigint): V | undefined {
    return this.#find(key)?.value;
  }

  /** True when `key` is present. */
  has(key: bigint): boolean {
    return this.#find(key) !== null;
  }

  /** Inserts or replaces. */
  set(key: bigint, value: V): void {
    const existing = this.#find(key);
    if (existing !== null) {
      existing.value = value;
      this.#refreshPath(key);
      return;
    }
    const node: TreapNode<V> = { key, value, priority: Math.random(), max: 0n, left: null, right: null };
    this.#update(node);
    const [l, r] = this.#split(this.#root, key);
    this.#root = this.#merge(this.#merge(l, node), r);
    this.#size++;
  }

  /** Removes `key`; true when it was present. */
  delete(key: bigint): boolean {
    if (this.#find(key) === null) return false;
    const [l, rest] = this.#split(this.#root, key);
    const [, r] = this.#split(rest, key + 1n);
    this.#root = this.#merge(l, r);
    this.#size--;
    return true;
  }

  /** The entry with the greatest key ≤ `key`, if any. */
  floor(key: bigint): [bigint, V] | undefined {
    let n = this.#root;
    let best: TreapNode<V> | null = null;
    while (n !== null) {
      if (n.key === key) return [n.key, n.value];
      if (n.key < key) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best === null ? undefined : [best.key, best.value];
  }

  /** The entry with the least key ≥ `key`, if any. */
  ceiling(key: bigint): [bigint, V] | undefined {
    let n = this.#root;
    let best: TreapNode<V> | null = null;
    while (n !== null) {
      if (n.key === key) return [n.key, n.value];
      if (n.key > key) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best === null ? undefined : [best.key, best.value];
  }

  /** The entry with the lowest key whose weight is ≥ `minWeight`, if any (needs a weight function). */
  firstFit(minWeight: bigint): [bigint, V] | undefined {
    const weightOf = this.#weightOf;
    if (weightOf === undefined) return undefined;
    let n = this.#root;
    while (n !== null && n.max >= minWeight) {
      if (n.left !== null && n.left.max >= minWeight) n = n.left;
      else if (weightOf(n.value) >= minWeight) return [n.key, n.value];
      else n = n.right;
    }
    return undefined;
  }

  /** Every entry in key order (a snapshot: safe to modify the map while iterating it). */
  entries(): [bigint, V][] {
    const out: [bigint, V][] = [];
    const stack: TreapNode<V>[] = [];
    let n = this.#root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop()!;
      out.push([top.key, top.value]);
      n = top.right;
    }
    return out;
  }

  /** Every value in key order (a snapshot). */
  values(): V[] {
    return this.entries().map((e) => e[1]);
  }

  /** Removes everything. */
  clear(): void {
    this.#root = null;
    this.#size = 0;
  }

  #find(key: bigint): TreapNode<V> | null {
    let n = this.#root;
    while (n !== null && n.key !== key) n = key < n.key ? n.left : n.right;
    return n;
  }

  #update(n: TreapNode<V>): void {
    if (this.#weightOf === undefined) return;
    let m = this.#weightOf(n.value);
    if (n.left !== null && n.left.max > m) m = n.left.max;
    if (n.right !== null && n.right.max > m) m = n.right.max;
    n.max = m;
  }

  /** Recomputes the weights on the path to `key` after a value changed in place. */
  #refreshPath(key: bigint): void {
    if (this.#weightOf === undefined) return;
    const path: TreapNode<V>[] = [];
    let n = this.#root;
    while (n !== null) {
      path.push(n);
      if (n.key === key) break;
      n = key < n.key ? n.left : n.right;
    }
    for (let i = path.length - 1; i >= 0; i--) this.#update(path[i]!);
  }

  /** Splits `t` into keys < `key` and keys ≥ `key`. Recursion depth is the treap's height, O(log n) expected. */
  #split(t: TreapNode<V> | null, key: bigint): [TreapNode<V> | null, TreapNode<V> | null] {
    if (t === null) return [null, null];
    if (t.key < key) {
      const [l, r] = this.#split(t.right, key);
      t.right = l;
      this.#update(t);
      return [t, r];
    }
    const [l, r] = this.#split(t.left, key);
    t.left = r;
    this.#update(t);
    return [l, t];
  }

  /** Joins two treaps where every key of `a` is below every key of `b`. */
  #merge(a: TreapNode<V> | null, b: TreapNode<V> | null): TreapNode<V> | null {
    if (a === null) return b;
    if (b === null) return a;
    if (a.priority > b.priority) {
      a.right = this.#merge(a.right, b);
      this.#update(a);
      return a;
    }
    b.left = this.#merge(a, b.left);
    this.#update(b);
    return b;
  }
}
