import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { DmaMap, type DmaControl, type DmaControlRequest } from '../../../src/fastpath/index.js';
import type { Iova } from '../../../src/types.js';

function fakeControl() {
  const requests: DmaControlRequest[] = [];
  const unmapped: bigint[] = [];
  let next = 0x1000_0000n;
  let failUnmap = false;
  const control: DmaControl = {
    async dmaMap(req) {
      requests.push(req);
      const key = (req.iova ?? next) as Iova;
      next += 0x10_0000n;
      return { key, busAddr: (key + 0x8000_0000n) as Iova, sizeBytes: BigInt(req.lengthBytes) };
    },
    async dmaUnmap(key) {
      if (failUnmap) throw new PassthroughError('PT_ERR_IO', 'unmap failed', { iova: key });
      unmapped.push(key);
    },
  };
  return { control, requests, unmapped, setFailUnmap: (v: boolean) => (failUnmap = v) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'none',
    (e: PassthroughError) => e.code,
  );
}

describe('DmaMap', () => {
  it('maps a SharedArrayBuffer or a part of it and lists live mappings', async () => {
    const { control, requests } = fakeControl();
    const dma = new DmaMap(control);
    const ram = new SharedArrayBuffer(0x10000);
    const a = await dma.map(ram);
    const b = await dma.map(ram, { offsetBytes: 0x4000, lengthBytes: 0x4000, iova: 0x2000_0000n, readonly: true });
    expect(a.sizeBytes).toBe(0x10000n);
    expect(b).toEqual({ key: 0x2000_0000n, busAddr: 0xa000_0000n, sizeBytes: 0x4000n });
    expect(requests[1]).toMatchObject({ offsetBytes: 0x4000, lengthBytes: 0x4000, iova: 0x2000_0000n, readonly: true });
    expect(dma.list().map((e) => e.key)).toEqual([a.key, b.key]);
  });

  it('maps a native range', async () => {
    const { control, requests } = fakeControl();
    const e = await new DmaMap(control).map({ address: 0x7000_0000n, lengthBytes: 0x4000 });
    expect(e.sizeBytes).toBe(0x4000n);
    expect(requests[0]!.memory).toEqual({ address: 0x7000_0000n, lengthBytes: 0x4000 });
  });

  it('validates ranges and IOVAs before calling the control', async () => {
    const { control, requests } = fakeControl();
    const dma = new DmaMap(control);
    const ram = new SharedArrayBuffer(0x1000);
    expect(await codeOf(dma.map(ram, { offsetBytes: 0x800, lengthBytes: 0x1000 }))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(await codeOf(dma.map(ram, { lengthBytes: 0 }))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(await codeOf(dma.map(ram, { offsetBytes: -1 }))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(await codeOf(dma.map(ram, { offsetBytes: 0x1000 }))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(await codeOf(dma.map(ram, { iova: -1n }))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(await codeOf(dma.map(new ArrayBuffer(16) as unknown as SharedArrayBuffer))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(requests).toEqual([]);
  });

  it('refuses unknown keys and double unmaps with PT_ERR_NOT_FOUND', async () => {
    const { control, unmapped } = fakeControl();
    const dma = new DmaMap(control);
    const e = await dma.map(new SharedArrayBuffer(0x1000));
    const first = dma.unmap(e.key);
    expect(await codeOf(dma.unmap(e.key))).toBe('PT_ERR_NOT_FOUND'); // while the first is in flight
    await first;
    expect(await codeOf(dma.unmap(e.key))).toBe('PT_ERR_NOT_FOUND');
    expect(await codeOf(dma.unmap(0x1234n))).toBe('PT_ERR_NOT_FOUND');
    expect(unmapped).toEqual([e.key]);
    expect(dma.list()).toEqual([]);
  });

  it('keeps a mapping listed when the control fails to unmap it', async () => {
    const f = fakeControl();
    const dma = new DmaMap(f.control);
    const e = await dma.map(new SharedArrayBuffer(0x1000));
    f.setFailUnmap(true);
    expect(await codeOf(dma.unmap(e.key))).toBe('PT_ERR_IO');
    expect(dma.list()).toHaveLength(1);
  });
});
