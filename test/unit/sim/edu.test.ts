import { afterEach, describe, expect, it } from 'vitest';
import { IOReturn, MemoryType, type MappedMemory } from '../../../src/dext/contract.js';
import { EduModel, createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { EDU0 } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());

function edu(opts: { irq?: boolean } = {}) {
  dext = createSimDext();
  const c = dext.connect(EDU0 as Bdf);
  c.claim();
  if (opts.irq !== false) c.setupInterrupts();
  const bar: MappedMemory = c.mapMemory(MemoryType.Bar0);
  return { c, bar, model: dext.model(EDU0).device as EduModel };
}

describe('edu (QEMU hw/misc/edu.c)', () => {
  it('config space: 1234:11e8 rev 10 class 00ff, BAR0 1 MiB, MSI at 0x40, pin A', () => {
    const { c } = edu({ irq: false });
    expect(c.configRead(0, 4)).toBe(0x11e81234);
    expect(c.configRead(8, 4)).toBe(0x00ff0010);
    expect(c.getBarInfo(0)).toEqual({ memIdx: 0, sizeBytes: 1048576n, type: 0 });
    expect(c.configRead(0x34, 1)).toBe(0x40);
    expect(c.configRead(0x40, 2)).toBe(0x0005);
    expect(c.configRead(0x42, 2)).toBe(0x0080);
    expect(c.configRead(0x3d, 1)).toBe(1);
    expect(c.configRead(0x2c, 4)).toBe(0x11001af4);
  });

  it('0x00 id, 0x04 liveness inverts, unknown offsets and the DMA buffer read all ones', () => {
    const { bar } = edu();
    expect(bar.read(0, 4)).toBe(0x010000edn);
    bar.write(4, 4, 0x12345678n);
    expect(bar.read(4, 4)).toBe(0xedcba987n);
    expect(bar.read(0x40000, 4)).toBe(0xffffffffn);
    expect(bar.read(0x28, 4)).toBe(0xffffffffn);
    expect(bar.read(0x84, 4)).toBe(0xffffffffn);
  });

  it('access widths: below 0x80 only 4 bytes; from 0x80 4 or 8; 1/2-byte accesses read 0 (memory core)', () => {
    const { bar } = edu();
    expect(bar.read(0, 2)).toBe(0n);
    expect(bar.read(0, 1)).toBe(0n);
    expect(bar.read(0, 8)).toBe(0xffffffffffffffffn);
    bar.write(4, 2, 0x1111n);
    expect(bar.read(4, 4)).toBe(0n);
    bar.write(0x80, 8, 0x1_2345_6789n);
    expect(bar.read(0x80, 8)).toBe(0x1_2345_6789n);
    expect(bar.read(0x80, 4)).toBe(0x2345_6789n);
    expect(bar.read(0x80, 2)).toBe(0n);
    bar.write(0x80, 4, 0x42n); // a 4-byte write replaces the whole register
    expect(bar.read(0x80, 8)).toBe(0x42n);
    bar.write(0x88, 1, 0x99n);
    expect(bar.read(0x88, 8)).toBe(0n);
  });

  it('factorial: busy while computing, result later, IRQ 0x1 only with status bit 7', async () => {
    const { c, bar } = edu();
    bar.write(8, 4, 5n);
    expect(bar.read(0x20, 4) & 1n).toBe(1n);
    bar.write(8, 4, 7n); // ignored while computing
    await dext.idle();
    expect(bar.read(0x20, 4)).toBe(0n);
    expect(bar.read(8, 4)).toBe(120n);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    bar.write(0x20, 4, 0x80n);
    const wait = c.waitInterrupt();
    bar.write(8, 4, 13n);
    expect(await wait.completion).toBe(IOReturn.Success);
    expect(bar.read(8, 4)).toBe(1932053504n); // 13! mod 2^32
    expect(bar.read(0x24, 4)).toBe(1n);
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    bar.write(0x20, 4, 0x01n); // bit 0 is read-only; bit 7 cleared
    expect(bar.read(0x20, 4)).toBe(0n);
  });

  it('device work runs concurrently with the caller and completes after timing.factorialDelayMs', async () => {
    dext = createSimDext(undefined, { functions: [EDU0], timing: { factorialDelayMs: 30 } });
    const c = dext.connect(EDU0 as Bdf);
    c.claim();
    const bar = c.mapMemory(MemoryType.Bar0);
    bar.write(8, 4, 4n);
    await new Promise((r) => setImmediate(r));
    expect(bar.read(0x20, 4) & 1n).toBe(1n);
    await dext.idle();
    expect(bar.read(8, 4)).toBe(24n);
    await dext.idle(); // nothing pending: resolves at once
  });

  it('0x60 raise ORs into 0x24 and signals each time; 0x64 acks', () => {
    const { c, bar } = edu();
    bar.write(0x60, 4, 0x10n);
    bar.write(0x60, 4, 0x01n);
    expect(bar.read(0x24, 4)).toBe(0x11n);
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    bar.write(0x64, 4, 0x10n);
    expect(bar.read(0x24, 4)).toBe(0x01n);
    bar.write(0x60, 4, 0x02n); // status non-zero: another MSI
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    expect(dext.model(EDU0).signalCount).toBe(3);
  });

  it('DMA RAM → edu and edu → RAM through a registered region, IRQ 0x100 on completion', async () => {
    const { c, bar, model } = edu();
    const ram = new SharedArrayBuffer(65536);
    const bytes = new Uint8Array(ram);
    for (let i = 0; i < 100; i++) bytes[0x2000 + i] = i + 1;
    const va = dext.hostMemory.expose(ram);
    const { busAddr } = c.registerDmaRegion(0x8000_0000n, va, 65536n);
    bar.write(0x80, 8, busAddr + 0x2000n);
    bar.write(0x88, 8, 0x40000n);
    bar.write(0x90, 8, 100n);
    bar.write(0x98, 8, 0x1n | 0x4n);
    expect(bar.read(0x98, 8) & 1n).toBe(1n);
    bar.write(0x80, 8, 0n); // ignored while running
    expect(bar.read(0x80, 8)).toBe(busAddr + 0x2000n);
    await dext.idle();
    expect(bar.read(0x98, 8)).toBe(0x4n);
    expect(model.dmaBuf[0]).toBe(1);
    expect(model.dmaBuf[99]).toBe(100);
    expect(bar.read(0x24, 4)).toBe(0x100n);
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    // edu → RAM
    bar.write(0x80, 8, 0x40000n);
    bar.write(0x88, 8, busAddr + 0x8000n + 100n);
    bar.write(0x90, 8, 100n);
    bar.write(0x98, 8, 0x3n);
    await dext.idle();
    expect([...bytes.subarray(0x8000 + 100, 0x8000 + 200)]).toEqual([...bytes.subarray(0x2000, 0x2064)]);
    expect(bar.read(0x98, 8)).toBe(0x2n);
    expect(dext.model(EDU0).dmaFaultCount).toBe(0);
  });

  it('DMA to an unmapped bus address faults (counted, no transfer) and still completes', async () => {
    const { bar, model } = edu();
    model.dmaBuf[0] = 0x77;
    bar.write(0x80, 8, 0x40000n);
    bar.write(0x88, 8, 0x0ff0_0000n);
    bar.write(0x90, 8, 16n);
    bar.write(0x98, 8, 0x3n);
    await dext.idle();
    expect(dext.model(EDU0).dmaFaultCount).toBe(1);
    expect(bar.read(0x98, 8)).toBe(0x2n);
  });

  it('a DMA outside the 4 KiB buffer window is refused and counted (QEMU: guest error)', async () => {
    const { bar, model } = edu();
    bar.write(0x80, 8, 0x1000n);
    bar.write(0x88, 8, 0x40f00n);
    bar.write(0x90, 8, 0x200n);
    bar.write(0x98, 8, 0x5n);
    await dext.idle();
    expect(model.errorCount).toBe(1);
    expect(bar.read(0x98, 8)).toBe(0x4n);
    expect(bar.read(0x24, 4)).toBe(0n);
  });

  it('the RAM-side address is clamped to the 28-bit dma_mask', async () => {
    const { c, bar, model } = edu();
    const ram = new SharedArrayBuffer(16384);
    new Uint8Array(ram)[0] = 0xab;
    const va = dext.hostMemory.expose(ram);
    const { busAddr } = c.registerDmaRegion(1n, va, 16384n);
    bar.write(0x80, 8, busAddr | (1n << 40n));
    bar.write(0x88, 8, 0x40000n);
    bar.write(0x90, 8, 1n);
    bar.write(0x98, 8, 1n);
    await dext.idle();
    expect(model.dmaBuf[0]).toBe(0xab);
  });

  it('edu registers survive a reset (QEMU edu has no reset handler), config is reset', async () => {
    const { c, bar } = edu();
    bar.write(4, 4, 0n);
    c.configWrite(0x0d, 1, 0x40);
    c.resetDevice();
    expect(dext.model(EDU0).resetLog).toEqual(['hot']); // conventional PCI: no FLR
    expect(bar.read(4, 4)).toBe(0xffffffffn);
    expect(c.configRead(0x0d, 1)).toBe(0x40); // latency timer is restored by the dext's save/restore
  });
});
