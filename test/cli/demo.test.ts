// demo (npm start): attaches the default machine, runs the workload, reports, and exits cleanly.
import { describe, expect, it } from 'vitest';
import { DEMO_SCHEMA } from '../../src/cli/schemas.js';
import { parseJson, runCli, validate } from './helpers.js';

interface Summary {
  count: number;
  p50Ns: number;
  p99Ns: number;
}

describe('pcipt demo', () => {
  it('--json: six ready devices and every latency measured', async () => {
    const run = await runCli(['demo', '--json', '--iterations', '200'], {}, 120_000);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as {
      devices: { bdf: string; state: string; irqMode: string; irqVectors: number; bars: { bar: number; sizeBytes: number }[] }[];
      failed: unknown[];
      latency: Record<string, Summary>;
      workerThread: Record<string, Summary>;
      counters: Record<string, number | Record<string, number>>;
      slowPathLatency: Summary;
    };
    expect(validate(DEMO_SCHEMA, doc)).toEqual([]);
    expect(doc.failed).toEqual([]);
    expect(doc.devices).toHaveLength(6);
    expect(doc.devices.every((d) => d.state === 'ready')).toBe(true);
    const msix = doc.devices.find((d) => d.bdf === '0000:02:00.0')!;
    expect(msix).toMatchObject({ irqMode: 'msix', irqVectors: 256 });
    expect(msix.bars).toContainEqual({ bar: 2, sizeBytes: 1 << 20 });
    for (const key of ['mmioFastPath', 'mmioSlowPath', 'irqDelivery', 'dmaRoundTrip']) {
      expect(doc.latency[key]?.count, key).toBeGreaterThan(0);
      expect(doc.latency[key]!.p50Ns, key).toBeGreaterThan(0);
      expect(doc.latency[key]!.p99Ns, key).toBeGreaterThanOrEqual(doc.latency[key]!.p50Ns);
    }
    // The embedding worker measured the same paths over openFastPath (DMA stays on the control plane).
    for (const key of ['mmioFastPath', 'mmioSlowPath', 'irqDelivery']) {
      expect(doc.workerThread[key]?.count, `workerThread.${key}`).toBeGreaterThan(0);
    }
    expect(doc.workerThread.dmaRoundTrip).toBeUndefined();
    // The fast path is shared memory; the slow path crosses to the device worker.
    expect(doc.latency.mmioFastPath!.p50Ns).toBeLessThan(doc.latency.mmioSlowPath!.p50Ns);
    expect(doc.workerThread.mmioFastPath!.p50Ns).toBeLessThan(doc.workerThread.mmioSlowPath!.p50Ns);
    // Merged per-device counters account for every slow-path access and interrupt of the workload
    // (--iterations 200: 50 liveness reads and 50 doorbells per thread, 10 DMA round trips of 2 legs).
    expect(doc.counters).toMatchObject({
      mmioReads: { w4: 50 + 50 + 20 },
      mmioWrites: { w4: 50 + 50 + 50 + 50 + 20, w8: 4 * 20 },
      irqsRaised: 50 + 50 + 20,
      irqsDelivered: 50 + 50 + 20,
      dmaMaps: 1,
      dmaUnmaps: 1,
      errors: 0,
    });
    expect(doc.slowPathLatency.count).toBeGreaterThanOrEqual(120);
  });

  it('human output: the device table and the latency summary', async () => {
    const run = await runCli(['demo', '--iterations', '100'], {}, 120_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^attached 6 devices \(sim backend\)$/m);
    expect(run.stdout).toMatch(/dev2\s+0000:02:00\.0\s+pcipt MSI-X test function\s+1234:5a01\s+ready\s+0:64K 2:1M\s+msix ×256/);
    expect(run.stdout).toMatch(/IRQ delivery \(doorbell → waitAsync\)\s+\S+ [nµm]?s/);
    expect(run.stdout).toMatch(/IRQ delivery \(doorbell → waitSync\)\s+\S+ [nµm]?s/);
  });
});
