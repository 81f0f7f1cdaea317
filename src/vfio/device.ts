/**
 * The backend-neutral device layer above {@link DeviceIoOps} (QEMU
 * hw/vfio/device.c + the PCI bits of cloud-hypervisor's VfioCommon):
 * a region-info cache, config access by width, capability parsing, the
 * mmap windows of each BAR and interrupt enabling expressed as setIrqs
 * calls. Backends implement only the ops table.
 */
import { PassthroughError } from '../errors.js';
import { Cfg } from '../pci/config-space.js';
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

/** An interrupt mode a caller may ask for. */
export type InterruptMode = 'msix' | 'msi' | 'intx';

/** Interrupt modes in order of preference. */
const MODE_PREFERENCE: readonly InterruptMode[] = ['msix', 'msi', 'intx'];
const MODE_INDEX: Readonly<Record<InterruptMode, IrqIndexNumber>> = { msix: IrqIndex.MSIX, msi: IrqIndex.MSI, intx: IrqIndex.INTX };
const MODE_NAME: Readonly<Record<InterruptMode, string>> = { msix: 'MSI-X', msi: 'MSI', intx: 'INTx' };

/**
 * Vectors the function offers in each mode (0: not offered). What QEMU's
 * pci.c decides on the same ops: MSI-X only with an MSI-X capability, MSI
 * only with an MSI capability, INTx only with an interrupt pin 1–4.
 */
export interface InterruptOffer {
  /** min(getIrqInfo(MSIX).count, table size); 0 without an MSI-X capability. */
  msix: number;
  /** min(getIrqInfo(MSI).count, 1 << Multiple Message Capable); 0 without an MSI capability. */
  msi: number;
  /** 1 with an interrupt pin 1–4 (and an INTx index that has a vector), else 0 (spec rule 16). */
  intx: number;
  /** The interrupt pin register as read (0 none, 1–4 INTA–INTD, anything else none). */
  pin: number;
}

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
  /**
   * Writes one config word as the host side (DeviceIoOps.hostConfigWrite,
   * past the guest write filter): for the enable bits of the interrupt
   * capabilities the host programs.
   */
  writeHostConfig16(offsetBytes: number, value: number): void {
    this.ops.hostConfigWrite(offsetBytes, 2, value);
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

  /**
   * What the function offers in each interrupt mode: the capabilities decide
   * whether a mode exists, the ops' IRQ info bounds its vectors. The seed's
   * MSI count (the dext's vector count, always at least 1 once interrupts
   * are set up) is not proof that MSI exists: a pin-only function has it too.
   */
  interruptOffer(): InterruptOffer {
    const caps = this.capabilities();
    const pin = this.#readConfig(Cfg.INTERRUPT_PIN, 1);
    return {
      msix: caps.msix === undefined ? 0 : Math.min(this.irqInfo(IrqIndex.MSIX).count, caps.msix.tableSize),
      msi: caps.msi === undefined ? 0 : Math.min(this.irqInfo(IrqIndex.MSI).count, caps.msi.vectors),
      intx: pin >= 1 && pin <= 4 ? Math.min(1, this.irqInfo(IrqIndex.INTX).count) : 0,
      pin,
    };
  }

  /**
   * The IRQ index to enable for `mode`: the best the function offers
   * (MSI-X > MSI > INTx) when `mode` is undefined, which is undefined when it
   * offers none; otherwise `mode`'s index when the function offers it.
   * Throws PT_ERR_NOT_SUPPORTED (errno EINVAL) naming what the function has
   * when it does not, PT_ERR_INVALID_ARGUMENT for an unknown mode.
   */
  irqIndexFor(mode?: InterruptMode): IrqIndexNumber | undefined {
    const offer = this.interruptOffer();
    if (mode === undefined) {
      const best = MODE_PREFERENCE.find((m) => offer[m] > 0);
      return best === undefined ? undefined : MODE_INDEX[best];
    }
    if (!MODE_PREFERENCE.includes(mode)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown interrupt mode ${String(mode)}: expected msix, msi or intx`, {
        irqMode: String(mode),
        errno: 'EINVAL',
      });
    }
    if (offer[mode] === 0) throw refusedMode(mode, offer);
    return MODE_INDEX[mode];
  }

  /** The best interrupt mode the function offers: MSI-X > MSI > INTx, or undefined when it has none. */
  bestIrqIndex(): IrqIndexNumber | undefined {
    return this.irqIndexFor(undefined);
  }

  /**
   * Enables the vectors of `index` (default: the best mode) routed to
   * `sink`: one setIrqs trigger for [0, count), where count is what the
   * function offers in that mode ({@link interruptOffer}; for ERR and REQ
   * the IRQ info's count). Returns the index and count.
   * Throws PT_ERR_NOT_SUPPORTED when the chosen mode has no vectors.
   */
  enableInterrupts(sink: IrqSink, index?: IrqIndexNumber): { index: IrqIndexNumber; count: number } {
    const chosen = index ?? this.bestIrqIndex();
    const mode = MODE_PREFERENCE.find((m) => MODE_INDEX[m] === chosen);
    let count = 0;
    if (mode !== undefined) {
      const offer = this.interruptOffer();
      if (offer[mode] === 0) throw refusedMode(mode, offer);
      count = offer[mode];
    } else if (chosen !== undefined) {
      count = this.irqInfo(chosen).count;
    }
    if (chosen === undefined || count === 0) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'device has no interrupt vectors in the requested mode', {
        irqIndex: index,
        errno: 'EINVAL',
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

/** The typed refusal of a mode the function does not offer, naming what it has. */
function refusedMode(mode: InterruptMode, offer: InterruptOffer): PassthroughError {
  const why =
    mode === 'intx'
      ? offer.pin === 0
        ? 'no interrupt pin'
        : `no INTx (interrupt pin 0x${offer.pin.toString(16)})`
      : `no ${MODE_NAME[mode]} capability`;
  const has = MODE_PREFERENCE.filter((m) => offer[m] > 0).map((m) => `${MODE_NAME[m]} (${offer[m]} vector${offer[m] === 1 ? '' : 's'})`);
  return new PassthroughError(
    'PT_ERR_NOT_SUPPORTED',
    `interrupt mode ${mode} refused: the function has ${why}; it offers ${has.length === 0 ? 'no interrupts' : has.join(', ')}`,
    { irqMode: mode, offered: { msix: offer.msix, msi: offer.msi, intx: offer.intx }, errno: 'EINVAL' },
  );
}
