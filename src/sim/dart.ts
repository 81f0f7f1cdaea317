/**
 * The simulated DART (Apple's IOMMU) of one PCI function: hands out bus
 * (IOVA) ranges at 16 KiB granularity and translates device DMA back to host
 * memory. Every DMA the device models do goes through {@link SimDart.translate};
 * an address with no mapping is a DMA fault (no transfer).
 */
import { HOST_PAGE_BYTES } from '../dext/contract.js';

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

const PAGE = BigInt(HOST_PAGE_BYTES);
/** Bus addresses start at 1 MiB (0 stays unmapped so a zeroed register faults) and stay low (edu's 28-bit mask). */
const IOVA_BASE = 0x10_0000n;
/** End of the IOVA space (39 bits, an Apple DART's aperture). */
const IOVA_END = 1n << 39n;

/** @internal IOVA allocator and translation table of one function. */
export class SimDart {
  /** Free intervals `[start, end)`, sorted, non-adjacent. */
  #free: [bigint, bigint][] = [[IOVA_BASE, IOVA_END]];
  readonly #entries = new Map<bigint, DartEntry>();
  #sorted: DartEntry[] | null = null;

  /** Number of live mappings. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Maps `lengthBytes` of `buffer` at a fresh IOVA whose page offset equals
   * `pageOffsetBytes` (the client VA's offset in its page). `alignBytes` (a power
   * of two) aligns the base. Returns undefined when the IOVA space is exhausted.
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
    for (let i = 0; i < this.#free.length; i++) {
      const [start, end] = this.#free[i]!;
      const base = ((start + align - 1n) / align) * align;
      if (base + need > end) continue;
      // Split the free interval around [base, base+need).
      const parts: [bigint, bigint][] = [];
      if (base > start) parts.push([start, base]);
      if (base + need < end) parts.push([base + need, end]);
      this.#free.splice(i, 1, ...parts);
      const entry: DartEntry = {
        iovaBase: base,
        iovaBytes: need,
        busAddr: base + BigInt(pageOffsetBytes),
        lengthBytes,
        buffer,
        bufferOffsetBytes,
      };
      this.#entries.set(base, entry);
      this.#sorted = null;
      return entry;
    }
    return undefined;
  }

  /** Removes a mapping and returns its IOVA range to the free list. */
  unmap(entry: DartEntry): void {
    if (!this.#entries.delete(entry.iovaBase)) return;
    this.#sorted = null;
    const start = entry.iovaBase;
    const end = start + entry.iovaBytes;
    let i = 0;
    while (i < this.#free.length && this.#free[i]![0] < start) i++;
    this.#free.splice(i, 0, [start, end]);
    // Merge with the neighbours.
    if (i + 1 < this.#free.length && this.#free[i]![1] === this.#free[i + 1]![0]) {
      this.#free[i]![1] = this.#free[i + 1]![1];
      this.#free.splice(i + 1, 1);
    }
    if (i > 0 && this.#free[i - 1]![1] === this.#free[i]![0]) {
      this.#free[i - 1]![1] = this.#free[i]![1];
      this.#free.splice(i, 1);
    }
  }

  /** Removes every mapping. */
  clear(): void {
    for (const e of [...this.#entries.values()]) this.unmap(e);
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

  #find(addr: bigint): DartEntry | undefined {
    if (this.#sorted === null) this.#sorted = [...this.#entries.values()].sort((a, b) => (a.busAddr < b.busAddr ? -1 : 1));
    const s = this.#sorted;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = s[mid]!;
      if (addr < e.busAddr) hi = mid - 1;
      else if (addr >= e.busAddr + BigInt(e.lengthBytes)) lo = mid + 1;
      else return e;
    }
    return undefined;
  }
}
