/**
 * The backend registry: the one place that turns a {@link BackendName} into
 * a backend's halves: the {@link BackendHost} (supervisor thread), the
 * {@link WorkerBackend} (device worker) and, for backends whose interrupts
 * come from the OS, the blocking {@link IrqPumpSource} of the IRQ pump
 * thread. Each backend is its own folder (src/sim, src/linux, src/iokit);
 * they are loaded with dynamic import, so `sim` never loads koffi and
 * `linux`/`iokit` load their native halves only when chosen.
 */
import { PassthroughError } from '../errors.js';
import type { IrqSink } from '../vfio/device-io-ops.js';
import type { BackendHost, BackendName, IrqPumpDescriptor, IrqPumpSource, WorkerBackend, WorkerBackendSpec } from '../vfio/backend.js';

export type { BackendHost, BackendName, WorkerBackend, WorkerBackendSpec } from '../vfio/backend.js';

/** What each backend folder provides. */
interface BackendModule {
  createHost(options: Record<string, unknown>): BackendHost | Promise<BackendHost>;
  createWorker(spec: WorkerBackendSpec): WorkerBackend | Promise<WorkerBackend>;
  /** Absent when the device worker pumps interrupts itself (sim). */
  createPumpSource?(options: Record<string, unknown>, sink: IrqSink): IrqPumpSource | Promise<IrqPumpSource>;
}

const REGISTRY: Record<BackendName, () => Promise<BackendModule>> = {
  sim: async () => {
    const m = await import('../sim/backend.js');
    return { createHost: m.createSimBackendHost, createWorker: m.createSimWorkerBackend };
  },
  linux: async () => {
    const [host, worker, irq] = await Promise.all([import('../linux/host.js'), import('../linux/worker.js'), import('../linux/interrupts.js')]);
    return {
      createHost: host.createLinuxBackendHost,
      createWorker: worker.createLinuxWorkerBackend,
      createPumpSource: (o, sink) => irq.createLinuxPumpSource(o as unknown as import('../linux/interrupts.js').LinuxIrqPumpDescriptor, sink),
    };
  },
  iokit: async () => {
    const [m, pump] = await Promise.all([import('../iokit/backend.js'), import('../iokit/pump-source.js')]);
    return {
      createHost: m.createIokitBackendHost,
      createWorker: m.createIokitWorkerBackend,
      createPumpSource: (o, sink) => pump.createIokitPumpSource(o as unknown as import('../iokit/pump-source.js').IokitIrqPumpDescriptor, sink),
    };
  },
};

/** Every backend name. */
export const BACKEND_NAMES: readonly BackendName[] = Object.keys(REGISTRY) as BackendName[];

/** True when `name` names a backend. */
export function isBackendName(name: unknown): name is BackendName {
  return typeof name === 'string' && Object.hasOwn(REGISTRY, name);
}

/** Loads backend `name`'s module (cached by the module loader). Throws PT_ERR_INVALID_ARGUMENT for an unknown name. */
export function loadBackend(name: BackendName): Promise<BackendModule> {
  if (!isBackendName(name)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown backend "${String(name)}": use ${BACKEND_NAMES.join(', ')}`, { backend: name });
  }
  return REGISTRY[name]();
}

/**
 * Builds the supervisor-side half of backend `name`.
 * @param options backend options (sim: `machine`, test hooks; iokit: `libraries`; linux: see src/linux)
 * Throws PT_ERR_INVALID_ARGUMENT for an unknown name.
 */
export async function createBackendHost(name: BackendName, options: Record<string, unknown> = {}): Promise<BackendHost> {
  return (await loadBackend(name)).createHost(options);
}

/**
 * Builds the worker-side half from the spec the host's `prepare` returned.
 * Runs inside the device worker. Throws PT_ERR_INVALID_ARGUMENT for an unknown backend.
 */
export async function createWorkerBackend(spec: WorkerBackendSpec): Promise<WorkerBackend> {
  return (await loadBackend(spec.backend)).createWorker(spec);
}

/**
 * Builds the blocking source of `desc` in the IRQ pump thread, delivering
 * every vector to `sink` (INTx as vector 0). Its close() leaves the device's
 * fds/connection alone. Throws PT_ERR_NOT_SUPPORTED for a backend without a
 * pump-thread source, PT_ERR_INVALID_ARGUMENT for an unknown backend.
 */
export async function createIrqPumpSource(desc: IrqPumpDescriptor, sink: IrqSink): Promise<IrqPumpSource> {
  const m = await loadBackend(desc.backend);
  if (m.createPumpSource === undefined) {
    throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `no IRQ pump thread source for the ${desc.backend} backend`, { backend: desc.backend });
  }
  return m.createPumpSource(desc.options, sink);
}
