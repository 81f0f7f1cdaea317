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
 * Builds the blocking source of `desc`, delivering every vector to `sink`
 * (INTx as vector 0). Its close() leaves the device's fds/ports alone.
 * Throws PT_ERR_NOT_SUPPORTED for a backend without a pump-thread source,
 * PT_ERR_INVALID_ARGUMENT for a malformed descriptor.
 */
export async function createIrqPumpSource(desc: IrqPumpDescriptor, sink: IrqSink): Promise<InterruptSource> {
  switch (desc.backend) {
    case 'linux': {
      const { createLinuxPumpSource } = await import('../linux/interrupts.js');
      return createLinuxPumpSource(desc.options as unknown as import('../linux/interrupts.js').LinuxIrqPumpDescriptor, sink);
    }
    default:
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `no IRQ pump thread source for the ${desc.backend} backend`, { backend: desc.backend });
  }
}
