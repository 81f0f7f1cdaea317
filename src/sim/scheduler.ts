/**
 * Deferred device-model work (factorial, DMA): runs later on timers, so the
 * caller sees the device working concurrently, and {@link SimScheduler.idle}
 * lets tests await completion without sleeping.
 */

/** @internal Timer bookkeeping shared by every model of one sim dext. */
export class SimScheduler {
  readonly #pending = new Set<ReturnType<typeof setTimeout>>();
  #waiters: (() => void)[] = [];
  #closed = false;

  /** Runs `fn` after `delayMs` (0 = next timer tick). Returns a cancel function. */
  after(delayMs: number, fn: () => void): () => void {
    if (this.#closed) return () => {};
    const t = setTimeout(() => {
      this.#pending.delete(t);
      try {
        fn();
      } finally {
        this.#settle();
      }
    }, Math.max(0, delayMs));
    this.#pending.add(t);
    return () => {
      if (this.#pending.delete(t)) {
        clearTimeout(t);
        this.#settle();
      }
    };
  }

  /** Number of scheduled, not yet run work items. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Resolves once nothing is pending (at once when nothing is). */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Cancels every timer and releases idle waiters. */
  close(): void {
    this.#closed = true;
    for (const t of this.#pending) clearTimeout(t);
    this.#pending.clear();
    this.#settle();
  }

  #settle(): void {
    if (this.#pending.size !== 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
