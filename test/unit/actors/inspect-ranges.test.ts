import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { createInspector, flattenStateValue, type TransitionRecord } from '../../../src/actors/inspect.js';
import { complement, mergeRanges } from '../../../src/actors/worker/bars.js';

describe('inspect: xstate inspection → plain, cloneable records', () => {
  it('reports each state change once, with the event, as structured-cloneable data', () => {
    const out: TransitionRecord[] = [];
    const m = createMachine({
      id: 'm',
      initial: 'a',
      states: { a: { on: { 'x.go': 'b' } }, b: { initial: 'c', states: { c: {} } } },
    });
    const actor = createActor(m, {
      id: 'm',
      inspect: createInspector('dev1', { transition: (r) => out.push(r), error: () => {} }, () => 42),
    });
    actor.start();
    actor.send({ type: 'x.go' });
    actor.send({ type: 'x.go' }); // no change, no record
    expect(out).toEqual([
      { deviceId: 'dev1', actor: 'm', from: undefined, to: 'a', event: 'xstate.init', t: 42 },
      { deviceId: 'dev1', actor: 'm', from: 'a', to: 'b.c', event: 'x.go', t: 42 },
    ]);
    expect(structuredClone(out)).toEqual(out);
    expect(flattenStateValue({ p: { q: 'r' } })).toBe('p.q.r');
  });
});

describe('BAR trap ranges = complement of the mmap windows, merged', () => {
  it('complements windows split around the MSI-X table/PBA', () => {
    const windows = [
      { offsetBytes: 0, lengthBytes: 0x4000 },
      { offsetBytes: 0xc000, lengthBytes: 0x4000 },
    ];
    expect(complement(windows, 0x10000)).toEqual([{ offsetBytes: 0x4000, lengthBytes: 0x8000 }]);
    expect(complement([], 0x1000)).toEqual([{ offsetBytes: 0, lengthBytes: 0x1000 }]);
    expect(complement([{ offsetBytes: 0, lengthBytes: 0x4000 }], 0x1000)).toEqual([]);
  });
  it('merges overlapping and touching ranges', () => {
    expect(
      mergeRanges([
        { offsetBytes: 0x4000, lengthBytes: 0x8000 },
        { offsetBytes: 0, lengthBytes: 0x4000 },
        { offsetBytes: 0x100, lengthBytes: 0x10 },
      ]),
    ).toEqual([{ offsetBytes: 0, lengthBytes: 0xc000 }]);
  });
});
