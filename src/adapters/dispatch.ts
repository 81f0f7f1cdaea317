/**
 * MMIO and port I/O dispatch from an emulator's handler tables to guest-facing
 * functions, for emulators that dispatch memory by fixed-size blocks and ports
 * one by one (v86: 128 KiB blocks, 65536 port entries). The emulator-specific
 * part (reading and writing its tables) is a small host interface the adapter
 * implements; this file knows no emulator.
 *
 * A block may hold BARs of several functions (a guest packs small BARs); its
 * handler finds the range by address. RAM-like BARs (`GuestBar.ram`) are
 * served straight from their typed-array window with width-exact Atomics,
 * bounds-checked; everything else goes through the function. An access that
 * fails (a dead device worker, a timeout) completes as a PCI master abort
 * (reads all ones, writes dropped) and is reported, never thrown into the
 * emulator.
 */
import type { GuestBar, GuestPciFunction } from '../guest/contract.js';

/** A memory handler as an emulator calls it: absolute guest-physical address. */
export type MemRead = (addr: number) => number;
/** An emulator's MMIO write handler (guest physical address, value). */
export type MemWrite = (addr: number, value: number) => void;
/** The four handlers of one block (8- and 32-bit; wider accesses arrive split). */
export interface BlockHandlers {
  read8: MemRead;
  write8: MemWrite;
  read32: MemRead;
  write32: MemWrite;
}
/** An emulator's block table. */
export interface MmioHost {
  readonly blockBytes: number;
  get(block: number): BlockHandlers;
  set(block: number, handlers: BlockHandlers): void;
}
/** Handlers of one I/O port: reads get the port, writes a value. */
export interface PortHandlers {
  read8(port: number): number;
  read16(port: number): number;
  read32(port: number): number;
  write8(value: number): void;
  write16(value: number): void;
  write32(value: number): void;
}
/** An emulator's port table: `set` installs handlers and returns what restores the port. */
export interface PortHost {
  set(port: number, handlers: PortHandlers): () => void;
}
/** Access counters the tables bump. */
export interface DispatchCounters {
  mmioReads: number;
  mmioWrites: number;
  ioReads: number;
  ioWrites: number;
}
/** Where failed accesses are reported. */
export type ReportError = (error: unknown, context: Record<string, unknown>) => void;

interface Range {
  readonly owner: object;
  readonly fn: GuestPciFunction;
  readonly base: number;
  readonly end: number;
  readonly u8: Uint8Array | undefined;
  readonly u32: Uint32Array | undefined;
}

function hit(ranges: readonly Range[], addr: number, size: number): Range | undefined {
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (addr >= r.base && addr + size <= r.end) return r;
  }
  return undefined;
}

/** The memory side: maps BARs onto blocks, restores the emulator's handlers when they leave. */
export interface MmioTable {
  map(owner: object, fn: GuestPciFunction, bar: GuestBar): void;
  unmapOwner(owner: object): void;
  /** Blocks currently served by this table. */
  blocks(): number[];
  restoreAll(): void;
}

/** Creates the memory dispatch table over `host`. */
export function createMmioTable(host: MmioHost, counters: DispatchCounters, report: ReportError): MmioTable {
  const managed = new Map<number, { ranges: Range[]; saved: BlockHandlers }>();

  const handlersFor = (ranges: Range[]): BlockHandlers => {
    const read8 = (address: number): number => {
      const a = address >>> 0;
      const r = hit(ranges, a, 1);
      if (r === undefined) return 0xff;
      counters.mmioReads++;
      if (r.u8 !== undefined) return Atomics.load(r.u8, a - r.base);
      try {
        return r.fn.mmioRead(a, 1) & 0xff;
      } catch (e) {
        report(e, { gpa: a, width: 1 });
        return 0xff;
      }
    };
    const write8 = (address: number, value: number): void => {
      const a = address >>> 0;
      const r = hit(ranges, a, 1);
      if (r === undefined) return;
      counters.mmioWrites++;
      if (r.u8 !== undefined) {
        Atomics.store(r.u8, a - r.base, value);
        return;
      }
      try {
        r.fn.mmioWrite(a, 1, value & 0xff);
      } catch (e) {
        report(e, { gpa: a, width: 1 });
      }
    };
    const read32 = (address: number): number => {
      const a = address >>> 0;
      const r = (a & 3) === 0 ? hit(ranges, a, 4) : undefined;
      // Unaligned, or straddling a range end: four byte reads, as the emulator's own shim does.
      if (r === undefined) return read8(a) | (read8(a + 1) << 8) | (read8(a + 2) << 16) | (read8(a + 3) << 24);
      counters.mmioReads++;
      if (r.u32 !== undefined) return Atomics.load(r.u32, (a - r.base) >>> 2) | 0;
      try {
        return r.fn.mmioRead(a, 4) | 0;
      } catch (e) {
        report(e, { gpa: a, width: 4 });
        return -1;
      }
    };
    const write32 = (address: number, value: number): void => {
      const a = address >>> 0;
      const r = (a & 3) === 0 ? hit(ranges, a, 4) : undefined;
      if (r === undefined) {
        for (let k = 0; k < 4; k++) write8(a + k, (value >>> (8 * k)) & 0xff);
        return;
      }
      counters.mmioWrites++;
      if (r.u32 !== undefined) {
        Atomics.store(r.u32, (a - r.base) >>> 2, value >>> 0);
        return;
      }
      try {
        r.fn.mmioWrite(a, 4, value >>> 0);
      } catch (e) {
        report(e, { gpa: a, width: 4 });
      }
    };
    return { read8, write8, read32, write32 };
  };

  return {
    map(owner, fn, bar) {
      const base = bar.address!;
      const end = base + bar.sizeBytes;
      const ram = bar.ram !== undefined && bar.ram.byteLength >= bar.sizeBytes ? bar.ram : undefined;
      const aligned = ram !== undefined && ram.byteOffset % 4 === 0;
      const range: Range = {
        owner,
        fn,
        base,
        end,
        u8: ram === undefined ? undefined : new Uint8Array(ram.buffer, ram.byteOffset, bar.sizeBytes),
        u32: aligned ? new Uint32Array(ram.buffer, ram.byteOffset, bar.sizeBytes >>> 2) : undefined,
      };
      const first = Math.floor(base / host.blockBytes);
      const last = Math.floor((end - 1) / host.blockBytes);
      for (let block = first; block <= last; block++) {
        let entry = managed.get(block);
        if (entry === undefined) {
          entry = { ranges: [], saved: host.get(block) };
          managed.set(block, entry);
          host.set(block, handlersFor(entry.ranges));
        }
        entry.ranges.push(range);
      }
    },
    unmapOwner(owner) {
      for (const [block, entry] of managed) {
        for (let i = entry.ranges.length - 1; i >= 0; i--) if (entry.ranges[i]!.owner === owner) entry.ranges.splice(i, 1);
        if (entry.ranges.length === 0) {
          host.set(block, entry.saved);
          managed.delete(block);
        }
      }
    },
    blocks: () => [...managed.keys()],
    restoreAll() {
      for (const [block, entry] of managed) host.set(block, entry.saved);
      managed.clear();
    },
  };
}

/** The port side: one entry per port of each decoding I/O BAR. */
export interface PortTable {
  map(owner: object, fn: GuestPciFunction, bar: GuestBar): void;
  unmapOwner(owner: object): void;
  restoreAll(): void;
}

/** Creates the port dispatch table over `host`. */
export function createPortTable(host: PortHost, counters: DispatchCounters, report: ReportError): PortTable {
  const owned = new Map<number, { owner: object; restore: () => void }>();
  const read = (fn: GuestPciFunction, size: 1 | 2 | 4) => (port: number): number => {
    counters.ioReads++;
    try {
      return size === 4 ? fn.ioRead(port, 4) | 0 : fn.ioRead(port, size) & (size === 1 ? 0xff : 0xffff);
    } catch (e) {
      report(e, { port, width: size });
      return size === 1 ? 0xff : size === 2 ? 0xffff : -1;
    }
  };
  const write = (fn: GuestPciFunction, port: number, size: 1 | 2 | 4) => (value: number): void => {
    counters.ioWrites++;
    try {
      fn.ioWrite(port, size, size === 4 ? value >>> 0 : value & (size === 1 ? 0xff : 0xffff));
    } catch (e) {
      report(e, { port, width: size });
    }
  };
  const release = (port: number): void => {
    owned.get(port)?.restore();
    owned.delete(port);
  };
  return {
    map(owner, fn, bar) {
      const base = bar.address!;
      for (let port = base; port < base + bar.sizeBytes && port < 0x10000; port++) {
        release(port);
        const restore = host.set(port, {
          read8: read(fn, 1),
          read16: read(fn, 2),
          read32: read(fn, 4),
          write8: write(fn, port, 1),
          write16: write(fn, port, 2),
          write32: write(fn, port, 4),
        });
        owned.set(port, { owner, restore });
      }
    },
    unmapOwner(owner) {
      for (const [port, o] of owned) if (o.owner === owner) release(port);
    },
    restoreAll() {
      for (const port of [...owned.keys()]) release(port);
    },
  };
}
