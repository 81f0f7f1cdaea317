/**
 * Smoke test of the fast-path benchmark suites: short runs, exact result
 * names and a well-formed report. (Figures are not asserted: a shared CI
 * box cannot hold timing targets; the suites print the ratios.)
 */
import { describe, expect, it } from 'vitest';
import { runConfigSuite, runIrqSuite, runMmioSuite, type BenchReport } from '../../bench/index.js';

function checkReport(r: BenchReport, suite: string, names: string[]): void {
  expect(r.suite).toBe(suite);
  expect(r.machine.cpus).toBeGreaterThan(0);
  expect(r.machine.node).toBe(process.version);
  expect(r.results.map((x) => x.name).sort()).toEqual([...names].sort());
  for (const x of r.results) {
    expect(x.samples).toBeGreaterThan(0);
    expect(x.latencyNs.min).toBeLessThanOrEqual(x.latencyNs.p50);
    expect(x.latencyNs.p50).toBeLessThanOrEqual(x.latencyNs.p99);
    expect(x.latencyNs.p99).toBeLessThanOrEqual(x.latencyNs.max);
    expect(x.opsPerSec).toBeGreaterThan(0);
  }
  expect(r.ratios!.length).toBeGreaterThan(0);
  expect(JSON.parse(JSON.stringify(r))).toEqual(r);
}

describe('fast-path bench suites', () => {
  it('mmio', async () => {
    const progress: number[] = [];
    const r = await runMmioSuite({ durationMs: 400, retainSamples: true, onProgress: (f) => progress.push(f) });
    checkReport(r, 'mmio', ['bar.read32', 'bar.write32', 'baseline.atomics.load32', 'baseline.atomics.store32', 'rpc.comlink.read32']);
    expect(r.results[0]!.samplesNs!.length).toBe(r.results[0]!.samples);
    expect(progress.at(-1)).toBeCloseTo(1);
  });

  it('irq', async () => {
    const r = await runIrqSuite({ durationMs: 400 });
    checkReport(r, 'irq', ['irq.deliver', 'irq.deliver.spin', 'baseline.atomics.wait-notify', 'baseline.spin']);
  });

  it('config', async () => {
    const r = await runConfigSuite({ durationMs: 400 });
    checkReport(r, 'config', ['config.read32', 'config.read32.blocking', 'baseline.atomics.pingpong', 'baseline.atomics.pingpong.spin', 'rpc.comlink.call']);
  });
});
