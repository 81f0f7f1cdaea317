/**
 * Many device actors at once (the scale bench with a smaller N so the suite
 * stays fast; `pcipt bench scale` / runScaleSuite() runs 128) and the attach
 * suite's cold vs warm split.
 */
import { describe, expect, it } from 'vitest';
import { runScaleSuite } from '../../../bench/scale.js';
import { runAttachSuite } from '../../../bench/attach.js';
import { scaled } from '../../shared/deadline.js';

describe('scale and attach benches (real workers)', () => {
  it('attaches N sim devices, storms them with a piscina load generator, loses nothing, closes', async () => {
    const r = await runScaleSuite({ devices: 24, vectorsPerDevice: 8 });
    expect(r).toMatchObject({ suite: 'scale', devices: 24, attached: 24, irqsRaised: 24 * 8, irqsDelivered: 24 * 8, lost: 0 });
    expect(r.rssPerDeviceBytes).toBeGreaterThan(0);
    expect(r.closeMs).toBeGreaterThan(0);
    expect(r.results.map((x) => x.name)).toEqual(['scale.attach', 'scale.storm.ring+deliver', 'scale.close']);
    expect(r.results[0]!.samples).toBe(24);
  }, scaled(60_000));

  it('a warm attach (pre-spawned worker) is much cheaper than a cold one', async () => {
    const r = await runAttachSuite({ iterations: 4 });
    const cold = r.results.find((x) => x.name === 'attach.cold')!;
    const warm = r.results.find((x) => x.name === 'attach.warm')!;
    expect(cold.samples).toBe(4);
    expect(warm.latencyNs.p50).toBeLessThan(cold.latencyNs.p50 / 2);
    expect(r.ratios?.[0]?.label).toBe('attach.warm / attach.cold (p50)');
  }, scaled(60_000));
});
