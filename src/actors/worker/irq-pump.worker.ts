/**
 * IRQ pump thread entry (compiled to dist/src/actors/worker/irq-pump.worker.js;
 * spawned by a device worker through irq-pump-thread.ts, never directly).
 *
 * Blocks in the backend's native interrupt wait (linux: a blocking read() of a
 * single vector's eventfd, or poll() on several vectors' eventfds plus the
 * wake eventfd; iokit: mach_msg on its notification port after arming
 * WaitInterrupt; design §3) and raises each delivered vector
 * on the device's IrqLine, which lives in the control block shared with the
 * embedder, so an interrupt reaches an IrqLine.waitSync without passing
 * through the device worker's event loop.
 *
 * workerData: {@link IrqPumpWorkerData}. Stop protocol: the device worker sets
 * stop word 0 to 1 and then wakes the source (linux: the wake fd, and the
 * vector's eventfd in 'read' mode; iokit: a message to the reported wake port); the loop
 * checks the word after every wait, so stop is seen within one wait. Every
 * wait is finite (`waitSliceMs`), so even a lost wake ends the thread, except
 * linux's single-vector read(), whose wake is a count written to that eventfd:
 * a counter, which no wake can miss.
 *
 * Messages to the device worker: `{type:'running', wakePort?}` once the source
 * is built (`wakePort`, iokit: the mach port whose message ends the wait),
 * `{type:'error', error}` (serialised PassthroughError) when it fails (then the
 * thread ends), `{type:'trace', name, payload}` for forwarded
 * `pcipt:irq:deliver` records when `forwardTrace` is set.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { IrqPumpDescriptor } from '../../vfio/backend.js';
import { PassthroughError, toPassthroughError, type SerializedError } from '../../errors.js';
import { IrqLine } from '../../fastpath/index.js';
import { traceChannel } from '../../trace.js';
import { irqSinkFor } from './irq-pump.js';
import { irqHopRecorder } from './irq-hops.js';
import { createIrqPumpSource } from '../../backends/index.js';

/** What a device worker passes to the pump thread. Structured-cloneable. */
export interface IrqPumpWorkerData {
  /** The device control block (its IrqLine). */
  control: SharedArrayBuffer;
  /** From WorkerBackend.irqPumpDescriptor. */
  descriptor: IrqPumpDescriptor;
  /** Int32Array[1]: 0 = run, 1 = stop. */
  stop: SharedArrayBuffer;
  /** Longest single native wait in ms (finite). */
  waitSliceMs: number;
  /** Forward `pcipt:irq:deliver` records to the device worker. */
  forwardTrace: boolean;
}

/** Messages from the pump thread. */
export type IrqPumpThreadMessage =
  | { type: 'running'; wakePort?: number }
  | { type: 'error'; error: SerializedError }
  | { type: 'trace'; name: 'pcipt:irq:deliver'; payload: Record<string, unknown> };

if (isMainThread || parentPort === null) {
  throw new PassthroughError('PT_ERR_INVALID_STATE', 'irq-pump.worker.js must run in a worker thread');
}
const port = parentPort;
const data = workerData as IrqPumpWorkerData;
const stop = new Int32Array(data.stop);
const post = (m: IrqPumpThreadMessage): void => port.postMessage(m);

try {
  if (data.forwardTrace) {
    traceChannel('pcipt:irq:deliver').subscribe((payload: unknown) =>
      post({ type: 'trace', name: 'pcipt:irq:deliver', payload: { ...(payload as Record<string, unknown>) } }),
    );
  }
  const lineSink = irqSinkFor(new IrqLine(data.control));
  // PCIPT_IRQ_HOPS: per-delivery timestamps for bench/vm-msi.ts (irq-hops.ts); the plain sink otherwise.
  const hops = irqHopRecorder(lineSink);
  const source = await createIrqPumpSource(data.descriptor, hops?.sink ?? lineSink);
  const nextSync = source.nextSync;
  if (nextSync === undefined) {
    throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'this interrupt source has no blocking wait', { backend: data.descriptor.backend });
  }
  post(source.wakePort === undefined ? { type: 'running' } : { type: 'running', wakePort: source.wakePort });
  try {
    // A tight loop on purpose: this thread has nothing else to do, and the
    // stop word (not a message) ends it, so it never needs its event loop.
    while (Atomics.load(stop, 0) === 0) nextSync.call(source, data.waitSliceMs);
  } finally {
    source.close();
    hops?.flush();
  }
} catch (e) {
  post({ type: 'error', error: toPassthroughError(e, { where: 'irq-pump-thread', backend: data.descriptor.backend }).toJSON() });
}
