/**
 * Liveness benchmark: how soon a vCPU thread blocked on a device learns
 * that the device's worker died (issue 15: "within 50 ms"; before the
 * liveness word it waited out its 2 s timeout and got PT_ERR_TIMEOUT).
 *
 * Each round: the device is ready, a vCPU thread opens the fast path and
 * blocks (parked in IrqLine.waitSync, or in a loop of ConfigPort reads),
 * the main thread takes a timestamp and terminates the device worker (as a
 * crash would, through the Worker object), and the vCPU thread takes a
 * timestamp when its call throws. The supervisor then restarts the worker
 * (same control block) for the next round.
 *
 * - `liveness.waitSync`: death → PT_ERR_WORKER_EXITED thrown by waitSync.
 * - `liveness.config`: death → PT_ERR_WORKER_EXITED thrown by a config read.
 * - `baseline.atomics.wait-notify`: the same two threads, a raw notify of a
 *   parked Atomics.wait, timed the same way (what any wake-up costs here).
 *
 * Ratio: liveness.waitSync / baseline (p50) ≤ 10: a worker's death reaches
 * a parked vCPU about as fast as an interrupt does (throwing the typed error
 * costs a few µs on top); a timeout would be ~10^5×. Any round that ends in
 * another error than PT_ERR_WORKER_EXITED is counted in `lostEvents`.
 */
import { Worker } from 'node:worker_threads';
import { createSupervisor, type Supervisor } from '../src/actors/supervisor/supervisor.js';
import { ERROR_CODES } from '../src/errors.js';
import {
  kArmedIndex,
  kBaselineIndex,
  kCodeIndex,
  kDoneIndex,
  kExitIndex,
  kGoIndex,
  kLivenessSharedBytes,
  kModeIndex,
  kWokeTimeIndex64,
  LivenessBenchMode,
} from './liveness-shared.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport } from './report.js';
import { benchWorkerUrl } from './worker-url.js';
import { atomicsWaitAsync } from '../src/fastpath/wait-async.js';

/** Options of {@link runLivenessSuite}. */
export interface LivenessSuiteOptions {
  /** Worker deaths per blocked call (default 20, or durationMs / 100 within 3–20; each costs a worker restart). */
  iterations?: number;
  /** A time budget hint (`bench all`, `--duration-ms`): scales the default iteration counts. */
  durationMs?: number;
  /** Baseline wake-ups (default 200). */
  baselineIterations?: number;
  /** Progress callback. */
  onProgress?: (fraction: number, label: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (async) until word `i` of `w` holds `value`; gives up after `ms` of silence. */
async function until(w: Int32Array, i: number, value: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    const now = Atomics.load(w, i);
    if (now === value) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    const r = atomicsWaitAsync(w, i, now, Math.min(left, 100));
    if (r.async) await r.value;
  }
}

/** Waits until the device has been restarted `restarts` times and is ready again, polling its state. */
async function ready(sup: Supervisor, id: string, restarts: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    const d = sup.list().find((x) => x.id === id);
    if (d !== undefined && d.restarts >= restarts && d.state === 'ready') return;
    if (d === undefined || d.state === 'faulted' || performance.now() > deadline) {
      throw new Error(`device ${id} did not come back after restart ${restarts}: ${JSON.stringify(d)}`);
    }
    await sleep(5);
  }
}

/** Runs the liveness suite. */
export async function runLivenessSuite(opts: LivenessSuiteOptions = {}): Promise<BenchReport> {
  const scaled = opts.durationMs === undefined ? 20 : Math.max(3, Math.min(20, Math.floor(opts.durationMs / 100)));
  const iterations = opts.iterations ?? scaled;
  const baselineIterations = opts.baselineIterations ?? scaled * 10;
  const total = 2 * iterations + baselineIterations;
  let done = 0;
  const step = (label: string) => opts.onProgress?.(++done / total, label);
  const sup: Supervisor = await createSupervisor({ restart: { maxRestarts: 1000, windowMs: 1 } });
  const shared = new SharedArrayBuffer(kLivenessSharedBytes);
  const w = new Int32Array(shared);
  const t = new BigInt64Array(shared);
  let vcpu: Worker | undefined;
  let lost = 0;
  try {
    const h = await sup.attach('0000:00:10.0', { id: 'liveness' });
    vcpu = new Worker(benchWorkerUrl('liveness-worker'), { workerData: { descriptor: h.descriptor(), shared } });
    vcpu.on('error', () => {});
    let go = 0;
    let kills = 0;
    /** One round; returns the death-to-error latency in ns, or undefined when it went wrong. */
    const round = async (mode: number, kill: () => void): Promise<number | undefined> => {
      go++;
      Atomics.store(w, kModeIndex, mode);
      Atomics.store(w, kGoIndex, go);
      Atomics.notify(w, kGoIndex);
      if (!(await until(w, kArmedIndex, go, 30_000))) return undefined;
      await sleep(mode === LivenessBenchMode.CONFIG ? 2 : 5); // let it block (park, or read in a loop)
      const t0 = process.hrtime.bigint();
      kill();
      if (!(await until(w, kDoneIndex, go, 30_000))) return undefined;
      const code = Atomics.load(w, kCodeIndex);
      if (mode !== LivenessBenchMode.BASELINE && ERROR_CODES[code] !== 'PT_ERR_WORKER_EXITED') return undefined;
      return Number(Atomics.load(t, kWokeTimeIndex64) - t0);
    };
    const deaths = async (mode: number, label: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < iterations; i++) {
        await ready(sup, h.id, kills, 60_000);
        const victim = sup.debug.worker(h.id);
        kills++;
        const ns = await round(mode, () => void victim?.terminate());
        if (ns === undefined) lost++;
        else out.push(ns);
        step(label);
      }
      return out;
    };
    const waitSync = await deaths(LivenessBenchMode.WAIT_SYNC, 'liveness.waitSync');
    const config = await deaths(LivenessBenchMode.CONFIG, 'liveness.config');
    const baseline: number[] = [];
    for (let i = 0; i < baselineIterations; i++) {
      const ns = await round(LivenessBenchMode.BASELINE, () => {
        Atomics.add(w, kBaselineIndex, 1);
        Atomics.notify(w, kBaselineIndex);
      });
      if (ns === undefined) lost++;
      else baseline.push(ns);
      step('baseline.atomics.wait-notify');
    }
    const report: BenchReport = {
      suite: 'liveness',
      machine: machineInfo(),
      results: [
        resultFromLatencies('liveness.waitSync', waitSync),
        resultFromLatencies('liveness.config', config),
        resultFromLatencies('baseline.atomics.wait-notify', baseline),
      ],
      lostEvents: lost,
    };
    report.ratios = [targetRatio(report, 'liveness.waitSync', 'baseline.atomics.wait-notify', 'p50', 'max', 10)];
    return report;
  } finally {
    Atomics.store(w, kExitIndex, 1);
    Atomics.add(w, kGoIndex, 1);
    Atomics.notify(w, kGoIndex);
    Atomics.add(w, kBaselineIndex, 1);
    Atomics.notify(w, kBaselineIndex);
    await vcpu?.terminate();
    await sup.close();
  }
}
