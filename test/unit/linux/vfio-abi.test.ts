import { describe, expect, it } from 'vitest';
import {
  getU32,
  getU64,
  IrqSetFlags,
  packDmaMap,
  packDmaUnmap,
  packIrqSet,
  packPollfds,
  packRegionInfo,
  regionOffset,
  StructSize,
  unpackRegionInfo,
  VfioIoctl,
  vfioIo,
} from '../../../src/linux/vfio-abi.js';

describe('VFIO ioctl numbers (<linux/vfio.h>: _IO(";", 100 + n))', () => {
  it('match the values checked against the kernel header', () => {
    expect(VfioIoctl).toMatchObject({
      GET_API_VERSION: 0x3b64,
      CHECK_EXTENSION: 0x3b65,
      SET_IOMMU: 0x3b66,
      GROUP_GET_STATUS: 0x3b67,
      GROUP_SET_CONTAINER: 0x3b68,
      GROUP_UNSET_CONTAINER: 0x3b69,
      GROUP_GET_DEVICE_FD: 0x3b6a,
      DEVICE_GET_INFO: 0x3b6b,
      DEVICE_GET_REGION_INFO: 0x3b6c,
      DEVICE_GET_IRQ_INFO: 0x3b6d,
      DEVICE_SET_IRQS: 0x3b6e,
      DEVICE_RESET: 0x3b6f,
      IOMMU_GET_INFO: 0x3b70,
      IOMMU_MAP_DMA: 0x3b71,
      IOMMU_UNMAP_DMA: 0x3b72,
    });
    expect(vfioIo(0)).toBe(0x3b64);
  });
});

describe('struct packing', () => {
  it('vfio_region_info is 32 bytes: argsz, flags, index, cap_offset, size@16, offset@24', () => {
    const b = packRegionInfo(7);
    expect(b.length).toBe(32);
    expect(getU32(b, 0)).toBe(32);
    expect(getU32(b, 8)).toBe(7);
    // what the kernel writes back for config space
    b.set([0x03, 0, 0, 0], 4);
    b.set([0, 1, 0, 0, 0, 0, 0, 0], 16);
    b.set([0, 0, 0, 0, 0, 0x07, 0, 0], 24);
    expect(unpackRegionInfo(b)).toEqual({ index: 7, flags: 3, sizeBytes: 0x100n, offset: 0x70000000000n });
    expect(regionOffset(7)).toBe(0x70000000000n);
  });

  it('vfio_irq_set is 20 bytes + 4 per eventfd, with DATA_EVENTFD or DATA_NONE', () => {
    const b = packIrqSet(1, IrqSetFlags.ACTION_TRIGGER, 0, 2, [5, 9]);
    expect(b.length).toBe(28);
    expect([getU32(b, 0), getU32(b, 4), getU32(b, 8), getU32(b, 12), getU32(b, 16), getU32(b, 20), getU32(b, 24)]).toEqual([
      28, 0x24, 1, 0, 2, 5, 9,
    ]);
    const none = packIrqSet(0, IrqSetFlags.ACTION_UNMASK, 0, 1);
    expect(none.length).toBe(StructSize.irqSetHeader);
    expect(getU32(none, 4)).toBe(0x11);
    // -1 de-assigns a vector: stored as 0xffffffff
    expect(getU32(packIrqSet(1, IrqSetFlags.ACTION_TRIGGER, 0, 1, [-1]), 20)).toBe(0xffffffff);
  });

  it('vfio_iommu_type1_dma_map is 32 bytes and dma_unmap 24, u64 fields little endian', () => {
    const m = packDmaMap(0x7f00_1234_5000n, 0x10_0000n, 0x2000n, 3);
    expect(m.length).toBe(32);
    expect([getU32(m, 0), getU32(m, 4)]).toEqual([32, 3]);
    expect([getU64(m, 8), getU64(m, 16), getU64(m, 24)]).toEqual([0x7f00_1234_5000n, 0x10_0000n, 0x2000n]);
    const u = packDmaUnmap(0x10_0000n, 0x2000n);
    expect(u.length).toBe(24);
    expect([getU32(u, 0), getU64(u, 8), getU64(u, 16)]).toEqual([24, 0x10_0000n, 0x2000n]);
  });

  it('struct pollfd arrays: fd i32, events = POLLIN, revents zero', () => {
    const p = packPollfds([3, 1000]);
    expect(p.length).toBe(16);
    expect([getU32(p, 0), p[4], p[6], getU32(p, 8), p[12]]).toEqual([3, 1, 0, 1000, 1]);
  });
});
