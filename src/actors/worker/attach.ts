/**
 * The attach pipeline of one device, in its worker: what each step of
 * device.machine.ts does, and the ordered teardown that undoes them. A
 * {@link DeviceSession} holds everything the steps built:
 *
 *   opening     the WorkerBackend from the supervisor's spec
 *   connecting  container.setup + attachDevice: connect, claim, publish, dext IRQ setup (rule 12)
 *   probing     region and IRQ info, config identity (AttachedDeviceInfo)
 *   mapping     every BAR mapped and described for the fast path (bars.ts)
 *   wiringIrqs  interrupt mode + IRQ pump (irqs.ts), the DMA companion, the mailbox server
 *
 * Teardown (crosvm's Shutdown: the ack comes only after it) runs the other
 * way; a failing step is recorded and the later steps still run.
 */
import { isDextWorkerBackend } from '../../apple/backend.js';
import { createWorkerBackend } from '../../backends/index.js';
import { PassthroughError, toPassthroughError } from '../../errors.js';
import { IrqLine } from '../../fastpath/irq-line.js';
import { toBdf, type Bdf } from '../../types.js';
import type { WorkerBackend } from '../../vfio/backend.js';
import { VfioDevice } from '../../vfio/device.js';
import { NUM_IRQS, NUM_REGIONS } from '../../vfio/device-io-ops.js';
import type { AttachedDevice } from '../../vfio/iommu-ops.js';
import type { ActivateResult, AttachedDeviceInfo, Command } from '../protocol.js';
import { BarExposure } from './bars.js';
import { DextClients } from './dext-clients.js';
import { DmaBook } from './dma.js';
import { IrqWiring } from './irqs.js';
import { serveMailbox, type MailboxHandler, type MailboxServer } from './mailbox-server.js';

/** The `activate` command: everything the pipeline is told. */
export type ActivateCommand = Extract<Command, { type: 'activate' }>;

/** What the session reports to its runtime. */
export interface SessionHooks {
  /** A pump (or its thread) failed: fault the device. */
  onFault(e: PassthroughError): void;
  /** The shared connection's refs or holders changed. */
  onConnection(refs: number, holders: string[]): void;
  /** A reset of this function reset its whole slot. */
  onSlotReset(): void;
  /** The mailbox handler (with the runtime's counters around the ops). */
  mailboxHandler(session: DeviceSession): MailboxHandler;
  /** Forward the pump thread's trace records. */
  forwardTrace: boolean;
}

function notYet(step: string): PassthroughError {
  return new PassthroughError('PT_ERR_NOT_READY', `the device has not reached ${step}`, { step });
}

/** Everything a device worker built for its device. */
export class DeviceSession {
  readonly cmd: ActivateCommand;
  readonly bdf: Bdf;
  readonly line: IrqLine;
  readonly #hooks: SessionHooks;
  #backend: WorkerBackend | undefined;
  #attached: AttachedDevice | undefined;
  #vfio: VfioDevice | undefined;
  #info: AttachedDeviceInfo | undefined;
  #bars: BarExposure | undefined;
  #irqs: IrqWiring | undefined;
  #dma: DmaBook | undefined;
  #dext: DextClients | undefined;
  #mailbox: MailboxServer | undefined;

  constructor(cmd: ActivateCommand, hooks: SessionHooks) {
    this.cmd = cmd;
    this.bdf = toBdf(cmd.bdf);
    this.line = new IrqLine(cmd.controlBlock);
    this.#hooks = hooks;
  }

  get backend(): WorkerBackend {
    return this.#backend ?? this.#missing('opening');
  }
  get attached(): AttachedDevice {
    return this.#attached ?? this.#missing('connecting');
  }
  get vfio(): VfioDevice {
    return this.#vfio ?? this.#missing('probing');
  }
  get info(): AttachedDeviceInfo {
    return this.#info ?? this.#missing('probing');
  }
  get irqs(): IrqWiring {
    return this.#irqs ?? this.#missing('wiringIrqs');
  }
  get dma(): DmaBook {
    return this.#dma ?? this.#missing('opening');
  }
  /** The dext connections (PT_ERR_NOT_SUPPORTED on a backend without a dext: linux). */
  get dext(): DextClients {
    if (this.#dext !== undefined) return this.#dext;
    if (this.#backend !== undefined && !isDextWorkerBackend(this.#backend)) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `the ${this.#backend.name} backend has no dext connection`, { bdf: this.bdf });
    }
    return this.#missing('connecting');
  }

  #missing(step: string): never {
    throw notYet(step);
  }

  // ------------------------------------------------------------------ steps --

  /** opening: the backend's worker half (sim: the simulated function powers on). */
  async open(): Promise<void> {
    const backend = await createWorkerBackend(this.cmd.spec);
    this.#backend = backend;
    this.#dma = new DmaBook(backend);
    backend.onSlotReset?.(() => this.#hooks.onSlotReset());
  }

  /** connecting: connect, claim, publish and the dext's interrupt setup (undone by the container on failure). */
  connect(): void {
    const backend = this.backend;
    backend.container.setup();
    this.#attached = backend.container.attachDevice(this.bdf);
    if (isDextWorkerBackend(backend)) {
      this.#dext = new DextClients(backend, this.bdf, (refs, holders) => this.#hooks.onConnection(refs, holders));
      this.#dext.report();
    }
  }

  /** probing: what the device is (regions, IRQs, identity). */
  probe(): void {
    const attached = this.attached;
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

  /** mapping: every BAR mapped and described for the fast path. */
  map(): void {
    const bars = new BarExposure(this.attached.ops, this.cmd.controlBlock);
    this.#bars = bars;
    bars.mapAll();
  }

  /**
   * wiringIrqs: the interrupt mode and its pump, the DMA companion when asked
   * for, then the mailbox server (config cycles and trapped BAR ranges).
   */
  async wireIrqs(): Promise<void> {
    const irqs = new IrqWiring({
      backend: this.backend,
      attached: this.attached,
      vfio: this.vfio,
      line: this.line,
      control: this.cmd.controlBlock,
      onFault: (e) => this.#hooks.onFault(e),
      forwardTrace: this.#hooks.forwardTrace,
    });
    this.#irqs = irqs;
    await irqs.enable(this.cmd.irq);
    const { mode, vectors } = irqs.mode;
    this.info.irqMode = mode;
    this.info.irqVectors = vectors;
    if (this.cmd.dmaCompanion !== undefined) await this.dext.realizeCompanion(this.cmd.dmaCompanion);
    // The server lingers in a synchronous wait after each request (a burst of config
    // cycles is then served at ~0.4 µs instead of a waitAsync hop each). That holds this
    // thread's event loop for up to lingerMs after a burst, so it is only for devices
    // whose interrupts do not need that loop: with the async pump here (sim: the models
    // and their interrupts run in this thread), a doorbell write would otherwise reach
    // the IrqLine only when the linger ends (measured: 5.2 ms instead of 35 µs).
    this.#mailbox = serveMailbox(this.cmd.controlBlock, this.#hooks.mailboxHandler(this), irqs.pumpsOnThisThread ? { lingerMs: 0 } : {});
  }

  /** What `activate` answers once the device is ready. */
  result(): ActivateResult {
    return {
      info: this.info,
      bars: [...(this.#bars?.descriptors ?? [])],
      viewFactoryModule: this.#backend?.viewFactoryModule,
    };
  }

  /** Leak-check figures for the teardown report. */
  leftovers(): { connectionRefs: number; mappedBars: number; dmaMappings: number; exposures: number } {
    const mappings = (this.#backend?.container as { mappings?: Map<unknown, unknown> } | undefined)?.mappings;
    return {
      connectionRefs: this.#dext?.refs ?? 0,
      mappedBars: this.#bars?.mappedCount ?? 0,
      dmaMappings: mappings?.size ?? 0,
      exposures: this.#dma?.size ?? 0,
    };
  }

  // --------------------------------------------------------------- teardown --

  /**
   * Ordered teardown:
   * 1. stop the IRQ pump (a pump thread is awaited until it has exited, so no
   *    native wait is pending on what later steps close);
   * 2. revoke every BAR, wait for every holder in every thread, then unmap it;
   * 3. stop the mailbox server (embedders then get PT_ERR_CLOSED);
   * 4. disable interrupts (in 1), drop the other dext holders and the DMA exposures;
   * 5. container.detachDevice: device cleanup, its DMA registrations, then the
   *    connection reference (the last release closes the connection);
   * 6. close the backend.
   * Throws the first failure (prefixed `teardown`) after every step ran.
   */
  async teardown(): Promise<void> {
    const errors: PassthroughError[] = [];
    const record = (e: unknown) => errors.push(toPassthroughError(e, { bdf: this.bdf }));
    if (this.#irqs !== undefined) await this.#irqs.stop(record);
    this.#bars?.unmapAll(this.cmd.unmapTimeoutMs, record);
    if (this.#mailbox !== undefined) await this.#mailbox.stop();
    this.#mailbox = undefined;
    this.#dext?.closeAll(record);
    this.#dma?.clear(record);
    const backend = this.#backend;
    if (backend !== undefined) {
      try {
        backend.container.detachDevice(this.bdf);
      } catch (e) {
        record(e);
      }
      this.#attached = undefined;
      this.#dext?.report();
      try {
        backend.close();
      } catch (e) {
        record(e);
      }
    }
    if (errors.length > 0) throw errors[0]!.prepend('teardown', { failures: errors.length });
  }
}
