/**
 * Issue 14, point 3 at the container's API (IommuOps.dmaMap): a mapping
 * larger than one dext chunk is registered chunk by chunk, and each chunk's
 * bus range is what the device gets. Run over the sim, whose DART does not
 * allocate chunks contiguously (a guard page after every mapping), with the
 * chunk shrunk to 16 KiB so the test needs no 1.5 GiB of memory.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppleContainer, type AppleContainer } from '../../../src/apple/container.js';
import { ConnectionTable } from '../../../src/apple/connection-table.js';
import { MemoryType } from '../../../src/dext/contract.js';
import { createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { EduModel } from '../../../src/sim/models/edu.js';
import type { HostVa, Iova } from '../../../src/types.js';
import { EDU, thrown } from './harness.js';

const CHUNK = 16384;
let sim: SimDext;
let container: AppleContainer;

beforeEach(() => {
  sim = createSimDext(undefined, { dmaLimits: { chunkBytes: CHUNK } });
  container = createAppleContainer({ driver: sim, table: new ConnectionTable(), dmaChunkBytes: CHUNK });
  container.attachDevice(EDU);
});
afterEach(() => {
  container.detachDevice(EDU);
  sim.close();
});

/** 40000 bytes of RAM whose chunk i holds bytes 0x10·(i+1) + j. */
function ram(): { buffer: SharedArrayBuffer; va: HostVa } {
  const buffer = new SharedArrayBuffer(65536);
  const b = new Uint8Array(buffer);
  for (let i = 0; i < b.length; i++) b[i] = (0x10 * (Math.floor(i / CHUNK) + 1) + (i % CHUNK)) & 0xff;
  return { buffer, va: sim.hostMemory.expose(buffer) };
}

/** edu copies `count` bytes at bus address `src` into its DMA buffer; returns what arrived (undefined on a DMA fault). */
async function eduRead(src: bigint, count: number): Promise<number[] | undefined> {
  const bar = container.client!.mapMemory(MemoryType.Bar0);
  const model = sim.model(EDU).device as EduModel;
  model.dmaBuf.fill(0);
  const faults = sim.model(EDU).dmaFaultCount;
  bar.write(0x80, 8, src);
  bar.write(0x88, 8, 0x40000n);
  bar.write(0x90, 8, BigInt(count));
  bar.write(0x98, 8, 1n);
  await sim.idle();
  container.client!.unmapMemory(MemoryType.Bar0, bar.address);
  return sim.model(EDU).dmaFaultCount > faults ? undefined : [...model.dmaBuf.subarray(0, count)];
}

describe('DMA larger than one chunk (container over a non-contiguous DART)', () => {
  it('registers chunk by chunk and returns every chunk\'s bus range; the ranges are not contiguous', () => {
    const { va } = ram();
    const m = container.dmaMap({ iova: 0x8000_0000n as Iova, hostVa: va, sizeBytes: 40000n });
    expect(m.ranges!.map((r) => [r.offsetBytes, r.sizeBytes])).toEqual([
      [0n, 16384n],
      [16384n, 16384n],
      [32768n, 7232n],
    ]);
    expect(m.busAddr).toBe(m.ranges![0]!.busAddr);
    expect(m.ranges![1]!.busAddr).not.toBe(m.ranges![0]!.busAddr + 16384n);
    expect(m.ranges![2]!.busAddr).not.toBe(m.ranges![1]!.busAddr + 16384n);
    // One dext region per chunk, keyed key + offset.
    const client = container.client!;
    expect(client.probeDmaRegion(0x8000_4000n, 0n) & 0xffn).toBe(0x20n);
    expect(sim.model(EDU).dartMappings).toBe(3);
  });

  it('the device reaches each chunk at its own bus range; the "contiguous" address faults', async () => {
    const { va } = ram();
    const m = container.dmaMap({ iova: 0x8000_0000n as Iova, hostVa: va, sizeBytes: 40000n });
    const [c0, c1, c2] = m.ranges!;
    expect(await eduRead(c1!.busAddr + 5n, 4)).toEqual([0x25, 0x26, 0x27, 0x28]);
    expect(await eduRead(c2!.busAddr, 2)).toEqual([0x30, 0x31]);
    expect(await eduRead(c0!.busAddr + 16384n + 5n, 4)).toBeUndefined(); // chunk 0 + offset: not chunk 1
  });

  it('unmap unregisters every chunk; a failed chunk rolls the earlier ones back', () => {
    const { va } = ram();
    const m = container.dmaMap({ iova: 0x8000_0000n as Iova, hostVa: va, sizeBytes: 40000n });
    container.dmaUnmap(m.key);
    expect(sim.model(EDU).dartMappings).toBe(0);
    expect(container.mappings.size).toBe(0);
    // Chunk 2 runs past the exposed range (VMError): chunks 0 and 1 are undone.
    const e = thrown(() => container.dmaMap({ iova: 0x9000_0000n as Iova, hostVa: (va + 32768n) as HostVa, sizeBytes: 40000n }));
    expect(e.code).toBe('PT_ERR_KERN_RETURN');
    expect(e.context).toMatchObject({ chunk: 2, chunks: 3, iova: 0x9000_8000n });
    expect(e.message).toMatch(/^vfio-apple: DMA map failed: /);
    expect(sim.model(EDU).dartMappings).toBe(0);
    // A chunk key colliding with a live key is the dext's StillOpen, rolled back too.
    container.dmaMap({ iova: 0xa000_4000n as Iova, hostVa: va, sizeBytes: 4096n });
    expect(thrown(() => container.dmaMap({ iova: 0xa000_0000n as Iova, hostVa: va, sizeBytes: 40000n })).code).toBe('PT_ERR_STILL_OPEN');
    expect(sim.model(EDU).dartMappings).toBe(1);
  });

  it('a mapping of at most one chunk is one range, as before', () => {
    const { va } = ram();
    const m = container.dmaMap({ hostVa: va, sizeBytes: 16384n });
    expect(m.ranges).toEqual([{ offsetBytes: 0n, busAddr: m.busAddr, sizeBytes: 16384n }]);
  });

  it('options.dmaChunkBytes must be a positive multiple of the 16 KiB page', () => {
    expect(thrown(() => createAppleContainer({ driver: sim, table: new ConnectionTable(), dmaChunkBytes: 4096 })).code).toBe('PT_ERR_INVALID_ARGUMENT');
  });
});
