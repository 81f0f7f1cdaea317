/**
 * Resets (guest FLR through Device Control, the adapter's bus reset), DMA
 * mappings of guest RAM, the host-control queue and its errors, waits, and
 * close.
 */
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import type { GuestBar } from '../../../src/guest/contract.js';
import { createGuestFunction } from '../../../src/guest/function.js';
import { CapId } from '../../../src/pci/config-space.js';
import { thrown } from '../../shared/thrown.js';
import { recordingControl } from './helpers/control.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice } from './helpers/fake-device.js';

function setup(flr = true) {
  const dev = fakeDevice({
    bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }],
    pcie: { flr },
    msi: { vectors: 1 },
    msix: { vectors: 4, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
  });
  const control = recordingControl();
  const changes: (readonly GuestBar[])[] = [];
  const levels: boolean[] = [];
  const errors: PassthroughError[] = [];
  const fn = createGuestFunction(dev, {
    control,
    sink: { barsChanged: (b) => changes.push(b), intx: (l) => levels.push(l) },
    onError: (e) => errors.push(e),
  });
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
  return { dev, fn, drv, control, changes, levels, errors };
}

describe('guest resets', () => {
  it('FLR through Device Control resets the host function and the guest view to power-on', async () => {
    const { dev, fn, drv, control, changes } = setup();
    drv.msixEnable(4, 0xfee0_0000n, 0x20);
    fn.configWrite(0x3c, 1, 10);
    const exp = drv.capability(CapId.EXP)!;
    fn.configWrite(exp + 8, 2, 0x5000);
    dev.port.writes.length = 0;
    drv.flr();
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msix, 4)', 'reset(flr)', 'setIrqs(intx, 1)']);
    // Bus mastering stopped on the host before its reset (QEMU's pre-reset).
    expect(dev.port.writes).toEqual([{ offsetBytes: 0x04, width: 2, value: 0 }]);
    expect(fn.configRead(0x04, 2) & 0x7).toBe(0);
    expect(fn.configRead(0x10, 4)).toBe(0);
    expect(fn.configRead(0x3c, 1)).toBe(0);
    expect(fn.configRead(exp + 8, 2)).toBe(0x2810); // back to the value read at open; FLR bit reads 0
    expect(fn.configRead(drv.msixInfo().cap + 2, 2)).toBe(3);
    expect(changes.at(-1)!.every((b) => !b.decoding && b.address === undefined)).toBe(true);
    expect(fn.stats.resets).toBe(1);
    // After re-programming, the MSI-X table is back at power-on: masked.
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    expect(fn.mmioRead(drv.at(0, 0x2000 + 12), 4)).toBe(1);
  });

  it('FLR is not writable when the function does not advertise it', async () => {
    const { fn, drv, control } = setup(false);
    drv.flr();
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)']);
    expect(fn.stats.resets).toBe(0);
  });

  it("a bus reset from the adapter does the same with kind 'bus', and deasserts INTx", async () => {
    const { dev, fn, control, levels } = setup();
    dev.line.raise(0);
    fn.poll();
    fn.busReset();
    await fn.whenIdle();
    expect(levels).toEqual([true, false]);
    expect(control.calls.slice(-2)).toEqual(['reset(bus)', 'setIrqs(intx, 1)']);
    // What the host raised before a reset is dropped (as vfio's pre-reset disables interrupts)...
    dev.line.raise(0);
    fn.busReset();
    expect(fn.poll()).toBe(0);
    // ...and does not swallow the next one.
    dev.line.raise(0);
    expect(fn.poll()).toBe(1);
  });

  it('reports host-control failures and keeps going with the next calls', async () => {
    const { fn, drv, control, errors } = setup();
    control.failNext('reset');
    drv.flr();
    drv.msixEnable(4, 0xfee0_0000n, 0);
    await fn.whenIdle();
    expect(control.calls.slice(-3)).toEqual(['reset(flr)', 'setIrqs(intx, 1)', 'setIrqs(msix, 4)']);
    expect(errors.map((e) => [e.code, e.message])).toEqual([['PT_ERR_IO', 'guest flr reset: reset failed (injected)']]);
    expect(fn.stats.controlErrors).toBe(1);
  });
});

describe('guest DMA', () => {
  it('maps guest RAM at its guest-physical base and translates guest addresses to bus addresses', async () => {
    const { fn, control } = setup();
    const ram = new SharedArrayBuffer(0x10000);
    expect(await fn.mapGuestMemory(ram, 0x10_0000)).toEqual({ gpaBase: 0x10_0000, sizeBytes: 0x10000, busAddr: 0x10_0000n, identity: true });
    expect(fn.dmaAddress(0x10_0040)).toBe(0x10_0040n);
    expect(fn.dmaAddress(0x11_0000)).toBeUndefined();
    await expect(fn.mapGuestMemory(new SharedArrayBuffer(0x1000), 0x10_f000)).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await fn.unmapGuestMemory(0x10_0000);
    expect(fn.dmaAddress(0x10_0040)).toBeUndefined();
    await expect(fn.unmapGuestMemory(0x10_0000)).rejects.toMatchObject({ code: 'PT_ERR_NOT_FOUND' });
    expect(control.calls.filter((c) => c.startsWith('dma'))).toEqual(['dmaMap(0x100000)', 'dmaUnmap(0x100000)']);
  });

  it('says when the IOMMU gave another bus address (the DART picks its own)', async () => {
    const dev = fakeDevice();
    const fn = createGuestFunction(dev, { control: recordingControl(0x4000_0000n) });
    const m = await fn.mapGuestMemory(new SharedArrayBuffer(0x2000), 0x8000);
    expect(m).toMatchObject({ busAddr: 0x4000_8000n, identity: false });
    expect(fn.dmaAddress(0x9ff0)).toBe(0x4000_9ff0n);
  });

  it('refuses bad guest RAM with typed errors, and DMA without a host control', async () => {
    const { fn } = setup();
    await expect(fn.mapGuestMemory(new ArrayBuffer(16) as unknown as SharedArrayBuffer, 0)).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await expect(fn.mapGuestMemory(new SharedArrayBuffer(16), -4096)).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await expect(fn.mapGuestMemory(new SharedArrayBuffer(16), 0.5)).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await expect(createGuestFunction(fakeDevice()).mapGuestMemory(new SharedArrayBuffer(16), 0)).rejects.toMatchObject({ code: 'PT_ERR_NOT_SUPPORTED' });
  });
});

describe('guest function robustness', () => {
  it('a sink that throws is reported and does not cost the other interrupts of the same poll', () => {
    const dev = fakeDevice({ bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }], msix: { vectors: 4, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 } });
    const got: number[] = [];
    const errors: PassthroughError[] = [];
    const fn = createGuestFunction(dev, {
      sink: {
        msi: (_a, d) => {
          got.push(d);
          if (d === 1) throw new Error('embedder bug');
        },
      },
      onError: (e) => errors.push(e),
    });
    const drv = new GuestDriver(fn);
    drv.probeBars();
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    drv.msixEnable(4, 0xfee0_0000n, 0);
    for (let v = 0; v < 4; v++) drv.msixMask(v, false);
    for (const v of [0, 1, 2, 3]) dev.line.raise(v);
    expect(fn.poll()).toBe(4);
    expect(got).toEqual([0, 1, 2, 3]);
    expect(fn.stats).toMatchObject({ msiSent: 4, sinkErrors: 1, controlErrors: 0 });
    expect(errors.map((e) => [e.code, e.message])).toEqual([['PT_ERR_INTERNAL', 'sink.msi threw: embedder bug']]);
  });

  it('a device whose level cannot be sampled (worker gone) counts as low: EOI and BAR accesses go on', () => {
    const dev = fakeDevice();
    const levels: boolean[] = [];
    const errors: PassthroughError[] = [];
    const fn = createGuestFunction(dev, { sink: { intx: (l) => levels.push(l) }, onError: (e) => errors.push(e) });
    dev.line.raise(0);
    fn.poll();
    const read16 = dev.port.read16.bind(dev.port);
    dev.port.read16 = () => {
      throw new PassthroughError('PT_ERR_WORKER_EXITED', 'device worker exited');
    };
    fn.eoi();
    expect(levels).toEqual([true, false]);
    expect(errors.map((e) => e.code)).toEqual(['PT_ERR_WORKER_EXITED']);
    expect(fn.stats.controlErrors).toBe(1);
    dev.port.read16 = read16;
  });
});

describe('guest function lifetime', () => {
  it('discards host interrupts raised before it was opened (they belong to no guest state)', () => {
    const dev = fakeDevice();
    dev.line.raise(0);
    const levels: boolean[] = [];
    const fn = createGuestFunction(dev, { sink: { intx: (l) => levels.push(l) } });
    expect(fn.poll()).toBe(0);
    dev.line.raise(0);
    expect(fn.poll()).toBe(1);
    expect(levels).toEqual([true]);
  });

  it('wakes a main-thread emulator without blocking: waitAsync resolves on a host interrupt, false on timeout', async () => {
    const { dev, fn } = setup();
    expect(await fn.waitAsync(5)).toBe(false);
    const pending = fn.waitAsync(5000);
    setTimeout(() => dev.line.raise(0), 1);
    expect(await pending).toBe(true);
    expect(fn.waitSync(0)).toBe(true); // not polled yet: still waiting for poll()
    expect(fn.poll()).toBe(1);
    expect(fn.waitSync(1)).toBe(false);
  });

  it('close releases the device once; later accesses fail with PT_ERR_CLOSED, poll and eoi do nothing', async () => {
    const { dev, fn, control } = setup();
    await fn.mapGuestMemory(new SharedArrayBuffer(0x1000), 0x2000);
    fn.close();
    fn.close();
    expect(dev.closed).toBe(1);
    expect(thrown(() => fn.configRead(0, 4)).code).toBe('PT_ERR_CLOSED');
    expect(thrown(() => fn.mmioWrite(0xe000_0000, 4, 0)).code).toBe('PT_ERR_CLOSED');
    expect(thrown(() => fn.busReset()).code).toBe('PT_ERR_CLOSED');
    dev.line.raise(0);
    expect(fn.poll()).toBe(0);
    fn.eoi();
    await fn.whenIdle();
    expect(control.calls.at(-1)).toBe('dmaUnmap(0x2000)');
  });
});
