/**
 * The guest layer's config write filter, range by range: what never reaches
 * the device (the original's rule: STATUS and BARs; the later rule: the MSI
 * capability, Device Control and Device Control 2; and everything the layer
 * emulates), and what does (the forwarded COMMAND bits with the host's own
 * decode enables in place, cache line, latency, BIST, power management,
 * vendor registers, Device Status error bits, extended capabilities).
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import { CapId } from '../../../src/pci/config-space.js';
import { fakeDevice, writesTouching, type FakeDevice } from './helpers/fake-device.js';

const PM = 0x01;
const VNDR = 0x09;
const AF = 0x13;
const EA = 0x14;

function setup(): { dev: FakeDevice; fn: ReturnType<typeof createGuestFunction> } {
  const dev = fakeDevice({
    bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }],
    pcie: { flr: true },
    msi: { vectors: 4, maskable: true },
    msix: { vectors: 8, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
    extraCaps: [
      { id: PM, lengthBytes: 8 },
      { id: VNDR, lengthBytes: 8 },
      { id: AF, lengthBytes: 8 },
      { id: EA, lengthBytes: 8 },
    ],
    extCaps: [0x10, 0x01, 0x0e],
  });
  dev.port.cfg.set(0x04, 2, 0x0003); // the host has memory and I/O decode on
  const fn = createGuestFunction(dev);
  dev.port.writes.length = 0;
  return { dev, fn };
}

/** Writes all ones over [start, end) with every width that fits, then returns the device writes that touched it. */
function hammer(dev: FakeDevice, fn: ReturnType<typeof createGuestFunction>, start: number, end: number) {
  for (let at = start; at < end; at++) {
    fn.configWrite(at, 1, 0xff);
    if (at % 2 === 0 && at + 2 <= end) fn.configWrite(at, 2, 0xffff);
    if (at % 4 === 0 && at + 4 <= end) fn.configWrite(at, 4, 0xffffffff);
  }
  const hits = [];
  for (let at = start; at < end; at++) hits.push(...writesTouching(dev.port, at));
  return hits;
}

describe('guest config write filter', () => {
  it('refuses identity, STATUS, header type, BARs, CardBus/subsystem, ROM, capability pointer and interrupt registers', () => {
    const { dev, fn } = setup();
    const refused: [string, number, number][] = [
      ['vendor / device id', 0x00, 0x04],
      ['STATUS (original rule)', 0x06, 0x08],
      ['revision / class', 0x08, 0x0c],
      ['header type', 0x0e, 0x0f],
      ['BAR0-5 (original rule)', 0x10, 0x28],
      ['CardBus CIS / subsystem', 0x28, 0x30],
      ['expansion ROM BAR', 0x30, 0x34],
      ['capability pointer, reserved', 0x34, 0x3c],
      ['interrupt line / pin / MIN_GNT / MAX_LAT', 0x3c, 0x40],
    ];
    for (const [what, s, e] of refused) expect(hammer(dev, fn, s, e), what).toEqual([]);
  });

  it('refuses the MSI capability, MSI-X Message Control and the PCIe control registers (the later rule)', () => {
    const { dev, fn } = setup();
    const msi = dev.capAt.get(CapId.MSI)!;
    const msix = dev.capAt.get(CapId.MSIX)!;
    const exp = dev.capAt.get(CapId.EXP)!;
    expect(hammer(dev, fn, msi, msi + 24), 'MSI capability').toEqual([]);
    expect(hammer(dev, fn, msix, msix + 12), 'MSI-X capability').toEqual([]);
    expect(hammer(dev, fn, exp + 0x08, exp + 0x0a), 'Device Control').toEqual([]);
    expect(hammer(dev, fn, exp + 0x28, exp + 0x2a), 'Device Control 2').toEqual([]);
    expect(hammer(dev, fn, exp + 0x10, exp + 0x12), 'Link Control').toEqual([]);
    expect(hammer(dev, fn, exp + 0x30, exp + 0x32), 'Link Control 2').toEqual([]);
    expect(hammer(dev, fn, exp, exp + 0x08), 'PCIe id, flags, DevCap').toEqual([]);
    // Writing all ones to Device Control initiated FLR (the function advertises it): the guest's registers reset.
    expect(fn.stats.resets).toBeGreaterThan(0);
    expect(fn.configRead(exp + 0x08, 2)).toBe(0x2810);
    // The guest's view of those registers changes, the device's does not.
    fn.configWrite(exp + 0x08, 2, 0x1234);
    expect(fn.configRead(exp + 0x08, 2)).toBe(0x1234);
    expect(dev.port.cfg.read(exp + 0x08, 2)).toBe(0x2810);
    expect(fn.configRead(exp + 0x28, 2)).toBe(0xffff);
    expect(dev.port.cfg.read(exp + 0x28, 2)).toBe(0x0010);
  });

  it('refuses next pointers and hidden capabilities, whose bytes read 0', () => {
    const { dev, fn } = setup();
    for (const id of [PM, VNDR, CapId.MSI, CapId.MSIX, CapId.EXP]) {
      expect(hammer(dev, fn, dev.capAt.get(id)! + 1, dev.capAt.get(id)! + 2), `next pointer of ${id}`).toEqual([]);
    }
    for (const id of [AF, EA]) {
      const at = dev.capAt.get(id)!;
      expect(hammer(dev, fn, at, at + 8), `hidden capability ${id}`).toEqual([]);
      expect(fn.configRead(at, 4)).toBe(0);
    }
    const sriov = dev.capAt.get(0x1010)!;
    expect(hammer(dev, fn, sriov, sriov + 0x40), 'hidden SR-IOV').toEqual([]);
  });

  it('forwards COMMAND except memory / I/O enable, bus master and INTx disable, which the host keeps', () => {
    const { dev, fn } = setup();
    fn.configWrite(0x04, 2, 0x0547); // I/O, memory, master, parity, SERR, INTx disable
    // Forwarded: parity, SERR as written; I/O, memory and bus master as the host had them; INTx disable as the host had it (off).
    expect(dev.port.writes).toEqual([{ offsetBytes: 0x04, width: 2, value: 0x0143 }]);
    expect(dev.port.cfg.read(0x04, 2)).toBe(0x0143);
    // The guest reads its own decode enables and INTx disable over the device's other bits
    // (I/O enable stays 0: the function has no I/O BAR, so the bit is not writable).
    expect(fn.configRead(0x04, 2)).toBe(0x0546);
    fn.configWrite(0x04, 2, 0);
    expect(dev.port.writes.at(-1)).toEqual({ offsetBytes: 0x04, width: 2, value: 0x0003 });
    expect(fn.configRead(0x04, 2)).toBe(0);
  });

  it('forwards cache line, latency, BIST, power management, vendor registers, DevSta and extended capabilities', () => {
    const { dev, fn } = setup();
    const exp = dev.capAt.get(CapId.EXP)!;
    const pm = dev.capAt.get(PM)!;
    const vndr = dev.capAt.get(VNDR)!;
    const aer = dev.capAt.get(0x1001)!;
    fn.configWrite(0x0c, 1, 0x10);
    fn.configWrite(0x0d, 1, 0x40);
    fn.configWrite(0x0f, 1, 0x40);
    fn.configWrite(pm + 4, 2, 0x0003);
    fn.configWrite(vndr + 4, 4, 0x12345678);
    fn.configWrite(exp + 0x0a, 2, 0x000f);
    fn.configWrite(aer + 4, 4, 0xffffffff);
    expect(dev.port.writes.map((w) => [w.offsetBytes, w.width, w.value])).toEqual([
      [0x0c, 1, 0x10],
      [0x0d, 1, 0x40],
      [0x0f, 1, 0x40],
      [pm + 4, 2, 0x0003],
      [vndr + 4, 4, 0x12345678],
      [exp + 0x0a, 2, 0x000f],
      [aer + 4, 4, 0xffffffff],
    ]);
  });

  it('never forwards a write that overlaps a refused byte (a dword over COMMAND and STATUS forwards COMMAND only)', () => {
    const { dev, fn } = setup();
    fn.configWrite(0x04, 4, 0xffff_0140);
    expect(dev.port.writes).toEqual([{ offsetBytes: 0x04, width: 2, value: 0x0143 }]);
    fn.configWrite(0x0c, 4, 0xffffffff);
    expect(dev.port.writes.slice(1)).toEqual([
      { offsetBytes: 0x0c, width: 2, value: 0xffff },
      { offsetBytes: 0x0f, width: 1, value: 0xff },
    ]);
  });
});
