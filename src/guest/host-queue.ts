/**
 * The guest layer's host-control calls (GuestHostControl: setIrqs, reset,
 * DMA unmap at close), one after the other, off the hot path: nothing the
 * guest does waits on them. A failure is reported (onError, counted) and the
 * next call still runs.
 *
 * When nothing is in flight a call starts at once, in the caller's turn, so a
 * control that needs no round trip has switched the host before the guest's
 * config write returns. hostControlForHandle crosses the supervisor's control
 * plane: its switch lands later, and until then the host raises in its old
 * mode; the layer drops those vectors by the control's `switched` report
 * (README, "Known limits" of the guest layer).
 */
import { toPassthroughError, type PassthroughError } from '../errors.js';

/** An ordered queue of host-control calls. */
export class HostQueue {
  readonly #report: (e: PassthroughError) => void;
  #tail: Promise<void> = Promise.resolve();
  #busy = false;
  /** Numbers the calls: the last one to settle clears `#busy`. */
  #count = 0;

  constructor(report: (e: PassthroughError) => void) {
    this.#report = report;
  }

  /** Runs `fn` after every earlier call has settled (at once when none is in flight). */
  run(what: string, fn: () => Promise<unknown>): void {
    const start = (): Promise<void> => {
      let p: Promise<unknown>;
      try {
        p = fn();
      } catch (e) {
        p = Promise.reject(e);
      }
      return p.then(
        () => undefined,
        (e: unknown) => this.#report(toPassthroughError(e).prepend(`guest ${what}`)),
      );
    };
    const id = ++this.#count;
    const settled = (this.#busy ? this.#tail.then(start) : start()).finally(() => {
      if (id === this.#count) this.#busy = false;
    });
    this.#busy = true;
    this.#tail = settled;
  }

  /** Resolves when every call queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
