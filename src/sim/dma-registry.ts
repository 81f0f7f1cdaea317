/**
 * The DMA registry of one user client (spec §6): RegisterDMARegion,
 * UnregisterDMARegion and ProbeDMARegion with the real limits and check
 * order. A region is split into chunks of `chunkBytes`; each chunk is resolved
 * in host memory (CreateMemoryDescriptorFromClient), must be one physical
 * segment (PrepareForDMA, else NotAligned) and gets its own bus range in the
 * function's DART. Any failure rolls back every chunk done so far.
 */
import { IOReturn, type DmaLimits, type DmaRegionInfo } from '../dext/contract.js';
import type { DartEntry, SimDart } from './dart.js';
import { fail } from './fail.js';
import type { SimHostMemoryImpl } from './host-memory.js';

/**
 * `kIOReturnVMError`: what CreateMemoryDescriptorFromClient answers for a
 * client range that is not mapped. Not in the contract table (no caller maps
 * it to its own code), so it surfaces as PT_ERR_KERN_RETURN.
 */
export const kIOReturnVMError = 0xe00002c8;

/** @internal One registered region. */
export interface DmaRegion {
  readonly key: bigint;
  readonly clientVa: bigint;
  readonly sizeBytes: number;
  /** One DART mapping per chunk, in order. */
  readonly chunks: readonly DartEntry[];
}

/** @internal Registry of one user client. */
export class SimDmaRegistry {
  readonly #regions = new Map<bigint, DmaRegion>();
  readonly #limits: DmaLimits;
  readonly #host: SimHostMemoryImpl;
  readonly #dart: SimDart;

  constructor(limits: DmaLimits, host: SimHostMemoryImpl, dart: SimDart) {
    this.#limits = limits;
    this.#host = host;
    this.#dart = dart;
  }

  /** Live regions. */
  get size(): number {
    return this.#regions.size;
  }

  /** The live region of `key`, if any. */
  get(key: bigint): DmaRegion | undefined {
    return this.#regions.get(key);
  }

  /** Every live region, in registration order. */
  regions(): DmaRegion[] {
    return [...this.#regions.values()];
  }

  /** Selector 5 after the gate: BadArgument, StillOpen, NoSpace (slots, chunks), VMError, NotAligned, NoMemory. */
  register(key: bigint, clientVa: bigint, sizeBytes: bigint): DmaRegionInfo {
    if (sizeBytes === 0n || clientVa === 0n) fail(IOReturn.BadArgument, 'size or VA is 0');
    if (this.#regions.has(key)) fail(IOReturn.StillOpen, 'key already registered');
    if (this.#regions.size >= this.#limits.maxRegions) fail(IOReturn.NoSpace, 'no free region slot');
    const chunkBytes = BigInt(this.#limits.chunkBytes);
    const chunkCount = (sizeBytes + chunkBytes - 1n) / chunkBytes;
    if (chunkCount > BigInt(this.#limits.maxChunks)) fail(IOReturn.NoSpace, 'too many chunks');

    const chunks: DartEntry[] = [];
    try {
      for (let i = 0n; i < chunkCount; i++) {
        const off = i * chunkBytes;
        const len = Number(sizeBytes - off < chunkBytes ? sizeBytes - off : chunkBytes);
        const va = clientVa + off;
        const res = this.#host.resolve(va, len);
        if (res === undefined) fail(kIOReturnVMError, 'client range not mapped');
        if (res.segments !== 1) fail(IOReturn.NotAligned, 'chunk is not one segment');
        const pageOffset = Number(va & 0x3fffn);
        const entry = this.#dart.map(res.range.buffer, res.bufferOffsetBytes, len, pageOffset);
        if (entry === undefined) fail(IOReturn.NoMemory, 'IOVA space exhausted');
        chunks.push(entry);
      }
    } catch (e) {
      for (const c of chunks) this.#dart.unmap(c);
      throw e;
    }
    this.#regions.set(key, { key, clientVa, sizeBytes: Number(sizeBytes), chunks });
    const c0 = chunks[0]!;
    return { count: 1, busAddr: c0.busAddr, busLen: BigInt(c0.lengthBytes) };
  }

  /** Selector 6: exact key; unknown → NotFound. */
  unregister(key: bigint): void {
    const r = this.#regions.get(key);
    if (r === undefined) fail(IOReturn.NotFound, 'unknown key');
    this.#regions.delete(key);
    for (const c of r.chunks) this.#dart.unmap(c);
  }

  /** Selector 7: 8 bytes little-endian at `offsetBytes`; NotFound, Overrun. */
  probe(key: bigint, offsetBytes: bigint): bigint {
    const r = this.#regions.get(key);
    if (r === undefined) fail(IOReturn.NotFound, 'unknown key');
    if (offsetBytes + 8n > BigInt(r.sizeBytes)) fail(IOReturn.Overrun, 'probe past the region');
    const chunkBytes = this.#limits.chunkBytes;
    let value = 0n;
    for (let i = 7; i >= 0; i--) {
      const at = Number(offsetBytes) + i;
      const c = r.chunks[Math.floor(at / chunkBytes)]!;
      const byte = new Uint8Array(c.buffer, c.bufferOffsetBytes + (at % chunkBytes), 1)[0]!;
      value = (value << 8n) | BigInt(byte);
    }
    return value;
  }

  /** Client Stop: unregisters everything. */
  releaseAll(): void {
    for (const r of this.#regions.values()) for (const c of r.chunks) this.#dart.unmap(c);
    this.#regions.clear();
  }
}
