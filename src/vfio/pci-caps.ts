/**
 * PCI capability-list walking and MSI / MSI-X parsing (QEMU
 * vfio_msi/msix_early_setup), plus the mmap-window split of a BAR around
 * the MSI-X table and PBA (vfio_pci_fixup_msix_region), rounded out to the
 * 16 KiB host page. Pure: every function takes a config reader.
 */
import { Cfg, CapId, Msi, Msix, Status } from '../pci/config-space.js';

/**
 * The host page the windows are rounded to (16 KiB on Apple Silicon; the
 * same value as iokit's HOST_PAGE_BYTES, repeated so vfio/ does not import iokit/).
 */
export const WINDOW_PAGE_BYTES = 16384;

/** Reads `width` bytes (1, 2 or 4) of config space at `offsetBytes`, little endian. */
export type ConfigReader = (offsetBytes: number, width: 1 | 2 | 4) => number;

/** One entry of the standard capability list. */
export interface PciCapability {
  /** Capability id ({@link CapId}). */
  id: number;
  /** Offset of the capability header in config space. */
  offsetBytes: number;
}

/** The MSI capability. */
export interface MsiCapability {
  /** Offset of the capability in config space. */
  offset: number;
  /** Vectors the function can request: `1 << MMC` (Multiple Message Capable). */
  vectors: number;
  /** 64-bit message address. */
  is64: boolean;
  /** Per-vector masking. */
  maskable: boolean;
}

/** The MSI-X capability. */
export interface MsixCapability {
  /** Offset of the capability in config space. */
  offset: number;
  /** Number of table entries (`(ctrl & 0x7ff) + 1`). */
  tableSize: number;
  /** BAR holding the table. */
  tableBar: number;
  /** Byte offset of the table in its BAR. */
  tableOffset: number;
  /** BAR holding the PBA. */
  pbaBar: number;
  /** Byte offset of the PBA in its BAR. */
  pbaOffset: number;
}

/** Bytes of the PBA for `tableSize` vectors (one bit each, in 64-bit words). */
export function pbaBytes(tableSize: number): number {
  return Math.ceil(tableSize / 64) * 8;
}

/**
 * Walks the standard capability list (0x34 chain). Stops at a null pointer,
 * a pointer below 0x40, a loop, or 48 entries (the most 256 bytes can hold).
 * Returns [] when STATUS has no CAP_LIST bit.
 */
export function walkCapabilities(read: ConfigReader): PciCapability[] {
  const caps: PciCapability[] = [];
  if ((read(Cfg.STATUS, 2) & Status.CAP_LIST) === 0) return caps;
  const seen = new Set<number>();
  let ptr = read(Cfg.CAPABILITY_LIST, 1) & 0xfc;
  while (ptr >= 0x40 && ptr < 0x100 && !seen.has(ptr) && caps.length < 48) {
    seen.add(ptr);
    caps.push({ id: read(ptr, 1), offsetBytes: ptr });
    ptr = read(ptr + 1, 1) & 0xfc;
  }
  return caps;
}

/** Parses the MSI capability at `offset`. */
export function parseMsi(read: ConfigReader, offset: number): MsiCapability {
  const flags = read(offset + Msi.FLAGS, 2);
  return {
    offset,
    vectors: 1 << ((flags & Msi.FLAGS_QMASK) >> 1),
    is64: (flags & Msi.FLAGS_64BIT) !== 0,
    maskable: (flags & Msi.FLAGS_MASKBIT) !== 0,
  };
}

/** Parses the MSI-X capability at `offset`. */
export function parseMsix(read: ConfigReader, offset: number): MsixCapability {
  const flags = read(offset + Msix.FLAGS, 2);
  const table = read(offset + Msix.TABLE, 4) >>> 0;
  const pba = read(offset + Msix.PBA, 4) >>> 0;
  return {
    offset,
    tableSize: (flags & Msix.FLAGS_QSIZE) + 1,
    tableBar: table & Msix.BIR_MASK,
    tableOffset: (table & ~Msix.BIR_MASK) >>> 0,
    pbaBar: pba & Msix.BIR_MASK,
    pbaOffset: (pba & ~Msix.BIR_MASK) >>> 0,
  };
}

/** The interrupt capabilities of a function. */
export interface InterruptCapabilities {
  /** Every capability, in list order. */
  caps: PciCapability[];
  /** MSI, when present. */
  msi: MsiCapability | undefined;
  /** MSI-X, when present. */
  msix: MsixCapability | undefined;
}

/** Walks the list and parses MSI and MSI-X (the first of each). */
export function parseInterruptCapabilities(read: ConfigReader): InterruptCapabilities {
  const caps = walkCapabilities(read);
  const msiCap = caps.find((c) => c.id === CapId.MSI);
  const msixCap = caps.find((c) => c.id === CapId.MSIX);
  return {
    caps,
    msi: msiCap === undefined ? undefined : parseMsi(read, msiCap.offsetBytes),
    msix: msixCap === undefined ? undefined : parseMsix(read, msixCap.offsetBytes),
  };
}

/** A byte window of a BAR. */
export interface BarWindowRange {
  offsetBytes: number;
  lengthBytes: number;
}

/**
 * The mmap windows of BAR `bar` of `sizeBytes`: the whole BAR, minus the
 * MSI-X table and PBA when they live in it, each hole rounded out to
 * `pageBytes` (the host page: HVF maps only at 16 KiB granularity, which is
 * why the original turns BAR quirks off). May return [] (everything is
 * trapped); the BAR is still mapped for the slow path.
 *
 * QEMU splits around the table only and relies on the PBA's overlay region
 * to trap it; there is no overlay here, so the PBA is a hole as well.
 */
export function barWindows(
  bar: number,
  sizeBytes: number,
  msix: MsixCapability | undefined,
  pageBytes: number = WINDOW_PAGE_BYTES,
): BarWindowRange[] {
  if (sizeBytes <= 0) return [];
  const holes: [number, number][] = [];
  if (msix !== undefined) {
    if (msix.tableBar === bar) holes.push([msix.tableOffset, msix.tableOffset + msix.tableSize * Msix.ENTRY_BYTES]);
    if (msix.pbaBar === bar) holes.push([msix.pbaOffset, msix.pbaOffset + pbaBytes(msix.tableSize)]);
  }
  const rounded = holes
    .map(([s, e]) => [Math.floor(s / pageBytes) * pageBytes, Math.ceil(e / pageBytes) * pageBytes] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const windows: BarWindowRange[] = [];
  let pos = 0;
  for (const [s, e] of rounded) {
    if (s > pos) windows.push({ offsetBytes: pos, lengthBytes: Math.min(s, sizeBytes) - pos });
    pos = Math.max(pos, e);
    if (pos >= sizeBytes) break;
  }
  if (pos < sizeBytes) windows.push({ offsetBytes: pos, lengthBytes: sizeBytes - pos });
  return windows.filter((w) => w.lengthBytes > 0);
}
