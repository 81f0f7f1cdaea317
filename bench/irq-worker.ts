/**
 * IRQ bench raiser: on each go from the main thread, takes a timestamp and
 * raises (through IrqLine or a raw doorbell). Parks between goes, so the
 * main thread is already waiting when the raise lands.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IrqLine } from '../src/fastpath/index.js';
import { IrqBenchMode, kDoorbellIndex, kExitIndex, kGoIndex, kModeIndex, kRaiseTimeIndex64 } from './irq-shared.js';

const { control, shared } = workerData as { control: SharedArrayBuffer; shared: SharedArrayBuffer };
const line = new IrqLine(control);
const w = new Int32Array(shared);
const t = new BigInt64Array(shared);
let lastGo = Atomics.load(w, kGoIndex);
let vector = 0;
// Only now may the parent send its first go (a go before lastGo was read would be missed).
parentPort!.postMessage('ready');
while (Atomics.load(w, kExitIndex) === 0) {
  Atomics.wait(w, kGoIndex, lastGo, 100);
  const go = Atomics.load(w, kGoIndex);
  if (go === lastGo) continue;
  lastGo = go;
  const mode = Atomics.load(w, kModeIndex);
  vector = (vector + 1) & 255;
  t[kRaiseTimeIndex64] = process.hrtime.bigint();
  if (mode === IrqBenchMode.LINE) {
    line.raise(vector);
  } else if (mode === IrqBenchMode.RAW_NOTIFY) {
    Atomics.add(w, kDoorbellIndex, 1);
    Atomics.notify(w, kDoorbellIndex);
  } else {
    Atomics.add(w, kDoorbellIndex, 1);
  }
}
