/**
 * Fast-path benchmark suites (mmio, irq, config) and the report schema.
 */
export { runMmioSuite } from './mmio.js';
export { runIrqSuite } from './irq.js';
export { runConfigSuite } from './config.js';
export {
  machineInfo,
  ratio,
  resultByName,
  resultFromLatencies,
  resultFromTask,
  targetRatio,
} from './report.js';
export type { BenchMachine, BenchRatio, BenchReport, BenchResult, LatencyNs, SuiteOptions } from './report.js';
