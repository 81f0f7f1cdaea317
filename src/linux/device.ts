/**
 * linuxDeviceIoOps: the DeviceIoOps table over one vfio-pci device fd.
 *
 * - region info: VFIO_DEVICE_GET_REGION_INFO (cached per index)
 * - slow path: pread/pwrite of the exact width at the region's file offset
 *   (vfio-pci turns an aligned 1/2/4/8-byte pread of a BAR into one access
 *   of that width; config space accepts any size)
 * - fast path: mmap of the BAR into a {@link NativeMappedMemory}
 * - interrupts: VFIO_DEVICE_SET_IRQS with one eventfd per vector, watched by
 *   the device's {@link LinuxInterruptSource}
 * - reset: VFIO_DEVICE_RESET
 */
import { PassthroughError } from '../errors.js';
import { trace, traceEnabled } from '../trace.js';
import { CapId, Cfg, Msix } from '../pci/config-space.js';
import type {
  DeviceInfo,
  DeviceIoOps,
  IrqInfo,
  IrqSetRequest,
  MappedRegion,
  RegionInfo,
} from '../vfio/device-io-ops.js';
import { DeviceFlags, NUM_IRQS, RegionFlags, RegionIndex } from '../vfio/device-io-ops.js';
import { errnoError, LinuxErrno } from './errno.js';
import { createEventfd, LinuxInterruptSource } from './interrupts.js';
import { libc, type LibcBindings } from './libc.js';
import { NativeMappedMemory } from './mapped-bar.js';
import {
  IrqSetFlags,
  Libc,
  packArgsz,
  packIrqInfo,
  packIrqSet,
  packRegionInfo,
  regionOffset,
  StructSize,
  unpackDeviceInfo,
  unpackIrqInfo,
  unpackRegionInfo,
  VfioIoctl,
} from './vfio-abi.js';

/** Host page size used to round mappings (Linux x86-64 / arm64 4 KiB kernels). */
export const LINUX_PAGE_BYTES = 4096;

/** A device opened from its group: the ops table plus what detach needs. */
export interface LinuxDevice {
  readonly bdf: string;
  readonly fd: number;
  readonly info: DeviceInfo;
  readonly ops: DeviceIoOps;
  readonly interrupts: LinuxInterruptSource;
  /** Disables interrupts, unmaps BARs, closes eventfds and the device fd. Idempotent. */
  close(): void;
}

/** VFIO_DEVICE_GET_INFO on a device fd. */
export function getDeviceInfo(fd: number, bdf: string, lc: LibcBindings = libc()): DeviceInfo {
  const b = packArgsz(StructSize.deviceInfo);
  if (lc.ioctlPtr(fd, VfioIoctl.DEVICE_GET_INFO, b) !== 0) throw errnoError('ioctl(VFIO_DEVICE_GET_INFO)', lc.errno(), { bdf });
  return unpackDeviceInfo(b);
}

function widthOk(w: number): w is 1 | 2 | 4 | 8 {
  return w === 1 || w === 2 || w === 4 || w === 8;
}

/**
 * Builds the ops of an open device fd (the fd is owned by the result and closed by close()).
 * Throws what GET_DEVICE_INFO throws.
 */
export function createLinuxDevice(bdf: string, fd: number, lc: LibcBindings = libc()): LinuxDevice {
  const info = getDeviceInfo(fd, bdf, lc);
  const interrupts = new LinuxInterruptSource(bdf, lc);
  const regionCache = new Map<number, RegionInfo>();
  const maps = new Map<number, { memory: NativeMappedMemory; lengthBytes: number }>();
  /** Eventfds per irq index (owned here, watched by `interrupts`). */
  const irqFds = new Map<number, number[]>();
  let closed = false;

  const ctx = (extra: Record<string, unknown> = {}) => ({ bdf, ...extra });
  const requireOpen = (): void => {
    if (closed) throw new PassthroughError('PT_ERR_NO_CONNECTION', `${bdf} is detached`, { bdf, errno: 'ENODEV' });
  };

  const getRegionInfo = (index: number): RegionInfo => {
    requireOpen();
    const hit = regionCache.get(index);
    if (hit !== undefined) return hit;
    if (!Number.isInteger(index) || index < 0 || index >= info.numRegions) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `region index ${index} is out of range (0–${info.numRegions - 1})`, {
        bdf,
        region: index,
        errno: 'EINVAL',
      });
    }
    const b = packRegionInfo(index);
    if (lc.ioctlPtr(fd, VfioIoctl.DEVICE_GET_REGION_INFO, b) !== 0) {
      const e = lc.errno();
      if (e === LinuxErrno.EINVAL) {
        // vfio-pci refuses regions the function does not have (VGA on a non-VGA device):
        // report them as empty, as the index is within num_regions.
        const empty: RegionInfo = { index, flags: 0, sizeBytes: 0n, offset: regionOffset(index) };
        regionCache.set(index, empty);
        return empty;
      }
      throw errnoError('ioctl(VFIO_DEVICE_GET_REGION_INFO)', e, ctx({ region: index }));
    }
    const r = unpackRegionInfo(b);
    const out: RegionInfo = { index, flags: r.flags, sizeBytes: r.sizeBytes, offset: r.offset };
    regionCache.set(index, out);
    return out;
  };

  const checkRange = (index: number, offsetBytes: number, sizeBytes: number, region: RegionInfo): void => {
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || BigInt(offsetBytes + sizeBytes) > region.sizeBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `access at ${offsetBytes}+${sizeBytes} is outside region ${index}`, {
        bdf,
        region: index,
        offsetBytes,
        width: sizeBytes,
        sizeBytes: Number(region.sizeBytes),
        errno: 'EINVAL',
      });
    }
  };

  const regionRead = (index: number, offsetBytes: number, sizeBytes: number): Uint8Array => {
    const region = getRegionInfo(index);
    const out = new Uint8Array(sizeBytes);
    if (index === RegionIndex.CONFIG) {
      // Block reads past the end read as zero (the contract's "zero-filled past 4096").
      const avail = Math.max(0, Math.min(sizeBytes, Number(region.sizeBytes) - offsetBytes));
      if (avail > 0) {
        const n = lc.pread(fd, out, avail, region.offset + BigInt(offsetBytes));
        if (n < 0) throw errnoError('pread(config)', lc.errno(), ctx({ region: index, offsetBytes, width: sizeBytes }));
      }
    } else {
      if (!widthOk(sizeBytes)) {
        throw new PassthroughError('PT_ERR_BAD_WIDTH', `BAR access width ${sizeBytes} is not 1, 2, 4 or 8`, ctx({ region: index, width: sizeBytes, errno: 'EINVAL' }));
      }
      checkRange(index, offsetBytes, sizeBytes, region);
      const n = lc.pread(fd, out, sizeBytes, region.offset + BigInt(offsetBytes));
      if (n !== sizeBytes) throw errnoError('pread(region)', n < 0 ? lc.errno() : 5, ctx({ region: index, offsetBytes, width: sizeBytes }));
    }
    if (traceEnabled('pcipt:region:read')) trace('pcipt:region:read', { bdf, region: index, offsetBytes, width: sizeBytes, value: [...out] });
    return out;
  };

  const regionWrite = (index: number, offsetBytes: number, data: Uint8Array): number => {
    const region = getRegionInfo(index);
    if (index !== RegionIndex.CONFIG && !widthOk(data.length)) {
      throw new PassthroughError('PT_ERR_BAD_WIDTH', `BAR access width ${data.length} is not 1, 2, 4 or 8`, ctx({ region: index, width: data.length, errno: 'EINVAL' }));
    }
    checkRange(index, offsetBytes, data.length, region);
    const n = lc.pwrite(fd, data, data.length, region.offset + BigInt(offsetBytes));
    if (n < 0) throw errnoError('pwrite(region)', lc.errno(), ctx({ region: index, offsetBytes, width: data.length }));
    if (traceEnabled('pcipt:region:write')) trace('pcipt:region:write', { bdf, region: index, offsetBytes, width: data.length, value: [...data] });
    return n;
  };

  /** Scratch for the numeric accessors (one access at a time: the device worker is single-threaded). */
  const scratch = new Uint8Array(8);

  const configAccessCheck = (offsetBytes: number, width: number): void => {
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes >= 4096 || (width !== 1 && width !== 2 && width !== 4)) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `config access of ${width} bytes at ${offsetBytes} is outside 4096 bytes`, ctx({ region: RegionIndex.CONFIG, offsetBytes, width, errno: 'EINVAL' }));
    }
  };

  const configReadValue = (offsetBytes: number, width: 1 | 2 | 4): number => {
    configAccessCheck(offsetBytes, width);
    const b = regionRead(RegionIndex.CONFIG, offsetBytes, width);
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + b[i]!;
    return v >>> 0;
  };

  const configWriteValue = (offsetBytes: number, width: 1 | 2 | 4, value: number): void => {
    configAccessCheck(offsetBytes, width);
    const b = scratch.subarray(0, width);
    for (let i = 0; i < width; i++) b[i] = (value >>> (8 * i)) & 0xff;
    regionWrite(RegionIndex.CONFIG, offsetBytes, b);
  };

  const barReadValue = (bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8): bigint => {
    const b = regionRead(bar, offsetBytes, width);
    let v = 0n;
    for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    return v;
  };

  const barWriteValue = (bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void => {
    const b = scratch.subarray(0, width);
    let v = BigInt.asUintN(64, value);
    for (let i = 0; i < width; i++) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    regionWrite(bar, offsetBytes, b);
  };

  const configRead32 = (off: number): number => {
    const b = regionRead(RegionIndex.CONFIG, off, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  };

  /** MSI-X table and PBA ranges inside BAR `bar` (trapped: never in a fast-path window). */
  const msixTraps = (bar: number): { offsetBytes: number; lengthBytes: number }[] => {
    const traps: { offsetBytes: number; lengthBytes: number }[] = [];
    const cfg = regionRead(RegionIndex.CONFIG, 0, 256);
    let p = cfg[Cfg.CAPABILITY_LIST]! & 0xfc;
    for (let guard = 0; p !== 0 && guard < 48; guard++) {
      if (cfg[p] === CapId.MSIX) {
        const entries = ((cfg[p + Msix.FLAGS]! | (cfg[p + Msix.FLAGS + 1]! << 8)) & Msix.FLAGS_QSIZE) + 1;
        const table = configRead32(p + Msix.TABLE);
        const pba = configRead32(p + Msix.PBA);
        if ((table & Msix.BIR_MASK) === bar) traps.push({ offsetBytes: table & ~7, lengthBytes: entries * Msix.ENTRY_BYTES });
        if ((pba & Msix.BIR_MASK) === bar) traps.push({ offsetBytes: pba & ~7, lengthBytes: Math.ceil(entries / 64) * 8 });
      }
      p = cfg[p + 1]! & 0xfc;
    }
    return traps;
  };

  const regionMap = (index: number): MappedRegion | undefined => {
    requireOpen();
    if (index < RegionIndex.BAR0 || index > RegionIndex.BAR5 || maps.has(index)) return undefined;
    const region = getRegionInfo(index);
    if (region.sizeBytes === 0n || (region.flags & RegionFlags.MMAP) === 0) return undefined;
    const sizeBytes = Number(region.sizeBytes);
    const lengthBytes = Math.ceil(sizeBytes / LINUX_PAGE_BYTES) * LINUX_PAGE_BYTES;
    let prot = 0;
    if (region.flags & RegionFlags.READ) prot |= Libc.PROT_READ;
    if (region.flags & RegionFlags.WRITE) prot |= Libc.PROT_WRITE;
    // SAFETY: maps the BAR's region of our own device fd; the mapping lives until regionUnmap/close,
    // which invalidate every view this module made before munmap.
    const address = lc.mmap(lengthBytes, prot, Libc.MAP_SHARED, fd, region.offset);
    if (address === Libc.MAP_FAILED || address === 0n) {
      throw errnoError('mmap(BAR)', lc.errno(), ctx({ region: index, sizeBytes, errno: 'EIO' }));
    }
    const traps = msixTraps(index);
    const memory = new NativeMappedMemory({ bdf, bar: index, address, lengthBytes, writeCombined: false, trapRanges: traps });
    maps.set(index, { memory, lengthBytes });
    const windows: { offsetBytes: number; lengthBytes: number }[] = [];
    let cursor = 0;
    for (const t of [...traps].sort((a, b) => a.offsetBytes - b.offsetBytes)) {
      const start = Math.floor(t.offsetBytes / LINUX_PAGE_BYTES) * LINUX_PAGE_BYTES;
      if (start > cursor) windows.push({ offsetBytes: cursor, lengthBytes: start - cursor });
      cursor = Math.max(cursor, Math.ceil((t.offsetBytes + t.lengthBytes) / LINUX_PAGE_BYTES) * LINUX_PAGE_BYTES);
    }
    if (cursor < sizeBytes) windows.push({ offsetBytes: cursor, lengthBytes: sizeBytes - cursor });
    if (traceEnabled('pcipt:region:map')) trace('pcipt:region:map', { bdf, region: index, sizeBytes, windows });
    return { index, memory, sizeBytes, windows };
  };

  const regionUnmap = (index: number): void => {
    const m = maps.get(index);
    if (m === undefined) return;
    maps.delete(index);
    m.memory.invalidate();
    // SAFETY: the caller guarantees no thread still holds a view (contract); ours are dropped above.
    lc.munmap(m.memory.address, m.lengthBytes);
    if (traceEnabled('pcipt:region:unmap')) trace('pcipt:region:unmap', { bdf, region: index });
  };

  const getIrqInfo = (index: number): IrqInfo => {
    requireOpen();
    if (!Number.isInteger(index) || index < 0 || index >= Math.min(info.numIrqs, NUM_IRQS)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `irq index ${index} is out of range`, { bdf, errno: 'EINVAL', index });
    }
    const b = packIrqInfo(index);
    if (lc.ioctlPtr(fd, VfioIoctl.DEVICE_GET_IRQ_INFO, b) !== 0) {
      const e = lc.errno();
      // vfio-pci refuses indexes the function lacks (ERR on conventional PCI): no vectors.
      if (e === LinuxErrno.EINVAL) return { index, flags: 0, count: 0 };
      throw errnoError('ioctl(VFIO_DEVICE_GET_IRQ_INFO)', e, ctx({ index }));
    }
    const r = unpackIrqInfo(b);
    return { index, flags: r.flags, count: r.count };
  };

  const disableIndex = (index: number): void => {
    const fds = irqFds.get(index);
    if (fds === undefined) return;
    irqFds.delete(index);
    lc.ioctlPtr(fd, VfioIoctl.DEVICE_SET_IRQS, packIrqSet(index, IrqSetFlags.ACTION_TRIGGER, 0, 0));
    interrupts.closeFds(interrupts.removeIndex(index));
  };

  const setIrqs = (req: IrqSetRequest): void => {
    requireOpen();
    const { index, start, count } = req;
    if (req.action === 'trigger') {
      if (count === 0) {
        // Disabling an index that is not enabled is a no-op (vfio-pci would answer EINVAL).
        disableIndex(index);
        return;
      }
      if (req.sink === undefined) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'setIrqs trigger with count > 0 needs a sink', ctx({ index, count }));
      }
      // Only one index may be active at a time in vfio-pci (INTx, MSI or MSI-X): switch cleanly.
      for (const other of [...irqFds.keys()]) if (other !== index) disableIndex(other);
      const old = irqFds.get(index) ?? [];
      const fds: number[] = [];
      try {
        for (let i = 0; i < count; i++) fds.push(createEventfd(lc));
      } catch (e) {
        for (const f of fds) lc.close(f);
        throw e;
      }
      const r = lc.ioctlPtr(fd, VfioIoctl.DEVICE_SET_IRQS, packIrqSet(index, IrqSetFlags.ACTION_TRIGGER, start, count, fds));
      if (r !== 0) {
        const e = lc.errno();
        for (const f of fds) lc.close(f);
        throw new PassthroughError('PT_ERR_IRQ_SETUP', `VFIO_DEVICE_SET_IRQS(index ${index}, ${count} vectors) failed for ${bdf}`, {
          bdf,
          index,
          count,
          osErrno: e,
        }, { cause: errnoError('ioctl(VFIO_DEVICE_SET_IRQS)', e, { bdf }) });
      }
      interrupts.removeIndex(index);
      interrupts.closeFds(old);
      interrupts.addVectors(index, start, fds, req.sink);
      irqFds.set(index, fds);
      return;
    }
    const action = req.action === 'mask' ? IrqSetFlags.ACTION_MASK : IrqSetFlags.ACTION_UNMASK;
    const r = lc.ioctlPtr(fd, VfioIoctl.DEVICE_SET_IRQS, packIrqSet(index, action, start, count));
    if (r !== 0) throw errnoError(`ioctl(VFIO_DEVICE_SET_IRQS ${req.action})`, lc.errno(), ctx({ index, start, count }));
    if (traceEnabled('pcipt:irq:mask')) trace('pcipt:irq:mask', { bdf, index, action: req.action, start, count });
  };

  const deviceReset = (): void => {
    requireOpen();
    if ((info.flags & DeviceFlags.RESET) === 0) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `${bdf} offers no reset method (VFIO device flags lack RESET: no FLR, PM or bus reset)`, {
        bdf,
        errno: 'ENOTTY',
      });
    }
    const r = lc.ioctlInt(fd, VfioIoctl.DEVICE_RESET, 0);
    const ok = r === 0;
    if (traceEnabled('pcipt:device:reset')) trace('pcipt:device:reset', { bdf, ok });
    if (!ok) {
      const e = lc.errno();
      throw new PassthroughError('PT_ERR_IO', `VFIO_DEVICE_RESET failed for ${bdf}`, { bdf, errno: 'EIO', osErrno: e }, {
        cause: errnoError('ioctl(VFIO_DEVICE_RESET)', e, { bdf }),
      });
    }
  };

  const ops = {
    getRegionInfo,
    getIrqInfo,
    setIrqs,
    deviceReset,
    regionRead,
    regionWrite,
    configRead: configReadValue,
    configWrite: configWriteValue,
    // vfio-pci virtualizes the interrupt capabilities itself: the host's own writes take the same path.
    hostConfigWrite: configWriteValue,
    barRead: barReadValue,
    barWrite: barWriteValue,
    regionMap,
    regionUnmap,
  } satisfies DeviceIoOps;

  return {
    bdf,
    fd,
    info,
    ops,
    interrupts,
    close(): void {
      if (closed) return;
      for (const index of [...irqFds.keys()]) disableIndex(index);
      for (const index of [...maps.keys()]) regionUnmap(index);
      interrupts.close();
      closed = true;
      lc.close(fd);
    },
  };
}

/** Enables memory decoding and bus mastering in COMMAND (MSI and DMA need bus master). */
export function enableBusMaster(ops: DeviceIoOps): void {
  const cur = ops.regionRead(RegionIndex.CONFIG, Cfg.COMMAND, 2);
  const v = (cur[0]! | (cur[1]! << 8)) | 0x2 | 0x4;
  ops.regionWrite(RegionIndex.CONFIG, Cfg.COMMAND, new Uint8Array([v & 0xff, v >> 8]));
}

