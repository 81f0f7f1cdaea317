/**
 * The seam between a simulated PCI function (config space, BARs, interrupt
 * routing, DMA through the DART) and the device model behind it. A model
 * declares its BARs and trapped ranges, writes its power-on config image, and
 * answers trapped MMIO; it reaches the outside only through {@link ModelHost}.
 */
import type { AccessWidth, Bdf } from '../../types.js';
import type { SimConfigSpace, SimBarDecl } from '../config-space.js';

/** A byte range inside a BAR. */
export interface SimRange {
  offsetBytes: number;
  lengthBytes: number;
}

/** A BAR as a model declares it. */
export interface SimBarSpec extends SimBarDecl {
  /** Ranges with side effects, answered by the model's mmioRead/mmioWrite. The rest is plain memory. */
  traps: SimRange[];
}

/** What a model may do to the world. */
export interface ModelHost {
  readonly bdf: Bdf;
  readonly config: SimConfigSpace;
  /** Delay settings for deferred work. */
  readonly timing: { factorialDelayMs: number; dmaDelayMs: number };
  /** Edge-signals MSI/MSI-X vector `vector` (INTx pulse when neither is enabled). */
  signal(vector: number): void;
  /** Drives the INTx line level (pin A). */
  setIntx(level: boolean): void;
  /** True when MSI or MSI-X is enabled in config space. */
  msiEnabled(): boolean;
  /** Device DMA read through the DART; undefined on a DMA fault (counted). */
  dmaRead(busAddr: bigint, lengthBytes: number): Uint8Array | undefined;
  /** Device DMA write through the DART; false on a DMA fault (counted). */
  dmaWrite(busAddr: bigint, data: Uint8Array): boolean;
  /** Runs `fn` later (tracked by idle()); returns a cancel function. */
  schedule(delayMs: number, fn: () => void): () => void;
  /** The backing store of BAR `index`. */
  barBuffer(index: number): SharedArrayBuffer;
}

/** A device model behind one simulated function. */
export interface DeviceModel {
  /** Model name (`edu`, `msix`, `dual`, `replay`). */
  readonly kind: string;
  /** Implemented BARs. */
  readonly bars: readonly SimBarSpec[];
  /** True when the function supports Function Level Reset. */
  readonly flr: boolean;
  /** Writes the power-on config image; `barAddress(i)` is the host-assigned address of BAR i. */
  buildConfig(cfg: SimConfigSpace, barAddress: (index: number) => bigint): void;
  /** Called once with the host before any access. */
  attach(host: ModelHost): void;
  /** Trapped MMIO read (offset inside a trap range). */
  mmioRead(bar: number, offsetBytes: number, width: AccessWidth): bigint;
  /** Trapped MMIO write. */
  mmioWrite(bar: number, offsetBytes: number, width: AccessWidth, value: bigint): void;
  /** Device reset (FLR or hot reset): registers back to power-on; pending work cancelled. */
  reset(): void;
}
