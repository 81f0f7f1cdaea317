import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { IrqLine, createDeviceControlBlock } from '../../../src/fastpath/index.js';
import type { InterruptSource, IrqSink } from '../../../src/vfio/device-io-ops.js';
import { irqSinkFor, startIrqPump } from '../../../src/actors/worker/irq-pump.js';

/** A source that delivers queued vectors to a sink; next() parks until wake/close or a push. */
function fakeSource(sink: IrqSink) {
  const queue: number[] = [];
  let parked: ((n: number) => void) | undefined;
  let closed = false;
  let wakes = 0;
  const flush = (): number => {
    const n = queue.length;
    for (const v of queue.splice(0)) sink.deliver(v);
    return n;
  };
  const source: InterruptSource = {
    next() {
      if (closed) return Promise.resolve(0);
      if (queue.length > 0) return Promise.resolve(flush());
      return new Promise((resolve) => (parked = resolve));
    },
    nextSync: () => (closed ? 0 : flush()),
    wake() {
      wakes++;
      parked?.(0);
      parked = undefined;
    },
    close() {
      closed = true;
      parked?.(0);
      parked = undefined;
    },
  };
  return {
    source,
    push(...vs: number[]) {
      queue.push(...vs);
      const p = parked;
      parked = undefined;
      p?.(flush());
    },
    get wakes() {
      return wakes;
    },
  };
}

describe('IRQ pump', () => {
  it('delivers through the line, honours the mask and stops while parked', async () => {
    const line = new IrqLine(createDeviceControlBlock());
    line.mask(3);
    const src = fakeSource(irqSinkFor(line));
    const pump = startIrqPump(src.source);
    const seq = line.seq;
    src.push(1, 2, 3);
    expect(await line.waitAsync(seq, 2000)).toBeGreaterThan(seq);
    expect(line.drain()).toEqual([1, 2]);
    expect(line.counters().masked).toBe(1);
    expect(pump.running).toBe(true);
    await pump.stop();
    await pump.stop();
    expect(pump.running).toBe(false);
    expect(src.wakes).toBe(1);
    expect(pump.stats.delivered).toBe(3);
  });

  it('reports a failing source once', async () => {
    const src = fakeSource({ deliver() {} });
    const errors: PassthroughError[] = [];
    const pump = startIrqPump(
      { ...src.source, next: () => Promise.reject(new PassthroughError('PT_ERR_IO', 'wait failed')) },
      { onError: (e) => errors.push(e) },
    );
    await pump.done;
    expect(pump.running).toBe(false);
    await pump.stop();
    expect(errors.map((e) => e.code)).toEqual(['PT_ERR_IO']);
    expect(pump.stats.errors).toBe(1);
  });
});
