/**
 * DeviceIoOps: QEMU's VFIODeviceIOOps in camelCase (include/hw/vfio/vfio-device.h),
 * the table every backend fills (apple over a DextClient, linux over VFIO
 * ioctls). Generic code goes only through this table. Every member is
 * required. Failures throw PassthroughError; `context.errno` carries the
 * `-errno` QEMU's op would have returned.
 */

/**
 * Host view of one mapped memory type (what `IOConnectMapMemory64` returns).
 *
 * `read`/`write` are width-exact host loads/stores the device sees exactly
 * (the slow path). `buffer`, when present, is the plain shared backing store
 * that other threads may view directly (the fast path); ranges listed in
 * `trapRanges` have side effects and must only be reached through read/write.
 * Real backends have no `buffer`: other threads rebuild a view from `address`.
 */
export interface MappedMemory {
  /** Memory type (0–7). */
  readonly type: number;
  /** Host virtual address of the mapping (sim: an address in its simulated host space). */
  readonly address: bigint;
  /** Length of the mapping in bytes (a multiple of the 16 KiB host page). */
  readonly lengthBytes: number;
  /** True when mapped write-combined (prefetchable BARs). */
  readonly writeCombined: boolean;
  /** Plain shared backing store (sim), or undefined for real device memory. */
  readonly buffer: SharedArrayBuffer | undefined;
  /** Byte ranges with side effects: never touched through `buffer`. */
  readonly trapRanges: readonly { offsetBytes: number; lengthBytes: number }[];
  /** Width-exact little-endian load. Throws PT_ERR_OUT_OF_RANGE / PT_ERR_BAD_WIDTH / PT_ERR_ALIGNMENT. */
  read(offsetBytes: number, width: 1 | 2 | 4 | 8): bigint;
  /** Width-exact little-endian store. Same errors as read. */
  write(offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void;
}

/** VFIO region indexes of a PCI device (VFIO_PCI_*_REGION_INDEX). */
export const RegionIndex = {
  BAR0: 0,
  BAR1: 1,
  BAR2: 2,
  BAR3: 3,
  BAR4: 4,
  BAR5: 5,
  ROM: 6,
  CONFIG: 7,
  VGA: 8,
} as const;
/** Number of regions a PCI device reports. */
export const NUM_REGIONS = 9;

/** VFIO IRQ indexes (VFIO_PCI_*_IRQ_INDEX). */
export const IrqIndex = {
  INTX: 0,
  MSI: 1,
  MSIX: 2,
  ERR: 3,
  REQ: 4,
} as const;
/** An IRQ index. */
export type IrqIndexNumber = (typeof IrqIndex)[keyof typeof IrqIndex];
/** Number of IRQ indexes a PCI device reports. */
export const NUM_IRQS = 5;

/** VFIO_DEVICE_FLAGS_*. */
export const DeviceFlags = { RESET: 1 << 0, PCI: 1 << 1 } as const;
/** VFIO_REGION_INFO_FLAG_*. */
export const RegionFlags = { READ: 1 << 0, WRITE: 1 << 1, MMAP: 1 << 2 } as const;
/** VFIO_IRQ_INFO_*. */
export const IrqFlags = { EVENTFD: 1 << 0, MASKABLE: 1 << 1, AUTOMASKED: 1 << 2, NORESIZE: 1 << 3 } as const;

/** VFIO_DEVICE_GET_INFO. */
export interface DeviceInfo {
  /** {@link DeviceFlags} bits. */
  flags: number;
  /** Number of regions (9 for PCI). */
  numRegions: number;
  /** Number of IRQ indexes (5 for PCI). */
  numIrqs: number;
}

/** VFIO_DEVICE_GET_REGION_INFO. */
export interface RegionInfo {
  index: number;
  /** {@link RegionFlags} bits. */
  flags: number;
  /** Region size in bytes. */
  sizeBytes: bigint;
  /** Offset of the region in the device's file (apple: index << 20; linux: index << 40). */
  offset: bigint;
}

/** VFIO_DEVICE_GET_IRQ_INFO. */
export interface IrqInfo {
  index: number;
  /** {@link IrqFlags} bits. */
  flags: number;
  /** Number of vectors. */
  count: number;
}

/** Where interrupts of an index are delivered (what an eventfd is for QEMU). */
export interface IrqSink {
  /** Called once per delivered vector (0 for INTx), lowest vector first within a drain. */
  deliver(vector: number): void;
}

/**
 * A VFIO_DEVICE_SET_IRQS request. `trigger` with count > 0 enables
 * vectors [start, start+count) of `index` and routes them to `sink`;
 * `trigger` with count 0 disables the index. `mask`/`unmask` change the
 * enable mask of those vectors without changing the mode.
 */
export interface IrqSetRequest {
  index: IrqIndexNumber;
  action: 'trigger' | 'mask' | 'unmask';
  start: number;
  count: number;
  /** Required for `trigger` with count > 0. */
  sink?: IrqSink;
}

/** A BAR mapped for the fast path. */
export interface MappedRegion {
  /** Region index (BAR number). */
  index: number;
  /** The host mapping (zero-copy views are rebuilt from it in other threads). */
  memory: MappedMemory;
  /** BAR size as the device reports it (the mapping may be rounded up to a host page). */
  sizeBytes: number;
  /**
   * The mmap windows: the parts of the BAR the fast path may touch directly,
   * already split around the MSI-X table and PBA and rounded to the 16 KiB
   * host page (QEMU's mmaps[]). May be empty (the BAR is still mapped for the slow path).
   */
  windows: readonly { offsetBytes: number; lengthBytes: number }[];
}

/**
 * The interrupt source of a device: the backend's own wakeup mechanism
 * (apple: the one-shot WaitInterrupt + CheckInterrupt drain; linux: eventfds).
 * The IRQ pump calls {@link next} in a loop; each step drains what is pending
 * and delivers it to the sinks installed by setIrqs.
 */
export interface InterruptSource {
  /** Waits without blocking the thread, then drains and delivers; resolves with the number of vectors delivered (0 when woken or closed). */
  next(): Promise<number>;
  /**
   * Blocking variant for a dedicated pump thread (native poll / mach wait).
   * Returns the number delivered, 0 on timeout or wake. timeoutMs is finite.
   * Undefined when the backend has no blocking wait.
   */
  nextSync: ((timeoutMs: number) => number) | undefined;
  /** Wakes a pending next()/nextSync() (it returns 0). Safe from any point; idempotent. */
  wake(): void;
  /** Stops the source; pending and later waits return 0. Idempotent. */
  close(): void;
}

/**
 * The device I/O table. Mirrors VFIODeviceIOOps (`device_feature` left out:
 * it is a -ENOTTY stub in the seed).
 */
export interface DeviceIoOps {
  /**
   * getRegionInfo - describe a region.
   * @param index region index 0–8
   * @returns size, flags and file offset
   * Throws PT_ERR_INVALID_ARGUMENT (errno EINVAL) for an index past the last region.
   */
  getRegionInfo(index: number): RegionInfo;
  /**
   * getIrqInfo - describe an IRQ index.
   * @param index irq index 0–4
   * Throws PT_ERR_INVALID_ARGUMENT (EINVAL) for an unknown index.
   */
  getIrqInfo(index: number): IrqInfo;
  /**
   * setIrqs - configure interrupt delivery and masking for an index.
   * @param request see {@link IrqSetRequest}
   */
  setIrqs(request: IrqSetRequest): void;
  /**
   * deviceReset - reset the function (apple: FLR then hot reset).
   * Throws PT_ERR_NO_CONNECTION (ENODEV) without a connection, PT_ERR_IO (EIO) when the reset fails.
   */
  deviceReset(): void;
  /**
   * regionRead - the slow path: read `sizeBytes` at `offsetBytes` of a region.
   * @param index region index (BAR0–5 or CONFIG)
   * @param offsetBytes byte offset inside the region
   * @param sizeBytes BAR: 1, 2, 4 or 8; CONFIG: any size (block read, zero-filled past 4096)
   * @returns the bytes read, little endian
   */
  regionRead(index: number, offsetBytes: number, sizeBytes: number): Uint8Array;
  /**
   * regionWrite - the slow path: write `data` at `offsetBytes` of a region.
   * @returns the number of bytes accepted (config writes that are dropped still count)
   */
  regionWrite(index: number, offsetBytes: number, data: Uint8Array): number;
  /**
   * configRead - one config-space read of 1, 2 or 4 bytes as a number: the
   * form the synchronous paths use (ConfigPort, the device layer), so a value
   * never turns into bytes and back. Same rules and errors as
   * regionRead(CONFIG, …) (EINVAL at or past 4096).
   */
  configRead(offsetBytes: number, width: 1 | 2 | 4): number;
  /** configWrite - one config-space write of 1, 2 or 4 bytes, through the backend's write filter. */
  configWrite(offsetBytes: number, width: 1 | 2 | 4, value: number): void;
  /**
   * hostConfigWrite - a config write by the host side, not the guest: the
   * device worker turning the enable bits of the interrupt capability it
   * owns on and off when setIrqs switches modes. It bypasses the guest
   * write filter (the config-write safety rule drops guest writes to the
   * MSI capability); the apple ops send it as one selector-9 write, as the
   * dext's ConfigureInterrupts programs the capability itself. Where the
   * kernel owns the capability (linux: vfio-pci virtualizes it) it is
   * configWrite. Same range checks and errors as configWrite.
   */
  hostConfigWrite(offsetBytes: number, width: 1 | 2 | 4, value: number): void;
  /**
   * barRead - one width-exact slow-path load from a mapped BAR (the trapped
   * ranges: MSI-X table, PBA). Same rules and errors as regionRead(bar, …).
   */
  barRead(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8): bigint;
  /** barWrite - one width-exact slow-path store to a mapped BAR. */
  barWrite(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void;
  /**
   * regionMap - map a BAR for the fast path.
   * @returns the mapping, or undefined when the seed maps nothing (size 0, I/O BAR,
   *   upper half of a 64-bit BAR, not a BAR, already mapped)
   * Throws PT_ERR_IO (EIO) when the map call fails.
   */
  regionMap(index: number): MappedRegion | undefined;
  /**
   * regionUnmap - unmap a BAR mapped by regionMap. The caller must have made
   * sure no thread still holds a view of it (BarWindow release).
   */
  regionUnmap(index: number): void;
}
