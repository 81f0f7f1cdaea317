/**
 * DeviceHandle: what `supervisor.attach` gives the embedding thread. The
 * fast-path members (BAR windows, IRQ line, config port) work over the
 * device control block without any message; `reset`, `stats`, `detach` and
 * DMA go through the supervisor's control plane.
 *
 * The control block outlives worker restarts, so `irq` and `config` keep
 * working after a restart (calls made while the worker is down fail with
 * PT_ERR_WORKER_EXITED). BAR windows belong to one worker generation: after
 * a restart `bar(i)` returns the new window; windows taken earlier throw
 * PT_ERR_BAR_RELEASED.
 */
import type { RecordableHistogram } from 'node:perf_hooks';
import type { BarWindow, ConfigPort, DeviceHandleDescriptor, DmaMap, IrqLine } from '../fastpath/index.js';
import type { AttachedDeviceInfo, DeviceCounters } from './protocol.js';

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
  /**
   * `starting`, `ready`, `resetting`, `restarting`, `faulted`, `stopping`, `stopped`.
   */
  state: string;
  /** Worker restarts since attach. */
  restarts: number;
  /** Why the device is faulted (code + message), when it is. */
  cause: { code: string; message: string } | undefined;
}

/** A device attached by the supervisor. */
export interface DeviceHandle {
  /** Supervisor-given id. */
  readonly id: string;
  /** Host function, `dddd:bb:ss.f`. */
  readonly bdf: string;
  /** Device, regions and interrupts as seen at the last (re)start. */
  readonly info: AttachedDeviceInfo;
  /** Current state (as in list()). */
  readonly state: string;
  /** The window on BAR `i` (current worker generation), or undefined when BAR `i` is not mapped. */
  bar(i: number): BarWindow | undefined;
  /** The interrupt line (shared memory; wait with waitAsync on the main thread). */
  readonly irq: IrqLine;
  /** Synchronous config-space access (blocks up to its timeout: use from a vCPU thread). */
  readonly config: ConfigPort;
  /**
   * DMA mappings of embedder memory. After a worker restart this is a new,
   * empty book: the restarted function has no mapping (map again).
   */
  readonly dma: DmaMap;
  /**
   * Resets the function (FLR / hot reset). Rejects PT_ERR_INVALID_STATE unless ready; PT_ERR_NOT_SUPPORTED
   * when the device offers no reset (it stays ready, nothing was touched); PT_ERR_IO when the reset
   * fails (the device is then faulted).
   */
  reset(): Promise<void>;
  /** This device's statistics. */
  stats(): Promise<DeviceStats>;
  /** Detaches (ordered teardown). Idempotent. */
  detach(): Promise<void>;
  /** What another thread needs to open the fast path (`openFastPath`). */
  descriptor(): DeviceHandleDescriptor;
}
