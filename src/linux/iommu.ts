/**
 * linuxIommuOps: the IommuOps container over VFIO type1 (VFIO_IOMMU_MAP_DMA /
 * UNMAP_DMA), or no-IOMMU (no mapping: the device uses physical addresses,
 * so dmaMap answers PT_ERR_NOT_SUPPORTED).
 *
 * The container does not open groups itself: a {@link GroupProvider} gives it
 * the container and group fds of a function (the supervisor's
 * {@link VfioGroupTable} in a standalone program, or the fds a worker got in
 * its spec). DMA mappings are made in every container this instance uses, at
 * the same IOVA, and replayed into a container that joins later (what QEMU's
 * container listener does).
 */
import { PassthroughError } from '../errors.js';
import { trace, traceEnabled } from '../trace.js';
import { type Bdf, type Iova, toBdf } from '../types.js';
import type { AttachedDevice, DmaMapping, DmaMapRequest, IommuOps } from '../vfio/iommu-ops.js';
import { type GroupLease, sharedGroupTable, type VfioGroupTable } from './container.js';
import { createLinuxDevice, enableBusMaster, LINUX_PAGE_BYTES, type LinuxDevice } from './device.js';
import { errnoError } from './errno.js';
import { libc, type LibcBindings } from './libc.js';
import { DmaMapFlags, getU64, packArgsz, packDmaMap, packDmaUnmap, StructSize, VfioIommuType, VfioIoctl } from './vfio-abi.js';

/** Where the container gets a function's fds from. */
export interface GroupProvider {
  /** Container and group of `bdf` (throws the VfioGroupTable errors). */
  lease(bdf: Bdf): GroupLease;
  /** Gives the lease back (idempotent). */
  unlease(bdf: Bdf): void;
}

/** A provider over a group table (the standalone / supervisor-thread case). */
export function tableProvider(table: VfioGroupTable = sharedGroupTable()): GroupProvider {
  return { lease: (bdf) => table.acquire(bdf), unlease: (bdf) => table.release(bdf) };
}

/** A provider over fixed leases (the worker case: the supervisor already holds the fds). Unknown bdf → PT_ERR_NOT_FOUND. */
export function fixedProvider(leases: readonly GroupLease[]): GroupProvider {
  const byBdf = new Map(leases.map((l) => [toBdf(l.bdf), l]));
  return {
    lease(bdf) {
      const l = byBdf.get(bdf);
      if (l === undefined) {
        throw new PassthroughError('PT_ERR_NOT_FOUND', `${bdf} was not prepared for this worker (prepare it through the backend host)`, { bdf });
      }
      return l;
    },
    unlease() {},
  };
}

const PAGE = BigInt(LINUX_PAGE_BYTES);

interface Mapping {
  /** Page-aligned IOVA the kernel mapping starts at. */
  iova: bigint;
  /** Page-aligned host address. */
  vaddr: bigint;
  /** Page-rounded length. */
  lengthBytes: bigint;
  readonly: boolean;
  /** What the caller asked for. */
  result: DmaMapping;
}

/** The linux IommuOps plus its extras. */
export interface LinuxIommuOps extends IommuOps {
  /** The attached device (ops, info, interrupts) of `bdf`, if attached. */
  device(bdf: string): LinuxDevice | undefined;
  /** Detaches everything and drops every mapping and lease. Idempotent. */
  close(): void;
}

/**
 * Creates a linux container.
 * @param provider where fds come from (default: this thread's shared group table)
 */
export function createLinuxIommuOps(provider: GroupProvider = tableProvider(), lc: LibcBindings = libc()): LinuxIommuOps {
  const devices = new Map<Bdf, { dev: LinuxDevice; lease: GroupLease; attached: AttachedDevice }>();
  /** containerFd → iommu type (the containers this instance maps into). */
  const containers = new Map<number, number>();
  const mappings = new Map<bigint, Mapping>();
  let window: { base: bigint; end: bigint } | undefined;

  const kernelMap = (containerFd: number, m: Mapping): void => {
    const flags = DmaMapFlags.READ | (m.readonly ? 0 : DmaMapFlags.WRITE);
    // SAFETY: vaddr..vaddr+length is memory of this process (a SharedArrayBuffer store or a native
    // buffer the caller owns); type1 pins the pages until the unmap.
    if (lc.ioctlPtr(containerFd, VfioIoctl.IOMMU_MAP_DMA, packDmaMap(m.vaddr, m.iova, m.lengthBytes, flags)) !== 0) {
      const e = lc.errno();
      throw errnoError('ioctl(VFIO_IOMMU_MAP_DMA)', e, { iova: m.iova, sizeBytes: Number(m.lengthBytes) });
    }
  };
  const kernelUnmap = (containerFd: number, m: Mapping): void => {
    lc.ioctlPtr(containerFd, VfioIoctl.IOMMU_UNMAP_DMA, packDmaUnmap(m.iova, m.lengthBytes));
  };

  const allocIova = (lengthBytes: bigint): bigint => {
    const w = window ?? { base: 0x10_0000n, end: 0x10_0000n + 0x400_0000n };
    const used = [...mappings.values()].sort((a, b) => (a.iova < b.iova ? -1 : 1));
    let cursor = w.base;
    for (const m of used) {
      if (m.iova + m.lengthBytes <= cursor) continue;
      if (m.iova >= cursor + lengthBytes) break;
      cursor = m.iova + m.lengthBytes;
    }
    if (cursor + lengthBytes > w.end) {
      throw new PassthroughError('PT_ERR_NO_SPACE', `no free IOVA range of ${lengthBytes} bytes in this container's window`, {
        sizeBytes: Number(lengthBytes),
        iova: w.base,
      });
    }
    return cursor;
  };

  const ops: LinuxIommuOps = {
    setup() {
      for (const [fd, type] of containers) {
        if (type === VfioIommuType.NOIOMMU) continue;
        const b = packArgsz(StructSize.iommuType1Info);
        if (lc.ioctlPtr(fd, VfioIoctl.IOMMU_GET_INFO, b) === 0) {
          const mask = getU64(b, 8);
          const sizes: number[] = [];
          for (let bit = 12n; bit < 40n; bit++) if ((mask >> bit) & 1n) sizes.push(Number(1n << bit));
          return { pageSizesBytes: sizes.length > 0 ? sizes.slice(0, 3) : [LINUX_PAGE_BYTES], maxMappings: 65535 };
        }
      }
      return { pageSizesBytes: [LINUX_PAGE_BYTES], maxMappings: 65535 };
    },

    dmaMap(req: DmaMapRequest): DmaMapping {
      if (req.sizeBytes <= 0n) throw new PassthroughError('PT_ERR_BAD_ARGUMENT', 'dmaMap size must be > 0', { sizeBytes: Number(req.sizeBytes) });
      if ([...containers.values()].some((t) => t === VfioIommuType.NOIOMMU)) {
        throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'a no-IOMMU container cannot map DMA: the device uses physical addresses', {});
      }
      // type1 maps whole pages: round the host range out to pages and keep the in-page offset.
      const pageOffset = BigInt(req.hostVa) % PAGE;
      const vaddr = BigInt(req.hostVa) - pageOffset;
      const lengthBytes = ((pageOffset + req.sizeBytes + PAGE - 1n) / PAGE) * PAGE;
      let iova: bigint;
      if (req.iova !== undefined) {
        if (BigInt(req.iova) % PAGE !== pageOffset) {
          throw new PassthroughError('PT_ERR_NOT_ALIGNED', 'the IOVA and the host address must have the same offset within a 4 KiB page', {
            iova: req.iova,
            hostVa: `0x${BigInt(req.hostVa).toString(16)}`,
          });
        }
        iova = BigInt(req.iova) - pageOffset;
      } else {
        iova = allocIova(lengthBytes);
      }
      const key = (iova + pageOffset) as Iova;
      if (mappings.has(key)) throw new PassthroughError('PT_ERR_STILL_OPEN', `IOVA 0x${key.toString(16)} is already mapped`, { iova: key });
      const m: Mapping = { iova, vaddr, lengthBytes, readonly: req.readonly === true, result: { key, busAddr: key, sizeBytes: req.sizeBytes } };
      const done: number[] = [];
      try {
        for (const fd of containers.keys()) {
          kernelMap(fd, m);
          done.push(fd);
        }
      } catch (e) {
        for (const fd of done) kernelUnmap(fd, m);
        throw e;
      }
      mappings.set(key, m);
      if (traceEnabled('pcipt:dma:map')) trace('pcipt:dma:map', { key, busAddr: key, sizeBytes: req.sizeBytes });
      return m.result;
    },

    dmaUnmap(key: Iova): void {
      const m = mappings.get(BigInt(key));
      if (m === undefined) throw new PassthroughError('PT_ERR_NOT_FOUND', `no DMA mapping with key 0x${BigInt(key).toString(16)}`, { iova: key });
      mappings.delete(BigInt(key));
      for (const fd of containers.keys()) kernelUnmap(fd, m);
      if (traceEnabled('pcipt:dma:unmap')) trace('pcipt:dma:unmap', { key });
    },

    attachDevice(bdfText: Bdf): AttachedDevice {
      const bdf = toBdf(bdfText);
      if (devices.has(bdf)) {
        throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `${bdf} is already attached to this container`, { bdf });
      }
      const lease = provider.lease(bdf);
      let dev: LinuxDevice | undefined;
      let newContainer = false;
      try {
        const fd = lc.ioctlStr(lease.groupFd, VfioIoctl.GROUP_GET_DEVICE_FD, bdf);
        if (fd < 0) throw errnoError('ioctl(VFIO_GROUP_GET_DEVICE_FD)', lc.errno(), { bdf }, 'check that the device is bound to vfio-pci');
        dev = createLinuxDevice(bdf, fd, lc);
        // MSI and DMA need bus mastering; vfio-pci enables memory decoding only.
        enableBusMaster(dev.ops);
        if (!containers.has(lease.containerFd)) {
          newContainer = true;
          containers.set(lease.containerFd, lease.iommuType);
          for (const m of mappings.values()) kernelMap(lease.containerFd, m);
        }
        window ??= { base: lease.iovaBase, end: lease.iovaBase + lease.iovaSizeBytes };
      } catch (e) {
        if (newContainer) {
          for (const m of mappings.values()) kernelUnmap(lease.containerFd, m);
          containers.delete(lease.containerFd);
        }
        dev?.close();
        provider.unlease(bdf);
        throw e;
      }
      const attached: AttachedDevice = { bdf, name: `vfio-${bdf}`, info: dev.info, ops: dev.ops, interrupts: dev.interrupts };
      devices.set(bdf, { dev, lease, attached });
      return attached;
    },

    detachDevice(bdfText: Bdf): void {
      const bdf = toBdf(bdfText);
      const d = devices.get(bdf);
      if (d === undefined) return;
      devices.delete(bdf);
      d.dev.close();
      const fd = d.lease.containerFd;
      if (![...devices.values()].some((x) => x.lease.containerFd === fd)) {
        // The last device of this container leaves: its mappings go with it (the group may close).
        for (const m of mappings.values()) kernelUnmap(fd, m);
        containers.delete(fd);
      }
      provider.unlease(bdf);
    },

    setDirtyPageTracking(): void {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'the linux backend does not support migration (dirty page tracking)', { errno: 'ENOTSUP' });
    },

    queryDirtyBitmap(): Uint8Array {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'the linux backend does not support migration (dirty page tracking)', { errno: 'ENOTSUP' });
    },

    device(bdf: string): LinuxDevice | undefined {
      return devices.get(toBdf(bdf))?.dev;
    },

    close(): void {
      for (const bdf of [...devices.keys()]) ops.detachDevice(bdf);
      mappings.clear();
    },
  };
  return ops;
}
