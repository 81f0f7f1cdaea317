/**
 * The plot is sized to the canvas asked for, whatever the figures: axis
 * labels and legends grow with the numbers (a loaded machine's latencies run
 * to millions of ns), so the sizing passes must converge, not give up after
 * one correction and refuse a canvas that fits (a CI run refused 1000×900
 * for the irq suite's four panels).
 */
import { describe, expect, it } from 'vitest';
import type { BenchReport, BenchResult } from '../../../bench/report.js';
import { renderPlotSvg } from '../../../src/cli/bench/plot.js';

/** A deterministic generator (no flake: the same figures every run). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function result(name: string, scaleNs: number, rnd: () => number): BenchResult {
  const tail = Math.exp(rnd() * 6);
  const s = Array.from({ length: 400 + Math.floor(rnd() * 1200) }, () => scaleNs * (rnd() < 0.02 ? tail * rnd() * 10 : 0.5 + rnd())).sort((a, b) => a - b);
  const n = s.length;
  const latencyNs = { p50: s[n >> 1]!, p99: s[Math.floor(n * 0.99)]!, mean: s.reduce((a, b) => a + b) / n, min: s[0]!, max: s[n - 1]! };
  return { name, samples: n, latencyNs, opsPerSec: 1e9 / latencyNs.mean, batch: 1, samplesNs: s };
}

/** The irq suite's shape: four results, two ratios. */
function irqReport(rnd: () => number): BenchReport {
  const scale = () => 200 * Math.exp(rnd() * 9);
  const results = ['irq.deliver', 'baseline.atomics.wait-notify', 'irq.deliver.spin', 'baseline.spin'].map((n) => result(n, scale(), rnd));
  const ratio = (path: string, baseline: string, stat: 'p50' | 'p99', target: number) => {
    const p = results.find((r) => r.name === path)!.latencyNs[stat];
    const b = results.find((r) => r.name === baseline)!.latencyNs[stat];
    return { label: `${path} / ${baseline} (${stat})`, path, baseline, stat, value: p / b, target: { kind: 'max' as const, value: target }, ok: p / b <= target, unit: 'ns' };
  };
  return {
    suite: 'irq',
    results,
    ratios: [ratio('irq.deliver', 'baseline.atomics.wait-notify', 'p50', 1.25), ratio('irq.deliver.spin', 'baseline.spin', 'p99', 2)],
  } as unknown as BenchReport;
}

function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)![0];
  return { width: Number(/\bwidth="([\d.]+)"/.exec(root)![1]), height: Number(/\bheight="([\d.]+)"/.exec(root)![1]) };
}

describe('plot sizing', () => {
  it('fits 1000×900 and 800×1300 for figures spanning five decades', async () => {
    const rnd = lcg(20261202);
    for (let i = 0; i < 12; i++) {
      const report = irqReport(rnd);
      for (const [widthPx, heightPx] of [[1000, 900], [800, 1300]] as const) {
        const svg = await renderPlotSvg([report], { widthPx, heightPx, title: 'pcipt bench irq' });
        expect(svgSize(svg), `report ${i} at ${widthPx}×${heightPx}`).toEqual({ width: widthPx, height: heightPx });
      }
    }
  }, 120_000);

  it('still refuses a canvas the panels cannot fit, naming the height they need', async () => {
    const report = irqReport(lcg(7));
    const e = await renderPlotSvg([report], { widthPx: 1000, heightPx: 300, title: 't' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { heightPx: 300, neededHeightPx: expect.any(Number) } });
  });
});
