/**
 * Many device actors at once: the scale bench over an SR-IOV adapter, 64 VFs
 * by default; `PCIPT_SCALE=1024` runs the full 4 PF × 256 VF case (minutes
 * and ~13 GiB of RSS on a 2-core box, so not in the default run). And the
 * attach suite's cold vs warm split.
 */
import { describe, expect, it } from 'vitest';
import { runScaleSuite } from '../../../bench/scale.js';
import { runAttachSuite } from '../../../bench/attach.js';
import { scaled } from '../../shared/deadline.js';

describe('scale and attach benches (real workers)', () => {
  const devices = Number(process.env.PCIPT_SCALE ?? 64);
  // A safety net only (vitest's clock); the suite's own deadlines follow progress.
  const timeoutMs = 180_000 + devices * 3000;

  it(`attaches ${devices} SR-IOV VFs, storms them with a piscina load generator, loses nothing, closes; memory beside a bare worker's`, async () => {
    const vectorsPerDevice = 8;
    const r = await runScaleSuite({ devices, vectorsPerDevice, memoryRounds: 2, workersPerRound: 4 });
    expect(r).toMatchObject({ suite: 'scale', devices, attached: devices, irqsRaised: devices * vectorsPerDevice, irqsDelivered: devices * vectorsPerDevice, lost: 0 });
    const pfs = Math.ceil(devices / 256);
    expect(r.sriov).toMatch(new RegExp(`^${pfs} PF × ${Math.ceil(devices / pfs)} VF \\(PF 0000:01:00\\.0 VF offset ${pfs} stride 1; VFs 0000:01:00\\.${pfs} … `));
    expect(r.irqsPerSec).toBeGreaterThan(0);
    expect(r.attachAllMs).toBeGreaterThan(0);
    expect(r.closeMs).toBeGreaterThan(0);
    expect(r.closeFloorMs).toBeGreaterThan(0);
    expect(r.closeFloorSample).toBe(Math.min(r.attached, 64));
    expect(r.results.map((x) => x.name)).toEqual(['scale.attach', 'scale.storm.ring+deliver', 'scale.close']);
    expect(r.results[0]!.samples).toBe(devices);
    // Memory: both figures from this run, side by side, and the ratios made of them.
    const m = r.memory!;
    expect(m.rounds.map((s) => [s.stage, s.freshBytes.length, s.settledBytes.length])).toEqual([
      ['bare', 2, 2],
      ['modules', 2, 2],
      ['backend', 2, 2],
      ['attached', 2, 2],
    ]);
    expect(r.rssPerDeviceBytes).toBe(m.settled.attached);
    expect(r.bareWorkerRssBytes).toBe(m.settled.bare);
    expect(m.settled.bare).toBeGreaterThan(0);
    expect(r.rssPerDeviceInRunBytes).toBeGreaterThan(0);
    expect(m.heap.device.heapUsedBytes).toBeGreaterThan(m.heap.bare.heapUsedBytes); // the device modules are on its heap
    expect(r.ratios!.map((x) => x.label)).toEqual(['scale.rss.device / scale.rss.bare-worker (settled)', 'scale.rss.device / scale.rss.bare-worker (fresh)']);
    const [settled] = r.ratios!;
    expect(settled).toMatchObject({ path: 'scale.rss.device', baseline: 'scale.rss.bare-worker', unit: 'bytes', pathValue: m.settled.attached, baselineValue: m.settled.bare, target: { kind: 'max', value: 1.25 } });
    expect(settled!.spread!.rounds).toBe(2);
    expect(settled!.ok).toBe(settled!.spread!.median <= 1.25);
    expect(r.notes![0]).toMatch(new RegExp(`^storm: ${devices * vectorsPerDevice}/${devices * vectorsPerDevice} IRQs delivered, 0 lost \\(target 0: PASS\\); close of ${devices} devices \\d+ ms \\(target ≤ 2000 ms: (PASS|MISS)\\)$`));
    expect(r.notes![1]).toMatch(new RegExp(`^close floor: ${Math.min(devices, 64)} bare workers terminated at once in this run, scaled to ${devices}: \\d+ ms \\(close is [\\d.]+× that\\)$`));
    expect(r.notes![2]).toBe('memory per device (RSS growth per worker, medians of the rounds):');
    expect(r.notes![4]).toMatch(/^ {2}settled: bare worker [\d.]+ MiB \| device worker: \+ modules [+−][\d.]+ MiB, \+ sim backend [+−][\d.]+ MiB, \+ attached device [+−][\d.]+ MiB = [\d.]+ MiB \([\d.]+×\)$/);
  }, scaled(timeoutMs));

  it('a warm attach (pre-spawned worker) is much cheaper than a cold one', async () => {
    const r = await runAttachSuite({ iterations: 4 });
    const cold = r.results.find((x) => x.name === 'attach.cold')!;
    const warm = r.results.find((x) => x.name === 'attach.warm')!;
    expect(cold.samples).toBe(4);
    expect(warm.latencyNs.p50).toBeLessThan(cold.latencyNs.p50 / 2);
    expect(r.ratios?.[0]?.label).toBe('attach.warm / attach.cold (p50)');
  }, scaled(60_000));
});
