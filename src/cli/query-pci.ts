/**
 * The `info` record: QMP `query-pci`'s PciDeviceInfo shape (emulator authors
 * already parse it) built from a function's config space and BAR list, plus
 * the interrupt capabilities and the capability lists.
 */
import type { RegionSummary } from '../vfio/backend.js';
import { Cfg, CapId } from '../pci/config-space.js';
import { parseBdf } from '../types.js';
import { parseInterruptCapabilities, type ConfigReader } from '../vfio/pci-caps.js';
import { capabilityName, className, extCapabilityName } from './pci-names.js';

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

/** One BAR, QMP `PciMemoryRegion` without the address (not assigned by pcipt). */
export interface RegionRecord {
  bar: number;
  type: 'memory' | 'io';
  /** Size in bytes. */
  size: number;
  prefetch: boolean;
  mem_type_64: boolean;
}

/** The `info` document. */
export interface PciInfoRecord {
  /** Canonical `dddd:bb:ss.f`. */
  bdf: string;
  domain: number;
  bus: number;
  slot: number;
  function: number;
  /** `class` is the 16-bit class/subclass word at 0x0a, as QMP reports it. */
  class_info: { class: number; desc: string };
  id: { vendor: number; device: number; subsystem: number; 'subsystem-vendor': number };
  /** Revision id. */
  revision: number;
  /** Programming interface (low byte of the class code). */
  prog_if: number;
  /** Interrupt pin, 0 (none) or 1–4 (INTA–INTD). */
  irq_pin: number;
  regions: RegionRecord[];
  /** Interrupt modes the function offers. */
  irq: {
    intx: boolean;
    msi: { vectors: number; is64: boolean; maskable: boolean; offset: number } | null;
    msix: { vectors: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number; offset: number } | null;
  };
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

/** Builds the `info` record for `bdf` from its config image and BARs. */
export function buildPciInfo(bdf: string, config: Uint8Array, regions: readonly RegionSummary[]): PciInfoRecord {
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
  return {
    bdf,
    domain: p.domain,
    bus: p.bus,
    slot: p.device,
    function: p.function,
    class_info: { class: classWord, desc: className(classCode) },
    id: {
      vendor: read(Cfg.VENDOR_ID, 2),
      device: read(Cfg.DEVICE_ID, 2),
      subsystem: read(Cfg.SUBSYSTEM_ID, 2),
      'subsystem-vendor': read(Cfg.SUBSYSTEM_VENDOR_ID, 2),
    },
    revision: read(Cfg.REVISION_ID, 1),
    prog_if: read(Cfg.CLASS_PROG, 1),
    irq_pin: irqPin,
    regions: regions.map((r) => ({
      bar: r.bar,
      type: r.type,
      size: r.sizeBytes,
      prefetch: r.prefetch,
      mem_type_64: r.mem64,
    })),
    irq: {
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
