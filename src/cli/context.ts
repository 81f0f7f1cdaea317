/**
 * What every command gets: the global options, the output helpers, and ways
 * to open the selected backend or a supervisor on it (closed again by the
 * command). The sim machine file is read and validated here, once, so a bad
 * file is a usage error (exit 2) and a missing one is "not found" (exit 3)
 * whatever the command.
 */
import { createBackendHost } from '../backends/index.js';
import type { BackendHost, BackendName } from '../vfio/backend.js';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../actors/supervisor/supervisor.js';
import { PassthroughError } from '../errors.js';
import { loadSimMachine, type SimMachineDescription } from '../sim/index.js';
import { toBdf, type Bdf } from '../types.js';
import { asUsageError, usageError } from './exit-codes.js';
import type { CliOutput, ColorMode } from './io.js';
import { loadPciIds, type PciIds } from './pci-names.js';

/** Options that apply to every command. */
export interface GlobalOptions {
  /** Backend (`--backend`, else PCIPT_BACKEND, else sim). */
  backend: BackendName;
  /** Where the backend choice came from: `--backend`, PCIPT_BACKEND, or the default (sim). */
  backendSource: 'option' | 'env' | 'default';
  /** Sim machine description file (`--machine`, else PCIPT_MACHINE; sim only). */
  machine: string | undefined;
  /** One JSON document on stdout. */
  json: boolean;
  /** `--color[=WHEN]` / `--no-color`, undefined when the command line gave neither. */
  color: ColorMode | undefined;
}

/** Hooks a caller of the CLI can pass in (tests, `top` watching a workload). */
export interface ContextHooks {
  /** Called with every supervisor the command creates through {@link CommandContext.createSupervisor}. */
  onSupervisor?: (supervisor: Supervisor) => void;
}

/** The context a command runs in. */
export interface CommandContext {
  readonly options: GlobalOptions;
  readonly output: CliOutput;
  /** Opens the backend, runs `fn`, closes the backend. */
  withBackend<T>(fn: (host: BackendHost) => Promise<T>): Promise<T>;
  /** Backend options for createSupervisor / createBackendHost (sim: the parsed machine). */
  backendOptions(): Record<string, unknown>;
  /** pci.ids names (PCI_IDS, else the system's); a PCI_IDS that cannot be read is reported once on stderr. */
  names(): PciIds;
  /** Creates a supervisor on the selected backend (and machine), announced to the hooks. The caller closes it. */
  createSupervisor(options?: Omit<SupervisorOptions, 'backend' | 'machine'>): Promise<Supervisor>;
}

/**
 * Reads and validates a `--machine` file: a missing file is PT_ERR_NOT_FOUND
 * (exit 3); a file that is not a valid machine is a usage error (exit 2)
 * naming the offending path.
 */
export function loadMachineOption(path: string): SimMachineDescription {
  try {
    return loadSimMachine(path);
  } catch (e) {
    if (e instanceof PassthroughError && e.code === 'PT_ERR_INVALID_ARGUMENT') throw asUsageError(e.prepend('--machine', { path }));
    throw e;
  }
}

/** Builds the context. Throws a usage error for `--machine` with a non-sim backend, or a bad machine file. */
export function createCommandContext(options: GlobalOptions, output: CliOutput, hooks: ContextHooks = {}): CommandContext {
  if (options.machine !== undefined && options.backend !== 'sim') {
    throw usageError(`--machine applies to the sim backend only (backend is ${options.backend})`, {
      backend: options.backend,
    });
  }
  let machine: SimMachineDescription | undefined;
  const backendOptions = (): Record<string, unknown> => {
    if (options.machine === undefined) return {};
    machine ??= loadMachineOption(options.machine);
    return { machine };
  };
  let warned = false;
  return {
    options,
    output,
    backendOptions,
    names(): PciIds {
      const ids = loadPciIds(output.streams.env);
      if (ids.problem !== undefined && !warned) {
        warned = true;
        output.log(`pcipt: ${ids.problem}`);
      }
      return ids;
    },
    async withBackend<T>(fn: (host: BackendHost) => Promise<T>): Promise<T> {
      if (options.backend === 'iokit' && process.platform !== 'darwin') throw iokitPlatformError();
      const host = await createBackendHost(options.backend, backendOptions());
      try {
        return await fn(host);
      } finally {
        await host.close();
      }
    },
    async createSupervisor(extra = {}): Promise<Supervisor> {
      if (options.backend === 'iokit' && process.platform !== 'darwin') throw iokitPlatformError();
      const m = backendOptions().machine as SimMachineDescription | undefined;
      const sup = await createSupervisor({ ...extra, backend: options.backend, ...(m === undefined ? {} : { machine: m }) });
      hooks.onSupervisor?.(sup);
      return sup;
    },
  };
}

/** The global options a nested pcipt command line (trace's or top's workload) inherits. */
export function nestedGlobals(options: GlobalOptions): string[] {
  const globals = ['--backend', options.backend];
  if (options.machine !== undefined) globals.push('--machine', options.machine);
  if (options.color !== undefined) globals.push(`--color=${options.color}`);
  return globals;
}

/** Parses a BDF argument (`BB:DD.F` or `DDDD:BB:DD.F`); PT_ERR_INVALID_BDF (exit 2) otherwise. */
export function bdfArgument(text: string): Bdf {
  return toBdf(text);
}

/** PT_ERR_PLATFORM (exit 4): the iokit backend needs macOS. */
export function iokitPlatformError(platform: string = process.platform): PassthroughError {
  return new PassthroughError('PT_ERR_PLATFORM', `the dext backend is macOS-only (this is ${platform}); use --backend sim or --backend linux`, {
    backend: 'iokit',
    platform,
  });
}
