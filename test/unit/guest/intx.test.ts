/**
 * INTx with vfio-pci's level semantics: a host INTx asserts and masks the
 * line until EOI (the embedder's, or the guest's next BAR access); EOI
 * deasserts and resamples the device's level; STATUS's interrupt bit is live
 * so Linux's pci_check_and_mask_intx works (uio_pci_generic's handler), and
 * COMMAND's INTx disable gates the line.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction, type GuestFunctionOptions } from '../../../src/guest/function.js';
import { recordingControl } from './helpers/control.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice, type FakeDevice } from './helpers/fake-device.js';

function setup(opts: GuestFunctionOptions = {}, pin = 1) {
  const dev = fakeDevice({ pin, msi: { vectors: 1 } });
  const levels: boolean[] = [];
  const fn = createGuestFunction(dev, { ...opts, sink: { intx: (l) => levels.push(l), msi: () => levels.push(false) } });
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 }, false);
  return { dev, fn, drv, levels };
}

/** The device drives its INTx level: STATUS's interrupt bit, as hardware shows it. */
function deviceLevel(dev: FakeDevice, high: boolean): void {
  const s = dev.port.cfg.read(0x06, 2);
  dev.port.cfg.set(0x06, 2, high ? s | 0x8 : s & ~0x8);
}

describe('guest INTx', () => {
  it('asserts on a host INTx, absorbs further ones until EOI, and ends on EOI when the device has lowered its line', () => {
    const { dev, fn, levels } = setup();
    deviceLevel(dev, true);
    dev.line.raise(0);
    expect(fn.poll()).toBe(1);
    expect(levels).toEqual([true]);
    dev.line.raise(0); // the host line counts as masked while pending
    expect(fn.poll()).toBe(0);
    expect(levels).toEqual([true]);
    deviceLevel(dev, false);
    fn.eoi();
    expect(levels).toEqual([true, false]);
    fn.eoi(); // nothing pending: nothing happens
    expect(levels).toEqual([true, false]);
    expect(fn.stats.intxAsserts).toBe(1);
  });

  it('reasserts at EOI while the device still holds its line (the re-fire vfio gets from unmasking a high line)', () => {
    const { dev, fn, levels } = setup();
    deviceLevel(dev, true);
    dev.line.raise(0);
    fn.poll();
    fn.eoi();
    expect(levels).toEqual([true, false, true]);
    deviceLevel(dev, false);
    fn.eoi();
    expect(levels).toEqual([true, false, true, false]);
  });

  it("shows the interrupt in STATUS while pending even when the device pulsed its line, and not after EOI", () => {
    const { dev, fn } = setup();
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0);
    dev.line.raise(0); // a pulse: the device's STATUS bit is already clear
    fn.poll();
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
    expect(fn.configRead(0x04, 4) & 0x0008_0000).toBe(0x0008_0000);
    fn.eoi();
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0);
    deviceLevel(dev, true); // and the device's own bit shows through
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
  });

  it("ends a pending INTx on the guest's next BAR access, after the access (unless turned off)", () => {
    const { dev, fn, drv, levels } = setup();
    deviceLevel(dev, true);
    dev.line.raise(0);
    fn.poll();
    fn.mmioRead(drv.at(0, 0), 4); // the handler reads its status register: device still high
    expect(levels).toEqual([true, false, true]);
    deviceLevel(dev, false); // the handler acks the device...
    fn.mmioWrite(drv.at(0, 4), 4, 1); // ...with a BAR write
    expect(levels).toEqual([true, false, true, false]);

    const off = setup({ eoiOnBarAccess: false });
    deviceLevel(off.dev, true);
    off.dev.line.raise(0);
    off.fn.poll();
    off.fn.mmioRead(off.drv.at(0, 0), 4);
    expect(off.levels).toEqual([true]);
  });

  it("runs uio_pci_generic's cycle twice: check-and-mask in the handler, EOI, device ack, unmask through COMMAND", () => {
    const { dev, fn, drv, levels } = setup();
    for (let round = 0; round < 2; round++) {
      levels.length = 0;
      expect(drv.checkAndMaskIntx()).toBe(false); // nothing pending: not ours
      deviceLevel(dev, true);
      dev.line.raise(0);
      fn.poll();
      expect(levels).toEqual([true]);
      expect(drv.checkAndMaskIntx()).toBe(true); // ours: INTx disable set, the line drops
      expect(levels).toEqual([true, false]);
      fn.eoi(); // the device is still high, but INTx is disabled: nothing asserts
      expect(levels).toEqual([true, false]);
      deviceLevel(dev, false); // user space acks the device through the BAR...
      fn.mmioWrite(drv.at(0, 4), 4, 1);
      expect(drv.checkAndUnmaskIntx()).toBe(true); // ...and unmasks through config space
      expect(levels).toEqual([true, false]);
      expect(fn.configRead(0x04, 2) & 0x400).toBe(0);
    }
  });

  it('a sampled level that the device dropped without a BAR access ends at the next STATUS read', () => {
    const { dev, fn, drv, levels } = setup();
    deviceLevel(dev, true);
    dev.line.raise(0);
    fn.poll();
    expect(drv.checkAndMaskIntx()).toBe(true);
    fn.eoi(); // still high: pending again (sampled), INTx disabled so nothing asserts
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
    deviceLevel(dev, false); // acknowledged some other way (no BAR access)
    expect(drv.checkAndUnmaskIntx()).toBe(true);
    expect(levels).toEqual([true, false]);
    // A host INTx, by contrast, stays visible until EOI even when the device pulsed.
    dev.line.raise(0);
    fn.poll();
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
    expect(levels).toEqual([true, false, true]);
  });

  it('INTx disable gates the line; clearing it reasserts a pending INTx and samples the device', () => {
    const { dev, fn, drv, levels } = setup();
    dev.line.raise(0);
    fn.poll();
    drv.setIntxDisable(true);
    drv.setIntxDisable(false);
    expect(levels).toEqual([true, false, true]);
    deviceLevel(dev, true);
    fn.eoi();
    expect(levels).toEqual([true, false, true, false, true]); // still high: pending again
    deviceLevel(dev, false);
    fn.eoi();
    drv.setIntxDisable(true);
    deviceLevel(dev, true); // the device rises while INTx is disabled (its edge is not seen)
    drv.setIntxDisable(false); // clearing the bit samples the level
    expect(levels.at(-1)).toBe(true);
  });

  it('is inactive while MSI is enabled, and calls the host unmask at EOI where the host automasks', async () => {
    const control = recordingControl(0n, true);
    const { dev, fn, drv, levels } = setup({ control });
    dev.line.raise(0);
    fn.poll();
    deviceLevel(dev, false);
    fn.eoi();
    expect(control.calls).toContain('unmaskIntx');
    drv.msiEnable(1, 0xfee0_0000n, 0);
    dev.line.raise(0);
    fn.poll();
    expect(fn.stats).toMatchObject({ intxAsserts: 1, msiSent: 1 });
    expect(levels).toEqual([true, false, false]); // the last is the MSI sink's marker
  });

  it('a function without an interrupt pin drops host INTx', () => {
    const { dev, fn, levels } = setup({}, 0);
    dev.line.raise(0);
    fn.poll();
    expect(levels).toEqual([]);
    expect(fn.stats.dropped).toBe(1);
  });
});
