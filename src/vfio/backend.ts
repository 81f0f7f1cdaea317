/**
 * The backend seam between the runtime and a way to reach devices
 * (sim, linux, iokit). A backend has two halves:
 *
 * - a {@link BackendHost} in the supervisor's thread: enumeration, and the
 *   process-wide resources the supervisor owns (linux: the container and
 *   group fds; iokit/sim: nothing beyond bookkeeping). It hands each device
 *   worker a structured-cloneable {@link WorkerBackendSpec}.
 * - a {@link WorkerBackend} built inside the device worker from that spec:
 *   the IommuOps container (attachDevice gives the DeviceIoOps and the
 *   interrupt source) and host-memory exposure for DMA.
 *
 * Which backend is used is decided once, at createSupervisor.
 */
import type { HostVa } from '../types.js';
import type { InterruptSource } from './device-io-ops.js';
import type { AttachedDevice, IommuOps } from './iommu-ops.js';

/** Backend names. */
export type BackendName = 'sim' | 'linux' | 'iokit';

/** One PCI function a backend can see (list-devices). */
export interface FunctionSummary {
  /** `dddd:bb:ss.f`. */
  bdf: string;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code. */
  classCode: number;
  /** Bound driver (`vfio-pci`, `VFIOUserPCIDriver`, `sim`), or undefined when unbound. */
  driver: string | undefined;
  /** True when pcipt can attach it with this backend. */
  attachable: boolean;
  /** Free-form extra facts (IOMMU group, root port, model name). */
  details: Record<string, string | number | boolean>;
}

/** One BAR of a function, QMP query-pci style. */
export interface RegionSummary {
  /** BAR number 0–5. */
  bar: number;
  type: 'memory' | 'io';
  sizeBytes: number;
  prefetch: boolean;
  /** True for a 64-bit memory BAR (mem_type_64). */
  mem64: boolean;
}

/** Readiness of a backend (driver-status). */
export interface BackendStatus {
  backend: BackendName;
  ready: boolean;
  /** One-word state: active, not-installed, waiting-for-approval, unsupported-platform, … */
  state: string;
  /** Human-readable lines explaining the state. */
  details: string[];
}

/** What a device worker needs to build its backend half. Structured-cloneable. */
export interface WorkerBackendSpec {
  backend: BackendName;
  /** Backend-specific data (sim: machine description; linux: fd numbers; iokit: library paths). */
  options: Record<string, unknown>;
}

/**
 * What a dedicated IRQ pump thread (src/actors/irq-pump.worker.ts) needs to
 * rebuild a blocking interrupt source for a device whose vectors the device
 * worker enabled. Structured-cloneable; `options` is backend-specific (linux:
 * `LinuxIrqPumpDescriptor` in src/linux/interrupts.ts). Built into
 * a source by the backend registry's createIrqPumpSource (src/backends/index.ts).
 */
export interface IrqPumpDescriptor {
  backend: BackendName;
  options: Record<string, unknown>;
}

/** The supervisor-side half of a backend. */
export interface BackendHost {
  readonly name: BackendName;
  /** Every function the backend sees, bound or not. */
  listFunctions(): Promise<FunctionSummary[]>;
  /** Readiness report. */
  status(): Promise<BackendStatus>;
  /**
   * Reads the function's config space without claiming it (dump-config, info):
   * 4096 bytes where the backend exposes extended space, else 256.
   * Errors: PT_ERR_NOT_FOUND, PT_ERR_PERMISSION, PT_ERR_PLATFORM.
   */
  readConfig(bdf: string): Promise<Uint8Array>;
  /** The function's BARs as the backend sees them (sizes, type bits), without claiming it. */
  regions(bdf: string): Promise<RegionSummary[]>;
  /**
   * Takes what a worker needs to attach `bdf` (linux: opens or references the
   * container and the IOMMU group) and returns the spec to spawn it with.
   * Errors: PT_ERR_NOT_FOUND, PT_ERR_NOT_BOUND, PT_ERR_GROUP_NOT_VIABLE, PT_ERR_PERMISSION, PT_ERR_VFIO_UNAVAILABLE.
   */
  prepare(bdf: string): Promise<WorkerBackendSpec>;
  /** Drops what prepare took for `bdf`. Idempotent. */
  release(bdf: string): void;
  /** Releases everything. */
  close(): Promise<void>;
}

/** The worker-side half of a backend. */
export interface WorkerBackend {
  readonly name: BackendName;
  /** The IOMMU container for this worker's device(s). */
  readonly container: IommuOps;
  /**
   * Makes `lengthBytes` of `buffer` at `offsetBytes` addressable by the
   * backend (sim: its simulated host address space; linux/iokit: the native
   * address of the SharedArrayBuffer's backing store, which never moves).
   */
  exposeHostMemory(buffer: SharedArrayBuffer, offsetBytes: number, lengthBytes: number): HostVa;
  /** Drops an exposure. */
  unexposeHostMemory(va: HostVa): void;
  /**
   * Module URL exporting `viewAt(address: bigint, lengthBytes: number): ArrayBuffer`
   * for BAR windows over real mapped memory, or undefined when BARs are SharedArrayBuffers.
   */
  readonly viewFactoryModule: string | undefined;
  /**
   * The one place that decides where a backend's interrupts are waited for.
   * Present (linux, iokit): interrupts come from the OS, so a dedicated pump
   * thread blocks in the native wait (linux: poll() on the eventfds; iokit:
   * mach_msg on its notification port, one-shot WaitInterrupt re-armed each
   * time); the device worker calls this once after enabling interrupts and
   * spawns the thread with the result, or runs no pump at all when it returns
   * undefined (no vectors enabled). From then on the device's own `interrupts`
   * source no longer waits (one waiter: the dext keeps one completion), and
   * the pump is woken through the backend's wake path (linux: the wake
   * eventfd; iokit: a message to the thread's port).
   * Absent (sim): the device worker pumps `attached.interrupts` itself with
   * the async pump (sim interrupts are produced in the device worker's own thread).
   */
  irqPumpDescriptor?(attached: AttachedDevice): IrqPumpDescriptor | undefined;
  /**
   * Registers `listener`, called when a reset of this worker's function fell
   * back to a hot (secondary bus) reset, which reset every function of its
   * slot. Absent when the backend cannot tell (the function's siblings then
   * hear nothing).
   */
  onSlotReset?(listener: () => void): void;
  /**
   * Applies to this worker's function a hot reset another function of its
   * slot caused (sim: the simulated function's reset; hardware did it already).
   */
  applySlotReset?(): void;
  /** Releases everything the worker half holds. */
  close(): void;
}

/**
 * A pump-thread source. `wakePort` (iokit): the mach port name whose message
 * ends the thread's wait; the thread reports it to the device worker, which
 * wakes it with {@link wakeIrqPump}. Absent when the device's own wake() ends
 * the wait (linux: the shared wake eventfd).
 */
export interface IrqPumpSource extends InterruptSource {
  readonly wakePort?: number;
}
