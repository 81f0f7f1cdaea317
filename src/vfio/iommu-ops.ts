/**
 * IommuOps: QEMU's VFIOIOMMUClass members in camelCase
 * (include/hw/vfio/vfio-container-base.h). One implementation per backend
 * (apple over RegisterDMARegion/UnregisterDMARegion, linux over type1 MAP_DMA).
 * Every member is required.
 */
import type { Bdf, HostVa, Iova } from '../types.js';
import type { DeviceInfo, DeviceIoOps, InterruptSource } from './device-io-ops.js';

/** A DMA mapping request. */
export interface DmaMapRequest {
  /**
   * The IOVA the caller wants (linux type1 maps exactly there; apple uses it
   * as the registry key, the GPA in the seed). Undefined: the container picks.
   */
  iova?: Iova;
  /** Host address of the memory (from the backend's exposeHostMemory, or a native address). */
  hostVa: HostVa;
  /** Length in bytes (> 0). */
  sizeBytes: bigint;
  /** Map read-only for the device. */
  readonly?: boolean;
}

/** One contiguous piece of a DMA mapping as the device sees it. */
export interface DmaBusRange {
  /** Where the piece starts in the mapped memory, in bytes from its start. */
  offsetBytes: bigint;
  /** The bus address of the piece's first byte. */
  busAddr: Iova;
  /** Length of the piece in bytes. */
  sizeBytes: bigint;
}

/**
 * The result of a DMA map. One mapping may reach the device as several bus
 * ranges: the apple container registers memory larger than one dext chunk
 * (1.5 GiB) chunk by chunk, and the DART does not promise that the chunks'
 * bus ranges are adjacent. `ranges` then lists every piece in memory order
 * (their sizes add up to `sizeBytes`); without `ranges` the mapping is the
 * one range `[busAddr, busAddr + sizeBytes)` (linux type1: IOVA = key).
 */
export interface DmaMapping {
  /** The key the mapping is known by (pass it to dmaUnmap). */
  key: Iova;
  /** The bus address of the first byte (apple: chunk 0's DART address; linux: = key). */
  busAddr: Iova;
  /** Bytes mapped. */
  sizeBytes: bigint;
  /** Every bus range of the mapping, in memory order, when there is more than one way to say it. */
  ranges?: readonly DmaBusRange[];
}

/** What attachDevice hands back: the device's I/O table and interrupt source. */
export interface AttachedDevice {
  readonly bdf: Bdf;
  /** QEMU-style name (`apple-DDDD:BB:SS.F` on the apple backend). */
  readonly name: string;
  /** VFIO_DEVICE_GET_INFO. */
  readonly info: DeviceInfo;
  /** The device I/O table. */
  readonly ops: DeviceIoOps;
  /** Where the IRQ pump waits. */
  readonly interrupts: InterruptSource;
}

/** The container table. */
export interface IommuOps {
  /**
   * setup - prepare the container (page sizes, limits).
   * @returns host page sizes the container maps at, in bytes
   */
  setup(): { pageSizesBytes: number[]; maxMappings: number };
  /**
   * dmaMap - make host memory reachable by the device.
   * Throws PT_ERR_STILL_OPEN for a live key, PT_ERR_NO_SPACE, PT_ERR_NOT_ALIGNED, PT_ERR_BAD_ARGUMENT.
   */
  dmaMap(request: DmaMapRequest): DmaMapping;
  /**
   * dmaUnmap - undo a dmaMap by key. Throws PT_ERR_NOT_FOUND for an unknown key.
   */
  dmaUnmap(key: Iova): void;
  /**
   * attachDevice - connect, claim and publish the function, then set up its
   * interrupts (spec §7 rule 12). Each failed step undoes the earlier ones.
   */
  attachDevice(bdf: Bdf): AttachedDevice;
  /**
   * detachDevice - device cleanup, unprepare, disconnect (rule 12 Detach).
   * Idempotent.
   */
  detachDevice(bdf: Bdf): void;
  /**
   * setDirtyPageTracking - migration support. Apple: throws PT_ERR_NOT_SUPPORTED
   * "vfio-apple does not support migration" (ENOTSUP).
   */
  setDirtyPageTracking(start: boolean): void;
  /**
   * queryDirtyBitmap - migration support. Apple: throws PT_ERR_NOT_SUPPORTED (ENOTSUP).
   */
  queryDirtyBitmap(iova: Iova, sizeBytes: bigint): Uint8Array;
}
