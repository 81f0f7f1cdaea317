/**
 * Human names for PCI ids: a small built-in class table (base class and the
 * common subclasses), capability names, and vendor/device names from the
 * system's pci.ids when there is one (`PCI_IDS=` overrides the path, as the
 * original CLI's bundled copy did). Names are for people only; JSON output
 * always carries the numbers.
 */
import { readFileSync } from 'node:fs';

/** Base class names (PCI Code and ID Assignment spec, class codes 00–13, ff). */
const BASE_CLASSES: Readonly<Record<number, string>> = {
  0x00: 'Unclassified device',
  0x01: 'Mass storage controller',
  0x02: 'Network controller',
  0x03: 'Display controller',
  0x04: 'Multimedia controller',
  0x05: 'Memory controller',
  0x06: 'Bridge',
  0x07: 'Communication controller',
  0x08: 'Generic system peripheral',
  0x09: 'Input device controller',
  0x0a: 'Docking station',
  0x0b: 'Processor',
  0x0c: 'Serial bus controller',
  0x0d: 'Wireless controller',
  0x0e: 'Intelligent controller',
  0x0f: 'Satellite communications controller',
  0x10: 'Encryption controller',
  0x11: 'Signal processing controller',
  0x12: 'Processing accelerators',
  0x13: 'Non-Essential Instrumentation',
  0xff: 'Unassigned class',
};

/** Common subclass names, keyed by `class << 8 | subclass`. */
const SUBCLASSES: Readonly<Record<number, string>> = {
  0x0000: 'Non-VGA unclassified device',
  0x0001: 'VGA compatible unclassified device',
  0x0100: 'SCSI storage controller',
  0x0101: 'IDE interface',
  0x0106: 'SATA controller',
  0x0108: 'Non-Volatile memory controller',
  0x0200: 'Ethernet controller',
  0x0280: 'Network controller',
  0x0300: 'VGA compatible controller',
  0x0302: '3D controller',
  0x0380: 'Display controller',
  0x0401: 'Multimedia audio controller',
  0x0403: 'Audio device',
  0x0500: 'RAM memory',
  0x0600: 'Host bridge',
  0x0601: 'ISA bridge',
  0x0604: 'PCI bridge',
  0x0680: 'Bridge',
  0x0780: 'Communication controller',
  0x0880: 'System peripheral',
  0x0c03: 'USB controller',
  0x0c05: 'SMBus',
  0x0d80: 'Network controller',
  0x1200: 'Processing accelerators',
  0xff00: 'Unassigned class',
};

/** Name of a 24-bit class code (subclass name when known, else the base class). */
export function className(classCode: number): string {
  const sub = (classCode >>> 8) & 0xffff;
  return SUBCLASSES[sub] ?? BASE_CLASSES[(classCode >>> 16) & 0xff] ?? `Class ${sub.toString(16).padStart(4, '0')}`;
}

/** True for bridges (base class 0x06), which list-devices hides like the original. */
export function isBridge(classCode: number): boolean {
  return ((classCode >>> 16) & 0xff) === 0x06;
}

/** Standard capability names (lspci's wording). */
const CAP_NAMES: Readonly<Record<number, string>> = {
  0x01: 'Power Management',
  0x02: 'AGP',
  0x03: 'Vital Product Data',
  0x04: 'Slot Identification',
  0x05: 'MSI',
  0x06: 'CompactPCI hot-swap',
  0x07: 'PCI-X',
  0x08: 'HyperTransport',
  0x09: 'Vendor Specific',
  0x0a: 'Debug port',
  0x0b: 'CompactPCI central resource control',
  0x0c: 'PCI Standard Hot-Plug Controller',
  0x0d: 'Bridge subsystem vendor/device ID',
  0x0e: 'AGP 8x',
  0x0f: 'Secure device',
  0x10: 'Express',
  0x11: 'MSI-X',
  0x12: 'SATA HBA',
  0x13: 'PCI Advanced Features',
  0x14: 'Enhanced Allocation',
  0x15: 'Flattening Portal Bridge',
};

/** Extended (PCIe, offset ≥ 0x100) capability names. */
const EXT_CAP_NAMES: Readonly<Record<number, string>> = {
  0x0001: 'Advanced Error Reporting',
  0x0002: 'Virtual Channel',
  0x0003: 'Device Serial Number',
  0x0004: 'Power Budgeting',
  0x000b: 'Vendor Specific Information',
  0x000d: 'Access Control Services',
  0x000e: 'Alternative Routing-ID Interpretation',
  0x0010: 'Single Root I/O Virtualization',
  0x0015: 'Resizable BAR',
  0x0017: 'Transaction Processing Hints',
  0x0018: 'Latency Tolerance Reporting',
  0x0019: 'Secondary PCI Express',
  0x001e: 'L1 PM Substates',
};

/** Name of a standard capability id. */
export function capabilityName(id: number): string {
  return CAP_NAMES[id] ?? `Capability ${id.toString(16).padStart(2, '0')}`;
}

/** Name of an extended capability id. */
export function extCapabilityName(id: number): string {
  return EXT_CAP_NAMES[id] ?? `Extended capability ${id.toString(16).padStart(4, '0')}`;
}

/** Devices pci.ids does not know but the simulated machine uses (QEMU's test devices). */
const BUILTIN_DEVICES: Readonly<Record<string, string>> = {
  '1234:11e8': 'QEMU edu device',
  '1234:1111': 'QEMU virtual VGA',
  '1234:5a01': 'pcipt MSI-X test function',
  '1234:5a02': 'pcipt two-function test device',
};
const BUILTIN_VENDORS: Readonly<Record<number, string>> = { 0x1234: 'QEMU' };

/** Vendor and device names from a pci.ids file. */
export interface PciIds {
  vendor(vendorId: number): string | undefined;
  device(vendorId: number, deviceId: number): string | undefined;
}

const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids', '/usr/share/pci.ids'];

let cached: { path: string | undefined; ids: PciIds } | undefined;

/**
 * Loads pci.ids (`PCI_IDS` env path first, then the usual system paths),
 * parsing only vendor and device lines. A missing file gives an empty table.
 */
export function loadPciIds(env: Record<string, string | undefined> = process.env): PciIds {
  const override = env.PCI_IDS !== undefined && env.PCI_IDS !== '' ? env.PCI_IDS : undefined;
  if (cached !== undefined && cached.path === override) return cached.ids;
  const vendors = new Map<number, string>();
  const devices = new Map<number, string>();
  for (const path of override === undefined ? PCI_IDS_PATHS : [override]) {
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch {
      continue;
    }
    let vendor = -1;
    for (const line of text.split('\n')) {
      if (line.length === 0 || line.startsWith('#')) continue;
      if (line.startsWith('C ')) break; // the class section follows the vendors
      const vm = /^([0-9a-f]{4})\s+(.+)$/.exec(line);
      if (vm !== null) {
        vendor = parseInt(vm[1]!, 16);
        vendors.set(vendor, vm[2]!);
        continue;
      }
      const dm = /^\t([0-9a-f]{4})\s+(.+)$/.exec(line);
      if (dm !== null && vendor >= 0) devices.set(vendor * 0x10000 + parseInt(dm[1]!, 16), dm[2]!);
    }
    break;
  }
  const ids: PciIds = {
    vendor: (v) => vendors.get(v) ?? BUILTIN_VENDORS[v],
    device: (v, d) => BUILTIN_DEVICES[`${hex4(v)}:${hex4(d)}`] ?? devices.get(v * 0x10000 + d),
  };
  cached = { path: override, ids };
  return ids;
}

/** A display name for a function: the device name, else vendor + class. */
export function deviceDisplayName(ids: PciIds, vendorId: number, deviceId: number, classCode: number): string {
  const builtin = BUILTIN_DEVICES[`${hex4(vendorId)}:${hex4(deviceId)}`];
  if (builtin !== undefined) return builtin;
  const device = ids.device(vendorId, deviceId);
  const vendor = ids.vendor(vendorId);
  if (device !== undefined) return vendor !== undefined && !device.startsWith(vendor) ? `${vendor} ${device}` : device;
  return vendor !== undefined ? `${vendor} ${className(classCode)}` : className(classCode);
}

/** Four lowercase hex digits. */
export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
