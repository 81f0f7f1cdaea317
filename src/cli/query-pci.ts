/**
 * The `info` record: QMP `query-pci`'s PciDeviceInfo, field for field
 * (emulator authors already parse it), built from a function's config space
 * and BAR list, followed by pcipt's own fields: the interrupt modes and the
 * capability lists.
 */
import type { RegionSummary } from '../vfio/backend.js';
import { Cfg, CapId } from '../pci/config-space.js';
import { parseBdf } from '../types.js';
import { parseInterruptCapabilities, type ConfigReader } from '../vfio/pci-caps.js';
import { capabilityName, className, extCapabilityName, hex4, type PciIds } from './pci-names.js';

/** One capability as `info` reports it. */
export interface CapabilityRecord {
  /** Capability id (8-bit standard, 16-bit extended). */
  id: number;
  /** Offset in config space. */
  offset: number;
  /** Human name. */
  name: string;
  /** True for a PCIe extended capability (offset ≥ 0x100). */
  extended: boolean;
}

/** One BAR, QMP's `PciMemoryRegion`. */
export interface RegionRecord {
  bar: number;
  type: 'memory' | 'io';
  /** Where the BAR register says it is: the bus address (memory) or port (I/O); 0 when unassigned. */
  address: number;
  /** Size in bytes. */
  size: number;
  /** Memory BARs only (QMP omits it for I/O). */
  prefetch?: boolean;
  /** Memory BARs only (QMP omits it for I/O). */
  mem_type_64?: boolean;
}

/** MSI as `info` reports it. */
export interface MsiRecord {
  vectors: number;
  is64: boolean;
  maskable: boolean;
  /** Capability offset. */
  offset: number;
}

/** MSI-X as `info` reports it. */
export interface MsixRecord {
  vectors: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
  /** Capability offset. */
  offset: number;
}

/**
 * The `info --json` document: QMP `query-pci`'s PciDeviceInfo (bus, slot,
 * function, class_info, id, irq, irq_pin, qdev_id, regions; field names and
 * shapes as QEMU prints them), then pcipt's own fields.
 */
export interface PciInfoRecord {
  bus: number;
  slot: number;
  function: number;
  /** `class` is the 16-bit class/subclass word at 0x0a, as QMP reports it; `desc` its name. */
  class_info: { class: number; desc: string };
  /** `subsystem` and `subsystem-vendor` for a type-0 header only, as QMP. */
  id: { vendor: number; device: number; subsystem?: number; 'subsystem-vendor'?: number };
  /** The interrupt line register, present when the function has an interrupt pin (QMP). */
  irq?: number;
  /** Interrupt pin, 0 (none) or 1–4 (INTA–INTD). */
  irq_pin: number;
  /** QEMU's device id; pcipt does not attach to read config, so it is always "" (QMP's value for a device without an id). */
  qdev_id: string;
  regions: RegionRecord[];
  /** Canonical `dddd:bb:ss.f` (pcipt). */
  bdf: string;
  domain: number;
  /** Revision id. */
  revision: number;
  /** Programming interface (low byte of the class code). */
  prog_if: number;
  /** lspci's name of the function (pci.ids). */
  name: string;
  /** Interrupt modes the function offers (pcipt). */
  interrupts: { intx: boolean; msi: MsiRecord | null; msix: MsixRecord | null };
  capabilities: CapabilityRecord[];
}

/** A little-endian config reader over a byte image (reads past the end give all ones, as hardware does). */
export function configReader(bytes: Uint8Array): ConfigReader {
  return (offsetBytes, width) => {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (bytes[offsetBytes + i] ?? 0xff);
    return v >>> 0;
  };
}

/** Walks the PCIe extended capability list at 0x100 (only when the image has 4096 bytes). */
export function walkExtendedCapabilities(bytes: Uint8Array): CapabilityRecord[] {
  const out: CapabilityRecord[] = [];
  if (bytes.length < 4096) return out;
  const read = configReader(bytes);
  const seen = new Set<number>();
  let off = 0x100;
  while (off >= 0x100 && off < 4096 && !seen.has(off) && out.length < 512) {
    seen.add(off);
    const header = read(off, 4);
    if (header === 0 || header === 0xffffffff) break;
    const id = header & 0xffff;
    out.push({ id, offset: off, name: extCapabilityName(id), extended: true });
    off = (header >>> 20) & 0xffc;
  }
  return out;
}

/** The address a BAR register holds (the type and flag bits masked; a 64-bit BAR's high word added). */
function barAddress(read: ConfigReader, bar: number, type: 'memory' | 'io', mem64: boolean): number {
  const off = Cfg.BAR0 + 4 * bar;
  const low = read(off, 4);
  if (low === 0xffffffff) return 0; // not readable (a short config image)
  if (type === 'io') return (low & ~0x3) >>> 0;
  const base = (low & ~0xf) >>> 0;
  if (!mem64 || bar >= 5) return base;
  const high = read(off + 4, 4);
  return high === 0xffffffff ? base : high * 2 ** 32 + base;
}

/**
 * Builds the `info` record for `bdf` from its config image and BARs; names
 * come from `ids` when given (pci.ids, as lspci), else the built-in tables.
 */
export function buildPciInfo(bdf: string, config: Uint8Array, regions: readonly RegionSummary[], ids?: PciIds): PciInfoRecord {
  const p = parseBdf(bdf);
  const read = configReader(config);
  const classCode = read(Cfg.CLASS_PROG, 2) | (read(Cfg.CLASS_DEVICE + 1, 1) << 16);
  const classWord = read(Cfg.CLASS_DEVICE, 2);
  // An unprivileged sysfs read gives only the 64-byte header: no capability list to walk then.
  const ic = config.length >= 256 ? parseInterruptCapabilities(read) : { caps: [], msi: undefined, msix: undefined };
  const caps: CapabilityRecord[] = [
    ...ic.caps.map((c) => ({ id: c.id, offset: c.offsetBytes, name: capabilityName(c.id), extended: false })),
    ...(ic.caps.some((c) => c.id === CapId.EXP) ? walkExtendedCapabilities(config) : []),
  ];
  const irqPin = read(Cfg.INTERRUPT_PIN, 1);
  const vendor = read(Cfg.VENDOR_ID, 2);
  const device = read(Cfg.DEVICE_ID, 2);
  const normalHeader = (read(Cfg.HEADER_TYPE, 1) & 0x7f) === 0;
  return {
    bus: p.bus,
    slot: p.device,
    function: p.function,
    class_info: { class: classWord, desc: ids === undefined ? className(classCode) : ids.className(classCode) },
    id: {
      vendor,
      device,
      ...(normalHeader ? { subsystem: read(Cfg.SUBSYSTEM_ID, 2), 'subsystem-vendor': read(Cfg.SUBSYSTEM_VENDOR_ID, 2) } : {}),
    },
    ...(irqPin !== 0 ? { irq: read(Cfg.INTERRUPT_LINE, 1) } : {}),
    irq_pin: irqPin,
    qdev_id: '',
    regions: regions.map((r) => ({
      bar: r.bar,
      type: r.type,
      address: barAddress(read, r.bar, r.type, r.mem64),
      size: r.sizeBytes,
      ...(r.type === 'memory' ? { prefetch: r.prefetch, mem_type_64: r.mem64 } : {}),
    })),
    bdf,
    domain: p.domain,
    revision: read(Cfg.REVISION_ID, 1),
    prog_if: read(Cfg.CLASS_PROG, 1),
    name: ids === undefined ? `Device ${hex4(vendor)}:${hex4(device)}` : ids.deviceName(vendor, device),
    interrupts: {
      intx: irqPin !== 0,
      msi:
        ic.msi === undefined
          ? null
          : { vectors: ic.msi.vectors, is64: ic.msi.is64, maskable: ic.msi.maskable, offset: ic.msi.offset },
      msix:
        ic.msix === undefined
          ? null
          : {
              vectors: ic.msix.tableSize,
              tableBar: ic.msix.tableBar,
              tableOffset: ic.msix.tableOffset,
              pbaBar: ic.msix.pbaBar,
              pbaOffset: ic.msix.pbaOffset,
              offset: ic.msix.offset,
            },
    },
    capabilities: caps,
  };
}

/** `1M`, `4K`, `256` (lspci's size notation). */
export function formatSize(sizeBytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = sizeBytes;
  let i = 0;
  while (v >= 1024 && v % 1024 === 0 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
