/**
 * spec §7 rules 1–11, 15, 16 of the apple device ops, run against the
 * simulated dext. Each test fails when its rule is broken.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppleDeviceIoOps, irqMaskWords } from '../../../src/apple/device-io-ops.js';
import { createAppleDeviceState, prepareAppleDevice } from '../../../src/apple/device-state.js';
import type { AppleAttachedDevice, AppleContainer } from '../../../src/apple/container.js';
import { IOReturn, Selector, type IrqWords } from '../../../src/dext/contract.js';
import { Cfg } from '../../../src/pci/config-space.js';
import { DeviceFlags, IrqFlags, IrqIndex, RegionFlags, RegionIndex, type IrqSink } from '../../../src/vfio/device-io-ops.js';
import { VfioDevice } from '../../../src/vfio/device.js';
import { EDU, MSIX, rig, spyClient, thrown, type Sim } from './harness.js';
import { createFakeClient } from './fake-dext.js';

let sim: Sim;
let container: AppleContainer;
let dev: AppleAttachedDevice;
let newContainer: () => AppleContainer;

beforeEach(() => {
  ({ sim, container, newContainer } = rig());
  dev = container.attachDevice(EDU);
});
afterEach(() => {
  container.detachDevice(EDU);
  sim.close();
});

const cfg16 = (d: AppleAttachedDevice, off: number) => {
  const b = d.ops.regionRead(RegionIndex.CONFIG, off, 2);
  return b[0]! | (b[1]! << 8);
};
const le = (bytes: Uint8Array) => bytes.reduceRight((v, b) => (v << 8n) | BigInt(b), 0n);
const bytesLe = (v: bigint, n: number) => Uint8Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const collector = () => {
  const got: number[] = [];
  const sink: IrqSink = { deliver: (v) => got.push(v) };
  return { got, sink };
};
/** Disconnect the state only ("no connection") without closing anything. */
const withoutConnection = (d: AppleAttachedDevice, fn: () => void) => {
  const c = d.state.client;
  d.state.client = undefined;
  try {
    fn();
  } finally {
    d.state.client = c;
  }
};

describe('rule 1: device info', () => {
  it('rule 1: flags PCI|RESET, 9 regions, 5 irqs; name apple-DDDD:BB:SS.F', () => {
    expect(dev.info).toEqual({ flags: DeviceFlags.PCI | DeviceFlags.RESET, numRegions: 9, numIrqs: 5 });
    expect(dev.name).toBe('apple-0000:00:10.0');
    expect(dev.bdf).toBe(EDU);
  });
});

describe('rule 2: region info', () => {
  it('rule 2: BAR0 size from GetBARInfo, READ|WRITE|MMAP, offset index << 20', () => {
    const r = dev.ops.getRegionInfo(0);
    expect(r).toEqual({ index: 0, flags: RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP, sizeBytes: 1n << 20n, offset: 0n });
  });
  it('rule 2: unused BAR: size 0 but still MMAP; GetBARInfo failure gives 0', () => {
    expect(dev.ops.getRegionInfo(3)).toEqual({ index: 3, flags: 7, sizeBytes: 0n, offset: 3n << 20n });
    sim.faults.failSelector(EDU, Selector.GetBARInfo, IOReturn.NoDevice, { count: 1 });
    expect(dev.ops.getRegionInfo(0).sizeBytes).toBe(0n);
    expect(dev.ops.getRegionInfo(0).sizeBytes).toBe(1n << 20n);
  });
  it('rule 2: CONFIG 4096, ROM and VGA 0 (READ|WRITE), index 9 → EINVAL', () => {
    expect(dev.ops.getRegionInfo(RegionIndex.CONFIG)).toEqual({ index: 7, flags: 3, sizeBytes: 4096n, offset: 7n << 20n });
    expect(dev.ops.getRegionInfo(RegionIndex.ROM)).toEqual({ index: 6, flags: 3, sizeBytes: 0n, offset: 6n << 20n });
    expect(dev.ops.getRegionInfo(RegionIndex.VGA)).toEqual({ index: 8, flags: 3, sizeBytes: 0n, offset: 8n << 20n });
    const e = thrown(() => dev.ops.getRegionInfo(9));
    expect(e.code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(e.errno).toBe('EINVAL');
  });
});

describe('rule 3: irq info', () => {
  it('rule 3: MSI count is the SetupInterrupts count; INTx 1; ERR/REQ 0/0; index 5 EINVAL', () => {
    expect(dev.state.numIrqVectors).toBeGreaterThan(0);
    expect(dev.ops.getIrqInfo(IrqIndex.MSI)).toEqual({ index: 1, flags: IrqFlags.EVENTFD, count: dev.state.numIrqVectors });
    expect(dev.ops.getIrqInfo(IrqIndex.INTX)).toEqual({ index: 0, flags: IrqFlags.EVENTFD, count: 1 });
    expect(dev.ops.getIrqInfo(IrqIndex.ERR)).toEqual({ index: 3, flags: 0, count: 0 });
    expect(dev.ops.getIrqInfo(IrqIndex.REQ)).toEqual({ index: 4, flags: 0, count: 0 });
    expect(dev.ops.getIrqInfo(IrqIndex.MSIX)).toEqual({ index: 2, flags: IrqFlags.EVENTFD | IrqFlags.NORESIZE, count: 0 });
    expect(thrown(() => dev.ops.getIrqInfo(5)).errno).toBe('EINVAL');
  });
  it('rule 3: MSI-X count is the parsed table size, 0 before parsing', () => {
    const c2 = newContainer();
    const m = c2.attachDevice(MSIX);
    try {
      expect(m.ops.getIrqInfo(IrqIndex.MSIX).count).toBe(m.state.msix!.tableSize);
      expect(m.state.msix!.tableSize).toBeGreaterThanOrEqual(64);
      const fresh = createAppleDeviceIoOps(createAppleDeviceState(MSIX, m.state.client));
      expect(fresh.getIrqInfo(IrqIndex.MSIX).count).toBe(0);
    } finally {
      c2.detachDevice(MSIX);
    }
  });
});

describe('rule 4: config read', () => {
  it('rule 4: one ConfigRead for widths 1, 2, 4; vendor/device ids come back', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    const id = dev.ops.regionRead(RegionIndex.CONFIG, 0, 4);
    expect(Array.from(id)).toEqual(Array.from(sim.model(EDU).config.subarray(0, 4)));
    expect(Array.from(id)).toEqual([0x34, 0x12, 0xe8, 0x11]); // edu: 1234:11e8
    expect(spy.calls).toEqual([{ method: 'configRead', args: [0, 4] }]);
  });
  it('rule 4: other sizes are block reads: dwords while ≥ 4 remain, then bytes', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    const out = dev.ops.regionRead(RegionIndex.CONFIG, 0, 7);
    expect(spy.calls.map((c) => c.args)).toEqual([
      [0, 4],
      [4, 1],
      [5, 1],
      [6, 1],
    ]);
    expect(Array.from(out.subarray(0, 4))).toEqual(Array.from(sim.model(EDU).config.subarray(0, 4)));
  });
  it('rule 4: eff = min(size, 4096 - off); bytes past eff are zero', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    const out = dev.ops.regionRead(RegionIndex.CONFIG, 4094, 8);
    expect(out.length).toBe(8);
    expect(spy.calls).toEqual([{ method: 'configRead', args: [4094, 2] }]);
    expect(Array.from(out.subarray(2))).toEqual([0, 0, 0, 0, 0, 0]);
  });
  it('rule 4: no connection → PT_ERR_NO_CONNECTION ENODEV; dext failure → PT_ERR_IO EIO', () => {
    withoutConnection(dev, () => {
      const e = thrown(() => dev.ops.regionRead(RegionIndex.CONFIG, 0, 4));
      expect(e.code).toBe('PT_ERR_NO_CONNECTION');
      expect(e.errno).toBe('ENODEV');
    });
    sim.faults.failSelector(EDU, Selector.ConfigRead, IOReturn.NoDevice, { count: 1 });
    const e = thrown(() => dev.ops.regionRead(RegionIndex.CONFIG, 0, 4));
    expect(e.code).toBe('PT_ERR_IO');
    expect(e.errno).toBe('EIO');
    expect(e.kernReturn).toBe(IOReturn.NoDevice);
  });
  it('rule 4 (DEVIATION): offset ≥ 4096 is refused with PT_ERR_OUT_OF_RANGE, no dext call', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    const e = thrown(() => dev.ops.regionRead(RegionIndex.CONFIG, 4096, 4));
    expect(e.code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(e.errno).toBe('EINVAL');
    expect(thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, 5000, new Uint8Array(2))).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(spy.calls).toEqual([]);
  });
});

describe('rule 5: config write', () => {
  it('rule 5: COMMAND bytes are forwarded one by one and a write inside COMMAND returns size', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    const before = cfg16(dev, Cfg.COMMAND);
    spy.calls.length = 0;
    const value = before | 0x400; // INTx disable
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.COMMAND, bytesLe(BigInt(value), 2))).toBe(2);
    expect(spy.calls).toEqual([
      { method: 'configWrite', args: [4, 1, value & 0xff] },
      { method: 'configWrite', args: [5, 1, value >> 8] },
    ]);
    expect(sim.model(EDU).config[5]! & 0x04).toBe(0x04);
  });
  it('rule 5: STATUS and BAR0–5 writes are dropped but return size (COMMAND part still goes)', () => {
    const bar0 = Array.from(sim.model(EDU).config.subarray(0x10, 0x14));
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, 0x10, bytesLe(0xffffffffn, 4))).toBe(4);
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.STATUS, bytesLe(0xffffn, 2))).toBe(2);
    expect(spy.calls).toEqual([]);
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.COMMAND, bytesLe(0x0006n, 4))).toBe(4);
    expect(spy.calls.map((c) => c.args)).toEqual([
      [4, 1, 6],
      [5, 1, 0],
    ]);
    expect(Array.from(sim.model(EDU).config.subarray(0x10, 0x14))).toEqual(bar0);
  });
  it('rule 5: ROM BAR and capability writes are forwarded with eff width', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.ROM_ADDRESS, bytesLe(0xfffff800n, 4))).toBe(4);
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.INTERRUPT_LINE, Uint8Array.of(0x0b))).toBe(1);
    expect(spy.calls.map((c) => c.args)).toEqual([
      [0x30, 4, 0xfffff800],
      [0x3c, 1, 0x0b],
    ]);
    expect(sim.model(EDU).config[Cfg.INTERRUPT_LINE]).toBe(0x0b);
  });
  it('rule 5: eff not 1/2/4 → EINVAL; dext failure → EIO; no connection → ENODEV', () => {
    const e = thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, 0x60, new Uint8Array(3)));
    expect([e.code, e.errno]).toEqual(['PT_ERR_INVALID_ARGUMENT', 'EINVAL']);
    sim.faults.failSelector(EDU, Selector.ConfigWrite, IOReturn.NoDevice, { count: 1 });
    const io = thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, 0x3c, Uint8Array.of(1)));
    expect([io.code, io.errno]).toEqual(['PT_ERR_IO', 'EIO']);
    sim.faults.failSelector(EDU, Selector.ConfigWrite, IOReturn.NoDevice, { count: 1 });
    expect(thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.COMMAND, Uint8Array.of(6))).errno).toBe('EIO');
    withoutConnection(dev, () => {
      expect(thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, Cfg.COMMAND, Uint8Array.of(6))).errno).toBe('ENODEV');
      expect(thrown(() => dev.ops.regionWrite(RegionIndex.CONFIG, 0x3c, Uint8Array.of(6))).errno).toBe('ENODEV');
      // dropped writes need no connection
      expect(dev.ops.regionWrite(RegionIndex.CONFIG, 0x10, new Uint8Array(4))).toBe(4);
    });
  });
});

describe('rule 6: setIrqs', () => {
  const masks = (spy: ReturnType<typeof spyClient>) => spy.calls.filter((c) => c.method === 'setIrqMask').map((c) => c.args[0] as IrqWords);

  it('rule 6: MSI trigger sends bit i for each vector in use; disable sends zeros', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink: collector().sink });
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 0 });
    expect(masks(spy)).toEqual([
      [1n, 0n, 0n, 0n],
      [0n, 0n, 0n, 0n],
    ]);
  });
  it('rule 6 (DEVIATION §9): INTx enable sends word0 = 1 at once', () => {
    const spy = spyClient(dev.state.client!);
    dev.state.client = spy.client;
    dev.ops.setIrqs({ index: IrqIndex.INTX, action: 'trigger', start: 0, count: 1, sink: collector().sink });
    expect(masks(spy)).toEqual([[1n, 0n, 0n, 0n]]);
  });
  it('rule 6: vectors across words; mask/unmask resend the same mask', () => {
    const st = createAppleDeviceState(EDU, undefined);
    const ops = createAppleDeviceIoOps(st);
    ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 63, count: 3, sink: collector().sink });
    expect(irqMaskWords(st)).toEqual([1n << 63n, 3n, 0n, 0n]);
    ops.setIrqs({ index: IrqIndex.MSIX, action: 'mask', start: 63, count: 1 });
    expect(irqMaskWords(st)).toEqual([1n << 63n, 3n, 0n, 0n]);
  });
  it('rule 6: always succeeds (selector 16 failure ignored); no connection → no call', () => {
    sim.faults.failSelector(EDU, Selector.SetIRQMask, IOReturn.NotReady, { count: 1 });
    expect(() => dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink: collector().sink })).not.toThrow();
    const spy = spyClient(dev.state.client!);
    dev.state.client = undefined;
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink: collector().sink });
    dev.ops.setIrqs({ index: 7 as 0, action: 'trigger', start: 0, count: 1 });
    dev.state.client = spy.client;
    expect(spy.calls).toEqual([]);
  });
});

describe('rule 7: IRQ handler', () => {
  it('rule 7: an MSI raised by the device is delivered to the vector sink', async () => {
    const { got, sink } = collector();
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink });
    sim.model(EDU).raise(0);
    expect(await dev.interrupts.next()).toBe(1);
    expect(got).toEqual([0]);
  });
  it('rule 7: MSI-X vectors raised by the device arrive lowest first; a re-enabled range delivers again', async () => {
    const c2 = newContainer();
    const m = c2.attachDevice(MSIX);
    try {
      const { got, sink } = collector();
      m.ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 64, sink });
      sim.model(MSIX).raise(9);
      sim.model(MSIX).raise(3);
      let n = 0;
      while (n < 2) n += await m.interrupts.next();
      expect(got).toEqual([3, 9]);
      // disable, then enable only vector 1
      m.ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 0 });
      m.ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 1, count: 1, sink });
      got.length = 0;
      sim.model(MSIX).raise(1);
      expect(await m.interrupts.next()).toBe(1);
      expect(got).toEqual([1]);
    } finally {
      c2.detachDevice(MSIX);
    }
  });
  it('rule 7: deliver walks words 0–3 lowest bit first; modes none / intx / msi', async () => {
    const st = createAppleDeviceState(EDU, undefined);
    const ops = createAppleDeviceIoOps(st);
    const { got, sink } = collector();
    const { deliverPending } = await import('../../../src/apple/interrupt-source.js');
    expect(deliverPending(st, [1n, 0n, 0n, 0n])).toBe(0); // none: dropped
    expect(st.stats.dropped).toBe(1);
    ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 130, sink });
    expect(deliverPending(st, [(1n << 5n) | 1n, 1n << 1n, (1n << 1n) | (1n << 2n), 1n])).toBe(4);
    expect(got).toEqual([0, 5, 65, 129]); // 130 and 192 are ≥ nr_vectors: dropped
    expect(st.stats.dropped).toBe(3);
    got.length = 0;
    ops.setIrqs({ index: IrqIndex.INTX, action: 'trigger', start: 0, count: 1, sink });
    expect(deliverPending(st, [0n, 0n, 1n << 7n, 0n])).toBe(1);
    expect(got).toEqual([0]);
  });
  it('rule 7: CheckInterrupt failure re-arms and returns; the next interrupt still arrives', async () => {
    const { got, sink } = collector();
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink });
    const rearms = dev.state.stats.rearms;
    sim.faults.failSelector(EDU, Selector.CheckInterrupt, IOReturn.NotReady, { count: 1 });
    sim.model(EDU).raise(0);
    expect(await dev.interrupts.next()).toBe(0);
    expect(dev.state.stats.rearms).toBe(rearms + 1);
    // the bit was not cleared by the failed CheckInterrupt: the new wait completes at once
    expect(await dev.interrupts.next()).toBe(1);
    expect(got).toEqual([0]);
  });
  it('rule 7: no connection at completion → return without re-arming', async () => {
    const { sink } = collector();
    dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink });
    const rearms = dev.state.stats.rearms;
    sim.model(EDU).raise(0);
    const c = dev.state.client;
    dev.state.client = undefined;
    expect(await dev.interrupts.next()).toBe(0);
    dev.state.client = c;
    expect(dev.state.stats.rearms).toBe(rearms);
    // stalled: a later next() waits until woken
    const p = dev.interrupts.next();
    dev.interrupts.wake();
    expect(await p).toBe(0);
    expect(dev.state.stats.rearms).toBe(rearms);
  });
  it('rule 7: wake() and close() end a pending next() with 0', async () => {
    const p = dev.interrupts.next();
    dev.interrupts.wake();
    expect(await p).toBe(0);
    dev.interrupts.wake(); // sticky: the next call returns 0 at once
    expect(await dev.interrupts.next()).toBe(0);
    const q = dev.interrupts.next();
    dev.interrupts.close();
    expect(await q).toBe(0);
    expect(await dev.interrupts.next()).toBe(0);
    expect(dev.interrupts.nextSync).toBeUndefined();
  });
});

describe('rule 8: BAR access', () => {
  it('rule 8: little-endian load/store through the mapped BAR', () => {
    const m = dev.ops.regionMap(0)!;
    expect(m).toBeDefined();
    const id = le(dev.ops.regionRead(0, 0, 4));
    expect(id).toBe(m.memory.read(0, 4));
    expect(id).toBe(0x010000edn);
    const src = 0x80; // edu's DMA source register: 4- or 8-byte accesses
    expect(dev.ops.regionWrite(0, src, bytesLe(0x1122334455667788n, 8))).toBe(8);
    expect(m.memory.read(src, 8)).toBe(0x1122334455667788n);
    expect(le(dev.ops.regionRead(0, src, 8))).toBe(0x1122334455667788n);
    expect(le(dev.ops.regionRead(0, src, 4))).toBe(0x55667788n);
    // the exact width reaches the device: edu answers an 8-byte read below 0x80 with all ones,
    // and QEMU's memory core answers a 2-byte access with 0 (edu's min_access_size is 4)
    expect(le(dev.ops.regionRead(0, 0x00, 8))).toBe(0xffffffffffffffffn);
    expect(le(dev.ops.regionRead(0, src, 2))).toBe(0n);
    // a trapped register: edu's liveness check answers the inverted value
    dev.ops.regionWrite(0, 0x04, bytesLe(0x12345678n, 4));
    expect(le(dev.ops.regionRead(0, 0x04, 4))).toBe(0xedcba987n);
  });
  it('rule 8: unmapped or out of range → "vfio-apple: BAR%d read/write out of range or unmapped" EINVAL, checked before width', () => {
    let e = thrown(() => dev.ops.regionRead(0, 0, 4));
    expect([e.code, e.message, e.errno]).toEqual(['PT_ERR_OUT_OF_RANGE', 'vfio-apple: BAR0 read out of range or unmapped', 'EINVAL']);
    dev.ops.regionMap(0);
    e = thrown(() => dev.ops.regionWrite(0, (1 << 20) - 2, new Uint8Array(4)));
    expect(e.message).toBe('vfio-apple: BAR0 write out of range or unmapped');
    e = thrown(() => dev.ops.regionRead(0, (1 << 20) - 2, 3)); // bad width AND out of range: range first
    expect(e.code).toBe('PT_ERR_OUT_OF_RANGE');
    e = thrown(() => dev.ops.regionRead(0, 0, 3));
    expect([e.code, e.errno]).toEqual(['PT_ERR_BAD_WIDTH', 'EINVAL']);
    expect(thrown(() => dev.ops.regionRead(RegionIndex.ROM, 0, 4)).code).toBe('PT_ERR_OUT_OF_RANGE');
  });
});

describe('rule 9: regionMap / regionUnmap', () => {
  it('rule 9: maps BAR0 once with its windows; not a BAR, size 0, already mapped → undefined', () => {
    const m = dev.ops.regionMap(0)!;
    expect(m.sizeBytes).toBe(1 << 20);
    expect(m.windows).toEqual([{ offsetBytes: 0, lengthBytes: 1 << 20 }]);
    expect(dev.ops.regionMap(0)).toBeUndefined();
    expect(dev.ops.regionMap(RegionIndex.CONFIG)).toBeUndefined();
    expect(dev.ops.regionMap(3)).toBeUndefined();
    dev.ops.regionUnmap(0);
    expect(thrown(() => dev.ops.regionRead(0, 0, 4)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(dev.ops.regionMap(0)).toBeDefined();
  });
  it('rule 9: no connection → undefined; map failure → PT_ERR_IO "vfio-apple: BAR%d map failed for %s: 0x%x"', () => {
    withoutConnection(dev, () => expect(dev.ops.regionMap(0)).toBeUndefined());
    sim.faults.failMap(EDU, 1, IOReturn.NoMemory, { count: 1 });
    const e = thrown(() => dev.ops.regionMap(0));
    expect([e.code, e.errno]).toEqual(['PT_ERR_IO', 'EIO']);
    expect(e.message).toBe('vfio-apple: BAR0 map failed for apple-0000:00:10.0: 0xe00002bd');
    expect(dev.state.barMaps[0]).toBeUndefined();
  });
  it('rule 9: a BAR with no windows is still mapped for the slow path; the mapping is clamped to the BAR size', () => {
    dev.state.bars[0]!.windows = [];
    dev.state.bars[0]!.sizeBytes = 4096; // as if QEMU's BAR were smaller than the 16 KiB host mapping
    const m = dev.ops.regionMap(0)!;
    expect(m.windows).toEqual([]);
    expect(m.sizeBytes).toBe(4096);
    expect(m.memory.lengthBytes).toBeGreaterThan(4096);
    expect(le(dev.ops.regionRead(0, 0, 4))).toBe(0x010000edn);
    expect(thrown(() => dev.ops.regionRead(0, 4096, 4)).code).toBe('PT_ERR_OUT_OF_RANGE');
  });
  it('rule 9: the upper half of a 64-bit BAR and I/O BARs are not mapped', () => {
    const st = createAppleDeviceState(EDU, dev.state.client);
    const ops = createAppleDeviceIoOps(st);
    st.bars[2] = { sizeBytes: 0x4000, ioport: false, mem64: true, windows: [] };
    st.bars[3] = { sizeBytes: 0x4000, ioport: false, mem64: false, windows: [] };
    st.bars[4] = { sizeBytes: 0x100, ioport: true, mem64: false, windows: [] };
    expect(ops.regionMap(3)).toBeUndefined();
    expect(ops.regionMap(4)).toBeUndefined();
  });
});

describe('rule 10 / 11: reset and migration', () => {
  it('rule 10: reset via selector 17; failure → PT_ERR_IO EIO; no connection → ENODEV', () => {
    dev.ops.deviceReset();
    expect(sim.model(EDU).resetLog.length).toBe(1);
    sim.faults.failSelector(EDU, Selector.ResetDevice, IOReturn.Error, { count: 1 });
    const e = thrown(() => dev.ops.deviceReset());
    expect([e.code, e.errno]).toEqual(['PT_ERR_IO', 'EIO']);
    withoutConnection(dev, () => expect(thrown(() => dev.ops.deviceReset()).errno).toBe('ENODEV'));
    expect(() => container.pciHotReset()).not.toThrow();
  });
  it('rule 11: dirty tracking and bitmap query → PT_ERR_NOT_SUPPORTED "vfio-apple does not support migration"', () => {
    for (const fn of [() => container.setDirtyPageTracking(true), () => container.queryDirtyBitmap(0n as never, 4096n)]) {
      const e = thrown(fn);
      expect([e.code, e.message, e.errno]).toEqual(['PT_ERR_NOT_SUPPORTED', 'vfio-apple does not support migration', 'ENOTSUP']);
    }
  });
});

describe('rule 16: INTx pin', () => {
  it.each([
    [0, 0],
    [1, 1],
    [4, 1],
    [5, 0],
    [0xff, 0],
  ])('rule 16: pin %i → INTx count %i', (pin, count) => {
    const client = createFakeClient(EDU);
    client.config[Cfg.INTERRUPT_PIN] = pin;
    const st = createAppleDeviceState(EDU, client);
    prepareAppleDevice(st);
    expect(createAppleDeviceIoOps(st).getIrqInfo(IrqIndex.INTX).count).toBe(count);
  });
  it('rule 16: the sim edu (pin A) reports INTx', () => {
    expect(dev.state.intxPin).toBe(1);
  });
});

describe('VfioDevice over the apple ops', () => {
  it('caches region info: a repeated query costs no op call', () => {
    let calls = 0;
    const ops = { ...dev.ops, getRegionInfo: (i: number) => (calls++, dev.ops.getRegionInfo(i)) };
    const v = new VfioDevice(ops);
    v.regionInfo(0);
    v.regionInfo(0);
    expect(calls).toBe(1);
    v.invalidateRegionInfo();
    v.regionInfo(0);
    expect(calls).toBe(2);
  });
  it('config access by width and MSI parsing on edu; enableInterrupts picks MSI', () => {
    const v = new VfioDevice(dev.ops);
    const cfg = sim.model(EDU).config;
    expect(v.readConfig16(0)).toBe(cfg[0]! | (cfg[1]! << 8));
    expect(v.readConfig8(Cfg.INTERRUPT_PIN)).toBe(1);
    v.writeConfig8(Cfg.INTERRUPT_LINE, 0x0a);
    expect(cfg[Cfg.INTERRUPT_LINE]).toBe(0x0a);
    expect(v.msi()).toBeDefined();
    expect(v.msix()).toBeUndefined();
    expect(v.bestIrqIndex()).toBe(IrqIndex.MSI);
    const { got, sink } = collector();
    expect(v.enableInterrupts(sink)).toEqual({ index: IrqIndex.MSI, count: dev.state.numIrqVectors });
    expect(dev.state.irq.mode).toBe('msi');
    expect(v.msi()!.vectors).toBe(1);
    sim.model(EDU).raise(0);
    return dev.interrupts.next().then((n) => {
      expect(n).toBe(1);
      expect(got).toEqual([0]);
    });
  });
});
