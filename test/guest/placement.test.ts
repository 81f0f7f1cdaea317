/** Slot and BAR placement for adapters (pure; src/adapters/placement.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assignSlots, placeMemoryBars } from '../../src/adapters/placement.js';
import { thrown } from '../shared/thrown.js';

const BLOCK = 0x20000;
const devfn = (slot: number, fn = 0) => (slot << 3) | fn;

describe('assignSlots', () => {
  it('keeps a bus-0 host slot when free, groups a host slot, renumbers a group without function 0, honours explicit slots', () => {
    const used = new Set([0, 8, devfn(5), devfn(0x12), devfn(0x1e)]);
    expect(
      assignSlots(
        [{ hostBdf: '0000:00:10.0' }, { hostBdf: '0000:03:00.1' }, { hostBdf: '0000:03:00.0' }, { hostBdf: '0000:04:02.3' }, { slot: 0x1f, function: 2 }, {}],
        used,
      ),
    ).toEqual([devfn(0x10), devfn(0x11, 1), devfn(0x11, 0), devfn(0x13, 0), devfn(0x1f, 2), devfn(0x14)]);
    expect(assignSlots([{ hostBdf: '0000:00:05.0' }], used)).toEqual([devfn(0x10)]); // 05 is taken
  });

  it('refuses a taken or invalid explicit slot (PT_ERR_INVALID_ARGUMENT) and a full bus (PT_ERR_NO_SPACE)', () => {
    expect(thrown(() => assignSlots([{ slot: 5 }], new Set([devfn(5)])))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    expect(thrown(() => assignSlots([{ slot: 32 }], new Set()))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    const full = new Set(Array.from({ length: 32 }, (_, s) => devfn(s)));
    expect(thrown(() => assignSlots([{}], full))).toMatchObject({ code: 'PT_ERR_NO_SPACE' });
  });

  it('never gives two requests one devfn nor a used one (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bus: fc.integer({ min: 0, max: 3 }), dev: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }) }), { maxLength: 12 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 8 }),
        (hosts, usedSlots) => {
          const unique = [...new Map(hosts.map((h) => [`${h.bus}:${h.dev}.${h.fn}`, h])).values()];
          const used = new Set(usedSlots.map((s) => devfn(s)));
          let out: number[];
          try {
            out = assignSlots(unique.map((h) => ({ hostBdf: `0000:0${h.bus}:${h.dev.toString(16).padStart(2, '0')}.${h.fn}` })), used);
          } catch (e) {
            return (e as { code?: string }).code === 'PT_ERR_NO_SPACE';
          }
          const usedSlotSet = new Set(usedSlots);
          return new Set(out).size === out.length && out.every((d) => !usedSlotSet.has(d >> 3));
        },
      ),
    );
  });
});

describe('placeMemoryBars', () => {
  it('places top-down, naturally aligned, whole blocks, skipping blocks that are not free', () => {
    const busy = new Set([(0xfea00000 / BLOCK) | 0]);
    const bases = placeMemoryBars([0x1000, 0x100000, 0x10000], { start: 0xf0000000, end: 0xfeb00000 }, BLOCK, (b) => !busy.has(b));
    expect(bases[1]! % 0x100000).toBe(0);
    expect(bases[1]).toBe(0xfe900000); // 0xfea00000 has a busy block
    expect(bases[0]! % BLOCK).toBe(0);
    expect(new Set(bases.map((b) => Math.floor(b / BLOCK))).size).toBe(3);
    for (const b of bases) expect(b).toBeGreaterThanOrEqual(0xf0000000);
  });

  it('refuses a size that is not a power of two (PT_ERR_INVALID_ARGUMENT) and a window too small (PT_ERR_NO_SPACE)', () => {
    expect(thrown(() => placeMemoryBars([3000], { start: 0, end: 0x100000 }, BLOCK, () => true))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    expect(thrown(() => placeMemoryBars([0x200000], { start: 0xfe000000, end: 0xfe100000 }, BLOCK, () => true))).toMatchObject({ code: 'PT_ERR_NO_SPACE' });
  });

  it('never overlaps two BARs nor leaves the window (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 12, max: 24 }).map((p) => 2 ** p), { minLength: 1, maxLength: 10 }), (sizes) => {
        const window = { start: 0xf0000000, end: 0xfeb00000 };
        const bases = placeMemoryBars(sizes, window, BLOCK, () => true);
        const spans = bases.map((b, i) => [b, b + Math.max(sizes[i]!, BLOCK)] as const);
        for (const [i, [a, e]] of spans.entries()) {
          if (a < window.start || e > window.end || a % sizes[i]! !== 0) return false;
          for (const [j, [c, d]] of spans.entries()) if (i !== j && a < d && c < e) return false;
        }
        return true;
      }),
    );
  });
});
