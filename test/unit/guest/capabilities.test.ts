/**
 * The capability lists the guest sees: the device's, rebuilt without the
 * hidden ones (Advanced Features, Enhanced Allocation; SR-IOV, ARI,
 * Resizable BAR in the extended list), what an embedder can change, and
 * the header fields around them.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import { CapId } from '../../../src/pci/config-space.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice } from './helpers/fake-device.js';

const PM = 0x01;
const VNDR = 0x09;
const AF = 0x13;
const EA = 0x14;

const spec = {
  bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }],
  pcie: { flr: true },
  msi: { vectors: 1 },
  msix: { vectors: 8, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
  extraCaps: [
    { id: AF, lengthBytes: 8 },
    { id: PM, lengthBytes: 8 },
    { id: EA, lengthBytes: 8 },
    { id: VNDR, lengthBytes: 8 },
  ],
  extCaps: [0x10, 0x01, 0x0e, 0x15, 0x0b],
};

describe('guest capability lists', () => {
  it('show the device list without Advanced Features and Enhanced Allocation, in the device order', () => {
    const dev = fakeDevice(spec);
    const drv = new GuestDriver(createGuestFunction(dev));
    expect(drv.capabilities().map((c) => c.id)).toEqual([CapId.EXP, CapId.MSI, CapId.MSIX, PM, VNDR]);
    expect(drv.capabilities().map((c) => c.offset)).toEqual([CapId.EXP, CapId.MSI, CapId.MSIX, PM, VNDR].map((id) => dev.capAt.get(id)));
    // The hidden ones are not merely unlinked: their bytes read 0.
    expect(drv.cfg32(dev.capAt.get(AF)!)).toBe(0);
    expect(drv.cfg32(dev.capAt.get(EA)! + 4)).toBe(0);
  });

  it('drop SR-IOV (the head, whose header becomes id 0), ARI and Resizable BAR from the extended list', () => {
    const dev = fakeDevice(spec);
    const drv = new GuestDriver(createGuestFunction(dev));
    expect(drv.extendedCapabilities().map((c) => c.id)).toEqual([0x01, 0x0b]);
    const head = drv.cfg32(0x100);
    expect(head & 0xffff).toBe(0);
    expect(head >>> 20).toBe(dev.capAt.get(0x1001));
    // A visible extended capability reads its body live.
    expect(drv.cfg32(dev.capAt.get(0x1001)! + 4)).toBe(0xa5a5_0001);
    expect(drv.cfg32(dev.capAt.get(0x100b)! + 4)).toBe(0xa5a5_000b);
    expect(drv.cfg32(dev.capAt.get(0x1010)! + 4)).toBe(0);
  });

  it('let the embedder choose what to hide', () => {
    const dev = fakeDevice(spec);
    const drv = new GuestDriver(createGuestFunction(dev, { hideCapabilities: [VNDR], hideExtendedCapabilities: [] }));
    expect(drv.capabilities().map((c) => c.id)).toEqual([CapId.EXP, CapId.MSI, CapId.MSIX, AF, PM, EA]);
    expect(drv.extendedCapabilities().map((c) => c.id)).toEqual([0x10, 0x01, 0x0e, 0x15, 0x0b]);
  });

  it('show no extended space for a conventional PCI function, and no list at all when everything is hidden', () => {
    const dev = fakeDevice({ extraCaps: [{ id: AF, lengthBytes: 8 }], extCaps: [0x01] });
    const fn = createGuestFunction(dev);
    const drv = new GuestDriver(fn);
    expect(drv.capabilities()).toEqual([]);
    expect(fn.configRead(0x06, 2) & 0x10).toBe(0);
    expect(fn.configRead(0x34, 1)).toBe(0);
    expect(fn.configRead(0x100, 4)).toBe(0);
  });

  it('hide an MSI-X capability whose table lies outside its BAR', () => {
    const dev = fakeDevice({ bars: [{ index: 0, sizeBytes: 0x1000, type: 0 }], msix: { vectors: 8, bar: 0, tableOffset: 0x2000, pbaOffset: 0x800 } });
    const drv = new GuestDriver(createGuestFunction(dev));
    expect(drv.capabilities()).toEqual([]);
  });

  it('keep identity live, emulate the interrupt line and the multi-function bit when asked', () => {
    const dev = fakeDevice(spec);
    const fn = createGuestFunction(dev, { multiFunction: true });
    expect(fn.configRead(0x00, 4) >>> 0).toBe(0xbeef1234);
    expect(fn.configRead(0x08, 4) >>> 0).toBe(0xff000002);
    expect(fn.configRead(0x2c, 4) >>> 0).toBe(0x11001af4);
    expect(fn.configRead(0x0e, 1)).toBe(0x80);
    expect(fn.configRead(0x3c, 2)).toBe(0x0100); // line 0 (reset value), pin A
    fn.configWrite(0x3c, 1, 11);
    expect(fn.configRead(0x3c, 4)).toBe(0x010b);
    expect(dev.port.cfg.read(0x3c, 1)).toBe(0xff); // the device's own line register is untouched
    expect(createGuestFunction(fakeDevice(spec), { multiFunction: false }).configRead(0x0e, 1)).toBe(0);
  });
});
