/**
 * IRQ suite: one-way latency from "the device worker raises" to "the
 * embedder's waiter has the vector", against raw Atomics between the same
 * two threads. The raiser (a worker) stamps process.hrtime.bigint() (one
 * monotonic clock for the whole process) into shared memory just before it
 * raises; the waiter (the main thread) stamps again once it has seen the
 * event of its own go (irq-shared.ts numbers them), after the drain. Each
 * sample is one event, reported to tinybench as an overridden duration; an
 * event not seen within 1 s counts in `lostEvents`.
 */
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { IrqLine, createDeviceControlBlock } from '../src/fastpath/index.js';
import {
  IrqBenchMode,
  kDoorbellIndex,
  kExitIndex,
  kGoIndex,
  kIrqBenchBytes,
  kModeIndex,
  kRaiseTimeIndex64,
  kStampGoIndex,
  vectorOfGo,
} from './irq-shared.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport, type SuiteOptions } from './report.js';
import { measured, progress, runInterleaved } from './runner.js';
import { benchWorkerUrl } from './worker-url.js';

/**
 * How long a waiter waits for its event before the sample is counted as
 * lost, ms. Spinning waiters spin by this wall-clock deadline too, not by an
 * iteration count (50 M Atomics.load polls last only ~200 ms on the dev VM,
 * less than a worker wake-up can take on a loaded 2-core box).
 */
const kWaitMs = 1000;
/** Spin budget of irq.deliver.spin before waitSync parks (covers the worker's wake-up of ~50 µs many times over). */
const kSpin = 50_000_000;
/** Spinning waiters read the clock once per this many polls (a power of two). */
const kPollsPerClockRead = 1024;
/** Interleaved rounds: the four tasks take turns this many times. */
const kRounds = 8;

/** Runs the IRQ suite (results irq.deliver, irq.deliver.spin, baseline.atomics.wait-notify, baseline.spin). */
export async function runIrqSuite(opts: SuiteOptions = {}): Promise<BenchReport> {
  const durationMs = opts.durationMs ?? 8000;
  const control = createDeviceControlBlock();
  const shared = new SharedArrayBuffer(kIrqBenchBytes);
  const w = new Int32Array(shared);
  const t = new BigInt64Array(shared);
  const line = new IrqLine(control);
  const drained = new Uint16Array(256);
  const worker = new Worker(benchWorkerUrl('irq-worker'), { workerData: { control, shared } });
  const ready = once(worker, 'message');
  let lost = 0;

  /** Asks the worker for one raise; returns the go's number (its event's tag). */
  const go = (mode: number): number => {
    Atomics.store(w, kModeIndex, mode);
    const g = Atomics.add(w, kGoIndex, 1) + 1;
    Atomics.notify(w, kGoIndex);
    return g;
  };
  /**
   * The sample of go `g` once its event was seen: raise-to-seen latency on
   * the shared clock. A lost event (or a stamp of another go, which the
   * protocol rules out) counts as lost and reports the time waited.
   */
  const sample = (g: number, seen: boolean, startMs: number) => {
    const endNs = process.hrtime.bigint();
    if (!seen || Atomics.load(w, kStampGoIndex) !== g) {
      lost++;
      return measured((performance.now() - startMs) * 1e6, startMs);
    }
    return measured(Number(endNs - Atomics.load(t, kRaiseTimeIndex64)), startMs);
  };

  const lineTask = (spinIterations: number) => () => {
    const startMs = performance.now();
    const deadlineMs = startMs + kWaitMs;
    let seq = line.seq;
    const g = go(IrqBenchMode.LINE);
    const mine = vectorOfGo(g);
    let seen = false;
    let spin = spinIterations;
    // Wait, then drain (the IrqLine order); a vector of an earlier, given-up
    // go may come first: keep waiting for our own.
    while (!seen) {
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) break;
      seq = line.waitSync(seq, remainingMs, { spinIterations: spin });
      spin = 0;
      const n = line.drainInto(drained);
      for (let i = 0; i < n; i++) if (drained[i] === mine) seen = true;
    }
    return sample(g, seen, startMs);
  };
  const rawWait = () => {
    const startMs = performance.now();
    const deadlineMs = startMs + kWaitMs;
    const g = go(IrqBenchMode.RAW_NOTIFY);
    let now: number;
    while ((now = Atomics.load(w, kDoorbellIndex)) !== g) {
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) break;
      Atomics.wait(w, kDoorbellIndex, now, remainingMs);
    }
    return sample(g, now === g, startMs);
  };
  const rawSpin = () => {
    const startMs = performance.now();
    const deadlineMs = startMs + kWaitMs;
    const g = go(IrqBenchMode.RAW_STORE);
    let seen = false;
    for (let i = 1; ; i++) {
      if (Atomics.load(w, kDoorbellIndex) === g) {
        seen = true;
        break;
      }
      if ((i & (kPollsPerClockRead - 1)) === 0 && performance.now() > deadlineMs) break;
    }
    return sample(g, seen, startMs);
  };

  try {
    await ready;
    const samples = await runInterleaved(
      [
        { name: 'irq.deliver', fn: lineTask(0) },
        { name: 'baseline.atomics.wait-notify', fn: rawWait },
        { name: 'irq.deliver.spin', fn: lineTask(kSpin) },
        { name: 'baseline.spin', fn: rawSpin },
      ],
      { durationMs, rounds: kRounds, ...progress(opts, [0, 1]) },
    );
    const retain = opts.retainSamples ?? false;
    const results = [...samples].map(([name, ns]) => resultFromLatencies(name, ns, retain));
    const report: BenchReport = { suite: 'irq', machine: machineInfo(), results };
    report.ratios = [
      targetRatio(report, 'irq.deliver', 'baseline.atomics.wait-notify', 'p50', 'max', 1.25, samples.rounds),
      targetRatio(report, 'irq.deliver', 'baseline.atomics.wait-notify', 'p99', 'max', 2, samples.rounds),
      targetRatio(report, 'irq.deliver.spin', 'baseline.spin', 'p50', 'max', 1.5, samples.rounds),
      targetRatio(report, 'irq.deliver.spin', 'baseline.spin', 'p99', 'max', 2, samples.rounds),
    ];
    report.lostEvents = lost;
    return report;
  } finally {
    Atomics.store(w, kExitIndex, 1);
    Atomics.notify(w, kGoIndex);
    await worker.terminate();
  }
}
