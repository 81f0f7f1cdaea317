/**
 * A host interrupt-mode switch lands after the guest's config write (the
 * control crosses the supervisor's control plane). The control reports the
 * moment the old mode is off (setIrqs' `switched`), and the layer reads the
 * IRQ line by it: a vector raised in the old mode after the guest left it is
 * dropped and counted (QEMU's vfio_intx_disable deasserts a pending INTx when
 * MSI-X comes on), never delivered as the new mode's vector; once the switch
 * is reported, vectors are the new mode's.
 */
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import type { GuestHostControl, HostIrqMode } from '../../../src/guest/contract.js';
import { createGuestFunction } from '../../../src/guest/function.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice } from './helpers/fake-device.js';

const ADDR = 0xfee0_1000n;

/** A control whose switches wait for the test: `step()` lets the next stage of the pending switch run. */
function steppedControl() {
  const calls: string[] = [];
  const waiters: (() => void)[] = [];
  const gate = () => new Promise<void>((resolve) => waiters.push(resolve));
  let hostMode: HostIrqMode = 'intx';
  const control: GuestHostControl = {
    async setIrqs(mode, vectors, switched) {
      calls.push(`setIrqs(${mode}, ${vectors})`);
      if (mode === 'none') return;
      if (mode === hostMode) return switched?.();
      await gate(); // the old mode's disable, in flight
      calls.push(`off(${hostMode})`);
      switched?.();
      await gate(); // the new mode's enable, in flight
      hostMode = mode;
      calls.push(`on(${mode})`);
    },
    async reset() {},
    async dmaMap(memory, iova) {
      return { key: iova, busAddr: iova, sizeBytes: BigInt(memory.byteLength) };
    },
    async dmaUnmap() {},
  };
  const step = async (): Promise<void> => {
    for (let i = 0; i < 10 && waiters.length === 0; i++) await Promise.resolve();
    waiters.shift()?.();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { control, calls, step };
}

function setup() {
  const dev = fakeDevice({
    bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }],
    msix: { vectors: 8, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
  });
  const msgs: [bigint, number][] = [];
  const intx: boolean[] = [];
  const { control, calls, step } = steppedControl();
  const fn = createGuestFunction(dev, { control, sink: { msi: (a, d) => msgs.push([a, d]), intx: (level) => intx.push(level) } });
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
  return { dev, fn, drv, msgs, intx, calls, step };
}

describe('guest layer across a host mode switch', () => {
  it('INTx → MSI-X: an INTx raised before the switch lands is dropped, not sent as MSI-X vector 0', async () => {
    const { dev, fn, drv, msgs, calls, step } = setup();
    await fn.whenIdle(); // the open's setIrqs(intx): the host is in INTx
    drv.msixEnable(8, ADDR, 0x4100);
    drv.msixMask(0, false);
    expect(calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msix, 8)']);

    dev.line.raise(0); // the host is still in INTx: this is its INTx
    expect(fn.poll()).toBe(0);
    dev.line.raise(0); // another, left on the line for the switch to find
    await step(); // INTx off: switched() reads what is on the line as INTx
    await step(); // MSI-X on
    expect(calls.slice(2)).toEqual(['off(intx)', 'on(msix)']);
    expect(fn.poll()).toBe(0);
    expect(msgs).toEqual([]);

    dev.line.raise(0); // now MSI-X vector 0
    expect(fn.poll()).toBe(1);
    expect(msgs).toEqual([[ADDR, 0x4100]]);
    expect(fn.stats).toMatchObject({ msiSent: 1, dropped: 2 });
  });

  it('MSI-X → INTx: a vector raised while MSI-X is still on is dropped; after the switch vector 0 is the INTx', async () => {
    const { dev, fn, drv, msgs, intx, step } = setup();
    drv.msixEnable(8, ADDR, 0x4100);
    drv.msixMask(3, false);
    await step();
    await step();
    dev.line.raise(3);
    expect(fn.poll()).toBe(1);
    expect(msgs).toEqual([[ADDR, 0x4103]]);

    drv.msixDisable();
    dev.line.raise(3); // MSI-X is still on at the host
    expect(fn.poll()).toBe(0);
    await step();
    await step();
    expect(intx).toEqual([]);
    dev.line.raise(0); // the INTx
    fn.poll();
    expect(intx).toEqual([true]);
    expect(fn.stats).toMatchObject({ msiSent: 1, intxAsserts: 1, dropped: 1 });
  });

  it('a switch that lands after close() reads nothing and reports no error', async () => {
    const { dev, fn, drv, step } = setup();
    // As a closed fast path does: the line refuses once the device is closed.
    const drain = dev.irq.drainInto.bind(dev.irq);
    dev.irq.drainInto = (out) => {
      if (dev.closed > 0) throw new PassthroughError('PT_ERR_NOT_ATTACHED', 'device closed');
      return drain(out);
    };
    await fn.whenIdle();
    drv.msixEnable(8, ADDR, 0x4100);
    dev.line.raise(0);
    fn.close();
    await step();
    await step();
    await fn.whenIdle();
    expect(fn.stats).toMatchObject({ controlErrors: 0 });
  });

  it('back in the old mode before the switch lands: the old mode\'s vectors are delivered in it', async () => {
    const { dev, fn, drv, msgs, step } = setup();
    drv.msixEnable(8, ADDR, 0x4100);
    drv.msixMask(2, false);
    await step();
    await step(); // host in MSI-X
    drv.msixDisable(); // asks for INTx …
    drv.msixEnable(8, ADDR, 0x4100); // … and back to MSI-X before the host moved
    drv.msixMask(2, false);
    dev.line.raise(2); // raised in MSI-X, which the guest is in
    expect(fn.poll()).toBe(1);
    expect(msgs).toEqual([[ADDR, 0x4102]]);
  });
});
