/**
 * The guest layer's config write filter under random writes: no forwarded
 * write ever touches a byte the filter refuses (the original's STATUS and
 * BARs, the later rule's MSI capability and PCIe control registers, and
 * everything the layer emulates or hides); the device's bytes there never
 * change; COMMAND reaches the device only with the host's own decode
 * enables and INTx disable; and the guest's emulated registers read back
 * what a plain register model says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../src/guest/function.js';
import { CapId } from '../../src/pci/config-space.js';
import { fakeDevice, type FakeDevice } from '../unit/guest/helpers/fake-device.js';

const PM = 0x01;
const VNDR = 0x09;
const AF = 0x13;

function build(): FakeDevice {
  const dev = fakeDevice({
    bars: [
      { index: 0, sizeBytes: 0x4000, type: 0 },
      { index: 2, sizeBytes: 0x10000, type: 0xc },
    ],
    pcie: { flr: false },
    msi: { vectors: 8, maskable: true },
    msix: { vectors: 16, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
    extraCaps: [
      { id: PM, lengthBytes: 8 },
      { id: AF, lengthBytes: 8 },
      { id: VNDR, lengthBytes: 8 },
    ],
    extCaps: [0x10, 0x01, 0x0e],
  });
  dev.port.cfg.set(0x04, 2, 0x0003);
  return dev;
}

/** Bytes no guest write may reach, derived from the device's layout (independently of the layer's tables). */
function refusedBytes(dev: FakeDevice): Set<number> {
  const out = new Set<number>();
  const range = (s: number, e: number) => {
    for (let b = s; b < e; b++) out.add(b);
  };
  range(0x00, 0x04); // ids
  range(0x06, 0x0c); // STATUS, revision, class
  range(0x0e, 0x0f); // header type
  range(0x10, 0x40); // BARs, CardBus, subsystem, ROM, capability pointer, reserved, interrupt registers
  const msi = dev.capAt.get(CapId.MSI)!;
  range(msi, msi + 24);
  const msix = dev.capAt.get(CapId.MSIX)!;
  range(msix, msix + 12);
  const exp = dev.capAt.get(CapId.EXP)!;
  range(exp, exp + 0x3c);
  out.delete(exp + 0x0a); // DevSta error bits are forwarded
  out.delete(exp + 0x0b);
  for (const id of [PM, VNDR]) out.add(dev.capAt.get(id)! + 1); // next pointers
  const af = dev.capAt.get(AF)!;
  range(af, af + 8);
  range(0x100, 0x140); // hidden SR-IOV at the head
  const aer = dev.capAt.get(0x1001)!;
  range(aer, aer + 4); // extended header
  const ari = dev.capAt.get(0x100e)!;
  range(ari, ari + 0x40);
  return out;
}

const write = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xff }) },
      { weight: 1, arbitrary: fc.integer({ min: 0x100, max: 0x1ff }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfff }) },
    ),
    fc.constantFrom(1, 2, 4),
    fc.oneof(fc.constant(0xffffffff), fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  )
  .map(([off, size, value]) => ({ off: off - (off % size), size: size as 1 | 2 | 4, value }));

describe('guest config write filter under random writes', () => {
  it('never forwards a refused byte, never changes one on the device, and keeps the host decode enables', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 80 }), (writes) => {
        const dev = build();
        const fn = createGuestFunction(dev);
        const refused = refusedBytes(dev);
        const before = dev.port.cfg.snapshot();
        dev.port.writes.length = 0;
        let line = 0;
        for (const w of writes) {
          fn.configWrite(w.off, w.size, w.value);
          if (w.off <= 0x3c && w.off + w.size > 0x3c) line = (w.value >>> (8 * (0x3c - w.off))) & 0xff;
        }
        for (const d of dev.port.writes) {
          for (let b = d.offsetBytes; b < d.offsetBytes + d.width; b++) expect(refused.has(b), `forwarded byte 0x${b.toString(16)}`).toBe(false);
          if (d.offsetBytes <= 4 && d.offsetBytes + d.width > 4) expect(d.value & 0x3, 'host decode enables').toBe(0x3);
          if (d.offsetBytes <= 5 && d.offsetBytes + d.width > 5) expect((d.value >>> (8 * (5 - d.offsetBytes))) & 0x4, 'host INTx disable').toBe(0);
        }
        const after = dev.port.cfg.snapshot();
        for (const b of refused) expect(after[b], `device byte 0x${b.toString(16)}`).toBe(before[b]);
        expect(fn.configRead(0x3c, 1)).toBe(line);
      }),
      { numRuns: 300 },
    );
  });
});
