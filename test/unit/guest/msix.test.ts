/**
 * MSI-X in the guest's view: the emulated table and PBA (never the
 * device's), per-vector and function masks, enable, and each host
 * interrupt reaching the embedder once: at poll() when unmasked, at the
 * unmask when it was latched in the PBA.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import { recordingControl } from './helpers/control.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice } from './helpers/fake-device.js';

const ADDR = 0xfee0_1000n;

function setup() {
  const dev = fakeDevice({
    bars: [
      { index: 0, sizeBytes: 0x4000, type: 0 },
      { index: 2, sizeBytes: 0x4000, type: 0, ram: true },
    ],
    msix: { vectors: 40, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
  });
  const msgs: [bigint, number][] = [];
  const control = recordingControl();
  const fn = createGuestFunction(dev, { control, sink: { msi: (a, d) => msgs.push([a, d]) } });
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
  return { dev, fn, drv, msgs, control };
}

describe('guest MSI-X', () => {
  it('emulates the table and PBA in the guest view; the device BAR never sees those accesses', async () => {
    const { dev, fn, drv, control } = setup();
    const m = drv.msixInfo();
    expect(m).toMatchObject({ entries: 40, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 });
    // Power-on: every entry masked, PBA clear.
    for (const v of [0, 39]) expect(fn.mmioRead(drv.at(0, 0x2000 + 16 * v + 12), 4)).toBe(1);
    expect(fn.mmioRead64(drv.at(0, 0x3000))).toBe(0n);
    drv.msixEnable(40, ADDR, 0x4100);
    expect(fn.mmioRead(drv.at(0, 0x2000 + 16 * 5 + 8), 4)).toBe(0x4105);
    expect(fn.mmioRead64(drv.at(0, 0x2000 + 16 * 5))).toBe(ADDR);
    // Reserved vector-control bits read 0; the PBA is read-only.
    fn.mmioWrite(drv.at(0, 0x2000 + 12), 4, 0xffff_fffe);
    expect(fn.mmioRead(drv.at(0, 0x2000 + 12), 4)).toBe(0);
    fn.mmioWrite(drv.at(0, 0x3000), 4, 0xffff_ffff);
    expect(fn.mmioRead(drv.at(0, 0x3000), 4)).toBe(0);
    expect(dev.fakeBars[0]!.log).toEqual([]);
    // Outside the table and PBA the BAR is the device's.
    fn.mmioWrite(drv.at(0, 0x10), 4, 7);
    expect(dev.fakeBars[0]!.log).toEqual([{ op: 'w', offsetBytes: 0x10, width: 4, value: 7n }]);
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msix, 40)']);
  });

  it('delivers an unmasked vector at poll() as its entry message, once', () => {
    const { fn, drv, dev, msgs } = setup();
    drv.msixEnable(40, ADDR, 0x4100);
    drv.msixMask(3, false);
    expect(fn.poll()).toBe(0);
    dev.line.raise(3);
    dev.line.raise(3); // raised twice before a poll: the line coalesces, one message
    expect(fn.poll()).toBe(1);
    expect(msgs).toEqual([[ADDR, 0x4103]]);
    expect(fn.poll()).toBe(0);
    expect(fn.stats).toMatchObject({ msiSent: 1, latched: 0, dropped: 0 });
  });

  it('latches a masked vector in the PBA and sends it when the entry is unmasked, once', () => {
    const { fn, drv, dev, msgs } = setup();
    drv.msixEnable(40, ADDR, 0x4100);
    dev.line.raise(33);
    expect(fn.poll()).toBe(0);
    expect(msgs).toEqual([]);
    expect(drv.msixPending(33)).toBe(true);
    expect(fn.mmioRead64(drv.at(0, 0x3000))).toBe(1n << 33n);
    dev.line.raise(33); // again while latched: still one pending bit
    fn.poll();
    drv.msixMask(33, false);
    expect(msgs).toEqual([[ADDR, 0x4121]]);
    expect(drv.msixPending(33)).toBe(false);
    drv.msixMask(33, true);
    drv.msixMask(33, false);
    expect(msgs.length).toBe(1);
    expect(fn.stats).toMatchObject({ msiSent: 1, latched: 2 });
  });

  it('holds everything under the function mask and releases the unmasked vectors in order when it clears', () => {
    const { fn, drv, dev, msgs } = setup();
    drv.msixEnable(40, ADDR, 0x4100);
    for (const v of [1, 2, 35]) drv.msixMask(v, false);
    drv.msixFunctionMask(true);
    for (const v of [35, 2, 7, 1]) dev.line.raise(v);
    fn.poll();
    expect(msgs).toEqual([]);
    drv.msixFunctionMask(false);
    expect(msgs.map(([, d]) => d)).toEqual([0x4101, 0x4102, 0x4123]);
    expect(drv.msixPending(7)).toBe(true); // its entry is still masked
    drv.msixMask(7, false);
    expect(msgs.map(([, d]) => d)).toEqual([0x4101, 0x4102, 0x4123, 0x4107]);
  });

  it('drops host vectors while MSI-X is disabled or outside the table, and clears the PBA on disable', async () => {
    const { fn, drv, dev, msgs, control } = setup();
    dev.line.raise(4);
    fn.poll();
    drv.msixEnable(40, ADDR, 0x4100);
    dev.line.raise(41);
    dev.line.raise(6);
    fn.poll();
    expect(drv.msixPending(6)).toBe(true);
    drv.msixDisable();
    drv.msixEnable(40, ADDR, 0x4100);
    drv.msixMask(6, false);
    expect(msgs).toEqual([]);
    expect(fn.stats).toMatchObject({ dropped: 2, latched: 1, msiSent: 0 });
    await fn.whenIdle();
    expect(control.calls).toEqual(['setIrqs(intx, 1)', 'setIrqs(msix, 40)', 'setIrqs(intx, 1)', 'setIrqs(msix, 40)']);
  });

  it('takes table writes of any width, and an entry unmasked by a QWORD write fires', () => {
    const { fn, drv, dev, msgs } = setup();
    drv.msixEnable(40, ADDR, 0x4100);
    dev.line.raise(9);
    fn.poll();
    // Data 0x55 and vector control 0 in one 8-byte write.
    fn.mmioWrite64(drv.at(0, 0x2000 + 16 * 9 + 8), 0x0000_0000_0000_0055n);
    expect(msgs).toEqual([[ADDR, 0x55]]);
    fn.mmioWrite(drv.at(0, 0x2000 + 16 * 9 + 8), 1, 0x66);
    fn.mmioWrite(drv.at(0, 0x2000 + 16 * 9 + 9), 1, 0x77);
    expect(fn.mmioRead(drv.at(0, 0x2000 + 16 * 9 + 8), 2)).toBe(0x7766);
  });
});
