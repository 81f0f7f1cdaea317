/**
 * One device as the supervisor sees it: its control block (created at
 * attach, reused across worker restarts so embedders' IrqLine/ConfigPort keep
 * working), its supervision machine (start, restart by policy, stop), its
 * current worker and the BAR windows this thread holds. Starting a worker is
 * here; the ordered teardown and the handling of a dead worker are in
 * teardown.ts; the handle embedders get is in handle.ts.
 */
import { createHistogram } from 'node:perf_hooks';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { PassthroughError } from '../../errors.js';
import { BarWindow, createDeviceControlBlock, createMailboxSlowPath, IrqLine, Liveness, markLiveness, type SlowPath } from '../../fastpath/index.js';
import { TRACE_POINTS, type TracePoint } from '../../trace.js';
import type { Bdf } from '../../types.js';
import type { BackendHost, WorkerBackendSpec } from '../../vfio/backend.js';
import { createInspector } from '../inspect.js';
import { zeroDeviceCounters, type ActivateResult, type Command, type DmaCompanionRequest, type IrqMode, type ReplyValues, type TeardownReport, type WorkerEvent } from '../protocol.js';
import { supervisionMachine, type SupervisionMachine, type SupervisionStepInput } from '../supervision.machine.js';
import type { DeviceHandle, DeviceStats, DeviceSummary } from './handle.js';
import type { ResolvedOptions } from './options.js';
import type { KeepAlive } from './keep-alive.js';
import type { Ownership } from './ownership.js';
import { stopWorker, workerLost } from './teardown.js';
import { spawnWorker, type DeviceWorker, type SpawnOptions, type WarmPool } from './workers.js';

/** A new worker's boot (loading its modules, in silence) may take this many call deadlines. */
const BOOT_DEADLINE_FACTOR = 12;

/** `p`, or the error of `late()` once `ms` passed. */
async function bounded<T>(p: Promise<T>, ms: number, late: () => PassthroughError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(late()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a device needs from its supervisor. */
export interface DeviceContext {
  readonly opts: ResolvedOptions;
  readonly host: BackendHost;
  readonly ownership: Ownership;
  readonly pool: WarmPool | undefined;
  readonly spawnOptions: SpawnOptions;
  /** Teardown reports by device id (leak checks). */
  readonly teardowns: Record<string, TeardownReport>;
  /** Publishes a trace record (diagnostics_channel + the `trace` event). */
  publish(name: TracePoint, payload: Record<string, unknown>): void;
  /** Holds the process while work is in flight (keep-alive.ts). */
  readonly keepAlive: KeepAlive;
  /** Emits a supervisor event. */
  emit(event: 'restart' | 'faulted' | 'worker-exit', payload: unknown): void;
  /** The device stopped for good: the supervisor forgets it. */
  forget(device: SupervisedDevice): void;
  /** This device's reset was a hot reset of its slot: resolves once the slot's other devices followed. */
  slotReset(device: SupervisedDevice): Promise<void>;
}

/** What attach was asked for. */
export interface DeviceRequest {
  id: string;
  bdf: Bdf;
  irq: IrqMode | undefined;
  dmaCompanion: DmaCompanionRequest | undefined;
}

/** One supervised device. Internal: embedders hold its {@link DeviceHandle}. */
export class SupervisedDevice {
  readonly ctx: DeviceContext;
  readonly id: string;
  readonly bdf: Bdf;
  readonly request: DeviceRequest;
  readonly control: SharedArrayBuffer = createDeviceControlBlock();
  readonly slowPath: SlowPath;
  readonly actor: Actor<SupervisionMachine>;
  /** Set by handle.ts right after construction. */
  handle!: DeviceHandle;
  worker: DeviceWorker | undefined;
  activation: ActivateResult | undefined;
  windows: (BarWindow | undefined)[] = [];
  /** State posted by the device worker (ready, resetting, faulted). */
  deviceState = 'starting';
  stopping: Promise<void> | undefined;
  /** Called when the worker reports `stopped` (its last notification). */
  onStopped: (() => void) | undefined;

  constructor(ctx: DeviceContext, request: DeviceRequest) {
    this.ctx = ctx;
    this.request = request;
    this.id = request.id;
    this.bdf = request.bdf;
    this.slowPath = createMailboxSlowPath(this.control, { timeoutMs: ctx.opts.syncTimeoutMs });
    const { id, bdf } = request;
    const machine = supervisionMachine.provide({
      actors: {
        startWorker: fromPromise<void, SupervisionStepInput>(({ input }) => this.#startWorker(input.generation)),
        stopWorker: fromPromise<void, SupervisionStepInput>(() => stopWorker(this)),
      },
      actions: {
        workerLost: (_, params) => workerLost(this, params.exitCode, params.error),
        onRunning: () => {},
        onRestart: ({ context }) => {
          const payload = { deviceId: id, bdf, attempt: context.restarts };
          ctx.publish('pcipt:supervisor:restart', payload);
          ctx.emit('restart', payload);
        },
        onFaulted: ({ context }) => {
          const cause = context.cause!;
          if (cause.code === 'PT_ERR_RESTART_LIMIT') {
            ctx.publish('pcipt:supervisor:give-up', { deviceId: id, bdf, restarts: context.restarts, cause: cause.message });
          }
          ctx.publish('pcipt:actor:error', { deviceId: id, code: cause.code, message: cause.message, context: cause.context });
          ctx.emit('faulted', { deviceId: id, bdf, cause });
        },
      },
    });
    const inspect = createInspector(id, {
      transition: (rec) => ctx.publish('pcipt:actor:transition', { ...rec }),
      error: (rec) => ctx.publish('pcipt:actor:error', { ...rec }),
    });
    this.actor = createActor(machine, { id: 'supervision', input: { deviceId: id, bdf, policy: ctx.opts.policy, now: Date.now }, inspect });
    // Starting, restarting after a crash and stopping hold the process (the worker does not while idle).
    let release: (() => void) | undefined;
    this.actor.subscribe((snap) => {
      const settled = snap.status !== 'active' || snap.matches('running') || snap.matches('faulted') || snap.matches('failed');
      if (!settled) release ??= ctx.keepAlive.hold();
      else if (release !== undefined) {
        release();
        release = undefined;
      }
    });
  }

  /** Starts the machine; resolves with the first start's outcome (undefined = running, else the cause). */
  async start(): Promise<PassthroughError | undefined> {
    this.actor.start();
    const snap = await waitFor(this.actor, (s) => !s.matches('starting'));
    if (snap.matches('running')) return undefined;
    const cause = snap.matches('failed') ? snap.context.cause : undefined;
    return cause === undefined
      ? new PassthroughError('PT_ERR_CANCELLED', `attach of ${this.bdf} cancelled by detach or close`, { bdf: this.bdf, deviceId: this.id })
      : PassthroughError.fromJSON(cause);
  }

  /** One row of `list()`. */
  summary(): DeviceSummary {
    const snap = this.actor.getSnapshot();
    const phase = String(snap.value);
    let state: string;
    if (snap.status === 'done') state = 'stopped';
    else if (phase === 'running') state = this.deviceState;
    else if (phase === 'failed') state = 'faulted';
    else state = phase;
    const cause = snap.context.cause;
    return {
      id: this.id,
      bdf: this.bdf,
      state,
      restarts: snap.context.restarts,
      cause: state === 'faulted' && cause !== undefined ? { code: cause.code, message: cause.message } : undefined,
    };
  }

  /** The worker generation now running (0 = the first). */
  get generation(): number {
    return this.actor.getSnapshot().context.generation;
  }

  /** One control call on the current worker. Rejects PT_ERR_WORKER_EXITED while it restarts, PT_ERR_NOT_ATTACHED when there is none. */
  async call<C extends Command>(cmd: C, timeoutMs?: number): Promise<ReplyValues[C['type']]> {
    const w = this.worker;
    if (w === undefined || !w.alive) {
      const state = this.summary().state;
      throw new PassthroughError(
        state === 'restarting' || state === 'starting' ? 'PT_ERR_WORKER_EXITED' : 'PT_ERR_NOT_ATTACHED',
        `device ${this.id} has no running worker (${state})`,
        { deviceId: this.id, bdf: this.bdf, state },
      );
    }
    try {
      return await w.rpc.call(cmd, timeoutMs);
    } catch (e) {
      throw PassthroughError.is(e) && e.context.deviceId === undefined ? e.prepend(`device ${this.id}`, { deviceId: this.id, bdf: this.bdf }) : e;
    }
  }

  /**
   * Resets the function. When the reset fell back to a hot reset of its
   * slot, the slot's other attached functions are told before this resolves.
   */
  async reset(): Promise<void> {
    const { slotReset } = await this.call({ type: 'device.reset' });
    if (slotReset) await this.ctx.slotReset(this);
  }

  /** Statistics (a device whose worker is down reports the control-block counters only). */
  async stats(): Promise<DeviceStats> {
    const summary = this.summary();
    if (this.stopping !== undefined) {
      throw new PassthroughError('PT_ERR_NOT_ATTACHED', `device ${this.id} is detached`, { deviceId: this.id, bdf: this.bdf, state: summary.state });
    }
    const merged = createHistogram();
    const irq = new IrqLine(this.control).counters();
    let counters = zeroDeviceCounters();
    if (this.worker?.alive === true) {
      try {
        const s = await this.call({ type: 'device.stats' });
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
    return { id: this.id, bdf: this.bdf, state: summary.state, restarts: summary.restarts, counters, slowPathLatencyNs: merged };
  }

  /** Detaches in order (idempotent): the machine stops the worker, then the record is forgotten. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.actor.getSnapshot().status === 'active') {
        this.actor.send({ type: 'device.stop' });
        await waitFor(this.actor, (s) => s.status === 'done', { timeout: this.ctx.opts.callTimeoutMs * 3 }).catch(() => {});
      }
      this.actor.stop();
      // Detached for good: every waiter wakes and fails with PT_ERR_NOT_ATTACHED, so no embedder
      // keeps waiting (and keeping the process alive) on a device that is gone.
      markLiveness(this.control, Liveness.DETACHED);
      this.ctx.ownership.drop(this.bdf, this.id);
      this.ctx.forget(this);
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------ internals --

  /** The machine's `startWorker`: take ownership, prepare the backend, spawn or take a worker, activate. */
  async #startWorker(generation: number): Promise<void> {
    const { ownership, host, pool } = this.ctx;
    ownership.take(this.bdf, this.id);
    const spec = await host.prepare(this.bdf);
    if (!this.actor.getSnapshot().matches('starting')) {
      // Detached or closed while the backend prepared: stopWorker already ran, so undo here
      // and spawn nothing (the invoked promise outlives its state; nothing may leak from it).
      host.release(this.bdf);
      throw new PassthroughError('PT_ERR_CANCELLED', `attach of ${this.bdf} cancelled`, { bdf: this.bdf, deviceId: this.id });
    }
    if (this.request.dmaCompanion !== undefined) spec.options = { ...spec.options, dmaRouting: 'companion' };
    const worker = pool?.take() ?? spawnWorker(this.ctx.spawnOptions);
    try {
      await this.#activate(worker, spec, generation);
    } finally {
      pool?.refill();
    }
  }

  async #activate(worker: DeviceWorker, spec: WorkerBackendSpec, generation: number): Promise<void> {
    const { opts } = this.ctx;
    this.worker = worker;
    worker.control = this.control;
    worker.holdWhileBusy();
    this.deviceState = 'starting';
    worker.onEvent = (ev) => this.#onWorkerEvent(worker, ev);
    worker.onExit = (exitCode, error) => {
      if (this.worker === worker) this.actor.send({ type: 'worker.exited', exitCode, error });
    };
    if (!worker.alive) throw new PassthroughError('PT_ERR_WORKER_EXITED', 'device worker exited before activation', { deviceId: this.id });
    // A new thread loads its modules before it can report anything: wait for its boot (bounded,
    // and failing at once if it dies) so the activate deadline measures the worker's silence only.
    await bounded(worker.booted, opts.callTimeoutMs * BOOT_DEADLINE_FACTOR, () =>
      new PassthroughError('PT_ERR_DEADLINE', `device worker did not boot within ${opts.callTimeoutMs * BOOT_DEADLINE_FACTOR} ms`, { deviceId: this.id, bdf: this.bdf }),
    );
    const result = await worker.rpc.call(
      {
        type: 'activate',
        deviceId: this.id,
        bdf: this.bdf,
        spec,
        controlBlock: this.control,
        irq: this.request.irq,
        generation,
        forwardTrace: opts.traceWorkers,
        callTimeoutMs: opts.callTimeoutMs,
        // A generous bound per step: the call deadline above follows the worker's heartbeat.
        stepTimeoutMs: opts.callTimeoutMs * 6,
        unmapTimeoutMs: opts.unmapTimeoutMs,
        presenceCheckMs: opts.presenceCheckMs,
        dmaCompanion: this.request.dmaCompanion,
      },
      // Silence is what times out: each step and heartbeat of the worker restarts the deadline.
      opts.callTimeoutMs * 2,
    );
    this.activation = result;
    this.deviceState = 'ready';
    await this.#openWindows(result);
  }

  /** This thread's windows on the new generation's BARs (the supervisor is a holder too). */
  async #openWindows(result: ActivateResult): Promise<void> {
    let viewFactory: ((address: bigint, lengthBytes: number) => ArrayBuffer) | undefined;
    if (result.viewFactoryModule !== undefined) {
      const mod = (await import(result.viewFactoryModule)) as { viewAt: (a: bigint, n: number) => ArrayBuffer };
      viewFactory = mod.viewAt;
    }
    this.releaseWindows();
    this.windows = result.bars.map((d) =>
      d === undefined ? undefined : BarWindow.open(d, { slowPath: this.slowPath, ...(viewFactory === undefined ? {} : { viewFactory }) }),
    );
  }

  /** Drops this thread's BAR windows. */
  releaseWindows(): void {
    for (const w of this.windows) w?.release();
    this.windows = [];
  }

  #onWorkerEvent(worker: DeviceWorker, ev: WorkerEvent): void {
    if (this.worker !== worker) return;
    switch (ev.type) {
      case 'state':
        this.deviceState = ev.state;
        if (ev.state === 'stopped') this.onStopped?.();
        if (ev.state === 'faulted' && ev.cause !== undefined && this.actor.getSnapshot().matches('running')) {
          this.actor.send({ type: 'device.faulted', cause: ev.cause });
        }
        return;
      case 'progress':
        worker.rpc.touch();
        return;
      case 'connection':
        this.ctx.ownership.updateConnection({ bdf: ev.bdf, deviceId: this.id, refs: ev.refs, holders: ev.holders });
        return;
      case 'slot.reset':
        void this.ctx.slotReset(this);
        return;
      case 'trace':
        if (ev.name in TRACE_POINTS) this.ctx.publish(ev.name as TracePoint, ev.payload);
        return;
      case 'booted':
        return;
      default: {
        const never: never = ev;
        void never;
      }
    }
  }
}
