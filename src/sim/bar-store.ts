/**
 * A simulated BAR's backing store: the SharedArrayBuffer the fast path maps,
 * with width-exact little-endian loads and stores (Atomics, naturally aligned).
 */
import { PassthroughError } from '../errors.js';
import type { AccessWidth } from '../types.js';
import type { SimRange } from './models/types.js';

/** @internal One implemented BAR. */
export interface SimBar {
  readonly index: number;
  /** Index among implemented BARs (`_CopyDeviceMemoryWithIndex`). */
  readonly memIdx: number;
  readonly sizeBytes: number;
  readonly type: number;
  /** Backing store, rounded up to 16 KiB (the mapping length). */
  readonly buffer: SharedArrayBuffer;
  readonly traps: readonly SimRange[];
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
}

/** @internal Plain little-endian load from a BAR's store (naturally aligned). */
export function plainRead(bar: SimBar, off: number, width: AccessWidth): bigint {
  switch (width) {
    case 1:
      return BigInt(Atomics.load(bar.u8, off));
    case 2:
      return BigInt(Atomics.load(bar.u16, off >> 1));
    case 4:
      return BigInt(Atomics.load(bar.u32, off >> 2));
    default:
      return Atomics.load(bar.u64, off >> 3);
  }
}

/** @internal Plain little-endian store to a BAR's store (naturally aligned). */
export function plainWrite(bar: SimBar, off: number, width: AccessWidth, value: bigint): void {
  switch (width) {
    case 1:
      Atomics.store(bar.u8, off, Number(value & 0xffn));
      return;
    case 2:
      Atomics.store(bar.u16, off >> 1, Number(value & 0xffffn));
      return;
    case 4:
      Atomics.store(bar.u32, off >> 2, Number(value & 0xffff_ffffn));
      return;
    default:
      Atomics.store(bar.u64, off >> 3, BigInt.asUintN(64, value));
  }
}

/**
 * @internal The store of BAR `bar` of `bdf` and its views. A size the host
 * cannot hold (machine.ts bounds it first) is PT_ERR_NO_MEMORY with the BAR
 * and size in the context, never a bare RangeError.
 */
export function allocateBarStore(bdf: string, bar: number, lengthBytes: number): Pick<SimBar, 'buffer' | 'u8' | 'u16' | 'u32' | 'u64'> {
  try {
    const buffer = new SharedArrayBuffer(lengthBytes);
    return { buffer, u8: new Uint8Array(buffer), u16: new Uint16Array(buffer), u32: new Uint32Array(buffer), u64: new BigUint64Array(buffer) };
  } catch (e) {
    throw new PassthroughError('PT_ERR_NO_MEMORY', `cannot allocate the ${lengthBytes}-byte store of BAR${bar}`, { bdf, region: bar, sizeBytes: lengthBytes }, { cause: e });
  }
}
