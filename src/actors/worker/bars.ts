/**
 * BAR exposure, in the device worker: maps each BAR for the fast path and
 * describes it for other threads (a {@link BarWindowDescriptor}: the shared
 * buffer or the host address, and the trap ranges every thread must reach
 * through the slow path), then unmaps in order at teardown, only after every
 * holder in every thread has let go (QEMU's vfio_region_unmap after the
 * memory listener, crosvm's coordinated unmap).
 */
import { PassthroughError } from '../../errors.js';
import type { BarWindowDescriptor } from '../../fastpath/bar-window.js';
import { isBarMapped, reinstateBar, requestUnmap } from '../../fastpath/lease.js';
import type { DeviceIoOps, MappedRegion } from '../../vfio/device-io-ops.js';

/** A byte range inside a BAR. */
export interface ByteSpan {
  offsetBytes: number;
  lengthBytes: number;
}

/** The BARs of one device, as mapped by its worker. */
export class BarExposure {
  readonly #ops: DeviceIoOps;
  readonly #control: SharedArrayBuffer;
  /** Index = BAR number; undefined where nothing is mapped. */
  readonly descriptors: (BarWindowDescriptor | undefined)[] = [];
  readonly #mapped = new Set<number>();

  constructor(ops: DeviceIoOps, control: SharedArrayBuffer) {
    this.#ops = ops;
    this.#control = control;
  }

  /** BARs mapped and not yet unmapped. */
  get mappedCount(): number {
    return this.#mapped.size;
  }

  /**
   * Maps BAR0–5 (regionMap decides which: size 0, I/O BARs and the upper half
   * of a 64-bit BAR map nothing) and builds their descriptors. The ops layer
   * traces each map itself. Throws what regionMap throws (PT_ERR_IO).
   */
  mapAll(): void {
    for (let bar = 0; bar < 6; bar++) {
      const mapped = this.#ops.regionMap(bar);
      if (mapped === undefined) {
        this.descriptors[bar] = undefined;
        continue;
      }
      this.#mapped.add(bar);
      // After a restart the supervisor revoked the old leases; this worker's mapping is new.
      if (!isBarMapped(this.#control, bar)) reinstateBar(this.#control, bar);
      const desc: BarWindowDescriptor = { bar, sizeBytes: mapped.sizeBytes, trapRanges: trapRanges(mapped), control: this.#control };
      if (mapped.memory.buffer !== undefined) desc.buffer = mapped.memory.buffer;
      else desc.address = mapped.memory.address;
      this.descriptors[bar] = desc;
    }
  }

  /**
   * Revokes every mapped BAR, waits (up to `unmapTimeoutMs` each) for every
   * holder in every thread to let go, then unmaps it. A failing step is
   * handed to `onError` and the next BAR still runs.
   */
  unmapAll(unmapTimeoutMs: number, onError: (e: unknown) => void): void {
    for (const bar of [...this.#mapped]) {
      try {
        requestUnmap(this.#control, bar, unmapTimeoutMs);
      } catch (e) {
        onError(e);
      }
      try {
        this.#ops.regionUnmap(bar);
      } catch (e) {
        onError(e);
      }
      this.#mapped.delete(bar);
    }
  }
}

/**
 * The trapped ranges of a mapped BAR: what its mmap windows leave out (the
 * MSI-X table and PBA pages, QEMU's mmaps[] holes) plus the ranges the
 * mapping itself marks as having side effects, clamped to the BAR and merged.
 */
export function trapRanges(mapped: MappedRegion): ByteSpan[] {
  const sizeBytes = mapped.sizeBytes;
  if (!Number.isInteger(sizeBytes) || sizeBytes < 0) {
    throw new PassthroughError('PT_ERR_INTERNAL', `BAR${mapped.index} mapped with a bad size`, { region: mapped.index, sizeBytes });
  }
  const traps = complement(mapped.windows, sizeBytes);
  for (const t of mapped.memory.trapRanges) {
    if (t.offsetBytes < sizeBytes) traps.push({ offsetBytes: t.offsetBytes, lengthBytes: Math.min(t.lengthBytes, sizeBytes - t.offsetBytes) });
  }
  return mergeRanges(traps);
}

/** The parts of [0, sizeBytes) not covered by `windows`. */
export function complement(windows: readonly ByteSpan[], sizeBytes: number): ByteSpan[] {
  const sorted = [...windows].sort((a, b) => a.offsetBytes - b.offsetBytes);
  const out: ByteSpan[] = [];
  let pos = 0;
  for (const w of sorted) {
    if (w.offsetBytes > pos) out.push({ offsetBytes: pos, lengthBytes: Math.min(w.offsetBytes, sizeBytes) - pos });
    pos = Math.max(pos, w.offsetBytes + w.lengthBytes);
    if (pos >= sizeBytes) break;
  }
  if (pos < sizeBytes) out.push({ offsetBytes: pos, lengthBytes: sizeBytes - pos });
  return out.filter((r) => r.lengthBytes > 0);
}

/** Sorts and merges overlapping or touching ranges. */
export function mergeRanges(ranges: readonly ByteSpan[]): ByteSpan[] {
  const sorted = [...ranges].filter((r) => r.lengthBytes > 0).sort((a, b) => a.offsetBytes - b.offsetBytes);
  const out: ByteSpan[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offsetBytes <= last.offsetBytes + last.lengthBytes) {
      const end = Math.max(last.offsetBytes + last.lengthBytes, r.offsetBytes + r.lengthBytes);
      last.lengthBytes = end - last.offsetBytes;
    } else out.push({ ...r });
  }
  return out;
}
