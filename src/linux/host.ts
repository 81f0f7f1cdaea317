/**
 * The supervisor-side half of the linux backend: enumeration from sysfs,
 * readiness, and the container/group fds the device workers use. Groups are
 * opened here, once per process (see container.ts); a worker gets the fd
 * numbers in its spec (fds are process-wide, so the numbers are valid there).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendHost, BackendStatus, FunctionSummary, RegionSummary, WorkerBackendSpec } from '../vfio/backend.js';
import { PassthroughError } from '../errors.js';
import { toBdf } from '../types.js';
import { type GroupLease, sharedGroupTable, VfioGroupTable } from './container.js';
import { functionDir, listSysfsFunctions, readFunction, vfioDevDir } from './sysfs.js';

/** The options a linux worker spec carries (structured-cloneable). */
export interface LinuxWorkerOptions {
  bdf: string;
  containerFd: number;
  groupFd: number;
  group: string;
  iommuType: number;
  /** Decimal strings (bigints do not survive every transport). */
  iovaBase: string;
  iovaSizeBytes: string;
}

/** Turns a lease into worker options. */
export function leaseToOptions(l: GroupLease): LinuxWorkerOptions {
  return {
    bdf: l.bdf,
    containerFd: l.containerFd,
    groupFd: l.groupFd,
    group: l.group,
    iommuType: l.iommuType,
    iovaBase: l.iovaBase.toString(),
    iovaSizeBytes: l.iovaSizeBytes.toString(),
  };
}

function loadedModules(): Set<string> {
  try {
    return new Set(readFileSync('/proc/modules', 'utf8').split('\n').map((l) => l.split(' ')[0]!).filter((s) => s.length > 0));
  } catch {
    return new Set();
  }
}

/** IORESOURCE_* bits of sysfs `resource` lines. */
const IORESOURCE = { IO: 0x100, MEM: 0x200, PREFETCH: 0x2000, MEM_64: 0x100000 } as const;

/** Parses /sys/bus/pci/devices/BDF/resource into the BARs (lines 0–5: start end flags). */
export function parseSysfsResource(text: string): RegionSummary[] {
  const out: RegionSummary[] = [];
  text
    .split('\n')
    .slice(0, 6)
    .forEach((line, bar) => {
      const [start, end, flags] = line.trim().split(/\s+/).map((x) => BigInt(x));
      if (start === undefined || end === undefined || flags === undefined || (start === 0n && end === 0n)) return;
      const f = Number(flags & 0xffff_ffffn);
      out.push({
        bar,
        type: f & IORESOURCE.IO ? 'io' : 'memory',
        sizeBytes: Number(end - start + 1n),
        prefetch: (f & IORESOURCE.PREFETCH) !== 0,
        mem64: (f & IORESOURCE.MEM_64) !== 0,
      });
    });
  return out;
}

/** Options of {@link createLinuxBackendHost}. */
export interface LinuxHostOptions {
  /** The group table to use (default: this thread's shared one). */
  table?: VfioGroupTable;
}

/**
 * Creates the linux BackendHost.
 * prepare() errors: PT_ERR_NOT_FOUND, PT_ERR_NOT_BOUND, PT_ERR_GROUP_NOT_VIABLE, PT_ERR_PERMISSION,
 * PT_ERR_VFIO_UNAVAILABLE, PT_ERR_DUPLICATE_OWNER (already prepared, or the group is open elsewhere).
 */
export function createLinuxBackendHost(options: LinuxHostOptions & Record<string, unknown> = {}): BackendHost {
  const table = options.table ?? sharedGroupTable();
  return {
    name: 'linux',
    async listFunctions(): Promise<FunctionSummary[]> {
      const vfioPresent = existsSync(join(vfioDevDir(), 'vfio'));
      return listSysfsFunctions().map((f) => ({
        bdf: f.bdf,
        vendorId: f.vendorId,
        deviceId: f.deviceId,
        classCode: f.classCode,
        driver: f.driver,
        attachable: vfioPresent && f.driver === 'vfio-pci' && f.iommuGroup !== undefined,
        details: (f.iommuGroup === undefined ? {} : { iommuGroup: f.iommuGroup }) as Record<string, string>,
      }));
    },
    async status(): Promise<BackendStatus> {
      const details: string[] = [];
      if (process.platform !== 'linux') {
        return { backend: 'linux', ready: false, state: 'unsupported-platform', details: [`platform ${process.platform}`] };
      }
      const mods = loadedModules();
      const vfioMods = ['vfio', 'vfio_pci', 'vfio_iommu_type1'].filter((m) => mods.has(m));
      details.push(`vfio modules loaded: ${vfioMods.length > 0 ? vfioMods.join(', ') : 'none (or built in)'}`);
      const dev = vfioDevDir();
      const present = existsSync(join(dev, 'vfio'));
      details.push(present ? `${dev}/vfio present` : `${dev}/vfio missing: modprobe vfio-pci`);
      const bound = listSysfsFunctions().filter((f) => f.driver === 'vfio-pci');
      details.push(`${bound.length} function(s) bound to vfio-pci${bound.length > 0 ? `: ${bound.map((f) => f.bdf).join(', ')}` : ''}`);
      const state = !present ? 'not-installed' : bound.length === 0 ? 'no-devices' : 'active';
      return { backend: 'linux', ready: present, state, details };
    },
    async readConfig(bdf: string): Promise<Uint8Array> {
      const fn = readFunction(bdf);
      try {
        // sysfs gives 256 bytes to non-root users and the full 4096 to root.
        return new Uint8Array(readFileSync(join(functionDir(fn.bdf), 'config')));
      } catch (cause) {
        throw new PassthroughError('PT_ERR_PERMISSION', `cannot read the config space of ${fn.bdf}; run as root`, { bdf: fn.bdf }, { cause });
      }
    },
    async regions(bdf: string): Promise<RegionSummary[]> {
      const fn = readFunction(bdf);
      return parseSysfsResource(readFileSync(join(functionDir(fn.bdf), 'resource'), 'utf8'));
    },
    async prepare(bdf: string): Promise<WorkerBackendSpec> {
      const lease = table.acquire(bdf);
      return { backend: 'linux', options: { ...leaseToOptions(lease) } };
    },
    release(bdf: string): void {
      table.release(toBdf(bdf));
    },
    async close(): Promise<void> {
      table.closeAll();
    },
  };
}
