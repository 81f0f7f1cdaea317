/**
 * Liveness bench vCPU thread: on each go from the main thread (a new round
 * number in the shared block, see liveness.ts), opens the device's fast path
 * and blocks the way a vCPU does (parked in IrqLine.waitSync, or in a loop of
 * ConfigPort reads), or, for the baseline, in a raw Atomics.wait on a word of
 * the shared block. When the block ends (the typed error of the worker's
 * death, or the baseline's notify) it stores the time and the error code.
 */
import { workerData } from 'node:worker_threads';
import { ERROR_CODES, PassthroughError } from '../src/errors.js';
import { openFastPath, type DeviceHandleDescriptor } from '../src/fastpath/index.js';
import {
  kArmedIndex,
  kBaselineIndex,
  kCodeIndex,
  kDoneIndex,
  kExitIndex,
  kGoIndex,
  kModeIndex,
  kWokeTimeIndex64,
  LivenessBenchMode,
} from './liveness-shared.js';

const { descriptor, shared } = workerData as { descriptor: DeviceHandleDescriptor; shared: SharedArrayBuffer };
const w = new Int32Array(shared);
const t = new BigInt64Array(shared);
let lastGo = 0;

function finish(round: number, code: number): void {
  Atomics.store(t, kWokeTimeIndex64, process.hrtime.bigint());
  Atomics.store(w, kCodeIndex, code);
  Atomics.store(w, kDoneIndex, round);
  Atomics.notify(w, kDoneIndex);
}

while (Atomics.load(w, kExitIndex) === 0) {
  Atomics.wait(w, kGoIndex, lastGo, 100);
  const go = Atomics.load(w, kGoIndex);
  if (go === lastGo) continue;
  lastGo = go;
  const mode = Atomics.load(w, kModeIndex);
  if (mode === LivenessBenchMode.BASELINE) {
    const armed = Atomics.load(w, kBaselineIndex);
    Atomics.store(w, kArmedIndex, go);
    Atomics.notify(w, kArmedIndex);
    Atomics.wait(w, kBaselineIndex, armed, 30_000);
    finish(go, -1);
    continue;
  }
  const fp = openFastPath(descriptor, { timeoutMs: 30_000 });
  let seq = fp.irq.seq;
  Atomics.store(w, kArmedIndex, go);
  Atomics.notify(w, kArmedIndex);
  try {
    for (;;) {
      if (mode === LivenessBenchMode.WAIT_SYNC) seq = fp.irq.waitSync(seq, 30_000);
      else fp.config.read16(0);
    }
  } catch (e) {
    finish(go, PassthroughError.is(e) ? ERROR_CODES.indexOf(e.code) : -2);
  } finally {
    fp.close();
  }
}
