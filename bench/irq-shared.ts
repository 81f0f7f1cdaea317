/**
 * Word indexes of the IRQ bench's own SharedArrayBuffer (not the device
 * control block, whose layout lives in src/fastpath/layout.ts).
 *
 * Protocol: every go carries a number (the new value of the go counter). The
 * worker answers go `g` by stamping the time and then raising exactly that
 * event: IrqLine vector `g & 255`, or the doorbell set to `g`. The waiter
 * takes only the event of its own go, so a late answer to an earlier go
 * (one the waiter gave up on) is never mistaken for the current one.
 */
/** Int32 index: bumped by the main thread to ask the worker for one raise (the new value numbers the go). */
export const kGoIndex = 0;
/** Int32 index: what to raise (an {@link IrqBenchMode}). */
export const kModeIndex = 16;
/** Int32 index: the raw doorbell of the baselines (its own cache line); the worker stores the go number. */
export const kDoorbellIndex = 32;
/** Int32 index: set to 1 to end the worker. */
export const kExitIndex = 48;
/** BigInt64 index: hrtime (ns) taken by the worker just before it raises. */
export const kRaiseTimeIndex64 = 32;
/** Int32 index: the go number the stamp at {@link kRaiseTimeIndex64} belongs to (stored after the stamp). */
export const kStampGoIndex = 80;
/** Bench buffer size in bytes. */
export const kIrqBenchBytes = 512;

/** The IrqLine vector the worker raises for go number `go`. */
export function vectorOfGo(go: number): number {
  return go & 255;
}

/** What the worker does on each go. */
export const IrqBenchMode = {
  /** IrqLine.raise (the consumer parks or spins inside waitSync). */
  LINE: 1,
  /** Raw Atomics.store of the go number + notify on the doorbell. */
  RAW_NOTIFY: 2,
  /** Raw Atomics.store of the go number on the doorbell, no notify (the consumer spins). */
  RAW_STORE: 3,
} as const;
