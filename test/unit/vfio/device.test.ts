import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { IrqIndex, RegionIndex, type DeviceIoOps, type IrqSetRequest } from '../../../src/vfio/device-io-ops.js';
import { VfioDevice } from '../../../src/vfio/device.js';

/** A scripted table over a 256-byte config image with MSI-X (8 entries, table in BAR1 at 0x4000). */
function scripted(counts: Record<number, number>) {
  const cfg = new Uint8Array(4096);
  cfg[0x06] = 0x10;
  cfg[0x34] = 0x40;
  cfg[0x40] = 0x11;
  cfg[0x42] = 7;
  new DataView(cfg.buffer).setUint32(0x44, 0x4000 | 1, true);
  new DataView(cfg.buffer).setUint32(0x48, 0x5000 | 1, true);
  const calls = { region: 0, set: [] as IrqSetRequest[], writes: [] as [number, number[]][] };
  const ops: DeviceIoOps = {
    getRegionInfo: (index) => (calls.region++, { index, flags: 7, sizeBytes: index === 1 ? 0x10000n : 0n, offset: BigInt(index) << 20n }),
    getIrqInfo: (index) => ({ index, flags: 1, count: counts[index] ?? 0 }),
    setIrqs: (r) => void calls.set.push(r),
    deviceReset: () => {},
    regionRead: (index, off, size) => (index === RegionIndex.CONFIG ? cfg.slice(off, off + size) : new Uint8Array(size)),
    regionWrite: (index, off, data) => (calls.writes.push([off, Array.from(data)]), data.length),
    configRead: (off, width) => {
      let v = 0;
      for (let i = width - 1; i >= 0; i--) v = v * 256 + cfg[off + i]!;
      return v;
    },
    configWrite: (off, width, value) => {
      const bytes: number[] = [];
      for (let i = 0; i < width; i++) bytes.push((value >>> (8 * i)) & 0xff);
      calls.writes.push([off, bytes]);
    },
    barRead: () => 0n,
    barWrite: () => {},
    regionMap: () => undefined,
    regionUnmap: () => {},
  };
  return { ops, calls, cfg };
}

describe('VfioDevice', () => {
  it('caches region info', () => {
    const { ops, calls } = scripted({});
    const d = new VfioDevice(ops);
    expect(d.regionInfo(1).sizeBytes).toBe(0x10000n);
    d.regionInfo(1);
    expect(calls.region).toBe(1);
  });

  it('reads and writes config by width, little endian', () => {
    const { ops, calls, cfg } = scripted({});
    cfg.set([0x78, 0x56, 0x34, 0x12], 0x100);
    const d = new VfioDevice(ops);
    expect(d.readConfig32(0x100)).toBe(0x12345678);
    expect(d.readConfig16(0x102)).toBe(0x1234);
    expect(d.readConfig8(0x101)).toBe(0x56);
    d.writeConfig32(0x100, 0xdeadbeef);
    d.writeConfig16(0x4, 0x0406);
    d.writeConfig8(0x3c, 0x0b);
    expect(calls.writes).toEqual([
      [0x100, [0xef, 0xbe, 0xad, 0xde]],
      [0x4, [0x06, 0x04]],
      [0x3c, [0x0b]],
    ]);
  });

  it('rule 15: barWindows splits the MSI-X BAR around table and PBA pages', () => {
    const d = new VfioDevice(scripted({}).ops);
    expect(d.msix()).toEqual({ offset: 0x40, tableSize: 8, tableBar: 1, tableOffset: 0x4000, pbaBar: 1, pbaOffset: 0x5000 });
    // table [0x4000,0x4080) and PBA [0x5000,0x5008) share the page [0x4000,0x8000)
    expect(d.barWindows(1)).toEqual([
      { offsetBytes: 0, lengthBytes: 0x4000 },
      { offsetBytes: 0x8000, lengthBytes: 0x8000 },
    ]);
    expect(d.barWindows(0)).toEqual([]);
    expect(() => d.barWindows(6)).toThrow(PassthroughError);
  });

  it('enableInterrupts picks MSI-X > MSI > INTx, or the chosen index; disable sends count 0', () => {
    const sink = { deliver: () => {} };
    let s = scripted({ [IrqIndex.MSIX]: 8, [IrqIndex.MSI]: 1, [IrqIndex.INTX]: 1 });
    expect(new VfioDevice(s.ops).enableInterrupts(sink)).toEqual({ index: IrqIndex.MSIX, count: 8 });
    expect(s.calls.set[0]).toEqual({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 8, sink });
    s = scripted({ [IrqIndex.MSI]: 4, [IrqIndex.INTX]: 1 });
    expect(new VfioDevice(s.ops).enableInterrupts(sink)).toEqual({ index: IrqIndex.MSI, count: 4 });
    s = scripted({ [IrqIndex.INTX]: 1 });
    const d = new VfioDevice(s.ops);
    expect(d.enableInterrupts(sink)).toEqual({ index: IrqIndex.INTX, count: 1 });
    d.disableInterrupts(IrqIndex.INTX);
    expect(s.calls.set[1]).toEqual({ index: IrqIndex.INTX, action: 'trigger', start: 0, count: 0 });
    expect(PassthroughError.is((() => { try { new VfioDevice(scripted({}).ops).enableInterrupts(sink); } catch (e) { return e; } })(), 'PT_ERR_NOT_SUPPORTED')).toBe(true);
  });
});
