/**
 * Container DMA chunking against its invariants, on the sim's
 * non-contiguous DART: for any size and chunk, the ranges tile the mapping
 * in memory order, each within one chunk, each translating to the right
 * host bytes; unmap leaves nothing registered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAppleContainer } from '../../src/apple/container.js';
import { ConnectionTable } from '../../src/apple/connection-table.js';
import { createSimDext } from '../../src/sim/index.js';
import type { Iova } from '../../src/types.js';
import type { SimDart } from '../../src/sim/dart.js';

const EDU = '0000:00:10.0';
const PAGE = 16384;

describe('property: DMA chunking', () => {
  it('ranges tile the mapping chunk by chunk and reach the right bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).map((p) => p * PAGE),
        fc.integer({ min: 1, max: 9 * PAGE }),
        fc.integer({ min: 0, max: 63 }).map((o) => o * 64),
        (chunk, size, offset) => {
          const sim = createSimDext(undefined, { functions: [EDU], dmaLimits: { chunkBytes: chunk } });
          try {
            const container = createAppleContainer({ driver: sim, table: new ConnectionTable(), dmaChunkBytes: chunk });
            container.attachDevice(EDU as never);
            const buf = new SharedArrayBuffer(10 * PAGE);
            const bytes = new Uint8Array(buf);
            for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 9)) & 0xff;
            const va = sim.hostMemory.expose(buf);
            const m = container.dmaMap({ iova: 0x4000_0000n as Iova, hostVa: (va + BigInt(offset)) as never, sizeBytes: BigInt(size) });
            const ranges = m.ranges!;
            expect(ranges.length).toBe(Math.ceil(size / chunk));
            let at = 0n;
            for (const r of ranges) {
              expect(r.offsetBytes).toBe(at);
              expect(r.sizeBytes > 0n && r.sizeBytes <= BigInt(chunk)).toBe(true);
              at += r.sizeBytes;
              // The device's view of the range's last byte is the host's byte at that offset.
              const last = Number(r.offsetBytes + r.sizeBytes - 1n);
              const pieces = (sim.model(EDU) as unknown as { dart: SimDart }).dart.translate(r.busAddr + r.sizeBytes - 1n, 1)!;
              expect(new Uint8Array(pieces[0]!.buffer, pieces[0]!.bufferOffsetBytes, 1)[0]).toBe(bytes[offset + last]);
            }
            expect(at).toBe(BigInt(size));
            expect(sim.model(EDU).dartMappings).toBe(ranges.length);
            container.dmaUnmap(m.key);
            expect(sim.model(EDU).dartMappings).toBe(0);
            container.detachDevice(EDU as never);
          } finally {
            sim.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
