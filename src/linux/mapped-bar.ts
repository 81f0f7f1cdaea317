/**
 * A BAR mapped with mmap() on a vfio-pci device fd, as a {@link MappedMemory}:
 * width-exact Atomics loads and stores over typed arrays on a koffi.view of
 * the mapping (never DataView: V8's DataView reads byte by byte, and devices
 * such as edu answer non-32-bit accesses to their registers with all ones).
 * Also exports `viewAt`, the view factory other threads import to rebuild a
 * view of the same mapping from its address.
 */
import { memoryTypeForBar, type MappedMemory } from '../dext/contract.js';
import { PassthroughError } from '../errors.js';
import { libc } from './libc.js';

/**
 * A zero-copy ArrayBuffer over `lengthBytes` of native memory at `address`
 * (a BAR mapping made by this process). The view-factory module contract.
 */
export function viewAt(address: bigint, lengthBytes: number): ArrayBuffer {
  // SAFETY: only called with addresses of live BAR mappings handed out by regionMap; the
  // holder must drop the view before regionUnmap (BarWindow release).
  return libc().view(address, lengthBytes);
}

/** MappedMemory over an mmap'd BAR. */
export class NativeMappedMemory implements MappedMemory {
  readonly type: number;
  readonly address: bigint;
  readonly lengthBytes: number;
  readonly writeCombined: boolean;
  readonly buffer: SharedArrayBuffer | undefined = undefined;
  readonly trapRanges: readonly { offsetBytes: number; lengthBytes: number }[];
  readonly #bdf: string;
  readonly #bar: number;
  #u8: Uint8Array;
  #u16: Uint16Array;
  #u32: Uint32Array;
  #u64: BigUint64Array;
  #live = true;

  constructor(opts: {
    bdf: string;
    bar: number;
    address: bigint;
    lengthBytes: number;
    writeCombined: boolean;
    trapRanges: readonly { offsetBytes: number; lengthBytes: number }[];
  }) {
    this.type = memoryTypeForBar(opts.bar);
    this.#bdf = opts.bdf;
    this.#bar = opts.bar;
    this.address = opts.address;
    this.lengthBytes = opts.lengthBytes;
    this.writeCombined = opts.writeCombined;
    this.trapRanges = opts.trapRanges;
    const ab = viewAt(opts.address, opts.lengthBytes);
    this.#u8 = new Uint8Array(ab);
    this.#u16 = new Uint16Array(ab);
    this.#u32 = new Uint32Array(ab);
    this.#u64 = new BigUint64Array(ab);
  }

  #check(offsetBytes: number, width: number): void {
    if (!this.#live) {
      throw new PassthroughError('PT_ERR_BAR_RELEASED', `BAR${this.#bar} of ${this.#bdf} was unmapped`, {
        bdf: this.#bdf,
        region: this.#bar,
      });
    }
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
      throw new PassthroughError('PT_ERR_BAD_WIDTH', `access width ${width} is not 1, 2, 4 or 8`, {
        bdf: this.#bdf,
        region: this.#bar,
        width,
      });
    }
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + width > this.lengthBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `offset ${offsetBytes} width ${width} is outside BAR${this.#bar}`, {
        bdf: this.#bdf,
        region: this.#bar,
        offsetBytes,
        width,
        sizeBytes: this.lengthBytes,
      });
    }
    if (offsetBytes % width !== 0) {
      throw new PassthroughError('PT_ERR_ALIGNMENT', `offset ${offsetBytes} is not aligned to ${width}`, {
        bdf: this.#bdf,
        region: this.#bar,
        offsetBytes,
        width,
      });
    }
  }

  read(offsetBytes: number, width: 1 | 2 | 4 | 8): bigint {
    this.#check(offsetBytes, width);
    switch (width) {
      case 1:
        return BigInt(Atomics.load(this.#u8, offsetBytes));
      case 2:
        return BigInt(Atomics.load(this.#u16, offsetBytes >> 1));
      case 4:
        return BigInt(Atomics.load(this.#u32, offsetBytes >> 2));
      default:
        return Atomics.load(this.#u64, offsetBytes >> 3);
    }
  }

  write(offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void {
    this.#check(offsetBytes, width);
    switch (width) {
      case 1:
        Atomics.store(this.#u8, offsetBytes, Number(value & 0xffn));
        break;
      case 2:
        Atomics.store(this.#u16, offsetBytes >> 1, Number(value & 0xffffn));
        break;
      case 4:
        Atomics.store(this.#u32, offsetBytes >> 2, Number(value & 0xffff_ffffn));
        break;
      default:
        Atomics.store(this.#u64, offsetBytes >> 3, BigInt.asUintN(64, value));
    }
  }

  /** Marks the mapping dead and drops this object's views (called right before munmap). */
  invalidate(): void {
    this.#live = false;
    const empty = new ArrayBuffer(8);
    this.#u8 = new Uint8Array(empty);
    this.#u16 = new Uint16Array(empty);
    this.#u32 = new Uint32Array(empty);
    this.#u64 = new BigUint64Array(empty);
  }
}
