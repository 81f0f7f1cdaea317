import { afterEach, describe, expect, it } from 'vitest';
import { MemoryType } from '../../../src/dext/contract.js';
import { formatLspciDump } from '../../../src/pci/dump.js';
import { DoorbellReg, MsixLayout, NVME_SAMPLE_DUMP, createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { DUAL0, DUAL1, MSIX, NVME } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());
const open = (bdf: string) => {
  const c = dext.connect(bdf as Bdf);
  c.claim();
  return c;
};

describe('msix model', () => {
  it('BAR0 pages: registers, table, PBA trapped; scratch RAM and BAR2 plain', () => {
    dext = createSimDext();
    const c = open(MSIX);
    const bar0 = c.mapMemory(MemoryType.Bar0);
    const bar2 = c.mapMemory(MemoryType.Bar2);
    expect(bar0.read(DoorbellReg.ID, 4)).toBe(0x5a010001n);
    expect(bar0.read(DoorbellReg.VECTORS, 4)).toBe(256n);
    bar0.write(MsixLayout.scratchOffset + 8, 8, 0x0123456789abcdefn);
    expect(bar0.read(MsixLayout.scratchOffset + 12, 4)).toBe(0x01234567n);
    expect(bar0.read(MsixLayout.scratchOffset + 9, 1)).toBe(0xcdn);
    bar0.write(0x20, 4, 5n); // read-only area
    expect(bar0.read(0x20, 4)).toBe(0n);
    // Scratch RAM page is plain memory: visible through the shared buffer.
    bar0.write(MsixLayout.scratchRamOffset, 4, 0xcafen);
    expect(new Uint32Array(bar0.buffer!)[MsixLayout.scratchRamOffset / 4]).toBe(0xcafe);
    // MSI-X table entries power on masked.
    expect(bar0.read(0x4000 + 12, 4)).toBe(1n);
    new BigUint64Array(bar2.buffer!)[3] = 0x55n;
    expect(bar2.read(24, 8)).toBe(0x55n);
  });

  it('vectors option sizes the table and the PBA follows', () => {
    dext = createSimDext({ functions: [{ bdf: '00:01.0', model: 'msix', options: { vectors: 64, ramBarBytes: 16384 } }] });
    const c = open('00:01.0');
    expect(c.setupInterrupts()).toBe(64);
    expect(c.getBarInfo(2).sizeBytes).toBe(16384n);
  });
});

describe('dual model (two-function slot)', () => {
  it('header type has the multi-function bit on both functions; each has its own registers', () => {
    dext = createSimDext();
    const a = open(DUAL0);
    const b = open(DUAL1);
    expect(a.configRead(0x0e, 1)).toBe(0x80);
    expect(b.configRead(0x0e, 1)).toBe(0x80);
    const ba = a.mapMemory(MemoryType.Bar0);
    const bb = b.mapMemory(MemoryType.Bar0);
    expect(bb.read(DoorbellReg.ID, 4)).toBe(0x5a020001n);
    ba.write(0x40, 4, 0x11n);
    bb.write(0x40, 4, 0x22n);
    expect(ba.read(0x40, 4)).toBe(0x11n);
    expect(bb.read(0x40, 4)).toBe(0x22n);
    a.resetDevice(); // hot reset: both functions
    expect(ba.read(0x40, 4)).toBe(0n);
    expect(bb.read(0x40, 4)).toBe(0n);
  });

  it('a lone function of a slot has no multi-function bit', () => {
    dext = createSimDext({ functions: [{ bdf: '05:00.0', model: 'dual' }] });
    expect(open('05:00.0').configRead(0x0e, 1)).toBe(0);
  });
});

describe('replay model', () => {
  it('answers the dump, sizes BAR0 from barSizes, emulates its MSI-X table and supports FLR', () => {
    dext = createSimDext();
    const c = open(NVME);
    expect(c.getIdentity()).toMatchObject({ vendorId: 0x144d, deviceId: 0xa808, classCode: 0x010802 });
    expect(c.getBarInfo(0)).toEqual({ memIdx: 0, sizeBytes: 16384n, type: 0x4 });
    expect(c.configRead(0x10, 4)).toBe(0x4);
    expect(c.configRead(0x12, 2)).toBe(0xa120);
    expect(c.setupInterrupts()).toBe(33);
    const bar0 = c.mapMemory(MemoryType.Bar0);
    expect(bar0.trapRanges).toEqual([
      { offsetBytes: 0x3000, lengthBytes: 33 * 16 },
      { offsetBytes: 0x2000, lengthBytes: 8 },
    ]);
    dext.model(NVME).raise(32);
    expect(c.checkInterrupt()).toEqual([1n << 32n, 0n, 0n, 0n]);
    bar0.write(0x1000, 4, 0x1234n); // plain memory
    expect(bar0.read(0x1000, 4)).toBe(0x1234n);
    c.resetDevice();
    expect(dext.model(NVME).resetLog).toEqual(['flr']);
  });

  it('round-trips its config through formatLspciDump', () => {
    dext = createSimDext();
    const text = formatLspciDump(NVME, dext.model(NVME).config);
    expect(text.split('\n').slice(1, 3)).toEqual(NVME_SAMPLE_DUMP.split('\n').slice(1, 3));
  });
});
