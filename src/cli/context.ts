/**
 * What every command gets: the global options, the output helpers, and a
 * way to open the selected backend (closed again when the command ends).
 */
import { createBackendHost } from '../backends/index.js';
import type { BackendHost, BackendName } from '../vfio/backend.js';
import { PassthroughError } from '../errors.js';
import { toBdf, type Bdf } from '../types.js';
import { usageError } from './exit-codes.js';
import type { CliOutput } from './io.js';

/** Options that apply to every command. */
export interface GlobalOptions {
  /** Backend (default sim). */
  backend: BackendName;
  /** Sim machine description file (sim only). */
  machine: string | undefined;
  /** One JSON document on stdout. */
  json: boolean;
  /** --color (true) / --no-color (false) / neither (undefined). */
  color: boolean | undefined;
}

/** The context a command runs in. */
export interface CommandContext {
  readonly options: GlobalOptions;
  readonly output: CliOutput;
  /** Opens the backend, runs `fn`, closes the backend. */
  withBackend<T>(fn: (host: BackendHost) => Promise<T>): Promise<T>;
  /** Backend options for createSupervisor / createBackendHost (sim: the machine path). */
  backendOptions(): Record<string, unknown>;
}

/** Builds the context. Throws a usage error for `--machine` with a non-sim backend. */
export function createCommandContext(options: GlobalOptions, output: CliOutput): CommandContext {
  if (options.machine !== undefined && options.backend !== 'sim') {
    throw usageError(`--machine applies to the sim backend only (backend is ${options.backend})`, {
      backend: options.backend,
    });
  }
  const backendOptions = (): Record<string, unknown> => (options.machine === undefined ? {} : { machine: options.machine });
  return {
    options,
    output,
    backendOptions,
    async withBackend<T>(fn: (host: BackendHost) => Promise<T>): Promise<T> {
      if (options.backend === 'iokit' && process.platform !== 'darwin') throw iokitPlatformError();
      const host = await createBackendHost(options.backend, backendOptions());
      try {
        return await fn(host);
      } finally {
        await host.close();
      }
    },
  };
}

/** Parses a BDF argument (`BB:DD.F` or `DDDD:BB:DD.F`); PT_ERR_INVALID_BDF (exit 2) otherwise. */
export function bdfArgument(text: string): Bdf {
  return toBdf(text);
}

/** PT_ERR_PLATFORM (exit 3): the iokit backend needs macOS. */
export function iokitPlatformError(platform: string = process.platform): PassthroughError {
  return new PassthroughError('PT_ERR_PLATFORM', `the dext backend is macOS-only (this is ${platform}); use --backend sim or --backend linux`, {
    backend: 'iokit',
    platform,
  });
}
