/**
 * The sim's ordered map (a treap): against a sorted-array model, and the
 * DART built on it (first fit, guard pages, merging on unmap, O(log n) scale).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderedMap } from '../../../src/sim/ordered-map.js';
import { DART_GUARD_BYTES, SimDart } from '../../../src/sim/dart.js';

type Op = { op: 'set'; key: number; value: number } | { op: 'delete'; key: number } | { op: 'query'; key: number; min: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 60 }), value: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ op: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ op: fc.constant('query' as const), key: fc.integer({ min: -1, max: 61 }), min: fc.integer({ min: 0, max: 101 }) }),
);

describe('OrderedMap', () => {
  it('matches a sorted-array model: get, floor, ceiling, firstFit, order, size', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const m = new OrderedMap<number>((v) => BigInt(v));
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.op === 'set') {
            m.set(BigInt(o.key), o.value);
            model.set(o.key, o.value);
          } else if (o.op === 'delete') {
            expect(m.delete(BigInt(o.key))).toBe(model.delete(o.key));
          } else {
            const keys = [...model.keys()].sort((a, b) => a - b);
            const fl = keys.filter((k) => k <= o.key).at(-1);
            const ce = keys.find((k) => k >= o.key);
            const ff = keys.find((k) => model.get(k)! >= o.min);
            expect(m.get(BigInt(o.key))).toBe(model.get(o.key));
            expect(m.floor(BigInt(o.key))).toEqual(fl === undefined ? undefined : [BigInt(fl), model.get(fl)]);
            expect(m.ceiling(BigInt(o.key))).toEqual(ce === undefined ? undefined : [BigInt(ce), model.get(ce)]);
            expect(m.firstFit(BigInt(o.min))).toEqual(ff === undefined ? undefined : [BigInt(ff), model.get(ff)]);
          }
          expect(m.size).toBe(model.size);
        }
        expect(m.entries()).toEqual([...model.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [BigInt(k), v]));
      }),
      { numRuns: 300 },
    );
  });
});

describe('SimDart', () => {
  const buf = new SharedArrayBuffer(1 << 16);

  it('consecutive mappings land apart: a guard page follows each mapping, and a DMA into it faults', () => {
    const d = new SimDart();
    const a = d.map(buf, 0, 16384)!;
    const b = d.map(buf, 16384, 16384)!;
    expect(b.busAddr).toBe(a.busAddr + 16384n + BigInt(DART_GUARD_BYTES));
    expect(d.translate(a.busAddr + 16383n, 1)).toEqual([{ buffer: buf, bufferOffsetBytes: 16383, lengthBytes: 1 }]);
    expect(d.translate(a.busAddr + 16384n, 1)).toBeUndefined(); // the guard
    expect(d.translate(a.busAddr + 16380n, 8)).toBeUndefined(); // a transfer running into the guard
  });

  it('first fit reuses a freed hole, merges free neighbours, keeps alignment and the page offset', () => {
    const d = new SimDart();
    const a = d.map(buf, 0, 16384)!;
    const b = d.map(buf, 0, 16384)!;
    const c = d.map(buf, 0, 16384)!;
    d.unmap(b);
    expect(d.map(buf, 0, 100, 0x40)!.busAddr).toBe(b.iovaBase + 0x40n); // fits the hole b left
    d.unmap(a);
    const big = d.map(buf, 0, 3 * 16384)!; // a and b's old room is too small now: goes after c
    expect(big.iovaBase).toBeGreaterThan(c.iovaBase);
    const aligned = d.map(buf, 0, 4096, 0, 1 << 20)!;
    expect(aligned.iovaBase % (1n << 20n)).toBe(0n);
    for (const e of [c, big, aligned]) d.unmap(e);
    d.clear();
    expect(d.size).toBe(0);
    // Everything merged back into one interval: the first mapping is at the base again.
    expect(d.map(buf, 0, 16384)!.iovaBase).toBe(a.iovaBase);
  });

  it('65,536 mappings map, translate and unmap in O(log n) each (well under the 30 s test budget)', () => {
    const d = new SimDart();
    const entries = [];
    for (let i = 0; i < 65536; i++) entries.push(d.map(buf, 0, 4096, (i * 64) % 16384)!);
    for (let i = 0; i < 65536; i += 97) expect(d.translate(entries[i]!.busAddr + 8n, 8)).toHaveLength(1);
    for (let i = 0; i < 65536; i += 2) d.unmap(entries[i]!);
    for (let i = 1; i < 65536; i += 2) d.unmap(entries[i]!);
    expect(d.size).toBe(0);
  });
});
