/**
 * The seam under the guest layer: what it needs from the host function, in
 * the vCPU thread. `openGuestFunction` builds it from a device descriptor
 * over the fast path (BarWindow, IrqLine, ConfigPort satisfy these shapes
 * as they are); unit tests build it over plain memory.
 */
import { PassthroughError } from '../errors.js';
import type { SlowPath } from '../fastpath/index.js';

/** One BAR of the host function: width-exact, naturally aligned, bounds-checked (a BarWindow). */
export interface GuestBarPort {
  readonly sizeBytes: number;
  /** Width-exact 1-byte load at `offsetBytes`. */
  read8(offsetBytes: number): number;
  /** Width-exact 2-byte load. */
  read16(offsetBytes: number): number;
  /** Width-exact 4-byte load. */
  read32(offsetBytes: number): number;
  /** Width-exact 8-byte load. */
  read64(offsetBytes: number): bigint;
  /** Width-exact 1-byte store at `offsetBytes`. */
  write8(offsetBytes: number, value: number): void;
  /** Width-exact 2-byte store. */
  write16(offsetBytes: number, value: number): void;
  /** Width-exact 4-byte store. */
  write32(offsetBytes: number, value: number): void;
  /** Width-exact 8-byte store. */
  write64(offsetBytes: number, value: bigint): void;
}

/** Config space of the host function, through the device worker's filter (a ConfigPort). */
export interface GuestConfigPort {
  /** Width-exact 1-byte load at `offsetBytes`. */
  read8(offsetBytes: number): number;
  /** Width-exact 2-byte load. */
  read16(offsetBytes: number): number;
  /** Width-exact 4-byte load. */
  read32(offsetBytes: number): number;
  /** Width-exact 1-byte store at `offsetBytes`. */
  write8(offsetBytes: number, value: number): void;
  /** Width-exact 2-byte store. */
  write16(offsetBytes: number, value: number): void;
  /** Width-exact 4-byte store. */
  write32(offsetBytes: number, value: number): void;
}

/** The host interrupt line (an IrqLine). */
export interface GuestIrqPort {
  /** Sequence word: changes when a vector becomes pending. */
  readonly seq: number;
  /** Takes every pending vector, ascending, into `out` (≥ 256 entries); returns the count. */
  drainInto(out: Uint16Array): number;
  /** Blocks until the sequence moves past `lastSeq` or `timeoutMs` passes (IrqLine.waitSync). */
  waitSync(lastSeq: number, timeoutMs: number, opts?: { spinIterations?: number }): number;
  /** Waits without blocking until the sequence moves past `lastSeq` (IrqLine.waitAsync). */
  waitAsync(lastSeq: number, timeoutMs: number): Promise<number>;
}

/** The host function as the guest layer sees it. */
export interface GuestDevice {
  /** BAR 0–5 ports; undefined where the function has no BAR (or the upper half of a 64-bit BAR). */
  readonly bars: readonly (GuestBarPort | undefined)[];
  readonly irq: GuestIrqPort;
  readonly config: GuestConfigPort;
  /**
   * A direct view of BAR `bar` when it is plain memory (no trapped range);
   * undefined otherwise. Valid while the device is open.
   */
  ram?(bar: number): Uint8Array | undefined;
  /** Size of the device's expansion ROM region in bytes (0 or undefined: none). */
  readonly romBytes?: number;
  /** Reads of regions without a window: the device's ROM is region 6. */
  readonly region?: Pick<SlowPath, 'read'>;
  /** Releases the ports. Idempotent. */
  close(): void;
}

/**
 * A GuestBarPort over the slow path: for BARs the device has but nothing
 * maps (linux I/O BARs). Bounds and alignment are checked here as BarWindow
 * checks them (PT_ERR_OUT_OF_RANGE, PT_ERR_ALIGNMENT).
 */
export function slowBarPort(slow: SlowPath, bar: number, sizeBytes: number): GuestBarPort {
  const at = (off: number, width: 1 | 2 | 4 | 8): number => {
    if (!Number.isSafeInteger(off) || off < 0 || off + width > sizeBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `BAR${bar} access of ${width} byte(s) at ${off} is out of range`, {
        region: bar,
        offsetBytes: off,
        width,
        sizeBytes,
      });
    }
    if ((off & (width - 1)) !== 0) {
      throw new PassthroughError('PT_ERR_ALIGNMENT', `BAR${bar} access of ${width} byte(s) at ${off} is misaligned`, {
        region: bar,
        offsetBytes: off,
        width,
      });
    }
    return off;
  };
  return {
    sizeBytes,
    read8: (off) => Number(slow.read(bar, at(off, 1), 1)),
    read16: (off) => Number(slow.read(bar, at(off, 2), 2)),
    read32: (off) => Number(slow.read(bar, at(off, 4), 4)),
    read64: (off) => slow.read(bar, at(off, 8), 8),
    write8: (off, v) => slow.write(bar, at(off, 1), 1, BigInt(v & 0xff)),
    write16: (off, v) => slow.write(bar, at(off, 2), 2, BigInt(v & 0xffff)),
    write32: (off, v) => slow.write(bar, at(off, 4), 4, BigInt(v >>> 0)),
    write64: (off, v) => slow.write(bar, at(off, 8), 8, BigInt.asUintN(64, v)),
  };
}
