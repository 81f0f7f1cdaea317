import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { IrqLine, createDeviceControlBlock } from '../../../src/fastpath/index.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as PassthroughError).code;
  }
  return 'none';
}

describe('IrqLine', () => {
  it('drains raised vectors in ascending order, once', () => {
    const line = new IrqLine(createDeviceControlBlock());
    for (const v of [200, 3, 255, 0, 31, 32, 64]) line.raise(v);
    expect(line.drain()).toEqual([0, 3, 31, 32, 64, 200, 255]);
    expect(line.drain()).toEqual([]);
    const out = new Uint16Array(256);
    line.raise(7);
    line.raise(130);
    expect(line.drainInto(out)).toBe(2);
    expect([...out.subarray(0, 2)]).toEqual([7, 130]);
  });

  it('coalesces a vector raised twice before a drain and counts it', () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq0 = line.seq;
    line.raise(5);
    line.raise(5);
    line.raise(6);
    expect(line.seq).toBe(seq0 + 2); // one bump per newly pending vector
    expect(line.drain()).toEqual([5, 6]);
    expect(line.counters()).toEqual({ raised: 3, coalesced: 1, delivered: 2, masked: 0 });
  });

  it('drops and counts raises of masked vectors without latching them', () => {
    const line = new IrqLine(createDeviceControlBlock());
    line.mask(9);
    expect(line.isMasked(9)).toBe(true);
    expect(line.raise(9)).toBe(false);
    line.unmask(9);
    expect(line.isMasked(9)).toBe(false);
    expect(line.drain()).toEqual([]);
    expect(line.raise(9)).toBe(true);
    expect(line.drain()).toEqual([9]);
    expect(line.counters().masked).toBe(1);
    const off = new IrqLine(createDeviceControlBlock({ irqsEnabled: false }));
    expect(off.raise(0)).toBe(false);
    expect(off.enabledWords()).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('raises whole bitmaps in both shapes, honouring the mask', () => {
    const line = new IrqLine(createDeviceControlBlock());
    line.mask(1);
    const seq0 = line.seq;
    expect(line.raiseWords([0b111n | (1n << 63n), 0n, 0n, 1n << 32n])).toBe(4);
    expect(line.seq).toBe(seq0 + 1);
    expect(line.drain()).toEqual([0, 2, 63, 224]);
    expect(line.raiseWords([0, 0, 0, 0, 0, 0, 0, 1 << 31])).toBe(1);
    expect(line.drain()).toEqual([255]);
    expect(line.counters()).toMatchObject({ masked: 1, raised: 5, delivered: 5 });
    expect(code(() => line.raiseWords([1, 2, 3]))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(code(() => line.raiseWords([1n, 2n, 3n, 4] as unknown as bigint[]))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(line.drain()).toEqual([]); // a refused bitmap raised nothing
  });

  it('refuses vectors outside 0–255 and short drain buffers', () => {
    const line = new IrqLine(createDeviceControlBlock());
    expect(code(() => line.raise(256))).toBe('PT_ERR_OUT_OF_RANGE');
    expect(code(() => line.raise(-1))).toBe('PT_ERR_OUT_OF_RANGE');
    expect(code(() => line.mask(1.5))).toBe('PT_ERR_OUT_OF_RANGE');
    expect(code(() => line.drainInto(new Uint16Array(255)))).toBe('PT_ERR_INVALID_ARGUMENT');
  });

  it('waitSync returns at once when the sequence moved, and times out otherwise', () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    line.raise(1);
    expect(line.waitSync(seq, 1000)).toBe(seq + 1);
    const t0 = performance.now();
    expect(line.waitSync(seq + 1, 30, { spinIterations: 100 })).toBe(seq + 1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(code(() => line.waitSync(seq + 1, Infinity))).toBe('PT_ERR_INVALID_ARGUMENT');
  });

  it('wakeAll wakes waiters with nothing to drain', async () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    const waiting = line.waitAsync(seq, 5000);
    line.wakeAll();
    expect(await waiting).toBe(seq + 1);
    expect(line.drain()).toEqual([]);
  });

  it('waitAsync resolves on a raise and on timeout', async () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    const waiting = line.waitAsync(seq, 5000);
    setImmediate(() => line.raise(4));
    expect(await waiting).toBe(seq + 1);
    const t0 = performance.now();
    expect(await line.waitAsync(seq + 1, 30)).toBe(seq + 1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });
});
