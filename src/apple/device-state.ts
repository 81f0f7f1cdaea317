/**
 * The per-device state the apple ops work on (the seed's AppleVFIOState plus
 * the pieces of VFIOPCIDevice it reads: bars[], msix, interrupt mode,
 * msi_vectors[].use, intx pin). Built at attach by the container; the ops,
 * the interrupt source and the container share one object.
 */
import { PassthroughError } from '../errors.js';
import { CapId, Cfg } from '../pci/config-space.js';
import type { Bdf } from '../types.js';
import { barWindows, parseInterruptCapabilities, type BarWindowRange, type MsiCapability, type MsixCapability } from '../vfio/pci-caps.js';
import type { IrqSink } from '../vfio/device-io-ops.js';
import { BarType, HOST_PAGE_BYTES, type DextClient, type MappedMemory } from '../dext/contract.js';
import { configWriteGuards, type ConfigWriteGuards } from './config-filter.js';

/** Number of BARs of a type-0 function. */
export const BAR_COUNT = 6;
/** Vectors the dext's bitmaps describe. */
export const MAX_IRQ_VECTORS = 256;

/** The interrupt mode in effect (QEMU's vdev->interrupt). */
export type AppleIrqMode = 'none' | 'intx' | 'msi' | 'msix';

/** QEMU's VFIOBAR as far as the apple ops read it (vfio_bar_prepare). */
export interface AppleBarState {
  /** Size from GetBARInfo (0: unused BAR or upper half of a 64-bit BAR). */
  sizeBytes: number;
  /** I/O space BAR. */
  ioport: boolean;
  /** 64-bit memory BAR (the next BAR is its upper half). */
  mem64: boolean;
  /** Precomputed mmap windows, split around the MSI-X table / PBA (rule 15). */
  windows: BarWindowRange[];
}

/** A mapped BAR (AppleVFIOBarMap). */
export interface AppleBarMap {
  memory: MappedMemory;
  /** Mapped size clamped to the BAR size. */
  sizeBytes: number;
}

/** The interrupt routing state recorded from setIrqs requests. */
export interface AppleIrqState {
  mode: AppleIrqMode;
  /** QEMU's nr_vectors: one past the highest vector enabled in this mode. */
  nrVectors: number;
  /** QEMU's msi_vectors[i].use. */
  inUse: boolean[];
  /** Where each vector goes (index 0 for INTx). */
  sinks: (IrqSink | undefined)[];
}

/** Counters of the IRQ path. */
export interface AppleIrqStats {
  /** Vectors delivered to a sink. */
  delivered: number;
  /** Pending vectors dropped (mode none, vector not in use, no sink). */
  dropped: number;
  /** WaitInterrupt arms. */
  rearms: number;
}

/** Everything the apple ops of one device read and write. */
export interface AppleDeviceState {
  /** The host function. */
  readonly bdf: Bdf;
  /** `apple-DDDD:BB:SS.F`. */
  readonly name: string;
  /** The dext connection; undefined means "no connection" (ENODEV paths). */
  client: DextClient | undefined;
  /** Vector count from SetupInterrupts (selector 13). */
  numIrqVectors: number;
  /** Parsed MSI-X capability; undefined before parsing (MSI-X irq count 0). */
  msix: MsixCapability | undefined;
  /** Parsed MSI capability. */
  msi: MsiCapability | undefined;
  /** INTx pin 1–4, or 0 when the function has none (rule 16). Starts at 1, as the original reports INTx before any parse. */
  intxPin: number;
  /** Capability ranges guest config writes never reach (the safety rule); empty before the parse. */
  writeGuards: ConfigWriteGuards;
  /** QEMU's bars[] (filled by {@link prepareAppleDevice}). */
  readonly bars: AppleBarState[];
  /** Mapped BARs. */
  readonly barMaps: (AppleBarMap | undefined)[];
  /** Interrupt routing. */
  readonly irq: AppleIrqState;
  /** IRQ counters. */
  readonly stats: AppleIrqStats;
}

/** QEMU-style device name: the original's `apple-%04x:%02x:%02x.%x` with the full domain. */
export function appleDeviceName(bdf: Bdf): string {
  return `apple-${bdf}`;
}

/** A fresh state for `bdf` over `client` (nothing parsed, nothing mapped, mode none). */
export function createAppleDeviceState(bdf: Bdf, client: DextClient | undefined): AppleDeviceState {
  return {
    bdf,
    name: appleDeviceName(bdf),
    client,
    numIrqVectors: 0,
    msix: undefined,
    msi: undefined,
    intxPin: 1,
    writeGuards: {},
    bars: Array.from({ length: BAR_COUNT }, () => ({ sizeBytes: 0, ioport: false, mem64: false, windows: [] })),
    barMaps: new Array<AppleBarMap | undefined>(BAR_COUNT).fill(undefined),
    irq: {
      mode: 'none',
      nrVectors: 0,
      inUse: new Array<boolean>(MAX_IRQ_VECTORS).fill(false),
      sinks: new Array<IrqSink | undefined>(MAX_IRQ_VECTORS).fill(undefined),
    },
    stats: { delivered: 0, dropped: 0, rearms: 0 },
  };
}

/**
 * The realize-time early setup QEMU does above the ops (vfio_populate_device,
 * vfio_msix_early_setup, vfio_bars_prepare, vfio_pci_fixup_msix_region),
 * done once over the dext: BAR sizes and types, MSI / MSI-X, the INTx pin
 * (pin 0 or > 4 means none, rule 16), the mmap windows of each BAR, and the
 * config-write guards (MSI capability, PCIe DevCtl / DevCtl2).
 * Throws PT_ERR_NO_CONNECTION without a connection; a failed selector
 * propagates as its typed error.
 */
export function prepareAppleDevice(state: AppleDeviceState): void {
  const client = state.client;
  if (client === undefined) {
    throw new PassthroughError('PT_ERR_NO_CONNECTION', 'vfio-apple: missing dext connection', {
      bdf: state.bdf,
      errno: 'ENODEV',
    });
  }
  const read = (off: number, width: 1 | 2 | 4): number => client.configRead(off, width) >>> 0;
  const { caps, msi, msix } = parseInterruptCapabilities(read);
  state.msi = msi;
  state.msix = msix;
  state.writeGuards = configWriteGuards(msi, caps.find((c) => c.id === CapId.EXP)?.offsetBytes);
  const pin = read(Cfg.INTERRUPT_PIN, 1);
  state.intxPin = pin >= 1 && pin <= 4 ? pin : 0;
  for (let bar = 0; bar < BAR_COUNT; bar++) {
    let sizeBytes = 0;
    try {
      sizeBytes = Number(client.getBarInfo(bar).sizeBytes);
    } catch {
      sizeBytes = 0; // unused BAR or upper half of a 64-bit BAR: GetBARInfo errors pass through
    }
    const b = state.bars[bar]!;
    b.sizeBytes = sizeBytes;
    if (sizeBytes === 0) {
      b.ioport = false;
      b.mem64 = false;
      b.windows = [];
      continue;
    }
    // ConfigRead synthesises the BAR type bits at 0x10 + 4*bar.
    const type = read(Cfg.BAR0 + 4 * bar, 4);
    b.ioport = (type & BarType.io) !== 0;
    b.mem64 = !b.ioport && (type & BarType.mem64) !== 0;
    b.windows = b.ioport ? [] : barWindows(bar, sizeBytes, msix, HOST_PAGE_BYTES);
  }
}
