/**
 * The liveness word of a device control block: whether a worker serves the
 * device, and if not, why (the worker exited, the device was detached, the
 * function fell off the bus). Every wait loop of the fast path reads it when
 * it parks and when it wakes, and fails at once with the matching typed
 * error instead of waiting out its timeout.
 *
 * Who writes it (any thread, any time; see README "Liveness"):
 *  - the mailbox server, when it starts serving: ALIVE (a new generation);
 *  - the device worker as it goes: WORKER_EXITED from `process.on('exit')`
 *    (an uncaught error, process.exit), DETACHED after its orderly shutdown,
 *    DEVICE_GONE when the function fell off the bus;
 *  - the supervisor: WORKER_EXITED on the worker's `exit` event and before
 *    it terminates a worker itself (a thread blocked in a sync call on the
 *    main thread could not see the `exit` event), DETACHED on detach.
 *
 * The word is `generation << 3 | state`; every change bumps the generation,
 * so a waiter that compares the whole word also sees a worker that died and
 * was restarted while it slept. DETACHED is final; WORKER_EXITED does not
 * replace DEVICE_GONE (the more precise cause stays).
 *
 * Waking the waiters: a change bumps the IRQ sequence word (a spurious wake,
 * harmless: drains find nothing) so an IrqLine waiter that read the word just
 * before it changed cannot park on a stale value, then notifies the IRQ, the
 * mailbox response and the mailbox lock words. Mailbox clients also re-check
 * every few ms while parked (a backstop for the same race on their word).
 */
import { PassthroughError } from '../errors.js';
import {
  controlWords,
  kIrqSeqIndex,
  kLivenessIndex,
  kLivenessStateMask,
  kMboxLockIndex,
  kMboxRespSeqIndex,
  Liveness,
  type LivenessState,
} from './layout.js';

/** The liveness state of `control` ({@link Liveness}). Throws PT_ERR_INVALID_ARGUMENT for a wrong control block. */
export function livenessOf(control: SharedArrayBuffer): LivenessState {
  return (Atomics.load(controlWords(control), kLivenessIndex) & kLivenessStateMask) as LivenessState;
}

/**
 * Sets the liveness state of a control block and wakes every waiter.
 * Idempotent (the same state twice changes nothing); DETACHED is final and
 * WORKER_EXITED never replaces DEVICE_GONE.
 * @returns true when the word changed
 */
export function markLiveness(control: SharedArrayBuffer, state: LivenessState): boolean {
  return markWords(controlWords(control), state);
}

/** {@link markLiveness} on the Int32 view of a checked control block. @internal */
export function markWords(w: Int32Array, state: LivenessState): boolean {
  for (;;) {
    const old = Atomics.load(w, kLivenessIndex);
    const current = old & kLivenessStateMask;
    if (current === state || current === Liveness.DETACHED) return false;
    if (state === Liveness.WORKER_EXITED && current === Liveness.DEVICE_GONE) return false;
    const next = ((old + kLivenessStateMask + 1) & ~kLivenessStateMask) | state;
    if (Atomics.compareExchange(w, kLivenessIndex, old, next) !== old) continue;
    // A dead state wakes the IRQ waiters through their own word (see the module comment).
    if (state !== Liveness.ALIVE) Atomics.add(w, kIrqSeqIndex, 1);
    Atomics.notify(w, kIrqSeqIndex);
    Atomics.notify(w, kMboxRespSeqIndex);
    Atomics.notify(w, kMboxLockIndex);
    Atomics.notify(w, kLivenessIndex);
    return true;
  }
}

/**
 * The error a waiter gets for the liveness word `word`, when it saw `seen`
 * as it started waiting; undefined while the device is usable (ALIVE and
 * unchanged, or NONE, or NONE → ALIVE: the first start).
 * @internal
 */
export function livenessError(word: number, seen: number, context: Record<string, unknown>): PassthroughError | undefined {
  const state = word & kLivenessStateMask;
  switch (state) {
    case Liveness.NONE:
      return undefined;
    case Liveness.ALIVE:
      if (word === seen || (seen & kLivenessStateMask) === Liveness.NONE) return undefined;
      return new PassthroughError('PT_ERR_WORKER_EXITED', 'the device worker was restarted during the wait', context);
    case Liveness.WORKER_EXITED:
      return new PassthroughError('PT_ERR_WORKER_EXITED', 'the device worker has exited', context);
    case Liveness.DETACHED:
      return new PassthroughError('PT_ERR_NOT_ATTACHED', 'the device is detached', context);
    default:
      return new PassthroughError('PT_ERR_DEVICE_GONE', 'the device fell off the bus', context);
  }
}
