/**
 * createSimDext: an in-process VFIOUserPCIDriver. One dext instance per
 * simulated function (one `IOUserService`), any number of user clients per
 * function, enumeration and connect matched by the full
 * domain:bus:device.function, fault injection, a simulated host address
 * space for DMA, and introspection of each function's model and dext state.
 */
import { PassthroughError } from '../errors.js';
import { DEFAULT_DMA_LIMITS, IOReturn, type DextConnectOptions, type DextDriver, type DextService, type DmaLimits } from '../dext/contract.js';
import { parseBdf, shortBdf, toBdf, type Bdf } from '../types.js';
import { SimDextClientImpl, type SimDextContext } from './client.js';
import { SimFaultsImpl, type SimFaults } from './faults.js';
import { SimFunctionImpl, type SimFunction } from './function.js';
import { SimHostMemoryImpl, type SimHostMemory } from './host-memory.js';
import { DEFAULT_SIM_MACHINE, parseSimMachine, type SimFunctionDescription, type SimMachineDescription } from './machine.js';
import { DualModel } from './models/dual.js';
import { EduModel } from './models/edu.js';
import { MsixModel } from './models/msix.js';
import { ReplayModel } from './models/replay.js';
import type { DeviceModel } from './models/types.js';
import { SimScheduler } from './scheduler.js';

/** Options of {@link createSimDext}. */
export interface SimDextOptions {
  /** Overrides of the real limits, so tests reach the slot and chunk limits fast. */
  dmaLimits?: Partial<DmaLimits>;
  /** Instantiate only these functions of the machine (a device worker builds only its own). */
  functions?: string[];
  /** Device work (factorial, DMA) completes this much later, on timers (default 0: the next timer tick). */
  timing?: { factorialDelayMs?: number; dmaDelayMs?: number };
  /**
   * Called after a ResetDevice fell back to a hot reset, which resets every
   * function of the slot: the functions this dext did not instantiate (a
   * device worker builds only its own) are reset by whoever listens.
   */
  onSlotReset?: (bdf: Bdf) => void;
}

/** The simulated dext: a {@link DextDriver} plus test controls. */
export interface SimDext extends DextDriver {
  /** Fault injection. */
  readonly faults: SimFaults;
  /** The simulated host address space RegisterDMARegion's clientVA refers to. */
  readonly hostMemory: SimHostMemory;
  /** The function's device model and dext state. Throws PT_ERR_NOT_FOUND for an unknown BDF. */
  model(bdf: string): SimFunction;
  /** Resolves once no device-model work (factorial, DMA) is pending. */
  idle(): Promise<void>;
  /** Cancels timers and closes every client. Idempotent. */
  close(): void;
}

/**
 * The host root every simulated function hangs under (the sim tells
 * functions apart by their domain, so a BDF never repeats under two roots).
 */
export const SIM_HOST_ROOT = 'sim';

/** Host physical windows the sim assigns BAR addresses from, per function index. */
const BAR32_BASE = 0xc000_0000n;
const BAR32_STRIDE = 0x0100_0000n;
const BAR64_BASE = 0x80_0000_0000n;
const BAR64_STRIDE = 0x1_0000_0000n;
/**
 * Small 64-bit BARs go below 4 GiB (upper dword 0), as firmware often places
 * them: `lspci -F` cannot tell a dump's upper half from a BAR of its own and
 * would print it as a bogus extra region.
 */
const BAR64_LOW_BASE = 0xe000_0000n;
const BAR64_LOW_MAX_BYTES = 8n * 1024n * 1024n;

function createModel(desc: SimFunctionDescription): DeviceModel {
  switch (desc.model) {
    case 'edu':
      return new EduModel(desc.options);
    case 'msix':
      return new MsixModel(desc.options);
    case 'dual':
      return new DualModel(desc.bdf, desc.options);
    case 'replay':
      return new ReplayModel(desc.options.dump!, desc.options);
  }
}

/** Assigns each BAR a size-aligned address in the function's 32-bit or 64-bit window. */
function barAddresses(model: DeviceModel, index: number): (bar: number) => bigint {
  const out = new Map<number, bigint>();
  let next32 = BAR32_BASE + BigInt(index) * BAR32_STRIDE;
  let next64 = BAR64_BASE + BigInt(index) * BAR64_STRIDE;
  let next64Low = BAR64_LOW_BASE + BigInt(index) * BAR32_STRIDE;
  for (const b of model.bars) {
    const size = BigInt(b.sizeBytes);
    const high = (b.type & 0x4) !== 0 && size > BAR64_LOW_MAX_BYTES;
    const low64 = (b.type & 0x4) !== 0 && !high;
    let at = high ? next64 : low64 ? next64Low : next32;
    at = ((at + size - 1n) / size) * size;
    out.set(b.index, at);
    if (high) next64 = at + size;
    else if (low64) next64Low = at + size;
    else next32 = at + size;
  }
  return (bar) => out.get(bar) ?? 0n;
}

/**
 * Builds a simulated dext over `machine` (default {@link DEFAULT_SIM_MACHINE}).
 * Throws PT_ERR_INVALID_ARGUMENT for a bad machine or an unknown BDF in
 * `options.functions`.
 */
export function createSimDext(machine: SimMachineDescription = DEFAULT_SIM_MACHINE, options: SimDextOptions = {}): SimDext {
  const desc = parseSimMachine(machine);
  const limits: DmaLimits = { ...DEFAULT_DMA_LIMITS, ...options.dmaLimits };
  const timing = { factorialDelayMs: options.timing?.factorialDelayMs ?? 0, dmaDelayMs: options.timing?.dmaDelayMs ?? 0 };
  const wanted: string[] | undefined = options.functions?.map((b) => toBdf(b));
  for (const w of wanted ?? []) {
    if (!desc.functions.some((f) => f.bdf === w)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `createSimDext: options.functions: ${w} is not in the machine`, { bdf: w });
    }
  }
  const scheduler = new SimScheduler();
  const functions = new Map<string, SimFunctionImpl>();
  const slotOf = (bdf: string) => {
    const p = parseBdf(bdf);
    return `${p.domain}:${p.bus}:${p.device}`;
  };
  desc.functions.forEach((f, index) => {
    if (wanted !== undefined && !wanted.includes(f.bdf)) return;
    const model = createModel(f);
    const multiFunction = desc.functions.some((g) => g !== f && slotOf(g.bdf) === slotOf(f.bdf));
    functions.set(
      f.bdf,
      new SimFunctionImpl({ bdf: f.bdf as Bdf, model, barAddress: barAddresses(model, index), scheduler, timing, multiFunction }),
    );
  });

  const clients = new Set<SimDextClientImpl>();
  const hostMemory = new SimHostMemoryImpl();
  const faults = new SimFaultsImpl((bdf) => lookup(bdf).fallOff());
  const ctx: SimDextContext = {
    hostMemory,
    faults,
    dmaLimits: limits,
    slotFunctions: (bdf: string) => [...functions.values()].filter((f) => slotOf(f.bdf) === slotOf(bdf)),
    slotReset: (bdf: Bdf) => options.onSlotReset?.(bdf),
    forget: (c) => clients.delete(c),
  };

  function lookup(bdf: string): SimFunctionImpl {
    const fn = functions.get(toBdf(bdf));
    if (fn === undefined) throw new PassthroughError('PT_ERR_NOT_FOUND', `no simulated function ${bdf}`, { bdf });
    return fn;
  }

  return {
    faults,
    hostMemory,
    listServices(): DextService[] {
      return [...functions.values()].filter((f) => !f.terminated).map((f) => ({ bdf: f.bdf, identity: f.identity(), hostRoot: SIM_HOST_ROOT }));
    },
    connect(bdf: Bdf, options: DextConnectOptions = {}) {
      const canonical = toBdf(bdf);
      if (options.hostRoot !== undefined && options.hostRoot !== SIM_HOST_ROOT && functions.get(canonical)?.terminated === false) {
        throw new PassthroughError(
          'PT_ERR_CONNECT_FAILED',
          `no VFIOUserPCIDriver instance for ${shortBdf(parseBdf(canonical))} under root '${options.hostRoot}' (found under: ${SIM_HOST_ROOT})`,
          { bdf: canonical, hostRoot: options.hostRoot, hostRoots: [SIM_HOST_ROOT] },
        );
      }
      const fn = functions.get(canonical);
      if (fn === undefined || fn.terminated) {
        throw new PassthroughError('PT_ERR_CONNECT_FAILED', `no VFIOUserPCIDriver service for ${canonical}`, {
          bdf: canonical,
          kernReturn: IOReturn.NotFound,
        });
      }
      const client = new SimDextClientImpl(fn, ctx);
      clients.add(client);
      return client;
    },
    model: lookup,
    idle: () => scheduler.idle(),
    close(): void {
      for (const c of [...clients]) c.close();
      scheduler.close();
    },
  };
}
