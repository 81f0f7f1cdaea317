/**
 * The `iokit` backend's two halves: the real dext through IOKit (macOS),
 * with the seed's container and ops (src/apple) over the koffi-bound
 * DextClient. On other platforms it is unsupported unless a test passes
 * `libraries` pointing at the C stand-in of IOKit.
 */
import { PassthroughError } from '../errors.js';
import { toBdf } from '../types.js';
import { dextConfigDump, dextRegions } from '../dext/summary.js';
import type { DextClient, DextService } from '../dext/contract.js';
import type { AttachedDevice } from '../vfio/iommu-ops.js';
import type { BackendHost, BackendStatus, FunctionSummary, IrqPumpDescriptor, RegionSummary, WorkerBackendSpec } from '../vfio/backend.js';
import { dmaRoutingOf, type DextWorkerBackend } from '../apple/backend.js';
import { nativeExposures } from '../vfio/native-exposure.js';
import type { IokitLibraryPaths } from './bindings.js';


/** iokit options (`createSupervisor({ backend: 'iokit', backendOptions })`). */
export interface IokitBackendOptions {
  /** @internal Test hook: library paths of an IOKit stand-in (lets the backend run off macOS). */
  libraries?: IokitLibraryPaths;
  /**
   * The host root to open, by function (`{ '0000:04:00.0': 'pcic1-bridge' }`),
   * for a BDF that repeats under several host roots: the later original's
   * `host-root=`. Without an entry such a BDF is refused, naming the roots.
   */
  hostRoots?: Record<string, string>;
}
type IokitOptions = IokitBackendOptions;

/** The host root configured for `bdf`, if any (keys may be written in any accepted BDF spelling). */
function hostRootFor(options: IokitOptions, bdf: string): string | undefined {
  for (const [k, v] of Object.entries(options.hostRoots ?? {})) if (toBdf(k) === bdf) return v;
  return undefined;
}

function iokitUsable(options: IokitOptions): boolean {
  return process.platform === 'darwin' || options.libraries !== undefined;
}

function platformError(): PassthroughError {
  return new PassthroughError('PT_ERR_PLATFORM', 'the iokit backend is macOS-only', { platform: process.platform });
}

async function iokitDriver(options: IokitOptions) {
  const { createIokitDextDriver } = await import('./dext-client.js');
  return createIokitDextDriver(options.libraries === undefined ? undefined : { libraries: options.libraries });
}

/** Builds the iokit host half (enumeration through the dext; unsupported off macOS unless `libraries` is set). */
export async function createIokitBackendHost(raw: Record<string, unknown>): Promise<BackendHost> {
  const options = raw as IokitOptions;
  const usable = iokitUsable(options);
  let driverPromise: ReturnType<typeof iokitDriver> | undefined;
  const driver = () => {
    if (!usable) throw platformError();
    driverPromise ??= iokitDriver(options);
    return driverPromise;
  };
  const withClient = async <T>(text: string, fn: (c: DextClient) => T): Promise<T> => {
    const d = await driver();
    const bdf = toBdf(text);
    const hostRoot = hostRootFor(options, bdf);
    const client = d.connect(bdf, hostRoot === undefined ? {} : { hostRoot });
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
      return (await driver()).listServices().map((s: DextService) => ({
        bdf: s.bdf,
        vendorId: s.identity.vendorId,
        deviceId: s.identity.deviceId,
        classCode: s.identity.classCode,
        driver: 'VFIOUserPCIDriver',
        attachable: true,
        details: (s.hostRoot === undefined ? {} : { root: s.hostRoot }) as Record<string, string>,
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
      const hostRoot = hostRootFor(options, bdf);
      return {
        backend: 'iokit',
        options: {
          bdf,
          ...(options.libraries === undefined ? {} : { libraries: options.libraries }),
          ...(hostRoot === undefined ? {} : { hostRoot }),
        },
      };
    },
    release(): void {},
    async close(): Promise<void> {},
  };
}

/** Builds the iokit worker half (a DextWorkerBackend) from the spec the host's prepare() returned. */
export async function createIokitWorkerBackend(spec: WorkerBackendSpec): Promise<DextWorkerBackend> {
  const options = spec.options as unknown as IokitOptions & { bdf: string; hostRoot?: string };
  if (!iokitUsable(options)) throw platformError();
  const [{ createAppleContainer }, { ConnectionTable }, { loadKoffiForIokit }, { iokitPumpDescriptor }] = await Promise.all([
    import('../apple/container.js'),
    import('../apple/connection-table.js'),
    import('./bindings.js'),
    import('./pump-source.js'),
  ]);
  const driver = await iokitDriver(options);
  const table = new ConnectionTable();
  const container = createAppleContainer({
    driver,
    table,
    dmaRouting: dmaRoutingOf(spec.options),
    ...(options.hostRoot === undefined ? {} : { hostRoot: options.hostRoot }),
  });
  const bdf = toBdf(options.bdf);
  const exposures = nativeExposures((view) => loadKoffiForIokit().address(view));
  return {
    name: 'iokit',
    container,
    driver,
    table,
    // BARs are device memory: each thread rebuilds a view from the address (koffi.view).
    viewFactoryModule: new URL('./native-view.js', import.meta.url).href,
    exposeHostMemory: exposures.expose,
    unexposeHostMemory: exposures.unexpose,
    // Interrupts wait in a dedicated pump thread (mach_msg on its own port,
    // attached to this device's connection): the device's own source is
    // handed off first, so only the thread arms the dext's one completion.
    irqPumpDescriptor(attached: AttachedDevice): IrqPumpDescriptor | undefined {
      const device = container.device;
      const client = container.client as { connection?: unknown } | undefined;
      const source = attached.interrupts as Partial<import('../apple/interrupt-source.js').AppleInterruptSource>;
      if (device === undefined || device.bdf !== attached.bdf || typeof source.handOff !== 'function' || typeof client?.connection !== 'number') {
        throw new PassthroughError('PT_ERR_INTERNAL', 'an iokit device without an apple interrupt source and connection', { bdf: attached.bdf });
      }
      const desc = iokitPumpDescriptor(
        device.state,
        source as import('../apple/interrupt-source.js').AppleInterruptSource,
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
