/**
 * hostControlForHandle: the host function's interrupt mode switched through
 * the VFIO-level view (the other modes disabled first, then exactly
 * [0, vectors) of the mode enabled, capped by what the function offers, the
 * `switched` report in between), reset and DMA passed to the handle. (test/unit/guest/sim-devices.test.ts
 * drives it against real sim workers.)
 */
import { describe, expect, it } from 'vitest';
import { hostControlForHandle } from '../../../src/guest/handle-control.js';
import type { VfioIrqRequest } from '../../../src/index.js';

function setup(counts: Record<number, number> = { 0: 1, 1: 8, 2: 16 }) {
  const calls: string[] = [];
  const info = { irqMode: 'msix', irqVectors: 16 } as { irqMode: string; irqVectors: number };
  const names = ['intx', 'msi', 'msix'];
  const handle = {
    bdf: '0000:02:00.0',
    info,
    vfio: {
      irqInfo: async (index: number) => ({ index, flags: 1, count: counts[index] ?? 0 }),
      setIrqs: async (r: VfioIrqRequest) => {
        calls.push(`${names[r.index]} ${r.start}+${r.count}`);
        if (r.count === 0) {
          if (info.irqMode === names[r.index]) Object.assign(info, { irqMode: 'none', irqVectors: 0 });
        } else Object.assign(info, { irqMode: names[r.index], irqVectors: r.start + r.count });
      },
    },
    reset: async () => void calls.push('reset'),
    dma: {
      map: async (mem: SharedArrayBuffer, opts: { iova?: bigint }) => {
        calls.push(`map ${mem.byteLength} @0x${opts.iova!.toString(16)}`);
        return { key: opts.iova!, busAddr: opts.iova! + 0x1000n, sizeBytes: BigInt(mem.byteLength) };
      },
      unmap: async (key: bigint) => void calls.push(`unmap 0x${key.toString(16)}`),
    },
  };
  const control = hostControlForHandle(handle as unknown as Parameters<typeof hostControlForHandle>[0]);
  return { control, calls, info };
}

describe('hostControlForHandle', () => {
  it('switches the host between MSI-X, INTx and MSI with VFIO setIrqs, the old mode off first; adds vectors without a gap', async () => {
    const { control, calls, info } = setup();
    await control.setIrqs('intx', 1);
    expect(calls.splice(0)).toEqual(['msix 0+0', 'intx 0+1']);
    await control.setIrqs('msi', 2);
    expect(calls.splice(0)).toEqual(['intx 0+0', 'msi 0+2']);
    await control.setIrqs('msi', 6); // more vectors in the same mode: only the missing ones
    expect(calls.splice(0)).toEqual(['msi 2+4']);
    await control.setIrqs('msi', 1); // fewer: nothing to do (extra host vectors are harmless)
    expect(calls.splice(0)).toEqual([]);
    await control.setIrqs('none', 0); // the host stays enabled: no window when the guest turns it back on
    expect(calls.splice(0)).toEqual([]);
    expect(info).toEqual({ irqMode: 'msi', irqVectors: 6 });
    await control.setIrqs('msix', 64); // capped by what the function offers
    expect(calls.splice(0)).toEqual(['msi 0+0', 'msix 0+16']);
  });

  it("reports `switched` between the old mode's disable and the new one's enable; at once when there is no switch; never for 'none'", async () => {
    const { control, calls } = setup();
    const switched = () => void calls.push('switched');
    await control.setIrqs('intx', 1, switched);
    expect(calls.splice(0)).toEqual(['msix 0+0', 'switched', 'intx 0+1']);
    await control.setIrqs('intx', 1, switched);
    expect(calls.splice(0)).toEqual(['switched']);
    await control.setIrqs('none', 0, switched);
    expect(calls.splice(0)).toEqual([]);
  });

  it('refuses a mode the function does not have, touching nothing', async () => {
    const { control, calls } = setup({ 0: 1, 1: 1 });
    await expect(control.setIrqs('msix', 4)).rejects.toMatchObject({ code: 'PT_ERR_NOT_SUPPORTED' });
    expect(calls).toEqual([]);
  });

  it('passes reset and DMA to the handle', async () => {
    const { control, calls } = setup();
    await control.reset('flr');
    expect(await control.dmaMap(new SharedArrayBuffer(0x2000), 0x10_0000n)).toEqual({ key: 0x10_0000n, busAddr: 0x10_1000n, sizeBytes: 0x2000n });
    await control.dmaUnmap(0x10_0000n);
    expect(calls).toEqual(['reset', 'map 8192 @0x100000', 'unmap 0x100000']);
  });
});
