/**
 * The backend-neutral device layer above {@link DeviceIoOps} (QEMU
 * hw/vfio/device.c + the PCI bits of cloud-hypervisor's VfioCommon):
 * a region-info cache, config access by width, capability parsing, the
 * mmap windows of each BAR and interrupt enabling expressed as setIrqs
 * calls. Backends implement only the ops table.
 */
import { PassthroughError } from '../errors.js';
import {
  IrqIndex,
  RegionFlags,
  RegionIndex,
  type DeviceIoOps,
  type IrqIndexNumber,
  type IrqInfo,
  type IrqSink,
  type RegionInfo,
} from './device-io-ops.js';
import {
  barWindows,
  parseInterruptCapabilities,
  type BarWindowRange,
  type InterruptCapabilities,
  type MsiCapability,
  type MsixCapability,
  WINDOW_PAGE_BYTES,
} from './pci-caps.js';

/** Options of {@link VfioDevice}. */
export interface VfioDeviceOptions {
  /** Host page the BAR windows are rounded to (default 16 KiB). */
  pageBytes?: number;
}

/** Interrupt modes in order of preference. */
const MODE_PREFERENCE: readonly IrqIndexNumber[] = [IrqIndex.MSIX, IrqIndex.MSI, IrqIndex.INTX];

/** A device seen through its ops table. */
export class VfioDevice {
  /** The table every access goes through. */
  readonly ops: DeviceIoOps;
  readonly #regions = new Map<number, RegionInfo>();
  readonly #pageBytes: number;
  #caps: InterruptCapabilities | undefined;

  constructor(ops: DeviceIoOps, options: VfioDeviceOptions = {}) {
    this.ops = ops;
    this.#pageBytes = options.pageBytes ?? WINDOW_PAGE_BYTES;
  }

  /** Region info, cached: a repeated query costs no op call (vfio_device_get_region_info). */
  regionInfo(index: number): RegionInfo {
    let info = this.#regions.get(index);
    if (info === undefined) {
      info = this.ops.getRegionInfo(index);
      this.#regions.set(index, info);
    }
    return info;
  }

  /** Drops the region-info cache (after a reset that may change BAR sizes). */
  invalidateRegionInfo(): void {
    this.#regions.clear();
  }

  /** IRQ info (not cached: MSI-X size appears after parsing). */
  irqInfo(index: number): IrqInfo {
    return this.ops.getIrqInfo(index);
  }

  #readConfig(offsetBytes: number, width: 1 | 2 | 4): number {
    return this.ops.configRead(offsetBytes, width);
  }

  #writeConfig(offsetBytes: number, width: 1 | 2 | 4, value: number): void {
    this.ops.configWrite(offsetBytes, width, value);
  }

  /** One config byte. */
  readConfig8(offsetBytes: number): number {
    return this.#readConfig(offsetBytes, 1);
  }
  /** One config word (16 bits, little endian). */
  readConfig16(offsetBytes: number): number {
    return this.#readConfig(offsetBytes, 2);
  }
  /** One config dword (32 bits, little endian, unsigned). */
  readConfig32(offsetBytes: number): number {
    return this.#readConfig(offsetBytes, 4);
  }
  /** Writes one config byte (the backend's filter applies). */
  writeConfig8(offsetBytes: number, value: number): void {
    this.#writeConfig(offsetBytes, 1, value);
  }
  /** Writes one config word. */
  writeConfig16(offsetBytes: number, value: number): void {
    this.#writeConfig(offsetBytes, 2, value);
  }
  /** Writes one config dword. */
  writeConfig32(offsetBytes: number, value: number): void {
    this.#writeConfig(offsetBytes, 4, value);
  }

  /** The capability list with MSI and MSI-X parsed (read once, then cached). */
  capabilities(): InterruptCapabilities {
    if (this.#caps === undefined) this.#caps = parseInterruptCapabilities((off, w) => this.#readConfig(off, w));
    return this.#caps;
  }

  /** The MSI capability, if any. */
  msi(): MsiCapability | undefined {
    return this.capabilities().msi;
  }

  /** The MSI-X capability, if any. */
  msix(): MsixCapability | undefined {
    return this.capabilities().msix;
  }

  /**
   * The mmap windows of BAR `bar`: the whole BAR split around the MSI-X
   * table and PBA, rounded out to the host page. [] for a BAR without MMAP
   * or of size 0.
   */
  barWindows(bar: number): BarWindowRange[] {
    if (!Number.isInteger(bar) || bar < RegionIndex.BAR0 || bar > RegionIndex.BAR5) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `BAR ${bar} is not 0–5`, { region: bar });
    }
    const info = this.regionInfo(bar);
    if ((info.flags & RegionFlags.MMAP) === 0 || info.sizeBytes === 0n) return [];
    return barWindows(bar, Number(info.sizeBytes), this.msix(), this.#pageBytes);
  }

  /** The best interrupt mode the device offers: MSI-X > MSI > INTx, or undefined when it has none. */
  bestIrqIndex(): IrqIndexNumber | undefined {
    return MODE_PREFERENCE.find((index) => this.irqInfo(index).count > 0);
  }

  /**
   * Enables every vector of `index` (default: the best mode) routed to
   * `sink`: one setIrqs trigger for [0, count). Returns the index and count.
   * Throws PT_ERR_NOT_SUPPORTED when the chosen mode has no vectors.
   */
  enableInterrupts(sink: IrqSink, index?: IrqIndexNumber): { index: IrqIndexNumber; count: number } {
    const chosen = index ?? this.bestIrqIndex();
    const count = chosen === undefined ? 0 : this.irqInfo(chosen).count;
    if (chosen === undefined || count === 0) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'device has no interrupt vectors in the requested mode', {
        irqIndex: index,
      });
    }
    this.ops.setIrqs({ index: chosen, action: 'trigger', start: 0, count, sink });
    return { index: chosen, count };
  }

  /** Disables an interrupt index (setIrqs trigger with count 0). */
  disableInterrupts(index: IrqIndexNumber): void {
    this.ops.setIrqs({ index, action: 'trigger', start: 0, count: 0 });
  }
}
