/**
 * BAR leases: the coordinated release that stops a thread from touching a
 * BAR after it is unmapped (an access to an unmapped real BAR kills the whole
 * process, eco §3.3).
 *
 * Each BAR has two words in the control block: an epoch (odd = mapped, even
 * = revoked) and a holders count. A window takes a lease at open and gives
 * it back at release; the device worker revokes before it unmaps and waits
 * for the holders count to reach zero.
 *
 * The race this closes (a Dekker handshake over sequentially consistent
 * Atomics):
 *  - opener:   holders += 1, then re-read the epoch; if it moved, holders -= 1 and fail.
 *  - revoker:  epoch += 1 (now even), then wait until holders == 0.
 * Either the revoker's wait sees the opener's increment (and waits for it to
 * release), or the opener's re-read sees the even epoch (and backs out). A
 * window that passed open therefore holds a counted lease, and every access
 * it makes happens before its release in program order, so once holders is
 * zero no thread can be inside an access. The per-access check is then just
 * one load of the epoch (a plain load, see bar-window.ts): an access that saw
 * the old epoch is still covered by the lease, which is only dropped after it.
 *
 * A holder that notices the revocation on an access drops its lease itself,
 * so busy threads let go without being told; idle ones must call release().
 */
import { isMainThread } from 'node:worker_threads';
import { PassthroughError } from '../errors.js';
import { atomicsWaitAsync } from './wait-async.js';
import { barEpochIndex, barHoldersIndex, controlWords, kBarCount } from './layout.js';

function checkBar(bar: number): void {
  if (!Number.isInteger(bar) || bar < 0 || bar >= kBarCount) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `BAR index must be 0–${kBarCount - 1}`, { region: bar });
  }
}

/**
 * Takes a lease on `bar`. Returns the epoch the lease belongs to.
 * Throws PT_ERR_BAR_RELEASED when the BAR is revoked.
 * @internal used by BarWindow
 */
export function acquireLease(words: Int32Array, bar: number): number {
  checkBar(bar);
  const epochIndex = barEpochIndex(bar);
  const epoch = Atomics.load(words, epochIndex);
  if ((epoch & 1) === 0) throw released(bar);
  Atomics.add(words, barHoldersIndex(bar), 1);
  if (Atomics.load(words, epochIndex) !== epoch) {
    dropLease(words, bar);
    throw released(bar);
  }
  return epoch;
}

/** Gives a lease back and wakes a revoker waiting on the count. @internal */
export function dropLease(words: Int32Array, bar: number): void {
  const holdersIndex = barHoldersIndex(bar);
  if (Atomics.sub(words, holdersIndex, 1) === 1) Atomics.notify(words, holdersIndex);
}

function released(bar: number): PassthroughError {
  return new PassthroughError('PT_ERR_BAR_RELEASED', `BAR${bar} has been released`, { region: bar });
}

/** Marks `bar` revoked (epoch becomes even). Idempotent. Returns the new epoch. */
function revoke(words: Int32Array, bar: number): number {
  checkBar(bar);
  const epochIndex = barEpochIndex(bar);
  for (;;) {
    const epoch = Atomics.load(words, epochIndex);
    if ((epoch & 1) === 0) return epoch;
    if (Atomics.compareExchange(words, epochIndex, epoch, epoch + 1) === epoch) return epoch + 1;
  }
}

/** Current number of lease holders of a BAR (all threads). */
export function barHolders(control: SharedArrayBuffer, bar: number): number {
  checkBar(bar);
  return Atomics.load(controlWords(control), barHoldersIndex(bar));
}

/** True when `bar` is mapped (windows may open). */
export function isBarMapped(control: SharedArrayBuffer, bar: number): boolean {
  checkBar(bar);
  return (Atomics.load(controlWords(control), barEpochIndex(bar)) & 1) === 1;
}

function timeoutError(bar: number, holders: number, timeoutMs: number): PassthroughError {
  return new PassthroughError('PT_ERR_TIMEOUT', `BAR${bar} still has ${holders} holder(s) after ${timeoutMs} ms`, {
    region: bar,
    holders,
    timeoutMs,
  });
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'timeoutMs must be a finite non-negative number', {
      timeoutMs,
    });
  }
}

/**
 * Worker side of the coordinated unmap: revokes `bar` (every later access in
 * any thread throws PT_ERR_BAR_RELEASED, later opens fail) and blocks until
 * every holder has released. Only then may the caller call regionUnmap.
 *
 * Blocks with Atomics.wait, so it refuses to run on the main thread (use
 * {@link requestUnmapAsync} there).
 * Throws PT_ERR_TIMEOUT (context: holders) when holders remain after
 * `timeoutMs`: the BAR stays revoked and must NOT be unmapped.
 * PT_ERR_INVALID_STATE on the main thread.
 */
export function requestUnmap(control: SharedArrayBuffer, bar: number, timeoutMs: number): void {
  checkTimeout(timeoutMs);
  if (isMainThread) {
    throw new PassthroughError('PT_ERR_INVALID_STATE', 'requestUnmap blocks: use requestUnmapAsync on the main thread', {
      region: bar,
    });
  }
  const words = controlWords(control);
  revoke(words, bar);
  const holdersIndex = barHoldersIndex(bar);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const holders = Atomics.load(words, holdersIndex);
    if (holders === 0) return;
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) throw timeoutError(bar, holders, timeoutMs);
    Atomics.wait(words, holdersIndex, holders, remainingMs);
  }
}

/**
 * Async variant of {@link requestUnmap} for the main thread: waits with
 * Atomics.waitAsync while holding a ref'd timer so the process stays alive.
 * Rejects with PT_ERR_TIMEOUT when holders remain after `timeoutMs`.
 */
export async function requestUnmapAsync(control: SharedArrayBuffer, bar: number, timeoutMs: number): Promise<void> {
  checkTimeout(timeoutMs);
  const words = controlWords(control);
  revoke(words, bar);
  const holdersIndex = barHoldersIndex(bar);
  const deadline = performance.now() + timeoutMs;
  // Node 20's waitAsync does not keep the event loop alive (eco §3.1): this
  // timer does, and is cleared as soon as the wait is over.
  const keepAlive = setTimeout(noop, Math.min(2 ** 31 - 1, timeoutMs + 1));
  try {
    for (;;) {
      const holders = Atomics.load(words, holdersIndex);
      if (holders === 0) return;
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) throw timeoutError(bar, holders, timeoutMs);
      const r = atomicsWaitAsync(words, holdersIndex, holders, remainingMs);
      if (r.async) await r.value;
    }
  } finally {
    clearTimeout(keepAlive);
  }
}

/**
 * Makes `bar` mappable again after a revoke (the device worker remapped it,
 * e.g. after a restart). Windows opened before the revoke stay dead: their
 * epoch is gone for good. Throws PT_ERR_INVALID_STATE when the BAR is not revoked.
 */
export function reinstateBar(control: SharedArrayBuffer, bar: number): void {
  checkBar(bar);
  const words = controlWords(control);
  const epochIndex = barEpochIndex(bar);
  const epoch = Atomics.load(words, epochIndex);
  if ((epoch & 1) === 1 || Atomics.compareExchange(words, epochIndex, epoch, epoch + 1) !== epoch) {
    throw new PassthroughError('PT_ERR_INVALID_STATE', `BAR${bar} is not revoked`, { region: bar });
  }
}

function noop(): void {}
