/**
 * The iokit IRQ pump-thread source (design §3): built in the dedicated pump
 * thread from the descriptor the device worker took at hand-off
 * ({@link iokitPumpDescriptor}). It attaches to the device's io_connect_t
 * without owning it ({@link attachIokitConnection}), blocks in mach_msg on
 * its own notification port ({@link IokitDextClient.waitInterruptBlocking}),
 * then reads and clears the pending words (selector 14) and delivers every
 * set bit by the rule-7 snapshot (spec §7 rule 7: MSI/MSI-X vector v only if
 * v < nr_vectors and in use; INTx: any bit raises vector 0). The one-shot
 * WaitInterrupt is re-armed by the next wait.
 *
 * The dext keeps ONE completion per device: the device worker's own source
 * is handed off (AppleInterruptSource.handOff) before this source arms, so
 * the two never replace each other's completion.
 */
import { PassthroughError } from '../errors.js';
import { toBdf } from '../types.js';
import type { IrqSink, InterruptSource } from '../vfio/device-io-ops.js';
import type { IokitLibraryPaths } from './bindings.js';
import { createAppleDeviceState, type AppleDeviceState, type AppleIrqMode } from '../apple/device-state.js';
import { deliverPending, type AppleInterruptSource } from '../apple/interrupt-source.js';
import { IOReturn } from '../dext/contract.js';
import { attachIokitConnection, type IokitDextClient } from './dext-client.js';

/** Longest idle pause (ms) after the dext refused to arm (NotReady): keeps a broken device from spinning. */
const REFUSED_ARM_IDLE_MS = 20;

/**
 * What the pump thread needs (structured-cloneable): the connection is a
 * per-process port name, so the number works in any thread of the process.
 */
export interface IokitIrqPumpDescriptor {
  /** The io_connect_t of the device's client (owned by the device worker). */
  connection: number;
  /** `dddd:bb:ss.f`. */
  bdf: string;
  /** TEST-ONLY: the stand-in library paths the device worker loaded. */
  libraries?: IokitLibraryPaths;
  /** The irq mode at hand-off. */
  mode: AppleIrqMode;
  /** QEMU's nr_vectors at hand-off (one past the highest enabled vector). */
  nrVectors: number;
  /** The vectors in use at hand-off ([0] for INTx). */
  vectors: number[];
}

/** The pump-thread source: an InterruptSource with a blocking nextSync and the port that wakes it. */
export interface IokitPumpSource extends InterruptSource {
  nextSync: (timeoutMs: number) => number;
  /** The mach port name a wake message must go to (report it to the device worker). */
  readonly wakePort: number;
  /** The delivery state (counters: delivered, dropped, rearms). */
  readonly state: AppleDeviceState;
}

/**
 * Device-worker side of the hand-off: stops `source` from arming (it cancels
 * its pending wait) and snapshots the routing of `state`. Returns undefined
 * when no vector is routed (mode none, or nothing in use): then no pump runs.
 */
export function iokitPumpDescriptor(
  state: AppleDeviceState,
  source: AppleInterruptSource,
  connection: number,
  libraries: IokitLibraryPaths | undefined,
): IokitIrqPumpDescriptor | undefined {
  source.handOff();
  const irq = state.irq;
  let vectors: number[] = [];
  if (irq.mode === 'intx') {
    if (irq.sinks[0] !== undefined) vectors = [0];
  } else if (irq.mode === 'msi' || irq.mode === 'msix') {
    for (let v = 0; v < irq.nrVectors; v++) if (irq.inUse[v] && irq.sinks[v] !== undefined) vectors.push(v);
  }
  if (vectors.length === 0) return undefined;
  return {
    connection,
    bdf: state.bdf,
    ...(libraries === undefined ? {} : { libraries }),
    mode: irq.mode,
    nrVectors: irq.nrVectors,
    vectors,
  };
}

/**
 * Pump-thread side: builds the blocking source over `desc`, delivering every
 * routed vector to `sink` (INTx as vector 0). Its close() drops only this
 * thread's notification port (the connection stays the device worker's).
 * Throws PT_ERR_INVALID_ARGUMENT for a malformed descriptor, the binding
 * load errors (PT_ERR_PLATFORM, PT_ERR_NOT_SUPPORTED).
 */
export function createIokitPumpSource(desc: IokitIrqPumpDescriptor, sink: IrqSink): IokitPumpSource {
  if (!Number.isInteger(desc.connection) || desc.connection <= 0 || !Array.isArray(desc.vectors) || !Number.isInteger(desc.nrVectors)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'not an iokit IRQ pump descriptor (needs connection, vectors, nrVectors)', {
      bdf: desc.bdf,
    });
  }
  const bdf = toBdf(desc.bdf);
  const client: IokitDextClient = attachIokitConnection(desc.connection, bdf, desc.libraries === undefined ? {} : { libraries: desc.libraries });
  const state = createAppleDeviceState(bdf, client);
  state.irq.mode = desc.mode;
  state.irq.nrVectors = desc.nrVectors;
  for (const v of desc.vectors) {
    state.irq.inUse[v] = true;
    state.irq.sinks[v] = sink;
  }
  const wakePort = client.wakePort; // created now, so the device worker can wake the very first wait
  const idle = new Int32Array(new SharedArrayBuffer(4));
  let closed = false;

  const nextSync = (timeoutMs: number): number => {
    if (closed) return 0;
    let status: number;
    try {
      status = client.waitInterruptBlocking(timeoutMs);
      state.stats.rearms++;
    } catch (e) {
      if (PassthroughError.is(e) && e.code === 'PT_ERR_INVALID_ARGUMENT') throw e;
      // The dext refused to arm (NotReady while its interrupts are torn
      // down, e.g. across a reset): idle briefly (finite) and try again.
      Atomics.wait(idle, 0, 0, Math.min(timeoutMs, REFUSED_ARM_IDLE_MS));
      return 0;
    }
    if (closed || status !== IOReturn.Success) return 0;
    return deliverPending(state, client.checkInterrupt());
  };

  return {
    state,
    wakePort,
    nextSync,
    next(): Promise<number> {
      // No event loop wait here: this source exists to block in its thread.
      return Promise.resolve(nextSync(0));
    },
    wake(): void {
      client.wakeInterruptSync();
    },
    close(): void {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
