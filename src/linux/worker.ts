/**
 * The worker-side half of the linux backend: a container over the fds the
 * supervisor opened (numbers valid in every thread of the process), host
 * memory exposure by native address, and the view-factory module URL.
 */
import type { IrqPumpDescriptor, WorkerBackend, WorkerBackendSpec } from '../vfio/backend.js';
import { nativeExposures } from '../vfio/native-exposure.js';
import { PassthroughError } from '../errors.js';
import { toBdf } from '../types.js';
import type { AttachedDevice } from '../vfio/iommu-ops.js';
import type { GroupLease } from './container.js';
import type { LinuxWorkerOptions } from './host.js';
import { createLinuxIommuOps, fixedProvider } from './iommu.js';
import { LinuxInterruptSource } from './interrupts.js';
import { libc } from './libc.js';

/** URL of the module exporting `viewAt(address, lengthBytes)` for BAR windows. */
export const LINUX_VIEW_FACTORY_MODULE = new URL('./mapped-bar.js', import.meta.url).href;

/** Rebuilds the lease a linux worker spec describes. Throws PT_ERR_INVALID_ARGUMENT on a malformed spec. */
export function leaseFromSpec(spec: WorkerBackendSpec): GroupLease {
  const o = spec.options as Partial<LinuxWorkerOptions>;
  if (spec.backend !== 'linux' || typeof o.bdf !== 'string' || typeof o.containerFd !== 'number' || typeof o.groupFd !== 'number') {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'not a linux worker spec (needs bdf, containerFd, groupFd)', { backend: spec.backend });
  }
  return {
    bdf: toBdf(o.bdf),
    group: o.group ?? '',
    containerFd: o.containerFd,
    groupFd: o.groupFd,
    iommuType: o.iommuType ?? 3,
    iovaBase: BigInt(o.iovaBase ?? '1048576'),
    iovaSizeBytes: BigInt(o.iovaSizeBytes ?? String(0x400_0000)),
  };
}

/** Creates the worker half from the spec the linux BackendHost prepared. */
export function createLinuxWorkerBackend(spec: WorkerBackendSpec): WorkerBackend {
  const lease = leaseFromSpec(spec);
  const container = createLinuxIommuOps(fixedProvider([lease]));
  const exposures = nativeExposures((view) => libc().address(view));
  return {
    name: 'linux',
    container,
    exposeHostMemory: exposures.expose,
    unexposeHostMemory: exposures.unexpose,
    viewFactoryModule: LINUX_VIEW_FACTORY_MODULE,
    // The vectors' eventfds are polled by a dedicated pump thread (design §3), never by koffi's async pool here.
    irqPumpDescriptor(attached: AttachedDevice): IrqPumpDescriptor | undefined {
      const source = attached.interrupts;
      if (!(source instanceof LinuxInterruptSource)) {
        throw new PassthroughError('PT_ERR_INTERNAL', 'a linux device without a linux interrupt source', { bdf: attached.bdf });
      }
      if (source.vectorCount === 0) return undefined;
      return { backend: 'linux', options: { ...source.pumpDescriptor() } };
    },
    close(): void {
      container.close();
      exposures.clear();
    },
  };
}
