/**
 * Human names for PCI ids, as lspci prints them: vendor, device, subsystem
 * and class names from the system's pci.ids (pciutils' or hwdata's, `.gz`
 * too; `PCI_IDS=FILE` names another, as `lspci -i FILE` does), with a small
 * built-in class table and the simulated devices' names for when pci.ids has
 * no answer. Capability names follow lspci's wording. Names are for people
 * only; JSON output always carries the numbers as well.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

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

/** Built-in name of a 24-bit class code (subclass name when known, else the base class), for when there is no pci.ids. */
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

/** Devices pci.ids does not know but the simulated machine uses (QEMU's test devices): their full display names. */
const BUILTIN_DEVICES: Readonly<Record<string, string>> = {
  '1234:11e8': 'QEMU edu device',
  '1234:1111': 'QEMU virtual VGA',
  '1234:5a01': 'pcipt MSI-X test function',
  '1234:5a02': 'pcipt two-function test device',
};

/** Vendor, device and class names from a pci.ids file, named the way lspci names them. */
export interface PciIds {
  /** The file the names came from; undefined when none was read. */
  readonly source: string | undefined;
  /** Why PCI_IDS could not be read, when it was set and could not be. */
  readonly problem: string | undefined;
  vendor(vendorId: number): string | undefined;
  device(vendorId: number, deviceId: number): string | undefined;
  subsystem(vendorId: number, deviceId: number, subVendorId: number, subDeviceId: number): string | undefined;
  /** A 24-bit class code's name: the subclass's, else the class's (lspci), from pci.ids, else the built-in table. */
  className(classCode: number): string;
  /**
   * lspci's name for a function: `Vendor Device`; else, for the simulated
   * devices pci.ids does not name, pcipt's built-in name; else `Vendor Device
   * dddd` when only the vendor is known, `Device vvvv:dddd` when neither is.
   */
  deviceName(vendorId: number, deviceId: number): string;
}

/** Where lspci (pciutils) and hwdata keep pci.ids, in the order they are tried. */
export const PCI_IDS_PATHS: readonly string[] = [
  '/usr/share/misc/pci.ids',
  '/usr/share/hwdata/pci.ids',
  '/usr/share/pci.ids',
  '/usr/share/misc/pci.ids.gz',
  '/usr/share/hwdata/pci.ids.gz',
];

interface Tables {
  vendors: Map<number, string>;
  devices: Map<number, string>;
  subsystems: Map<string, string>;
  /** Base class byte → name. */
  classes: Map<number, string>;
  /** Class/subclass word → name. */
  subclasses: Map<number, string>;
}

/** Parses pci.ids text: vendors, devices, subsystems and the class section (`C cc` / subclasses). */
export function parsePciIds(text: string): Tables {
  const t: Tables = { vendors: new Map(), devices: new Map(), subsystems: new Map(), classes: new Map(), subclasses: new Map() };
  let vendor = -1;
  let device = -1;
  let cls = -1;
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([0-9a-f]{4})\s+(.+)$/.exec(line)) !== null) {
      vendor = parseInt(m[1]!, 16);
      device = -1;
      cls = -1;
      t.vendors.set(vendor, m[2]!);
    } else if ((m = /^C ([0-9a-f]{2})\s+(.+)$/.exec(line)) !== null) {
      cls = parseInt(m[1]!, 16);
      vendor = -1;
      t.classes.set(cls, m[2]!);
    } else if (/^[A-Z] /.test(line)) {
      vendor = -1;
      cls = -1; // another section (device types, languages): nothing we name
    } else if ((m = /^\t([0-9a-f]{4})\s+(.+)$/.exec(line)) !== null && vendor >= 0) {
      device = parseInt(m[1]!, 16);
      t.devices.set(vendor * 0x10000 + device, m[2]!);
    } else if ((m = /^\t\t([0-9a-f]{4}) ([0-9a-f]{4})\s+(.+)$/.exec(line)) !== null && vendor >= 0 && device >= 0) {
      t.subsystems.set(`${hex4(vendor)}:${hex4(device)}:${m[1]}:${m[2]}`, m[3]!);
    } else if ((m = /^\t([0-9a-f]{2})\s+(.+)$/.exec(line)) !== null && cls >= 0) {
      t.subclasses.set((cls << 8) | parseInt(m[1]!, 16), m[2]!);
    }
  }
  return t;
}

function readIds(path: string): string {
  const raw = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('latin1');
}

const cache = new Map<string, PciIds>();

/**
 * Loads pci.ids: the file PCI_IDS names (as `lspci -i`), else the first of
 * {@link PCI_IDS_PATHS} that exists (`.gz` too). A PCI_IDS that cannot be
 * read is reported in `problem` (the names fall back to the built-in
 * tables); no file at all just gives the built-in tables.
 */
export function loadPciIds(env: Record<string, string | undefined> = process.env): PciIds {
  const override = env.PCI_IDS !== undefined && env.PCI_IDS !== '' ? env.PCI_IDS : undefined;
  const key = override ?? '';
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let tables: Tables | undefined;
  let source: string | undefined;
  let problem: string | undefined;
  for (const path of override === undefined ? PCI_IDS_PATHS : [override]) {
    try {
      tables = parsePciIds(readIds(path));
      source = path;
      break;
    } catch (e) {
      if (override !== undefined) problem = `PCI_IDS=${override}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); names come from the built-in table`;
    }
  }
  const t = tables ?? { vendors: new Map(), devices: new Map(), subsystems: new Map(), classes: new Map(), subclasses: new Map() };
  const ids: PciIds = {
    source,
    problem,
    vendor: (v) => t.vendors.get(v),
    device: (v, d) => t.devices.get(v * 0x10000 + d),
    subsystem: (v, d, sv, sd) => t.subsystems.get(`${hex4(v)}:${hex4(d)}:${hex4(sv)}:${hex4(sd)}`),
    className(classCode) {
      const word = (classCode >>> 8) & 0xffff;
      return t.subclasses.get(word) ?? t.classes.get(word >>> 8) ?? className(classCode);
    },
    deviceName(v, d) {
      const vendor = t.vendors.get(v);
      const device = t.devices.get(v * 0x10000 + d);
      if (vendor !== undefined && device !== undefined) return `${vendor} ${device}`;
      const builtin = BUILTIN_DEVICES[`${hex4(v)}:${hex4(d)}`];
      if (builtin !== undefined) return builtin;
      return vendor !== undefined ? `${vendor} Device ${hex4(d)}` : `Device ${hex4(v)}:${hex4(d)}`;
    },
  };
  cache.set(key, ids);
  return ids;
}

/** Four lowercase hex digits. */
export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
