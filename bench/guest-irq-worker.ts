/**
 * Raiser of the guest bench's interrupt tasks (bench/guest-mmio.ts): on each
 * go from the main thread it stamps the shared clock, then raises the host
 * interrupt asked for: vector `vector` on IRQ line `line` (one of the device
 * control blocks it was given), or the raw doorbell of the baseline (store +
 * notify). Parks between goes (finite waits), answers only the newest go.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IrqLine } from '../src/fastpath/index.js';
import { GuestIrqBench } from './guest-irq-shared.js';

const { controls, shared } = workerData as { controls: SharedArrayBuffer[]; shared: SharedArrayBuffer };
const lines = controls.map((c) => new IrqLine(c));
const w = new Int32Array(shared);
const t = new BigInt64Array(shared);
let lastGo = Atomics.load(w, GuestIrqBench.GO);
parentPort!.postMessage('ready');
while (Atomics.load(w, GuestIrqBench.EXIT) === 0) {
  Atomics.wait(w, GuestIrqBench.GO, lastGo, 100);
  const go = Atomics.load(w, GuestIrqBench.GO);
  if (go === lastGo) continue;
  lastGo = go;
  const line = Atomics.load(w, GuestIrqBench.LINE);
  const vector = Atomics.load(w, GuestIrqBench.VECTOR);
  Atomics.store(t, GuestIrqBench.STAMP_NS_64, process.hrtime.bigint());
  Atomics.store(w, GuestIrqBench.STAMP_GO, go);
  if (line < 0) {
    Atomics.store(w, GuestIrqBench.DOORBELL, go);
    Atomics.notify(w, GuestIrqBench.DOORBELL);
  } else {
    lines[line]!.raise(vector);
  }
}
