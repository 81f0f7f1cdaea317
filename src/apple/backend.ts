/**
 * The worker half of a backend that reaches its device through the dext
 * protocol (sim, iokit): the apple container over a {@link DextDriver}, and
 * the worker's table of shared connections. The device worker uses these to
 * give other holders (the DMA companion, shared-connection handles, extra
 * user clients) the function's connection.
 */
import type { WorkerBackend } from '../vfio/backend.js';
import type { DextDriver } from '../dext/contract.js';
import type { ConnectionTable } from './connection-table.js';
import type { AppleContainer } from './container.js';

/** A dext-speaking worker backend. */
export interface DextWorkerBackend extends WorkerBackend {
  readonly container: AppleContainer;
  /** Where new user clients come from (IOServiceOpen). */
  readonly driver: DextDriver;
  /** The published connections of this worker (one per function it attached). */
  readonly table: ConnectionTable;
}

/** True when `backend` speaks the dext protocol. */
export function isDextWorkerBackend(backend: WorkerBackend): backend is DextWorkerBackend {
  const b = backend as Partial<DextWorkerBackend>;
  return b.driver !== undefined && b.table !== undefined;
}

/** DMA routing a worker spec may ask for (`options.dmaRouting`): the container, or the companion. */
export function dmaRoutingOf(options: Record<string, unknown>): 'container' | 'companion' {
  return options.dmaRouting === 'companion' ? 'companion' : 'container';
}
