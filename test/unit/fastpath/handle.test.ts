import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import {
  BarWindow,
  barHolders,
  createDeviceControlBlock,
  isBarMapped,
  openFastPath,
  requestUnmap,
  type DeviceHandleDescriptor,
} from '../../../src/fastpath/index.js';

function descriptor(): DeviceHandleDescriptor {
  const control = createDeviceControlBlock();
  return {
    id: 'dev0',
    bdf: '0000:01:00.0',
    control,
    bars: [
      { bar: 0, sizeBytes: 0x4000, buffer: new SharedArrayBuffer(0x4000), trapRanges: [], control },
      undefined,
      { bar: 2, sizeBytes: 0x4000, address: 0x9000_0000n, trapRanges: [], control },
    ],
  };
}

describe('openFastPath', () => {
  it('rebuilds windows, IRQ line and config port from a structured clone of the descriptor', () => {
    const desc = structuredClone(descriptor());
    const native = new ArrayBuffer(0x4000);
    const fp = openFastPath(desc, { viewFactory: () => native, timeoutMs: 10 });
    expect(fp.bars.map((b) => b?.bar)).toEqual([0, undefined, 2, undefined, undefined, undefined]);
    fp.bar(2).write32(4, 9);
    expect(new Uint32Array(native)[1]).toBe(9);
    fp.bar(0).write8(0, 1);
    expect(new Uint8Array(desc.bars[0]!.buffer!)[0]).toBe(1);
    expect(() => fp.bar(1)).toThrow(expect.objectContaining({ code: 'PT_ERR_NOT_FOUND' }));
    fp.irq.raise(1);
    expect(fp.irq.drain()).toEqual([1]);
    expect(() => fp.config.read32(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_TIMEOUT' }));
    expect(barHolders(desc.control, 0)).toBe(1);
    fp.close();
    fp.close();
    expect(barHolders(desc.control, 0)).toBe(0);
    expect(barHolders(desc.control, 2)).toBe(0);
  });

  it('releases what it opened when a later BAR fails', () => {
    const desc = descriptor(); // BAR2 has an address but no viewFactory is given
    let err: unknown;
    try {
      openFastPath(desc);
    } catch (e) {
      err = e;
    }
    expect(PassthroughError.is(err, 'PT_ERR_INVALID_ARGUMENT')).toBe(true);
    expect((err as PassthroughError).context).toMatchObject({ deviceId: 'dev0', bdf: '0000:01:00.0' });
    expect(barHolders(desc.control, 0)).toBe(0);
  });

  it('refuses a descriptor whose slot and BAR number disagree', () => {
    const desc = descriptor();
    desc.bars = [undefined, desc.bars[0]];
    expect(() => openFastPath(desc)).toThrow(expect.objectContaining({ code: 'PT_ERR_INVALID_ARGUMENT' }));
  });
});

describe('requestUnmap (blocking)', () => {
  it('refuses to block the main thread', () => {
    const control = createDeviceControlBlock();
    expect(() => requestUnmap(control, 0, 10)).toThrow(expect.objectContaining({ code: 'PT_ERR_INVALID_STATE' }));
    expect(isBarMapped(control, 0)).toBe(true);
  });

  it('in a worker, revokes and returns once holders are gone, or times out', async () => {
    const control = createDeviceControlBlock();
    // hold BAR1 from this thread before the worker starts revoking
    const held = BarWindow.open({ bar: 1, sizeBytes: 16, buffer: new SharedArrayBuffer(16), trapRanges: [], control });
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.url).then((fp) => {
         const out = [];
         fp.requestUnmap(workerData.control, 0, 1000); out.push('bar0 ok');
         try { fp.requestUnmap(workerData.control, 1, 30); } catch (e) { out.push(e.code + ' ' + e.context.holders); }
         parentPort.postMessage(out);
       });`,
      { eval: true, workerData: { control, url: new URL('../../../dist/src/fastpath/index.js', import.meta.url).href } },
    );
    const [out] = await once(w, 'message');
    await w.terminate();
    expect(out).toEqual(['bar0 ok', 'PT_ERR_TIMEOUT 1']);
    expect(isBarMapped(control, 0)).toBe(false);
    expect(() => held.read8(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_BAR_RELEASED' }));
  });
});
