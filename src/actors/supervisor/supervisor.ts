/**
 * The supervisor: the public entry of the runtime (`createSupervisor`).
 *
 * It owns, in the embedding process's main thread: the {@link BackendHost}
 * (enumeration, process-wide backend resources), the ownership and
 * connection tables (ownership.ts), one {@link SupervisedDevice} per attached
 * function (device.ts: its control block, supervision machine and worker;
 * restart by policy, one-for-one within an intensity window), the warm pool
 * (workers.ts), and the slot coordination a hot reset needs.
 *
 * Files, one concern each: options.ts (validation), ownership.ts (owners and
 * connections), device.ts (starting a device's worker), teardown.ts (stop and
 * worker death), handle.ts (what embedders hold), workers.ts (threads).
 */
import { EventEmitter } from 'node:events';
import { createBackendHost } from '../../backends/index.js';
import { PassthroughError, type SerializedError } from '../../errors.js';
import { trace, type TracePoint } from '../../trace.js';
import { toBdf } from '../../types.js';
import type { BackendHost, BackendName, BackendStatus, FunctionSummary } from '../../vfio/backend.js';
import type { DmaCompanionRequest, IrqMode, TestFault } from '../protocol.js';
import { SupervisedDevice, type DeviceContext } from './device.js';
import { KeepAlive } from './keep-alive.js';
import { createDeviceHandle, type DeviceHandle, type DeviceStats, type DeviceSummary } from './handle.js';
import { resolveOptions, type ResolvedOptions, type SupervisorOptions } from './options.js';
import { Ownership, type ConnectionInfo } from './ownership.js';
import { trackClosed, trackOpen } from './lifetime.js';
import { WarmPool } from './workers.js';

export type { SupervisorOptions } from './options.js';

/** Options of {@link Supervisor.attach}. */
export interface AttachOptions {
  /** Device id (default `dev<n>`). */
  id?: string;
  /** Interrupt mode (default: the best the device offers: MSI-X, MSI, INTx). */
  irq?: IrqMode;
  /**
   * Realize the function's apple-dma-pci companion over this guest RAM (dext
   * backends): DMA then goes through the companion, as with QEMU's
   * `dma-companion=on`; its BAR0 is `handle.companion`.
   */
  dmaCompanion?: DmaCompanionRequest;
}

/** A record published on the supervisor's `trace` event. */
export interface TraceRecord {
  name: string;
  payload: Record<string, unknown>;
}

/** Events of the supervisor. */
export interface SupervisorEvents {
  /** Every trace record of this thread's devices and of their workers. */
  trace: [TraceRecord];
  /** A worker was restarted by policy. */
  restart: [{ deviceId: string; bdf: string; attempt: number }];
  /** A device is faulted (restart limit, lost device, failed restart). */
  faulted: [{ deviceId: string; bdf: string; cause: SerializedError }];
  /** A device worker died. */
  'worker-exit': [{ deviceId: string; bdf: string; exitCode: number }];
}

/** What `inspect()` reports: the supervisor's resources at this moment. */
export interface SupervisorInspection {
  /** Every attached device and its state. */
  devices: DeviceSummary[];
  /** Owned functions. */
  owners: string[];
  /** One dext connection per function, with its refcount and holders (dext backends). */
  connections: ConnectionInfo[];
  /** Live device workers (warm ones not counted). */
  workers: number;
  /** Idle warm workers. */
  warmWorkers: number;
  /** Control calls still pending over every live channel. */
  pendingCalls: number;
}

type Listener<K extends keyof SupervisorEvents> = (...args: SupervisorEvents[K]) => void;

/**
 * Creates a supervisor with its backend host (and warm workers, if asked).
 * Rejects PT_ERR_INVALID_ARGUMENT naming a bad option and its value, or with
 * the backend's PassthroughError when it cannot start.
 */
export async function createSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const o = resolveOptions(options);
  const hostOptions: Record<string, unknown> = { ...o.backendOptions };
  if (o.machine !== undefined) hostOptions.machine = o.machine;
  const host = await createBackendHost(o.backend, hostOptions);
  return new Supervisor(host, o);
}

/** The device supervisor. Create with {@link createSupervisor}. */
export class Supervisor {
  readonly #devices = new Map<string, SupervisedDevice>();
  readonly #emitter = new EventEmitter();
  readonly #ctx: DeviceContext;
  #nextId = 0;
  #closed: Promise<void> | undefined;
  /** Set by keepOpen(): released by close(). */
  #pinned: (() => void) | undefined;

  /** @internal use createSupervisor */
  constructor(host: BackendHost, opts: ResolvedOptions) {
    const spawnOptions = { callTimeoutMs: opts.callTimeoutMs, preload: [opts.backend] };
    this.#ctx = {
      opts,
      host,
      ownership: new Ownership(),
      pool: opts.warmWorkers > 0 ? new WarmPool(opts.warmWorkers, spawnOptions) : undefined,
      spawnOptions,
      teardowns: {},
      keepAlive: new KeepAlive(),
      publish: (name, payload) => this.#publish(name, payload),
      emit: (event, payload) => this.#emitter.emit(event, payload),
      slotReset: (device) => this.#slotReset(device),
      forget: (device) => {
        if (this.#devices.get(device.id) === device) this.#devices.delete(device.id);
      },
    };
    // Left open when the event loop empties: warned about once and held open until close() (lifetime.ts).
    trackOpen(this);
  }

  /** The backend in use. */
  get backend(): BackendName {
    return this.#ctx.host.name;
  }

  /** Every function the backend sees. */
  listFunctions(): Promise<FunctionSummary[]> {
    return this.#ctx.host.listFunctions();
  }

  /** Backend readiness. */
  status(): Promise<BackendStatus> {
    return this.#ctx.host.status();
  }

  /** Resolves when the warm pool has booted (no-op without one). */
  async warm(): Promise<void> {
    await this.#ctx.keepAlive.during(async () => this.#ctx.pool?.ready());
  }

  /** Subscribes to an event. */
  on<K extends keyof SupervisorEvents>(event: K, listener: Listener<K>): this {
    this.#emitter.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  /** Unsubscribes. */
  off<K extends keyof SupervisorEvents>(event: K, listener: Listener<K>): this {
    this.#emitter.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  /**
   * Attaches `bdf` in a new device worker (or a warm one) and resolves with
   * its handle once the device is ready.
   * Rejects: PT_ERR_INVALID_BDF; PT_ERR_INVALID_ARGUMENT for bad options or a
   * used id; PT_ERR_DUPLICATE_OWNER ("vfio-apple: duplicate dext owner for
   * host PCI …") when the function is attached already, before anything is
   * spawned; PT_ERR_CLOSED after close(); otherwise the failed step's error
   * (PT_ERR_CONNECT_FAILED, PT_ERR_CLAIM_FAILED, PT_ERR_IRQ_SETUP, PT_ERR_IO, …).
   * On failure everything taken so far is released.
   */
  async attach(bdfText: string, opts: AttachOptions = {}): Promise<DeviceHandle> {
    if (this.#closed !== undefined) throw new PassthroughError('PT_ERR_CLOSED', 'supervisor is closed', { bdf: String(bdfText) });
    if (typeof bdfText !== 'string') {
      throw new PassthroughError('PT_ERR_INVALID_BDF', 'attach needs a BDF string (`BB:DD.F` or `DDDD:BB:DD.F`)', { bdf: String(bdfText) });
    }
    if (opts === null || typeof opts !== 'object') throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'attach options must be an object', { options: String(opts) });
    if (opts.irq !== undefined && !['msix', 'msi', 'intx', 'none'].includes(opts.irq)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', "irq must be 'msix', 'msi', 'intx' or 'none'", { irq: String(opts.irq) });
    }
    if (opts.dmaCompanion !== undefined && (opts.dmaCompanion === null || !Array.isArray(opts.dmaCompanion.guestRam))) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'dmaCompanion needs { guestRam: [{ gpa, buffer, offsetBytes, lengthBytes }] }', {});
    }
    const bdf = toBdf(bdfText);
    const id = opts.id ?? this.#newId();
    if (typeof id !== 'string' || id.length === 0) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'device id must be a non-empty string', { deviceId: String(id) });
    }
    if (this.#devices.has(id)) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `device id "${id}" is in use`, { deviceId: id, bdf });
    this.#ctx.ownership.take(bdf, id);
    const device = new SupervisedDevice(this.#ctx, { id, bdf, irq: opts.irq, dmaCompanion: opts.dmaCompanion });
    device.handle = createDeviceHandle(device);
    this.#devices.set(id, device);
    return this.#ctx.keepAlive.during(async () => {
      const failure = await device.start();
      if (failure === undefined) return device.handle;
      // First start failed (or a detach/close overtook it): stop what was started, then report.
      await this.#stop(device);
      throw failure;
    });
  }

  /** Detaches a device (by id or bdf) in order. Resolves once the worker is gone. Unknown ids resolve (idempotent). */
  async detach(idOrBdf: string): Promise<void> {
    const device = this.#find(idOrBdf, false);
    if (device !== undefined) await this.#ctx.keepAlive.during(() => this.#stop(device));
  }

  /** Resets a device. Rejects PT_ERR_NOT_FOUND for an unknown device, else as DeviceHandle.reset. */
  async reset(idOrBdf: string): Promise<void> {
    const device = this.#find(idOrBdf, true)!;
    await this.#ctx.keepAlive.during(() => device.reset());
  }

  /** Every device and its state. */
  list(): DeviceSummary[] {
    return [...this.#devices.values()].map((d) => d.summary());
  }

  /** Statistics of every device (devices whose worker is down report the control-block counters only). */
  async stats(): Promise<Record<string, DeviceStats>> {
    const out: Record<string, DeviceStats> = {};
    await Promise.all([...this.#devices.values()].filter((d) => d.stopping === undefined).map(async (d) => (out[d.id] = await d.stats())));
    return out;
  }

  /** The supervisor's resources now: devices, owners, connections with refcounts, workers, pending calls. */
  inspect(): SupervisorInspection {
    let pendingCalls = 0;
    let workers = 0;
    for (const d of this.#devices.values()) {
      if (d.worker?.alive === true) workers++;
      pendingCalls += d.worker?.rpc.pendingCount ?? 0;
    }
    return {
      devices: this.list(),
      owners: this.#ctx.ownership.owned(),
      connections: this.#ctx.ownership.connections(),
      workers,
      warmWorkers: this.#ctx.pool?.idle ?? 0,
      pendingCalls,
    };
  }

  /**
   * Detaches every device (each in its ordered teardown), stops the warm
   * pool, then closes the backend host. After it resolves no worker, port
   * or timer of the supervisor is left, so the process can exit. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      trackClosed(this);
      // Idle workers do not hold the process: closing does, until it is done.
      await this.#ctx.keepAlive.during(async () => {
        await Promise.all([...this.#devices.values()].map((d) => this.#stop(d)));
        await this.#ctx.pool?.close();
        await this.#ctx.host.close();
      });
      this.#pinned?.();
    })();
    return this.#closed;
  }

  /** @internal The process-lifetime hook found the loop empty with devices attached: hold it until close(). */
  keepOpen(): void {
    if (this.#closed === undefined) this.#pinned ??= this.#ctx.keepAlive.hold();
  }

  /** @internal Devices attached now (the process-lifetime hook). */
  deviceCount(): number {
    return this.#devices.size;
  }

  /** @internal Test hooks: kill a device's worker, inject a sim fault, teardown reports. */
  get debug() {
    return {
      /** Terminates the device's worker as a crash would (worker.terminate). */
      killWorker: async (idOrBdf: string): Promise<void> => {
        const device = this.#find(idOrBdf, true)!;
        await this.#ctx.keepAlive.during(async () => void (await device.worker?.terminate()));
      },
      /** Injects a fault into the device's sim worker. */
      injectFault: async (idOrBdf: string, fault: TestFault): Promise<void> => {
        const device = this.#find(idOrBdf, true)!;
        await this.#ctx.keepAlive.during(() => device.call({ type: 'test.fault', fault }));
      },
      /** The worker of a device (for tests that need its thread). */
      worker: (idOrBdf: string) => this.#find(idOrBdf, true)!.worker?.worker,
      /** inspect() in numbers, plus what each worker still held after its teardown (a leak check expects zeros). */
      resources: () => {
        const i = this.inspect();
        return { ...i, devices: i.devices.length, teardowns: { ...this.#ctx.teardowns } };
      },
    };
  }

  // -------------------------------------------------------------- internals --

  #newId(): string {
    let id: string;
    do id = `dev${this.#nextId++}`;
    while (this.#devices.has(id));
    return id;
  }

  #find(idOrBdf: string, required: boolean): SupervisedDevice | undefined {
    let device = this.#devices.get(idOrBdf);
    if (device === undefined) {
      let bdf: string | undefined;
      try {
        bdf = toBdf(idOrBdf);
      } catch {
        bdf = undefined;
      }
      if (bdf !== undefined) device = [...this.#devices.values()].find((d) => d.bdf === bdf);
    }
    if (device === undefined && required) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `no attached device "${String(idOrBdf)}"`, { deviceId: String(idOrBdf) });
    }
    return device;
  }

  #stop(device: SupervisedDevice): Promise<void> {
    return device.stop();
  }

  /**
   * A reset of `device` reset its whole slot (secondary bus): each other
   * attached function of the slot, wherever its worker runs, restores what a
   * reset clears (and, on the sim, its simulated function is reset too).
   * A sibling that cannot follow is reported, not thrown.
   */
  async #slotReset(device: SupervisedDevice): Promise<void> {
    const siblings = this.#ctx.ownership.slotSiblings(device.bdf);
    await Promise.all(
      siblings.map(async ({ deviceId }) => {
        const sibling = this.#devices.get(deviceId);
        if (sibling === undefined) return;
        try {
          await sibling.call({ type: 'device.busReset', by: device.bdf });
        } catch (e) {
          this.#publish('pcipt:actor:error', {
            deviceId,
            code: PassthroughError.is(e) ? e.code : 'PT_ERR_INTERNAL',
            message: e instanceof Error ? e.message : String(e),
            context: { step: 'slot reset', by: device.bdf },
          });
        }
      }),
    );
  }

  #publish(name: TracePoint, payload: Record<string, unknown>): void {
    trace(name, payload);
    if (this.#emitter.listenerCount('trace') > 0) this.#emitter.emit('trace', { name, payload });
  }
}
