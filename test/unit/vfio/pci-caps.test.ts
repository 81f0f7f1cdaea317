import { describe, expect, it } from 'vitest';
import { barWindows, parseInterruptCapabilities, pbaBytes, walkCapabilities, type ConfigReader } from '../../../src/vfio/pci-caps.js';

/** A config space with STATUS.CAP_LIST, MSI at 0x50 → MSI-X at 0x70 → PM at 0x90. */
function space(): ConfigReader {
  const c = new Uint8Array(256);
  const w16 = (o: number, v: number) => ((c[o] = v & 0xff), (c[o + 1] = v >>> 8));
  const w32 = (o: number, v: number) => (w16(o, v & 0xffff), w16(o + 2, v >>> 16));
  w16(0x06, 0x10);
  c[0x34] = 0x50;
  c[0x50] = 0x05; // MSI
  c[0x51] = 0x70;
  w16(0x52, (3 << 1) | 0x80 | 0x100); // MMC = 3 → 8 vectors, 64-bit, maskable
  c[0x70] = 0x11; // MSI-X
  c[0x71] = 0x90;
  w16(0x72, 63); // 64 entries
  w32(0x74, 0x2000 | 2); // table in BAR2 at 0x2000
  w32(0x78, 0x3000 | 2); // PBA in BAR2 at 0x3000
  c[0x90] = 0x01; // PM, end of list
  c[0x91] = 0x00;
  return (off, width) => {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + c[off + i]!;
    return v;
  };
}

describe('pci-caps', () => {
  it('walks the capability list in order', () => {
    expect(walkCapabilities(space()).map((c) => [c.id, c.offsetBytes])).toEqual([
      [5, 0x50],
      [0x11, 0x70],
      [1, 0x90],
    ]);
  });

  it('stops on a loop and without CAP_LIST', () => {
    const looping: ConfigReader = (off) => (off === 0x06 ? 0x10 : off === 0x34 ? 0x40 : off === 0x40 ? 0x09 : off === 0x41 ? 0x40 : 0);
    expect(walkCapabilities(looping)).toHaveLength(1);
    expect(walkCapabilities(() => 0)).toEqual([]);
  });

  it('parses MSI (vectors = 1 << MMC, is64, maskable) and MSI-X (size, BIR, offsets)', () => {
    const { msi, msix } = parseInterruptCapabilities(space());
    expect(msi).toEqual({ offset: 0x50, vectors: 8, is64: true, maskable: true });
    expect(msix).toEqual({ offset: 0x70, tableSize: 64, tableBar: 2, tableOffset: 0x2000, pbaBar: 2, pbaOffset: 0x3000 });
    expect(pbaBytes(64)).toBe(8);
    expect(pbaBytes(65)).toBe(16);
  });

  it('rule 15: windows split around the MSI-X table and PBA, rounded out to 16 KiB', () => {
    const msix = { offset: 0x70, tableSize: 64, tableBar: 2, tableOffset: 0x8000, pbaBar: 2, pbaOffset: 0x10000 };
    // 256 KiB BAR: table page [32K,48K), PBA page [64K,80K)
    expect(barWindows(2, 0x40000, msix)).toEqual([
      { offsetBytes: 0, lengthBytes: 0x8000 },
      { offsetBytes: 0xc000, lengthBytes: 0x4000 },
      { offsetBytes: 0x14000, lengthBytes: 0x2c000 },
    ]);
    // another BAR is not split
    expect(barWindows(0, 0x40000, msix)).toEqual([{ offsetBytes: 0, lengthBytes: 0x40000 }]);
    // table and PBA share the only page: nothing left to mmap
    expect(barWindows(2, 0x4000, { ...msix, tableOffset: 0, pbaOffset: 0x800 })).toEqual([]);
    // table at the start
    expect(barWindows(2, 0x10000, { ...msix, tableOffset: 0, pbaOffset: 0x400 })).toEqual([{ offsetBytes: 0x4000, lengthBytes: 0xc000 }]);
    expect(barWindows(1, 0, undefined)).toEqual([]);
  });
});
