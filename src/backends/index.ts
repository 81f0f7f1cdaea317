/**
 * Backend selection: the one place that turns a {@link BackendName} into a
 * {@link BackendHost} (supervisor thread) or a {@link WorkerBackend} (device
 * worker). Backends are loaded with dynamic import so `sim` never loads
 * koffi, and `linux`/`iokit` load their native halves only when chosen.
 */
import { PassthroughError } from '../errors.js';
import type { AttachedDevice } from '../vfio/iommu-ops.js';
import type { BackendHost, BackendName, BackendStatus, FunctionSummary, IrqPumpDescriptor, RegionSummary, WorkerBackend, WorkerBackendSpec } from './backend.js';
import { toBdf } from '../types.js';
import { dextConfigDump, dextRegions } from './dext-summary.js';
import { nativeExposures } from './native-exposure.js';

export type { BackendHost, BackendName, WorkerBackend, WorkerBackendSpec } from './backend.js';

/** Every backend name. */
export const BACKEND_NAMES: readonly BackendName[] = ['sim', 'linux', 'iokit'];

/**
 * Builds the supervisor-side half of backend `name`.
 * @param options backend options (sim: `machine`, test hooks; iokit: `libraries`; linux: see src/linux)
 * Throws PT_ERR_INVALID_ARGUMENT for an unknown name.
 */
export async function createBackendHost(name: BackendName, options: Record<string, unknown> = {}): Promise<BackendHost> {
  switch (name) {
    case 'sim': {
      const { createSimBackendHost } = await import('./sim.js');
      return createSimBackendHost(options);
    }
    case 'linux': {
      const { createLinuxBackendHost } = await import('../linux/index.js');
      return createLinuxBackendHost(options);
    }
    case 'iokit':
      return createIokitBackendHost(options);
    default:
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown backend "${String(name)}"`, { backend: name });
  }
}

/**
 * Builds the worker-side half from the spec the host's `prepare` returned.
 * Runs inside the device worker. Throws PT_ERR_INVALID_ARGUMENT for an unknown backend.
 */
export async function createWorkerBackend(spec: WorkerBackendSpec): Promise<WorkerBackend> {
  switch (spec.backend) {
    case 'sim': {
      const { createSimWorkerBackend } = await import('./sim.js');
      return createSimWorkerBackend(spec);
    }
    case 'linux': {
      const { createLinuxWorkerBackend } = await import('../linux/index.js');
      return createLinuxWorkerBackend(spec);
    }
    case 'iokit':
      return createIokitWorkerBackend(spec);
    default:
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown backend "${String(spec.backend)}"`, {
        backend: spec.backend,
      });
  }
}

// ---------------------------------------------------------------------------
// iokit: the real dext through IOKit (macOS). On other platforms it is
// unsupported unless a test passes `libraries` pointing at the C stand-in.

/** iokit options. */
interface IokitOptions {
  /** @internal Test hook: library paths of an IOKit stand-in (lets the backend run off macOS). */
  libraries?: import('../iokit/bindings.js').IokitLibraryPaths;
}

function iokitUsable(options: IokitOptions): boolean {
  return process.platform === 'darwin' || options.libraries !== undefined;
}

function platformError(): PassthroughError {
  return new PassthroughError('PT_ERR_PLATFORM', 'the iokit backend is macOS-only', { platform: process.platform });
}

async function iokitDriver(options: IokitOptions) {
  const { createIokitDextDriver } = await import('../iokit/iokit-dext-client.js');
  return createIokitDextDriver(options.libraries === undefined ? undefined : { libraries: options.libraries });
}

async function createIokitBackendHost(raw: Record<string, unknown>): Promise<BackendHost> {
  const options = raw as IokitOptions;
  const usable = iokitUsable(options);
  let driverPromise: ReturnType<typeof iokitDriver> | undefined;
  const driver = () => {
    if (!usable) throw platformError();
    driverPromise ??= iokitDriver(options);
    return driverPromise;
  };
  const withClient = async <T>(text: string, fn: (c: import('../iokit/contract.js').DextClient) => T): Promise<T> => {
    const d = await driver();
    const client = d.connect(toBdf(text));
    try {
      return fn(client);
    } finally {
      client.close();
    }
  };
  return {
    name: 'iokit',
    async listFunctions(): Promise<FunctionSummary[]> {
      if (!usable) return [];
      return (await driver()).listServices().map((s: import('../iokit/contract.js').DextService) => ({
        bdf: s.bdf,
        vendorId: s.identity.vendorId,
        deviceId: s.identity.deviceId,
        classCode: s.identity.classCode,
        driver: 'VFIOUserPCIDriver',
        attachable: true,
        details: {},
      }));
    },
    async status(): Promise<BackendStatus> {
      if (!usable) {
        return {
          backend: 'iokit',
          ready: false,
          state: 'unsupported-platform',
          details: [`the iokit backend is macOS-only (this is ${process.platform})`],
        };
      }
      try {
        const n = (await driver()).listServices().length;
        return { backend: 'iokit', ready: true, state: 'active', details: [`${n} dext-bound function(s)`] };
      } catch (e) {
        const err = e instanceof Error ? e.message : String(e);
        return { backend: 'iokit', ready: false, state: 'not-installed', details: [err] };
      }
    },
    async readConfig(text: string): Promise<Uint8Array> {
      return withClient(text, dextConfigDump);
    },
    async regions(text: string): Promise<RegionSummary[]> {
      return withClient(text, dextRegions);
    },
    async prepare(text: string): Promise<WorkerBackendSpec> {
      if (!usable) throw platformError();
      const bdf = toBdf(text);
      return { backend: 'iokit', options: { bdf, ...(options.libraries === undefined ? {} : { libraries: options.libraries }) } };
    },
    release(): void {},
    async close(): Promise<void> {},
  };
}

async function createIokitWorkerBackend(spec: WorkerBackendSpec): Promise<WorkerBackend> {
  const options = spec.options as unknown as IokitOptions & { bdf: string };
  if (!iokitUsable(options)) throw platformError();
  const [{ createAppleContainer }, { ConnectionTable }, { loadKoffiForIokit }, { iokitPumpDescriptor }] = await Promise.all([
    import('../iokit/apple-iommu-ops.js'),
    import('../iokit/connection-table.js'),
    import('../iokit/bindings.js'),
    import('../iokit/iokit-pump-source.js'),
  ]);
  const driver = await iokitDriver(options);
  const container = createAppleContainer({ driver, table: new ConnectionTable() });
  const bdf = toBdf(options.bdf);
  const exposures = nativeExposures((view) => loadKoffiForIokit().address(view));
  return {
    name: 'iokit',
    container,
    // BARs are device memory: each thread rebuilds a view from the address (koffi.view).
    viewFactoryModule: new URL('../iokit/native-view.js', import.meta.url).href,
    exposeHostMemory: exposures.expose,
    unexposeHostMemory: exposures.unexpose,
    // Interrupts wait in a dedicated pump thread (mach_msg on its own port,
    // attached to this device's connection): the device's own source is
    // handed off first, so only the thread arms the dext's one completion.
    irqPumpDescriptor(attached: AttachedDevice): IrqPumpDescriptor | undefined {
      const device = container.device;
      const client = container.client as { connection?: unknown } | undefined;
      const source = attached.interrupts as Partial<import('../iokit/apple-interrupt-source.js').AppleInterruptSource>;
      if (device === undefined || device.bdf !== attached.bdf || typeof source.handOff !== 'function' || typeof client?.connection !== 'number') {
        throw new PassthroughError('PT_ERR_INTERNAL', 'an iokit device without an apple interrupt source and connection', { bdf: attached.bdf });
      }
      const desc = iokitPumpDescriptor(
        device.state,
        source as import('../iokit/apple-interrupt-source.js').AppleInterruptSource,
        client.connection,
        options.libraries,
      );
      return desc === undefined ? undefined : { backend: 'iokit', options: { ...desc } };
    },
    close(): void {
      container.detachDevice(bdf);
    },
  };
}
