/**
 * What the linux backend reads from sysfs (/sys/bus/pci/devices/BDF): ids,
 * class, bound driver and IOMMU group. Plain node:fs; no koffi. The roots can
 * be moved for tests with PCIPT_SYSFS_ROOT and PCIPT_VFIO_DEV.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PassthroughError } from '../errors.js';
import { type Bdf, toBdf } from '../types.js';

/** The sysfs root (`/sys` unless PCIPT_SYSFS_ROOT is set). */
export function sysfsRoot(): string {
  return process.env.PCIPT_SYSFS_ROOT ?? '/sys';
}
/** The VFIO device directory (`/dev/vfio` unless PCIPT_VFIO_DEV is set). */
export function vfioDevDir(): string {
  return process.env.PCIPT_VFIO_DEV ?? '/dev/vfio';
}

/** One PCI function as sysfs describes it. */
export interface SysfsFunction {
  bdf: Bdf;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code. */
  classCode: number;
  /** Bound driver name, undefined when unbound. */
  driver: string | undefined;
  /** IOMMU group number as a string (`"3"`), undefined when the device has none. */
  iommuGroup: string | undefined;
}

function readHex(path: string): number {
  return parseInt(readFileSync(path, 'utf8').trim(), 16);
}
function linkBase(path: string): string | undefined {
  try {
    return basename(readlinkSync(path));
  } catch {
    return undefined;
  }
}

/** The sysfs directory of a function. */
export function functionDir(bdf: Bdf): string {
  return join(sysfsRoot(), 'bus/pci/devices', bdf);
}

/** Reads a function's sysfs entry. Throws PT_ERR_NOT_FOUND when there is none. */
export function readFunction(bdfText: string): SysfsFunction {
  const bdf = toBdf(bdfText);
  const dir = functionDir(bdf);
  if (!existsSync(join(dir, 'vendor'))) {
    throw new PassthroughError('PT_ERR_NOT_FOUND', `no PCI function ${bdf} (nothing at ${dir}); check the address with lspci -D`, {
      bdf,
    });
  }
  return {
    bdf,
    vendorId: readHex(join(dir, 'vendor')),
    deviceId: readHex(join(dir, 'device')),
    classCode: readHex(join(dir, 'class')),
    driver: linkBase(join(dir, 'driver')),
    iommuGroup: linkBase(join(dir, 'iommu_group')),
  };
}

/** Every function under /sys/bus/pci/devices, sorted by address. Empty when there is no PCI sysfs. */
export function listSysfsFunctions(): SysfsFunction[] {
  const dir = join(sysfsRoot(), 'bus/pci/devices');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: SysfsFunction[] = [];
  for (const name of names.sort()) {
    try {
      out.push(readFunction(name));
    } catch {
      // a function that vanished or has an odd name: skip it
    }
  }
  return out;
}

/** Other functions in the same IOMMU group (from /sys/kernel/iommu_groups/N/devices). */
export function groupMembers(group: string): string[] {
  try {
    return readdirSync(join(sysfsRoot(), 'kernel/iommu_groups', group, 'devices')).sort();
  } catch {
    return [];
  }
}

/**
 * Checks that `bdf` exists, is bound to vfio-pci and has an IOMMU group; returns its sysfs entry.
 * Throws PT_ERR_NOT_FOUND, PT_ERR_NOT_BOUND.
 */
export function requireVfioBound(bdfText: string): SysfsFunction & { iommuGroup: string } {
  const fn = readFunction(bdfText);
  if (fn.driver !== 'vfio-pci') {
    const now = fn.driver === undefined ? 'no driver' : `driver ${fn.driver}`;
    throw new PassthroughError(
      'PT_ERR_NOT_BOUND',
      `${fn.bdf} is not bound to vfio-pci (it has ${now}); bind it with ` +
        `"echo vfio-pci > ${functionDir(fn.bdf)}/driver_override && echo ${fn.bdf} > /sys/bus/pci/drivers_probe" ` +
        `(after unbinding it from its driver) or load vfio-pci with ids=${hex4(fn.vendorId)}:${hex4(fn.deviceId)}`,
      { bdf: fn.bdf, driver: fn.driver ?? null },
    );
  }
  if (fn.iommuGroup === undefined) {
    throw new PassthroughError(
      'PT_ERR_VFIO_UNAVAILABLE',
      `${fn.bdf} has no IOMMU group; enable the IOMMU (intel_iommu=on / amd_iommu=on) or load vfio with enable_unsafe_noiommu_mode=1`,
      { bdf: fn.bdf },
    );
  }
  return fn as SysfsFunction & { iommuGroup: string };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
