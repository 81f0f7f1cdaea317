/**
 * DeviceHandle: what `supervisor.attach` gives the embedding thread. The
 * fast-path members (BAR windows, IRQ line, config port, companion
 * registers) work over the device control block without any message; the
 * VFIO-level view, dext clients, reset, stats, DMA and detach go through the
 * supervisor's control plane (async).
 *
 * The control block outlives worker restarts, so `irq` and `config` keep
 * working after a restart (calls made while the worker is down fail with
 * PT_ERR_WORKER_EXITED). BAR windows belong to one worker generation: after
 * a restart `bar(i)` returns the new window; windows taken earlier throw
 * PT_ERR_BAR_RELEASED.
 */
import type { RecordableHistogram } from 'node:perf_hooks';
import { argumentValue, invalidArgument, PassthroughError } from '../../errors.js';
import { ConfigPort, DmaMap, IrqLine, type BarWindow, type DeviceHandleDescriptor, type DmaControl } from '../../fastpath/index.js';
import type { Iova } from '../../types.js';
import type { DeviceInfo, IrqIndexNumber, IrqInfo, RegionInfo } from '../../vfio/device-io-ops.js';
import { COMPANION_BAR, type AttachedDeviceInfo, type DeviceCounters, type DextMethod } from '../protocol.js';
import type { SupervisedDevice } from './device.js';

/** Statistics of one device (supervisor.stats / handle.stats). */
export interface DeviceStats {
  id: string;
  bdf: string;
  /** Current state (see {@link DeviceSummary.state}). */
  state: string;
  /** Worker restarts since attach. */
  restarts: number;
  /** Counters of the current worker generation; IRQ counters span every generation (they live in the control block). */
  counters: DeviceCounters;
  /** Slow-path latency in ns (mailbox-served accesses), merged with `RecordableHistogram#add`. */
  slowPathLatencyNs: RecordableHistogram;
}

/** One row of `supervisor.list()`. */
export interface DeviceSummary {
  id: string;
  bdf: string;
  /** `starting`, `ready`, `resetting`, `restarting`, `faulted`, `stopping`, `stopped`. */
  state: string;
  /** Worker restarts since attach. */
  restarts: number;
  /** Why the device is faulted (code + message), when it is. */
  cause: { code: string; message: string } | undefined;
}

/** A VFIO_DEVICE_SET_IRQS request (the sink is always the device's IrqLine). */
export interface VfioIrqRequest {
  /** IrqIndex: INTX 0, MSI 1, MSIX 2. */
  index: IrqIndexNumber;
  /** `trigger` count > 0 enables [start, start+count) (switching mode); count 0 disables the index. */
  action: 'trigger' | 'mask' | 'unmask';
  start: number;
  count: number;
}

/**
 * The VFIO-level view of an attached function (QEMU's VFIODevice ops, async):
 * what an emulator or the guest layer needs beyond the fast path.
 */
export interface VfioDeviceView {
  /** VFIO_DEVICE_GET_INFO (apple: PCI | RESET, 9 regions, 5 IRQ indexes). */
  deviceInfo(): Promise<DeviceInfo>;
  /** VFIO_DEVICE_GET_REGION_INFO (apple: offset = index << 20). Rejects PT_ERR_INVALID_ARGUMENT (EINVAL) past region 8. */
  regionInfo(index: number): Promise<RegionInfo>;
  /** VFIO_DEVICE_GET_IRQ_INFO. Rejects PT_ERR_INVALID_ARGUMENT (EINVAL) past index 4. */
  irqInfo(index: number): Promise<IrqInfo>;
  /** VFIO_DEVICE_SET_IRQS: switch modes, change vector counts, mask and unmask. */
  setIrqs(request: VfioIrqRequest): Promise<void>;
  /** Region read at any width the backend accepts (config block reads clamp at 4096, zero-filled). */
  regionRead(index: number, offsetBytes: number, sizeBytes: number): Promise<Uint8Array>;
  /** Region write (config writes go through the write filter); resolves with the bytes accepted. */
  regionWrite(index: number, offsetBytes: number, data: Uint8Array): Promise<number>;
  /** VFIO_DEVICE_RESET (as DeviceHandle.reset). */
  reset(): Promise<void>;
  /** Starts dirty-page tracking for migration: the apple backend refuses ("vfio-apple does not support migration"). */
  startMigration(): Promise<void>;
}

/** A dext client of the function, in its worker (selectors by name; each call is one control message). */
export interface RemoteDextClient {
  /** True for a reference on the function's shared connection, false for a user client of its own. */
  readonly shared: boolean;
  /** One selector: `call('configRead', 0, 4)`, `call('claim')`, `call('registerDmaRegion', key, va, size)`. */
  call(method: DextMethod, ...args: (number | bigint)[]): Promise<unknown>;
  /** Releases the reference (shared) or closes the user client (IOServiceClose). Idempotent. */
  close(): Promise<void>;
}

/** The DMA companion's BAR0 (4-byte registers), from the calling thread, synchronously. */
export interface CompanionRegisters {
  /** Reads the 4-byte register at `offsetBytes` (VERSION 0x00, MANAGED_BDF 0x04, MAX_ENTRIES 0x08, STATUS 0x0c). */
  read32(offsetBytes: number): number;
  /** Writes the 4-byte register at `offsetBytes` (CMD_GPA_LO 0x10, CMD_GPA_HI 0x14, DOORBELL 0x18). */
  write32(offsetBytes: number, value: number): void;
}

/** A device attached by the supervisor. */
export interface DeviceHandle {
  /** Supervisor-given id. */
  readonly id: string;
  /** Host function, `dddd:bb:ss.f`. */
  readonly bdf: string;
  /** Device, regions and interrupts as seen at the last (re)start (irqMode follows setIrqs). */
  readonly info: AttachedDeviceInfo;
  /** Current state (as in list()). */
  readonly state: string;
  /** The window on BAR `i` (current worker generation), or undefined when BAR `i` is not mapped. */
  bar(i: number): BarWindow | undefined;
  /** The interrupt line (shared memory; wait with waitAsync on the main thread). */
  readonly irq: IrqLine;
  /** Synchronous config-space access (blocks up to its timeout: use from a vCPU thread). */
  readonly config: ConfigPort;
  /** The VFIO-level view (device, region and IRQ info, setIrqs, region access, reset, migration). */
  readonly vfio: VfioDeviceView;
  /**
   * DMA mappings of embedder memory. After a worker restart this is a new,
   * empty book: the restarted function has no mapping (map again).
   */
  readonly dma: DmaMap;
  /**
   * The DMA companion's registers, when attached with `dmaCompanion`
   * (PT_ERR_NOT_FOUND on access otherwise).
   */
  readonly companion: CompanionRegisters;
  /**
   * Opens a dext client in the function's worker (dext backends: sim, iokit).
   * `shared: true` takes a reference on the function's one connection (its
   * refcount shows in `supervisor.inspect()`); otherwise a user client of its
   * own connects, whose claim is secondary. `holder` names the reference.
   */
  dext(opts?: { shared?: boolean; holder?: string }): Promise<RemoteDextClient>;
  /**
   * Resets the function (FLR, or a hot reset of its slot, which then reaches
   * every function of the slot). Rejects PT_ERR_INVALID_STATE unless ready;
   * PT_ERR_NOT_SUPPORTED when the device offers no reset (it stays ready);
   * PT_ERR_IO when the reset fails (the device is then faulted).
   */
  reset(): Promise<void>;
  /** This device's statistics. */
  stats(): Promise<DeviceStats>;
  /** Detaches (ordered teardown). Idempotent. */
  detach(): Promise<void>;
  /** What another thread needs to open the fast path (`loadFastPath`/`openFastPath`). */
  descriptor(): DeviceHandleDescriptor;
}

function checkIndex(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalidArgument(name, v, `${name} must be a non-negative integer`, { [name]: argumentValue(v) });
  }
  return v;
}

/** Builds the handle of `d` (once, at attach). */
export function createDeviceHandle(d: SupervisedDevice): DeviceHandle {
  const dmaControl: DmaControl = {
    async dmaMap(req) {
      if (!(req.memory instanceof SharedArrayBuffer)) {
        throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'DMA of native ranges needs a native backend', { deviceId: d.id });
      }
      const v = await d.call({
        type: 'dma.map',
        buffer: req.memory,
        offsetBytes: req.offsetBytes,
        lengthBytes: req.lengthBytes,
        iova: req.iova === undefined ? undefined : `0x${req.iova.toString(16)}`,
        readonly: req.readonly,
      });
      return {
        key: BigInt(v.key) as Iova,
        busAddr: BigInt(v.busAddr) as Iova,
        sizeBytes: BigInt(v.sizeBytes),
        ...(v.ranges === undefined ? {} : { ranges: v.ranges.map((r) => ({ busAddr: BigInt(r.busAddr) as Iova, sizeBytes: BigInt(r.sizeBytes) })) }),
      };
    },
    async dmaUnmap(key) {
      await d.call({ type: 'dma.unmap', key: `0x${key.toString(16)}` });
    },
  };
  const timeoutMs = d.ctx.opts.syncTimeoutMs;
  const irq = new IrqLine(d.control);
  const config = new ConfigPort(d.control, { timeoutMs });
  // A restarted worker starts with no DMA mapping (its function was power-cycled):
  // a fresh book per generation, so list() never shows mappings that are gone.
  let dma = new DmaMap(dmaControl);
  let dmaGeneration = 0;
  const reset = (): Promise<void> => d.reset();
  const vfio: VfioDeviceView = {
    deviceInfo: () => d.call({ type: 'vfio.deviceInfo' }),
    regionInfo: async (index) => d.call({ type: 'vfio.regionInfo', index: checkIndex('index', index) }),
    irqInfo: async (index) => d.call({ type: 'vfio.irqInfo', index: checkIndex('index', index) }),
    async setIrqs(r) {
      if (r === null || typeof r !== 'object' || !['trigger', 'mask', 'unmask'].includes(r.action)) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', "setIrqs needs { index, action: 'trigger' | 'mask' | 'unmask', start, count }", { request: String(r) });
      }
      const index = checkIndex('index', r.index) as IrqIndexNumber;
      const now = await d.call({ type: 'vfio.setIrqs', index, action: r.action, start: checkIndex('start', r.start), count: checkIndex('count', r.count) });
      if (d.activation !== undefined) {
        d.activation.info.irqMode = now.irqMode;
        d.activation.info.irqVectors = now.irqVectors;
      }
    },
    regionRead: async (index, offsetBytes, sizeBytes) =>
      d.call({ type: 'vfio.regionRead', index: checkIndex('index', index), offsetBytes: checkIndex('offsetBytes', offsetBytes), sizeBytes: checkIndex('sizeBytes', sizeBytes) }),
    async regionWrite(index, offsetBytes, data) {
      if (!(data instanceof Uint8Array)) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'data must be a Uint8Array', { data: String(data) });
      return d.call({ type: 'vfio.regionWrite', index: checkIndex('index', index), offsetBytes: checkIndex('offsetBytes', offsetBytes), data });
    },
    reset,
    async startMigration() {
      await d.call({ type: 'vfio.migration' });
    },
  };
  const companion: CompanionRegisters = {
    read32: (offsetBytes) => Number(d.slowPath.read(COMPANION_BAR, checkIndex('offsetBytes', offsetBytes), 4)),
    write32: (offsetBytes, value) => {
      const off = checkIndex('offsetBytes', offsetBytes);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x8000_0000 || value > 0xffff_ffff) {
        throw invalidArgument('value', value, 'a companion register value is an integer in −2^31..2^32−1', { deviceId: d.id });
      }
      d.slowPath.write(COMPANION_BAR, off, 4, BigInt(value >>> 0));
    },
  };
  return {
    id: d.id,
    bdf: d.bdf,
    get info() {
      if (d.activation === undefined) throw new PassthroughError('PT_ERR_NOT_READY', `device ${d.id} is not ready`, { deviceId: d.id });
      return d.activation.info;
    },
    get state() {
      return d.summary().state;
    },
    bar: (i: number) => d.windows[i],
    irq,
    config,
    vfio,
    companion,
    get dma() {
      if (d.generation !== dmaGeneration) {
        dma = new DmaMap(dmaControl);
        dmaGeneration = d.generation;
      }
      return dma;
    },
    async dext(opts = {}) {
      if (opts === null || typeof opts !== 'object') throw invalidArgument('opts', opts, 'dext options must be an object ({ shared?, holder? })', { deviceId: d.id });
      if (opts.shared !== undefined && typeof opts.shared !== 'boolean') throw invalidArgument('shared', opts.shared, 'shared must be a boolean', { deviceId: d.id });
      if (opts.holder !== undefined && typeof opts.holder !== 'string') throw invalidArgument('holder', opts.holder, 'holder must be a string', { deviceId: d.id });
      const shared = opts.shared ?? false;
      const holder = opts.holder ?? (shared ? 'client' : 'own');
      const { client } = await d.call({ type: 'dext.open', shared, holder });
      let closed = false;
      return {
        shared,
        call: (method, ...args) => d.call({ type: 'dext.call', client, method, args }),
        async close() {
          if (closed) return;
          closed = true;
          await d.call({ type: 'dext.close', client }).catch((e: unknown) => {
            // A detached device took its clients with it.
            if (!PassthroughError.is(e, 'PT_ERR_NOT_ATTACHED')) throw e;
          });
        },
      };
    },
    reset,
    stats: () => d.stats(),
    detach: () => d.stop(),
    descriptor: (): DeviceHandleDescriptor => ({
      id: d.id,
      bdf: d.bdf,
      control: d.control,
      bars: d.activation?.bars.map((b) => (b === undefined ? undefined : { ...b })) ?? [],
      viewFactoryModule: d.activation?.viewFactoryModule,
    }),
  };
}
