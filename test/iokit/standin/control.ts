/**
 * The stand-in's test-control exports (standin_* in iokit-standin.c).
 */
import { bindLibraryFunctions } from '../../../src/iokit/bindings.js';
import { buildStandin } from './build.js';

/** Registry/connection counters (standin_counts). */
export interface StandinCounts {
  registryRefs: number;
  connections: number;
  cfObjects: number;
  notificationPorts: number;
  maps: number;
  openedTotal: number;
  closedTotal: number;
}
/** Dext instance state (standin_device_state). */
export interface StandinDeviceState {
  providerClaimed: boolean;
  refs: number;
  /** Some connection has interrupts set up. */
  irqSetup: boolean;
  /** Some connection has a WaitInterrupt armed. */
  completionArmed: boolean;
  /** Connections with interrupts set up (interrupt state is per connection, as in the real dext). */
  irqConnections: number;
  /** Armed WaitInterrupt completions across the connections. */
  armedWaits: number;
  resets: number;
  command: number;
}

/** Pseudo-selectors of standin_set_fail. */
export const FailPoint = { Map: 64, Open: 65, ClaimOpen: 66 } as const;

/** Binds the control exports. */
export function standinControl() {
  const f = bindLibraryFunctions(buildStandin(), {
    raise: 'int standin_raise_interrupt(uint32_t bus, uint32_t vector)',
    setTwin: 'void standin_set_twin(int on)',
    setFail: 'void standin_set_fail(uint32_t selector, int kr)',
    setDmaLimits: 'void standin_set_dma_limits(uint32_t maxRegions, uint64_t chunkBytes, uint32_t maxChunks)',
    violations: 'uint32_t standin_violations()',
    lastViolation: 'const char *standin_last_violation()',
    counts: 'void standin_counts(_Out_ int32_t *out)',
    mmioLog: 'void standin_mmio_log(uint32_t which, _Out_ uint32_t *out)',
    lastMapOptions: 'uint32_t standin_last_map_options(uint32_t type)',
    deviceState: 'void standin_device_state(uint32_t bus, _Out_ int32_t *out)',
    reset: 'void standin_reset_state()',
  });
  return {
    /** InterruptOccurred(vector) on the instance of `bus`; true when some connection latched it (set up, in range, enabled). */
    raise: (bus: number, vector: number) => (f.raise(bus, vector) as number) > 0,
    /** InterruptOccurred(vector): how many connections of the instance latched it (each has its own interrupt state). */
    raiseCount: (bus: number, vector: number) => f.raise(bus, vector) as number,
    /** Adds (true) or removes the second host root, `pcic1-bridge`, with a twin 04:00.0 dext instance. */
    setTwin: (on: boolean) => void f.setTwin(on ? 1 : 0),
    /** The next call of `selector` (or a {@link FailPoint}) answers `kr`. */
    setFail: (selector: number, kr: number) => void f.setFail(selector, kr | 0),
    setDmaLimits: (maxRegions: number, chunkBytes: bigint, maxChunks: number) => void f.setDmaLimits(maxRegions, chunkBytes, maxChunks),
    violations: () => f.violations() as number,
    lastViolation: () => f.lastViolation() as string,
    counts(): StandinCounts {
      const o = new Int32Array(8);
      f.counts(o);
      return {
        registryRefs: o[0]!,
        connections: o[1]!,
        cfObjects: o[2]!,
        notificationPorts: o[3]!,
        maps: o[4]!,
        openedTotal: o[5]!,
        closedTotal: o[6]!,
      };
    },
    /** [count, last width] of MMIORead ('read') or MMIOWrite ('write'). */
    mmioLog(which: 'read' | 'write'): { count: number; lastWidth: number } {
      const o = new Uint32Array(2);
      f.mmioLog(which === 'read' ? 0 : 1, o);
      return { count: o[0]!, lastWidth: o[1]! };
    },
    lastMapOptions: (type: number) => f.lastMapOptions(type) as number,
    deviceState(bus: number): StandinDeviceState {
      const o = new Int32Array(6);
      f.deviceState(bus, o);
      return {
        providerClaimed: o[0] === 1,
        refs: o[1]!,
        irqSetup: o[2]! > 0,
        completionArmed: o[3]! > 0,
        irqConnections: o[2]!,
        armedWaits: o[3]!,
        resets: o[4]!,
        command: o[5]!,
      };
    },
    reset: () => void f.reset(),
  };
}
/** The control surface. */
export type StandinControl = ReturnType<typeof standinControl>;
