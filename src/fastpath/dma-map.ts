/**
 * DmaMap: makes embedder memory (a SharedArrayBuffer of guest RAM, or a
 * native range) reachable by the device. The embedding thread validates and
 * keeps the book of live mappings; the supervisor's {@link DmaControl} does
 * the work (it forwards to the device worker, which exposes the memory to its
 * backend and calls IommuOps.dmaMap).
 */
import { invalidArgument, PassthroughError } from '../errors.js';
import { byteRange, type Iova } from '../types.js';

/** Largest IOVA (and native address): 2^64 − 1. */
const kMaxIova = 0xffff_ffff_ffff_ffffn;

/** Memory to map: a SharedArrayBuffer, or a native range. */
export type DmaMemory = SharedArrayBuffer | { address: bigint; lengthBytes: number };

/** A validated map request, as the DmaControl receives it. Structured-cloneable. */
export interface DmaControlRequest {
  /** The memory (the whole buffer or native range). */
  memory: DmaMemory;
  /** Start of the mapped part inside `memory`, in bytes. */
  offsetBytes: number;
  /** Length of the mapped part, in bytes (> 0). */
  lengthBytes: number;
  /** Requested IOVA (the container picks when undefined). */
  iova?: Iova;
  /** Map read-only for the device. */
  readonly: boolean;
}

/** A live mapping. */
export interface DmaMapEntry {
  /** The key to unmap with. */
  key: Iova;
  /** The address the device must use. */
  busAddr: Iova;
  /** Bytes mapped. */
  sizeBytes: bigint;
  /**
   * Every bus range the device must use, in memory order, when the mapping
   * reached the device in pieces (the apple container registers DMA larger
   * than one 1.5 GiB dext chunk chunk by chunk, and the DART does not make
   * them adjacent). Absent: the one range [busAddr, busAddr + sizeBytes).
   */
  ranges?: { busAddr: Iova; sizeBytes: bigint }[];
}

/** The async control the supervisor provides. */
export interface DmaControl {
  /** Maps; rejects with the backend's PassthroughError (PT_ERR_STILL_OPEN, PT_ERR_NO_SPACE, …). */
  dmaMap(request: DmaControlRequest): Promise<DmaMapEntry>;
  /** Unmaps by key; rejects PT_ERR_NOT_FOUND for an unknown key. */
  dmaUnmap(key: Iova): Promise<void>;
}

/** Options of {@link DmaMap.map}. */
export interface DmaMapOptions {
  /** IOVA to map at (non-negative). */
  iova?: bigint;
  /** Start inside the memory, bytes (default 0). */
  offsetBytes?: number;
  /** Length, bytes (default: to the end of the memory). */
  lengthBytes?: number;
  /** Read-only for the device (default false). */
  readonly?: boolean;
}

/** The DMA mappings of one device, as seen from one embedding thread. */
export class DmaMap {
  readonly #control: DmaControl;
  readonly #live = new Map<bigint, DmaMapEntry>();

  /** Throws PT_ERR_INVALID_ARGUMENT unless `control` has dmaMap and dmaUnmap functions. */
  constructor(control: DmaControl) {
    if (control === null || typeof control !== 'object' || typeof control.dmaMap !== 'function' || typeof control.dmaUnmap !== 'function') {
      throw invalidArgument('control', control, 'a DmaControl needs dmaMap() and dmaUnmap()');
    }
    this.#control = control;
  }

  /**
   * Maps `memory` (or the part given by offsetBytes/lengthBytes).
   * Rejects with PT_ERR_INVALID_ARGUMENT (context: param, value) for bad
   * options, a bad range, a range past the memory, an IOVA that is negative or
   * whose mapping would reach 2^64, or memory that is neither a
   * SharedArrayBuffer nor `{ address, lengthBytes }`; otherwise with the control's error.
   */
  async map(memory: DmaMemory, opts: DmaMapOptions = {}): Promise<DmaMapEntry> {
    if (opts === null || typeof opts !== 'object') throw invalidArgument('opts', opts, 'DMA map options must be an object');
    for (const name of ['offsetBytes', 'lengthBytes'] as const) {
      const v = opts[name];
      if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
        throw invalidArgument(name, v, `${name} must be a non-negative safe integer`);
      }
    }
    if (opts.readonly !== undefined && typeof opts.readonly !== 'boolean') throw invalidArgument('readonly', opts.readonly, 'readonly must be a boolean');
    let totalBytes: number;
    if (memory instanceof SharedArrayBuffer) {
      totalBytes = memory.byteLength;
    } else if (
      typeof memory === 'object' &&
      memory !== null &&
      typeof memory.address === 'bigint' &&
      memory.address >= 0n &&
      memory.address <= kMaxIova &&
      Number.isSafeInteger(memory.lengthBytes)
    ) {
      totalBytes = memory.lengthBytes;
    } else {
      throw invalidArgument('memory', memory, 'DMA memory must be a SharedArrayBuffer or { address, lengthBytes } (a non-negative bigint address below 2^64)');
    }
    const offsetBytes = opts.offsetBytes ?? 0;
    const range = byteRange(offsetBytes, opts.lengthBytes ?? totalBytes - offsetBytes);
    if (range.offsetBytes + range.lengthBytes > totalBytes) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'DMA range runs past the end of the memory', {
        offsetBytes: range.offsetBytes,
        lengthBytes: range.lengthBytes,
        sizeBytes: totalBytes,
      });
    }
    if (opts.iova !== undefined && (typeof opts.iova !== 'bigint' || opts.iova < 0n || opts.iova + BigInt(range.lengthBytes) - 1n > kMaxIova)) {
      throw invalidArgument('iova', opts.iova, 'IOVA must be a non-negative bigint, and the mapping must end below 2^64', {
        iova: typeof opts.iova === 'bigint' ? opts.iova : undefined,
        lengthBytes: range.lengthBytes,
      });
    }
    const request: DmaControlRequest = {
      memory,
      offsetBytes: range.offsetBytes,
      lengthBytes: range.lengthBytes,
      readonly: opts.readonly ?? false,
    };
    if (opts.iova !== undefined) request.iova = opts.iova as Iova;
    const entry = await this.#control.dmaMap(request);
    const copy: DmaMapEntry = { key: entry.key, busAddr: entry.busAddr, sizeBytes: entry.sizeBytes };
    if (entry.ranges !== undefined) copy.ranges = entry.ranges.map((r) => ({ ...r }));
    this.#live.set(copy.key, copy);
    return { ...copy, ...(copy.ranges === undefined ? {} : { ranges: copy.ranges.map((r) => ({ ...r })) }) };
  }

  /**
   * Unmaps a mapping made by {@link map}. Throws PT_ERR_NOT_FOUND for an
   * unknown key, including a second unmap of the same key (also while the
   * first is still in flight). If the control fails, the mapping stays listed.
   */
  async unmap(key: bigint): Promise<void> {
    if (typeof key !== 'bigint') throw invalidArgument('key', key, 'a DMA mapping key is a bigint (DmaMapEntry.key)');
    const entry = this.#live.get(key);
    if (entry === undefined) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', 'no DMA mapping with this key', { iova: key });
    }
    this.#live.delete(key);
    try {
      await this.#control.dmaUnmap(entry.key);
    } catch (e) {
      this.#live.set(key, entry);
      throw e;
    }
  }

  /** The live mappings, in map order. */
  list(): DmaMapEntry[] {
    return [...this.#live.values()].map((e) => ({ ...e }));
  }
}
