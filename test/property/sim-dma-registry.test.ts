import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IOReturn } from '../../src/dext/contract.js';
import { createSimDext, kIOReturnVMError } from '../../src/sim/index.js';
import type { Bdf } from '../../src/types.js';

const PAGE = 16384;
const LIMITS = { maxRegions: 6, chunkBytes: PAGE, maxChunks: 4 };
const HOST_BYTES = 16 * PAGE;
const SEGMENT = 4 * PAGE;

type Op =
  | { op: 'register'; key: number; offset: number; size: number }
  | { op: 'unregister'; key: number }
  | { op: 'probe'; key: number; offset: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('register' as const),
    key: fc.integer({ min: 0, max: 9 }),
    offset: fc.oneof(fc.integer({ min: 0, max: 17 }).map((p) => p * PAGE), fc.integer({ min: 0, max: HOST_BYTES + PAGE })),
    size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 * PAGE })),
  }),
  fc.record({ op: fc.constant('unregister' as const), key: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ op: fc.constant('probe' as const), key: fc.integer({ min: 0, max: 9 }), offset: fc.integer({ min: 0, max: 6 * PAGE }) }),
);

/** The reference model: the spec's check order over a plain Map. */
function expected(live: Map<number, { offset: number; size: number }>, op: Extract<Op, { op: 'register' }>): number {
  if (op.size === 0) return IOReturn.BadArgument;
  if (live.has(op.key)) return IOReturn.StillOpen;
  if (live.size >= LIMITS.maxRegions) return IOReturn.NoSpace;
  const chunks = Math.ceil(op.size / LIMITS.chunkBytes);
  if (chunks > LIMITS.maxChunks) return IOReturn.NoSpace;
  for (let i = 0; i < chunks; i++) {
    const start = op.offset + i * LIMITS.chunkBytes;
    const len = Math.min(LIMITS.chunkBytes, op.size - i * LIMITS.chunkBytes);
    if (start + len > HOST_BYTES) return kIOReturnVMError;
    if (Math.floor(start / SEGMENT) !== Math.floor((start + len - 1) / SEGMENT)) return IOReturn.NotAligned;
  }
  return 0;
}

describe('DMA registry against a reference model', () => {
  it('random register/unregister/probe sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const dext = createSimDext(undefined, { functions: ['00:10.0'], dmaLimits: LIMITS });
        try {
          const c = dext.connect('0000:00:10.0' as Bdf);
          c.claim();
          const host = new SharedArrayBuffer(HOST_BYTES);
          const bytes = new Uint8Array(host);
          for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
          const va = dext.hostMemory.expose(host, { segmentBytes: SEGMENT });
          const live = new Map<number, { offset: number; size: number }>();
          for (const op of ops) {
            let kr = 0;
            try {
              if (op.op === 'register') {
                const info = c.registerDmaRegion(BigInt(op.key), va + BigInt(op.offset), BigInt(op.size));
                expect(info.busLen).toBe(BigInt(Math.min(op.size, LIMITS.chunkBytes)));
                expect(info.busAddr % BigInt(PAGE)).toBe(BigInt(op.offset % PAGE));
              } else if (op.op === 'unregister') {
                c.unregisterDmaRegion(BigInt(op.key));
              } else {
                const v = c.probeDmaRegion(BigInt(op.key), BigInt(op.offset));
                const r = live.get(op.key)!;
                let want = 0n;
                for (let i = 7; i >= 0; i--) want = (want << 8n) | BigInt(bytes[r.offset + op.offset + i]!);
                expect(v).toBe(want);
              }
            } catch (e) {
              kr = (e as { kernReturn: number }).kernReturn;
            }
            if (op.op === 'register') {
              expect(kr).toBe(expected(live, op));
              if (kr === 0) live.set(op.key, { offset: op.offset, size: op.size });
            } else if (op.op === 'unregister') {
              expect(kr).toBe(live.has(op.key) ? 0 : IOReturn.NotFound);
              live.delete(op.key);
            } else {
              const r = live.get(op.key);
              expect(kr).toBe(r === undefined ? IOReturn.NotFound : op.offset + 8 > r.size ? IOReturn.Overrun : 0);
            }
            // Invariant: the DART holds exactly the live regions' chunks (rollback leaves nothing).
            const chunks = [...live.values()].reduce((n, r) => n + Math.ceil(r.size / LIMITS.chunkBytes), 0);
            expect(dext.model('00:10.0').dartMappings).toBe(chunks);
          }
        } finally {
          dext.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
