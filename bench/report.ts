/**
 * The benchmark report schema shared by the fast-path suites and the CLI,
 * plus helpers to build results from tinybench tasks or raw latencies, and
 * the ratios the targets are stated in (design §5).
 */
import os from 'node:os';
import type { Task } from 'tinybench';

/** Latency statistics of one result, nanoseconds per operation. */
export interface LatencyNs {
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** One measured path. */
export interface BenchResult {
  /** Stable name, e.g. `bar.read32`, `baseline.atomics.load32`. */
  name: string;
  /** Number of samples the statistics are over (a sample may be a batch of operations). */
  samples: number;
  /** Per-operation latency in ns. */
  latencyNs: LatencyNs;
  /** Operations per second (1e9 / mean latency). */
  opsPerSec: number;
  /** Operations per sample (1 when each sample is one operation). */
  batch?: number;
  /** Raw per-operation latencies in ns, one per sample (only with retainSamples). */
  samplesNs?: number[];
}

/** The machine a report was measured on. */
export interface BenchMachine {
  cpus: number;
  node: string;
  /** CPU model string, when the OS reports one. */
  cpuModel?: string;
  /** `os.platform()`, `os.release()` and `os.arch()`. */
  platform?: string;
  release?: string;
  arch?: string;
  /** Physical memory in bytes. */
  totalMemBytes?: number;
  /** 1, 5 and 15-minute load averages when the suite started (a busy machine explains slow figures). */
  loadAvg?: [number, number, number];
}

/** A suite's report. */
export interface BenchReport {
  /** `mmio`, `irq` or `config`. */
  suite: string;
  machine: BenchMachine;
  results: BenchResult[];
  /** The ratios the suite's targets are stated in. */
  ratios?: BenchRatio[];
  /** Cross-thread suites: events that never arrived within the wait timeout (should be 0). */
  lostEvents?: number;
  /** Lines the CLI prints under the suite's table (e.g. the scale suite's memory breakdown). */
  notes?: string[];
}

/**
 * How a ratio varies over the rounds of one run: the ratio computed from
 * each round's own samples (path and baseline of the same round, so the
 * same machine load), then the minimum, median and maximum of those.
 */
export interface RatioSpread {
  min: number;
  median: number;
  max: number;
  /** Rounds the spread is over. */
  rounds: number;
}

/** A ratio of two results' statistics (or two other measured figures), with its target. */
export interface BenchRatio {
  /** e.g. `bar.read32 / baseline.atomics.load32 (p50)`. */
  label: string;
  /** The measured pcipt path (the numerator of a `max` ratio; the faster side of a `min` one). */
  path?: string;
  /** What it is measured against. */
  baseline?: string;
  /** The statistic compared. */
  stat?: keyof LatencyNs;
  /** The ratio over every sample of the run (all rounds pooled). */
  value: number;
  /** The path's figure the pooled ratio is made of (`unit`: ns per operation unless said otherwise). */
  pathValue?: number;
  /** The baseline's figure, measured in the same run. */
  baselineValue?: number;
  /** Unit of pathValue and baselineValue: `ns` (latency) or `bytes` (memory). */
  unit?: 'ns' | 'bytes';
  /** The ratio per round: min, median, max (when the suite ran rounds). */
  spread?: RatioSpread;
  /** The value must be ≤ target (`max`) or ≥ target (`min`). */
  target: { kind: 'max' | 'min'; value: number };
  /**
   * The verdict: the MEDIAN of the per-round ratios against the target when
   * there is a spread (so no single noisy round decides), else the pooled value.
   */
  ok: boolean;
}

/** Each task's samples (ns per operation) split by round, in round order. */
export type RoundSamples = ReadonlyMap<string, readonly (readonly number[])[]>;

/** Options every suite takes. */
export interface SuiteOptions {
  /** Total time budget of the suite in ms (default: 8000 for mmio and irq, 10000 for config). */
  durationMs?: number;
  /** Progress callback: fraction 0–1 and the name of what is running. */
  onProgress?: (fraction: number, label: string) => void;
  /** Include the raw per-operation latencies in each result (for plots). */
  retainSamples?: boolean;
}

/** This machine, and its load now. */
export function machineInfo(): BenchMachine {
  const cpus = os.cpus();
  const m: BenchMachine = { cpus: cpus.length, node: process.version };
  if (cpus[0]?.model) m.cpuModel = cpus[0].model.trim();
  m.platform = os.platform();
  m.release = os.release();
  m.arch = os.arch();
  m.totalMemBytes = os.totalmem();
  const [l1, l5, l15] = os.loadavg();
  m.loadAvg = [round2(l1!), round2(l5!), round2(l15!)];
  return m;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Nearest-rank percentile of a sorted array. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * A result from per-operation latencies in ns (one per sample).
 * @param batch operations each sample stands for (informational)
 */
export function resultFromLatencies(name: string, latenciesNs: ArrayLike<number>, retain = false, batch = 1): BenchResult {
  const sorted = Float64Array.from(latenciesNs).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  const mean = sum / Math.max(1, sorted.length);
  const r: BenchResult = {
    name,
    samples: sorted.length,
    latencyNs: {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean,
      min: sorted[0] ?? Number.NaN,
      max: sorted[sorted.length - 1] ?? Number.NaN,
    },
    opsPerSec: mean > 0 ? 1e9 / mean : 0,
    batch,
  };
  if (retain) r.samplesNs = Array.from(latenciesNs);
  return r;
}

/**
 * A result from a completed tinybench task whose samples are batches of
 * `batch` operations (ms per sample → ns per operation).
 * Throws when the task did not complete.
 */
export function resultFromTask(name: string, task: Task, batch: number, retain = false): BenchResult {
  const res = task.result;
  if (res.state !== 'completed') {
    const err = 'error' in res ? (res as { error: Error }).error : undefined;
    throw new Error(`bench task ${name} ${res.state}${err ? `: ${err.message}` : ''}`);
  }
  const lat = res.latency;
  const k = 1e6 / batch;
  const r: BenchResult = {
    name,
    samples: lat.samplesCount,
    latencyNs: { p50: lat.p50 * k, p99: lat.p99 * k, mean: lat.mean * k, min: lat.min * k, max: lat.max * k },
    opsPerSec: lat.mean > 0 ? 1e9 / (lat.mean * k) : 0,
    batch,
  };
  if (retain && lat.samples !== undefined) r.samplesNs = Array.from(lat.samples, (ms) => ms * k);
  return r;
}

/** The result called `name`. Throws when the report has none. */
export function resultByName(report: BenchReport, name: string): BenchResult {
  const r = report.results.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no result "${name}" in suite ${report.suite}`);
  return r;
}

/** `a.stat / b.stat` for two results of a report. */
export function ratio(report: BenchReport, a: string, b: string, stat: keyof LatencyNs = 'p50'): number {
  return resultByName(report, a).latencyNs[stat] / resultByName(report, b).latencyNs[stat];
}

/** A statistic of unsorted samples. */
function statOf(samples: readonly number[], stat: keyof LatencyNs): number {
  return resultFromLatencies('', samples).latencyNs[stat];
}

/** Min, median and max of the finite values (undefined when there are none). */
export function spreadOf(values: readonly number[]): RatioSpread | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { min: v[0]!, median, max: v[v.length - 1]!, rounds: v.length };
}

/** Whether `value` meets a target. */
function meets(kind: 'max' | 'min', value: number, target: number): boolean {
  return kind === 'max' ? value <= target : value >= target;
}

/**
 * Builds a ratio entry. kind 'max': `a/b` must be ≤ target (a is the slower
 * path); kind 'min': `b/a` must be ≥ target (a is that many times faster than b).
 * With `rounds` (each task's samples per round), the ratio is also computed
 * round by round: its spread is reported and its median decides the verdict.
 */
export function targetRatio(
  report: BenchReport,
  a: string,
  b: string,
  stat: keyof LatencyNs,
  kind: 'max' | 'min',
  target: number,
  rounds?: RoundSamples,
): BenchRatio {
  const label = kind === 'max' ? `${a} / ${b} (${stat})` : `${b} / ${a} (${stat}, speed-up)`;
  const ra = rounds?.get(a);
  const rb = rounds?.get(b);
  let perRound: number[] | undefined;
  if (ra !== undefined && rb !== undefined) {
    perRound = [];
    for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
      if (ra[i]!.length === 0 || rb[i]!.length === 0) continue;
      const x = statOf(ra[i]!, stat);
      const y = statOf(rb[i]!, stat);
      perRound.push(kind === 'max' ? x / y : y / x);
    }
  }
  const pathValue = resultByName(report, a).latencyNs[stat];
  const baselineValue = resultByName(report, b).latencyNs[stat];
  return figureRatio({ label, path: a, baseline: b, stat, pathValue, baselineValue, unit: 'ns', kind, target, ...(perRound === undefined ? {} : { perRound }) });
}

/**
 * A ratio of two measured figures (latency statistics, as targetRatio passes,
 * or others such as memory), with the spread of the per-round ratios when
 * given (the verdict then follows their median).
 */
export function figureRatio(opts: {
  label: string;
  path: string;
  baseline: string;
  /** The latency statistic compared, when the figures are one. */
  stat?: keyof LatencyNs;
  pathValue: number;
  baselineValue: number;
  unit: 'ns' | 'bytes';
  kind: 'max' | 'min';
  target: number;
  perRound?: readonly number[];
}): BenchRatio {
  const value = opts.kind === 'max' ? opts.pathValue / opts.baselineValue : opts.baselineValue / opts.pathValue;
  const out: BenchRatio = {
    label: opts.label,
    path: opts.path,
    baseline: opts.baseline,
    ...(opts.stat === undefined ? {} : { stat: opts.stat }),
    value,
    pathValue: opts.pathValue,
    baselineValue: opts.baselineValue,
    unit: opts.unit,
    target: { kind: opts.kind, value: opts.target },
    ok: meets(opts.kind, value, opts.target),
  };
  const spread = opts.perRound === undefined ? undefined : spreadOf(opts.perRound);
  if (spread !== undefined) {
    out.spread = spread;
    out.ok = meets(opts.kind, spread.median, opts.target);
  }
  return out;
}
