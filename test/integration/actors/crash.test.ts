/**
 * A device worker killed mid-operation: its calls reject with
 * PT_ERR_WORKER_EXITED, its references and mappings are released, it is
 * restarted by policy with the same control block, siblings never notice;
 * past the restart limit it is faulted with PT_ERR_RESTART_LIMIT.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import { barHolders } from '../../../src/fastpath/index.js';
import type { DeviceHandle } from '../../../src/actors/supervisor/handle.js';
import { IRQ_WAIT_MS, eventually } from '../../shared/deadline.js';

const EDU_A = '0000:00:10.0';
const EDU_B = '0000:00:11.0';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

/** Raises edu's interrupt through its irq-raise register and waits for it on the line. */
async function eduIrq(h: DeviceHandle): Promise<number[]> {
  const seq = h.irq.seq;
  const bar0 = h.bar(0)!;
  bar0.write32(0x60, 1);
  const next = await h.irq.waitAsync(seq, IRQ_WAIT_MS);
  expect(next).not.toBe(seq);
  const got = h.irq.drain();
  bar0.write32(0x64, 1); // ack
  return got;
}

function once<T>(s: Supervisor, event: 'restart' | 'faulted' | 'worker-exit'): Promise<T> {
  return new Promise((resolve) => {
    const fn = (p: T) => {
      s.off(event, fn as never);
      resolve(p);
    };
    s.on(event, fn as never);
  });
}

describe('worker crash and restart (sim, real workers)', () => {
  it('kill mid-call: pending calls reject PT_ERR_WORKER_EXITED, resources are released, the device restarts, the sibling keeps running', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 3, windowMs: 60_000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const b = await sup.attach(EDU_B, { id: 'b' });
    expect(await eduIrq(a)).toEqual([0]);
    await a.dma.map(new SharedArrayBuffer(16384));
    expect(a.dma.list()).toHaveLength(1);
    const oldWindow = a.bar(0)!;
    const control = a.descriptor().control;

    const pending = sup.debug.injectFault('a', { kind: 'stall', ms: 10_000 });
    const pendingErr = pending.catch((e: unknown) => e);
    await eventually(() => expect(sup!.debug.resources().pendingCalls).toBe(1));
    const exited = once<{ deviceId: string }>(sup, 'worker-exit');
    const restarted = once<{ deviceId: string; attempt: number }>(sup, 'restart');
    await sup.debug.killWorker('a');

    expect(await pendingErr).toMatchObject({ code: 'PT_ERR_WORKER_EXITED' });
    expect(await exited).toMatchObject({ deviceId: 'a' });
    // The sibling never noticed.
    expect(await eduIrq(b)).toEqual([0]);
    expect(b.config.read16(0)).toBe(0x1234);

    expect(await restarted).toMatchObject({ deviceId: 'a', attempt: 1 });
    await eventually(() => expect(sup!.list().find((d) => d.id === 'a')).toMatchObject({ state: 'ready', restarts: 1 }));
    // Old window revoked and its lease gone; the handle serves the new generation with the same control block.
    expect(() => oldWindow.read32(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_BAR_RELEASED' }));
    expect(a.descriptor().control).toBe(control);
    expect(barHolders(control, 0)).toBe(1); // only the new window of this thread
    expect(a.bar(0)!.read32(0)).toBe(0x010000ed);
    expect(await eduIrq(a)).toEqual([0]);
    expect(a.config.read16(2)).toBe(0x11e8);
    // The restarted function has no DMA mapping, and the handle's book says so.
    expect(a.dma.list()).toEqual([]);
    expect(sup.debug.resources()).toMatchObject({ devices: 2, workers: 2, pendingCalls: 0 });
    expect(sup.debug.resources().owners.sort()).toEqual([EDU_A, EDU_B]);
  });

  it('the embedder sees PT_ERR_WORKER_EXITED on the sync ports while the worker is down, then they work again', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 1, windowMs: 60_000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const exited = once(sup, 'worker-exit');
    const restarted = once(sup, 'restart');
    // A kill from outside the supervisor (a crash), observed between exit and restart:
    const worker = sup.debug.worker('a')!;
    const seen: string[] = [];
    sup.on('worker-exit', () => {
      try {
        a.config.read16(0);
        seen.push('ok');
      } catch (e) {
        seen.push((e as { code: string }).code);
      }
    });
    await worker.terminate();
    await exited;
    expect(seen).toEqual(['PT_ERR_WORKER_EXITED']);
    await restarted;
    await eventually(() => expect(a.state).toBe('ready'));
    expect(a.config.read16(0)).toBe(0x1234);
  });

  it('gives up after maxRestarts within windowMs: faulted with PT_ERR_RESTART_LIMIT, event reported, others unaffected', async () => {
    sup = await createSupervisor({ restart: { maxRestarts: 1, windowMs: 60_000 } });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const b = await sup.attach(EDU_B, { id: 'b' });
    const restarted = once(sup, 'restart');
    await sup.debug.killWorker('a');
    await restarted;
    await eventually(() => expect(a.state).toBe('ready'));
    const faulted = once<{ deviceId: string; cause: { code: string } }>(sup, 'faulted');
    await sup.debug.killWorker('a');
    expect(await faulted).toMatchObject({ deviceId: 'a', cause: { code: 'PT_ERR_RESTART_LIMIT' } });
    expect(sup.list().find((d) => d.id === 'a')).toMatchObject({
      state: 'faulted',
      restarts: 1,
      cause: { code: 'PT_ERR_RESTART_LIMIT' },
    });
    expect(sup.debug.resources()).toMatchObject({ workers: 1, owners: [EDU_B], pendingCalls: 0 });
    await expect(a.reset()).rejects.toMatchObject({ code: 'PT_ERR_NOT_ATTACHED' });
    expect(() => a.config.read16(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_WORKER_EXITED' }));
    expect(await eduIrq(b)).toEqual([0]);
    // A faulted device still detaches cleanly, and its function can be attached again.
    await a.detach();
    const again = await sup.attach(EDU_A);
    expect(again.config.read16(0)).toBe(0x1234);
  });
});
