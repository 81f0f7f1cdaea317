/**
 * The supervisor: the public entry of the runtime (`createSupervisor`).
 *
 * It owns, in the embedding process's main thread:
 * - the {@link BackendHost} (enumeration, process-wide backend resources);
 * - the ownership table: one owner per host function; attaching a function
 *   that is already owned is refused with PT_ERR_DUPLICATE_OWNER before any
 *   worker is spawned. Functions of one slot are separate owners and separate
 *   workers; this table is what they share;
 * - one device control block per device (created at attach, reused across
 *   worker restarts so embedders' IrqLine/ConfigPort keep working);
 * - one plain Worker per device (worker-slot.ts), plus an optional warm pool;
 * - one {@link slotMachine} actor per device: start, restart by policy
 *   (one-for-one, intensity window), stop.
 *
 * On a worker death (exit or uncaught error) the order is: mark the mailbox
 * gone (blocked embedders get PT_ERR_WORKER_EXITED), reject the pending
 * control calls (PT_ERR_WORKER_EXITED), revoke the BAR leases and drop our own
 * windows, release ownership and the backend's resources; then the policy
 * decides: restart in a new worker with the same control block, or give up
 * (state `faulted`, cause PT_ERR_RESTART_LIMIT, a `faulted` event and a
 * `pcipt:supervisor:give-up` trace).
 */
import { EventEmitter } from 'node:events';
import { createHistogram } from 'node:perf_hooks';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { BACKEND_NAMES, createBackendHost, isBackendName } from '../backends/index.js';
import type { BackendHost, BackendName, BackendStatus, FunctionSummary, WorkerBackendSpec } from '../vfio/backend.js';
import { PassthroughError, type SerializedError } from '../errors.js';
import {
  BarWindow,
  ConfigPort,
  createDeviceControlBlock,
  createMailboxSlowPath,
  DmaMap,
  IrqLine,
  markServerGone,
  requestUnmapAsync,
  type DeviceHandleDescriptor,
  type DmaControl,
  type SlowPath,
} from '../fastpath/index.js';
import { controlWords, kIrqSeqIndex } from '../fastpath/layout.js';
import { TRACE_POINTS, trace, type TracePoint } from '../trace.js';
import { toBdf, type Bdf, type Iova } from '../types.js';
import type { DeviceHandle, DeviceStats, DeviceSummary } from './device-handle.js';
import { createInspector } from './inspect.js';
import type { ActivateResult, Command, IrqMode, ReplyValues, TeardownReport, TestFault, WorkerEvent } from './protocol.js';
import { zeroDeviceCounters } from './protocol.js';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.js';
import { slotMachine, type SlotMachine, type SlotStepInput } from './supervisor.machine.js';
import { spawnWorker, WarmPool, type WorkerSlot } from './worker-slot.js';

/** Options of {@link createSupervisor}. */
export interface SupervisorOptions {
  /** Backend (default `sim`). */
  backend?: BackendName;
  /** Sim machine: a description object or a JSON file path (sim only; default DEFAULT_SIM_MACHINE). */
  machine?: object | string;
  /** Restart policy: at most `maxRestarts` (default 3) within `windowMs` (default 10000). */
  restart?: { maxRestarts?: number; windowMs?: number };
  /** Deadline of every control call in ms (default 5000). Attach steps get the same deadline each. */
  callTimeoutMs?: number;
  /** Backend-specific options (sim test hooks `faults`/`mapFaults`; iokit `libraries`; linux: see src/linux). */
  backendOptions?: Record<string, unknown>;
  /** Booted idle workers kept ready for attach (default 0). */
  warmWorkers?: number;
  /** Forward every worker trace point to this thread (default false: actor transitions/errors only). */
  traceWorkers?: boolean;
  /**
   * Period in ms of each worker's presence check (reads the vendor id; 0xffff
   * = fell off the bus → device faulted with PT_ERR_DEVICE_GONE). Default 1000; 0 turns it off.
   */
  presenceCheckMs?: number;
}

/** Options of {@link Supervisor.attach}. */
export interface AttachOptions {
  /** Device id (default `dev<n>`). */
  id?: string;
  /** Interrupt mode (default: the best the device offers). */
  irq?: IrqMode;
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

/** @internal What tests inspect to find leaks. */
export interface SupervisorResources {
  devices: number;
  owners: string[];
  /** Live device workers (attached devices; warm ones not counted). */
  workers: number;
  warmWorkers: number;
  /** Control calls still pending over every live channel. */
  pendingCalls: number;
  /** Lease holders left on each device's BARs by this thread's windows. */
  teardowns: Record<string, TeardownReport>;
}

interface DeviceRecord {
  id: string;
  bdf: Bdf;
  irq: IrqMode | undefined;
  control: SharedArrayBuffer;
  slowPath: SlowPath;
  actor: Actor<SlotMachine>;
  worker: WorkerSlot | undefined;
  activate: ActivateResult | undefined;
  windows: (BarWindow | undefined)[];
  /** State posted by the device worker (ready, resetting, faulted). */
  deviceState: string;
  handle: DeviceHandle;
  stopping: Promise<void> | undefined;
  /** Called when the worker reports `stopped` (its last notification). */
  onStopped: (() => void) | undefined;
}

type Listener<K extends keyof SupervisorEvents> = (...args: SupervisorEvents[K]) => void;

function fail(kind: 'type' | 'range', name: string, what: string): never {
  const E = kind === 'type' ? TypeError : RangeError;
  throw new E(`options.${name} must be ${what}`);
}

function validate(options: unknown): Required<Pick<SupervisorOptions, 'backend' | 'callTimeoutMs' | 'warmWorkers' | 'traceWorkers' | 'presenceCheckMs'>> &
  SupervisorOptions & { policy: RestartPolicy } {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const o = options as SupervisorOptions;
  const backend = o.backend ?? 'sim';
  if (!isBackendName(backend)) fail('type', 'backend', `one of ${BACKEND_NAMES.join(', ')}`);
  if (o.machine !== undefined) {
    if (typeof o.machine !== 'string' && (typeof o.machine !== 'object' || o.machine === null)) {
      fail('type', 'machine', 'a machine description object or a JSON file path');
    }
    if (backend !== 'sim') fail('type', 'machine', "used with backend 'sim' only");
  }
  const callTimeoutMs = o.callTimeoutMs ?? 5000;
  if (typeof callTimeoutMs !== 'number') fail('type', 'callTimeoutMs', 'a number');
  if (!Number.isFinite(callTimeoutMs) || callTimeoutMs <= 0) fail('range', 'callTimeoutMs', 'a finite number > 0');
  const r = o.restart ?? {};
  if (typeof r !== 'object' || r === null) fail('type', 'restart', 'an object');
  const maxRestarts = r.maxRestarts ?? DEFAULT_RESTART_POLICY.maxRestarts;
  if (typeof maxRestarts !== 'number') fail('type', 'restart.maxRestarts', 'a number');
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) fail('range', 'restart.maxRestarts', 'an integer ≥ 0');
  const windowMs = r.windowMs ?? DEFAULT_RESTART_POLICY.windowMs;
  if (typeof windowMs !== 'number') fail('type', 'restart.windowMs', 'a number');
  if (!Number.isFinite(windowMs) || windowMs <= 0) fail('range', 'restart.windowMs', 'a finite number > 0');
  const warmWorkers = o.warmWorkers ?? 0;
  if (typeof warmWorkers !== 'number') fail('type', 'warmWorkers', 'a number');
  if (!Number.isInteger(warmWorkers) || warmWorkers < 0 || warmWorkers > 256) fail('range', 'warmWorkers', 'an integer 0–256');
  if (o.backendOptions !== undefined && (typeof o.backendOptions !== 'object' || o.backendOptions === null)) {
    fail('type', 'backendOptions', 'an object');
  }
  if (o.traceWorkers !== undefined && typeof o.traceWorkers !== 'boolean') fail('type', 'traceWorkers', 'a boolean');
  const presenceCheckMs = o.presenceCheckMs ?? 1000;
  if (typeof presenceCheckMs !== 'number') fail('type', 'presenceCheckMs', 'a number');
  if (!Number.isFinite(presenceCheckMs) || presenceCheckMs < 0) fail('range', 'presenceCheckMs', 'a finite number ≥ 0');
  return {
    ...o,
    backend,
    callTimeoutMs,
    warmWorkers,
    traceWorkers: o.traceWorkers ?? false,
    presenceCheckMs,
    policy: { maxRestarts, windowMs },
  };
}

/**
 * Wakes every thread waiting on the device's IRQ line (a spurious wake: the
 * drain finds nothing), so no embedder keeps waiting, and keeping the process
 * alive, on a device that is gone. The sequence word is a counter, so an
 * extra bump is always safe (house rule 10).
 */
function wakeIrqWaiters(control: SharedArrayBuffer): void {
  const w = controlWords(control);
  Atomics.add(w, kIrqSeqIndex, 1);
  Atomics.notify(w, kIrqSeqIndex);
}

/**
 * Creates a supervisor with its backend host (and warm workers, if asked).
 * Throws TypeError / RangeError ("options.x must be …") for bad options;
 * rejects with the backend's PassthroughError when it cannot start.
 */
export async function createSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const o = validate(options);
  const hostOptions: Record<string, unknown> = { ...(o.backendOptions ?? {}) };
  if (o.machine !== undefined) hostOptions.machine = o.machine;
  const host = await createBackendHost(o.backend, hostOptions);
  return new Supervisor(host, o);
}

/** The device supervisor. Create with {@link createSupervisor}. */
export class Supervisor {
  readonly #host: BackendHost;
  readonly #opts: ReturnType<typeof validate>;
  readonly #devices = new Map<string, DeviceRecord>();
  /** The ownership table: function → device id. */
  readonly #owners = new Map<Bdf, string>();
  readonly #emitter = new EventEmitter();
  readonly #teardowns: Record<string, TeardownReport> = {};
  readonly #pool: WarmPool | undefined;
  readonly #unmapTimeoutMs: number;
  #nextId = 0;
  #closed: Promise<void> | undefined;

  /** @internal use createSupervisor */
  constructor(host: BackendHost, opts: ReturnType<typeof validate>) {
    this.#host = host;
    this.#opts = opts;
    this.#unmapTimeoutMs = Math.max(50, Math.floor(opts.callTimeoutMs / 8));
    this.#pool = opts.warmWorkers > 0 ? new WarmPool(opts.warmWorkers, this.#spawnOptions()) : undefined;
  }

  /** The backend in use. */
  get backend(): BackendName {
    return this.#host.name;
  }

  /** Every function the backend sees. */
  listFunctions(): Promise<FunctionSummary[]> {
    return this.#host.listFunctions();
  }

  /** Backend readiness. */
  status(): Promise<BackendStatus> {
    return this.#host.status();
  }

  /** Resolves when the warm pool has booted (no-op without one). */
  async warm(): Promise<void> {
    await this.#pool?.ready();
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
   * Rejects: PT_ERR_INVALID_BDF; PT_ERR_DUPLICATE_OWNER when the function is
   * already attached (checked before spawning); PT_ERR_INVALID_ARGUMENT for a
   * used id; PT_ERR_CLOSED after close(); the failed step's error otherwise
   * (PT_ERR_CLAIM_FAILED, PT_ERR_IRQ_SETUP, PT_ERR_IO, PT_ERR_NOT_FOUND, …).
   * On failure everything taken so far is released.
   */
  async attach(bdfText: string, opts: AttachOptions = {}): Promise<DeviceHandle> {
    if (this.#closed !== undefined) throw new PassthroughError('PT_ERR_CLOSED', 'supervisor is closed', { bdf: bdfText });
    if (opts.irq !== undefined && !['msix', 'msi', 'intx', 'none'].includes(opts.irq)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', "irq must be 'msix', 'msi', 'intx' or 'none'", { irq: opts.irq });
    }
    const bdf = toBdf(bdfText);
    const id = opts.id ?? this.#newId();
    if (typeof id !== 'string' || id.length === 0) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'device id must be a non-empty string', { deviceId: id });
    }
    if (this.#devices.has(id)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `device id "${id}" is in use`, { deviceId: id, bdf });
    }
    const owner = this.#owners.get(bdf);
    if (owner !== undefined) {
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `${bdf} is already attached as "${owner}"`, {
        bdf,
        deviceId: id,
        owner,
      });
    }
    this.#owners.set(bdf, id);
    const record = this.#newRecord(id, bdf, opts.irq);
    this.#devices.set(id, record);
    record.actor.start();
    const snap = await waitFor(record.actor, (s) => !s.matches('starting'));
    if (snap.matches('running')) return record.handle;
    // First start failed (or a detach/close overtook it): stop what was started, then report.
    const cause = snap.matches('failed') ? snap.context.cause : undefined;
    await this.#stopRecord(record);
    throw cause === undefined
      ? new PassthroughError('PT_ERR_CANCELLED', `attach of ${bdf} cancelled by detach or close`, { bdf, deviceId: id })
      : PassthroughError.fromJSON(cause);
  }

  /** Detaches a device (by id or bdf) in order. Resolves once the worker is gone. Unknown ids resolve (idempotent). */
  async detach(idOrBdf: string): Promise<void> {
    const record = this.#find(idOrBdf, false);
    if (record !== undefined) await this.#stopRecord(record);
  }

  /** Resets a device. Rejects PT_ERR_NOT_FOUND for an unknown device, else as DeviceHandle.reset. */
  async reset(idOrBdf: string): Promise<void> {
    await this.#call(this.#find(idOrBdf, true)!, { type: 'device.reset' });
  }

  /** Every device and its state. */
  list(): DeviceSummary[] {
    return [...this.#devices.values()].map((r) => this.#summary(r));
  }

  /** Statistics of every device (devices whose worker is down report the control-block counters only). */
  async stats(): Promise<Record<string, DeviceStats>> {
    const out: Record<string, DeviceStats> = {};
    await Promise.all([...this.#devices.values()].map(async (r) => (out[r.id] = await this.#statsOf(r))));
    return out;
  }

  /**
   * Detaches every device (each in its ordered teardown), stops the warm
   * pool, then closes the backend host. After it resolves no worker, port
   * or timer of the supervisor is left, so the process can exit. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#devices.values()].map((r) => this.#stopRecord(r)));
      await this.#pool?.close();
      await this.#host.close();
    })();
    return this.#closed;
  }

  /** @internal Test hooks: kill a device's worker, inject a sim fault, inspect resources. */
  get debug() {
    return {
      /** Terminates the device's worker as a crash would (worker.terminate). */
      killWorker: async (idOrBdf: string): Promise<void> => {
        const r = this.#find(idOrBdf, true)!;
        await r.worker?.terminate();
      },
      /** Injects a fault into the device's sim worker. */
      injectFault: async (idOrBdf: string, fault: TestFault): Promise<void> => {
        await this.#call(this.#find(idOrBdf, true)!, { type: 'test.fault', fault });
      },
      /** The worker of a device (for tests that need its thread). */
      worker: (idOrBdf: string) => this.#find(idOrBdf, true)!.worker?.worker,
      resources: (): SupervisorResources => {
        let pendingCalls = 0;
        let workers = 0;
        for (const r of this.#devices.values()) {
          if (r.worker?.alive === true) workers++;
          pendingCalls += r.worker?.rpc.pendingCount ?? 0;
        }
        return {
          devices: this.#devices.size,
          owners: [...this.#owners.keys()],
          workers,
          warmWorkers: this.#pool?.idle ?? 0,
          pendingCalls,
          teardowns: { ...this.#teardowns },
        };
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

  #spawnOptions() {
    return { callTimeoutMs: this.#opts.callTimeoutMs, preload: [this.#opts.backend] };
  }

  #find(idOrBdf: string, required: boolean): DeviceRecord | undefined {
    let record = this.#devices.get(idOrBdf);
    if (record === undefined) {
      let bdf: Bdf | undefined;
      try {
        bdf = toBdf(idOrBdf);
      } catch {
        bdf = undefined;
      }
      if (bdf !== undefined) record = [...this.#devices.values()].find((r) => r.bdf === bdf);
    }
    if (record === undefined && required) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `no attached device "${idOrBdf}"`, { deviceId: idOrBdf });
    }
    return record;
  }

  #summary(r: DeviceRecord): DeviceSummary {
    const snap = r.actor.getSnapshot();
    const slot = String(snap.value);
    let state: string;
    if (snap.status === 'done') state = 'stopped';
    else if (slot === 'running') state = r.deviceState;
    else if (slot === 'failed') state = 'faulted';
    else state = slot;
    const cause = snap.context.cause;
    return {
      id: r.id,
      bdf: r.bdf,
      state,
      restarts: snap.context.restarts,
      cause: state === 'faulted' && cause !== undefined ? { code: cause.code, message: cause.message } : undefined,
    };
  }

  /** One control call on the device's current worker. */
  async #call<C extends Command>(r: DeviceRecord, cmd: C, timeoutMs?: number): Promise<ReplyValues[C['type']]> {
    const w = r.worker;
    if (w === undefined || !w.alive) {
      const state = this.#summary(r).state;
      throw new PassthroughError(
        state === 'restarting' || state === 'starting' ? 'PT_ERR_WORKER_EXITED' : 'PT_ERR_NOT_ATTACHED',
        `device ${r.id} has no running worker (${state})`,
        { deviceId: r.id, bdf: r.bdf, state },
      );
    }
    try {
      return await w.rpc.call(cmd, timeoutMs);
    } catch (e) {
      throw PassthroughError.is(e) && e.context.deviceId === undefined ? e.prepend(`device ${r.id}`, { deviceId: r.id, bdf: r.bdf }) : e;
    }
  }

  #newRecord(id: string, bdf: Bdf, irq: IrqMode | undefined): DeviceRecord {
    const control = createDeviceControlBlock();
    const timeoutMs = Math.max(100, Math.min(this.#opts.callTimeoutMs, 2000));
    const record = {
      id,
      bdf,
      irq,
      control,
      slowPath: createMailboxSlowPath(control, { timeoutMs }),
      worker: undefined,
      activate: undefined,
      windows: [],
      deviceState: 'starting',
      stopping: undefined,
    } as unknown as DeviceRecord;
    const machine = slotMachine.provide({
      actors: {
        startWorker: fromPromise<void, SlotStepInput>(({ input }) => this.#startWorker(record, input.generation)),
        stopWorker: fromPromise<void, SlotStepInput>(() => this.#stopWorker(record)),
      },
      actions: {
        workerLost: (_, params) => this.#workerLost(record, params.exitCode, params.error),
        onRunning: () => {},
        onRestart: ({ context }) => {
          const payload = { deviceId: id, bdf, attempt: context.restarts };
          this.#publish('pcipt:supervisor:restart', payload);
          this.#emitter.emit('restart', payload);
        },
        onFaulted: ({ context }) => {
          const cause = context.cause!;
          if (cause.code === 'PT_ERR_RESTART_LIMIT') {
            this.#publish('pcipt:supervisor:give-up', { deviceId: id, bdf, restarts: context.restarts, cause: cause.message });
          }
          this.#publish('pcipt:actor:error', { deviceId: id, code: cause.code, message: cause.message, context: cause.context });
          this.#emitter.emit('faulted', { deviceId: id, bdf, cause });
        },
      },
    });
    const inspect = createInspector(id, {
      transition: (rec) => this.#publish('pcipt:actor:transition', { ...rec }),
      error: (rec) => this.#publish('pcipt:actor:error', { ...rec }),
    });
    record.actor = createActor(machine, {
      id: 'slot',
      input: { deviceId: id, bdf, policy: this.#opts.policy, now: Date.now },
      inspect,
    });
    record.handle = this.#makeHandle(record);
    return record;
  }

  /** The slot's `startWorker`: take ownership, prepare the backend, spawn or take a worker, activate. */
  async #startWorker(r: DeviceRecord, generation: number): Promise<void> {
    const owner = this.#owners.get(r.bdf);
    if (owner !== undefined && owner !== r.id) {
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `${r.bdf} was taken by "${owner}" while ${r.id} restarted`, {
        bdf: r.bdf,
        deviceId: r.id,
        owner,
      });
    }
    this.#owners.set(r.bdf, r.id);
    const spec = await this.#host.prepare(r.bdf);
    if (!r.actor.getSnapshot().matches('starting')) {
      // Detached or closed while the backend prepared: stopWorker already ran, so undo here
      // and spawn nothing (the invoked promise outlives its state; nothing may leak from it).
      this.#host.release(r.bdf);
      throw new PassthroughError('PT_ERR_CANCELLED', `attach of ${r.bdf} cancelled`, { bdf: r.bdf, deviceId: r.id });
    }
    const slot = this.#pool?.take() ?? spawnWorker(this.#spawnOptions());
    try {
      await this.#activate(r, slot, spec, generation);
    } finally {
      this.#pool?.refill();
    }
  }

  async #activate(r: DeviceRecord, slot: WorkerSlot, spec: WorkerBackendSpec, generation: number): Promise<void> {
    r.worker = slot;
    r.deviceState = 'starting';
    slot.onEvent = (ev) => this.#onWorkerEvent(r, slot, ev);
    slot.onExit = (exitCode, error) => {
      if (r.worker === slot) r.actor.send({ type: 'worker.exited', exitCode, error });
    };
    if (!slot.alive) throw new PassthroughError('PT_ERR_WORKER_EXITED', 'device worker exited before activation', { deviceId: r.id });
    const result = await slot.rpc.call(
      {
        type: 'activate',
        deviceId: r.id,
        bdf: r.bdf,
        spec,
        controlBlock: r.control,
        irq: r.irq,
        generation,
        forwardTrace: this.#opts.traceWorkers,
        stepTimeoutMs: this.#opts.callTimeoutMs,
        unmapTimeoutMs: this.#unmapTimeoutMs,
        presenceCheckMs: this.#opts.presenceCheckMs,
      },
      this.#opts.callTimeoutMs * 2,
    );
    r.activate = result;
    r.deviceState = 'ready';
    await this.#openWindows(r, result);
  }

  async #openWindows(r: DeviceRecord, result: ActivateResult): Promise<void> {
    let viewFactory: ((address: bigint, lengthBytes: number) => ArrayBuffer) | undefined;
    if (result.viewFactoryModule !== undefined) {
      const mod = (await import(result.viewFactoryModule)) as { viewAt: (a: bigint, n: number) => ArrayBuffer };
      viewFactory = mod.viewAt;
    }
    for (const w of r.windows) w?.release();
    r.windows = result.bars.map((d) =>
      d === undefined
        ? undefined
        : BarWindow.open(d, { slowPath: r.slowPath, ...(viewFactory === undefined ? {} : { viewFactory }) }),
    );
  }

  #releaseWindows(r: DeviceRecord): void {
    for (const w of r.windows) w?.release();
    r.windows = [];
  }

  /**
   * The slot's `workerLost`: the worker is gone. Mark the mailbox gone,
   * fail its calls (spawnWorker's exit handler did), revoke the BARs, release
   * ownership and the backend's hold. Runs before the restart decision.
   */
  #workerLost(r: DeviceRecord, exitCode: number, error: SerializedError | undefined): void {
    markServerGone(r.control);
    r.worker?.rpc.failAll(
      new PassthroughError('PT_ERR_WORKER_EXITED', `device worker of ${r.id} exited (code ${exitCode})`, {
        deviceId: r.id,
        bdf: r.bdf,
        exitCode,
      }),
    );
    this.#releaseWindows(r);
    for (let bar = 0; bar < 6; bar++) {
      if (r.activate?.bars[bar] === undefined) continue;
      // Revoke now so other threads' windows stop at their next access; holders that
      // never access again keep a count the restarted worker does not wait for.
      requestUnmapAsync(r.control, bar, 0).catch(() => {});
    }
    r.worker = undefined;
    r.deviceState = 'restarting';
    if (this.#owners.get(r.bdf) === r.id) this.#owners.delete(r.bdf);
    this.#host.release(r.bdf);
    const payload = { deviceId: r.id, bdf: r.bdf, exitCode, error: error?.message };
    this.#publish('pcipt:supervisor:worker-exit', payload);
    this.#emitter.emit('worker-exit', { deviceId: r.id, bdf: r.bdf, exitCode });
  }

  /**
   * The slot's `stopWorker`, crosvm-style: drop our own windows (we are
   * holders too), `shutdown` (the worker acks after its ordered teardown),
   * then terminate the thread and release ownership and the backend's hold.
   */
  async #stopWorker(r: DeviceRecord): Promise<void> {
    this.#releaseWindows(r);
    const slot = r.worker;
    let clean = false;
    if (slot !== undefined && slot.alive) {
      try {
        // The ack comes on the control port, the worker's last notifications on parentPort:
        // wait (briefly) for its `stopped` so no forwarded trace record is cut off by terminate.
        const stopped = new Promise<void>((resolve) => {
          r.onStopped = resolve;
          setTimeout(resolve, 250).unref();
        });
        this.#teardowns[r.id] = await slot.rpc.call({ type: 'shutdown' }, this.#opts.callTimeoutMs);
        await stopped;
        clean = true;
      } catch (e) {
        // A dead or stuck worker: terminate below still frees the thread.
        this.#publish('pcipt:actor:error', {
          deviceId: r.id,
          code: PassthroughError.is(e) ? e.code : 'PT_ERR_INTERNAL',
          message: e instanceof Error ? e.message : String(e),
          context: { step: 'shutdown' },
        });
      }
      r.worker = undefined; // the exit that follows is expected, not a crash
      await slot.terminate();
    } else {
      r.worker = undefined;
    }
    // A clean shutdown stopped the mailbox (embedders get PT_ERR_CLOSED); otherwise say the worker is gone.
    if (!clean) markServerGone(r.control);
    if (this.#owners.get(r.bdf) === r.id) this.#owners.delete(r.bdf);
    this.#host.release(r.bdf);
  }

  #stopRecord(r: DeviceRecord): Promise<void> {
    r.stopping ??= (async () => {
      const actor = r.actor;
      if (actor.getSnapshot().status === 'active') {
        actor.send({ type: 'device.stop' });
        await waitFor(actor, (s) => s.status === 'done', { timeout: this.#opts.callTimeoutMs * 3 }).catch(() => {});
      }
      actor.stop();
      wakeIrqWaiters(r.control);
      this.#devices.delete(r.id);
      if (this.#owners.get(r.bdf) === r.id) this.#owners.delete(r.bdf);
    })();
    return r.stopping;
  }

  #onWorkerEvent(r: DeviceRecord, slot: WorkerSlot, ev: WorkerEvent): void {
    if (r.worker !== slot) return;
    switch (ev.type) {
      case 'state':
        r.deviceState = ev.state;
        if (ev.state === 'stopped') r.onStopped?.();
        if (ev.state === 'faulted' && ev.cause !== undefined && r.actor.getSnapshot().matches('running')) {
          r.actor.send({ type: 'device.faulted', cause: ev.cause });
        }
        return;
      case 'trace':
        if (ev.name in TRACE_POINTS) this.#publish(ev.name as TracePoint, ev.payload);
        return;
      case 'booted':
        return;
      default: {
        const never: never = ev;
        void never;
      }
    }
  }

  #publish(name: TracePoint, payload: Record<string, unknown>): void {
    trace(name, payload);
    if (this.#emitter.listenerCount('trace') > 0) this.#emitter.emit('trace', { name, payload });
  }

  async #statsOf(r: DeviceRecord): Promise<DeviceStats> {
    const summary = this.#summary(r);
    const merged = createHistogram();
    const irq = new IrqLine(r.control).counters();
    let counters: DeviceStats['counters'] = zeroDeviceCounters();
    if (r.worker?.alive === true) {
      try {
        const s = await this.#call(r, { type: 'device.stats' });
        counters = s.counters;
        merged.add(s.slowPathLatencyNs);
      } catch {
        // worker went away meanwhile: control-block counters only
      }
    }
    counters.irqsRaised = irq.raised;
    counters.irqsDelivered = irq.delivered;
    counters.irqsCoalesced = irq.coalesced;
    counters.irqsMasked = irq.masked;
    return { id: r.id, bdf: r.bdf, state: summary.state, restarts: summary.restarts, counters, slowPathLatencyNs: merged };
  }

  #makeHandle(r: DeviceRecord): DeviceHandle {
    const sup = this;
    const dmaControl: DmaControl = {
      async dmaMap(req) {
        if (!(req.memory instanceof SharedArrayBuffer)) {
          throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'DMA of native ranges needs a native backend', { deviceId: r.id });
        }
        const v = await sup.#call(r, {
          type: 'dma.map',
          buffer: req.memory,
          offsetBytes: req.offsetBytes,
          lengthBytes: req.lengthBytes,
          iova: req.iova === undefined ? undefined : `0x${req.iova.toString(16)}`,
          readonly: req.readonly,
        });
        return { key: BigInt(v.key) as Iova, busAddr: BigInt(v.busAddr) as Iova, sizeBytes: BigInt(v.sizeBytes) };
      },
      async dmaUnmap(key) {
        await sup.#call(r, { type: 'dma.unmap', key: `0x${key.toString(16)}` });
      },
    };
    const timeoutMs = Math.max(100, Math.min(this.#opts.callTimeoutMs, 2000));
    const irq = new IrqLine(r.control);
    const config = new ConfigPort(r.control, { timeoutMs });
    // A restarted worker starts with no DMA mapping (its function was power-cycled):
    // a fresh book per generation, so list() never shows mappings that are gone.
    let dma = new DmaMap(dmaControl);
    let dmaGeneration = 0;
    return {
      id: r.id,
      bdf: r.bdf,
      get info() {
        if (r.activate === undefined) throw new PassthroughError('PT_ERR_NOT_READY', `device ${r.id} is not ready`, { deviceId: r.id });
        return r.activate.info;
      },
      get state() {
        return sup.#summary(r).state;
      },
      bar: (i: number) => r.windows[i],
      irq,
      config,
      get dma() {
        const generation = r.actor.getSnapshot().context.generation;
        if (generation !== dmaGeneration) {
          dma = new DmaMap(dmaControl);
          dmaGeneration = generation;
        }
        return dma;
      },
      reset: async () => {
        await sup.#call(r, { type: 'device.reset' });
      },
      stats: () => sup.#statsOf(r),
      detach: () => sup.#stopRecord(r),
      descriptor: (): DeviceHandleDescriptor => ({
        id: r.id,
        bdf: r.bdf,
        control: r.control,
        bars: r.activate?.bars.map((d) => (d === undefined ? undefined : { ...d })) ?? [],
      }),
    };
  }
}
