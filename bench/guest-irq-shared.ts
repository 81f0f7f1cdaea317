/**
 * Word indexes of the guest bench's interrupt buffer (shared by
 * bench/guest-mmio.ts and bench/guest-irq-worker.ts). Hot words on their own
 * 64-byte lines. Protocol as bench/irq-shared.ts: each go is numbered; the
 * worker stamps the time and the go number, then raises.
 */
export const GuestIrqBench = {
  /** Int32: bumped by the main thread for one raise. */
  GO: 0,
  /** Int32: which control block to raise on (index), or -1 for the raw doorbell. */
  LINE: 4,
  /** Int32: the vector to raise. */
  VECTOR: 5,
  /** Int32: set to 1 to end the worker. */
  EXIT: 6,
  /** Int32: the raw doorbell of the baseline (the worker stores the go number). */
  DOORBELL: 16,
  /** BigInt64 index: hrtime (ns) taken just before the raise. */
  STAMP_NS_64: 16,
  /** Int32: the go number the stamp belongs to. */
  STAMP_GO: 48,
  /** Buffer size in bytes. */
  BYTES: 256,
} as const;
