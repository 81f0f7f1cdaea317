/**
 * Handing a PCI function to vfio-pci and back through sysfs, as driverctl and
 * dpdk-devbind do: `driver_override` names the driver, the current driver
 * lets go (`driver/unbind`), and `drivers_probe` makes the kernel bind the
 * override. Planning (what to write, and why) is separate from applying it,
 * so `--dry-run` prints the plan and tests check it on a fake sysfs tree
 * (PCIPT_SYSFS_ROOT).
 *
 * VFIO opens a function only when its whole IOMMU group is viable: every
 * member with a normal (type 0) header must be bound to vfio-pci, to
 * pci-stub, or to nothing (bridges may keep their driver). The plan names the
 * members that stop that, and `--group` binds them too.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassthroughError } from '../errors.js';
import { functionDir, groupMembers, readFunction, sysfsRoot, type SysfsFunction } from '../linux/sysfs.js';
import type { Bdf } from '../types.js';

/** One sysfs write of a plan. */
export interface SysfsWrite {
  path: string;
  /** What is written (a trailing newline is added). */
  value: string;
  /** Why, for people. */
  why: string;
}

/** A member of the function's IOMMU group. */
export interface GroupMember {
  bdf: string;
  /** Bound driver, null when none. */
  driver: string | null;
  /** Bridge or other non-type-0 header: VFIO lets it keep its driver. */
  bridge: boolean;
  /** Its driver keeps the group from being viable (it must be bound to vfio-pci or unbound first). */
  blocksGroup: boolean;
}

/** What `bind`/`unbind` will do, or did. */
export interface BindPlan {
  action: 'bind' | 'unbind';
  bdf: string;
  /** Driver before the writes (null: none). */
  driverBefore: string | null;
  /** IOMMU group number, null when the function has none (unbind only). */
  iommuGroup: string | null;
  /** Functions that get written to (the target, plus group members under --group). */
  targets: string[];
  writes: SysfsWrite[];
  /** The other members of the IOMMU group. */
  group: GroupMember[];
  /** Why nothing needs doing, when the plan is empty. */
  note: string | undefined;
}

/** Drivers VFIO accepts beside vfio-pci in a viable group (the kernel's vfio_driver_allowed). */
const VFIO_ALLOWED_DRIVERS = new Set(['vfio-pci', 'pci-stub']);

function headerIsBridge(fn: SysfsFunction): boolean {
  try {
    // The first 64 bytes of config are readable without privileges; byte 0x0e is the header type.
    const config = readFileSync(join(functionDir(fn.bdf), 'config'));
    if (config.length > 0x0e) return (config[0x0e]! & 0x7f) !== 0;
  } catch {
    // no config file (a fake tree, a vanished function): fall back on the class code
  }
  return ((fn.classCode >>> 16) & 0xff) === 0x06;
}

function member(bdf: string): GroupMember | undefined {
  let fn: SysfsFunction;
  try {
    fn = readFunction(bdf);
  } catch {
    return undefined;
  }
  const bridge = headerIsBridge(fn);
  const blocksGroup = !bridge && fn.driver !== undefined && !VFIO_ALLOWED_DRIVERS.has(fn.driver);
  return { bdf: fn.bdf, driver: fn.driver ?? null, bridge, blocksGroup };
}

function vfioPciLoaded(): boolean {
  return existsSync(join(sysfsRoot(), 'bus/pci/drivers/vfio-pci'));
}

function readOverride(bdf: Bdf): string | null {
  try {
    const text = readFileSync(join(functionDir(bdf), 'driver_override'), 'utf8').trim();
    return text === '' || text === '(null)' ? null : text;
  } catch {
    return null;
  }
}

/** The writes that move one function to vfio-pci (none when it is already there). */
function bindWrites(fn: SysfsFunction): SysfsWrite[] {
  if (fn.driver === 'vfio-pci') return [];
  const dir = functionDir(fn.bdf);
  const writes: SysfsWrite[] = [];
  if (readOverride(fn.bdf) !== 'vfio-pci') writes.push({ path: join(dir, 'driver_override'), value: 'vfio-pci', why: `only vfio-pci may bind ${fn.bdf}` });
  if (fn.driver !== undefined) writes.push({ path: join(dir, 'driver/unbind'), value: fn.bdf, why: `${fn.driver} lets go of ${fn.bdf}` });
  writes.push({ path: join(sysfsRoot(), 'bus/pci/drivers_probe'), value: fn.bdf, why: `the kernel binds ${fn.bdf} to vfio-pci` });
  return writes;
}

/**
 * Plans `bind` of `bdf` to vfio-pci (with `group`: every member of its IOMMU
 * group that needs it). Errors: PT_ERR_NOT_FOUND (no such function),
 * PT_ERR_VFIO_UNAVAILABLE (vfio-pci not loaded, no IOMMU group), each saying what to do.
 */
export function planBind(bdf: string, opts: { group?: boolean } = {}): BindPlan {
  const fn = readFunction(bdf);
  if (!vfioPciLoaded()) {
    throw new PassthroughError('PT_ERR_VFIO_UNAVAILABLE', `vfio-pci is not loaded: run "modprobe vfio-pci" (as root), then bind again`, {
      bdf: fn.bdf,
      path: join(sysfsRoot(), 'bus/pci/drivers/vfio-pci'),
    });
  }
  if (fn.iommuGroup === undefined) {
    throw new PassthroughError(
      'PT_ERR_VFIO_UNAVAILABLE',
      `${fn.bdf} has no IOMMU group, so VFIO cannot open it: enable the IOMMU (intel_iommu=on or amd_iommu=on on the ` +
        `kernel command line, and VT-d/AMD-Vi in the firmware), or without one load vfio with enable_unsafe_noiommu_mode=1`,
      { bdf: fn.bdf },
    );
  }
  const others = groupMembers(fn.iommuGroup)
    .filter((m) => m !== fn.bdf)
    .map(member)
    .filter((m): m is GroupMember => m !== undefined);
  const targets = [fn, ...(opts.group === true ? others.filter((m) => !m.bridge && m.driver !== 'vfio-pci').map((m) => readFunction(m.bdf)) : [])];
  const writes = targets.flatMap(bindWrites);
  return {
    action: 'bind',
    bdf: fn.bdf,
    driverBefore: fn.driver ?? null,
    iommuGroup: fn.iommuGroup,
    targets: targets.map((t) => t.bdf),
    writes,
    group: others,
    note: writes.length === 0 ? `${fn.bdf} is already bound to vfio-pci` : undefined,
  };
}

/**
 * Plans `unbind`: clears `driver_override`, lets vfio-pci go and reprobes, so
 * the function's own driver (if any) takes it back. Errors: PT_ERR_NOT_FOUND.
 */
export function planUnbind(bdf: string): BindPlan {
  const fn = readFunction(bdf);
  const dir = functionDir(fn.bdf);
  const foreign = fn.driver !== undefined && fn.driver !== 'vfio-pci';
  const writes: SysfsWrite[] = [];
  if (readOverride(fn.bdf) !== null) writes.push({ path: join(dir, 'driver_override'), value: '', why: 'clear the driver override' });
  if (fn.driver === 'vfio-pci') writes.push({ path: join(dir, 'driver/unbind'), value: fn.bdf, why: `vfio-pci lets go of ${fn.bdf}` });
  if (!foreign && writes.length > 0) {
    writes.push({ path: join(sysfsRoot(), 'bus/pci/drivers_probe'), value: fn.bdf, why: `the kernel binds ${fn.bdf} to its own driver, if it has one` });
  }
  const group =
    fn.iommuGroup === undefined
      ? []
      : groupMembers(fn.iommuGroup)
          .filter((m) => m !== fn.bdf)
          .map(member)
          .filter((m): m is GroupMember => m !== undefined);
  return {
    action: 'unbind',
    bdf: fn.bdf,
    driverBefore: fn.driver ?? null,
    iommuGroup: fn.iommuGroup ?? null,
    targets: [fn.bdf],
    writes,
    group,
    note: foreign ? `${fn.bdf} is bound to ${fn.driver}, not vfio-pci` : writes.length === 0 ? `${fn.bdf} is not bound to vfio-pci` : undefined,
  };
}

/** Writes one sysfs file (injectable for tests). */
export type SysfsWriter = (path: string, value: string) => void;

const defaultWriter: SysfsWriter = (path, value) => writeFileSync(path, `${value}\n`);

/** Turns a failed sysfs write into a PassthroughError that says why and what to do. */
export function sysfsWriteError(write: SysfsWrite, e: unknown): PassthroughError {
  const code = (e as NodeJS.ErrnoException).code;
  const context = { path: write.path, value: write.value, osError: code };
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PassthroughError(
      'PT_ERR_PERMISSION',
      `cannot write ${write.path} (${code}): binding drivers needs root (CAP_SYS_ADMIN) and a writable /sys; run it with sudo`,
      context,
      { cause: e },
    );
  }
  if (code === 'ENOENT') {
    return new PassthroughError('PT_ERR_NOT_FOUND', `cannot write ${write.path}: it does not exist (the function went away, or the kernel is too old for driver_override)`, context, {
      cause: e,
    });
  }
  return new PassthroughError('PT_ERR_IO', `the kernel refused "${write.value}" > ${write.path} (${code ?? 'error'}); dmesg may say why`, context, { cause: e });
}

/**
 * Applies a plan's writes in order. For a bind, checks afterwards that every
 * target is bound to vfio-pci (PT_ERR_NOT_BOUND otherwise). Returns each
 * target's driver after the writes.
 */
export function applyPlan(plan: BindPlan, write: SysfsWriter = defaultWriter): Record<string, string | null> {
  for (const w of plan.writes) {
    try {
      write(w.path, w.value);
    } catch (e) {
      throw sysfsWriteError(w, e);
    }
  }
  const after: Record<string, string | null> = {};
  for (const bdf of plan.targets) after[bdf] = readFunction(bdf).driver ?? null;
  if (plan.action === 'bind') {
    const missed = plan.targets.filter((bdf) => after[bdf] !== 'vfio-pci');
    if (missed.length > 0) {
      throw new PassthroughError(
        'PT_ERR_NOT_BOUND',
        `the kernel did not bind ${missed.join(', ')} to vfio-pci (driver now: ${missed.map((b) => after[b] ?? 'none').join(', ')}); dmesg may say why`,
        { bdf: plan.bdf, missed },
      );
    }
  }
  return after;
}
