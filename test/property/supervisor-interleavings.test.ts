/**
 * Random interleavings of attach / detach / reset / kill / fault / IRQ storm
 * over several devices, on real workers (few runs: each attach spawns a
 * thread). After every run the supervisor is closed and nothing may be left:
 * no owner, worker, mapping, connection reference, pending call or lease, and
 * every unmasked interrupt raised while attached was delivered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor/supervisor.js';
import type { DeviceHandle } from '../../src/actors/supervisor/handle.js';
import { barHolders } from '../../src/fastpath/index.js';
import { scaled, eventually } from '../shared/deadline.js';

const FUNCTIONS = ['0000:00:10.0', '0000:02:00.0', '0000:03:00.0', '0000:03:00.1'] as const;
const MAX_RESTARTS = 2;

type Op =
  | { op: 'attach' | 'detach' | 'reset' | 'kill' | 'fault' | 'dma'; fn: number }
  | { op: 'storm'; fn: number; count: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('attach' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('detach' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reset' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('kill' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fault' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dma' as const), fn: fc.nat(FUNCTIONS.length - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('storm' as const), fn: fc.nat(FUNCTIONS.length - 1), count: fc.integer({ min: 1, max: 48 }) }),
  },
);

interface Live {
  handle: DeviceHandle;
  kills: number;
  state: 'ready' | 'faulted';
}

/** Rings `count` vectors through the doorbell (or edu's raise register) and collects them from the line. */
async function storm(h: DeviceHandle, count: number): Promise<{ raised: number; delivered: number }> {
  const bar0 = h.bar(0)!;
  const isEdu = h.info.deviceId === 0x11e8;
  const vectors = isEdu ? 1 : h.info.irqVectors;
  const want = new Set<number>();
  for (let i = 0; i < count; i++) {
    const v = i % vectors;
    if (isEdu) bar0.write32(0x60, 1);
    else bar0.write32(0x08, v);
    want.add(v);
  }
  const got = new Set<number>();
  const deadline = Date.now() + 3000;
  let seq = 0;
  while (got.size < want.size && Date.now() < deadline) {
    for (const v of h.irq.drain()) got.add(v);
    if (got.size >= want.size) break;
    seq = await h.irq.waitAsync(seq === 0 ? h.irq.seq : seq, 200);
  }
  for (const v of h.irq.drain()) got.add(v);
  if (isEdu) bar0.write32(0x64, 1);
  return { raised: want.size, delivered: [...want].filter((v) => got.has(v)).length };
}

async function step(sup: Supervisor, live: Map<string, Live>, op: Op): Promise<void> {
  const bdf = FUNCTIONS[op.fn]!;
  const cur = live.get(bdf);
  switch (op.op) {
    case 'attach': {
      if (cur !== undefined) {
        await expect(sup.attach(bdf)).rejects.toMatchObject({ code: 'PT_ERR_DUPLICATE_OWNER' });
        return;
      }
      live.set(bdf, { handle: await sup.attach(bdf), kills: 0, state: 'ready' });
      return;
    }
    case 'detach':
      if (cur === undefined) return;
      await cur.handle.detach();
      live.delete(bdf);
      expect(sup.list().some((d) => d.bdf === bdf)).toBe(false);
      return;
    case 'reset':
      if (cur === undefined) return;
      if (cur.state === 'faulted') {
        await expect(cur.handle.reset()).rejects.toHaveProperty('code');
        return;
      }
      await cur.handle.reset();
      return;
    case 'kill': {
      if (cur === undefined || cur.state === 'faulted') return;
      const id = cur.handle.id;
      const outcome = new Promise<'restart' | 'faulted'>((resolve) => {
        const onRestart = (p: { deviceId: string }) => p.deviceId === id && done('restart');
        const onFaulted = (p: { deviceId: string }) => p.deviceId === id && done('faulted');
        const done = (r: 'restart' | 'faulted') => {
          sup.off('restart', onRestart);
          sup.off('faulted', onFaulted);
          resolve(r);
        };
        sup.on('restart', onRestart);
        sup.on('faulted', onFaulted);
      });
      await sup.debug.killWorker(id);
      cur.kills++;
      const r = await outcome;
      expect(r).toBe(cur.kills > MAX_RESTARTS ? 'faulted' : 'restart');
      if (r === 'faulted') {
        cur.state = 'faulted';
        expect(sup.list().find((d) => d.id === id)?.cause?.code).toBe('PT_ERR_RESTART_LIMIT');
      } else {
        await eventually(() => expect(cur.handle.state).toBe('ready'), { timeout: scaled(30_000) }); // a restart under load
      }
      return;
    }
    case 'fault':
      if (cur === undefined || cur.state === 'faulted') return;
      await sup.debug.injectFault(cur.handle.id, { kind: 'fall-off-bus' });
      await eventually(() => expect(cur.handle.state).toBe('faulted'));
      cur.state = 'faulted';
      return;
    case 'dma': {
      // Mapped and left mapped on purpose: teardown (detach, close, or the worker's death) must drop it.
      if (cur === undefined || cur.state === 'faulted') return;
      const m = await cur.handle.dma.map(new SharedArrayBuffer(16384));
      expect(typeof m.busAddr).toBe('bigint');
      return;
    }
    case 'storm': {
      if (cur === undefined || cur.state === 'faulted') return;
      const r = await storm(cur.handle, op.count);
      expect(r.delivered).toBe(r.raised); // lost = 0 for unmasked vectors
      return;
    }
  }
}

describe('supervisor under random interleavings (real workers)', () => {
  it('leaves nothing behind and loses no interrupt', async () => {
    const baseline = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 16 }), async (ops) => {
        const sup = await createSupervisor({ restart: { maxRestarts: MAX_RESTARTS, windowMs: 60_000 }, presenceCheckMs: 0 });
        const live = new Map<string, Live>();
        const controls: SharedArrayBuffer[] = [];
        try {
          // Every run starts with all functions attached so most operations hit a live device.
          const prefix: Op[] = FUNCTIONS.map((_, fn) => ({ op: 'attach', fn }));
          for (const op of [...prefix, ...ops]) {
            await step(sup, live, op);
            for (const l of live.values()) if (!controls.includes(l.handle.descriptor().control)) controls.push(l.handle.descriptor().control);
          }
        } finally {
          await sup.close();
        }
        const res = sup.debug.resources();
        expect(res).toMatchObject({ devices: 0, owners: [], workers: 0, warmWorkers: 0, pendingCalls: 0 });
        for (const t of Object.values(res.teardowns)) {
          expect(t).toMatchObject({ connectionRefs: 0, mappedBars: 0, dmaMappings: 0, exposures: 0, state: 'stopped' });
        }
        for (const c of controls) for (let bar = 0; bar < 6; bar++) expect(barHolders(c, bar)).toBe(0);
        // No worker thread or control port of ours is left open.
        await eventually(() =>
          expect(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length).toBeLessThanOrEqual(baseline),
        );
      }),
      { numRuns: 12, seed: Number(process.env.PCIPT_SEED ?? 20261124), endOnFailure: true },
    );
  }, scaled(120_000));
});
