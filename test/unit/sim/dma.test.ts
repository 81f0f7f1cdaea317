import { afterEach, describe, expect, it } from 'vitest';
import { IOReturn } from '../../../src/dext/contract.js';
import { createSimDext, kIOReturnVMError, type SimDext, type SimDextOptions } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { EDU0, expectKr } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());

function setup(options: SimDextOptions = {}) {
  dext = createSimDext(undefined, options);
  const c = dext.connect(EDU0 as Bdf);
  c.claim();
  return c;
}

describe('DMA registry (spec §6)', () => {
  it('registers a region: [1, chunk0 bus, chunk0 len], probe reads host memory, unregister by exact key', () => {
    const c = setup();
    const buf = new SharedArrayBuffer(65536);
    new DataView(buf).setBigUint64(0x108, 0x0102030405060708n, true);
    const va = dext.hostMemory.expose(buf);
    const info = c.registerDmaRegion(0xaaaa_0000n, va + 0x100n, 0x1000n);
    expect(info.count).toBe(1);
    expect(info.busLen).toBe(0x1000n);
    expect(info.busAddr % 16384n).toBe(0x100n); // sub-page offset kept
    expect(c.probeDmaRegion(0xaaaa_0000n, 8n)).toBe(0x0102030405060708n);
    expectKr(() => c.probeDmaRegion(0xaaaa_0000n, 0xff9n), IOReturn.Overrun);
    expect(c.probeDmaRegion(0xaaaa_0000n, 0xff8n)).toBe(0n);
    expectKr(() => c.probeDmaRegion(0xaaaa_0001n, 0n), IOReturn.NotFound);
    expectKr(() => c.unregisterDmaRegion(0xaaaa_0001n), IOReturn.NotFound);
    c.unregisterDmaRegion(0xaaaa_0000n);
    expectKr(() => c.unregisterDmaRegion(0xaaaa_0000n), IOReturn.NotFound);
    expect(dext.model(EDU0).dartMappings).toBe(0);
  });

  it('checks in order: gate, size/VA 0, live key, slots, chunks', () => {
    dext = createSimDext(undefined, { dmaLimits: { maxRegions: 2, chunkBytes: 16384, maxChunks: 2 } });
    const c = dext.connect(EDU0 as Bdf);
    const va = dext.hostMemory.expose(new SharedArrayBuffer(1 << 20));
    expectKr(() => c.registerDmaRegion(1n, 0n, 0n), IOReturn.NotOpen); // gate first
    c.claim();
    expectKr(() => c.registerDmaRegion(1n, va, 0n), IOReturn.BadArgument);
    expectKr(() => c.registerDmaRegion(1n, 0n, 4096n), IOReturn.BadArgument);
    c.registerDmaRegion(1n, va, 4096n);
    expectKr(() => c.registerDmaRegion(1n, 0n, 0n), IOReturn.BadArgument); // size/VA before the live key
    expectKr(() => c.registerDmaRegion(1n, va, 4096n), IOReturn.StillOpen);
    expectKr(() => c.registerDmaRegion(3n, va, 3n * 16384n), IOReturn.NoSpace); // 3 chunks > 2
    c.registerDmaRegion(2n, va + 16384n, 2n * 16384n); // exactly 2 chunks
    expectKr(() => c.registerDmaRegion(1n, va, 4096n), IOReturn.StillOpen); // live key before slots
    expectKr(() => c.registerDmaRegion(3n, va, 4096n), IOReturn.NoSpace); // no slot
    c.unregisterDmaRegion(1n);
    c.registerDmaRegion(3n, va, 4096n);
  });

  it('chunks: each gets its own bus range; output reports chunk 0', () => {
    const c = setup({ dmaLimits: { chunkBytes: 16384 } });
    const buf = new SharedArrayBuffer(65536);
    new Uint8Array(buf)[16384 + 5] = 0x5a;
    const va = dext.hostMemory.expose(buf);
    const info = c.registerDmaRegion(7n, va, 40000n);
    expect(info.busLen).toBe(16384n);
    expect(dext.model(EDU0).dartMappings).toBe(3);
    expect(c.probeDmaRegion(7n, 16384n) & 0xffff_ffff_ffffn).toBe(0x5a_0000_0000_00n);
  });

  it('NotAligned when a chunk spans two physical segments, and the rollback leaves nothing', () => {
    const c = setup({ dmaLimits: { chunkBytes: 16384 } });
    const va = dext.hostMemory.expose(new SharedArrayBuffer(65536), { segmentBytes: 32768 });
    // chunks [0,16K) [16K,32K) fit segment 0; chunk [32K-8K..) crosses
    expectKr(() => c.registerDmaRegion(1n, va + 8192n, 40000n), IOReturn.NotAligned);
    expect(dext.model(EDU0).dartMappings).toBe(0);
    expect(c.probeDmaRegion.bind(c, 1n, 0n)).toThrowError(expect.objectContaining({ code: 'PT_ERR_NOT_FOUND' }));
    c.registerDmaRegion(1n, va, 32768n); // two chunks, each inside one segment
    expect(dext.model(EDU0).dartMappings).toBe(2);
  });

  it('a client VA that is not mapped fails like CreateMemoryDescriptorFromClient (VMError) with rollback', () => {
    const c = setup({ dmaLimits: { chunkBytes: 16384 } });
    const va = dext.hostMemory.expose(new SharedArrayBuffer(32768));
    const e = expectKr(() => c.registerDmaRegion(1n, va, 65536n), kIOReturnVMError);
    expect(e.code).toBe('PT_ERR_KERN_RETURN');
    expect(dext.model(EDU0).dartMappings).toBe(0);
    dext.hostMemory.unexpose(va);
    expectKr(() => c.registerDmaRegion(1n, va, 4096n), kIOReturnVMError);
    expect(() => dext.hostMemory.unexpose(va)).toThrowError(expect.objectContaining({ code: 'PT_ERR_NOT_FOUND' }));
  });

  it("the default limits allow the later original's 64 chunks of 1.5 GiB and refuse 65", () => {
    const c = setup();
    const va = dext.hostMemory.expose(new SharedArrayBuffer(16384));
    const chunk = 1536n * 1024n * 1024n;
    expectKr(() => c.registerDmaRegion(1n, va, 64n * chunk + 1n), IOReturn.NoSpace);
    // 64 chunks pass the chunk check and fail later, at the (unmapped) client range.
    expectKr(() => c.registerDmaRegion(1n, va, 64n * chunk), kIOReturnVMError);
  });

  it('keys are per client: two clients may use the same key', () => {
    const a = setup();
    const b = dext.connect(EDU0 as Bdf);
    const va = dext.hostMemory.expose(new SharedArrayBuffer(16384));
    const ia = a.registerDmaRegion(5n, va, 4096n);
    const ib = b.registerDmaRegion(5n, va, 4096n);
    expect(ia.busAddr).not.toBe(ib.busAddr);
    b.close();
    expect(a.probeDmaRegion(5n, 0n)).toBe(0n);
  });

  it('reaches a small slot limit quickly and recovers after unregister', () => {
    const c = setup({ dmaLimits: { maxRegions: 64 } });
    const va = dext.hostMemory.expose(new SharedArrayBuffer(64 * 16384));
    for (let i = 0; i < 64; i++) c.registerDmaRegion(BigInt(i), va + BigInt(i * 16384), 16384n);
    expectKr(() => c.registerDmaRegion(64n, va, 16384n), IOReturn.NoSpace);
    c.unregisterDmaRegion(10n);
    c.registerDmaRegion(64n, va, 16384n);
  });

  it('65,536 regions (the real slot limit), each over its own exposed range, register and unregister in O(log n) each', () => {
    const c = setup();
    const n = 65536;
    const vas = Array.from({ length: n }, () => dext.hostMemory.expose(new SharedArrayBuffer(4096)));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) c.registerDmaRegion(BigInt(i) << 16n, vas[i]!, 4096n);
    expectKr(() => c.registerDmaRegion(1n, vas[0]!, 4096n), IOReturn.NoSpace); // slot 65,537
    for (let i = 0; i < n; i += 2) c.unregisterDmaRegion(BigInt(i) << 16n);
    for (let i = 1; i < n; i += 2) c.unregisterDmaRegion(BigInt(i) << 16n);
    // Not a timing assertion (the suite runs on busy 2-core machines): the log says how long it took.
    console.log(`65,536 registrations + unregistrations: ${Math.round(performance.now() - t0)} ms`);
    expect(dext.model(EDU0).dartMappings).toBe(0);
  });
});
