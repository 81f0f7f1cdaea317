/**
 * Hop timestamps of an IRQ pump thread, for finding where an interrupt's time
 * goes (bench/vm-msi.ts). Off unless the environment names a file in
 * `PCIPT_IRQ_HOPS` when the pump thread starts; then the pump's sink records,
 * for each delivered vector, the CLOCK_MONOTONIC time (process.hrtime, the
 * same clock in every thread of the process) at which the vector came out of
 * the backend's wait (the eventfd read) and the time at which the IrqLine
 * raise returned (pending bit stored, sequence bumped, waiter notified), and
 * writes them to `<file>.<threadId>.json` when the thread ends. Nothing is
 * recorded, allocated or checked per interrupt when it is off: the plain sink
 * is used.
 */
import { writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import type { IrqSink } from '../../vfio/device-io-ops.js';

/** Records kept per thread (older ones are overwritten: a ring). */
const HOP_CAPACITY = 1 << 16;

/** A sink recorder; `flush` writes the file. */
interface HopRecorder {
  sink: IrqSink;
  flush(): void;
}

/**
 * Wraps `sink` with a recorder when `PCIPT_IRQ_HOPS` is set, else returns
 * undefined. The file holds `{ threadId, n, readNs: number[], raisedNs: number[] }`
 * (nanoseconds, in delivery order, the last {@link HOP_CAPACITY} deliveries).
 */
export function irqHopRecorder(sink: IrqSink, env: NodeJS.ProcessEnv = process.env): HopRecorder | undefined {
  const file = env.PCIPT_IRQ_HOPS;
  if (file === undefined || file === '') return undefined;
  const read = new BigInt64Array(HOP_CAPACITY);
  const raised = new BigInt64Array(HOP_CAPACITY);
  let n = 0;
  return {
    sink: {
      deliver(vector: number): void {
        const i = n++ & (HOP_CAPACITY - 1);
        read[i] = process.hrtime.bigint();
        sink.deliver(vector);
        raised[i] = process.hrtime.bigint();
      },
    },
    flush(): void {
      const count = Math.min(n, HOP_CAPACITY);
      const first = n - count;
      const at = (a: BigInt64Array, k: number) => Number(a[(first + k) & (HOP_CAPACITY - 1)]!);
      const out = { threadId, n: count, readNs: [] as number[], raisedNs: [] as number[] };
      for (let k = 0; k < count; k++) {
        out.readNs.push(at(read, k));
        out.raisedNs.push(at(raised, k));
      }
      writeFileSync(`${file}.${threadId}.json`, JSON.stringify(out));
    },
  };
}
