/**
 * The benchmark suites the CLI can run, loaded lazily (each pulls in
 * workers, tinybench and the supervisor only when chosen). The fast-path
 * suites (mmio, irq, config) take a time budget; attach, scale and liveness
 * are sized by their own iteration and device counts.
 */
import type { BenchReport, SuiteOptions } from '../../../bench/report.js';
import { usageError } from '../exit-codes.js';

/** Most devices `bench scale` simulates: 8 physical functions × 256 virtual functions. */
const kMaxScaleDevices = 2048;

/** Refuses suite options no suite can run (a usage error, before anything runs). */
export function checkSuiteOptions(names: readonly SuiteName[], opts: { devices?: number }): void {
  if (names.includes('scale') && (opts.devices ?? 0) > kMaxScaleDevices) {
    throw usageError(`--devices takes at most ${kMaxScaleDevices} (8 physical functions × 256 VFs; got ${opts.devices})`, { devices: opts.devices });
  }
}

/** A single suite name. */
export type SuiteName = 'mmio' | 'irq' | 'config' | 'attach' | 'scale' | 'liveness';

/** Suites in the order `bench all` runs them. */
export const SUITE_ORDER: readonly SuiteName[] = ['mmio', 'irq', 'config', 'attach', 'scale', 'liveness'];

/** Options the CLI passes to a suite. */
export interface CliSuiteOptions extends SuiteOptions {
  /** Devices for the scale suite. */
  devices?: number;
}

/** Runs one suite. */
export async function runSuite(name: SuiteName, opts: CliSuiteOptions): Promise<BenchReport> {
  const common: SuiteOptions = {
    ...(opts.durationMs === undefined ? {} : { durationMs: opts.durationMs }),
    ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
    ...(opts.retainSamples === undefined ? {} : { retainSamples: opts.retainSamples }),
  };
  switch (name) {
    case 'mmio':
      return (await import('../../../bench/index.js')).runMmioSuite(common);
    case 'irq':
      return (await import('../../../bench/index.js')).runIrqSuite(common);
    case 'config':
      return (await import('../../../bench/index.js')).runConfigSuite(common);
    case 'attach': {
      const { runAttachSuite } = await import('../../../bench/attach.js');
      return runAttachSuite(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress });
    }
    case 'liveness': {
      const { runLivenessSuite } = await import('../../../bench/liveness.js');
      return runLivenessSuite(common);
    }
    case 'scale': {
      const { runScaleSuite } = await import('../../../bench/scale.js');
      return runScaleSuite({ devices: opts.devices ?? 128, ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }) });
    }
  }
}
