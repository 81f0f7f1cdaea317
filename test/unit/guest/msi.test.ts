/**
 * MSI in the guest's view: address, data, Multiple Message Enable (clamped
 * to what the function can do), per-vector masking with the pending bits,
 * enable / disable reaching the host's mode.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import { CapId, Msi } from '../../../src/pci/config-space.js';
import { recordingControl } from './helpers/control.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice, type FakeSpec } from './helpers/fake-device.js';

function setup(msi: FakeSpec['msi']) {
  const dev = fakeDevice({ msi });
  const msgs: [bigint, number][] = [];
  const levels: boolean[] = [];
  const control = recordingControl();
  const fn = createGuestFunction(dev, { control, sink: { msi: (a, d) => msgs.push([a, d]), intx: (l) => levels.push(l) } });
  return { dev, fn, drv: new GuestDriver(fn), msgs, levels, control, cap: dev.capAt.get(CapId.MSI)! };
}

describe('guest MSI', () => {
  it('sends vector v of a multi-message allocation with v in the low data bits, to a 64-bit address', async () => {
    const { fn, drv, dev, msgs, control } = setup({ vectors: 8, is64: true });
    drv.msiEnable(4, 0x1_fee0_0000n, 0x4120);
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msi, 4)']);
    for (const v of [3, 0, 2]) dev.line.raise(v);
    expect(fn.poll()).toBe(3);
    expect(msgs).toEqual([
      [0x1_fee0_0000n, 0x4120],
      [0x1_fee0_0000n, 0x4122],
      [0x1_fee0_0000n, 0x4123],
    ]);
    dev.line.raise(4); // beyond the 4 allocated
    fn.poll();
    expect(fn.stats).toMatchObject({ msiSent: 3, dropped: 1 });
  });

  it('clamps Multiple Message Enable to Multiple Message Capable, and a 32-bit capability has its data at +8', () => {
    const { fn, cap } = setup({ vectors: 4, is64: false });
    fn.configWrite(cap + Msi.FLAGS, 2, (7 << 4) | 1);
    expect((fn.configRead(cap + Msi.FLAGS, 2) >> 4) & 7).toBe(2);
    expect(fn.configRead(cap + Msi.FLAGS, 2) & Msi.FLAGS_64BIT).toBe(0);
    fn.configWrite(cap + 4, 4, 0xfee0_0003); // the two low address bits are reserved
    expect(fn.configRead(cap + 4, 4) >>> 0).toBe(0xfee0_0000);
    fn.configWrite(cap + 8, 2, 0xabcd);
    expect(fn.configRead(cap + 8, 2)).toBe(0xabcd);
    expect(fn.configRead(cap + 0x0a, 2)).toBe(0);
  });

  it('latches a masked vector in the pending bits and sends it on unmask, once', () => {
    const { fn, drv, dev, msgs } = setup({ vectors: 4, is64: true, maskable: true });
    drv.msiEnable(4, 0xfee0_0000n, 0x40);
    const mask = drv.msiMaskRegister();
    fn.configWrite(mask, 4, 0b0110);
    expect(fn.configRead(mask, 4)).toBe(0b0110);
    dev.line.raise(1);
    dev.line.raise(2);
    dev.line.raise(3);
    fn.poll();
    expect(msgs.map(([, d]) => d)).toEqual([0x43]);
    expect(fn.configRead(mask + 4, 4)).toBe(0b0110); // pending bits
    fn.configWrite(mask + 4, 4, 0); // read-only
    expect(fn.configRead(mask + 4, 4)).toBe(0b0110);
    fn.configWrite(mask, 4, 0b0100);
    expect(msgs.map(([, d]) => d)).toEqual([0x43, 0x41]);
    fn.configWrite(mask, 4, 0);
    fn.configWrite(mask, 4, 0);
    expect(msgs.map(([, d]) => d)).toEqual([0x43, 0x41, 0x42]);
    expect(fn.configRead(mask + 4, 4)).toBe(0);
    expect(fn.stats).toMatchObject({ msiSent: 3, latched: 2 });
  });

  it('on disable drops what is pending, returns to INTx and tells the host', async () => {
    const { fn, drv, dev, msgs, levels, control } = setup({ vectors: 1, is64: true, maskable: true });
    drv.msiEnable(1, 0xfee0_0000n, 0x30);
    fn.configWrite(drv.msiMaskRegister(), 4, 1);
    dev.line.raise(0);
    fn.poll();
    drv.msiDisable();
    expect(fn.configRead(drv.msiMaskRegister() + 4, 4)).toBe(0);
    dev.line.raise(0); // now INTx again: vector 0 is the INTx line
    fn.poll();
    expect(levels).toEqual([true]);
    expect(msgs).toEqual([]);
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msi, 1)', 'setIrqs(intx, 1)']);
  });

  it('a change of allocation while enabled is asked of the host; an address change is not', async () => {
    const { fn, drv, cap, control } = setup({ vectors: 8, is64: true });
    drv.msiEnable(2, 0xfee0_0000n, 0x10);
    fn.configWrite(cap + 4, 4, 0xfee0_1000);
    fn.configWrite(cap + Msi.FLAGS, 2, (3 << 4) | 1);
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msi, 2)', 'setIrqs(msi, 8)']);
  });
});
