/**
 * What a device worker runs for its one device: the device machine wired to
 * the backend (device.machine.ts names the steps; the implementations are
 * here), the IRQ pump, the mailbox server (config + BAR slow path), the
 * control commands, counters and the slow-path latency histogram.
 *
 * Kept apart from the worker entry (device.worker.ts) so the entry is only
 * port wiring. Runs in a worker thread: requestUnmap blocks with Atomics.wait.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { createWorkerBackend } from '../backends/index.js';
import type { WorkerBackend } from '../vfio/backend.js';
import { PassthroughError, toPassthroughError, type SerializedError } from '../errors.js';
import { IrqLine, isBarMapped, MailboxOp, reinstateBar, requestUnmap, type BarWindowDescriptor } from '../fastpath/index.js';
import { TRACE_POINT_NAMES, trace, traceChannel, type TracePoint } from '../trace.js';
import { toBdf, type Bdf, type HostVa, type Iova } from '../types.js';
import { VfioDevice } from '../vfio/device.js';
import { IrqIndex, NUM_IRQS, NUM_REGIONS, type IrqIndexNumber } from '../vfio/device-io-ops.js';
import type { AttachedDevice } from '../vfio/iommu-ops.js';
import { deviceMachine, type DeviceMachine, type StepInput } from './device.machine.js';
import { createInspector } from './inspect.js';
import { startIrqPumpThread, type IrqPumpThread } from './irq-pump-thread.js';
import type {
  ActivateResult,
  AttachedDeviceInfo,
  Command,
  IrqMode,
  ReplyValues,
  TeardownReport,
  TestFault,
  WorkerEvent,
  WorkerStats,
} from './protocol.js';
import { assertNever, zeroDeviceCounters } from './protocol.js';
import { irqSinkFor, startIrqPump, type IrqPump } from './irq-pump.js';
import { createConfigServerHandler, serveMailbox, type MailboxHandler, type MailboxServer } from './mailbox-server.js';
import { wakeIrqPump } from './irq-pump-thread.js';

type ActivateCommand = Extract<Command, { type: 'activate' }>;

const MODE_INDEX: Record<Exclude<IrqMode, 'none'>, IrqIndexNumber> = {
  msix: IrqIndex.MSIX,
  msi: IrqIndex.MSI,
  intx: IrqIndex.INTX,
};
const INDEX_MODE: Record<number, IrqMode> = { [IrqIndex.MSIX]: 'msix', [IrqIndex.MSI]: 'msi', [IrqIndex.INTX]: 'intx' };

/** PCI capability control register bits the worker sets when it enables a mode. */
const MSIX_CTRL_ENABLE = 0x8000;
const MSIX_CTRL_FUNCTION_MASK = 0x4000;
const MSI_CTRL_ENABLE = 0x0001;
const CMD_INTX_DISABLE = 0x0400;

function widthKey(width: number): 'w1' | 'w2' | 'w4' | 'w8' {
  return width === 1 ? 'w1' : width === 2 ? 'w2' : width === 4 ? 'w4' : 'w8';
}

/** Posts a notification to the supervisor. */
export type EventPoster = (event: WorkerEvent) => void;

/** One device inside its worker. */
export class DeviceRuntime {
  readonly #post: EventPoster;
  readonly #counters = zeroDeviceCounters();
  readonly #latency: RecordableHistogram = createHistogram();
  #cmd: ActivateCommand | undefined;
  #bdf: Bdf | undefined;
  #backend: WorkerBackend | undefined;
  #attached: AttachedDevice | undefined;
  #vfio: VfioDevice | undefined;
  #info: AttachedDeviceInfo | undefined;
  readonly #bars: (BarWindowDescriptor | undefined)[] = [];
  readonly #mapped = new Set<number>();
  #line: IrqLine | undefined;
  #irqIndex: IrqIndexNumber | undefined;
  #pump: IrqPump | undefined;
  /** The dedicated pump thread of a native backend (instead of #pump). */
  #pumpThread: IrqPumpThread | undefined;
  #mailbox: MailboxServer | undefined;
  readonly #exposures = new Map<string, HostVa>();
  #actor: Actor<DeviceMachine> | undefined;
  #teardownError: SerializedError | undefined;
  #presenceTimer: NodeJS.Timeout | undefined;

  readonly #forward: boolean;

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
    if (cmd.type !== 'activate' && this.#actor === undefined) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', `${cmd.type} before activate`, { command: cmd.type });
    }
    switch (cmd.type) {
      case 'activate':
        return this.#activate(cmd);
      case 'device.reset':
        return this.#reset();
      case 'device.probe':
        return this.#guard(() => {
          const vfio = this.#ready().vfio;
          this.#checkPresent();
          return { vendorId: vfio.readConfig16(0), deviceId: vfio.readConfig16(2) };
        });
      case 'device.stats':
        return this.#stats();
      case 'dma.map':
        return this.#guard(() => this.#dmaMap(cmd));
      case 'dma.unmap':
        return this.#guard(() => this.#dmaUnmap(cmd.key));
      case 'shutdown':
        return this.#shutdown();
      case 'test.fault':
        return this.#testFault(cmd.fault);
      default:
        return assertNever(cmd, 'command');
    }
  }

  // ------------------------------------------------------------ lifecycle --

  async #activate(cmd: ActivateCommand): Promise<ActivateResult> {
    if (this.#actor !== undefined) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', 'this worker already runs a device', {
        deviceId: cmd.deviceId,
        bdf: cmd.bdf,
      });
    }
    this.#cmd = cmd;
    this.#bdf = toBdf(cmd.bdf);
    if (this.#forward) this.#forwardTrace(cmd.forwardTrace);
    const machine = deviceMachine.provide({
      actors: {
        openBackend: this.#step(async () => {
          this.#backend = await createWorkerBackend(cmd.spec);
        }),
        connectDevice: this.#step(async () => this.#connect()),
        claimDevice: this.#step(async () => this.#claim()),
        mapRegions: this.#step(async () => this.#map()),
        setupIrqs: this.#step(async () => this.#setupIrqs()),
        resetDevice: this.#step(async () => this.#doReset()),
        teardown: this.#step(async () => this.#teardown()),
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
      transition: (r) => trace('pcipt:actor:transition', { ...r }),
      error: (r) => trace('pcipt:actor:error', { ...r }),
    });
    const actor = createActor(machine, {
      id: 'device',
      input: { deviceId: cmd.deviceId, bdf: this.#bdf, stepTimeoutMs: cmd.stepTimeoutMs, stopTimeoutMs: cmd.unmapTimeoutMs * 7 + 1000 },
      inspect,
    });
    this.#actor = actor;
    actor.start();
    const snap = await waitFor(actor, (s) => s.matches('ready') || s.matches('faulted') || s.status === 'done', {
      timeout: cmd.stepTimeoutMs * 6,
    });
    if (snap.matches('ready')) {
      return {
        info: this.#info!,
        bars: [...this.#bars],
        viewFactoryModule: this.#backend?.viewFactoryModule,
      };
    }
    const cause = snap.context.cause;
    throw cause === undefined
      ? new PassthroughError('PT_ERR_CANCELLED', 'attach stopped before the device was ready', { bdf: cmd.bdf })
      : PassthroughError.fromJSON(cause);
  }

  /** Wraps a step body as an xstate promise actor. */
  #step(body: () => Promise<void>) {
    return fromPromise<void, StepInput>(() => body());
  }

  #connect(): void {
    const backend = this.#backend!;
    backend.container.setup();
    this.#attached = backend.container.attachDevice(this.#bdf!);
  }

  #claim(): void {
    const attached = this.#attached!;
    const vfio = new VfioDevice(attached.ops);
    this.#vfio = vfio;
    const regions = [];
    for (let i = 0; i < NUM_REGIONS; i++) {
      const r = vfio.regionInfo(i);
      regions.push({ index: i, sizeBytes: Number(r.sizeBytes), flags: r.flags });
    }
    const irqs = [];
    for (let i = 0; i < NUM_IRQS; i++) {
      const q = vfio.irqInfo(i);
      irqs.push({ index: i, flags: q.flags, count: q.count });
    }
    this.#info = {
      name: attached.name,
      bdf: attached.bdf,
      vendorId: vfio.readConfig16(0x00),
      deviceId: vfio.readConfig16(0x02),
      classCode: vfio.readConfig32(0x08) >>> 8,
      regions,
      irqs,
      irqMode: 'none',
      irqVectors: 0,
    };
  }

  #map(): void {
    const ops = this.#attached!.ops;
    const control = this.#cmd!.controlBlock;
    for (let bar = 0; bar < 6; bar++) {
      const mapped = ops.regionMap(bar);
      if (mapped === undefined) {
        this.#bars[bar] = undefined;
        continue;
      }
      this.#mapped.add(bar);
      // After a restart the supervisor revoked the old leases; this worker's mapping is new.
      if (!isBarMapped(control, bar)) reinstateBar(control, bar);
      const sizeBytes = mapped.sizeBytes;
      const traps = complement(mapped.windows, sizeBytes);
      for (const t of mapped.memory.trapRanges) {
        if (t.offsetBytes < sizeBytes) traps.push({ offsetBytes: t.offsetBytes, lengthBytes: Math.min(t.lengthBytes, sizeBytes - t.offsetBytes) });
      }
      const desc: BarWindowDescriptor = { bar, sizeBytes, trapRanges: mergeRanges(traps), control };
      if (mapped.memory.buffer !== undefined) desc.buffer = mapped.memory.buffer;
      else desc.address = mapped.memory.address;
      this.#bars[bar] = desc; // the ops layer traces pcipt:region:map itself
    }
  }

  async #setupIrqs(): Promise<void> {
    const cmd = this.#cmd!;
    const vfio = this.#vfio!;
    const line = new IrqLine(cmd.controlBlock);
    this.#line = line;
    if (cmd.irq !== 'none') {
      const index = vfio.irqIndexFor(cmd.irq);
      if (index !== undefined) {
        const { count } = vfio.enableInterrupts(irqSinkFor(line), index);
        this.#irqIndex = index;
        this.#enableIrqInConfig();
        this.#info!.irqMode = INDEX_MODE[index]!;
        this.#info!.irqVectors = count;
      }
    }
    await this.#startPump();
    // The server lingers in a synchronous wait after each request (a burst of config
    // cycles is then served at ~0.4 µs instead of a waitAsync hop each). That holds this
    // thread's event loop for up to lingerMs after a burst, so it is only for devices
    // whose interrupts do not need that loop: with the async pump here (sim: the models
    // and their interrupts run in this thread; iokit), a doorbell write would otherwise
    // reach the IrqLine only when the linger ends (measured: 5.2 ms instead of 35 µs).
    const loopBound = this.#pump !== undefined;
    this.#mailbox = serveMailbox(cmd.controlBlock, this.#countingHandler(), loopBound ? { lingerMs: 0 } : {});
  }

  /**
   * Starts the IRQ pump where the backend says (WorkerBackend.irqPumpDescriptor):
   * a native backend gets a dedicated thread blocking in its native wait (none
   * when no vector is enabled); the sim backend, whose interrupts are produced
   * in this thread, the async pump here. A pump that fails faults the device.
   */
  async #startPump(): Promise<void> {
    const attached = this.#attached!;
    const backend = this.#backend!;
    if (backend.irqPumpDescriptor === undefined) {
      this.#pump = startIrqPump(attached.interrupts, { onError: (e) => this.#fault(e) });
      return;
    }
    const descriptor = backend.irqPumpDescriptor(attached);
    if (descriptor === undefined) return;
    const thread = startIrqPumpThread({
      control: this.#cmd!.controlBlock,
      descriptor,
      wake: (wakePort) => wakeIrqPump(attached.interrupts, wakePort),
      onFault: (e) => this.#fault(e),
      forwardTrace: this.#forward && this.#cmd!.forwardTrace,
    });
    this.#pumpThread = thread;
    // Setup errors of the thread (its source could not be built) fail this step.
    await thread.ready;
  }

  /**
   * Sets the capability enable bit of the chosen mode (what a guest driver
   * does; the VFIO setIrqs of the seed only programs the dext mask).
   */
  #enableIrqInConfig(): void {
    const vfio = this.#vfio!;
    switch (this.#irqIndex) {
      case IrqIndex.MSIX: {
        const cap = vfio.msix();
        if (cap === undefined) return;
        const ctrl = vfio.readConfig16(cap.offset + 2);
        vfio.writeConfig16(cap.offset + 2, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FUNCTION_MASK);
        return;
      }
      case IrqIndex.MSI: {
        const cap = vfio.msi();
        if (cap === undefined) return;
        const ctrl = vfio.readConfig16(cap.offset + 2);
        vfio.writeConfig16(cap.offset + 2, ctrl | MSI_CTRL_ENABLE);
        return;
      }
      case IrqIndex.INTX: {
        const cmdReg = vfio.readConfig16(0x04);
        vfio.writeConfig16(0x04, cmdReg & ~CMD_INTX_DISABLE);
        return;
      }
      default:
        return;
    }
  }

  #doReset(): void {
    this.#checkPresent();
    this.#attached!.ops.deviceReset();
    this.#counters.resets++;
    // A function reset clears the capability enable bits: program them again.
    this.#enableIrqInConfig();
  }

  async #reset(): Promise<null> {
    const actor = this.#actor!;
    const snap = actor.getSnapshot();
    if (!snap.matches('ready')) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', `cannot reset a device that is ${String(snap.value)}`, {
        bdf: this.#bdf,
        deviceId: this.#cmd!.deviceId,
        state: String(snap.value),
      });
    }
    const refusals = snap.context.refusals;
    actor.send({ type: 'device.reset' });
    const after = await waitFor(actor, (s) => !s.matches('resetting'));
    if (after.matches('ready')) {
      // Refused without touching the device (no reset on offer): still ready, the caller is told.
      if (after.context.refusals !== refusals && after.context.lastRefusal !== undefined) {
        throw PassthroughError.fromJSON(after.context.lastRefusal);
      }
      return null;
    }
    const cause = after.context.cause;
    throw cause === undefined
      ? new PassthroughError('PT_ERR_CANCELLED', 'reset interrupted', { bdf: this.#bdf })
      : PassthroughError.fromJSON(cause);
  }

  /**
   * Ordered teardown (crosvm's Shutdown: ack only after it):
   * 1. stop the IRQ pump (wakes and closes the source); a pump thread is awaited until it has
   *    exited, so no poll is blocked on the eventfds step 5 closes;
   * 2. revoke every BAR and wait for every holder in every thread to let go (requestUnmap);
   * 3. regionUnmap each BAR (only after its holders left);
   * 4. stop the mailbox server (embedders then get PT_ERR_CLOSED);
   * 5. disable interrupts, drop host-memory exposures;
   * 6. container.detachDevice: device cleanup, its DMA registrations, then the connection
   *    reference (the last release closes the connection);
   * 7. close the backend.
   * A failing step is recorded and the later steps still run.
   */
  async #teardown(): Promise<void> {
    const errors: PassthroughError[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(toPassthroughError(e, { bdf: this.#bdf }));
      }
    };
    this.#stopPresenceCheck();
    if (this.#pump !== undefined) await this.#pump.stop();
    this.#pump = undefined;
    if (this.#pumpThread !== undefined) await this.#pumpThread.stop();
    this.#pumpThread = undefined;
    const control = this.#cmd?.controlBlock;
    const ops = this.#attached?.ops;
    for (const bar of [...this.#mapped]) {
      if (control !== undefined) attempt(() => requestUnmap(control, bar, this.#cmd!.unmapTimeoutMs));
      if (ops !== undefined) attempt(() => ops.regionUnmap(bar));
      this.#mapped.delete(bar);
    }
    if (this.#mailbox !== undefined) await this.#mailbox.stop();
    this.#mailbox = undefined;
    if (this.#irqIndex !== undefined && this.#vfio !== undefined) {
      const index = this.#irqIndex;
      attempt(() => this.#vfio!.disableInterrupts(index));
      this.#irqIndex = undefined;
    }
    const backend = this.#backend;
    if (backend !== undefined) {
      for (const [k, va] of this.#exposures) {
        attempt(() => backend.unexposeHostMemory(va));
        this.#exposures.delete(k);
      }
      if (this.#bdf !== undefined) attempt(() => backend.container.detachDevice(this.#bdf!));
      this.#attached = undefined;
      attempt(() => backend.close());
    }
    if (errors.length > 0) {
      const first = errors[0]!;
      throw first.prepend('teardown', { failures: errors.length });
    }
  }

  async #shutdown(): Promise<TeardownReport> {
    const actor = this.#actor!;
    actor.send({ type: 'device.stop' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    // Last notification of this worker: every trace record of the teardown was posted before it
    // (the supervisor waits for it before terminating the thread).
    this.#postState('stopped');
    const backend = this.#backend as (WorkerBackend & { table?: { refs(b: Bdf): number } }) | undefined;
    const mappings = (backend?.container as { mappings?: Map<unknown, unknown> } | undefined)?.mappings;
    return {
      connectionRefs: backend?.table?.refs(this.#bdf!) ?? 0,
      mappedBars: this.#mapped.size,
      dmaMappings: mappings?.size ?? 0,
      exposures: this.#exposures.size,
      state: String(snap.value),
      error: snap.context.teardownError ?? this.#teardownError,
    };
  }

  // ------------------------------------------------------------ operations --

  #ready(): { vfio: VfioDevice; backend: WorkerBackend } {
    const snap = this.#actor!.getSnapshot();
    if (!snap.matches('ready') || this.#vfio === undefined || this.#backend === undefined) {
      throw new PassthroughError('PT_ERR_NOT_READY', `device is ${String(snap.value)}`, {
        bdf: this.#bdf,
        deviceId: this.#cmd?.deviceId,
        state: String(snap.value),
      });
    }
    return { vfio: this.#vfio, backend: this.#backend };
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

  #fault(e: PassthroughError): void {
    const actor = this.#actor;
    if (actor === undefined) return;
    const data = e.toJSON();
    data.context = { deviceId: this.#cmd?.deviceId, bdf: this.#bdf, ...data.context };
    actor.send({ type: 'device.fault', error: data });
  }

  #dmaMap(cmd: Extract<Command, { type: 'dma.map' }>): ReplyValues['dma.map'] {
    const { backend } = this.#ready();
    const va = backend.exposeHostMemory(cmd.buffer, cmd.offsetBytes, cmd.lengthBytes);
    let mapping;
    try {
      mapping = backend.container.dmaMap({
        hostVa: va,
        sizeBytes: BigInt(cmd.lengthBytes),
        readonly: cmd.readonly,
        ...(cmd.iova === undefined ? {} : { iova: BigInt(cmd.iova) as Iova }),
      });
    } catch (e) {
      backend.unexposeHostMemory(va);
      throw e;
    }
    this.#exposures.set(mapping.key.toString(16), va);
    this.#counters.dmaMaps++;
    return {
      key: `0x${mapping.key.toString(16)}`,
      busAddr: `0x${mapping.busAddr.toString(16)}`,
      sizeBytes: `0x${mapping.sizeBytes.toString(16)}`,
    };
  }

  #dmaUnmap(keyText: string): null {
    const { backend } = this.#ready();
    const key = BigInt(keyText) as Iova;
    backend.container.dmaUnmap(key);
    const va = this.#exposures.get(key.toString(16));
    if (va !== undefined) {
      backend.unexposeHostMemory(va);
      this.#exposures.delete(key.toString(16));
    }
    this.#counters.dmaUnmaps++;
    return null;
  }

  #stats(): WorkerStats {
    const counters = structuredClone(this.#counters);
    if (this.#line !== undefined) {
      const c = this.#line.counters();
      counters.irqsRaised = c.raised;
      counters.irqsDelivered = c.delivered;
      counters.irqsCoalesced = c.coalesced;
      counters.irqsMasked = c.masked;
    }
    return { counters, slowPathLatencyNs: this.#latency };
  }

  async #testFault(fault: TestFault): Promise<null> {
    const backend = this.#backend as (WorkerBackend & { sim?: import('../sim/index.js').SimDext }) | undefined;
    if (backend?.sim === undefined) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'fault injection needs the sim backend', { fault: fault.kind });
    }
    switch (fault.kind) {
      case 'fall-off-bus':
        backend.sim.faults.fallOffBus(this.#bdf!);
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
      case 'fail-selector':
        backend.sim.faults.failSelector(this.#bdf!, fault.selector, fault.kernReturn, fault.count === undefined ? {} : { count: fault.count });
        return null;
      default:
        return assertNever(fault, 'fault');
    }
  }

  /** The mailbox handler of createConfigServerHandler, with per-width counters and a latency histogram. */
  #countingHandler(): MailboxHandler {
    const inner = createConfigServerHandler(this.#attached!.ops);
    const counters = this.#counters;
    const hist = this.#latency;
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
              break;
            case MailboxOp.REGION_WRITE:
              counters.mmioWrites[widthKey(a >>> 8)]++;
              break;
            default:
              break;
          }
          return this.#guard(() => inner.handle(op, a, b, c, d));
        } finally {
          hist.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
        }
      },
    };
  }

  // ---------------------------------------------------------- notification --

  #postState(state: string, cause?: SerializedError): void {
    this.#post({ type: 'state', deviceId: this.#cmd!.deviceId, state, cause });
  }

  /** Forwards trace points of this thread to the supervisor (actor points always, others on request). */
  #forwardTrace(all: boolean): void {
    const names: TracePoint[] = all
      ? TRACE_POINT_NAMES
      : ['pcipt:actor:transition', 'pcipt:actor:error'];
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
    const vfio = this.#vfio;
    if (vfio === undefined) return;
    if (vfio.readConfig16(0x00) === 0xffff) {
      const e = new PassthroughError('PT_ERR_DEVICE_GONE', `${this.#bdf} fell off the bus (vendor id reads 0xffff)`, {
        bdf: this.#bdf,
        deviceId: this.#cmd?.deviceId,
      });
      this.#counters.errors++;
      this.#fault(e);
      throw e;
    }
  }

  /** Polls presence every presenceCheckMs while ready (unref'd: it never holds the thread). */
  #startPresenceCheck(): void {
    const everyMs = this.#cmd?.presenceCheckMs ?? 0;
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

// ------------------------------------------------------------------ helpers --

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

/** The parts of [0, sizeBytes) not covered by `windows`. */
export function complement(
  windows: readonly { offsetBytes: number; lengthBytes: number }[],
  sizeBytes: number,
): { offsetBytes: number; lengthBytes: number }[] {
  const sorted = [...windows].sort((a, b) => a.offsetBytes - b.offsetBytes);
  const out: { offsetBytes: number; lengthBytes: number }[] = [];
  let pos = 0;
  for (const w of sorted) {
    if (w.offsetBytes > pos) out.push({ offsetBytes: pos, lengthBytes: Math.min(w.offsetBytes, sizeBytes) - pos });
    pos = Math.max(pos, w.offsetBytes + w.lengthBytes);
    if (pos >= sizeBytes) break;
  }
  if (pos < sizeBytes) out.push({ offsetBytes: pos, lengthBytes: sizeBytes - pos });
  return out.filter((r) => r.lengthBytes > 0);
}

/** Sorts and merges overlapping or touching ranges. */
export function mergeRanges(
  ranges: readonly { offsetBytes: number; lengthBytes: number }[],
): { offsetBytes: number; lengthBytes: number }[] {
  const sorted = [...ranges].filter((r) => r.lengthBytes > 0).sort((a, b) => a.offsetBytes - b.offsetBytes);
  const out: { offsetBytes: number; lengthBytes: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offsetBytes <= last.offsetBytes + last.lengthBytes) {
      const end = Math.max(last.offsetBytes + last.lengthBytes, r.offsetBytes + r.lengthBytes);
      last.lengthBytes = end - last.offsetBytes;
    } else out.push({ ...r });
  }
  return out;
}
