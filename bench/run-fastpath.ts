/**
 * Runs the three fast-path suites and prints their reports as one JSON
 * array on stdout: `node dist/bench/run-fastpath.js [mmio|irq|config ...] [--duration=ms]`.
 */
import { runConfigSuite, runIrqSuite, runMmioSuite, type BenchReport, type SuiteOptions } from './index.js';

const suites: Record<string, (o: SuiteOptions) => Promise<BenchReport>> = {
  mmio: runMmioSuite,
  irq: runIrqSuite,
  config: runConfigSuite,
};
const args = process.argv.slice(2);
const durationArg = args.find((a) => a.startsWith('--duration='));
const names = args.filter((a) => !a.startsWith('--'));
const opts: SuiteOptions = {};
if (durationArg !== undefined) opts.durationMs = Number(durationArg.slice('--duration='.length));
const reports: BenchReport[] = [];
for (const name of names.length > 0 ? names : Object.keys(suites)) {
  const run = suites[name];
  if (run === undefined) {
    console.error(`unknown suite ${name}; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  reports.push(await run(opts));
}
console.log(JSON.stringify(reports, null, 2));
