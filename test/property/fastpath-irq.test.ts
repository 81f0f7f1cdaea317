import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IrqLine, createDeviceControlBlock } from '../../src/fastpath/index.js';

type Cmd =
  | { kind: 'raise'; v: number }
  | { kind: 'words'; words: number[] }
  | { kind: 'mask'; v: number }
  | { kind: 'unmask'; v: number }
  | { kind: 'drain' };

const vector = fc.integer({ min: 0, max: 255 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: vector.map((v) => ({ kind: 'raise' as const, v })) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 8, maxLength: 8 }).map((words) => ({ kind: 'words' as const, words })) },
  { weight: 1, arbitrary: vector.map((v) => ({ kind: 'mask' as const, v })) },
  { weight: 1, arbitrary: vector.map((v) => ({ kind: 'unmask' as const, v })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'drain' as const }) },
);

describe('IrqLine against a set model', () => {
  it('drains exactly the raised, unmasked vectors, ascending, and keeps the counters consistent', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 200 }), (cmds) => {
        const line = new IrqLine(createDeviceControlBlock());
        const pending = new Set<number>();
        const masked = new Set<number>();
        const model = { raised: 0, coalesced: 0, delivered: 0, masked: 0 };
        const raiseModel = (v: number) => {
          if (masked.has(v)) return void model.masked++;
          model.raised++;
          if (pending.has(v)) model.coalesced++;
          pending.add(v);
        };
        for (const c of cmds) {
          switch (c.kind) {
            case 'raise':
              line.raise(c.v);
              raiseModel(c.v);
              break;
            case 'words':
              line.raiseWords(c.words);
              for (let v = 0; v < 256; v++) if ((c.words[v >>> 5]! >>> (v & 31)) & 1) raiseModel(v);
              break;
            case 'mask':
              line.mask(c.v);
              masked.add(c.v);
              break;
            case 'unmask':
              line.unmask(c.v);
              masked.delete(c.v);
              break;
            case 'drain': {
              const expected = [...pending].sort((a, b) => a - b);
              model.delivered += expected.length;
              pending.clear();
              expect(line.drain()).toEqual(expected);
              break;
            }
          }
          for (let v = 0; v < 256; v += 17) expect(line.isMasked(v)).toBe(masked.has(v));
        }
        expect(line.counters()).toEqual(model);
        const rest = [...pending].sort((a, b) => a - b);
        const out = new Uint16Array(256);
        const n = line.drainInto(out);
        expect([...out.subarray(0, n)]).toEqual(rest);
      }),
      { numRuns: 300 },
    );
  });
});
