/**
 * Real device workers (dist/src/actors/worker/device.worker.js) on the sim backend:
 * attach → MMIO → IRQ → reset → detach, ownership, a two-function slot, DMA,
 * tracing and stats.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import { barHolders } from '../../../src/fastpath/index.js';
import { PassthroughError } from '../../../src/errors.js';
import { IRQ_WAIT_MS, eventually } from '../../shared/deadline.js';

const MSIX = '0000:02:00.0';
const EDU_A = '0000:00:10.0';
const EDU_B = '0000:00:11.0';
const DOORBELL = 0x08;

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

describe('supervisor lifecycle (sim, real workers)', () => {
  it('attach → BAR fast path + slow path → IRQ → reset → detach, leaving nothing behind', async () => {
    sup = await createSupervisor({ callTimeoutMs: 4000 });
    const h = await sup.attach(MSIX, { id: 'nic' });
    expect(h.info).toMatchObject({ name: 'apple-0000:02:00.0', vendorId: 0x1234, deviceId: 0x5a01, irqMode: 'msix' });
    expect(h.info.irqVectors).toBeGreaterThanOrEqual(64);
    expect(h.info.regions[2]!.sizeBytes).toBe(1024 * 1024);

    // Plain RAM BAR: the fast path, straight into shared memory.
    const ram = h.bar(2)!;
    ram.write64(0x100, 0x1122334455667788n);
    expect(ram.read64(0x100)).toBe(0x1122334455667788n);
    expect(ram.read8(0x100)).toBe(0x88);

    // BAR0 register file is trapped: the slow path through the worker's mailbox.
    const regs = h.bar(0)!;
    expect(regs.read32(0x00)).toBe(0x5a010001);
    // The MSI-X table lies in a trap range too (QEMU splits mmaps around it).
    expect(() => regs.read32(0x4000)).not.toThrow();

    // IRQ: ring vector 7 through the device's doorbell; waitAsync on the line returns.
    const seq = h.irq.seq;
    regs.write32(DOORBELL, 7);
    const next = await h.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(next).not.toBe(seq);
    expect(h.irq.drain()).toEqual([7]);

    // Synchronous config access (vendor id) through the mailbox.
    expect(h.config.read16(0)).toBe(0x1234);

    await h.reset();
    expect(sup.list()).toEqual([{ id: 'nic', bdf: MSIX, state: 'ready', restarts: 0, cause: undefined }]);
    // Interrupts still work after reset (the worker re-enables MSI-X).
    const seq2 = h.irq.seq;
    regs.write32(DOORBELL, 3);
    await h.irq.waitAsync(seq2, IRQ_WAIT_MS);
    expect(h.irq.drain()).toEqual([3]);

    // IrqLine counts a raise just after signalling it: the counters agree at rest.
    await eventually(async () => expect((await h.stats()).counters.irqsRaised).toBe(2));
    const stats = await h.stats();
    expect(stats.counters).toMatchObject({ resets: 1, irqsRaised: 2, irqsDelivered: 2, configReads: 1 });
    expect(stats.counters.mmioReads.w4).toBeGreaterThanOrEqual(2);
    expect(stats.counters.mmioWrites.w4).toBe(2);
    expect(stats.slowPathLatencyNs.count).toBeGreaterThanOrEqual(5);

    const control = h.descriptor().control;
    await h.detach();
    expect(sup.list()).toEqual([]);
    const res = sup.debug.resources();
    expect(res).toMatchObject({ devices: 0, owners: [], workers: 0, pendingCalls: 0 });
    expect(res.teardowns.nic).toMatchObject({ connectionRefs: 0, mappedBars: 0, dmaMappings: 0, exposures: 0, state: 'stopped' });
    for (const bar of [0, 2]) expect(barHolders(control, bar)).toBe(0);
    // After detach every fast-path object refuses with PT_ERR_NOT_ATTACHED.
    expect(() => ram.read32(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_NOT_ATTACHED' }));
    expect(() => h.config.read16(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_NOT_ATTACHED' }));
    await h.detach(); // idempotent
  });

  it('edu: slow-path registers and an MSI raised through the irq-raise register', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU_A);
    expect(h.info).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e8, irqMode: 'msi' });
    const bar0 = h.bar(0)!;
    expect(bar0.read32(0x00)).toBe(0x010000ed);
    bar0.write32(0x04, 0x12345678);
    expect(bar0.read32(0x04)).toBe(~0x12345678 >>> 0);
    const seq = h.irq.seq;
    bar0.write32(0x60, 0x1);
    await h.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(h.irq.drain()).toEqual([0]);
    expect(bar0.read32(0x24)).toBe(1);
    bar0.write32(0x64, 0x1);
  });

  it('refuses a second owner of a function with PT_ERR_DUPLICATE_OWNER, before spawning', async () => {
    sup = await createSupervisor();
    await sup.attach(EDU_A, { id: 'a' });
    const err = await sup.attach('00:10.0', { id: 'b' }).catch((e: unknown) => e);
    expect(PassthroughError.is(err, 'PT_ERR_DUPLICATE_OWNER')).toBe(true);
    expect((err as PassthroughError).context).toMatchObject({ bdf: EDU_A, owner: 'a' });
    expect(sup.debug.resources()).toMatchObject({ devices: 1, workers: 1, owners: [EDU_A] });
    // an id in use is refused too; an unknown function is NOT_FOUND and leaves nothing behind
    await expect(sup.attach(EDU_B, { id: 'a' })).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    // The original fails at connect for a function no dext serves: its code and text.
    await expect(sup.attach('0000:09:00.0')).rejects.toMatchObject({
      code: 'PT_ERR_CONNECT_FAILED',
      message: 'vfio-apple: could not connect to dext for host PCI 09:00.0',
    });
    expect(sup.debug.resources()).toMatchObject({ devices: 1, workers: 1, owners: [EDU_A], pendingCalls: 0 });
  });

  it('a two-function slot: separate actors and workers, both usable, one detaches alone', async () => {
    sup = await createSupervisor();
    const f0 = await sup.attach('0000:03:00.0', { id: 'f0' });
    const f1 = await sup.attach('0000:03:00.1', { id: 'f1' });
    expect(sup.debug.worker('f0')).not.toBe(sup.debug.worker('f1'));
    // The doorbell file's ID register carries the function number.
    expect(f0.bar(0)!.read32(0) & 0xff).toBe(0);
    expect(f1.bar(0)!.read32(0) & 0xff).toBe(1);
    for (const [h, v] of [[f0, 1], [f1, 2]] as const) {
      expect(h.info.irqMode).toBe('msi');
      const seq = h.irq.seq;
      h.bar(0)!.write32(DOORBELL, v);
      await h.irq.waitAsync(seq, IRQ_WAIT_MS);
      expect(h.irq.drain()).toEqual([v]);
    }
    await f0.detach();
    expect(sup.list().map((d) => d.id)).toEqual(['f1']);
    expect(f1.config.read16(2)).toBe(0x5a02);
  });

  it('DMA: maps embedder memory through the worker, unmaps, counts', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU_A);
    const ram = new SharedArrayBuffer(64 * 1024);
    const m = await h.dma.map(ram, { iova: 0x10000n });
    expect(m.key).toBe(0x10000n);
    expect(typeof m.busAddr).toBe('bigint');
    expect(h.dma.list()).toHaveLength(1);
    await h.dma.unmap(m.key);
    await expect(h.dma.unmap(m.key)).rejects.toMatchObject({ code: 'PT_ERR_NOT_FOUND' });
    const again = await h.dma.map(ram);
    expect((await h.stats()).counters).toMatchObject({ dmaMaps: 2, dmaUnmaps: 1 });
    void again;
    await h.detach();
    expect(sup.debug.resources().teardowns[h.id]).toMatchObject({ dmaMappings: 0, exposures: 0, connectionRefs: 0 });
  });

  it('publishes flattened actor transitions from both threads and lists/status from the host', async () => {
    sup = await createSupervisor();
    const records: { name: string; payload: Record<string, unknown> }[] = [];
    sup.on('trace', (r) => records.push(r));
    expect((await sup.status()).state).toBe('active');
    const fns = await sup.listFunctions();
    expect(fns.map((f) => f.bdf)).toEqual(expect.arrayContaining([EDU_A, MSIX, '0000:03:00.1']));
    const h = await sup.attach(EDU_B, { id: 'traced' });
    await h.detach();
    const transitions = records.filter((r) => r.name === 'pcipt:actor:transition').map((r) => r.payload);
    const device = transitions.filter((p) => p.actor === 'device').map((p) => p.to);
    expect(device).toEqual(['opening', 'connecting', 'probing', 'mapping', 'wiringIrqs', 'ready', 'stopping', 'stopped']);
    const supervision = transitions.filter((p) => p.actor === 'supervision').map((p) => p.to);
    expect(supervision).toEqual(['starting', 'running', 'stopping', 'stopped']);
    for (const p of transitions) expect(p.deviceId).toBe('traced');
  });

  it('traceWorkers forwards every worker trace point, re-published on diagnostics_channel here; stats() covers every device', async () => {
    sup = await createSupervisor({ traceWorkers: true });
    const maps: Record<string, unknown>[] = [];
    const ch = diagnosticsChannel.channel('pcipt:region:map');
    const fn = (m: unknown) => maps.push(m as Record<string, unknown>);
    ch.subscribe(fn);
    try {
      const a = await sup.attach(MSIX, { id: 'm' });
      await sup.attach(EDU_A, { id: 'e' });
      // One record per mapped BAR, the ops layer's (BAR index as region, the mmap windows as an array).
      for (const m of maps) expect(Array.isArray(m.windows)).toBe(true);
      expect(maps.filter((m) => m.bdf === MSIX).map((m) => m.region)).toEqual([0, 2]);
      expect(maps.filter((m) => m.bdf === EDU_A).map((m) => m.region)).toEqual([0]);
      a.bar(0)!.read32(0);
      const all = await sup.stats();
      expect(Object.keys(all).sort()).toEqual(['e', 'm']);
      expect(all.m).toMatchObject({ id: 'm', bdf: MSIX, state: 'ready', restarts: 0 });
      expect(all.m!.counters.mmioReads.w4).toBe(1);
      expect(all.e!.counters.mmioReads.w4).toBe(0);
    } finally {
      ch.unsubscribe(fn);
    }
  });

  it('close() overtaking attach() cancels it and leaves nothing behind', async () => {
    sup = await createSupervisor();
    const before = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    const pending = sup.attach(EDU_A).catch((e: unknown) => e);
    const pending2 = sup.attach(EDU_B).catch((e: unknown) => e);
    await sup.close();
    for (const r of [await pending, await pending2]) expect(r).toMatchObject({ code: 'PT_ERR_CANCELLED' });
    expect(sup.debug.resources()).toMatchObject({ devices: 0, owners: [], workers: 0, pendingCalls: 0 });
    await expect(sup.attach(EDU_A)).rejects.toMatchObject({ code: 'PT_ERR_CLOSED' });
    await eventually(() =>
      expect(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length).toBeLessThanOrEqual(before),
    );
  });

  it('validates options at the boundary: PT_ERR_INVALID_ARGUMENT naming the option and its value', async () => {
    const refused = async (o: unknown, message: RegExp, option: string) => {
      const e = await createSupervisor(o as never).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(PassthroughError);
      expect((e as PassthroughError).code).toBe('PT_ERR_INVALID_ARGUMENT');
      expect((e as PassthroughError).message).toMatch(message);
      expect((e as PassthroughError).context.option).toBe(option);
    };
    await refused({ backend: 'pci' }, /options.backend must be one of sim, linux, iokit/, 'backend');
    await refused({ callTimeoutMs: 0 }, /options.callTimeoutMs must be/, 'callTimeoutMs');
    await refused({ callTimeoutMs: 2 ** 31 }, /options.callTimeoutMs must be/, 'callTimeoutMs');
    await refused({ restart: { maxRestarts: -1 } }, /options.restart.maxRestarts must be/, 'restart.maxRestarts');
    await refused({ restart: { windowMs: 'x' } }, /options.restart.windowMs must be/, 'restart.windowMs');
    await refused({ restart: null }, /options.restart must be an object/, 'restart');
    await refused({ backend: 'linux', machine: {} }, /options.machine must be/, 'machine');
    await refused({ warmWorkers: 1.5 }, /options.warmWorkers must be/, 'warmWorkers');
    await refused({ backendOptions: 'x' }, /options.backendOptions must be/, 'backendOptions');
    await refused({ backendOptions: { faults: 'x' } }, /options.backendOptions.faults must be an array/, 'backendOptions.faults');
    await refused({ backendOptions: { mapFaults: [5] } }, /options.backendOptions.mapFaults must be/, 'backendOptions.mapFaults');
    await refused(null, /createSupervisor: options must be an object/, 'options');
  });
});
