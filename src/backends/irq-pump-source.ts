/**
 * The pump-thread half of {@link IrqPumpDescriptor}: rebuilds a blocking
 * interrupt source (one with nextSync) from the descriptor a device worker's
 * backend produced. Runs in the IRQ pump thread; loads the backend's native
 * module only there.
 */
import { PassthroughError } from '../errors.js';
import type { InterruptSource, IrqSink } from '../vfio/device-io-ops.js';
import type { IrqPumpDescriptor } from './backend.js';

/**
 * A pump-thread source. `wakePort` (iokit): the mach port name whose message
 * ends the thread's wait; the thread reports it to the device worker, which
 * wakes it with {@link wakeIrqPump}. Absent when the device's own wake() ends
 * the wait (linux: the shared wake eventfd).
 */
export interface IrqPumpSource extends InterruptSource {
  readonly wakePort?: number;
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

/**
 * Builds the blocking source of `desc`, delivering every vector to `sink`
 * (INTx as vector 0). Its close() leaves the device's fds/connection alone.
 * Throws PT_ERR_NOT_SUPPORTED for a backend without a pump-thread source,
 * PT_ERR_INVALID_ARGUMENT for a malformed descriptor.
 */
export async function createIrqPumpSource(desc: IrqPumpDescriptor, sink: IrqSink): Promise<IrqPumpSource> {
  switch (desc.backend) {
    case 'linux': {
      const { createLinuxPumpSource } = await import('../linux/interrupts.js');
      return createLinuxPumpSource(desc.options as unknown as import('../linux/interrupts.js').LinuxIrqPumpDescriptor, sink);
    }
    case 'iokit': {
      const { createIokitPumpSource } = await import('../iokit/iokit-pump-source.js');
      return createIokitPumpSource(desc.options as unknown as import('../iokit/iokit-pump-source.js').IokitIrqPumpDescriptor, sink);
    }
    default:
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `no IRQ pump thread source for the ${desc.backend} backend`, { backend: desc.backend });
  }
}
