import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IOReturn, type IrqWords } from '../../src/dext/contract.js';
import { createSimDext } from '../../src/sim/index.js';
import type { Bdf } from '../../src/types.js';

type Op =
  | { op: 'raise'; vector: number }
  | { op: 'mask'; words: IrqWords }
  | { op: 'check' }
  | { op: 'wait' };

const word = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('raise' as const), vector: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mask' as const), words: fc.tuple(word, word, word, word) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('check' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wait' as const) }) },
);

describe('pending bitmap against a reference model', () => {
  it('random raise / mask / check / wait sequences (masked dropped, coalesced, read-and-clear)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), async (ops) => {
        const dext = createSimDext(undefined, { functions: ['02:00.0'] });
        try {
          const c = dext.connect('0000:02:00.0' as Bdf);
          c.claim();
          expect(c.setupInterrupts()).toBe(256);
          const fn = dext.model('02:00.0');
          const pending: IrqWords = [0n, 0n, 0n, 0n];
          let enabled: IrqWords = [~0n & ((1n << 64n) - 1n), (1n << 64n) - 1n, (1n << 64n) - 1n, (1n << 64n) - 1n];
          let wait: { completion: Promise<number>; settled: number | undefined } | undefined;
          for (const op of ops) {
            if (op.op === 'raise') {
              fn.raise(op.vector);
              const bit = 1n << BigInt(op.vector & 63);
              if (op.vector < 256 && (enabled[op.vector >> 6]! & bit) !== 0n) {
                pending[op.vector >> 6] = pending[op.vector >> 6]! | bit;
              }
            } else if (op.op === 'mask') {
              c.setIrqMask(op.words);
              enabled = [...op.words] as IrqWords;
            } else if (op.op === 'check') {
              expect(c.checkInterrupt()).toEqual(pending);
              pending.fill(0n);
            } else {
              const w = c.waitInterrupt();
              const rec = { completion: w.completion, settled: undefined as number | undefined };
              void w.completion.then((s) => (rec.settled = s));
              const older = wait;
              wait = rec;
              await Promise.resolve();
              if (older !== undefined) {
                await older.completion;
                expect(older.settled === IOReturn.Success || older.settled === IOReturn.Aborted).toBe(true);
              }
            }
            if (wait !== undefined && pending.some((x) => x !== 0n)) {
              // Something is pending: the stored (or newest) wait must have completed with Success.
              expect(await wait.completion).toBe(IOReturn.Success);
            }
          }
        } finally {
          dext.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
