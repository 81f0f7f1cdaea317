/**
 * IRQ suite: one-way latency from "the device worker raises" to "the
 * embedder's waiter has the vector", against raw Atomics between the same
 * two threads. The raiser (a worker) stamps process.hrtime.bigint() (one
 * monotonic clock for the whole process) into shared memory just before it
 * raises; the waiter (the main thread) stamps again once waitSync returned
 * and the drain is done. Each sample is one event, reported to tinybench as
 * an overridden duration.
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
} from './irq-shared.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport, type SuiteOptions } from './report.js';
import { measured, progress, runInterleaved } from './runner.js';
import { benchWorkerUrl } from './worker-url.js';

/** How long a waiter may wait for one event before the sample is counted as lost, ms. */
const kWaitMs = 1000;
/** Spin budget of the spin modes (covers the worker's wake-up of ~50 µs many times over). */
const kSpin = 50_000_000;
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

  const go = (mode: number): void => {
    Atomics.store(w, kModeIndex, mode);
    Atomics.add(w, kGoIndex, 1);
    Atomics.notify(w, kGoIndex);
  };
  const latency = (): number => Number(process.hrtime.bigint() - t[kRaiseTimeIndex64]!);

  const lineTask = (spinIterations: number) => () => {
    const startMs = performance.now();
    const seq = line.seq;
    go(IrqBenchMode.LINE);
    let now = line.waitSync(seq, kWaitMs, { spinIterations });
    if (now === seq) lost++;
    while (line.drainInto(drained) === 0 && now !== seq) now = line.waitSync(now, kWaitMs);
    return measured(latency(), startMs);
  };
  const rawWait = () => {
    const startMs = performance.now();
    const last = Atomics.load(w, kDoorbellIndex);
    go(IrqBenchMode.RAW_NOTIFY);
    if (Atomics.wait(w, kDoorbellIndex, last, kWaitMs) === 'timed-out') lost++;
    return measured(latency(), startMs);
  };
  const rawSpin = () => {
    const startMs = performance.now();
    const last = Atomics.load(w, kDoorbellIndex);
    go(IrqBenchMode.RAW_STORE);
    let i = 0;
    while (Atomics.load(w, kDoorbellIndex) === last && ++i < kSpin);
    if (i === kSpin) lost++;
    return measured(latency(), startMs);
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
      targetRatio(report, 'irq.deliver', 'baseline.atomics.wait-notify', 'p50', 'max', 1.25),
      targetRatio(report, 'irq.deliver', 'baseline.atomics.wait-notify', 'p99', 'max', 2),
      targetRatio(report, 'irq.deliver.spin', 'baseline.spin', 'p50', 'max', 2),
    ];
    report.lostEvents = lost;
    return report;
  } finally {
    Atomics.store(w, kExitIndex, 1);
    Atomics.notify(w, kGoIndex);
    await worker.terminate();
  }
}
