/**
 * The control-plane protocol between the supervisor and a device worker: one
 * file of tagged unions (house rule 8, crosvm's `VmRequest`/`VmResponse`).
 *
 * Commands travel supervisor → worker through {@link ../actors/rpc.js} (comlink
 * with deadlines); every command gets a {@link Reply}: `{ ok: true, value }` or
 * `{ ok: false, error }` with the error as plain data (house rule 6), so the
 * code and context survive the thread hop. `activate` must arrive first;
 * `shutdown` acks only after teardown (crosvm `Shutdown`).
 *
 * Worker → supervisor notifications ({@link WorkerEvent}) go on the worker's
 * parentPort: state changes and forwarded trace points.
 *
 * Everything here is structured-cloneable. No logic beyond {@link assertNever}.
 */
import { PassthroughError, type SerializedError } from '../errors.js';
import type { WorkerBackendSpec } from '../vfio/backend.js';
import type { DeviceInfo, IrqIndexNumber, IrqInfo, RegionInfo } from '../vfio/device-io-ops.js';

/** Interrupt mode requested at attach; `undefined` picks the best the device offers (MSI-X, MSI, INTx). */
export type IrqMode = 'msix' | 'msi' | 'intx' | 'none';

/** One region of an attached device (VFIO_DEVICE_GET_REGION_INFO, plain numbers). */
export interface RegionSummaryInfo {
  /** Region index 0–8. */
  index: number;
  /** Size in bytes (0 for absent BARs). */
  sizeBytes: number;
  /** VFIO_REGION_INFO_FLAG_* bits. */
  flags: number;
}

/** One IRQ index of an attached device (VFIO_DEVICE_GET_IRQ_INFO). */
export interface IrqSummaryInfo {
  index: number;
  flags: number;
  /** Number of vectors. */
  count: number;
}

/** What an attached device looks like (DeviceHandle.info). */
export interface AttachedDeviceInfo {
  /** QEMU-style device name (`apple-dddd:bb:ss.f`). */
  name: string;
  bdf: string;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code. */
  classCode: number;
  regions: RegionSummaryInfo[];
  irqs: IrqSummaryInfo[];
  /** Interrupt mode enabled at attach. */
  irqMode: IrqMode;
  /** Vectors enabled in that mode (0 for none). */
  irqVectors: number;
}

/** Per-device counters (all monotonic since the worker started the device). */
export interface DeviceCounters {
  /** Slow-path BAR reads by access width in bytes. */
  mmioReads: { w1: number; w2: number; w4: number; w8: number };
  /** Slow-path BAR writes by access width in bytes. */
  mmioWrites: { w1: number; w2: number; w4: number; w8: number };
  configReads: number;
  configWrites: number;
  /** Vectors the IRQ pump raised into the shared bitmap. */
  irqsRaised: number;
  /** Vectors embedders drained (IrqLine counters). */
  irqsDelivered: number;
  /** Raises that found the bit already pending. */
  irqsCoalesced: number;
  /** Raises that hit a masked vector. */
  irqsMasked: number;
  dmaMaps: number;
  dmaUnmaps: number;
  /** Failed operations of any kind. */
  errors: number;
  resets: number;
}

/** A fresh all-zero DeviceCounters (the worker's starting counters; the supervisor's fallback when the worker is gone). */
export function zeroDeviceCounters(): DeviceCounters {
  return {
    mmioReads: { w1: 0, w2: 0, w4: 0, w8: 0 },
    mmioWrites: { w1: 0, w2: 0, w4: 0, w8: 0 },
    configReads: 0,
    configWrites: 0,
    irqsRaised: 0,
    irqsDelivered: 0,
    irqsCoalesced: 0,
    irqsMasked: 0,
    dmaMaps: 0,
    dmaUnmaps: 0,
    errors: 0,
    resets: 0,
  };
}

/** Statistics of one device as the worker reports them. */
export interface WorkerStats {
  counters: DeviceCounters;
  /**
   * Slow-path latency (mailbox-served BAR/config accesses), nanoseconds: a
   * perf_hooks RecordableHistogram, cloneable across threads and mergeable with `add`.
   */
  slowPathLatencyNs: import('node:perf_hooks').RecordableHistogram;
}

/** A fault a test can inject into a running sim worker (test hook; refused on other backends). */
export type TestFault =
  /** Surprise removal; `check: false` leaves noticing it to the presence poll. */
  | { kind: 'fall-off-bus'; check?: boolean }
  | { kind: 'fail-selector'; selector: number; kernReturn: number; count?: number }
  /** The reply is held back this long (a call that is pending when a test kills the worker). */
  | { kind: 'stall'; ms: number }
  /**
   * Replies at once, then after `afterMs` blocks the worker thread for
   * `blockMs` (nothing is served: sync callers park) and dies of an uncaught
   * error (a crash the worker's exit handler sees, unlike terminate()).
   */
  | { kind: 'crash'; afterMs: number; blockMs: number };

/** Supervisor → worker commands. */
export type Command =
  | {
      type: 'activate';
      deviceId: string;
      bdf: string;
      spec: WorkerBackendSpec;
      /** The device control block (fast path), created once by the supervisor, reused across restarts. */
      controlBlock: SharedArrayBuffer;
      irq: IrqMode | undefined;
      /** 0 for the first start, n for the n-th restart. */
      generation: number;
      /** Forward every trace point to the supervisor (actor transitions/errors are always forwarded). */
      forwardTrace: boolean;
      /** The supervisor's call deadline in ms: the worker reports progress well within it. */
      callTimeoutMs: number;
      /** Bound of each attach step in ms (a step whose promise never settles). */
      stepTimeoutMs: number;
      /** How long teardown waits for BAR holders to let go, in ms. */
      unmapTimeoutMs: number;
      /** Period of the presence check (vendor id ≠ 0xffff) while ready, ms; 0 = off. */
      presenceCheckMs: number;
      /** Realize the function's apple-dma-pci companion over this guest RAM (dext backends). */
      dmaCompanion: DmaCompanionRequest | undefined;
    }
  | { type: 'device.reset' }
  /** Another function of the slot was hot-reset: this one was reset with it (restore what a reset clears). */
  | { type: 'device.busReset'; by: string }
  | { type: 'device.stats' }
  | { type: 'vfio.deviceInfo' }
  | { type: 'vfio.regionInfo'; index: number }
  | { type: 'vfio.irqInfo'; index: number }
  | { type: 'vfio.setIrqs'; index: IrqIndexNumber; action: 'trigger' | 'mask' | 'unmask'; start: number; count: number }
  | { type: 'vfio.regionRead'; index: number; offsetBytes: number; sizeBytes: number }
  | { type: 'vfio.regionWrite'; index: number; offsetBytes: number; data: Uint8Array }
  /** Dirty tracking / device features: the apple backend refuses them (migration unsupported). */
  | { type: 'vfio.migration' }
  /** A dext client in the device's worker: the shared (published) connection, or a user client of its own. */
  | { type: 'dext.open'; shared: boolean; holder: string }
  | { type: 'dext.call'; client: number; method: DextMethod; args: (number | bigint)[] }
  | { type: 'dext.close'; client: number }
  | {
      type: 'dma.map';
      buffer: SharedArrayBuffer;
      offsetBytes: number;
      lengthBytes: number;
      /** Requested IOVA as a hex string (`0x…`), bigint-free for cloning. */
      iova: string | undefined;
      readonly: boolean;
    }
  | { type: 'dma.unmap'; key: string }
  | { type: 'shutdown' }
  /** The worker thread's V8 heap figures; answered before activation too (an idle or warm worker). */
  | { type: 'worker.heap' }
  | { type: 'test.fault'; fault: TestFault };

/** The guest RAM of a DMA companion: slots of SharedArrayBuffers at guest physical addresses. */
export interface DmaCompanionRequest {
  /** `managed-bdf` as the guest sees the function: (bus << 8) | devfn (default: the host's). */
  managedBdf?: number;
  /** Guest RAM slots. */
  guestRam: { gpa: bigint; buffer: SharedArrayBuffer; offsetBytes: number; lengthBytes: number }[];
  /** MAX_ENTRIES (default 4096). */
  maxEntries?: number;
}

/** The mailbox's BAR number of a DMA companion's BAR0 (REGION_* ops; real BARs are 0–5). */
export const COMPANION_BAR = 0x80;

/** DextClient methods reachable through `dext.call` (the selectors, by their client names). */
export type DextMethod =
  | 'identity'
  | 'claim'
  | 'configRead'
  | 'configWrite'
  | 'getBarInfo'
  | 'mmioRead'
  | 'mmioWrite'
  | 'registerDmaRegion'
  | 'unregisterDmaRegion'
  | 'probeDmaRegion'
  | 'resetDevice';

/** A command's type tag. */
export type CommandType = Command['type'];

/** What each command answers on success. */
export interface ReplyValues {
  activate: ActivateResult;
  /** `slotReset`: the reset fell back to a hot reset of the slot (its other functions were reset too). */
  'device.reset': { slotReset: boolean };
  'device.busReset': null;
  'device.stats': WorkerStats;
  'vfio.deviceInfo': DeviceInfo;
  'vfio.regionInfo': RegionInfo;
  'vfio.irqInfo': IrqInfo;
  /** The interrupt mode and vector count after the request. */
  'vfio.setIrqs': { irqMode: IrqMode; irqVectors: number };
  'vfio.regionRead': Uint8Array;
  'vfio.regionWrite': number;
  'vfio.migration': never;
  'dext.open': { client: number };
  'dext.call': unknown;
  'dext.close': null;
  /** Hex strings; `ranges` when the mapping reached the device in pieces (chunk by chunk). */
  'dma.map': { key: string; busAddr: string; sizeBytes: string; ranges?: { busAddr: string; sizeBytes: string }[] };
  'dma.unmap': null;
  shutdown: TeardownReport;
  'worker.heap': WorkerHeap;
  'test.fault': null;
}

/** V8's heap figures of one worker thread (bytes): a worker's heap cannot be read from outside on Node 20. */
export interface WorkerHeap {
  heapUsedBytes: number;
  /** Resident heap pages. */
  heapPhysicalBytes: number;
  mallocedBytes: number;
  externalBytes: number;
  /** Resident bytes per V8 space (new_space, old_space, code_space, …); spaces with none are left out. */
  spaces: Record<string, number>;
}

/** One BAR as the worker hands it to the supervisor (BarWindowDescriptor fields, cloneable). */
export type BarDescriptorData = import('../fastpath/index.js').BarWindowDescriptor;

/** The answer to `activate`. */
export interface ActivateResult {
  info: AttachedDeviceInfo;
  /** Fast-path descriptors of the mapped BARs (index = BAR number; undefined where nothing was mapped). */
  bars: (BarDescriptorData | undefined)[];
  /** Module exporting viewAt(address, lengthBytes) for address-backed BARs, or undefined. */
  viewFactoryModule: string | undefined;
}

/** What the worker still held after teardown (a leak check expects all zero). */
export interface TeardownReport {
  /** References left on the function's dext connection. */
  connectionRefs: number;
  /** BARs still mapped. */
  mappedBars: number;
  /** Container DMA mappings still registered. */
  dmaMappings: number;
  /** Host-memory exposures still live. */
  exposures: number;
  /** The final device state (`stopped`). */
  state: string;
  /** A teardown step that failed or timed out (the rest still ran). */
  error: SerializedError | undefined;
}

/** A reply: value or error-as-data. */
export type Reply<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** Worker → supervisor notifications on parentPort. */
export type WorkerEvent =
  | {
      type: 'state';
      deviceId: string;
      /** device.machine state value (`ready`, `faulted`, …). */
      state: string;
      /** Set when state is `faulted`. */
      cause: SerializedError | undefined;
    }
  | { type: 'trace'; name: string; payload: Record<string, unknown> }
  /** The worker's view of the function's shared dext connection changed (refs, holders). */
  | { type: 'connection'; deviceId: string; bdf: string; refs: number; holders: string[] }
  /** A reset of this function was a hot reset: every function of its slot was reset. */
  | { type: 'slot.reset'; deviceId: string; bdf: string }
  /** Progress of a long step (attach, teardown): the supervisor's deadline restarts on each. */
  | { type: 'progress'; deviceId: string; step: string }
  | { type: 'booted' };

/** Exhaustiveness check for switches over tagged unions. Throws PT_ERR_INTERNAL at runtime. */
export function assertNever(value: never, what = 'value'): never {
  throw new PassthroughError('PT_ERR_INTERNAL', `unexpected ${what}`, { value: JSON.stringify(value) });
}
