/**
 * The restart policy of the supervisor: one-for-one with a restart-intensity
 * window (Erlang/OTP's `intensity`/`period`). xstate has no supervision
 * (statelyai/xstate #5088), so the decision lives here as a pure function the
 * supervisor machine calls through a guard.
 *
 * Only the crashed device restarts (one-for-one): its siblings, even the other
 * functions of the same slot, keep running.
 */

/** Restart limits. */
export interface RestartPolicy {
  /** Restarts allowed within {@link windowMs} before giving up (≥ 0). */
  readonly maxRestarts: number;
  /** Length of the sliding window in milliseconds (> 0). */
  readonly windowMs: number;
}

/** The defaults: 3 restarts within 10 s. */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({ maxRestarts: 3, windowMs: 10_000 });

/** What to do after a crash. */
export type RestartDecision =
  | { readonly action: 'restart'; readonly attempt: number; readonly history: readonly number[] }
  | { readonly action: 'give-up'; readonly restartsInWindow: number; readonly history: readonly number[] };

/**
 * Decides whether a device that crashed at `nowMs` may restart.
 *
 * @param history times (ms, ascending) of the restarts already done
 * @param nowMs the time of this crash, in the same clock as `history`
 * @returns `restart` with the new history (now appended, entries older than the
 *   window dropped) and the 1-based attempt number inside the window; or
 *   `give-up` when `maxRestarts` restarts already happened within `windowMs`.
 */
export function decideRestart(policy: RestartPolicy, history: readonly number[], nowMs: number): RestartDecision {
  // A restart at t counts while nowMs - t < windowMs (half-open window).
  const recent = history.filter((t) => nowMs - t < policy.windowMs);
  if (recent.length >= policy.maxRestarts) {
    return { action: 'give-up', restartsInWindow: recent.length, history: recent };
  }
  const next = [...recent, nowMs];
  return { action: 'restart', attempt: next.length, history: next };
}
