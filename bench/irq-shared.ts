/**
 * Word indexes of the IRQ bench's own SharedArrayBuffer (not the device
 * control block, whose layout lives in src/fastpath/layout.ts).
 */
/** Int32 index: bumped by the main thread to ask the worker for one raise. */
export const kGoIndex = 0;
/** Int32 index: what to raise (an {@link IrqBenchMode}). */
export const kModeIndex = 16;
/** Int32 index: the raw doorbell of the baselines (its own cache line). */
export const kDoorbellIndex = 32;
/** Int32 index: set to 1 to end the worker. */
export const kExitIndex = 48;
/** BigInt64 index: hrtime (ns) taken by the worker just before it raises. */
export const kRaiseTimeIndex64 = 32;
/** Bench buffer size in bytes. */
export const kIrqBenchBytes = 512;

/** What the worker does on each go. */
export const IrqBenchMode = {
  /** IrqLine.raise (the consumer parks or spins inside waitSync). */
  LINE: 1,
  /** Raw Atomics.add + notify on the doorbell. */
  RAW_NOTIFY: 2,
  /** Raw Atomics.add on the doorbell, no notify (the consumer spins). */
  RAW_STORE: 3,
} as const;
