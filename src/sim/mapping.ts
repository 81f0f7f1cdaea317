/**
 * MappedMemory objects the simulated dext hands out (IOConnectMapMemory64):
 * BARs (model path for trapped ranges, the shared store otherwise), the DMA
 * buffer and the IRQ page (plain shared memory).
 */
import { PassthroughError } from '../errors.js';
import type { MappedMemory } from '../dext/contract.js';
import type { AccessWidth, Bdf } from '../types.js';
import { plainRead, plainWrite, type SimBar } from './bar-store.js';
import type { SimFunctionImpl } from './function.js';
import type { SimRange } from './models/types.js';

/** @internal Typed views over a plain store (same shape as a BAR's). */
export function plainStore(buffer: SharedArrayBuffer): SimBar {
  return {
    index: -1,
    memIdx: -1,
    sizeBytes: buffer.byteLength,
    type: 0,
    buffer,
    traps: [],
    u8: new Uint8Array(buffer),
    u16: new Uint16Array(buffer),
    u32: new Uint32Array(buffer),
    u64: new BigUint64Array(buffer),
  };
}

/** @internal One mapping of one memory type into the simulated host space. */
export class SimMapping implements MappedMemory {
  readonly type: number;
  readonly address: bigint;
  readonly lengthBytes: number;
  readonly writeCombined: boolean;
  readonly buffer: SharedArrayBuffer;
  readonly trapRanges: readonly SimRange[];
  released = false;
  readonly #bdf: Bdf;
  readonly #store: SimBar;
  /** Present for BAR mappings: accesses go through the function (model, MSI-X, surprise removal). */
  readonly #fn: SimFunctionImpl | undefined;

  constructor(init: {
    type: number;
    address: bigint;
    bdf: Bdf;
    store: SimBar;
    writeCombined: boolean;
    fn?: SimFunctionImpl;
  }) {
    this.type = init.type;
    this.address = init.address;
    this.#bdf = init.bdf;
    this.#store = init.store;
    this.buffer = init.store.buffer;
    this.lengthBytes = init.store.buffer.byteLength;
    this.writeCombined = init.writeCombined;
    this.trapRanges = init.store.traps;
    this.#fn = init.fn;
  }

  read(offsetBytes: number, width: AccessWidth): bigint {
    this.#check(offsetBytes, width);
    if (this.#fn !== undefined && offsetBytes < this.#store.sizeBytes) return this.#fn.mmioRead(this.#store, offsetBytes, width);
    return plainRead(this.#store, offsetBytes, width);
  }

  write(offsetBytes: number, width: AccessWidth, value: bigint): void {
    this.#check(offsetBytes, width);
    if (this.#fn !== undefined) {
      if (offsetBytes < this.#store.sizeBytes) this.#fn.mmioWrite(this.#store, offsetBytes, width, value);
      else if (!this.#fn.fellOffBus) plainWrite(this.#store, offsetBytes, width, value);
      return;
    }
    plainWrite(this.#store, offsetBytes, width, value);
  }

  #check(offsetBytes: number, width: number): void {
    const ctx = { bdf: this.#bdf, region: this.type, offsetBytes, width };
    if (this.released) throw new PassthroughError('PT_ERR_BAR_RELEASED', `memory type ${this.type} was unmapped`, ctx);
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
      throw new PassthroughError('PT_ERR_BAD_WIDTH', `access width must be 1, 2, 4 or 8 (got ${width})`, ctx);
    }
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + width > this.lengthBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `access past the ${this.lengthBytes}-byte mapping`, ctx);
    }
    if (offsetBytes % width !== 0) {
      throw new PassthroughError('PT_ERR_ALIGNMENT', `access at ${offsetBytes} is not ${width}-byte aligned`, ctx);
    }
  }
}
