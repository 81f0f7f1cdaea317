/**
 * The apple IOMMU container (hw/vfio/container-apple.c, spec §7 rules 1,
 * 11, 12): connect → claim → publish, then device setup (SetupInterrupts,
 * the interrupt source, the realize-time early setup). Each failed step
 * undoes the earlier ones and leaves no reference, mapping or claim.
 *
 * One container holds one device, as in the original (attach_device makes
 * a new container every time). DMA:
 * - `dmaRouting: 'container'` (default): dmaMap registers the memory with
 *   the dext chunk by chunk (RegisterDMARegion per chunk of at most
 *   `dmaChunkBytes`, key = requested IOVA or an allocated key, plus the
 *   chunk's offset; clientVA = hostVa + offset) and returns every chunk's
 *   DART bus range: the dext reports chunk 0 alone for a larger region, and
 *   the DART does not promise that chunks are contiguous.
 * - `dmaRouting: 'companion'`: the original's no-ops; DMA goes through the
 *   apple-dma-pci companion (dma-companion.ts).
 */
import { PassthroughError } from '../errors.js';
import { trace } from '../trace.js';
import { parseBdf, shortBdf, type Bdf, type Iova } from '../types.js';
import { DeviceFlags, NUM_IRQS, NUM_REGIONS, type DeviceInfo, type InterruptSource } from '../vfio/device-io-ops.js';
import type { AttachedDevice, DmaBusRange, DmaMapRequest, DmaMapping, IommuOps } from '../vfio/iommu-ops.js';
import { createAppleDeviceIoOps, unmapAllBars, type AppleDeviceIoOps } from './device-io-ops.js';
import { createAppleDeviceState, prepareAppleDevice, type AppleDeviceState } from './device-state.js';
import { createAppleInterruptSource } from './interrupt-source.js';
import type { ConnectionHandle, ConnectionTable } from './connection-table.js';
import { DEFAULT_DMA_LIMITS, HOST_PAGE_BYTES, type DextClient, type DextDriver } from '../dext/contract.js';

/** Options of {@link createAppleContainer}. */
export interface AppleContainerOptions {
  /** Where connections come from. */
  driver: DextDriver;
  /** The shared connection table the container publishes into. */
  table: ConnectionTable;
  /** Who maps DMA: the container (RegisterDMARegion) or the companion (container no-ops). Default 'container'. */
  dmaRouting?: 'container' | 'companion';
  /**
   * The host root of the function, when its BDF repeats under several roots
   * ([G] `host-root=`); passed to the driver's connect.
   */
  hostRoot?: string;
  /**
   * Largest piece the container registers with one RegisterDMARegion, in bytes
   * (default the dext's chunk, 1.5 GiB; a multiple of the 16 KiB host page).
   */
  dmaChunkBytes?: number;
}

/** What the apple container hands back for a device. */
export interface AppleAttachedDevice extends AttachedDevice {
  /** The apple table (its extra members are for tests and the worker). */
  readonly ops: AppleDeviceIoOps;
  /** The shared state of the ops and the interrupt source. */
  readonly state: AppleDeviceState;
}

/** The apple container: {@link IommuOps} plus what the device layer needs. */
export interface AppleContainer extends IommuOps {
  attachDevice(bdf: Bdf): AppleAttachedDevice;
  /** The attached device, if any. */
  readonly device: AppleAttachedDevice | undefined;
  /** The container's connection (undefined when no device is attached). */
  readonly client: DextClient | undefined;
  /** Live container-side DMA mappings, by key. */
  readonly mappings: ReadonlyMap<Iova, DmaMapping>;
  /** pci_hot_reset: a no-op returning success (rule 10). */
  pciHotReset(): void;
}

/** VFIO_DEVICE_GET_INFO as the container synthesises it (rule 1). */
export const APPLE_DEVICE_INFO: Readonly<DeviceInfo> = Object.freeze({
  flags: DeviceFlags.PCI | DeviceFlags.RESET,
  numRegions: NUM_REGIONS,
  numIrqs: NUM_IRQS,
});

/** Keys the container allocates when a map request names no IOVA start here (above any 48-bit GPA). */
export const APPLE_ALLOCATED_KEY_BASE = 1n << 52n;

function krHex(e: unknown): string {
  const kr = PassthroughError.is(e) ? e.kernReturn : undefined;
  return `0x${((kr ?? 0) >>> 0).toString(16)}`;
}

function pageRound(n: bigint): bigint {
  const p = BigInt(HOST_PAGE_BYTES);
  return ((n + p - 1n) / p) * p;
}

/** Builds an apple container (rule 12). */
export function createAppleContainer(opts: AppleContainerOptions): AppleContainer {
  const routing = opts.dmaRouting ?? 'container';
  let attached:
    | { device: AppleAttachedDevice; handle: ConnectionHandle; source: InterruptSource }
    | undefined;
  const mappings = new Map<Iova, DmaMapping>();
  /** The dext keys of each mapping's chunks (key + chunk offset), for dmaUnmap. */
  const chunkKeys = new Map<Iova, bigint[]>();
  let nextKey = APPLE_ALLOCATED_KEY_BASE;
  const chunkBytes = BigInt(opts.dmaChunkBytes ?? DEFAULT_DMA_LIMITS.chunkBytes);
  if (chunkBytes <= 0n || chunkBytes % BigInt(HOST_PAGE_BYTES) !== 0n) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'options.dmaChunkBytes must be a positive multiple of 16384', {
      sizeBytes: Number(chunkBytes),
    });
  }

  /** Connect, claim, publish (rule 12 steps 3–5); each failure undoes the earlier steps. */
  const connect = (bdf: Bdf): ConnectionHandle => {
    const host = shortBdf(parseBdf(bdf));
    let client: DextClient;
    try {
      client = opts.driver.connect(bdf, opts.hostRoot === undefined ? {} : { hostRoot: opts.hostRoot });
    } catch (e) {
      // The later original reports its host-root refusals as they are ("vfio-apple: %s"), anything else with the seed's text.
      if (PassthroughError.is(e, 'PT_ERR_CONNECT_FAILED') && Array.isArray(e.context.hostRoots)) {
        throw new PassthroughError('PT_ERR_CONNECT_FAILED', `vfio-apple: ${e.message}`, { ...e.context, bdf }, { cause: e });
      }
      throw new PassthroughError('PT_ERR_CONNECT_FAILED', `vfio-apple: could not connect to dext for host PCI ${host}`, { bdf }, { cause: e });
    }
    try {
      client.claim();
    } catch (e) {
      client.close();
      throw new PassthroughError('PT_ERR_CLAIM_FAILED', `vfio-apple: failed to claim dext-backed PCI device ${host}`, {
        bdf,
        kernReturn: PassthroughError.is(e) ? e.kernReturn : undefined,
      }, { cause: e });
    }
    try {
      return opts.table.publish(bdf, client);
    } catch (e) {
      // Disconnect, not release: the published entry belongs to the other owner.
      client.close();
      const at = opts.hostRoot === undefined ? '' : `@${opts.hostRoot}`;
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `vfio-apple: duplicate dext owner for host PCI ${host}${at}`, { bdf }, { cause: e });
    }
  };

  const unregisterAll = (client: DextClient | undefined): void => {
    for (const key of [...mappings.keys()]) {
      for (const k of chunkKeys.get(key) ?? [key]) {
        try {
          client?.unregisterDmaRegion(k);
        } catch {
          // already gone with the dext's region table
        }
      }
      mappings.delete(key);
      chunkKeys.delete(key);
    }
  };

  const container: AppleContainer = {
    setup() {
      return { pageSizesBytes: [HOST_PAGE_BYTES], maxMappings: 0xffffffff };
    },

    get device() {
      return attached?.device;
    },
    get client() {
      return attached?.handle.client;
    },
    get mappings() {
      return mappings;
    },

    attachDevice(bdf: Bdf): AppleAttachedDevice {
      if (attached !== undefined) {
        throw new PassthroughError('PT_ERR_INVALID_STATE', `vfio-apple: container already holds ${attached.device.name}`, {
          bdf,
          attachedBdf: attached.device.bdf,
        });
      }
      const handle = connect(bdf);
      const state = createAppleDeviceState(bdf, handle.client);
      let source: InterruptSource | undefined;
      try {
        try {
          state.numIrqVectors = handle.client.setupInterrupts();
        } catch (e) {
          throw new PassthroughError('PT_ERR_IRQ_SETUP', `vfio-apple: failed to setup interrupts (kr=${krHex(e)})`, {
            bdf,
            kernReturn: PassthroughError.is(e) ? e.kernReturn : undefined,
          }, { cause: e });
        }
        try {
          source = createAppleInterruptSource(state);
        } catch (e) {
          throw new PassthroughError('PT_ERR_IRQ_SETUP', 'vfio-apple: failed to create IRQ async notification', { bdf }, { cause: e });
        }
        try {
          prepareAppleDevice(state);
        } catch (e) {
          throw new PassthroughError('PT_ERR_IO', `vfio-apple: failed to read the configuration of ${state.name}`, {
            bdf,
            errno: 'EIO',
          }, { cause: e });
        }
      } catch (e) {
        // unprepare + disconnect: the interrupt source goes, then the reference (last → IOServiceClose).
        source?.close();
        state.client = undefined;
        handle.release();
        throw e;
      }
      const ops = createAppleDeviceIoOps(state);
      const device: AppleAttachedDevice = { bdf, name: state.name, info: APPLE_DEVICE_INFO, ops, interrupts: source, state };
      attached = { device, handle, source };
      return device;
    },

    detachDevice(bdf: Bdf): void {
      if (attached === undefined || attached.device.bdf !== bdf) return;
      const { device, handle, source } = attached;
      attached = undefined;
      // Order: device cleanup (IRQ source), BAR unmap, container DMA, then
      // the reference (the last one closes the connection).
      source.close();
      unmapAllBars(device.ops);
      unregisterAll(handle.client);
      device.state.client = undefined;
      handle.release();
    },

    dmaMap(request: DmaMapRequest): DmaMapping {
      if (request.sizeBytes <= 0n) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'vfio-apple: DMA map size must be > 0', {
          sizeBytes: Number(request.sizeBytes),
        });
      }
      if (routing === 'companion') {
        // The original's no-op: success, identity (the companion maps for the guest).
        const key = (request.iova ?? (request.hostVa as bigint)) as Iova;
        return { key, busAddr: key, sizeBytes: request.sizeBytes };
      }
      const client = attached?.handle.client;
      if (client === undefined) {
        throw new PassthroughError('PT_ERR_NO_CONNECTION', 'vfio-apple: DMA map without an attached device', {
          iova: request.iova,
          errno: 'ENODEV',
        });
      }
      let key = request.iova;
      if (key === undefined) {
        while (mappings.has(nextKey as Iova)) nextKey += pageRound(1n);
        key = nextKey as Iova;
        nextKey += pageRound(request.sizeBytes);
      }
      // Chunk by chunk: each chunk's own bus range is what the device gets.
      const ranges: DmaBusRange[] = [];
      const keys: bigint[] = [];
      let off = 0n;
      try {
        for (; off < request.sizeBytes; off += chunkBytes) {
          const len = request.sizeBytes - off < chunkBytes ? request.sizeBytes - off : chunkBytes;
          const info = client.registerDmaRegion(key + off, request.hostVa + off, len);
          keys.push(key + off);
          if (info.busLen !== len) {
            throw new PassthroughError('PT_ERR_NOT_ALIGNED', `the dext mapped ${info.busLen} of the chunk's ${len} bytes`, {
              bdf: client.bdf,
              iova: key + off,
              sizeBytes: Number(len),
            });
          }
          ranges.push({ offsetBytes: off, busAddr: info.busAddr as Iova, sizeBytes: len });
        }
      } catch (e) {
        for (const k of keys) {
          try {
            client.unregisterDmaRegion(k);
          } catch {
            // rollback is best effort: the region table goes with the client anyway
          }
        }
        trace('pcipt:dma:map', { bdf: client.bdf, key, sizeBytes: request.sizeBytes, kernReturn: PassthroughError.is(e) ? e.kernReturn : undefined });
        throw PassthroughError.is(e)
          ? e.prepend('vfio-apple: DMA map failed', {
              iova: key + off,
              chunk: Number(off / chunkBytes),
              chunks: Number((request.sizeBytes + chunkBytes - 1n) / chunkBytes),
            })
          : e;
      }
      const mapping: DmaMapping = { key, busAddr: ranges[0]!.busAddr, sizeBytes: request.sizeBytes, ranges };
      mappings.set(key, mapping);
      chunkKeys.set(key, keys);
      trace('pcipt:dma:map', { bdf: client.bdf, key, busAddr: mapping.busAddr, sizeBytes: request.sizeBytes, chunks: ranges.length, kernReturn: 0 });
      return mapping;
    },

    dmaUnmap(key: Iova): void {
      if (routing === 'companion') return;
      const client = attached?.handle.client;
      if (client === undefined) {
        throw new PassthroughError('PT_ERR_NO_CONNECTION', 'vfio-apple: DMA unmap without an attached device', {
          iova: key,
          errno: 'ENODEV',
        });
      }
      // A key the container did not map is passed through as it is (the dext matches keys exactly).
      const keys = chunkKeys.get(key) ?? [key];
      let first: unknown;
      for (const k of keys) {
        try {
          client.unregisterDmaRegion(k);
        } catch (e) {
          first ??= PassthroughError.is(e) ? e.prepend('vfio-apple: DMA unmap failed', { iova: k }) : e;
        }
      }
      mappings.delete(key);
      chunkKeys.delete(key);
      if (first !== undefined) {
        trace('pcipt:dma:unmap', { bdf: client.bdf, key, kernReturn: PassthroughError.is(first) ? first.kernReturn : undefined });
        throw first;
      }
      trace('pcipt:dma:unmap', { bdf: client.bdf, key, kernReturn: 0 });
    },

    setDirtyPageTracking(): void {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'vfio-apple does not support migration', { errno: 'ENOTSUP' });
    },

    queryDirtyBitmap(): Uint8Array {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'vfio-apple does not support migration', { errno: 'ENOTSUP' });
    },

    pciHotReset(): void {
      // The original's pci_hot_reset is a no-op returning 0; reset goes through deviceReset.
    },
  };
  return container;
}
