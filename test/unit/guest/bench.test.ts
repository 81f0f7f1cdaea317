/**
 * Smoke test of the guest bench suite (bench/guest-mmio.ts): a short run,
 * the exact result names, a well-formed report, no lost interrupt. Figures
 * are not asserted (a shared CI box cannot hold timing targets).
 */
import { describe, expect, it } from 'vitest';
import { runGuestSuite } from '../../../bench/guest-mmio.js';

describe('guest bench suite', () => {
  it('measures every path with its baselines and loses no interrupt', async () => {
    const progress: number[] = [];
    const r = await runGuestSuite({ durationMs: 1200, onProgress: (f) => progress.push(f) });
    expect(r.suite).toBe('guest');
    expect(r.results.map((x) => x.name).sort()).toEqual(
      [
        'guest.mmio.ram.read32',
        'guest.mmio.ram.write32',
        'guest.mmio.trapped.read32',
        'fastpath.ram.read32',
        'fastpath.trapped.read32',
        'baseline.handler.read32',
        'baseline.handler.write32',
        'guest.irq.msix',
        'guest.irq.intx',
        'fastpath.irq.deliver',
        'baseline.atomics.wait-notify',
      ].sort(),
    );
    for (const x of r.results) {
      expect(x.samples, x.name).toBeGreaterThan(0);
      expect(x.latencyNs.p50, x.name).toBeGreaterThan(0);
      expect(x.latencyNs.p50, x.name).toBeLessThanOrEqual(x.latencyNs.p99);
    }
    expect(r.ratios!.map((x) => x.label)).toContain('guest.irq.msix / baseline.atomics.wait-notify (p50)');
    expect(r.lostEvents).toBe(0);
    expect(progress.at(-1)).toBeCloseTo(1);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});
