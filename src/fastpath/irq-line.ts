/**
 * IrqLine: the 256-vector interrupt line of a device in its control block.
 *
 * Producer (the IRQ pump in the device worker, or anyone): `raise(v)` sets
 * bit v of the pending bitmap with Atomics.or; when the bit was clear it
 * bumps the sequence word and notifies it. Consumer (the embedder's vCPU or
 * IRQ thread): wait on the last sequence value it saw, then drain.
 *
 * Why no wake-up is lost (the piscina atomicsWaitLoop order): the consumer
 * takes the new sequence value (the return of waitSync/waitAsync) BEFORE it
 * drains. A raise that lands after that read either sets a bit the drain
 * still collects (a later wake then finds nothing, which is harmless) or
 * bumps the sequence after the read, so the next wait returns at once.
 * Wake-ups are counted, never a boolean flag (house rule 10).
 *
 * Masking follows the dext: a raise of a masked vector is dropped and
 * counted, not latched; unmasking does not replay it.
 */
import { argumentValue, PassthroughError } from '../errors.js';
import { atomicsWaitAsync } from './wait-async.js';
import { livenessError } from './liveness.js';
import {
  controlWords,
  kLivenessIndex,
  kLivenessStateMask,
  Liveness,
  kIrqBitmapWords,
  kIrqCoalescedIndex,
  kIrqDeliveredIndex,
  kIrqEnabledIndex,
  kIrqMaskedIndex,
  kIrqPendingIndex,
  kIrqRaisedIndex,
  kIrqSeqIndex,
  kIrqVectors,
  kIrqWaitersIndex,
} from './layout.js';

/** IRQ counters of a device (all since the control block was created). */
export interface IrqCounters {
  /** Raises accepted (not masked), coalesced ones included. */
  raised: number;
  /** Raises of a vector that was already pending (delivered once). */
  coalesced: number;
  /** Vectors handed out by drains. */
  delivered: number;
  /** Raises dropped because the vector was masked. */
  masked: number;
}

/** Options of {@link IrqLine.waitSync}. */
export interface WaitSyncOptions {
  /**
   * Atomics.load polls of the sequence word before parking (default 0).
   * Spinning cuts wake latency by about two orders of magnitude (eco §3.1)
   * but burns a core while it lasts. The spin never outlasts the wait's
   * timeout (the clock is read every {@link kSpinClockEvery} polls).
   */
  spinIterations?: number;
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function noop(): void {}

/** Spin polls between two clock reads (and liveness checks) of a spinning waitSync. */
const kSpinClockEvery = 1024;

/** drain()'s staging buffer for drainInto: one per thread is enough (drain is synchronous). */
const drainScratch = new Uint16Array(kIrqVectors);

/** The interrupt line of one device. */
export class IrqLine {
  readonly #w: Int32Array;

  /**
   * Builds a line over a device control block (no state of its own: any
   * number of IrqLine objects in any threads share the same line).
   * Throws PT_ERR_INVALID_ARGUMENT for a wrong control block.
   */
  constructor(control: SharedArrayBuffer) {
    this.#w = controlWords(control);
  }

  /** The current sequence value (pass it to waitSync/waitAsync). */
  get seq(): number {
    return Atomics.load(this.#w, kIrqSeqIndex);
  }

  /**
   * Raises `vector`. Returns false when it was masked (dropped and counted).
   * Throws PT_ERR_OUT_OF_RANGE for a vector outside 0–255 (PT_ERR_INVALID_ARGUMENT
   * when it is not a number), PT_ERR_NOT_ATTACHED once the device is detached.
   */
  raise(vector: number): boolean {
    if (typeof vector !== 'number' || (vector >>> 0) !== vector || vector >= kIrqVectors) this.#badVector(vector);
    const w = this.#w;
    if ((Atomics.load(w, kLivenessIndex) & kLivenessStateMask) === Liveness.DETACHED) this.#detached();
    const word = vector >>> 5;
    const bit = 1 << (vector & 31);
    if ((Atomics.load(w, kIrqEnabledIndex + word) & bit) === 0) {
      Atomics.add(w, kIrqMaskedIndex, 1);
      return false;
    }
    const old = Atomics.or(w, kIrqPendingIndex + word, bit);
    if ((old & bit) !== 0) {
      // Still pending: the first raise's wake-up has not been consumed by a
      // drain yet, so the consumer collects this one with it.
      Atomics.add(w, kIrqCoalescedIndex, 1);
    } else {
      Atomics.add(w, kIrqSeqIndex, 1);
      // Dekker with sequentially consistent atomics: the waiter adds itself to
      // kIrqWaitersIndex BEFORE Atomics.wait re-checks the sequence word, and we
      // read the waiters count AFTER bumping it. Either we see the waiter and
      // notify (wait and notify serialise in V8's futex table), or the waiter's
      // re-check sees the new sequence and never parks. No lost wake-up.
      if (Atomics.load(w, kIrqWaitersIndex) !== 0) Atomics.notify(w, kIrqSeqIndex);
    }
    // Counted after the signal, off the latency path. Counter snapshots are
    // not atomic as a set anyway; at rest raised = delivered + coalesced + pending.
    Atomics.add(w, kIrqRaisedIndex, 1);
    return true;
  }

  /**
   * Raises every set bit of a whole bitmap at once (one sequence bump and
   * one notify for the lot), e.g. the result of a backend drain.
   * @param words 4 × 64-bit words (the dext's IrqWords) or 8 × 32-bit words, vector 0 = bit 0 of word 0
   * @returns the number of vectors newly made pending
   * Throws PT_ERR_INVALID_ARGUMENT for another shape.
   */
  raiseWords(words: ArrayLike<bigint> | ArrayLike<number>): number {
    checkWords(words);
    const w = this.#w;
    if ((Atomics.load(w, kLivenessIndex) & kLivenessStateMask) === Liveness.DETACHED) this.#detached();
    let fresh = 0;
    let accepted = 0;
    let coalesced = 0;
    let masked = 0;
    for (let i = 0; i < kIrqBitmapWords; i++) {
      const bits = wordOf(words, i);
      if (bits === 0) continue;
      const enabled = Atomics.load(w, kIrqEnabledIndex + i);
      masked += popcount32(bits & ~enabled);
      const take = bits & enabled;
      if (take === 0) continue;
      const old = Atomics.or(w, kIrqPendingIndex + i, take);
      accepted += popcount32(take);
      coalesced += popcount32(old & take);
      fresh += popcount32(take & ~old);
    }
    if (fresh !== 0) {
      Atomics.add(w, kIrqSeqIndex, 1);
      if (Atomics.load(w, kIrqWaitersIndex) !== 0) Atomics.notify(w, kIrqSeqIndex); // see raise()
    }
    if (masked !== 0) Atomics.add(w, kIrqMaskedIndex, masked);
    if (accepted !== 0) Atomics.add(w, kIrqRaisedIndex, accepted);
    if (coalesced !== 0) Atomics.add(w, kIrqCoalescedIndex, coalesced);
    return fresh;
  }

  /**
   * Takes every pending vector (Atomics.exchange of each word with 0) and
   * writes them to `out` in ascending order, allocation-free.
   * @param out at least 256 entries
   * @returns the number of vectors written
   * Throws PT_ERR_INVALID_ARGUMENT when `out` is not a Uint16Array of at least 256,
   * PT_ERR_NOT_ATTACHED once the device is detached.
   */
  drainInto(out: Uint16Array): number {
    if (!(out instanceof Uint16Array) || out.length < kIrqVectors) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'drain buffer must be a Uint16Array of at least 256 vectors', {
        param: 'out',
        value: argumentValue(out),
      });
    }
    const w = this.#w;
    if ((Atomics.load(w, kLivenessIndex) & kLivenessStateMask) === Liveness.DETACHED) this.#detached();
    let n = 0;
    for (let i = 0; i < kIrqBitmapWords; i++) {
      // Reading first skips the exchange (a locked RMW) for empty words.
      if (Atomics.load(w, kIrqPendingIndex + i) === 0) continue;
      let x = Atomics.exchange(w, kIrqPendingIndex + i, 0);
      const base = i << 5;
      while (x !== 0) {
        const low = x & -x;
        out[n++] = base + 31 - Math.clz32(low);
        x ^= low;
      }
    }
    if (n !== 0) Atomics.add(w, kIrqDeliveredIndex, n);
    return n;
  }

  /** Like {@link drainInto}, into a plain array (appended to `out` when given). */
  drain(out: number[] = []): number[] {
    if (!Array.isArray(out)) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'drain target must be an array', { param: 'out', value: argumentValue(out) });
    const n = this.drainInto(drainScratch);
    for (let i = 0; i < n; i++) out.push(drainScratch[i]!);
    return out;
  }

  /**
   * Wakes every waiter without raising anything (a spurious wake: their drain
   * finds nothing). For a device that is going away, so no thread keeps
   * waiting on it. Safe at any time: the sequence is a counter.
   */
  wakeAll(): void {
    Atomics.add(this.#w, kIrqSeqIndex, 1);
    Atomics.notify(this.#w, kIrqSeqIndex);
  }

  /** True when `vector` is pending (not yet drained). */
  isPending(vector: number): boolean {
    if (typeof vector !== 'number' || (vector >>> 0) !== vector || vector >= kIrqVectors) this.#badVector(vector);
    return (Atomics.load(this.#w, kIrqPendingIndex + (vector >>> 5)) & (1 << (vector & 31))) !== 0;
  }

  /** Masks `vector`: later raises are dropped (counted in `masked`). Throws PT_ERR_OUT_OF_RANGE, PT_ERR_NOT_ATTACHED. */
  mask(vector: number): void {
    if (typeof vector !== 'number' || (vector >>> 0) !== vector || vector >= kIrqVectors) this.#badVector(vector);
    if ((Atomics.load(this.#w, kLivenessIndex) & kLivenessStateMask) === Liveness.DETACHED) this.#detached();
    Atomics.and(this.#w, kIrqEnabledIndex + (vector >>> 5), ~(1 << (vector & 31)));
  }

  /** Unmasks `vector`. Raises dropped while masked are not replayed. Throws PT_ERR_OUT_OF_RANGE, PT_ERR_NOT_ATTACHED. */
  unmask(vector: number): void {
    if (typeof vector !== 'number' || (vector >>> 0) !== vector || vector >= kIrqVectors) this.#badVector(vector);
    if ((Atomics.load(this.#w, kLivenessIndex) & kLivenessStateMask) === Liveness.DETACHED) this.#detached();
    Atomics.or(this.#w, kIrqEnabledIndex + (vector >>> 5), 1 << (vector & 31));
  }

  /** True when `vector` is masked. Throws PT_ERR_OUT_OF_RANGE. */
  isMasked(vector: number): boolean {
    if (typeof vector !== 'number' || (vector >>> 0) !== vector || vector >= kIrqVectors) this.#badVector(vector);
    return (Atomics.load(this.#w, kIrqEnabledIndex + (vector >>> 5)) & (1 << (vector & 31))) === 0;
  }

  /** The enabled mask as 8 unsigned 32-bit words (vector v = bit v & 31 of word v >>> 5). */
  enabledWords(): number[] {
    const out: number[] = [];
    for (let i = 0; i < kIrqBitmapWords; i++) out.push(Atomics.load(this.#w, kIrqEnabledIndex + i) >>> 0);
    return out;
  }

  /** A snapshot of the counters. */
  counters(): IrqCounters {
    const w = this.#w;
    return {
      raised: Atomics.load(w, kIrqRaisedIndex) >>> 0,
      coalesced: Atomics.load(w, kIrqCoalescedIndex) >>> 0,
      delivered: Atomics.load(w, kIrqDeliveredIndex) >>> 0,
      masked: Atomics.load(w, kIrqMaskedIndex) >>> 0,
    };
  }

  /**
   * Blocks until the sequence differs from `lastSeq` or `timeoutMs` passes
   * (spinning first when asked, never longer than `timeoutMs` in all).
   * Meant for worker threads (on the main thread it freezes the event loop for
   * up to `timeoutMs`). Drain AFTER this returns (see the module comment).
   * @returns the new sequence value, or `lastSeq` on timeout
   * Throws PT_ERR_INVALID_ARGUMENT for a non-number `lastSeq`, a non-finite or
   * negative timeout or a bad spin count; and at once, also when it happens
   * during the wait, PT_ERR_WORKER_EXITED (the device worker exited or was
   * restarted), PT_ERR_NOT_ATTACHED (detached), PT_ERR_DEVICE_GONE (the
   * function fell off the bus).
   */
  waitSync(lastSeq: number, timeoutMs: number, opts?: WaitSyncOptions): number {
    const w = this.#w;
    let s = Atomics.load(w, kIrqSeqIndex);
    if (s !== lastSeq) {
      if (typeof lastSeq !== 'number') badSeq(lastSeq);
      return s;
    }
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs < Infinity)) badTimeout(timeoutMs);
    const live = Atomics.load(w, kLivenessIndex);
    if ((live & kLivenessStateMask) !== Liveness.ALIVE) this.#checkLive(live, live);
    const spins = opts === undefined ? 0 : spinCount(opts);
    let remainingMs = timeoutMs;
    if (spins > 0) {
      const deadline = performance.now() + timeoutMs;
      for (let i = 1; i <= spins; i++) {
        s = Atomics.load(w, kIrqSeqIndex);
        if (s !== lastSeq) return s;
        if (i % kSpinClockEvery === 0) {
          if (Atomics.load(w, kLivenessIndex) !== live) this.#checkLive(Atomics.load(w, kLivenessIndex), live);
          if (performance.now() >= deadline) return Atomics.load(w, kIrqSeqIndex);
        }
      }
      remainingMs = deadline - performance.now();
      if (remainingMs <= 0) return Atomics.load(w, kIrqSeqIndex);
    }
    Atomics.add(w, kIrqWaitersIndex, 1);
    try {
      Atomics.wait(w, kIrqSeqIndex, lastSeq, remainingMs);
    } finally {
      Atomics.sub(w, kIrqWaitersIndex, 1);
    }
    // A liveness change bumps the sequence to wake us: report it as the error it is.
    const after = Atomics.load(w, kLivenessIndex);
    if (after !== live) this.#checkLive(after, live);
    return Atomics.load(w, kIrqSeqIndex);
  }

  /**
   * Waits without blocking the thread (Atomics.waitAsync). While pending it
   * holds a ref'd timer, so the process stays alive (Node 20's waitAsync does
   * not, eco §3.1); the timer is cleared when the wait settles.
   * @returns the new sequence value, or `lastSeq` on timeout
   * Throws (synchronously) PT_ERR_INVALID_ARGUMENT for a non-number `lastSeq`
   * or a non-finite or negative timeout; rejects with PT_ERR_WORKER_EXITED,
   * PT_ERR_NOT_ATTACHED or PT_ERR_DEVICE_GONE as {@link waitSync} throws them.
   */
  waitAsync(lastSeq: number, timeoutMs: number): Promise<number> {
    const w = this.#w;
    const s = Atomics.load(w, kIrqSeqIndex);
    if (typeof lastSeq !== 'number') badSeq(lastSeq);
    if (s !== lastSeq) return Promise.resolve(s);
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs < Infinity)) badTimeout(timeoutMs);
    const live = Atomics.load(w, kLivenessIndex);
    if ((live & kLivenessStateMask) !== Liveness.ALIVE) {
      const e = livenessError(live, live, {});
      if (e !== undefined) return Promise.reject(e);
    }
    // Counted as a waiter before waitAsync re-checks the value (see raise()).
    Atomics.add(w, kIrqWaitersIndex, 1);
    const r = atomicsWaitAsync(w, kIrqSeqIndex, lastSeq, timeoutMs);
    if (!r.async) {
      Atomics.sub(w, kIrqWaitersIndex, 1);
      return this.#settle(live);
    }
    const keepAlive = setTimeout(noop, Math.min(2 ** 31 - 1, timeoutMs + 1));
    return r.value.then(() => {
      Atomics.sub(w, kIrqWaitersIndex, 1);
      clearTimeout(keepAlive);
      return this.#settle(live);
    });
  }

  /** The outcome of a finished async wait: the sequence, or the liveness error that woke it. */
  #settle(live: number): Promise<number> {
    const after = Atomics.load(this.#w, kLivenessIndex);
    const e = after === live ? undefined : livenessError(after, live, {});
    return e === undefined ? Promise.resolve(Atomics.load(this.#w, kIrqSeqIndex)) : Promise.reject(e);
  }

  /** Throws the liveness error of `word` (seen `live` at the start), if any. */
  #checkLive(word: number, live: number): void {
    const e = livenessError(word, live, {});
    if (e !== undefined) throw e;
  }

  #detached(): never {
    throw new PassthroughError('PT_ERR_NOT_ATTACHED', 'the device is detached: its interrupt line is closed', {});
  }

  #badVector(vector: number): never {
    if (typeof vector !== 'number') {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'IRQ vector must be a number', { param: 'vector', value: argumentValue(vector) });
    }
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `IRQ vector must be 0–${kIrqVectors - 1}`, { vector, param: 'vector', value: vector });
  }
}

function badTimeout(timeoutMs: unknown): never {
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'timeoutMs must be a finite non-negative number', {
    timeoutMs: argumentValue(timeoutMs),
    param: 'timeoutMs',
    value: argumentValue(timeoutMs),
  });
}

function badSeq(lastSeq: unknown): never {
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'lastSeq must be a number (a value of IrqLine.seq)', { param: 'lastSeq', value: argumentValue(lastSeq) });
}

/** The checked spin count of waitSync's options. */
function spinCount(opts: WaitSyncOptions): number {
  if (opts === null || typeof opts !== 'object') {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'waitSync options must be an object', { param: 'opts', value: argumentValue(opts) });
  }
  const n = opts.spinIterations ?? 0;
  if (typeof n !== 'number' || !(n >= 0)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'spinIterations must be a non-negative number', { param: 'spinIterations', value: argumentValue(n) });
  }
  return n;
}

function checkWords(words: ArrayLike<bigint> | ArrayLike<number>): void {
  if (words === null || typeof words !== 'object') badWords(-1);
  const kind = words.length === 4 ? 'bigint' : words.length === 8 ? 'number' : undefined;
  for (let i = 0; i < words.length; i++) if (typeof words[i] !== kind) badWords(words.length);
  if (kind === undefined) badWords(words.length);
}

/** Word i (0–7) of a checked bitmap as an Int32. */
function wordOf(words: ArrayLike<bigint> | ArrayLike<number>, i: number): number {
  if (words.length === 4) {
    const v = words[i >>> 1] as bigint;
    return Number(BigInt.asUintN(32, (i & 1) === 0 ? v : v >> 32n)) | 0;
  }
  return (words[i] as number) | 0;
}

function badWords(length: number): never {
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'IRQ words must be 4 × bigint or 8 × number', { length });
}
