/**
 * Runs benchmark tasks with tinybench in interleaved rounds (A B C D, A B C
 * D, …) so that a path and its baseline see the same machine load, even on
 * a shared 2-core box, then merges each task's samples.
 */
import { Bench, type FnReturnedObject } from 'tinybench';

/** One task. */
export interface RunnerTask {
  /** Result name. */
  name: string;
  /**
   * One sample. Sync tasks may return `{ overriddenDuration }` (ms) for a
   * latency measured elsewhere (e.g. across threads).
   */
  fn: () => unknown;
  /** Operations per sample (per-op latency = sample / batch). Default 1. */
  batch?: number;
}

/** Runner options. */
export interface RunnerOptions {
  /** Total budget for all tasks and rounds, ms. */
  durationMs: number;
  /** Rounds (default 4). */
  rounds?: number;
  /** Called after each task of each round. */
  onProgress?: (fraction: number, label: string) => void;
  /** Fraction of the whole suite this run stands for, and where it starts (for onProgress). */
  progressSpan?: [start: number, width: number];
}

/**
 * Each task's per-operation latencies in ns (all rounds), plus `rounds`: the
 * same samples split by round, for the per-round ratio spread.
 */
export class InterleavedSamples extends Map<string, number[]> {
  /** Task name → one array of samples per round. */
  readonly rounds = new Map<string, number[][]>();
}

/** Runs `tasks` and returns each one's per-operation latencies in ns. */
export async function runInterleaved(tasks: RunnerTask[], opts: RunnerOptions): Promise<InterleavedSamples> {
  const rounds = opts.rounds ?? 4;
  const perTaskMs = opts.durationMs / rounds / tasks.length;
  const [start, width] = opts.progressSpan ?? [0, 1];
  const out = new InterleavedSamples(tasks.map((t) => [t.name, []]));
  for (const t of tasks) out.rounds.set(t.name, []);
  let step = 0;
  for (let round = 0; round < rounds; round++) {
    for (const t of tasks) {
      const bench = new Bench({
        time: perTaskMs * 0.85,
        warmupTime: round === 0 ? perTaskMs * 0.15 : 0,
        warmup: round === 0,
        timestampProvider: 'hrtimeNow',
        retainSamples: true,
        throws: true,
      });
      bench.add(t.name, t.fn);
      await bench.run();
      const res = bench.tasks[0]!.result;
      if (res.state !== 'completed') throw new Error(`bench task ${t.name}: ${res.state}`);
      const k = 1e6 / (t.batch ?? 1);
      const dst = out.get(t.name)!;
      const thisRound: number[] = [];
      for (const ms of res.latency.samples ?? []) thisRound.push(ms * k);
      for (const ns of thisRound) dst.push(ns);
      out.rounds.get(t.name)!.push(thisRound);
      step++;
      opts.onProgress?.(start + (width * step) / (rounds * tasks.length), t.name);
    }
  }
  return out;
}

/**
 * What a cross-thread task returns: a latency measured with a shared clock,
 * and what the whole iteration cost (from `startMs`, a performance.now()
 * taken when the iteration began) so tinybench's time budget counts wall
 * time, not just the measured latency.
 */
export function measured(latencyNs: number, startMs: number): FnReturnedObject {
  return { overriddenDuration: latencyNs / 1e6, overriddenIterationCost: performance.now() - startMs };
}

/** The onProgress/progressSpan part of RunnerOptions for a suite's sub-run. */
export function progress(
  opts: { onProgress?: (fraction: number, label: string) => void },
  span: [start: number, width: number],
): Pick<RunnerOptions, 'onProgress' | 'progressSpan'> {
  return opts.onProgress === undefined ? {} : { onProgress: opts.onProgress, progressSpan: span };
}
