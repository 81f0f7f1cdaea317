import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { IrqIndex, RegionIndex, type DeviceIoOps, type IrqSetRequest } from '../../../src/vfio/device-io-ops.js';
import { VfioDevice } from '../../../src/vfio/device.js';
import { thrown } from '../../shared/thrown.js';

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
    hostConfigWrite: (off, width, value) => {
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

  it('enableInterrupts picks MSI-X > MSI > INTx among what the capabilities offer; disable sends count 0', () => {
    const sink = { deliver: () => {} };
    let s = withCaps({ msix: 8, msiMmc: 2, pin: 1 }, { [IrqIndex.MSIX]: 8, [IrqIndex.MSI]: 1, [IrqIndex.INTX]: 1 });
    expect(new VfioDevice(s.ops).enableInterrupts(sink)).toEqual({ index: IrqIndex.MSIX, count: 8 });
    expect(s.calls.set[0]).toEqual({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 8, sink });
    s = withCaps({ msiMmc: 2, pin: 1 }, { [IrqIndex.MSI]: 4, [IrqIndex.INTX]: 1 });
    expect(new VfioDevice(s.ops).enableInterrupts(sink)).toEqual({ index: IrqIndex.MSI, count: 4 });
    s = withCaps({ pin: 1 }, { [IrqIndex.INTX]: 1 });
    const d = new VfioDevice(s.ops);
    expect(d.enableInterrupts(sink)).toEqual({ index: IrqIndex.INTX, count: 1 });
    d.disableInterrupts(IrqIndex.INTX);
    expect(s.calls.set[1]).toEqual({ index: IrqIndex.INTX, action: 'trigger', start: 0, count: 0 });
    expect(thrown(() => new VfioDevice(withCaps({}, {}).ops).enableInterrupts(sink)).code).toBe('PT_ERR_NOT_SUPPORTED');
  });
});

/**
 * A scripted table whose config space has exactly the capabilities asked for
 * (MSI-X with `msix` entries, MSI with Multiple Message Capable `msiMmc`) and
 * interrupt pin `pin`; `counts` are the ops' IRQ info counts by index.
 */
function withCaps(c: { msix?: number; msiMmc?: number; pin?: number }, counts: Record<number, number>) {
  const s = scripted(counts);
  const cfg = s.cfg;
  cfg.fill(0, 0x34, 0x100);
  cfg[0x06] = 0;
  let last = 0x34;
  const add = (id: number, at: number) => {
    cfg[0x06] = 0x10;
    cfg[last === 0x34 ? 0x34 : last + 1] = at;
    cfg[at] = id;
    last = at;
  };
  if (c.msix !== undefined) {
    add(0x11, 0x40);
    new DataView(cfg.buffer).setUint16(0x42, c.msix - 1, true);
    new DataView(cfg.buffer).setUint32(0x44, 0x4000 | 1, true);
    new DataView(cfg.buffer).setUint32(0x48, 0x5000 | 1, true);
  }
  if (c.msiMmc !== undefined) {
    add(0x05, 0x50);
    new DataView(cfg.buffer).setUint16(0x52, (c.msiMmc << 1) | 0x80, true);
  }
  cfg[0x3d] = c.pin ?? 0;
  return s;
}


describe('interrupt modes follow the capabilities (QEMU pci.c on the same ops)', () => {
  const all = { [IrqIndex.MSIX]: 256, [IrqIndex.MSI]: 256, [IrqIndex.INTX]: 1 };

  it('MSI only with an MSI capability: the seed\'s MSI count (the dext\'s vectors, >= 1) is not proof', () => {
    // A pin-only function: the dext registered one vector, so getIrqInfo(MSI) says 1.
    const d = new VfioDevice(withCaps({ pin: 1 }, { [IrqIndex.MSI]: 1, [IrqIndex.INTX]: 1 }).ops);
    expect(d.interruptOffer()).toEqual({ msix: 0, msi: 0, intx: 1, pin: 1 });
    expect(d.irqIndexFor()).toBe(IrqIndex.INTX);
    const e = thrown(() => d.irqIndexFor('msi'));
    expect(e.code).toBe('PT_ERR_NOT_SUPPORTED');
    expect(e.errno).toBe('EINVAL');
    expect(e.message).toBe('interrupt mode msi refused: the function has no MSI capability; it offers INTx (1 vector)');
    expect(e.context.offered).toEqual({ msix: 0, msi: 0, intx: 1 });
  });

  it('the MSI count is capped by Multiple Message Capable', () => {
    for (const mmc of [0, 1, 3, 5]) {
      const s = withCaps({ msiMmc: mmc }, all);
      const d = new VfioDevice(s.ops);
      expect(d.interruptOffer().msi).toBe(1 << mmc);
      expect(d.enableInterrupts({ deliver: () => {} }, IrqIndex.MSI)).toEqual({ index: IrqIndex.MSI, count: 1 << mmc });
      expect(s.calls.set.at(-1)!.count).toBe(1 << mmc);
    }
    // ... and by what the ops offer, when that is less.
    expect(new VfioDevice(withCaps({ msiMmc: 5 }, { [IrqIndex.MSI]: 4 }).ops).interruptOffer().msi).toBe(4);
  });

  it('MSI-X only with an MSI-X capability; an MSI-X-only function refuses MSI naming what it has', () => {
    const d = new VfioDevice(withCaps({ msix: 256 }, all).ops);
    expect(d.irqIndexFor()).toBe(IrqIndex.MSIX);
    expect(d.irqIndexFor('msix')).toBe(IrqIndex.MSIX);
    const e = thrown(() => d.irqIndexFor('msi'));
    expect(e.message).toBe('interrupt mode msi refused: the function has no MSI capability; it offers MSI-X (256 vectors)');
    expect(thrown(() => d.enableInterrupts({ deliver: () => {} }, IrqIndex.MSI)).code).toBe('PT_ERR_NOT_SUPPORTED');
    const noMsix = new VfioDevice(withCaps({ msiMmc: 0, pin: 2 }, all).ops);
    expect(thrown(() => noMsix.irqIndexFor('msix')).message).toBe(
      'interrupt mode msix refused: the function has no MSI-X capability; it offers MSI (1 vector), INTx (1 vector)',
    );
  });

  it('rule 16: INTx only for a pin 1–4 (pin 0 and pins > 4, e.g. 0xff from the dext, mean no INTx)', () => {
    for (const pin of [1, 2, 3, 4]) expect(new VfioDevice(withCaps({ pin }, all).ops).irqIndexFor('intx')).toBe(IrqIndex.INTX);
    expect(thrown(() => new VfioDevice(withCaps({ pin: 0 }, all).ops).irqIndexFor('intx')).message).toBe(
      'interrupt mode intx refused: the function has no interrupt pin; it offers no interrupts',
    );
    for (const pin of [5, 0xff]) {
      const d = new VfioDevice(withCaps({ pin, msiMmc: 0 }, all).ops);
      expect(d.interruptOffer().intx).toBe(0);
      expect(thrown(() => d.irqIndexFor('intx')).message).toBe(
        `interrupt mode intx refused: the function has no INTx (interrupt pin 0x${pin.toString(16)}); it offers MSI (1 vector)`,
      );
    }
    // A pinned function whose ops report no INTx vector (count 0) offers none either.
    expect(new VfioDevice(withCaps({ pin: 1 }, { [IrqIndex.INTX]: 0 }).ops).irqIndexFor()).toBeUndefined();
  });

  it('no interrupts at all: the default is undefined (attach without interrupts), an unknown mode is EINVAL', () => {
    const d = new VfioDevice(withCaps({}, all).ops);
    expect(d.irqIndexFor()).toBeUndefined();
    expect(d.bestIrqIndex()).toBeUndefined();
    expect(thrown(() => d.irqIndexFor('bogus' as never)).code).toBe('PT_ERR_INVALID_ARGUMENT');
  });
});
