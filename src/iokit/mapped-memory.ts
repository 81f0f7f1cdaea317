/**
 * {@link MappedMemory} over a real mapping (IOConnectMapMemory64): a
 * koffi.view of the host address with width-exact Atomics loads/stores on
 * Uint8/16/32Array and BigUint64Array (one bus access of exactly the asked
 * width, never merged or split; never DataView, eco §3.4). Little-endian
 * because the host is (arm64 macOS; x86-64/arm64 Linux for the stand-in).
 */
import { PassthroughError } from '../errors.js';
import type { Bdf } from '../types.js';
import type { MappedMemory } from '../dext/contract.js';

/** A mapping of one memory type of one connection. */
export class NativeMappedMemory implements MappedMemory {
  readonly buffer: SharedArrayBuffer | undefined = undefined;
  readonly trapRanges: readonly { offsetBytes: number; lengthBytes: number }[] = [];
  readonly #bdf: Bdf;
  readonly #u8: Uint8Array;
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  #released = false;

  /**
   * SAFETY: `view` is a koffi.view of [address, address + lengthBytes), mapped by the
   * connection until {@link release} is called right before IOConnectUnmapMemory64 or
   * IOServiceClose; every access checks `#released` first.
   */
  constructor(
    readonly type: number,
    readonly address: bigint,
    readonly lengthBytes: number,
    readonly writeCombined: boolean,
    view: ArrayBuffer,
    bdf: Bdf,
  ) {
    this.#bdf = bdf;
    this.#u8 = new Uint8Array(view, 0, lengthBytes);
    this.#u16 = new Uint16Array(view, 0, Math.floor(lengthBytes / 2));
    this.#u32 = new Uint32Array(view, 0, Math.floor(lengthBytes / 4));
    this.#u64 = new BigUint64Array(view, 0, Math.floor(lengthBytes / 8));
  }

  /** True after the mapping was unmapped (every access then throws PT_ERR_BAR_RELEASED). */
  get released(): boolean {
    return this.#released;
  }

  /** Marks the mapping gone; called before the memory is unmapped. */
  release(): void {
    this.#released = true;
  }

  /** Width-exact load. PT_ERR_BAD_WIDTH / PT_ERR_OUT_OF_RANGE / PT_ERR_ALIGNMENT / PT_ERR_BAR_RELEASED. */
  read(offsetBytes: number, width: 1 | 2 | 4 | 8): bigint {
    this.#check(offsetBytes, width, 'read');
    switch (width) {
      case 1:
        return BigInt(Atomics.load(this.#u8, offsetBytes));
      case 2:
        return BigInt(Atomics.load(this.#u16, offsetBytes >>> 1));
      case 4:
        return BigInt(Atomics.load(this.#u32, offsetBytes >>> 2));
      default:
        return Atomics.load(this.#u64, offsetBytes >>> 3);
    }
  }

  /** Width-exact store of the low `width` bytes of `value`. Same errors as read. */
  write(offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void {
    this.#check(offsetBytes, width, 'write');
    switch (width) {
      case 1:
        Atomics.store(this.#u8, offsetBytes, Number(value & 0xffn));
        return;
      case 2:
        Atomics.store(this.#u16, offsetBytes >>> 1, Number(value & 0xffffn));
        return;
      case 4:
        Atomics.store(this.#u32, offsetBytes >>> 2, Number(value & 0xffffffffn));
        return;
      default:
        Atomics.store(this.#u64, offsetBytes >>> 3, BigInt.asUintN(64, value));
    }
  }

  #check(offsetBytes: number, width: number, op: string): void {
    const ctx = { bdf: this.#bdf, memoryType: this.type, offsetBytes, width };
    if (this.#released) {
      throw new PassthroughError('PT_ERR_BAR_RELEASED', `${op} of memory type ${this.type} after unmap`, ctx);
    }
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
      throw new PassthroughError('PT_ERR_BAD_WIDTH', `${op}: width ${width} is not 1, 2, 4 or 8`, ctx);
    }
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + width > this.lengthBytes) {
      throw new PassthroughError(
        'PT_ERR_OUT_OF_RANGE',
        `${op} of ${width} bytes at ${offsetBytes} is outside the ${this.lengthBytes}-byte mapping`,
        { ...ctx, sizeBytes: this.lengthBytes },
      );
    }
    if (offsetBytes % width !== 0) {
      throw new PassthroughError('PT_ERR_ALIGNMENT', `${op} of ${width} bytes at ${offsetBytes} is not naturally aligned`, ctx);
    }
  }
}
