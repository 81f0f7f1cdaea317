/**
 * Liveness: a device worker's death, a detach and a device that fell off the
 * bus reach every fast-path waiter at once, as a typed error, through the
 * control block's liveness word, including on a thread that is blocked in a
 * sync call and so cannot see the worker's `exit` event. The assertions are
 * on the error code only: without the liveness word these calls wait out
 * their timeout and fail with PT_ERR_TIMEOUT.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import type { DeviceHandle } from '../../../src/actors/supervisor/handle.js';
import { Liveness, livenessOf, openFastPath } from '../../../src/fastpath/index.js';
import { thrown } from '../../shared/thrown.js';

const EDU_A = '0000:00:10.0';
const fixture = new URL('../../../dist/test/fixtures/liveness-waiter.js', import.meta.url);

let sup: Supervisor | undefined;
const threads: Worker[] = [];
afterEach(async () => {
  await Promise.all(threads.splice(0).map((t) => t.terminate()));
  await sup?.close();
  sup = undefined;
});

/** A vCPU thread of `h` in `mode`; resolves once it is set up, with the promise of its error code. */
async function vcpu(h: DeviceHandle, mode: 'wait' | 'config'): Promise<{ code: Promise<string> }> {
  const t = new Worker(fixture, { workerData: { descriptor: h.descriptor(), mode } });
  threads.push(t);
  const outcome = new Promise<string>((resolve, reject) => {
    t.on('message', (m: { code?: string }) => m.code !== undefined && resolve(m.code));
    t.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    t.on('message', (m: { ready?: boolean }) => m.ready === true && resolve());
    t.on('error', reject);
  });
  return { code: outcome };
}

describe('liveness (sim, real workers)', () => {
  it('a worker terminated by anyone: a config read, a trapped BAR access and a doorbell on the blocked main thread fail with PT_ERR_WORKER_EXITED', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 0, windowMs: 1000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const bar0 = a.bar(0)!;
    expect(bar0.read32(0)).toBe(0x010000ed); // a trapped register: served by the worker
    const worker = sup.debug.worker('a')!;
    void worker.terminate(); // the exit event cannot reach this thread before the calls below
    expect(thrown(() => a.config.read16(0)).code).toBe('PT_ERR_WORKER_EXITED');
    expect(thrown(() => bar0.read32(0)).code).toBe('PT_ERR_WORKER_EXITED');
    expect(thrown(() => bar0.write32(0x60, 1)).code).toBe('PT_ERR_WORKER_EXITED'); // edu's irq-raise doorbell
    expect(thrown(() => a.irq.waitSync(a.irq.seq, 30_000)).code).toBe('PT_ERR_WORKER_EXITED');
    await expect(a.irq.waitAsync(a.irq.seq, 30_000)).rejects.toMatchObject({ code: 'PT_ERR_WORKER_EXITED' });
  });

  it('a worker that crashes while the main thread is blocked in a config read: the read fails with PT_ERR_WORKER_EXITED', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 0, windowMs: 1000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    // The worker stops serving for 300 ms, then dies of an uncaught error: the read parks, and
    // only the worker's own exit handler can tell it (this thread is blocked, its exit event waits).
    await sup.debug.injectFault('a', { kind: 'crash', afterMs: 0, blockMs: 300 });
    let code: string | undefined;
    while (code === undefined) {
      try {
        a.config.read16(0); // served while the worker still serves
      } catch (e) {
        code = (e as { code: string }).code;
      }
    }
    expect(code).toBe('PT_ERR_WORKER_EXITED');
  });

  it('a vCPU thread parked in waitSync and one in config reads both fail with PT_ERR_WORKER_EXITED when the worker is killed', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 1, windowMs: 60_000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const waiter = await vcpu(a, 'wait');
    const reader = await vcpu(a, 'config');
    await sup.debug.killWorker('a');
    expect(await waiter.code).toBe('PT_ERR_WORKER_EXITED');
    expect(await reader.code).toBe('PT_ERR_WORKER_EXITED');
  });

  it('detach wakes a parked waiter with PT_ERR_NOT_ATTACHED; afterwards every fast-path object and handle method refuses with it', async () => {
    sup = await createSupervisor();
    const a = await sup.attach(EDU_A, { id: 'a' });
    const bar0 = a.bar(0)!;
    const desc = a.descriptor();
    const waiter = await vcpu(a, 'wait');
    await a.detach();
    expect(await waiter.code).toBe('PT_ERR_NOT_ATTACHED');
    expect(livenessOf(desc.control)).toBe(Liveness.DETACHED);
    const refusals: [string, () => unknown][] = [
      ['config.read16', () => a.config.read16(0)],
      ['config.write8', () => a.config.write8(4, 0)],
      ['bar.read32', () => bar0.read32(0)],
      ['irq.raise', () => a.irq.raise(0)],
      ['irq.drain', () => a.irq.drain()],
      ['irq.mask', () => a.irq.mask(0)],
      ['irq.waitSync', () => a.irq.waitSync(a.irq.seq, 10)],
      ['companion.read32', () => a.companion.read32(0)],
      ['openFastPath', () => openFastPath(desc)],
    ];
    for (const [name, call] of refusals) expect([name, thrown(call).code]).toEqual([name, 'PT_ERR_NOT_ATTACHED']);
    const rejections: [string, () => Promise<unknown>][] = [
      ['irq.waitAsync', () => a.irq.waitAsync(a.irq.seq, 10)],
      ['dma.map', () => a.dma.map(new SharedArrayBuffer(4096))],
      ['reset', () => a.reset()],
      ['stats', () => a.stats()],
      ['dext', () => a.dext()],
      ['vfio.deviceInfo', () => a.vfio.deviceInfo()],
      ['vfio.regionRead', () => a.vfio.regionRead(7, 0, 4)],
    ];
    for (const [name, call] of rejections) {
      const code = await call().then(
        () => 'resolved',
        (e: unknown) => (e as { code?: string }).code,
      );
      expect([name, code]).toEqual([name, 'PT_ERR_NOT_ATTACHED']);
    }
  });

  it('a device that falls off the bus: a parked waiter and later sync calls fail with PT_ERR_DEVICE_GONE', async () => {
    sup = await createSupervisor({ presenceCheckMs: 0 });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const waiter = await vcpu(a, 'wait');
    await sup.debug.injectFault('a', { kind: 'fall-off-bus' });
    expect(await waiter.code).toBe('PT_ERR_DEVICE_GONE');
    expect(thrown(() => a.config.read16(0)).code).toBe('PT_ERR_DEVICE_GONE');
    expect(thrown(() => a.irq.waitSync(a.irq.seq, 30_000)).code).toBe('PT_ERR_DEVICE_GONE');
  });
});
