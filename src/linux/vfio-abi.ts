/**
 * The Linux VFIO user ABI (<linux/vfio.h>, kernel 6.1): ioctl numbers, flag
 * values and the structs the linux backend passes to ioctl(), packed by hand
 * into Uint8Arrays (little endian, natural alignment, as x86-64 and arm64
 * lay them out). Pure: no koffi, no I/O, so it is unit-tested anywhere.
 *
 * Layouts (bytes):
 * - vfio_group_status        8: argsz u32, flags u32
 * - vfio_device_info        16: argsz, flags, num_regions, num_irqs (cap_offset/pad left out: minsz is 16)
 * - vfio_region_info        32: argsz, flags, index, cap_offset, size u64 @16, offset u64 @24
 * - vfio_irq_info           16: argsz, flags, index, count
 * - vfio_irq_set            20 + 4 per eventfd: argsz, flags, index, start, count, data[]
 * - vfio_iommu_type1_info   16: argsz, flags, iova_pgsizes u64 @8 (caps left out: minsz is 16)
 * - vfio_iommu_type1_dma_map   32: argsz, flags, vaddr u64 @8, iova u64 @16, size u64 @24
 * - vfio_iommu_type1_dma_unmap 24: argsz, flags, iova u64 @8, size u64 @16
 * - struct pollfd            8: fd i32, events i16, revents i16
 */

/** `_IO(VFIO_TYPE, VFIO_BASE + n)` with VFIO_TYPE ';' (0x3b) and VFIO_BASE 100. */
export function vfioIo(n: number): number {
  return (0x3b << 8) | (100 + n);
}

/** ioctl request numbers. */
export const VfioIoctl = {
  GET_API_VERSION: vfioIo(0),
  CHECK_EXTENSION: vfioIo(1),
  SET_IOMMU: vfioIo(2),
  GROUP_GET_STATUS: vfioIo(3),
  GROUP_SET_CONTAINER: vfioIo(4),
  GROUP_UNSET_CONTAINER: vfioIo(5),
  GROUP_GET_DEVICE_FD: vfioIo(6),
  DEVICE_GET_INFO: vfioIo(7),
  DEVICE_GET_REGION_INFO: vfioIo(8),
  DEVICE_GET_IRQ_INFO: vfioIo(9),
  DEVICE_SET_IRQS: vfioIo(10),
  DEVICE_RESET: vfioIo(11),
  /** Same number as DEVICE_GET_PCI_HOT_RESET_INFO (different fd type). */
  IOMMU_GET_INFO: vfioIo(12),
  IOMMU_MAP_DMA: vfioIo(13),
  IOMMU_UNMAP_DMA: vfioIo(14),
} as const;

/** VFIO_API_VERSION. */
export const VFIO_API_VERSION = 0;

/** IOMMU types / extensions (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
export const VfioIommuType = {
  TYPE1: 1,
  TYPE1v2: 3,
  NOIOMMU: 8,
} as const;
/** VFIO_GROUP_FLAGS_*. */
export const GroupFlags = { VIABLE: 1 << 0, CONTAINER_SET: 1 << 1 } as const;

/** VFIO_IRQ_SET_* flags. */
export const IrqSetFlags = {
  DATA_NONE: 1 << 0,
  DATA_BOOL: 1 << 1,
  DATA_EVENTFD: 1 << 2,
  ACTION_MASK: 1 << 3,
  ACTION_UNMASK: 1 << 4,
  ACTION_TRIGGER: 1 << 5,
} as const;

/** VFIO_DMA_MAP_FLAG_*. */
export const DmaMapFlags = { READ: 1 << 0, WRITE: 1 << 1 } as const;

/** Region offsets in the device fd: index << 40 (VFIO_PCI_INDEX_TO_OFFSET in vfio-pci). */
export const VFIO_PCI_OFFSET_SHIFT = 40n;

/** Struct sizes in bytes. */
export const StructSize = {
  groupStatus: 8,
  deviceInfo: 16,
  regionInfo: 32,
  irqInfo: 16,
  irqSetHeader: 20,
  iommuType1Info: 16,
  dmaMap: 32,
  dmaUnmap: 24,
  pollfd: 8,
} as const;

/** libc constants the backend uses (Linux, x86-64 and arm64 agree on these). */
export const Libc = {
  O_RDWR: 0o2,
  O_CLOEXEC: 0o2000000,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
  O_NONBLOCK: 0o4000,
  F_GETFL: 3,
  F_SETFL: 4,
  POLLIN: 1,
  MAP_FAILED: 0xffff_ffff_ffff_ffffn,
} as const;

function u32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}
function u64(buf: Uint8Array, off: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  u32(buf, off, Number(x & 0xffff_ffffn));
  u32(buf, off + 4, Number(x >> 32n));
}
/** Reads a little-endian u32 at `off`. */
export function getU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}
/** Reads a little-endian u64 at `off`. */
export function getU64(buf: Uint8Array, off: number): bigint {
  return BigInt(getU32(buf, off)) | (BigInt(getU32(buf, off + 4)) << 32n);
}
/** Writes a little-endian u32 at `off`. */
export const putU32 = u32;
/** Writes a little-endian u64 at `off`. */
export const putU64 = u64;

/** A struct with only `argsz` filled in (group_status, device_info, iommu_type1_info). */
export function packArgsz(sizeBytes: number): Uint8Array {
  const b = new Uint8Array(sizeBytes);
  u32(b, 0, sizeBytes);
  return b;
}

/** vfio_region_info for `index`. */
export function packRegionInfo(index: number): Uint8Array {
  const b = packArgsz(StructSize.regionInfo);
  u32(b, 8, index);
  return b;
}
/** Decoded vfio_region_info. */
export function unpackRegionInfo(b: Uint8Array): { index: number; flags: number; sizeBytes: bigint; offset: bigint } {
  return { flags: getU32(b, 4), index: getU32(b, 8), sizeBytes: getU64(b, 16), offset: getU64(b, 24) };
}

/** vfio_irq_info for `index`. */
export function packIrqInfo(index: number): Uint8Array {
  const b = packArgsz(StructSize.irqInfo);
  u32(b, 8, index);
  return b;
}
/** Decoded vfio_irq_info. */
export function unpackIrqInfo(b: Uint8Array): { index: number; flags: number; count: number } {
  return { flags: getU32(b, 4), index: getU32(b, 8), count: getU32(b, 12) };
}

/** Decoded vfio_device_info. */
export function unpackDeviceInfo(b: Uint8Array): { flags: number; numRegions: number; numIrqs: number } {
  return { flags: getU32(b, 4), numRegions: getU32(b, 8), numIrqs: getU32(b, 12) };
}

/**
 * vfio_irq_set. With `eventfds` the data is DATA_EVENTFD (one i32 per vector,
 * -1 de-assigns that vector); without, DATA_NONE.
 * @param action one of IrqSetFlags.ACTION_*
 */
export function packIrqSet(index: number, action: number, start: number, count: number, eventfds?: readonly number[]): Uint8Array {
  const n = eventfds === undefined ? 0 : eventfds.length;
  const size = StructSize.irqSetHeader + 4 * n;
  const b = packArgsz(size);
  u32(b, 4, action | (eventfds === undefined ? IrqSetFlags.DATA_NONE : IrqSetFlags.DATA_EVENTFD));
  u32(b, 8, index);
  u32(b, 12, start);
  u32(b, 16, count);
  for (let i = 0; i < n; i++) u32(b, 20 + 4 * i, eventfds![i]! >>> 0);
  return b;
}

/** vfio_iommu_type1_dma_map. */
export function packDmaMap(vaddr: bigint, iova: bigint, sizeBytes: bigint, flags: number): Uint8Array {
  const b = packArgsz(StructSize.dmaMap);
  u32(b, 4, flags);
  u64(b, 8, vaddr);
  u64(b, 16, iova);
  u64(b, 24, sizeBytes);
  return b;
}

/** vfio_iommu_type1_dma_unmap. */
export function packDmaUnmap(iova: bigint, sizeBytes: bigint): Uint8Array {
  const b = packArgsz(StructSize.dmaUnmap);
  u64(b, 8, iova);
  u64(b, 16, sizeBytes);
  return b;
}

/** An array of struct pollfd, all with events = POLLIN. */
export function packPollfds(fds: readonly number[]): Uint8Array {
  const b = new Uint8Array(StructSize.pollfd * fds.length);
  for (let i = 0; i < fds.length; i++) {
    u32(b, i * 8, fds[i]! >>> 0);
    b[i * 8 + 4] = Libc.POLLIN;
  }
  return b;
}

/** File offset of region `index` in a vfio-pci device fd. */
export function regionOffset(index: number): bigint {
  return BigInt(index) << VFIO_PCI_OFFSET_SHIFT;
}
