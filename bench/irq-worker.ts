/**
 * IRQ bench raiser: on each go from the main thread, takes a timestamp and
 * raises the event of that go (through IrqLine or a raw doorbell, see
 * irq-shared.ts). Parks between goes, so the main thread is already waiting
 * when the raise lands.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IrqLine } from '../src/fastpath/index.js';
import {
  IrqBenchMode,
  kDoorbellIndex,
  kExitIndex,
  kGoIndex,
  kModeIndex,
  kRaiseTimeIndex64,
  kStampGoIndex,
  vectorOfGo,
} from './irq-shared.js';

const { control, shared } = workerData as { control: SharedArrayBuffer; shared: SharedArrayBuffer };
const line = new IrqLine(control);
const w = new Int32Array(shared);
const t = new BigInt64Array(shared);
let lastGo = Atomics.load(w, kGoIndex);
// Only now may the parent send its first go (a go before lastGo was read would be missed).
parentPort!.postMessage('ready');
while (Atomics.load(w, kExitIndex) === 0) {
  Atomics.wait(w, kGoIndex, lastGo, 100);
  const go = Atomics.load(w, kGoIndex);
  if (go === lastGo) continue;
  // Only the newest go is answered: older ones were given up by the parent.
  lastGo = go;
  const mode = Atomics.load(w, kModeIndex);
  Atomics.store(t, kRaiseTimeIndex64, process.hrtime.bigint());
  Atomics.store(w, kStampGoIndex, go);
  if (mode === IrqBenchMode.LINE) {
    line.raise(vectorOfGo(go));
  } else if (mode === IrqBenchMode.RAW_NOTIFY) {
    Atomics.store(w, kDoorbellIndex, go);
    Atomics.notify(w, kDoorbellIndex);
  } else {
    Atomics.store(w, kDoorbellIndex, go);
  }
}
