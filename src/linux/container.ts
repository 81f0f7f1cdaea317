/**
 * VFIO containers and groups, opened once per process and shared.
 *
 * A group file (/dev/vfio/N or /dev/vfio/noiommu-N) can be opened only once
 * system-wide, so every device of a group (the two functions of a
 * multifunction slot under VT-d) must get its device fd from the same group
 * fd. This table holds one container per group (type1v2, or no-IOMMU where
 * the kernel offers it), refcounted by the functions that use it, and gives
 * each function an IOVA window inside its container so that several workers
 * sharing a container never pick the same IOVA.
 *
 * The fds are process-wide: the supervisor opens them here and device
 * workers use the numbers (see host.ts / worker.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassthroughError } from '../errors.js';
import { type Bdf, toBdf } from '../types.js';
import { errnoError, LinuxErrno } from './errno.js';
import { libc } from './libc.js';
import { groupMembers, readFunction, requireVfioBound, vfioDevDir } from './sysfs.js';
import { GroupFlags, Libc, packArgsz, StructSize, VFIO_API_VERSION, VfioIoctl, VfioIommuType, getU32 } from './vfio-abi.js';

/** Start of the IOVA space pcipt hands out (below is left alone: some devices treat 0 as "no address"). */
export const IOVA_BASE = 0x10_0000n;
/** Size of each function's IOVA window inside a shared container (64 MiB). */
export const IOVA_WINDOW_BYTES = 0x400_0000n;

/** What a function needs from the table: structured-cloneable. */
export interface GroupLease {
  bdf: Bdf;
  group: string;
  containerFd: number;
  groupFd: number;
  /** VfioIommuType.TYPE1v2 / TYPE1 / NOIOMMU. */
  iommuType: number;
  /** First IOVA of this function's window. */
  iovaBase: bigint;
  /** Size of the window in bytes. */
  iovaSizeBytes: bigint;
}

interface OpenGroup {
  group: string;
  groupFd: number;
  containerFd: number;
  iommuType: number;
  /** bdf → window slot. */
  users: Map<Bdf, number>;
}

/** Opens /dev/vfio/vfio and checks the API version. Errors: PT_ERR_VFIO_UNAVAILABLE, PT_ERR_PERMISSION. */
function openContainer(): number {
  const lc = libc();
  const path = join(vfioDevDir(), 'vfio');
  if (!existsSync(path)) {
    throw new PassthroughError(
      'PT_ERR_VFIO_UNAVAILABLE',
      `${path} does not exist: load the VFIO modules ("modprobe vfio-pci") and enable the IOMMU (intel_iommu=on / amd_iommu=on)`,
      { path },
    );
  }
  const fd = lc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
  if (fd < 0) {
    const e = lc.errno();
    throw errnoError(`open(${path})`, e, { path }, e === LinuxErrno.EACCES || e === LinuxErrno.EPERM ? 'run as root or give your user access to /dev/vfio' : undefined);
  }
  const api = lc.ioctlInt(fd, VfioIoctl.GET_API_VERSION, 0);
  if (api !== VFIO_API_VERSION) {
    lc.close(fd);
    throw new PassthroughError('PT_ERR_VFIO_UNAVAILABLE', `unsupported VFIO API version ${api} (expected ${VFIO_API_VERSION})`, { path });
  }
  return fd;
}

/** The process-wide table of open groups and their containers. */
export class VfioGroupTable {
  readonly #groups = new Map<string, OpenGroup>();
  readonly #byBdf = new Map<Bdf, OpenGroup>();

  /**
   * Opens (or references) the container and group of `bdf` for one user.
   * Errors: PT_ERR_NOT_FOUND, PT_ERR_NOT_BOUND, PT_ERR_VFIO_UNAVAILABLE, PT_ERR_GROUP_NOT_VIABLE,
   * PT_ERR_PERMISSION, PT_ERR_DUPLICATE_OWNER (the function already has a lease, or another
   * process holds the group).
   */
  acquire(bdfText: string): GroupLease {
    const bdf = toBdf(bdfText);
    if (this.#byBdf.has(bdf)) {
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `${bdf} is already attached in this process; detach it first`, { bdf });
    }
    const fn = requireVfioBound(bdf);
    let g = this.#groups.get(fn.iommuGroup);
    if (g === undefined) {
      g = this.#openGroup(bdf, fn.iommuGroup);
      this.#groups.set(fn.iommuGroup, g);
    }
    let slot = 0;
    const used = new Set(g.users.values());
    while (used.has(slot)) slot++;
    g.users.set(bdf, slot);
    this.#byBdf.set(bdf, g);
    return {
      bdf,
      group: g.group,
      containerFd: g.containerFd,
      groupFd: g.groupFd,
      iommuType: g.iommuType,
      iovaBase: IOVA_BASE + BigInt(slot) * IOVA_WINDOW_BYTES,
      iovaSizeBytes: IOVA_WINDOW_BYTES,
    };
  }

  /** Drops the lease of `bdf`; the last user of a group closes the group and its container. Idempotent. */
  release(bdfText: string): void {
    const bdf = toBdf(bdfText);
    const g = this.#byBdf.get(bdf);
    if (g === undefined) return;
    this.#byBdf.delete(bdf);
    g.users.delete(bdf);
    if (g.users.size === 0) {
      this.#groups.delete(g.group);
      const lc = libc();
      // Closing the group detaches it from the container; then the container goes.
      lc.close(g.groupFd);
      lc.close(g.containerFd);
    }
  }

  /** True when `bdf` holds a lease. */
  has(bdfText: string): boolean {
    return this.#byBdf.has(toBdf(bdfText));
  }

  /** Functions holding leases. */
  leased(): Bdf[] {
    return [...this.#byBdf.keys()];
  }

  /** Releases every lease. */
  closeAll(): void {
    for (const bdf of [...this.#byBdf.keys()]) this.release(bdf);
  }

  #openGroup(bdf: Bdf, group: string): OpenGroup {
    const lc = libc();
    const dir = vfioDevDir();
    const containerFd = openContainer();
    let path = join(dir, group);
    let noiommu = false;
    if (!existsSync(path) && existsSync(join(dir, `noiommu-${group}`))) {
      path = join(dir, `noiommu-${group}`);
      noiommu = true;
    }
    const groupFd = lc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
    if (groupFd < 0) {
      const e = lc.errno();
      lc.close(containerFd);
      if (e === LinuxErrno.EBUSY) {
        throw new PassthroughError(
          'PT_ERR_DUPLICATE_OWNER',
          `IOMMU group ${group} of ${bdf} is already open elsewhere (a VFIO group can be opened once: another process, or another pcipt supervisor thread); stop that user first`,
          { bdf, group, path, errno: 'EBUSY' },
        );
      }
      const hint =
        e === LinuxErrno.EACCES || e === LinuxErrno.EPERM
          ? `run as root or give your user access to ${path} (a udev rule, or chown)`
          : e === LinuxErrno.ENOENT
            ? `no group file: check that ${bdf} is bound to vfio-pci`
            : undefined;
      throw errnoError(`open(${path})`, e, { bdf, group, path }, hint);
    }
    try {
      const st = packArgsz(StructSize.groupStatus);
      if (lc.ioctlPtr(groupFd, VfioIoctl.GROUP_GET_STATUS, st) !== 0) {
        throw errnoError('ioctl(VFIO_GROUP_GET_STATUS)', lc.errno(), { bdf, group });
      }
      if ((getU32(st, 4) & GroupFlags.VIABLE) === 0) {
        const others = groupMembers(group).filter((m) => {
          try {
            return readFunction(m).driver !== 'vfio-pci';
          } catch {
            return false;
          }
        });
        throw new PassthroughError(
          'PT_ERR_GROUP_NOT_VIABLE',
          `IOMMU group ${group} of ${bdf} is not viable: every device in it must be bound to vfio-pci or unbound` +
            (others.length > 0 ? ` (bind or unbind: ${others.join(', ')})` : ''),
          { bdf, group, others },
        );
      }
      const iommuType = noiommu
        ? VfioIommuType.NOIOMMU
        : lc.ioctlInt(containerFd, VfioIoctl.CHECK_EXTENSION, VfioIommuType.TYPE1v2) > 0
          ? VfioIommuType.TYPE1v2
          : VfioIommuType.TYPE1;
      if (lc.ioctlInt(containerFd, VfioIoctl.CHECK_EXTENSION, iommuType) <= 0) {
        throw new PassthroughError('PT_ERR_VFIO_UNAVAILABLE', `the VFIO container does not support IOMMU type ${iommuType}`, {
          bdf,
          group,
        });
      }
      const fdArg = new Uint8Array(4);
      new Int32Array(fdArg.buffer)[0] = containerFd;
      if (lc.ioctlPtr(groupFd, VfioIoctl.GROUP_SET_CONTAINER, fdArg) !== 0) {
        throw errnoError('ioctl(VFIO_GROUP_SET_CONTAINER)', lc.errno(), { bdf, group });
      }
      if (lc.ioctlInt(containerFd, VfioIoctl.SET_IOMMU, iommuType) !== 0) {
        throw errnoError('ioctl(VFIO_SET_IOMMU)', lc.errno(), { bdf, group, iommuType });
      }
      return { group, groupFd, containerFd, iommuType, users: new Map() };
    } catch (e) {
      lc.close(groupFd);
      lc.close(containerFd);
      throw e;
    }
  }
}

let shared: VfioGroupTable | undefined;
/** The table of this thread (the supervisor's, or a standalone program's). */
export function sharedGroupTable(): VfioGroupTable {
  shared ??= new VfioGroupTable();
  return shared;
}
