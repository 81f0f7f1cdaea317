/** Word layout of the liveness bench's shared block (main thread ↔ vCPU thread). */

/** What the vCPU thread blocks in during a round. */
export const LivenessBenchMode = {
  /** IrqLine.waitSync, parked. */
  WAIT_SYNC: 0,
  /** ConfigPort.read16 in a loop (each read served by the device worker). */
  CONFIG: 1,
  /** Raw Atomics.wait on {@link kBaselineIndex}, woken by a notify from the main thread. */
  BASELINE: 2,
} as const;

/** Round number the main thread bumps to start a round. */
export const kGoIndex = 0;
/** Mode of the round ({@link LivenessBenchMode}). */
export const kModeIndex = 1;
/** Round the vCPU thread is armed for (it is about to block). */
export const kArmedIndex = 2;
/** Round the vCPU thread finished. */
export const kDoneIndex = 3;
/** Index into ERROR_CODES of the error that ended the round (−1 baseline, −2 untyped). */
export const kCodeIndex = 4;
/** Nonzero: the vCPU thread exits. */
export const kExitIndex = 5;
/** The word the baseline waits on. */
export const kBaselineIndex = 6;
/** BigInt64 slot (bytes 64..71): hrtime at which the vCPU thread's block ended. */
export const kWokeTimeIndex64 = 8;
/** Size of the shared block in bytes. */
export const kLivenessSharedBytes = 128;
