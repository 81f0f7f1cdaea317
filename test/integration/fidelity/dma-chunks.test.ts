/**
 * Issue 14, point 3 through the public API, as far as it reaches today: a
 * mapping of several dext chunks (the sim's chunk shrunk to 16 KiB through
 * the sim backend's test hook) maps, the device uses chunk 0's bus address,
 * and DmaMap.map reports every chunk's bus range, each of which the device
 * reaches at its own offset of the memory; detach leaves no registration behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/index.js';

const EDU = '0000:00:10.0';
let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

describe('multi-chunk DMA through the supervisor (sim)', () => {
  it('maps 40000 bytes as three 16 KiB chunks; the device copies within chunk 0; detach unregisters every chunk', async () => {
    sup = await createSupervisor({ backendOptions: { dmaLimits: { chunkBytes: 16384 } }, callTimeoutMs: 5000 });
    const h = await sup.attach(EDU, { id: 'edu' });
    const ram = new SharedArrayBuffer(40000);
    const bytes = new Uint8Array(ram);
    for (let i = 0; i < 64; i++) bytes[0x100 + i] = i + 1;
    const m = await h.dma.map(ram);
    expect(m.sizeBytes).toBe(40000n);
    const bar = h.bar(0)!;
    const run = async (src: bigint, dst: bigint, cmd: bigint) => {
      bar.write64(0x80, src);
      bar.write64(0x88, dst);
      bar.write64(0x90, 64n);
      bar.write64(0x98, cmd);
      for (let i = 0; i < 200 && (bar.read64(0x98) & 1n) !== 0n; i++) await new Promise((r) => setTimeout(r, 5));
    };
    await run(m.busAddr + 0x100n, 0x40000n, 1n); // RAM → edu
    await run(0x40000n, m.busAddr + 0x2000n, 3n); // edu → RAM
    expect([...bytes.subarray(0x2000, 0x2040)]).toEqual([...bytes.subarray(0x100, 0x140)]);
    // Every chunk's bus range, in memory order; not contiguous on the bus (the sim's DART leaves gaps).
    expect(m.ranges?.map((r) => r.sizeBytes)).toEqual([16384n, 16384n, 40000n - 32768n]);
    expect(m.ranges![0]!.busAddr).toBe(m.busAddr);
    expect(m.ranges![1]!.busAddr).not.toBe(m.busAddr + 16384n);
    await run(0x40000n, m.ranges![1]!.busAddr + 0x10n, 3n); // edu → RAM through chunk 1's own range
    expect([...bytes.subarray(16384 + 0x10, 16384 + 0x50)]).toEqual([...bytes.subarray(0x100, 0x140)]);
    expect(h.dma.list()[0]!.ranges).toHaveLength(3);
    await h.detach();
    expect(sup.debug.resources().teardowns.edu).toMatchObject({ dmaMappings: 0, exposures: 0, connectionRefs: 0 });
  });
});
