/**
 * The `sim` backend: simulated dext functions (src/sim) behind the real apple
 * container and ops (src/apple), so every line of the seed's logic
 * runs on any OS.
 *
 * Where the simulated hardware lives: **with its device worker.** The host
 * half builds its own SimDext only to enumerate and to read config space
 * without claiming; each device worker builds a SimDext holding just its one
 * function (`functions: [bdf]`). Consequences:
 * - a worker crash power-cycles its simulated function (registers, pending
 *   interrupts, DMA registrations start over in the restarted worker), as a
 *   real device would after a reset;
 * - the functions of one slot (`…:03:00.0` / `.1`) are separate simulated
 *   functions in separate workers; the sim shares nothing between them. What
 *   must be shared across functions (the ownership table) is shared through
 *   the supervisor, not the sim.
 *
 * Test-only fault injection: `backendOptions.faults` is applied by the worker
 * half when it builds its SimDext, before anything connects, so a fault can
 * hit any attach step (Claim, SetupInterrupts, GetBARInfo, a BAR map).
 */
import { argumentValue, PassthroughError } from '../errors.js';
import { createAppleContainer } from '../apple/container.js';
import { ConnectionTable } from '../apple/connection-table.js';
import { dmaRoutingOf, type DextWorkerBackend } from '../apple/backend.js';
import { IOReturn, Selector, type DmaLimits } from '../dext/contract.js';
import { createSimDext, DEFAULT_SIM_MACHINE, loadSimMachine, parseSimMachine } from './index.js';
import type { SimDext, SimMachineDescription } from './index.js';
import { parseBdf, shortBdf, toBdf, type Bdf, type HostVa } from '../types.js';
import { dextConfigDump, dextRegions } from '../dext/summary.js';
import type {
  BackendHost,
  BackendStatus,
  FunctionSummary,
  RegionSummary,
  WorkerBackendSpec,
} from '../vfio/backend.js';

/** A selector failure injected at worker creation (test hook). */
export interface SimSelectorFault {
  /** Function it applies to, or `*`. */
  bdf: string;
  /** Selector number or name (`Claim`, `SetupInterrupts`, `GetBARInfo`…). */
  selector: number | keyof typeof Selector;
  /** The IOReturn to answer (unsigned). */
  kernReturn: number;
  /** Fail this many calls, then succeed (default: every call). */
  count?: number;
}

/** A map failure injected at worker creation (test hook): IOConnectMapMemory64 of `type` fails. */
export interface SimMapFault {
  bdf: string;
  /** Memory type (1 + bar for a BAR, 7 for the IRQ page). */
  type: number;
  kernReturn: number;
  count?: number;
}

/** Options of the sim backend (`createSupervisor({ backend: 'sim', machine, backendOptions })`). */
export interface SimBackendOptions {
  /** The machine: a description, a JSON file path, or undefined for DEFAULT_SIM_MACHINE. */
  machine?: SimMachineDescription | string;
  /** @internal Test hook: selector failures applied in each worker at creation. */
  faults?: SimSelectorFault[];
  /** @internal Test hook: map failures applied in each worker at creation. */
  mapFaults?: SimMapFault[];
  /** Passed to createSimDext. */
  timing?: Record<string, number>;
  /**
   * @internal Test hook: the dext's DMA limits in each worker (createSimDext's
   * dmaLimits); the container registers DMA in pieces of `chunkBytes`.
   */
  dmaLimits?: Partial<DmaLimits>;
}

/** PT_ERR_INVALID_ARGUMENT for sim backend options of the wrong shape (checked at creation, not at the first attach). */
function checkSimOptions(options: SimBackendOptions): void {
  const bad = (name: string, value: unknown, what: string): PassthroughError =>
    new PassthroughError('PT_ERR_INVALID_ARGUMENT', `options.backendOptions.${name} must be ${what}`, { option: `backendOptions.${name}`, param: name, value: argumentValue(value) });
  if (options === null || typeof options !== 'object') throw bad('', options, 'an object');
  for (const name of ['faults', 'mapFaults'] as const) {
    const list = options[name];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw bad(name, list, 'an array of fault rules');
    for (const f of list as unknown[]) {
      const r = f as Record<string, unknown> | null;
      if (r === null || typeof r !== 'object' || typeof r.bdf !== 'string' || typeof r.kernReturn !== 'number' || (r.count !== undefined && !(Number.isSafeInteger(r.count) && (r.count as number) >= 0))) {
        throw bad(name, f, 'an array of { bdf, kernReturn, count? } fault rules');
      }
    }
  }
  if (options.timing !== undefined && (options.timing === null || typeof options.timing !== 'object')) throw bad('timing', options.timing, 'an object');
  if (options.dmaLimits !== undefined && (options.dmaLimits === null || typeof options.dmaLimits !== 'object')) throw bad('dmaLimits', options.dmaLimits, 'an object');
}

function resolveMachine(machine: SimMachineDescription | string | undefined): SimMachineDescription {
  if (machine === undefined) return DEFAULT_SIM_MACHINE;
  if (typeof machine === 'string') return loadSimMachine(machine);
  return parseSimMachine(machine);
}

function selectorNumber(s: number | string): number {
  if (typeof s === 'number') return s;
  const n = (Selector as Record<string, number>)[s];
  if (n === undefined) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown dext selector "${s}"`, { selectorName: s });
  }
  return n;
}

function matches(faultBdf: string, bdf: Bdf): boolean {
  return faultBdf === '*' || toBdf(faultBdf) === bdf;
}

/** The host half of the sim backend. */
export function createSimBackendHost(options: SimBackendOptions = {}): BackendHost {
  checkSimOptions(options);
  const machine = resolveMachine(options.machine);
  // Enumeration-only hardware: nobody claims through it.
  const sim = createSimDext(machine, options.timing === undefined ? {} : { timing: options.timing });
  const prepared = new Set<Bdf>();
  let closed = false;

  const find = (text: string): Bdf => {
    const bdf = toBdf(text);
    if (!sim.listServices().some((s) => s.bdf === bdf)) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `no simulated function at ${bdf}`, { bdf });
    }
    return bdf;
  };

  return {
    name: 'sim',
    async listFunctions(): Promise<FunctionSummary[]> {
      return sim.listServices().map((s) => {
        const details: Record<string, string | number | boolean> = {};
        const kind = (sim.model(s.bdf) as { kind?: unknown } | undefined)?.kind;
        if (typeof kind === 'string') details.model = kind;
        return {
          bdf: s.bdf,
          vendorId: s.identity.vendorId,
          deviceId: s.identity.deviceId,
          classCode: s.identity.classCode,
          driver: 'sim',
          attachable: true,
          details,
        };
      });
    },
    async status(): Promise<BackendStatus> {
      const n = sim.listServices().length;
      return {
        backend: 'sim',
        ready: !closed,
        state: closed ? 'closed' : 'active',
        details: [`simulated dext with ${n} function${n === 1 ? '' : 's'}`],
      };
    },
    async readConfig(text: string): Promise<Uint8Array> {
      const client = sim.connect(find(text));
      try {
        return dextConfigDump(client);
      } finally {
        client.close();
      }
    },
    async regions(text: string): Promise<RegionSummary[]> {
      const client = sim.connect(find(text));
      try {
        return dextRegions(client);
      } finally {
        client.close();
      }
    },
    async prepare(text: string): Promise<WorkerBackendSpec> {
      if (closed) throw new PassthroughError('PT_ERR_CLOSED', 'sim backend is closed', { bdf: text });
      const bdf = toBdf(text);
      if (!sim.listServices().some((s) => s.bdf === bdf)) {
        // Where the original fails for a function no dext serves: at connect, with its text.
        throw new PassthroughError('PT_ERR_CONNECT_FAILED', `vfio-apple: could not connect to dext for host PCI ${shortBdf(parseBdf(bdf))}`, {
          bdf,
          kernReturn: IOReturn.NotFound,
        });
      }
      prepared.add(bdf);
      return {
        backend: 'sim',
        options: {
          bdf,
          machine,
          faults: (options.faults ?? []).filter((f) => matches(f.bdf, bdf)),
          mapFaults: (options.mapFaults ?? []).filter((f) => matches(f.bdf, bdf)),
          ...(options.timing === undefined ? {} : { timing: options.timing }),
          ...(options.dmaLimits === undefined ? {} : { dmaLimits: options.dmaLimits }),
        },
      };
    },
    release(text: string): void {
      prepared.delete(toBdf(text));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      prepared.clear();
      sim.close();
    },
  };
}

/** The worker half of the sim backend, with the simulated dext exposed for test hooks. */
export interface SimWorkerBackend extends DextWorkerBackend {
  readonly name: 'sim';
  /** The function's simulated dext (faults, model, idle). */
  readonly sim: SimDext;
  /** The function this worker simulates. */
  readonly bdf: Bdf;
}

/** Builds the worker half from the spec the host's prepare() returned. */
export function createSimWorkerBackend(spec: WorkerBackendSpec): SimWorkerBackend {
  const o = spec.options as {
    bdf: string;
    machine: SimMachineDescription;
    faults?: SimSelectorFault[];
    mapFaults?: SimMapFault[];
    timing?: Record<string, number>;
    dmaLimits?: Partial<DmaLimits>;
  };
  const bdf = toBdf(o.bdf);
  const slotResetListeners: (() => void)[] = [];
  const sim = createSimDext(o.machine, {
    functions: [bdf],
    ...(o.timing === undefined ? {} : { timing: o.timing }),
    ...(o.dmaLimits === undefined ? {} : { dmaLimits: o.dmaLimits }),
    // The slot's other functions are simulated in their own workers: tell the supervisor.
    onSlotReset: () => {
      for (const l of slotResetListeners) l();
    },
  });
  for (const f of o.faults ?? []) {
    sim.faults.failSelector(bdf, selectorNumber(f.selector), f.kernReturn, f.count === undefined ? {} : { count: f.count });
  }
  for (const f of o.mapFaults ?? []) {
    sim.faults.failMap(bdf, f.type, f.kernReturn, f.count === undefined ? {} : { count: f.count });
  }
  const table = new ConnectionTable();
  const container = createAppleContainer({
    driver: sim,
    table,
    dmaRouting: dmaRoutingOf(spec.options),
    ...(o.dmaLimits?.chunkBytes === undefined ? {} : { dmaChunkBytes: o.dmaLimits.chunkBytes }),
  });
  return {
    name: 'sim',
    sim,
    bdf,
    table,
    driver: sim,
    container,
    onSlotReset(listener: () => void): void {
      slotResetListeners.push(listener);
    },
    applySlotReset(): void {
      sim.model(bdf).reset('hot');
    },
    viewFactoryModule: undefined,
    exposeHostMemory(buffer: SharedArrayBuffer, offsetBytes: number, lengthBytes: number): HostVa {
      return sim.hostMemory.expose(buffer, { offsetBytes, lengthBytes });
    },
    unexposeHostMemory(va: HostVa): void {
      sim.hostMemory.unexpose(va);
    },
    close(): void {
      container.detachDevice(bdf);
      sim.close();
    },
  };
}
