/**
 * The simulated host address space. RegisterDMARegion's `clientVA` and every
 * `MappedMemory.address` the sim hands out are addresses in it. A test (or
 * the sim backend) exposes a SharedArrayBuffer range and gets a {@link HostVa};
 * the dext resolves client VAs back to the buffer, as
 * `CreateMemoryDescriptorFromClient` resolves a task's VA to pages.
 *
 * `segmentBytes` simulates physical fragmentation: the range is made of
 * physically discontiguous segments of that size (from the exposed start), so
 * a DMA chunk crossing a segment boundary comes back from PrepareForDMA as
 * more than one segment (RegisterDMARegion → NotAligned).
 */
import { PassthroughError } from '../errors.js';
import { HOST_PAGE_BYTES } from '../dext/contract.js';
import type { HostVa } from '../types.js';
import { OrderedMap } from './ordered-map.js';

/** The simulated host address space that RegisterDMARegion's clientVA refers to. */
export interface SimHostMemory {
  /**
   * Makes `lengthBytes` of `buffer` from `offsetBytes` addressable and returns
   * its (16 KiB aligned) address. Defaults: the whole buffer, one segment.
   * Throws PT_ERR_INVALID_ARGUMENT on an empty or out-of-bounds range.
   */
  expose(
    buffer: SharedArrayBuffer,
    opts?: { offsetBytes?: number; lengthBytes?: number; segmentBytes?: number },
  ): HostVa;
  /** Removes an exposed range by the address {@link expose} returned. Throws PT_ERR_NOT_FOUND. */
  unexpose(va: HostVa): void;
}

/** @internal One exposed range. */
export interface HostRange {
  readonly va: bigint;
  readonly lengthBytes: number;
  readonly buffer: SharedArrayBuffer;
  /** Offset of `va` inside `buffer`. */
  readonly offsetBytes: number;
  /** Physical segment size, or Infinity when contiguous. */
  readonly segmentBytes: number;
}

/** @internal A resolved client range: where its bytes live. */
export interface HostResolution {
  readonly range: HostRange;
  /** Offset of the resolved address inside `range.buffer`. */
  readonly bufferOffsetBytes: number;
  /** Number of physical segments the resolved range spans. */
  readonly segments: number;
}

const PAGE = BigInt(HOST_PAGE_BYTES);
/** First address handed out: above 4 GiB, like a 64-bit process's heap. */
const VA_BASE = 0x1_0000_0000n;

/**
 * @internal Implementation of {@link SimHostMemory} plus the dext's resolver.
 * Ranges never overlap (each gets fresh addresses), so a resolve is one floor
 * lookup: O(log n) in the number of exposed ranges.
 */
export class SimHostMemoryImpl implements SimHostMemory {
  readonly #ranges = new OrderedMap<HostRange>();
  #next = VA_BASE;

  expose(
    buffer: SharedArrayBuffer,
    opts: { offsetBytes?: number; lengthBytes?: number; segmentBytes?: number } = {},
  ): HostVa {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'expose: buffer must be a SharedArrayBuffer');
    }
    const offsetBytes = opts.offsetBytes ?? 0;
    const lengthBytes = opts.lengthBytes ?? buffer.byteLength - offsetBytes;
    if (
      !Number.isSafeInteger(offsetBytes) ||
      !Number.isSafeInteger(lengthBytes) ||
      offsetBytes < 0 ||
      lengthBytes <= 0 ||
      offsetBytes + lengthBytes > buffer.byteLength
    ) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'expose: range must be non-empty and inside the buffer', {
        offsetBytes,
        sizeBytes: lengthBytes,
      });
    }
    const segmentBytes = opts.segmentBytes ?? Infinity;
    if (segmentBytes !== Infinity && (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'expose: segmentBytes must be a positive integer', {
        sizeBytes: segmentBytes,
      });
    }
    const va = this.reserve(lengthBytes);
    this.#ranges.set(va, { va, lengthBytes, buffer, offsetBytes, segmentBytes });
    return va as HostVa;
  }

  unexpose(va: HostVa): void {
    if (!this.#ranges.delete(va)) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `unexpose: no exposed range at 0x${va.toString(16)}`, {
        iova: va,
      });
    }
  }

  /** Reserves a fresh page-aligned address range (with a guard page after it) and returns its start. */
  reserve(lengthBytes: number): bigint {
    const va = this.#next;
    const pages = (BigInt(lengthBytes) + PAGE - 1n) / PAGE;
    this.#next += (pages + 1n) * PAGE;
    return va;
  }

  /** Resolves `[va, va+lengthBytes)`; undefined unless it lies inside one exposed range. */
  resolve(va: bigint, lengthBytes: number): HostResolution | undefined {
    const hit = this.#ranges.floor(va);
    if (hit !== undefined) {
      const range = hit[1];
      const off = va - range.va;
      if (off + BigInt(lengthBytes) > BigInt(range.lengthBytes)) return undefined;
      const offN = Number(off);
      const segments =
        range.segmentBytes === Infinity
          ? 1
          : Math.floor((offN + lengthBytes - 1) / range.segmentBytes) - Math.floor(offN / range.segmentBytes) + 1;
      return { range, bufferOffsetBytes: range.offsetBytes + offN, segments };
    }
    return undefined;
  }
}
