/**
 * The device worker's handle on its dedicated IRQ pump thread
 * (irq-pump.worker.ts): spawn it for a backend's {@link IrqPumpDescriptor},
 * stop it (stop word, then the backend's wake path, then await the thread's
 * exit), and report a thread that ends or fails on its own as a fault.
 *
 * Why a thread: a native backend's interrupt arrives as an OS event (linux: an
 * eventfd). Blocking on it in a thread of its own and raising the IrqLine from
 * there costs one poll() return plus Atomics, instead of a koffi async-pool
 * hop plus the device worker's event loop (ecosystem-facts §2.3, design §3).
 */
import type { InterruptSource } from '../../vfio/device-io-ops.js';
import { Worker } from 'node:worker_threads';
import type { IrqPumpDescriptor } from '../../vfio/backend.js';
import { bundledEntry } from '../entry-url.js';
import { PassthroughError } from '../../errors.js';
import { trace } from '../../trace.js';
import type { IrqPumpThreadMessage, IrqPumpWorkerData } from './irq-pump.worker.js';

/** Default longest single native wait of the pump thread (bounds how late a lost wake is noticed). */
export const IRQ_PUMP_WAIT_SLICE_MS = 500;
/** How long stop() waits for the thread to exit before terminating it. */
const STOP_TIMEOUT_MS = 5000;

/** Options of {@link startIrqPumpThread}. */
export interface IrqPumpThreadOptions {
  /** The device control block (its IrqLine is raised by the thread). */
  control: SharedArrayBuffer;
  /** From WorkerBackend.irqPumpDescriptor. */
  descriptor: IrqPumpDescriptor;
  /**
   * Ends the thread's current native wait. `wakePort`: the port the thread
   * reported at start (iokit), undefined before that or when the backend has
   * none (linux: the device's `interrupts.wake` writes the shared wake fd).
   */
  wake: (wakePort: number | undefined) => void;
  /**
   * Called once when the thread fails or exits without being asked to
   * (PT_ERR_WORKER_EXITED, or the thread's own error). Not called after stop().
   */
  onFault: (error: PassthroughError) => void;
  /** Re-publish the thread's `pcipt:irq:deliver` records in this thread (default false). */
  forwardTrace?: boolean;
  /** Longest single wait in ms (default {@link IRQ_PUMP_WAIT_SLICE_MS}). */
  waitSliceMs?: number;
  /** Override of the compiled entry (tests). */
  entry?: URL;
}

/** A running pump thread. */
export interface IrqPumpThread {
  /** The thread (tests). */
  readonly worker: Worker;
  /** Resolves when the thread built its source and waits; rejects with its setup error (then it has ended). */
  readonly ready: Promise<void>;
  /** The wake port the thread reported when it started (iokit), else undefined. */
  readonly wakePort: number | undefined;
  /** Settles with the exit code when the thread has ended. */
  readonly exited: Promise<number>;
  /**
   * Sets the stop word, wakes the wait and resolves when the thread has
   * exited (terminating it after 5 s, which cannot happen while waits are
   * finite). After it resolves no wait of the thread is pending, so the
   * device's fds may be closed. Idempotent.
   */
  stop(): Promise<void>;
}

/** The pump entry: dist/workers/irq-pump.worker.js, bundled like the device worker's. */
export function irqPumpEntryUrl(): URL {
  return bundledEntry('irq-pump.worker.js', 'IRQ pump worker');
}

/**
 * Spawns the pump thread. Await `ready` to learn that it waits (or why it
 * could not start). Throws PT_ERR_NOT_FOUND when the compiled entry is missing.
 */
export function startIrqPumpThread(opts: IrqPumpThreadOptions): IrqPumpThread {
  const stopBuffer = new SharedArrayBuffer(4);
  const stopWord = new Int32Array(stopBuffer);
  const data: IrqPumpWorkerData = {
    control: opts.control,
    descriptor: opts.descriptor,
    stop: stopBuffer,
    waitSliceMs: opts.waitSliceMs ?? IRQ_PUMP_WAIT_SLICE_MS,
    forwardTrace: opts.forwardTrace ?? false,
  };
  const worker = new Worker(opts.entry ?? irqPumpEntryUrl(), { workerData: data, name: `pcipt-irq-pump-${opts.descriptor.backend}` });
  let stopping = false;
  let faulted = false;
  let started = false;
  let wakePort: number | undefined;
  let readyResolve!: () => void;
  let readyReject!: (e: PassthroughError) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  // A setup failure is reported through `ready`; do not leave it unhandled when nobody awaits it.
  ready.catch(() => {});
  const context = { backend: opts.descriptor.backend, threadId: worker.threadId };

  const fail = (e: PassthroughError): void => {
    if (!started) {
      started = true;
      readyReject(e);
    }
    if (stopping || faulted) return;
    faulted = true;
    opts.onFault(e);
  };

  worker.on('message', (m: IrqPumpThreadMessage) => {
    switch (m.type) {
      case 'running':
        started = true;
        wakePort = m.wakePort;
        // A stop that came before the port was known could not wake the wait: wake it now.
        if (stopping) opts.wake(wakePort);
        readyResolve();
        return;
      case 'error':
        fail(PassthroughError.fromJSON(m.error).prepend('IRQ pump thread failed', context));
        return;
      case 'trace':
        trace(m.name, m.payload);
        return;
      default:
        return;
    }
  });
  worker.on('error', (e) => {
    fail(new PassthroughError('PT_ERR_WORKER_EXITED', `IRQ pump thread crashed: ${e instanceof Error ? e.message : String(e)}`, context, { cause: e }));
  });
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code) => {
      fail(new PassthroughError('PT_ERR_WORKER_EXITED', `IRQ pump thread exited (code ${code}) while the device was running`, { ...context, exitCode: code }));
      resolve(code);
    });
  });

  return {
    worker,
    ready,
    exited,
    get wakePort(): number | undefined {
      return wakePort;
    },
    async stop(): Promise<void> {
      if (!stopping) {
        stopping = true;
        Atomics.store(stopWord, 0, 1);
        opts.wake(wakePort);
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS);
      });
      const r = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (r === 'late') await worker.terminate();
    },
  };
}

/** A device source that can wake a pump thread by its reported port (the handed-off apple source). */
interface PumpWaker {
  wakePump(portName: number): boolean;
}

/**
 * Device-worker side: ends the pump thread's current wait. With the port the
 * thread reported (`wakePort`) and a source that can send to it, through that
 * port; otherwise through `interrupts.wake()` (linux: the shared wake fd).
 * Never blocks.
 */
export function wakeIrqPump(interrupts: InterruptSource, wakePort: number | undefined): void {
  const waker = interrupts as InterruptSource & Partial<PumpWaker>;
  if (wakePort !== undefined && typeof waker.wakePump === 'function') waker.wakePump(wakePort);
  else interrupts.wake();
}
