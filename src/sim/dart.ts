/**
 * The simulated DART (Apple's IOMMU) of one PCI function: hands out bus
 * (IOVA) ranges at 16 KiB granularity, with an unmapped guard page after
 * each, and translates device DMA back to host memory. Every DMA the device models do goes through {@link SimDart.translate};
 * an address with no mapping is a DMA fault (no transfer).
 */
import { HOST_PAGE_BYTES } from '../dext/contract.js';
import { OrderedMap } from './ordered-map.js';

/** @internal One mapping: bus `[busAddr, busAddr+lengthBytes)` → `buffer[bufferOffsetBytes…]`. */
export interface DartEntry {
  /** Page-aligned IOVA base of the allocation. */
  readonly iovaBase: bigint;
  /** Allocated IOVA bytes (page multiple). */
  readonly iovaBytes: bigint;
  /** Bus address of the first mapped byte (iovaBase + sub-page offset). */
  readonly busAddr: bigint;
  readonly lengthBytes: number;
  readonly buffer: SharedArrayBuffer;
  readonly bufferOffsetBytes: number;
}

/** @internal One contiguous piece of a translated transfer. */
export interface DartPiece {
  readonly buffer: SharedArrayBuffer;
  readonly bufferOffsetBytes: number;
  readonly lengthBytes: number;
}

/** A free IOVA interval `[start, end)`. */
interface FreeInterval {
  readonly start: bigint;
  readonly end: bigint;
}

const PAGE = BigInt(HOST_PAGE_BYTES);
/** Bus addresses start at 1 MiB (0 stays unmapped so a zeroed register faults) and stay low (edu's 28-bit mask). */
const IOVA_BASE = 0x10_0000n;
/** End of the IOVA space (39 bits, an Apple DART's aperture). */
const IOVA_END = 1n << 39n;
/**
 * Unmapped IOVA left after every allocation, in bytes. The DART does not
 * promise that two mappings made one after the other are adjacent (the
 * original's bounce-buffer comment speaks of "guard-page gaps" between
 * client memory descriptors), so neither does the sim: consecutive chunks of
 * one registration land apart, and a caller that assumes a contiguous bus
 * range past chunk 0 faults instead of silently working.
 */
export const DART_GUARD_BYTES = HOST_PAGE_BYTES;
const GUARD = BigInt(DART_GUARD_BYTES);

/**
 * @internal IOVA allocator and translation table of one function.
 * First-fit over the free intervals (an ordered map weighted by interval
 * length), translation by floor lookup: every operation is O(log n).
 */
export class SimDart {
  /** Free intervals `[start, end)` by start, weighted by their length, never adjacent. */
  readonly #free = new OrderedMap<FreeInterval>((f) => f.end - f.start);
  /** Live mappings by IOVA base (bases are unique; a mapping's bus range lies in `[base, base + iovaBytes)`). */
  readonly #entries = new OrderedMap<DartEntry>();

  constructor() {
    this.#insertFree(IOVA_BASE, IOVA_END);
  }

  /** Number of live mappings. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Maps `lengthBytes` of `buffer` at a fresh IOVA whose page offset equals
   * `pageOffsetBytes` (the client VA's offset in its page). `alignBytes` (a power
   * of two) aligns the base. A guard of {@link DART_GUARD_BYTES} stays unmapped
   * after it. Returns undefined when the IOVA space is exhausted.
   */
  map(
    buffer: SharedArrayBuffer,
    bufferOffsetBytes: number,
    lengthBytes: number,
    pageOffsetBytes = 0,
    alignBytes = HOST_PAGE_BYTES,
  ): DartEntry | undefined {
    const need = ((BigInt(pageOffsetBytes + lengthBytes) + PAGE - 1n) / PAGE) * PAGE;
    const align = BigInt(Math.max(alignBytes, HOST_PAGE_BYTES));
    const span = need + GUARD;
    // Interval bounds are page multiples: an interval of span + (align - page) bytes always fits an aligned span.
    const fit = this.#free.firstFit(span + align - PAGE);
    if (fit === undefined) return undefined;
    const { start, end } = fit[1];
    const base = ((start + align - 1n) / align) * align;
    this.#free.delete(start);
    if (base > start) this.#free.set(start, { start, end: base });
    if (base + span < end) this.#free.set(base + span, { start: base + span, end });
    const entry: DartEntry = {
      iovaBase: base,
      iovaBytes: span,
      busAddr: base + BigInt(pageOffsetBytes),
      lengthBytes,
      buffer,
      bufferOffsetBytes,
    };
    this.#entries.set(base, entry);
    return entry;
  }

  /** Removes a mapping and returns its IOVA range (guard included) to the free list. */
  unmap(entry: DartEntry): void {
    if (this.#entries.get(entry.iovaBase) !== entry) return;
    this.#entries.delete(entry.iovaBase);
    this.#insertFree(entry.iovaBase, entry.iovaBase + entry.iovaBytes);
  }

  /** Removes every mapping. */
  clear(): void {
    for (const e of this.#entries.values()) this.unmap(e);
  }

  /**
   * Translates a device access of `lengthBytes` at bus address `busAddr` into
   * host pieces. Undefined (a DMA fault) when any byte is unmapped.
   */
  translate(busAddr: bigint, lengthBytes: number): DartPiece[] | undefined {
    const pieces: DartPiece[] = [];
    let addr = busAddr;
    let left = lengthBytes;
    while (left > 0) {
      const e = this.#find(addr);
      if (e === undefined) return undefined;
      const off = Number(addr - e.busAddr);
      const n = Math.min(left, e.lengthBytes - off);
      pieces.push({ buffer: e.buffer, bufferOffsetBytes: e.bufferOffsetBytes + off, lengthBytes: n });
      addr += BigInt(n);
      left -= n;
    }
    return pieces;
  }

  /** Adds `[start, end)` to the free intervals, merged with a free neighbour on either side. */
  #insertFree(start: bigint, end: bigint): void {
    const before = this.#free.floor(start - 1n);
    if (before !== undefined && before[1].end === start) {
      start = before[1].start;
      this.#free.delete(start);
    }
    const after = this.#free.get(end);
    if (after !== undefined) {
      this.#free.delete(end);
      end = after.end;
    }
    this.#free.set(start, { start, end });
  }

  #find(addr: bigint): DartEntry | undefined {
    const hit = this.#entries.floor(addr);
    if (hit === undefined) return undefined;
    const e = hit[1];
    return addr >= e.busAddr && addr < e.busAddr + BigInt(e.lengthBytes) ? e : undefined;
  }
}
