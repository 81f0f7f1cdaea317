/**
 * What holds the process while the supervisor is working. Idle device
 * workers do not hold the event loop (workers.ts `holdWhileBusy`), so that a
 * program that forgot `close()` can end (lifetime.ts). Work in flight must
 * hold it, though, or the loop drains mid-operation: a killed worker's exit
 * and restart, an attach waiting on a warm worker, a detach's teardown. One
 * ref'd timer is armed while anything holds; it never fires in practice.
 */

const kIdleIntervalMs = 2 ** 30;
const noop = (): void => {};

/** A counted hold on the event loop. */
export class KeepAlive {
  #holds = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Holds the loop until the returned release is called (idempotent). */
  hold(): () => void {
    if (this.#holds++ === 0) this.#timer = setInterval(noop, kIdleIntervalMs);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** Runs `work` with the loop held. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    const release = this.hold();
    try {
      return await work();
    } finally {
      release();
    }
  }
}
