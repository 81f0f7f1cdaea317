/**
 * DMA mappings of embedder memory, in the device worker: each map exposes a
 * SharedArrayBuffer range to the backend (sim: its simulated host address
 * space; linux, iokit: the native address of the buffer's backing store) and
 * maps it through the container; unmap undoes both. The book is what
 * teardown and the leak checks read.
 */
import type { Iova } from '../../types.js';
import type { WorkerBackend } from '../../vfio/backend.js';
import type { HostVa } from '../../types.js';
import type { Command, ReplyValues } from '../protocol.js';

type MapCommand = Extract<Command, { type: 'dma.map' }>;

/** The DMA mappings of one device. */
export class DmaBook {
  readonly #backend: WorkerBackend;
  /** Host exposure of each mapping, by key (hex). */
  readonly #exposures = new Map<string, HostVa>();

  constructor(backend: WorkerBackend) {
    this.#backend = backend;
  }

  /** Host-memory exposures still live. */
  get size(): number {
    return this.#exposures.size;
  }

  /** Exposes and maps; a failed map leaves no exposure. Throws what the container throws. */
  map(cmd: MapCommand): ReplyValues['dma.map'] {
    const backend = this.#backend;
    const va = backend.exposeHostMemory(cmd.buffer, cmd.offsetBytes, cmd.lengthBytes);
    let mapping;
    try {
      mapping = backend.container.dmaMap({
        hostVa: va,
        sizeBytes: BigInt(cmd.lengthBytes),
        readonly: cmd.readonly,
        ...(cmd.iova === undefined ? {} : { iova: BigInt(cmd.iova) as Iova }),
      });
    } catch (e) {
      backend.unexposeHostMemory(va);
      throw e;
    }
    this.#exposures.set(mapping.key.toString(16), va);
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    return {
      key: hex(mapping.key),
      busAddr: hex(mapping.busAddr),
      sizeBytes: hex(mapping.sizeBytes),
      ...(mapping.ranges === undefined ? {} : { ranges: mapping.ranges.map((r) => ({ busAddr: hex(r.busAddr), sizeBytes: hex(r.sizeBytes) })) }),
    };
  }

  /** Unmaps `keyText` (hex) and drops its exposure. Throws what the container throws. */
  unmap(keyText: string): void {
    const key = BigInt(keyText) as Iova;
    this.#backend.container.dmaUnmap(key);
    const va = this.#exposures.get(key.toString(16));
    if (va !== undefined) {
      this.#backend.unexposeHostMemory(va);
      this.#exposures.delete(key.toString(16));
    }
  }

  /** Teardown: drops every exposure (the container's detach drops the mappings). Errors go to `onError`. */
  clear(onError: (e: unknown) => void): void {
    for (const [k, va] of this.#exposures) {
      try {
        this.#backend.unexposeHostMemory(va);
      } catch (e) {
        onError(e);
      }
      this.#exposures.delete(k);
    }
  }
}
