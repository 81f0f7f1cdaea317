import type { IrqCounters, IrqLine } from '../../src/fastpath/irq-line.js';

/** Waits (bounded: 5 s in 1 s slices) until `line` has a pending vector; returns the drained vectors. */
export function nextVectors(line: IrqLine, seq: number): number[] {
  const deadline = Date.now() + 5000;
  const got: number[] = [];
  while (got.length === 0 && Date.now() < deadline) {
    seq = line.waitSync(seq, 1000);
    line.drain(got);
  }
  return got;
}

/**
 * The line's counters once `settled` holds (bounded: 5 s, 1 ms slices). A raise
 * bumps its `raised` counter just after signalling the waiter, so a waiter that
 * drains at once can read the counters before the raiser's last increment.
 */
export function settledCounters(line: IrqLine, settled: (c: IrqCounters) => boolean): IrqCounters {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 5000;
  let c = line.counters();
  while (!settled(c) && Date.now() < deadline) {
    Atomics.wait(pause, 0, 0, 1);
    c = line.counters();
  }
  return c;
}
