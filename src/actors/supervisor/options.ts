/**
 * The supervisor's options and their validation: every public option is
 * checked once, here, and a bad one is refused with PT_ERR_INVALID_ARGUMENT
 * naming the option and the value (`options.callTimeoutMs must be …`).
 * Numbers are bounded, so nothing downstream overflows (a setTimeout past
 * 2^31-1 ms fires at once).
 */
import { BACKEND_NAMES, isBackendName } from '../../backends/index.js';
import { argumentValue, PassthroughError } from '../../errors.js';
import type { BackendName } from '../../vfio/backend.js';
import { kMaxTimeoutMs } from '../rpc.js';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from '../restart-policy.js';

/** Options of `createSupervisor`. */
export interface SupervisorOptions {
  /** Backend (default: `PCIPT_BACKEND` from the environment, else `sim`). */
  backend?: BackendName;
  /** Sim machine: a description object or a JSON file path (sim only; default DEFAULT_SIM_MACHINE). */
  machine?: object | string;
  /** Restart policy: at most `maxRestarts` (default 3, at most 1000) within `windowMs` (default 10000). */
  restart?: { maxRestarts?: number; windowMs?: number };
  /**
   * Deadline of every control call in ms (default 5000). It follows progress:
   * a long call (an attach) fails only after this long without a step reported.
   */
  callTimeoutMs?: number;
  /** Backend-specific options (sim test hooks `faults`/`mapFaults`; iokit `libraries`, `hostRoot`; linux: see src/linux). */
  backendOptions?: Record<string, unknown>;
  /** Booted idle workers kept ready for attach (default 0, at most 256). */
  warmWorkers?: number;
  /** Forward every worker trace point to this thread (default false: actor transitions/errors only). */
  traceWorkers?: boolean;
  /**
   * Period in ms of each worker's presence check (reads the vendor id; 0xffff
   * = fell off the bus → device faulted with PT_ERR_DEVICE_GONE). Default 1000; 0 turns it off.
   */
  presenceCheckMs?: number;
}

/** The options after validation, with every default filled in. */
export interface ResolvedOptions {
  backend: BackendName;
  machine: object | string | undefined;
  policy: RestartPolicy;
  callTimeoutMs: number;
  backendOptions: Record<string, unknown>;
  warmWorkers: number;
  traceWorkers: boolean;
  presenceCheckMs: number;
  /** Deadline of each synchronous fast-path call (ConfigPort, slow path): min(callTimeoutMs, 2000), ≥ 100. */
  syncTimeoutMs: number;
  /** How long teardown waits for BAR holders to let go: callTimeoutMs / 8, ≥ 50. */
  unmapTimeoutMs: number;
}

/** PT_ERR_INVALID_ARGUMENT for `options.<name>`, with its value in the context. */
export function badOption(name: string, value: unknown, what: string): PassthroughError {
  return new PassthroughError('PT_ERR_INVALID_ARGUMENT', `options.${name} must be ${what}`, { option: name, param: name, value: argumentValue(value) });
}

function plainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function number(name: string, v: unknown, def: number, ok: (n: number) => boolean, what: string): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !ok(v)) throw badOption(name, v, what);
  return v;
}

/**
 * Validates `options` and fills in the defaults. `env` supplies
 * `PCIPT_BACKEND` when `options.backend` is absent.
 * Throws PT_ERR_INVALID_ARGUMENT naming the option and its value.
 */
export function resolveOptions(options: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (options === undefined) options = {};
  if (!plainObject(options)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'createSupervisor: options must be an object', { option: 'options', param: 'options', value: argumentValue(options) });
  }
  const o = options as SupervisorOptions;
  const envBackend = env.PCIPT_BACKEND === '' ? undefined : env.PCIPT_BACKEND;
  const backend = o.backend ?? envBackend ?? 'sim';
  if (!isBackendName(backend)) {
    throw badOption(o.backend === undefined ? 'backend (from PCIPT_BACKEND)' : 'backend', backend, `one of ${BACKEND_NAMES.join(', ')}`);
  }
  if (o.machine !== undefined) {
    if (typeof o.machine !== 'string' && !plainObject(o.machine)) throw badOption('machine', o.machine, 'a machine description object or a JSON file path');
    if (backend !== 'sim') throw badOption('machine', o.machine, "used with backend 'sim' only");
  }
  const callTimeoutMs = number('callTimeoutMs', o.callTimeoutMs, 5000, (n) => Number.isFinite(n) && n > 0 && n * 6 <= kMaxTimeoutMs, `a number in (0, ${Math.floor(kMaxTimeoutMs / 6)}]`);
  const r = o.restart === undefined ? {} : o.restart;
  if (!plainObject(r)) throw badOption('restart', r, 'an object');
  const maxRestarts = number('restart.maxRestarts', r.maxRestarts, DEFAULT_RESTART_POLICY.maxRestarts, (n) => Number.isInteger(n) && n >= 0 && n <= 1000, 'an integer 0–1000');
  const windowMs = number('restart.windowMs', r.windowMs, DEFAULT_RESTART_POLICY.windowMs, (n) => Number.isFinite(n) && n > 0 && n <= kMaxTimeoutMs, `a number in (0, ${kMaxTimeoutMs}]`);
  const warmWorkers = number('warmWorkers', o.warmWorkers, 0, (n) => Number.isInteger(n) && n >= 0 && n <= 256, 'an integer 0–256');
  if (o.backendOptions !== undefined && !plainObject(o.backendOptions)) throw badOption('backendOptions', o.backendOptions, 'an object');
  if (o.traceWorkers !== undefined && typeof o.traceWorkers !== 'boolean') throw badOption('traceWorkers', o.traceWorkers, 'a boolean');
  const presenceCheckMs = number('presenceCheckMs', o.presenceCheckMs, 1000, (n) => Number.isFinite(n) && n >= 0 && n <= kMaxTimeoutMs, `a number in [0, ${kMaxTimeoutMs}]`);
  return {
    backend,
    machine: o.machine,
    policy: { maxRestarts, windowMs },
    callTimeoutMs,
    backendOptions: { ...(o.backendOptions ?? {}) },
    warmWorkers,
    traceWorkers: o.traceWorkers ?? false,
    presenceCheckMs,
    syncTimeoutMs: Math.max(100, Math.min(callTimeoutMs, 2000)),
    unmapTimeoutMs: Math.max(50, Math.floor(callTimeoutMs / 8)),
  };
}
