/**
 * Attach benchmark (design §5: warm attach ≤ 10% of cold).
 *
 * - `attach.cold`: attach with a brand-new worker (thread start, module
 *   loading, backend build, the attach steps, opening the BAR windows).
 * - `attach.warm`: attach taking a booted idle worker from the supervisor's
 *   warm pool (`warmWorkers`), so only the backend build and the attach steps
 *   remain. The pool refill is awaited (untimed) before each sample, so the
 *   background spawn does not steal the measured attach's CPU.
 * Detach is not timed. Samples are sequential: one device at a time.
 */
import { createSupervisor } from '../src/actors/supervisor/supervisor.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport } from './report.js';

/** Options of {@link runAttachSuite}. */
export interface AttachSuiteOptions {
  /** Samples per variant (default 12). */
  iterations?: number;
  /** Function to attach (default the msix function 0000:02:00.0). */
  bdf?: string;
  /** Progress callback. */
  onProgress?: (fraction: number, label: string) => void;
}

async function sample(
  warmWorkers: number,
  bdf: string,
  iterations: number,
  progress: (i: number) => void,
): Promise<number[]> {
  const sup = await createSupervisor({ warmWorkers });
  const out: number[] = [];
  try {
    // One untimed attach so both variants start with the supervisor's own modules loaded.
    await (await sup.attach(bdf)).detach();
    for (let i = 0; i < iterations; i++) {
      await sup.warm();
      const t0 = process.hrtime.bigint();
      const h = await sup.attach(bdf);
      out.push(Number(process.hrtime.bigint() - t0));
      await h.detach();
      progress(i);
    }
  } finally {
    await sup.close();
  }
  return out;
}

/** Runs the attach suite. Report: results `attach.cold`, `attach.warm`; ratio warm/cold p50 ≤ 0.10. */
export async function runAttachSuite(opts: AttachSuiteOptions = {}): Promise<BenchReport> {
  const iterations = opts.iterations ?? 12;
  const bdf = opts.bdf ?? '0000:02:00.0';
  const report = (p: number, label: string) => opts.onProgress?.(p, label);
  const cold = await sample(0, bdf, iterations, (i) => report((i + 1) / (2 * iterations), 'attach.cold'));
  const warm = await sample(1, bdf, iterations, (i) => report(0.5 + (i + 1) / (2 * iterations), 'attach.warm'));
  const out: BenchReport = {
    suite: 'attach',
    machine: machineInfo(),
    results: [resultFromLatencies('attach.cold', cold), resultFromLatencies('attach.warm', warm)],
  };
  // Samples are sequential (all cold, then all warm): the spread pairs the i-th quarter of each.
  const quarters = (xs: number[]) => [0, 1, 2, 3].map((q) => xs.slice(Math.floor((q * xs.length) / 4), Math.floor(((q + 1) * xs.length) / 4)));
  const rounds = new Map([
    ['attach.cold', quarters(cold)],
    ['attach.warm', quarters(warm)],
  ]);
  out.ratios = [targetRatio(out, 'attach.warm', 'attach.cold', 'p50', 'max', 0.1, rounds)];
  return out;
}
