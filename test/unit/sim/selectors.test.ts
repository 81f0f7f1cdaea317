import { afterEach, describe, expect, it } from 'vitest';
import { IOReturn, MemoryType, Selector } from '../../../src/dext/contract.js';
import { createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { DUAL0, DUAL1, EDU0, EDU1, MSIX, NVME, expectKr } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());
const open = (bdf: string) => dext.connect(bdf as Bdf);

describe('enumeration and connect', () => {
  it('lists every function with its identity, domain included', () => {
    dext = createSimDext();
    const services = dext.listServices();
    expect(services.map((s) => s.bdf)).toEqual([EDU0, EDU1, MSIX, DUAL0, DUAL1, NVME]);
    expect(services[0]!.identity).toEqual({ bus: 0, device: 0x10, function: 0, vendorId: 0x1234, deviceId: 0x11e8, classCode: 0x00ff00 });
    expect(services[4]!.identity).toMatchObject({ bus: 3, device: 0, function: 1, deviceId: 0x5a02 });
  });

  it('matches the full domain:bus:device.function, not the bus alone', () => {
    dext = createSimDext();
    expect(open('00:11.0').getIdentity().device).toBe(0x11);
    expect(() => open('0001:00:10.0')).toThrowError(expect.objectContaining({ code: 'PT_ERR_CONNECT_FAILED' }));
    expect(() => open('0000:00:12.0')).toThrowError(expect.objectContaining({ code: 'PT_ERR_CONNECT_FAILED', context: expect.objectContaining({ kernReturn: IOReturn.NotFound }) }));
  });

  it('builds only the functions asked for', () => {
    dext = createSimDext(undefined, { functions: ['03:00.1'] });
    expect(dext.listServices().map((s) => s.bdf)).toEqual([DUAL1]);
    expect(() => createSimDext(undefined, { functions: ['09:00.0'] })).toThrowError(expect.objectContaining({ code: 'PT_ERR_INVALID_ARGUMENT' }));
  });

  it('gives each selector error the bdf, selector, selectorName and kernReturn', () => {
    dext = createSimDext();
    const c = open(EDU0);
    const e = expectKr(() => c.setupInterrupts(), IOReturn.NotOpen);
    expect(e.code).toBe('PT_ERR_NOT_OPEN');
    expect(e.context).toMatchObject({ bdf: EDU0, selector: Selector.SetupInterrupts, selectorName: 'SetupInterrupts' });
    expect(e.message).toBe('SetupInterrupts failed: NotOpen (0xe00002cd)');
  });

  it('refuses calls on a closed client with PT_ERR_CLOSED', () => {
    dext = createSimDext();
    const c = open(EDU0);
    c.close();
    c.close();
    expect(c.connected).toBe(false);
    expect(() => c.getIdentity()).toThrowError(expect.objectContaining({ code: 'PT_ERR_CLOSED' }));
    expect(() => c.mapMemory(MemoryType.Bar0)).toThrowError(expect.objectContaining({ code: 'PT_ERR_CLOSED' }));
  });
});

describe('gated selectors answer NotOpen until some client claims', () => {
  it.each([
    ['allocateDmaBuffer', (c: ReturnType<typeof open>) => c.allocateDmaBuffer(4096n, 0n)],
    ['registerDmaRegion', (c: ReturnType<typeof open>) => c.registerDmaRegion(1n, 0x1000n, 4096n)],
    ['setupInterrupts', (c: ReturnType<typeof open>) => c.setupInterrupts()],
    ['resetDevice', (c: ReturnType<typeof open>) => c.resetDevice()],
  ])('%s', (_name, call) => {
    dext = createSimDext();
    const a = open(EDU0);
    const b = open(EDU0);
    expectKr(() => call(a), IOReturn.NotOpen);
    b.claim(); // the gate needs *some* client's claim, not the caller's
    expect(() => call(a)).not.toThrowError(expect.objectContaining({ code: 'PT_ERR_NOT_OPEN' }));
  });
});

describe('selectors', () => {
  it('0 GetIdentity, 1 Claim (sets COMMAND memory + bus master), 2 Terminate', () => {
    dext = createSimDext();
    const c = open(EDU0);
    expect(c.getIdentity()).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e8 });
    expect(c.configRead(4, 2) & 0x6).toBe(0);
    c.claim();
    c.claim(); // already claimed by this client: Success, no extra ref
    expect(c.configRead(4, 2) & 0x6).toBe(0x6);
    expect(dext.model(EDU0).refs).toBe(1);
    const other = open(EDU0);
    c.terminate();
    expect(dext.listServices().map((s) => s.bdf)).not.toContain(EDU0);
    expectKr(() => c.getIdentity(), IOReturn.NotAttached);
    expectKr(() => other.configRead(0, 4), IOReturn.NotAttached);
    expect(dext.model(EDU0).refs).toBe(0);
    expect(() => open(EDU0)).toThrowError(expect.objectContaining({ code: 'PT_ERR_CONNECT_FAILED' }));
  });

  it('3 AllocateDMABuffer / 4 FreeDMABuffer / map type 0', () => {
    dext = createSimDext();
    const c = open(EDU0);
    c.claim();
    expectKr(() => c.mapMemory(MemoryType.DmaBuffer), IOReturn.NotReady);
    expectKr(() => c.allocateDmaBuffer(0n, 0n), IOReturn.BadArgument);
    expectKr(() => c.allocateDmaBuffer(1536n * 1024n * 1024n + 1n, 0n), IOReturn.BadArgument);
    expectKr(() => c.allocateDmaBuffer(4096n, 3n), IOReturn.BadArgument);
    const info = c.allocateDmaBuffer(5000n, 0n);
    // The last output is the identity's class code (edu: 0x00ff00), as the real dext answers.
    expect(info).toMatchObject({ sizeBytes: 5000n, segmentCount: 1, seg0Len: 5000n, class: 0x00ff00n });
    expect(info.seg0Addr % 4096n).toBe(0n);
    const m = c.mapMemory(MemoryType.DmaBuffer);
    expect(m.lengthBytes).toBe(16384);
    m.write(8, 8, 0x1122334455667788n);
    expect(m.read(8, 8)).toBe(0x1122334455667788n);
    const again = c.allocateDmaBuffer(4096n, 65536n); // replaces the previous buffer
    expect(again.seg0Addr % 65536n).toBe(0n);
    expect(dext.model(EDU0).dartMappings).toBe(1);
    c.freeDmaBuffer();
    c.freeDmaBuffer();
    expect(dext.model(EDU0).dartMappings).toBe(0);
    expectKr(() => c.mapMemory(MemoryType.DmaBuffer), IOReturn.NotReady);
  });

  it('8 ConfigRead: widths, BAR type synthesis, all ones past 4096', () => {
    dext = createSimDext();
    const c = open(MSIX);
    expect(c.configRead(0, 4)).toBe(0x5a011234);
    expect(c.configRead(0, 1)).toBe(0x34);
    expect(c.configRead(2, 2)).toBe(0x5a01);
    expectKr(() => c.configRead(0, 3), IOReturn.BadArgument);
    expectKr(() => c.configRead(0, 8), IOReturn.BadArgument);
    expect(c.configRead(0x10, 4)).toBe(0); // 32-bit non-prefetchable memory BAR0
    expect(c.configRead(0x18, 4)).toBe(0xc); // 64-bit prefetchable BAR2
    expect(c.configRead(0x1c, 4)).toBe(0); // its upper half
    expect(c.configRead(0x14, 4)).toBe(0); // unimplemented
    expect(c.configRead(0x12, 2)).toBe(0xc200); // not an aligned dword: the raw register (BAR0 at 0xc2000000)
    expect(c.configRead(4095, 1)).toBe(0);
    expect(c.configRead(4094, 4)).toBe(0xffffffff);
  });

  it('9 ConfigWrite: raw write through the write masks; BAR sizing protocol', () => {
    dext = createSimDext();
    const c = open(EDU0);
    expectKr(() => c.configWrite(0x3c, 3, 0), IOReturn.BadArgument);
    expectKr(() => c.configWrite(4096, 1, 0), IOReturn.BadArgument);
    c.configWrite(0x3c, 1, 0x42);
    expect(c.configRead(0x3c, 1)).toBe(0x42);
    c.configWrite(0, 4, 0xffffffff); // ids are read-only
    expect(c.configRead(0, 4)).toBe(0x11e81234);
    c.configWrite(0x10, 4, 0xffffffff);
    expect(dext.model(EDU0).config[0x13]).toBe(0xff);
    expect(dext.model(EDU0).config[0x12]).toBe(0xf0); // 1 MiB BAR: ~(1M-1)
  });

  it('10 GetBARInfo: memIdx, size, type; errors pass through', () => {
    dext = createSimDext();
    const c = open(MSIX);
    expect(c.getBarInfo(0)).toEqual({ memIdx: 0, sizeBytes: 65536n, type: 0 });
    expect(c.getBarInfo(2)).toEqual({ memIdx: 1, sizeBytes: 1048576n, type: 0xc });
    expectKr(() => c.getBarInfo(3), IOReturn.NotFound);
    expectKr(() => c.getBarInfo(1), IOReturn.NotFound);
    expectKr(() => c.getBarInfo(6), IOReturn.BadArgument);
  });

  it('11/12 MMIORead / MMIOWrite: widths, range, alignment, model path', () => {
    dext = createSimDext();
    const c = open(EDU0);
    expect(c.mmioRead(0, 0n, 4)).toBe(0x010000edn);
    c.mmioWrite(0, 4n, 4, 0x12345678n);
    expect(c.mmioRead(0, 4n, 4)).toBe(0xedcba987n);
    expectKr(() => c.mmioRead(0, 0n, 3), IOReturn.BadArgument);
    expectKr(() => c.mmioWrite(0, 0n, 16, 0n), IOReturn.BadArgument);
    expectKr(() => c.mmioRead(1, 0n, 4), IOReturn.BadArgument);
    expectKr(() => c.mmioRead(0, 1048576n, 4), IOReturn.BadArgument);
    expectKr(() => c.mmioRead(0, 2n, 4), IOReturn.NotAligned);
    const m = open(MSIX);
    m.mmioWrite(1, 0x100n, 8, 0xdeadbeefcafef00dn); // memIdx 1 = BAR2 RAM
    expect(m.mmioRead(1, 0x104n, 4)).toBe(0xdeadbeefn);
  });

  it('13 SetupInterrupts: vector count from MSI-X / MSI / INTx; StillOpen on a second setup', () => {
    dext = createSimDext();
    const counts: Record<string, number> = {};
    for (const bdf of [EDU0, MSIX, DUAL0, NVME]) {
      const c = open(bdf);
      c.claim();
      counts[bdf] = c.setupInterrupts();
      expectKr(() => c.setupInterrupts(), IOReturn.StillOpen);
    }
    expect(counts).toEqual({ [EDU0]: 1, [MSIX]: 256, [DUAL0]: 4, [NVME]: 33 });
    // MSI enabled by ConfigureInterrupts on edu, MSI-X on msix.
    expect(dext.model(EDU0).config[0x42]! & 1).toBe(1);
    const cfg = dext.model(MSIX).config;
    const msixCap = cfg[0x41]!; // PCIe cap at 0x40, then MSI-X
    expect(cfg[msixCap]).toBe(0x11);
    expect(cfg[msixCap + 3]! & 0xc0).toBe(0x80); // enabled, not function-masked
  });

  it('13 SetupInterrupts: MSI-X table size > 256 counts 256', () => {
    dext = createSimDext({ functions: [{ bdf: '00:01.0', model: 'msix', options: { vectors: 2048 } }] });
    const c = open('00:01.0');
    c.claim();
    expect(c.setupInterrupts()).toBe(256);
  });

  it('14/15/16 answer NotReady before setup', () => {
    dext = createSimDext();
    const c = open(EDU0);
    expectKr(() => c.checkInterrupt(), IOReturn.NotReady);
    expectKr(() => c.waitInterrupt(), IOReturn.NotReady);
    expectKr(() => c.setIrqMask([0n, 0n, 0n, 0n]), IOReturn.NotReady);
    expectKr(() => c.mapMemory(MemoryType.IrqPage), IOReturn.NotReady);
    c.claim();
    c.setupInterrupts();
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    expectKr(() => c.setIrqMask([0n, 0n] as never), IOReturn.BadArgument);
    const page = c.mapMemory(MemoryType.IrqPage);
    expect(page.lengthBytes).toBe(16384);
    expect(page.read(0x20, 8)).toBe(0xffffffffffffffffn); // enabled = all ones after setup
    c.setIrqMask([1n, 0n, 0n, 2n]);
    expect(page.read(0x20, 8)).toBe(1n);
    expect(page.read(0x38, 8)).toBe(2n);
  });

  it('17 ResetDevice: FLR on a function with FLR, registers back to power-on, config restored', () => {
    dext = createSimDext();
    const c = open(MSIX);
    c.claim();
    c.mmioWrite(0, 0x100n, 4, 0xabcdn);
    c.configWrite(0x3c, 1, 0x33);
    c.resetDevice();
    expect(dext.model(MSIX).resetLog).toEqual(['flr']);
    expect(c.mmioRead(0, 0x100n, 4)).toBe(0n);
    expect(c.configRead(4, 2) & 0x6).toBe(0x6); // COMMAND restored
    expect(c.configRead(0x3c, 1)).toBe(0x33);
  });

  it('17 ResetDevice: no FLR (or a failed FLR) falls back to a hot reset of the whole slot', () => {
    dext = createSimDext();
    const a = open(DUAL0);
    a.claim();
    a.resetDevice();
    expect(dext.model(DUAL0).resetLog).toEqual(['hot']);
    expect(dext.model(DUAL1).resetLog).toEqual(['hot']);
    expect(dext.model(EDU0).resetLog).toEqual([]);
    const m = open(MSIX);
    m.claim();
    dext.faults.failReset(MSIX, 'flr', IOReturn.Error, { count: 1 });
    m.resetDevice();
    expect(dext.model(MSIX).resetLog).toEqual(['hot']);
    dext.faults.failReset(MSIX, 'flr', IOReturn.Error, { count: 1 });
    dext.faults.failReset(MSIX, 'hot', IOReturn.Timeout, { count: 1 });
    expectKr(() => m.resetDevice(), IOReturn.Timeout);
  });

  it('memory types: BARs round up to 16 KiB, prefetchable maps write-combined, unique addresses, unmap rules', () => {
    dext = createSimDext();
    const c = open(MSIX);
    c.claim();
    const bar0 = c.mapMemory(MemoryType.Bar0);
    const bar2 = c.mapMemory(MemoryType.Bar2);
    const bar2b = c.mapMemory(MemoryType.Bar2);
    expect(bar0.lengthBytes).toBe(65536);
    expect(bar0.writeCombined).toBe(false);
    expect(bar2.writeCombined).toBe(true);
    expect(bar2.trapRanges).toEqual([]);
    expect(new Set([bar0.address, bar2.address, bar2b.address]).size).toBe(3);
    expect(bar2.buffer).toBe(bar2b.buffer);
    expect(bar0.trapRanges).toEqual([
      { offsetBytes: 0, lengthBytes: 0x4000 },
      { offsetBytes: 0x4000, lengthBytes: 4096 },
      { offsetBytes: 0x8000, lengthBytes: 32 },
    ]);
    const d = open(DUAL0);
    d.claim();
    expect(d.mapMemory(MemoryType.Bar0).lengthBytes).toBe(16384); // 4 KiB BAR
    expectKr(() => c.mapMemory(MemoryType.Bar1), IOReturn.NotFound);
    expectKr(() => c.mapMemory(8), IOReturn.Unsupported);
    expectKr(() => c.unmapMemory(MemoryType.Bar0, 0n), IOReturn.BadArgument);
    expectKr(() => c.unmapMemory(MemoryType.Bar2, bar0.address), IOReturn.NotFound);
    c.unmapMemory(MemoryType.Bar0, bar0.address);
    expect(() => bar0.read(0, 4)).toThrowError(expect.objectContaining({ code: 'PT_ERR_BAR_RELEASED' }));
  });

  it('MappedMemory checks width, range and alignment', () => {
    dext = createSimDext();
    const c = open(MSIX);
    c.claim();
    const bar2 = c.mapMemory(MemoryType.Bar2);
    expect(() => bar2.read(0, 3 as never)).toThrowError(expect.objectContaining({ code: 'PT_ERR_BAD_WIDTH' }));
    expect(() => bar2.read(1048576, 1)).toThrowError(expect.objectContaining({ code: 'PT_ERR_OUT_OF_RANGE' }));
    expect(() => bar2.write(2, 4, 0n)).toThrowError(expect.objectContaining({ code: 'PT_ERR_ALIGNMENT' }));
    bar2.write(16, 4, 0xfeedn);
    expect(new Uint32Array(bar2.buffer!)[4]).toBe(0xfeed); // plain RAM BAR: the fast path sees it
  });

  it('BAR maps: unclaimed clients only get a descriptor the dext has cached', () => {
    dext = createSimDext();
    const a = open(EDU0);
    const b = open(EDU0);
    expectKr(() => b.mapMemory(MemoryType.Bar0), IOReturn.NotOpen);
    a.claim();
    expectKr(() => b.mapMemory(MemoryType.Bar0), IOReturn.NotOpen);
    a.mapMemory(MemoryType.Bar0);
    expect(b.mapMemory(MemoryType.Bar0).lengthBytes).toBe(1048576);
  });
});

describe('fault injection', () => {
  it('failSelector fails the next N calls, per function or for every one', () => {
    dext = createSimDext();
    const a = open(EDU0);
    const b = open(EDU1);
    dext.faults.failSelector(EDU0, Selector.ConfigRead, IOReturn.NoMemory, { count: 2 });
    expectKr(() => a.configRead(0, 4), IOReturn.NoMemory);
    expect(b.configRead(0, 4)).toBe(0x11e81234);
    expectKr(() => a.configRead(0, 4), IOReturn.NoMemory);
    expect(a.configRead(0, 4)).toBe(0x11e81234);
    dext.faults.failSelector('*', Selector.GetIdentity, IOReturn.Error);
    expectKr(() => a.getIdentity(), IOReturn.Error);
    expectKr(() => b.getIdentity(), IOReturn.Error);
    dext.faults.clear();
    expect(b.getIdentity().device).toBe(0x11);
  });

  it('failMap fails maps of one memory type', () => {
    dext = createSimDext();
    const a = open(EDU0);
    a.claim();
    dext.faults.failMap('*', MemoryType.Bar0, IOReturn.NoMemory, { count: 1 });
    const e = expectKr(() => a.mapMemory(MemoryType.Bar0), IOReturn.NoMemory);
    expect(e.code).toBe('PT_ERR_NO_MEMORY');
    expect(a.mapMemory(MemoryType.Bar0).lengthBytes).toBe(1048576);
  });

  it('fallOffBus: all ones, writes dropped, device-touching selectors NoDevice, interrupts stop', async () => {
    dext = createSimDext();
    const c = open(MSIX);
    c.claim();
    c.setupInterrupts();
    const bar0 = c.mapMemory(MemoryType.Bar0);
    const bar2 = c.mapMemory(MemoryType.Bar2);
    dext.faults.fallOffBus(MSIX);
    expect(c.configRead(0, 4)).toBe(0xffffffff);
    expect(c.configRead(0, 2)).toBe(0xffff);
    expect(c.getIdentity().vendorId).toBe(0xffff);
    expect(bar0.read(0x100, 4)).toBe(0xffffffffn);
    expect(bar2.read(0, 8)).toBe(0xffffffffffffffffn);
    bar0.write(0x08, 4, 5n);
    expect(dext.model(MSIX).signalCount).toBe(0);
    dext.model(MSIX).raise(3);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    for (const call of [
      () => c.configWrite(0x3c, 1, 0),
      () => c.mmioRead(0, 0n, 4),
      () => c.mmioWrite(0, 0n, 4, 0n),
      () => c.resetDevice(),
      () => c.allocateDmaBuffer(4096n, 0n),
      () => c.registerDmaRegion(1n, 0x1000n, 4096n),
      () => c.mapMemory(MemoryType.Bar0),
      () => open(MSIX).claim(),
    ]) {
      expectKr(call, IOReturn.NoDevice);
    }
  });
});
