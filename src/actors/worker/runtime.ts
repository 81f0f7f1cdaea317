/**
 * What a device worker runs for its one device: the control commands, the
 * device machine wired to the attach pipeline (attach.ts holds the steps and
 * the teardown), resets, the public VFIO-level view and dext clients,
 * counters, the slow-path latency histogram and the presence check.
 *
 * Kept apart from the worker entry (device.worker.ts) so the entry is only
 * port wiring. Runs in a worker thread: teardown blocks with Atomics.wait.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import type { SimWorkerBackend } from '../../sim/backend.js';
import { PassthroughError, type SerializedError } from '../../errors.js';
import { MailboxOp, markServerGone } from '../../fastpath/mailbox.js';
import { markLiveness } from '../../fastpath/liveness.js';
import { Liveness } from '../../fastpath/layout.js';
import { TRACE_POINT_NAMES, trace, traceChannel, type TracePoint } from '../../trace.js';
import { deviceMachine, type DeviceMachine, type StepInput } from '../device.machine.js';
import { createInspector } from '../inspect.js';
import { assertNever, COMPANION_BAR, zeroDeviceCounters, type Command, type ReplyValues, type TeardownReport, type TestFault, type WorkerEvent, type WorkerStats } from '../protocol.js';
import { DeviceSession, type ActivateCommand } from './attach.js';
import { createConfigServerHandler, type MailboxHandler } from './mailbox-server.js';
import { workerHeap } from './heap.js';

function widthKey(width: number): 'w1' | 'w2' | 'w4' | 'w8' {
  return width === 1 ? 'w1' : width === 2 ? 'w2' : width === 4 ? 'w4' : 'w8';
}

/** Posts a notification to the supervisor. */
export type EventPoster = (event: WorkerEvent) => void;

/** One device inside its worker. */
export class DeviceRuntime {
  readonly #post: EventPoster;
  readonly #counters = zeroDeviceCounters();
  /**
   * Slow-path latency, made on the first slow-path access or stats call: an
   * HDR histogram holds ~350 KiB of counts (~130 KiB resident), which a
   * device that never takes the slow path should not pay (one worker per device).
   */
  #latencyHist: RecordableHistogram | undefined;
  readonly #forward: boolean;
  #session: DeviceSession | undefined;
  #actor: Actor<DeviceMachine> | undefined;
  #presenceTimer: NodeJS.Timeout | undefined;
  /** Heartbeat while a long command runs (attach, reset, shutdown). */
  #heartbeat: NodeJS.Timeout | undefined;
  /** Set while a commanded reset runs: a slot reset it causes is answered in its reply, not posted. */
  #resetting: { slotReset: boolean } | undefined;

  /**
   * @param post where notifications go
   * @param opts `forwardTrace: false` for a runtime whose trace points must not
   *   reach the supervisor (the warm-up dry run)
   */
  constructor(post: EventPoster, opts: { forwardTrace?: boolean } = {}) {
    this.#post = post;
    this.#forward = opts.forwardTrace ?? true;
  }

  /** Runs one control command. Throws PassthroughError (the rpc layer turns it into an error reply). */
  async handle(cmd: Command): Promise<ReplyValues[keyof ReplyValues]> {
    if (cmd.type === 'activate') return this.#activate(cmd);
    if (cmd.type === 'worker.heap') return workerHeap();
    const s = this.#session;
    if (s === undefined || this.#actor === undefined) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', `${cmd.type} before activate`, { command: cmd.type });
    }
    switch (cmd.type) {
      case 'device.reset':
        return this.#reset();
      case 'device.busReset':
        return this.#guard(() => this.#busReset(cmd.by));
      case 'device.stats':
        return this.#stats();
      case 'dma.map':
        return this.#guard(() => (this.#ready(), this.#counters.dmaMaps++, s.dma.map(cmd)));
      case 'dma.unmap':
        return this.#guard(() => (this.#ready(), s.dma.unmap(cmd.key), this.#counters.dmaUnmaps++, null));
      case 'vfio.deviceInfo':
        return this.#guard(() => (this.#ready(), { ...s.attached.info }));
      case 'vfio.regionInfo':
        return this.#guard(() => (this.#ready(), s.attached.ops.getRegionInfo(cmd.index)));
      case 'vfio.irqInfo':
        return this.#guard(() => (this.#ready(), s.attached.ops.getIrqInfo(cmd.index)));
      case 'vfio.setIrqs':
        this.#ready();
        await s.irqs.set(cmd);
        s.info.irqMode = s.irqs.mode.mode;
        s.info.irqVectors = s.irqs.mode.vectors;
        return { irqMode: s.info.irqMode, irqVectors: s.info.irqVectors };
      case 'vfio.regionRead':
        return this.#guard(() => (this.#ready(), s.attached.ops.regionRead(cmd.index, cmd.offsetBytes, cmd.sizeBytes)));
      case 'vfio.regionWrite':
        return this.#guard(() => (this.#ready(), s.attached.ops.regionWrite(cmd.index, cmd.offsetBytes, cmd.data)));
      case 'vfio.migration':
        return this.#guard(() => (s.backend.container.setDirtyPageTracking(true), undefined as never));
      case 'dext.open':
        return this.#guard(() => ({ client: s.dext.open(cmd.shared, cmd.holder) }));
      case 'dext.call':
        return this.#guard(() => s.dext.call(cmd.client, cmd.method, cmd.args));
      case 'dext.close':
        return this.#guard(() => (s.dext.close(cmd.client), null));
      case 'shutdown':
        return this.#shutdown();
      case 'test.fault':
        return this.#testFault(cmd.fault);
      default:
        return assertNever(cmd, 'command');
    }
  }

  // ------------------------------------------------------------ lifecycle --

  async #activate(cmd: ActivateCommand): Promise<ReplyValues['activate']> {
    if (this.#actor !== undefined) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', 'this worker already runs a device', { deviceId: cmd.deviceId, bdf: cmd.bdf });
    }
    const session = new DeviceSession(cmd, {
      onFault: (e) => this.#fault(e),
      onConnection: (refs, holders) => this.#post({ type: 'connection', deviceId: cmd.deviceId, bdf: cmd.bdf, refs, holders }),
      onSlotReset: () => {
        if (this.#resetting !== undefined) this.#resetting.slotReset = true;
        else this.#post({ type: 'slot.reset', deviceId: cmd.deviceId, bdf: cmd.bdf });
      },
      mailboxHandler: (s) => this.#countingHandler(s),
      forwardTrace: this.#forward && cmd.forwardTrace,
    });
    this.#session = session;
    if (this.#forward) this.#forwardTrace(cmd.forwardTrace);
    const step = (body: () => unknown) => fromPromise<void, StepInput>(async () => void (await body()));
    const machine = deviceMachine.provide({
      actors: {
        openBackend: step(() => session.open()),
        connectDevice: step(() => session.connect()),
        probeDevice: step(() => session.probe()),
        mapRegions: step(() => session.map()),
        wireIrqs: step(() => session.wireIrqs()),
        resetDevice: step(() => this.#doReset()),
        teardown: step(() => session.teardown()),
      },
      actions: {
        onReady: () => {
          this.#postState('ready');
          this.#startPresenceCheck();
        },
        onFaulted: ({ context }) => {
          this.#stopPresenceCheck();
          this.#counters.errors++;
          this.#postState('faulted', context.cause);
          trace('pcipt:actor:error', {
            deviceId: cmd.deviceId,
            code: context.cause?.code,
            message: context.cause?.message,
            context: context.cause?.context,
          });
        },
        // 'stopped' is posted by #shutdown once the final inspection records are out.
        onStopped: () => {},
      },
    });
    const inspect = createInspector(cmd.deviceId, {
      transition: (r) => {
        trace('pcipt:actor:transition', { ...r });
        // Every step is progress: the supervisor's deadline for this command starts again.
        this.#post({ type: 'progress', deviceId: cmd.deviceId, step: r.to });
      },
      error: (r) => trace('pcipt:actor:error', { ...r }),
    });
    const actor = createActor(machine, {
      id: 'device',
      input: { deviceId: cmd.deviceId, bdf: session.bdf, stepTimeoutMs: cmd.stepTimeoutMs, stopTimeoutMs: cmd.unmapTimeoutMs * 7 + 1000 },
      inspect,
    });
    this.#actor = actor;
    this.#beat(cmd, 'attach');
    let snap;
    try {
      actor.start();
      snap = await waitFor(actor, (s) => s.matches('ready') || s.matches('faulted') || s.status === 'done', {
        timeout: cmd.stepTimeoutMs * 6,
      });
    } finally {
      this.#stopBeat();
    }
    if (snap.matches('ready')) return session.result();
    const cause = snap.context.cause;
    throw cause === undefined
      ? new PassthroughError('PT_ERR_CANCELLED', 'attach stopped before the device was ready', { bdf: cmd.bdf })
      : PassthroughError.fromJSON(cause);
  }

  /**
   * While a long command runs, tells the supervisor every quarter of its call
   * deadline that this worker is alive and working (a heartbeat from its event
   * loop): the supervisor's deadline follows progress, so a slow, loaded
   * machine is not mistaken for a stuck worker. A worker whose event loop is
   * blocked sends nothing, and its command times out. Each step still has its
   * own bound in the device machine (stepTimeoutMs).
   */
  #beat(cmd: ActivateCommand, step: string): void {
    this.#stopBeat();
    const everyMs = Math.max(50, Math.floor(cmd.callTimeoutMs / 4));
    this.#heartbeat = setInterval(() => this.#post({ type: 'progress', deviceId: cmd.deviceId, step }), everyMs);
    this.#heartbeat.unref();
  }

  #stopBeat(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** The reset step: the device's own reset (FLR, or a hot reset of its slot), then what a reset clears. */
  #doReset(): void {
    const s = this.#session!;
    this.#checkPresent();
    s.attached.ops.deviceReset();
    this.#counters.resets++;
    // A function reset clears the capability enable bits: program them again.
    s.irqs.setConfigEnableBits();
  }

  /** Another function's hot reset reset this one too: the simulated function follows, the enable bits come back. */
  #busReset(by: string): null {
    const s = this.#ready();
    s.backend.applySlotReset?.();
    this.#counters.resets++;
    s.irqs.setConfigEnableBits();
    trace('pcipt:device:reset', { bdf: s.bdf, ok: true, kind: 'hot', by });
    return null;
  }

  async #reset(): Promise<ReplyValues['device.reset']> {
    const actor = this.#actor!;
    const snap = actor.getSnapshot();
    if (!snap.matches('ready')) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', `cannot reset a device that is ${String(snap.value)}`, {
        bdf: this.#session!.bdf,
        deviceId: this.#session!.cmd.deviceId,
        state: String(snap.value),
      });
    }
    const refusals = snap.context.refusals;
    const seen = { slotReset: false };
    this.#resetting = seen;
    this.#beat(this.#session!.cmd, 'reset');
    actor.send({ type: 'device.reset' });
    let after;
    try {
      after = await waitFor(actor, (s) => !s.matches('resetting'));
    } finally {
      this.#resetting = undefined;
      this.#stopBeat();
    }
    if (after.matches('ready')) {
      // Refused without touching the device (no reset on offer): still ready, the caller is told.
      if (after.context.refusals !== refusals && after.context.lastRefusal !== undefined) {
        throw PassthroughError.fromJSON(after.context.lastRefusal);
      }
      return seen;
    }
    const cause = after.context.cause;
    throw cause === undefined ? new PassthroughError('PT_ERR_CANCELLED', 'reset interrupted', { bdf: this.#session!.bdf }) : PassthroughError.fromJSON(cause);
  }

  async #shutdown(): Promise<TeardownReport> {
    const actor = this.#actor!;
    this.#stopPresenceCheck();
    this.#beat(this.#session!.cmd, 'shutdown');
    actor.send({ type: 'device.stop' });
    const snap = await waitFor(actor, (s) => s.status === 'done').finally(() => this.#stopBeat());
    // Last notification of this worker: every trace record of the teardown was posted before it
    // (the supervisor waits for it before terminating the thread).
    // Detached for good: every embedder waiter and later call fails with PT_ERR_NOT_ATTACHED.
    markLiveness(this.#session!.cmd.controlBlock, Liveness.DETACHED);
    this.#postState('stopped');
    return { ...this.#session!.leftovers(), state: String(snap.value), error: snap.context.teardownError };
  }

  // ------------------------------------------------------------ operations --

  /** The session of a ready device. Throws PT_ERR_NOT_READY otherwise. */
  #ready(): DeviceSession {
    const snap = this.#actor!.getSnapshot();
    if (!snap.matches('ready')) {
      throw new PassthroughError('PT_ERR_NOT_READY', `device is ${String(snap.value)}`, {
        bdf: this.#session!.bdf,
        deviceId: this.#session!.cmd.deviceId,
        state: String(snap.value),
      });
    }
    return this.#session!;
  }

  /** Runs an operation; counts its failure and turns a lost device into a fault state. */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.#counters.errors++;
      if (PassthroughError.is(e, 'PT_ERR_DEVICE_GONE')) this.#fault(e);
      throw e;
    }
  }

  /**
   * The thread is exiting (`process.on('exit')`: an uncaught error or
   * process.exit; a terminate() from outside runs no JavaScript, the
   * supervisor marks that one): embedders blocked on this device fail at
   * once with PT_ERR_WORKER_EXITED. Synchronous, as an exit handler must be.
   */
  exiting(): void {
    const control = this.#session?.cmd.controlBlock;
    if (control !== undefined) markServerGone(control);
  }

  #fault(e: PassthroughError): void {
    const actor = this.#actor;
    if (actor === undefined) return;
    // A function that fell off the bus: waiters and later sync calls fail at once with PT_ERR_DEVICE_GONE.
    if (e.code === 'PT_ERR_DEVICE_GONE' && this.#session !== undefined) markLiveness(this.#session.cmd.controlBlock, Liveness.DEVICE_GONE);
    const data = e.toJSON();
    data.context = { deviceId: this.#session?.cmd.deviceId, bdf: this.#session?.bdf, ...data.context };
    actor.send({ type: 'device.fault', error: data });
  }

  #latency(): RecordableHistogram {
    return (this.#latencyHist ??= createHistogram());
  }

  #stats(): WorkerStats {
    const counters = structuredClone(this.#counters);
    const c = this.#session!.line.counters();
    counters.irqsRaised = c.raised;
    counters.irqsDelivered = c.delivered;
    counters.irqsCoalesced = c.coalesced;
    counters.irqsMasked = c.masked;
    return { counters, slowPathLatencyNs: this.#latency() };
  }

  async #testFault(fault: TestFault): Promise<null> {
    const s = this.#session!;
    const backend = s.backend as Partial<SimWorkerBackend>;
    if (backend.sim === undefined) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'fault injection needs the sim backend', { fault: fault.kind });
    }
    switch (fault.kind) {
      case 'fall-off-bus':
        backend.sim.faults.fallOffBus(s.bdf);
        if (fault.check === false) return null;
        // Notice it the way a driver would, now rather than at the next presence poll.
        try {
          this.#checkPresent();
        } catch {
          // The fault is now the machine's state; the caller sees it through list() / 'faulted'.
        }
        return null;
      case 'stall':
        await new Promise((resolve) => setTimeout(resolve, fault.ms));
        return null;
      case 'crash':
        setTimeout(() => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, fault.blockMs);
          throw new PassthroughError('PT_ERR_INTERNAL', 'injected crash (test fault)', { fault: fault.kind });
        }, fault.afterMs);
        return null;
      case 'fail-selector':
        backend.sim.faults.failSelector(s.bdf, fault.selector, fault.kernReturn, fault.count === undefined ? {} : { count: fault.count });
        return null;
      default:
        return assertNever(fault, 'fault');
    }
  }

  /**
   * The mailbox handler: config cycles and trapped BAR ranges to the ops
   * (the companion's BAR0 to the companion), with per-width counters and the
   * slow-path latency histogram around them.
   */
  #countingHandler(session: DeviceSession): MailboxHandler {
    const inner = createConfigServerHandler(session.attached.ops);
    const counters = this.#counters;
    let hist: RecordableHistogram | undefined;
    return {
      handle: (op, a, b, c, d) => {
        const t0 = performance.now();
        try {
          switch (op) {
            case MailboxOp.CONFIG_READ:
              counters.configReads++;
              break;
            case MailboxOp.CONFIG_WRITE:
              counters.configWrites++;
              break;
            case MailboxOp.REGION_READ:
              counters.mmioReads[widthKey(a >>> 8)]++;
              if ((a & 0xff) === COMPANION_BAR) return this.#guard(() => session.dext.companion().mmioRead(b, a >>> 8));
              break;
            case MailboxOp.REGION_WRITE:
              counters.mmioWrites[widthKey(a >>> 8)]++;
              if ((a & 0xff) === COMPANION_BAR) return this.#guard(() => (session.dext.companion().mmioWrite(b, a >>> 8, c >>> 0), a >>> 8));
              break;
            default:
              break;
          }
          return this.#guard(() => inner.handle(op, a, b, c, d));
        } finally {
          (hist ??= this.#latency()).record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
        }
      },
    };
  }

  // ---------------------------------------------------------- notification --

  #postState(state: string, cause?: SerializedError): void {
    this.#post({ type: 'state', deviceId: this.#session!.cmd.deviceId, state, cause });
  }

  /** Forwards trace points of this thread to the supervisor (actor points always, others on request). */
  #forwardTrace(all: boolean): void {
    const names: TracePoint[] = all ? TRACE_POINT_NAMES : ['pcipt:actor:transition', 'pcipt:actor:error'];
    // Never unsubscribed: the worker serves one device and ends with it.
    for (const name of names) {
      traceChannel(name).subscribe((payload: unknown) => this.#post({ type: 'trace', name, payload: plain(payload) }));
    }
  }

  /**
   * Surprise removal shows as all-ones config reads (no error), so a lost
   * device is noticed by reading the vendor id: 0xffff means gone
   * (PT_ERR_DEVICE_GONE, and the machine goes to faulted).
   */
  #checkPresent(): void {
    const s = this.#session;
    if (s === undefined) return;
    let vendor: number;
    try {
      vendor = s.vfio.readConfig16(0x00);
    } catch {
      return; // not probed yet
    }
    if (vendor === 0xffff) {
      const e = new PassthroughError('PT_ERR_DEVICE_GONE', `${s.bdf} fell off the bus (vendor id reads 0xffff)`, {
        bdf: s.bdf,
        deviceId: s.cmd.deviceId,
      });
      this.#counters.errors++;
      this.#fault(e);
      throw e;
    }
  }

  /** Polls presence every presenceCheckMs while ready (unref'd: it never holds the thread). */
  #startPresenceCheck(): void {
    const everyMs = this.#session?.cmd.presenceCheckMs ?? 0;
    if (everyMs <= 0 || this.#presenceTimer !== undefined) return;
    this.#presenceTimer = setInterval(() => {
      try {
        this.#checkPresent();
      } catch {
        // now a fault state, reported through onFaulted
      }
    }, everyMs);
    this.#presenceTimer.unref();
  }

  #stopPresenceCheck(): void {
    if (this.#presenceTimer !== undefined) clearInterval(this.#presenceTimer);
    this.#presenceTimer = undefined;
  }
}

/** bigint → hex string, anything non-cloneable dropped: trace payloads must cross threads. */
function plain(payload: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (payload === null || typeof payload !== 'object') return out;
  for (const [k, v] of Object.entries(payload as Record<string, unknown>)) {
    if (typeof v === 'bigint') out[k] = `0x${v.toString(16)}`;
    else if (typeof v === 'function' || typeof v === 'symbol') continue;
    else if (v !== null && typeof v === 'object') {
      try {
        out[k] = structuredClone(v);
      } catch {
        out[k] = String(v);
      }
    } else out[k] = v;
  }
  return out;
}
