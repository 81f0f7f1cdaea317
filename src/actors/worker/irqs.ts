/**
 * IRQ wiring, in the device worker: which interrupt mode a device runs in,
 * the setIrqs calls that enable its vectors (each delivery raises the shared
 * IrqLine), the capability enable bits a guest driver would set, and where
 * the IRQ pump runs:
 * - sim: the device models raise interrupts in this thread, so the async pump
 *   turns the source here (irq-pump.ts);
 * - linux, iokit: interrupts come from the OS, so a dedicated pump thread
 *   blocks in the native wait (irq-pump-thread.ts) and raises the line from
 *   there, never through this thread's event loop.
 * A mode change (VFIO setIrqs from the public view) stops a pump thread,
 * applies the request and starts it again, so the thread always waits on the
 * vectors that are enabled (linux: one eventfd per vector). The async pump
 * needs no restart: its source delivers to whatever setIrqs installed.
 */
import { PassthroughError } from '../../errors.js';
import type { IrqLine } from '../../fastpath/irq-line.js';
import type { WorkerBackend } from '../../vfio/backend.js';
import type { VfioDevice } from '../../vfio/device.js';
import { IrqIndex, type IrqIndexNumber } from '../../vfio/device-io-ops.js';
import type { AttachedDevice } from '../../vfio/iommu-ops.js';
import type { IrqMode } from '../protocol.js';
import { irqSinkFor, startIrqPump, type IrqPump } from './irq-pump.js';
import type { IrqPumpThread } from './irq-pump-thread.js';

const INDEX_MODE: Record<number, IrqMode> = { [IrqIndex.MSIX]: 'msix', [IrqIndex.MSI]: 'msi', [IrqIndex.INTX]: 'intx' };

/** PCI capability control register bits set when a mode is enabled. */
const MSIX_CTRL_ENABLE = 0x8000;
const MSIX_CTRL_FUNCTION_MASK = 0x4000;
const MSI_CTRL_ENABLE = 0x0001;
const MSI_CTRL_MME = 0x0070;
const CMD_INTX_DISABLE = 0x0400;

/** A VFIO_DEVICE_SET_IRQS request from the public view (the sink is always the device's IrqLine). */
export interface IrqRequest {
  index: IrqIndexNumber;
  action: 'trigger' | 'mask' | 'unmask';
  start: number;
  count: number;
}

/** What the wiring needs from its device. */
export interface IrqWiringDeps {
  backend: WorkerBackend;
  attached: AttachedDevice;
  vfio: VfioDevice;
  line: IrqLine;
  control: SharedArrayBuffer;
  /** A pump (or its thread) that fails faults the device. */
  onFault: (e: PassthroughError) => void;
  /** Re-publish the pump thread's trace records here. */
  forwardTrace: boolean;
}

/** The interrupt mode and pump of one device. */
export class IrqWiring {
  readonly #d: IrqWiringDeps;
  #index: IrqIndexNumber | undefined;
  #count = 0;
  #pump: IrqPump | undefined;
  #thread: IrqPumpThread | undefined;

  constructor(deps: IrqWiringDeps) {
    this.#d = deps;
  }

  /** The enabled mode and its vector count. */
  get mode(): { mode: IrqMode; vectors: number } {
    return { mode: this.#index === undefined ? 'none' : INDEX_MODE[this.#index]!, vectors: this.#count };
  }

  /** True when the pump turns in this thread's event loop (sim): the mailbox server must not linger then. */
  get pumpsOnThisThread(): boolean {
    return this.#pump !== undefined;
  }

  /**
   * Enables `requested` (undefined: the best mode the device offers, none
   * for a device without interrupts) and starts the pump.
   */
  async enable(requested: IrqMode | undefined): Promise<void> {
    const vfio = this.#d.vfio;
    if (requested !== 'none') {
      // The mode follows the capabilities (MSI only with an MSI capability, …); a refused one throws.
      const index = vfio.irqIndexFor(requested);
      if (index !== undefined) {
        const { count } = vfio.enableInterrupts(irqSinkFor(this.#d.line), index);
        this.#index = index;
        this.#count = count;
        this.setConfigEnableBits();
      }
    }
    await this.#startPump();
  }

  /**
   * A VFIO setIrqs from the public view: `trigger` with count > 0 enables
   * [start, start+count) of `index` (switching mode), count 0 disables the
   * index; mask/unmask pass to the backend. A pump thread restarts around a
   * trigger so it waits on what is enabled.
   */
  async set(req: IrqRequest): Promise<void> {
    const ops = this.#d.attached.ops;
    if (req.action !== 'trigger') {
      ops.setIrqs({ index: req.index, action: req.action, start: req.start, count: req.count });
      return;
    }
    if (req.count > 0) {
      // A mode the function has, and vectors within what it offers in that mode.
      const mode = INDEX_MODE[req.index];
      if (mode !== undefined && mode !== 'none') {
        this.#d.vfio.irqIndexFor(mode);
        const offered = this.#d.vfio.interruptOffer()[mode];
        if (req.start + req.count > offered) {
          throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `vectors ${req.start}..${req.start + req.count - 1} exceed the ${offered} ${mode.toUpperCase()} vectors the function offers`, {
            irqIndex: req.index,
            start: req.start,
            count: req.count,
            errno: 'EINVAL',
          });
        }
      }
    }
    const restart = this.#d.backend.irqPumpDescriptor !== undefined;
    if (restart) await this.#stopPump();
    try {
      if (req.count === 0) {
        ops.setIrqs({ index: req.index, action: 'trigger', start: 0, count: 0 });
        if (this.#index === req.index) {
          this.#clearConfigEnableBits(req.index);
          this.#index = undefined;
          this.#count = 0;
        }
      } else {
        if (this.#index !== undefined && this.#index !== req.index) {
          this.#d.vfio.disableInterrupts(this.#index);
          this.#clearConfigEnableBits(this.#index);
        }
        ops.setIrqs({ index: req.index, action: 'trigger', start: req.start, count: req.count, sink: irqSinkFor(this.#d.line) });
        this.#count = this.#index === req.index ? Math.max(this.#count, req.start + req.count) : req.start + req.count;
        this.#index = req.index;
        this.setConfigEnableBits();
      }
    } finally {
      if (restart) await this.#startPump();
    }
  }

  /**
   * Sets the capability enable bit of the enabled mode, as a guest driver
   * does (the seed's setIrqs only programs the dext mask). Called again after
   * a reset, which clears them. MSI and MSI-X control are written as the
   * host side (past the guest write filter, whose safety rule would drop a
   * write to the MSI capability and leave the function in MSI after a switch
   * to INTx: apple DEVIATIONS #32).
   */
  setConfigEnableBits(): void {
    const vfio = this.#d.vfio;
    switch (this.#index) {
      case IrqIndex.MSIX: {
        const cap = vfio.msix();
        if (cap === undefined) return;
        const ctrl = vfio.readConfig16(cap.offset + 2);
        vfio.writeHostConfig16(cap.offset + 2, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FUNCTION_MASK);
        return;
      }
      case IrqIndex.MSI: {
        const cap = vfio.msi();
        if (cap === undefined) return;
        // Multiple Message Enable: the largest power of two within the enabled count.
        let mme = 0;
        while (1 << (mme + 1) <= Math.min(this.#count, cap.vectors)) mme++;
        vfio.writeHostConfig16(cap.offset + 2, (vfio.readConfig16(cap.offset + 2) & ~MSI_CTRL_MME) | (mme << 4) | MSI_CTRL_ENABLE);
        return;
      }
      case IrqIndex.INTX:
        vfio.writeConfig16(0x04, vfio.readConfig16(0x04) & ~CMD_INTX_DISABLE);
        return;
      default:
        return;
    }
  }

  /** Clears the enable bit of a mode that is switched off (INTx: sets INTx disable). */
  #clearConfigEnableBits(index: IrqIndexNumber): void {
    const vfio = this.#d.vfio;
    if (index === IrqIndex.MSIX) {
      const cap = vfio.msix();
      if (cap !== undefined) vfio.writeHostConfig16(cap.offset + 2, vfio.readConfig16(cap.offset + 2) & ~MSIX_CTRL_ENABLE);
    } else if (index === IrqIndex.MSI) {
      const cap = vfio.msi();
      if (cap !== undefined) vfio.writeHostConfig16(cap.offset + 2, vfio.readConfig16(cap.offset + 2) & ~MSI_CTRL_ENABLE);
    } else if (index === IrqIndex.INTX) {
      vfio.writeConfig16(0x04, vfio.readConfig16(0x04) | CMD_INTX_DISABLE);
    }
  }

  /**
   * Teardown: stops the pump (a pump thread is awaited until it has exited,
   * so no native wait is pending on what the next steps close), then
   * disables the enabled index. Errors go to `onError`; the steps still run.
   */
  async stop(onError: (e: unknown) => void): Promise<void> {
    await this.#stopPump();
    if (this.#index !== undefined) {
      try {
        this.#d.vfio.disableInterrupts(this.#index);
      } catch (e) {
        onError(e);
      }
      this.#index = undefined;
      this.#count = 0;
    }
  }

  /**
   * Starts the pump where the backend says (WorkerBackend.irqPumpDescriptor):
   * a native backend gets a dedicated thread blocking in its native wait
   * (none when no vector is enabled); the sim backend the async pump here.
   */
  async #startPump(): Promise<void> {
    const { backend, attached } = this.#d;
    if (backend.irqPumpDescriptor === undefined) {
      this.#pump = startIrqPump(attached.interrupts, { onError: this.#d.onFault });
      return;
    }
    const descriptor = backend.irqPumpDescriptor(attached);
    if (descriptor === undefined) return;
    // Loaded here, not at boot: only the native backends pump from a thread (a sim worker never loads it).
    const { startIrqPumpThread, wakeIrqPump } = await import('./irq-pump-thread.js');
    const thread = startIrqPumpThread({
      control: this.#d.control,
      descriptor,
      wake: (wakePort) => wakeIrqPump(attached.interrupts, wakePort),
      onFault: this.#d.onFault,
      forwardTrace: this.#d.forwardTrace,
    });
    this.#thread = thread;
    // Setup errors of the thread (its source could not be built) fail the caller.
    await thread.ready;
  }

  async #stopPump(): Promise<void> {
    const pump = this.#pump;
    const thread = this.#thread;
    this.#pump = undefined;
    this.#thread = undefined;
    if (pump !== undefined) await pump.stop();
    if (thread !== undefined) await thread.stop();
  }
}
